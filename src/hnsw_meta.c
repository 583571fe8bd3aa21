/*
 * hnsw_meta.c
 *		Every write of the metapage: its creation, the dimensions the first
 *		vector fixes, the entry point and insert page that inserts and the
 *		build advance, the entry VACUUM replaces, and the first element of
 *		an empty index, placed under the metapage's lock.  Reads are
 *		hnsw_read_meta and hnsw_check_meta (hnsw_pages.c).
 *
 * Each function takes the metapage's exclusive lock, checks the page, and
 * releases it before returning; only hnsw_meta_place_first holds a graph
 * page's lock meanwhile (metapage before graph page, never the reverse).
 */
#include "postgres.h"

#include "access/xloginsert.h"
#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "utils/rel.h"

#include "hnsw.h"
#include "vector.h"

/* fills page with an empty metapage for an index of these dimensions */
static void
init_metapage(Page page, int dim, int m, int ef_construction, int storage)
{
	HnswMetaPage meta;

	hnsw_init_page(page, HNSW_PAGE_META);
	meta = HnswPageGetMeta(page);
	memset(meta, 0, sizeof(HnswMetaPageData));
	meta->magic = HNSW_MAGIC;
	/* float4 indexes keep version 2, readable by builds without codes */
	meta->version = storage == HNSW_STORAGE_FLOAT4 ?
		HNSW_FORMAT_VERSION : HNSW_FORMAT_VERSION_CODES;
	meta->dim = dim;
	meta->m = m;
	meta->ef_construction = ef_construction;
	meta->storage = storage;
	meta->max_level = hnsw_level_cap(m);
	meta->entry = HNSW_INVALID_ID;
	meta->entry_level = -1;
	meta->insert_page = InvalidBlockNumber;
	((PageHeader) page)->pd_lower =
		((char *) meta + sizeof(HnswMetaPageData)) - (char *) page;
}

/*
 * Writes an initialised metapage as block 0 of fork, WAL-logged as a full
 * page.  Not through hnsw_wal.c: that writes no WAL for an unlogged
 * index, whose init fork must nevertheless survive a crash.  The fork
 * must be empty.
 */
void
hnsw_meta_init(Relation index, ForkNumber fork, int dim, int m,
			   int ef_construction, int storage)
{
	Buffer		buf = hnsw_new_buffer(index, fork);

	START_CRIT_SECTION();
	init_metapage(BufferGetPage(buf), dim, m, ef_construction, storage);
	MarkBufferDirty(buf);
	if (fork == INIT_FORKNUM || RelationNeedsWAL(index))
		log_newpage_buffer(buf, true);
	END_CRIT_SECTION();
	UnlockReleaseBuffer(buf);
}

/* the metapage, pinned, exclusively locked and checked; its fields */
static HnswMetaPage
lock_meta(Relation index, Buffer *buf)
{
	*buf = ReadBuffer(index, HNSW_METAPAGE_BLKNO);
	LockBuffer(*buf, BUFFER_LOCK_EXCLUSIVE);
	hnsw_check_meta(index, BufferGetPage(*buf));
	return HnswPageGetMeta(BufferGetPage(*buf));
}

/* starts a WAL record over the locked metapage; its fields to write */
static HnswMetaPage
write_meta(Relation index, Buffer buf, HnswWal **state)
{
	return HnswPageGetMeta(hnsw_wal_begin(index, buf, false, state));
}

/* sets the dimensions once the first vector has fixed them */
void
hnsw_meta_set_dim(Relation index, int dim)
{
	Buffer		buf;
	HnswWal    *state;

	(void) lock_meta(index, &buf);
	write_meta(index, buf, &state)->dim = dim;
	hnsw_wal_finish(state);
	UnlockReleaseBuffer(buf);
}

/*
 * Records the centroids a build trained (hnsw_centroids_write): the
 * metapage's format becomes version 4, whose codes may be of residuals.
 */
void
hnsw_meta_set_centroids(Relation index, int ncent, int pages, uint32 crc)
{
	Buffer		buf;
	HnswWal    *state;
	HnswMetaPage meta;

	(void) lock_meta(index, &buf);
	meta = write_meta(index, buf, &state);
	meta->version = HNSW_FORMAT_VERSION_CENTROIDS;
	meta->ncentroids = ncent;
	meta->centroid_pages = pages;
	meta->centroid_crc = crc;
	hnsw_wal_finish(state);
	UnlockReleaseBuffer(buf);
}

/*
 * Raises the entry point to (entry, level) if level is above the current
 * one (or there is none), and moves insert_page forward; either may be
 * invalid (HNSW_INVALID_ID, InvalidBlockNumber) to leave it be.  One WAL
 * record, none if nothing changes.
 */
void
hnsw_meta_advance(Relation index, HnswId entry, int level,
				  BlockNumber insert_page)
{
	Buffer		buf;
	HnswMetaPage meta = lock_meta(index, &buf);
	HnswWal    *state;
	bool		newentry;
	bool		newpage;

	newentry = entry != HNSW_INVALID_ID &&
		(meta->entry == HNSW_INVALID_ID || level > meta->entry_level);
	newpage = insert_page != InvalidBlockNumber &&
		(meta->insert_page == InvalidBlockNumber || insert_page > meta->insert_page);
	if (newentry || newpage)
	{
		meta = write_meta(index, buf, &state);
		if (newentry)
		{
			meta->entry = entry;
			meta->entry_level = level;
		}
		if (newpage)
			meta->insert_page = insert_page;
		hnsw_wal_finish(state);
	}
	UnlockReleaseBuffer(buf);
}

/*
 * VACUUM: if the entry point is in removed, it becomes (entry, level), or
 * none when entry is HNSW_INVALID_ID (the index has no element left).
 */
void
hnsw_meta_replace_entry(Relation index, const HnswIdSet *removed,
						HnswId entry, int level)
{
	Buffer		buf;
	HnswMetaPage meta = lock_meta(index, &buf);
	HnswWal    *state;

	if (meta->entry != HNSW_INVALID_ID &&
		hnsw_idset_contains(removed, meta->entry))
	{
		meta = write_meta(index, buf, &state);
		meta->entry = entry;
		meta->entry_level = entry == HNSW_INVALID_ID ? -1 : level;
		hnsw_wal_finish(state);
	}
	UnlockReleaseBuffer(buf);
}

/*
 * Places the first element of an empty index, under the metapage lock, so
 * that two first inserts cannot both become entry points of separate
 * graphs.  Returns false if another backend got there first: the caller
 * retries as an ordinary insert.
 */
bool
hnsw_meta_place_first(Relation index, HnswIndexInfo *info, Datum value,
					  ItemPointer tid)
{
	Buffer		buf;
	HnswMetaPage meta = lock_meta(index, &buf);
	HnswWal    *state;
	int			dim;
	float	   *vec;
	int			level;
	BlockNumber hint;
	HnswId		id;
	HnswCodec	codec;

	if (meta->entry != HNSW_INVALID_ID)
	{
		UnlockReleaseBuffer(buf);
		return false;
	}
	dim = meta->dim ? meta->dim : DatumGetVector(value)->dim;
	level = hnsw_tid_level(hnsw_level_seed(index), tid, meta->m,
						   meta->max_level);
	hint = meta->insert_page;
	hnsw_check_dimensions(dim, meta->storage, false);
	hnsw_codec_init(&codec, info, meta->storage, dim);
	vec = palloc(sizeof(float) * dim);
	if (hnsw_prepare_vector(info, value, vec, dim))
	{
		id = hnsw_store_new_element(index, &codec, meta->m, vec, level,
									NULL, NULL, tid, &hint);
		meta = write_meta(index, buf, &state);
		meta->dim = dim;
		meta->entry = id;
		meta->entry_level = level;
		meta->insert_page = hint;
		hnsw_wal_finish(state);
	}
	else if (meta->dim == 0)
	{
		/*
		 * A vector the index does not hold (zero under cosine) fixes the
		 * dimensions all the same: else a row of other dimensions would be
		 * accepted next, and the table could not be indexed again.
		 */
		write_meta(index, buf, &state)->dim = dim;
		hnsw_wal_finish(state);
	}
	UnlockReleaseBuffer(buf);
	return true;
}
