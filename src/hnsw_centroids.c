/*
 * hnsw_centroids.c
 *		Trained centroids of an sq8 or sq4 index: how many a build trains,
 *		the training (k-means on a sample of the build's vectors), their
 *		pages (blocks 1 to centroid_pages, written once by the build), and
 *		a backend's copy of them for the operations that read codes.
 *
 * A code of the residual to the nearest of a few centroids errs far less
 * than a code of the vector itself where the vectors cluster, as
 * embeddings do: the code's range is the residual's, not the vector's
 * (src/README.md section 11).  The centroids never change after the
 * build; REINDEX trains new ones on the table's rows of the day.
 */
#include "postgres.h"

#include <math.h>

#include "access/xact.h"
#include "miscadmin.h"
#include "port/pg_crc32c.h"
#include "storage/bufmgr.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/syscache.h"

#include "hnsw.h"

/*
 * How many centroids: one per HNSW_ROWS_PER_CENTROID rows of the build, at
 * most HNSW_MAX_CENTROIDS, and no more than HNSW_CENTROID_BYTES of them in
 * all (a scan's kernels read them from the CPU's cache); none below two.
 */
#define HNSW_ROWS_PER_CENTROID	32
#define HNSW_CENTROID_BYTES		(1024 * 1024)
#define KMEANS_SAMPLE_PER_CENTROID	40
#define KMEANS_ITERATIONS		10

/* a backend's copies of the centroids of the indexes it used */
typedef struct CentroidCopy
{
	Oid			relid;
	Oid			relfilenode;
	uint32		crc;
	int			ncent;
	int			dim;
	float	   *cent;
	struct CentroidCopy *next;
} CentroidCopy;

static MemoryContext copies_cxt = NULL;
static CentroidCopy *copies = NULL;

int
hnsw_centroid_count(double rows, int storage, int dim)
{
	double		k;

	if (storage != HNSW_STORAGE_SQ8 && storage != HNSW_STORAGE_SQ4)
		return 0;
	k = Min(rows / HNSW_ROWS_PER_CENTROID, HNSW_MAX_CENTROIDS);
	k = Min(k, HNSW_CENTROID_BYTES / (sizeof(float) * dim));
	return k >= 2 ? (int) k : 0;
}

/* floats of centroids one page holds, and the pages k of them fill */
static int
floats_per_page(void)
{
	return (int) (hnsw_page_capacity() / sizeof(float));
}

int
hnsw_centroid_pages(int ncent, int dim)
{
	int64		floats = (int64) ncent * dim;

	return (int) ((floats + floats_per_page() - 1) / floats_per_page());
}

/* the CRC-32C of the centroids' floats, as the metapage keeps it */
static uint32
centroid_crc(const float *cent, int ncent, int dim)
{
	pg_crc32c	crc;

	INIT_CRC32C(crc);
	COMP_CRC32C(crc, cent, sizeof(float) * (Size) ncent * dim);
	FIN_CRC32C(crc);
	return crc;
}

/*
 * Trains ncent centroids on the build's n vectors (base, stride bytes
 * apart) by k-means: a sample of KMEANS_SAMPLE_PER_CENTROID rows per
 * centroid, taken at even intervals, starts from evenly spaced rows of
 * the sample and takes KMEANS_ITERATIONS rounds of Lloyd's algorithm
 * (means in double; an empty cluster keeps its centroid).  The same rows
 * in the same order give the same centroids.  Returns ncent * dim floats.
 */
float *
hnsw_centroids_train(const char *base, Size stride, uint32 n, int dim,
					 int ncent)
{
	uint32		s = (uint32) Min((double) n,
								 (double) ncent * KMEANS_SAMPLE_PER_CENTROID);
	const float **rows = palloc(sizeof(float *) * s);
	float	   *cent = palloc(sizeof(float) * (Size) ncent * dim);
	double	   *sum = palloc(sizeof(double) * (Size) ncent * dim);
	uint32	   *count = palloc(sizeof(uint32) * ncent);
	uint32		i;
	int			it;
	int			j;

	for (i = 0; i < s; i++)
		rows[i] = (const float *) (base + stride * (Size) ((uint64) i * n / s));
	for (j = 0; j < ncent; j++)
		memcpy(cent + (Size) j * dim, rows[(uint64) j * s / ncent],
			   sizeof(float) * dim);
	for (it = 0; it < KMEANS_ITERATIONS; it++)
	{
		memset(sum, 0, sizeof(double) * (Size) ncent * dim);
		memset(count, 0, sizeof(uint32) * ncent);
		for (i = 0; i < s; i++)
		{
			/* a row at no finite distance from any joins the first */
			int			c = Max(hnsw_nearest_centroid(cent, ncent, dim,
													  rows[i]) - 1, 0);
			double	   *acc = sum + (Size) c * dim;
			int			d;

			for (d = 0; d < dim; d++)
				acc[d] += rows[i][d];
			count[c]++;
			if ((i & 255) == 0)
				CHECK_FOR_INTERRUPTS();
		}
		for (j = 0; j < ncent; j++)
		{
			int			d;

			for (d = 0; d < dim && count[j] > 0; d++)
				cent[(Size) j * dim + d] =
					(float) (sum[(Size) j * dim + d] / count[j]);
		}
	}
	pfree(rows);
	pfree(sum);
	pfree(count);
	return cent;
}

/*
 * Writes the centroids to blocks 1 to hnsw_centroid_pages of an index
 * holding only its metapage, and records them there.  Like the build's
 * graph pages, the pages are not WAL-logged here: the build logs every
 * page afterwards (log_newpage_range).
 */
void
hnsw_centroids_write(Relation index, const float *cent, int ncent, int dim)
{
	int			pages = hnsw_centroid_pages(ncent, dim);
	Size		left = sizeof(float) * (Size) ncent * dim;
	const char *src = (const char *) cent;
	int			p;

	if (RelationGetNumberOfBlocks(index) != HNSW_METAPAGE_BLKNO + 1)
		elog(ERROR, "hnsw centroids must follow the metapage of \"%s\"",
			 RelationGetRelationName(index));
	for (p = 0; p < pages; p++)
	{
		Buffer		buf = hnsw_new_buffer(index, MAIN_FORKNUM);
		Page		page = BufferGetPage(buf);
		Size		len = Min(left, sizeof(float) * floats_per_page());

		Assert(BufferGetBlockNumber(buf) == p + 1);
		START_CRIT_SECTION();
		hnsw_init_page(page, HNSW_PAGE_CENTROIDS);
		memcpy(PageGetContents(page), src, len);
		((PageHeader) page)->pd_lower += len;
		MarkBufferDirty(buf);
		END_CRIT_SECTION();
		UnlockReleaseBuffer(buf);
		src += len;
		left -= len;
	}
	hnsw_meta_set_centroids(index, ncent, pages,
							centroid_crc(cent, ncent, dim));
}

/* reads the centroids the metapage names into out, checking each page */
static void
read_centroids(Relation index, const HnswMetaPageData *meta, float *out)
{
	Size		left = sizeof(float) * (Size) meta->ncentroids * meta->dim;
	char	   *dst = (char *) out;
	BlockNumber blkno;

	for (blkno = 1; blkno <= meta->centroid_pages; blkno++)
	{
		Buffer		buf = ReadBuffer(index, blkno);
		Page		page = BufferGetPage(buf);
		Size		len = Min(left, sizeof(float) * floats_per_page());

		LockBuffer(buf, BUFFER_LOCK_SHARE);
		hnsw_check_page_kind(index, page, blkno, HNSW_PAGE_CENTROIDS,
							 "page is not an hnsw centroid page");
		if (((PageHeader) page)->pd_lower != SizeOfPageHeaderData + len)
			hnsw_corrupt(index, blkno, 0, "page is not an hnsw centroid page");
		memcpy(dst, PageGetContents(page), len);
		UnlockReleaseBuffer(buf);
		dst += len;
		left -= len;
	}
	if (centroid_crc(out, meta->ncentroids, meta->dim) != meta->centroid_crc)
		hnsw_corrupt(index, 1, 0,
					 "centroid pages do not match the metapage's checksum");
	for (Size i = 0; i < (Size) meta->ncentroids * meta->dim; i++)
		if (!isfinite(out[i]))
			hnsw_corrupt(index, 1, 0, "a centroid has a non-finite value");
}

/*
 * Frees the copies of an index's earlier centroids (before a REINDEX or
 * TRUNCATE), and those of indexes that are gone (dropped, or built by a
 * transaction that rolled back), which no operation of this backend can
 * still use: those commands refuse an index the session has in use, and
 * another session's DROP waits for this one's scans to end.  A backend
 * that made and dropped coded indexes by the hundred kept every copy
 * before (128 kB each at 512 dimensions).
 */
static void
drop_stale_copies(Oid relid)
{
	CentroidCopy **link = &copies;

	while (*link)
	{
		CentroidCopy *cc = *link;

		if (cc->relid == relid ||
			!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(cc->relid)))
		{
			*link = cc->next;
			pfree(cc->cent);
			pfree(cc);
		}
		else
			link = &cc->next;
	}
}

/*
 * Gives codec the index's centroids, if it has any.  A backend keeps a
 * copy of each index's, found by the index, its relfilenode and the
 * metapage's checksum of them, so that an operation reads the pages only
 * the first time (REINDEX or TRUNCATE gives a new relfilenode and new
 * checksum).  Copies are never freed while an operation may hold one:
 * they live for the backend, one per index it used that still exists
 * (drop_stale_copies).
 */
void
hnsw_codec_load_centroids(Relation index, const HnswMetaPageData *meta,
						  HnswCodec *codec)
{
	CentroidCopy *cc;

	codec->ncent = 0;
	codec->cent = NULL;
	if (meta->ncentroids == 0)
		return;
	for (cc = copies; cc; cc = cc->next)
		if (cc->relid == RelationGetRelid(index) &&
			cc->relfilenode == index->rd_rel->relfilenode &&
			cc->crc == meta->centroid_crc &&
			cc->ncent == meta->ncentroids && cc->dim == meta->dim)
			break;
	if (cc == NULL)
	{
		Size		bytes = sizeof(float) * (Size) meta->ncentroids * meta->dim;
		float	   *read = palloc(bytes);

		/* read and checked first: an error leaves nothing in the copies */
		read_centroids(index, meta, read);
		if (copies_cxt == NULL)
			copies_cxt = AllocSetContextCreate(TopMemoryContext,
											   "hnsw centroids",
											   ALLOCSET_DEFAULT_SIZES);
		cc = MemoryContextAllocZero(copies_cxt, sizeof(CentroidCopy));
		cc->cent = MemoryContextAlloc(copies_cxt, bytes);
		memcpy(cc->cent, read, bytes);
		pfree(read);
		drop_stale_copies(RelationGetRelid(index));
		cc->relid = RelationGetRelid(index);
		cc->relfilenode = index->rd_rel->relfilenode;
		cc->crc = meta->centroid_crc;
		cc->ncent = meta->ncentroids;
		cc->dim = meta->dim;
		cc->next = copies;
		copies = cc;
	}
	codec->ncent = cc->ncent;
	codec->cent = cc->cent;
}
