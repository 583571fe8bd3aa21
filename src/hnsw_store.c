/*
 * hnsw_store.c
 *		The on-page graph: HnswGraphOps over the index's buffers, and the
 *		placement of new elements.
 *
 * Locking protocol (src/README.md has the argument): writers hold one
 * graph-page lock at a time (the only nesting is metapage before a graph
 * page, when the first element of an empty index is placed); readers copy
 * what they need and release, except page_distances, which share-locks up
 * to HNSW_BATCH_BLOCKS pages in ascending block order.  Since no writer
 * waits for a lock while holding one, this cannot deadlock.
 */
#include "postgres.h"

#include <math.h>

#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#include "distance.h"
#include "hnsw.h"
#include "hnsw_buffers.h"
#include "vector.h"

/* the on-page graph; callers hold a pointer and see none of this */
struct HnswPageGraph
{
	HnswGraph	g;				/* first: the ops receive &g */
	Relation	index;
	HnswBuffers bufs;			/* pins, locks, prefetches: hnsw_buffers.c */
	int			max_level;
	BlockNumber insert_page;	/* where this backend appends next */
	uint8		skip_flags;		/* element flags that mean "not a result" */
	HnswCodec	codec;			/* how elements keep their vectors */
	HnswMetric	metric;
	bool		bounds;			/* scan of a coded index: lower bounds */
	bool		rerank;			/* re-ranking scan: see code_distance */
	double		qnorm;			/* coded scans: the query's L2 norm */
	const float *q;				/* re-ranking scans: the query */
	float	   *qdot;			/* per centroid once asked: -q.c */
	bool	   *qready;			/* which centroids' qdot is computed */
	HnswQuery16 q16;			/* re-ranking sq8 IP/cosine scans, if q16.q */
	float	   *decoded;		/* a decoded code (dim floats) */
	void	   *code;			/* an encoded vector (add_heaptid) */
};

#define PG_OF(g)	((HnswPageGraph *) (g))

/* the metrics whose distance is a product: 1 - q.x or -q.x */
#define PRODUCT_METRIC(m) \
	((m) == HNSW_METRIC_IP || (m) == HNSW_METRIC_COSINE || \
	 (m) == HNSW_METRIC_NEG_IP)


/* the element tuple of id on page, with its size checked against dim */
static HnswElementTuple
element_on(HnswPageGraph *pg, Page page, HnswId id)
{
	HnswElementTuple etup = hnsw_page_element(pg->index, page, id);

	if (ItemIdGetLength(PageGetItemId(page, HnswIdOffset(id))) !=
		HNSW_ELEMENT_SIZE(pg->codec.storage, pg->g.dim) ||
		etup->level > pg->max_level || etup->centroid > pg->codec.ncent)
		hnsw_corrupt(pg->index, HnswIdBlock(id), HnswIdOffset(id),
					 "element tuple does not match the index's dimensions");
	return etup;
}

/*
 * A re-ranking scan's product distance from its query to a code of the
 * residual to centroid j: -q.(c + r) = -q.r - q.c (inner product), 1 -
 * q.(c + r) = (1 - q.r) - q.c (cosine), with q.c computed once per
 * centroid and scan, so that each distance reads the code alone, not the
 * centroid's floats beside it (hnsw_code_distance with a centroid): 4-7%
 * less CPU per query on 20,000 unit 1,536-d rows at ef 40 and 100.  The
 * result differs from that by the sums' rounding only; a scan that reports
 * lower bounds does not take this path, as the bounds' rounding margins
 * assume the decoded vector.  (For L2 the same with q - c per centroid
 * measured 3-5% slower on Fashion-MNIST: 64 shifted queries of 784 floats
 * per scan.)  Returns -q.c.
 */
static float
centroid_product(HnswPageGraph *pg, int j)
{
	if (!pg->qready[j - 1])
	{
		pg->qdot[j - 1] = vec_index_neg_ip(pg->q, pg->codec.cent +
										   (Size) (j - 1) * pg->g.dim,
										   pg->g.dim);
		pg->qready[j - 1] = true;
	}
	return pg->qdot[j - 1];
}

/*
 * The code distance: split where the scan prepared for it, and for sq8 in
 * integers where it prepared a 16-bit query (hnsw_code_dot16: session 17,
 * 5-9% less CPU per query on 20,000 unit 1,536-d rows).  base is what the
 * metric's distance adds to -q.x: 0 for a scan's inner product, else 1.
 */
static inline float
code_estimate(HnswPageGraph *pg, const float *q, const void *code,
			  int centroid)
{
	float		base = pg->metric == HNSW_METRIC_NEG_IP ? 0.0f : 1.0f;
	float		d;

	if (q != pg->q || (pg->qready == NULL && pg->q16.q == NULL))
		return hnsw_code_distance(&pg->codec, pg->metric, q, code, centroid,
								  pg->decoded);
	d = NAN;
	if (pg->q16.q != NULL)
		d = base - hnsw_code_dot16(&pg->codec, code, &pg->q16);
	if (isnan(d))
		d = hnsw_code_distance(&pg->codec, pg->metric, q, code,
							   pg->qready ? 0 : centroid, pg->decoded);
	if (centroid != 0 && pg->qready != NULL)
	{
		float		c = centroid_product(pg, centroid);

		/*
		 * Beyond VEC_DIST_EXACT either part is compressed (distance.h), and
		 * the sum of two compressed parts means nothing: the whole distance
		 * then, compressed once (products beyond float's range of 3e37 times
		 * a pattern, regress hnsw_storage, had their rows searched at made-up
		 * distances and missed)
		 */
		if (!(fabsf(d) <= VEC_DIST_EXACT && fabsf(c) <= VEC_DIST_EXACT))
			return hnsw_code_distance(&pg->codec, pg->metric, q, code,
									  centroid, pg->decoded);
		d += c;
	}
	return d;
}

/*
 * How far the exact distance typically strays from d, code_estimate's
 * distance to code (hnsw_code_spread), with the typical error of the
 * 16-bit query's rounding where the estimate may have taken it.  The
 * search and the re-rank take the same.
 */
static inline double
code_spread(HnswPageGraph *pg, const void *code, float d)
{
	double		s = hnsw_code_spread(pg->metric, &pg->codec, code, d, pg->qnorm);

	if (pg->q16.q != NULL)
		s += pg->q16.err * ((const HnswCodeHeader *) code)->step;
	return s;
}

/*
 * The distance from q to an element's vector area (code): the kernel's on
 * the vector or on the code; a scan of a coded expression index takes the
 * lower bound instead, which is what it orders by and reports
 * (hnsw_code_bound).
 *
 * A re-ranking scan takes the code's distance less HNSW_RERANK_Z of its
 * own spreads (hnsw_code_spread), below which its rows' exact distances
 * are not expected to lie: the stream then reaches an element before any
 * row it may precede goes out, even where its code errs far more than its
 * neighbours' (a vector a thousand times longer than the others, regress
 * hnsw_rerank_order).  It takes the lower bound where the code's distance
 * estimates nothing, the spread being infinite (half precision clamped a
 * coordinate beyond 65504 and the error that covers it overflowed).  Where
 * the estimate took the 16-bit query (code_estimate), the spread takes the
 * typical error of its rounding too.
 */
static inline float
code_distance(HnswPageGraph *pg, const float *q, const void *code,
			  int centroid)
{
	float		d;

	if (pg->codec.storage == HNSW_STORAGE_FLOAT4)
		return pg->g.dist(q, (const float *) code, pg->g.dim);
	d = code_estimate(pg, q, code, centroid);
	if (pg->rerank)
	{
		double		s = code_spread(pg, code, d);

		if (isfinite(s))
			return d - HNSW_RERANK_Z * s;
	}
	if (pg->bounds || pg->rerank)
		d = hnsw_code_bound(pg->metric, &pg->codec, code, d, pg->qnorm);
	return d;
}

/*
 * Bytes of each element tuple page_distances prefetches before it locks
 * anything: the start of every tuple gets in flight at once, the rest is
 * prefetched a batch of pages at a time.  Prefetching every tuple whole up
 * front (49 cache lines for a 784-d vector, 96 for 1,536-d, for up to 32
 * neighbours) filled the CPU's miss buffers, so that the prefetch
 * instructions themselves waited: 4-7% more CPU per query on Fashion-MNIST
 * and on 1,536-d float4 (session 15; 128 to 1,024 bytes here measure
 * alike).
 */
#define HNSW_PREFETCH_EARLY 512

/*
 * Distances from q to a batch of elements.  The batch is visited block by
 * block, so elements sharing a page cost one lock.  Up to
 * HNSW_BATCH_BLOCKS pages are locked together: first every element's
 * vector is located and prefetched, then the distances are computed, so
 * the cache misses of different elements overlap instead of queueing.
 * Holding several share locks is safe: writers hold one lock at a time.
 */
static void
page_distances(HnswGraph *g, const float *q, const HnswId *ids, int n,
			   float *dist, uint8 *flags)
{
	HnswPageGraph *pg = PG_OF(g);
	int			order[2 * HNSW_MAX_M + 2];
	HnswElementTuple etups[2 * HNSW_MAX_M + 2];
	Page		batchpage[2 * HNSW_MAX_M + 2];
	Size		esize = HNSW_ELEMENT_SIZE(pg->codec.storage, g->dim);
	int			i;

	Assert(n <= lengthof(order));
	for (i = 0; i < n; i++)
	{
		int			j = i;

		hnsw_buffers_prefetch_element(&pg->bufs, ids[i]);
		while (j > 0 && ids[order[j - 1]] > ids[i])
		{
			order[j] = order[j - 1];
			j--;
		}
		order[j] = i;
	}
	for (i = 0; i < n; i++)
		hnsw_buffers_prefetch_tuple(&pg->bufs, ids[i],
									Min(esize, HNSW_PREFETCH_EARLY));
	i = 0;
	while (i < n)
	{
		Buffer		bufs[HNSW_BATCH_BLOCKS];
		int			nbufs = 0;
		int			start = i;
		int			j;

		hnsw_buffers_checkpoint(&pg->bufs); /* nothing locked between batches */
		/* lock the batch's pages; start loading every element's tuple */
		while (i < n && nbufs < HNSW_BATCH_BLOCKS)
		{
			BlockNumber blkno = HnswIdBlock(ids[order[i]]);
			Page		page = hnsw_buffers_pin_lock(&pg->bufs, blkno, &bufs[nbufs++]);

			for (; i < n && HnswIdBlock(ids[order[i]]) == blkno; i++)
			{
				OffsetNumber off = HnswIdOffset(ids[order[i]]);
				char	   *item;

				batchpage[i] = page;
				if (off < FirstOffsetNumber || off > PageGetMaxOffsetNumber(page))
					continue;	/* element_on reports it below */
				item = (char *) page + ItemIdGetOffset(PageGetItemId(page, off));
				if (item + esize <= (char *) page + BLCKSZ)
					hnsw_prefetch_bytes(item, esize);
			}
		}
		for (j = start; j < i; j++)
			etups[j] = element_on(pg, batchpage[j], ids[order[j]]);
		for (j = start; j < i; j++)
		{
			int			k = order[j];

			dist[k] = code_distance(pg, q, etups[j]->vec, etups[j]->centroid);
			flags[k] = (etups[j]->flags & pg->skip_flags) ? HNSW_SKIP_RESULT : 0;
			if (etups[j]->flags & (HNSW_ELEMENT_DELETED | HNSW_ELEMENT_FREE))
				flags[k] |= HNSW_SKIP_LINK;
		}
		for (j = 0; j < nbufs; j++)
			LockBuffer(bufs[j], BUFFER_LOCK_UNLOCK);
	}
}

/*
 * Locks the page holding id's neighbour tuple and returns the tuple; the
 * caller unlocks.  Checks the level asked for is one the element has.
 */
static HnswNeighborTuple
lock_neighbors(HnswPageGraph *pg, HnswId id, int level, HnswId *nidp)
{
	Page		page = hnsw_buffers_lock(&pg->bufs, HnswIdBlock(id));
	HnswElementTuple etup = element_on(pg, page, id);
	HnswId		nid = etup->nbrs;
	int			elevel = etup->level;
	HnswNeighborTuple ntup;

	/*
	 * An id held across a slot's reuse may name an element of a lower level
	 * now: it has no edges there.  (hnsw_index_check reports such an edge in
	 * a stored list as corruption.)
	 */
	if (level > elevel)
		return NULL;
	if (HnswIdBlock(nid) != HnswIdBlock(id))
	{
		hnsw_buffers_unlock(&pg->bufs);
		page = hnsw_buffers_lock(&pg->bufs, HnswIdBlock(nid));
	}
	ntup = hnsw_page_neighbors(pg->index, page, nid, pg->g.m);
	if (ntup->level != elevel)
		hnsw_corrupt(pg->index, HnswIdBlock(nid), HnswIdOffset(nid),
					 "neighbour tuple level differs from its element's");
	*nidp = nid;
	return ntup;
}

/* number of edges in a list: up to its capacity or first invalid id */
static int
list_count(const HnswEdge *list, int cap)
{
	int			n = 0;

	while (n < cap && list[n].id != HNSW_INVALID_ID)
		n++;
	return n;
}

static int
page_neighbors(HnswGraph *g, HnswId id, int level, HnswEdge *out)
{
	HnswPageGraph *pg = PG_OF(g);
	HnswId		nid;
	HnswNeighborTuple ntup = lock_neighbors(pg, id, level, &nid);
	HnswEdge   *list;
	int			n;

	if (ntup == NULL)
	{
		hnsw_buffers_unlock(&pg->bufs);
		return 0;
	}
	list = ntup->edges + HNSW_LIST_OFFSET(g->m, level);
	n = list_count(list, HNSW_LIST_CAP(g->m, level));
	memcpy(out, list, sizeof(HnswEdge) * n);
	hnsw_buffers_unlock(&pg->bufs);
	return n;
}

/*
 * The list at level of neighbour tuple nid in page (exclusively locked),
 * of *cap slots; NULL if the tuple has no such level (its element was
 * replaced).
 */
static HnswEdge *
list_at(HnswPageGraph *pg, Page page, HnswId nid, int level, int *cap)
{
	HnswNeighborTuple ntup = hnsw_page_neighbors(pg->index, page, nid, pg->g.m);

	*cap = HNSW_LIST_CAP(pg->g.m, level);
	if (ntup->level < level)
		return NULL;
	return ntup->edges + HNSW_LIST_OFFSET(pg->g.m, level);
}

/* edges without a slot in a list's pieces: the zero tail of a short list */
static const HnswEdge zero_edges[2 * HNSW_MAX_M];

/*
 * Adds to p the pieces that turn list (cap slots, exclusively locked) into
 * edges[0..n) if it still equals old[0..nold); false if it changed.
 */
static bool
plan_list(HnswWalPieces *p, HnswEdge *list, int cap,
		  const HnswEdge *old, int nold, const HnswEdge *edges, int n)
{
	if (list_count(list, cap) != nold ||
		memcmp(list, old, sizeof(HnswEdge) * nold) != 0)
		return false;
	Assert(p->n + 2 <= HNSW_WAL_PIECES && cap <= lengthof(zero_edges));
	if (n > 0)
	{
		p->dst[p->n] = (char *) list;
		p->src[p->n] = (const char *) edges;
		p->len[p->n++] = sizeof(HnswEdge) * n;
	}
	if (cap > n)
	{
		p->dst[p->n] = (char *) (list + n);
		p->src[p->n] = (const char *) zero_edges;
		p->len[p->n++] = sizeof(HnswEdge) * (cap - n);
	}
	return true;
}

/*
 * Writes a new list under an exclusive lock, WAL-logged, if the list is
 * still the one the caller derived it from.  Written in place
 * (hnsw_wal_write): lists are most of what an insert writes (its
 * back-links), and a copy of the page for each cost more than the list.
 */
static bool
page_replace_neighbors(HnswGraph *g, HnswId id, int level,
					   const HnswEdge *old, int nold,
					   const HnswEdge *edges, int n)
{
	HnswPageGraph *pg = PG_OF(g);
	HnswWalPieces p;
	HnswEdge   *list;
	HnswId		nid;
	Buffer		buf;
	int			cap;
	bool		done;

	if (lock_neighbors(pg, id, level, &nid) == NULL)
	{
		hnsw_buffers_unlock(&pg->bufs);
		return true;			/* the element was replaced: nothing to do */
	}
	buf = pg->bufs.locked;
	LockBuffer(buf, BUFFER_LOCK_UNLOCK);

	LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
	p.n = 0;
	list = list_at(pg, BufferGetPage(buf), nid, level, &cap);
	done = list != NULL && plan_list(&p, list, cap, old, nold, edges, n);
	if (p.n > 0)
		hnsw_wal_write(pg->index, buf, &p);
	LockBuffer(buf, BUFFER_LOCK_UNLOCK);
	return done;
}

/*
 * Plans one write to the page of buf (exclusively locked) into p if the
 * element's neighbour tuple is on it and the list is still w->old; w->done
 * says whether w is settled.  The page is written when p is full or w's
 * list is in it already (a later write must see the earlier one, as it
 * would in order).
 */
static void
plan_write(HnswPageGraph *pg, Buffer buf, HnswListWrite *w, HnswWalPieces *p)
{
	Page		page = BufferGetPage(buf);
	HnswElementTuple etup = element_on(pg, page, w->id);
	HnswEdge   *list;
	int			cap;
	int			i;

	w->done = false;
	if (w->level > etup->level)
	{
		w->done = true;			/* the element was replaced: nothing to do */
		return;
	}
	if (HnswIdBlock(etup->nbrs) != HnswIdBlock(w->id))
		return;					/* the caller writes it on its own */
	list = list_at(pg, page, etup->nbrs, w->level, &cap);
	if (list == NULL)
		return;
	for (i = 0; i < p->n; i++)
	{
		if (p->dst[i] >= (char *) list && p->dst[i] < (char *) (list + cap))
			break;
	}
	if (i < p->n || p->n + 2 > HNSW_WAL_PIECES)
	{
		hnsw_wal_write(pg->index, buf, p);
		p->n = 0;
	}
	w->done = plan_list(p, list, cap, w->old, w->nold, w->fresh, w->nnew);
}

/*
 * HnswGraphOps.replace_many: the writes to one page in one WAL record.
 * A write whose neighbour tuple lives on another page is done on its own.
 */
static void
page_replace_many(HnswGraph *g, HnswListWrite *w, int n)
{
	HnswPageGraph *pg = PG_OF(g);
	int			i = 0;

	while (i < n)
	{
		BlockNumber blkno = HnswIdBlock(w[i].id);
		Buffer		buf;
		HnswWalPieces p;
		int			end;
		int			k;

		hnsw_buffers_checkpoint(&pg->bufs);
		buf = hnsw_buffers_pin(&pg->bufs, blkno);
		LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
		hnsw_buffers_check_once(&pg->bufs, blkno, BufferGetPage(buf));
		p.n = 0;
		for (end = i; end < n && HnswIdBlock(w[end].id) == blkno; end++)
			plan_write(pg, buf, &w[end], &p);
		if (p.n > 0)
			hnsw_wal_write(pg->index, buf, &p);
		LockBuffer(buf, BUFFER_LOCK_UNLOCK);
		for (k = i; k < end; k++)
		{
			if (!w[k].done)
				w[k].done = page_replace_neighbors(g, w[k].id, w[k].level,
												   w[k].old, w[k].nold,
												   w[k].fresh, w[k].nnew);
		}
		i = end;
	}
}

static const float *
page_vector(HnswGraph *g, HnswId id, float *scratch)
{
	HnswPageGraph *pg = PG_OF(g);
	Page		page = hnsw_buffers_lock(&pg->bufs, HnswIdBlock(id));
	HnswElementTuple etup = element_on(pg, page, id);

	/* a code decodes into scratch; a float4 vector is copied there */
	if (hnsw_decode(&pg->codec, etup->vec, etup->centroid, scratch) != scratch)
		memcpy(scratch, etup->vec, sizeof(float) * g->dim);
	hnsw_buffers_unlock(&pg->bufs);
	return scratch;
}

/*
 * HnswGraphOps.self_distance: what page_distances gives from vec to an
 * element holding vec (to its code, under one)
 */
static float
page_self_distance(HnswGraph *g, const float *vec)
{
	HnswPageGraph *pg = PG_OF(g);

	int			centroid = hnsw_encode(&pg->codec, vec, pg->code);

	return code_distance(pg, vec, pg->code, centroid);
}

/* HnswGraphOps.place: form both tuples and append them */
static HnswId
page_place(HnswGraph *g, const float *vec, int level, HnswEdge **lists,
		   const int *counts, ItemPointer tid)
{
	HnswPageGraph *pg = PG_OF(g);
	BlockNumber hint = pg->insert_page;
	HnswId		id = hnsw_store_new_element(pg->index, &pg->codec, g->m, vec,
											level, lists, counts, tid, &hint);

	if (hint != pg->insert_page)
		hnsw_meta_advance(pg->index, HNSW_INVALID_ID, 0, hint);
	pg->insert_page = hint;
	return id;
}

/*
 * HnswGraphOps.add_heaptid: an identical vector gets the new heap TID in a
 * free slot instead of a second element (UPDATEs that keep the vector).
 * Under a code, "identical" is the same code within the stored error
 * bound, which then bounds every row of the element.
 */
static bool
page_add_heaptid(HnswGraph *g, HnswId id, const float *vec, ItemPointer tid)
{
	HnswPageGraph *pg = PG_OF(g);
	Buffer		buf = ReadBuffer(pg->index, HnswIdBlock(id));
	HnswWal    *state;
	HnswElementTuple etup;
	Page		page;
	bool		added = false;
	int			i;

	LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
	hnsw_check_page(pg->index, BufferGetPage(buf), HnswIdBlock(id));
	page = hnsw_wal_begin(pg->index, buf, false, &state);
	etup = element_on(pg, page, id);
	if ((etup->flags & HNSW_ELEMENT_GONE) == 0 &&
		hnsw_code_holds(&pg->codec, etup->vec, etup->centroid, vec, pg->code))
	{
		for (i = 0; i < HNSW_HEAPTIDS && !added; i++)
		{
			if (!ItemPointerIsValid(&etup->heaptids[i]))
			{
				etup->heaptids[i] = *tid;
				added = true;
			}
		}
	}
	if (added)
		hnsw_wal_finish(state);
	else
		hnsw_wal_abort(state);
	UnlockReleaseBuffer(buf);
	return added;
}

static void
page_prefetch(HnswGraph *g, HnswId id, int level)
{
	hnsw_buffers_prefetch_element(&PG_OF(g)->bufs, id);
}

static const HnswGraphOps page_ops = {
	page_distances,
	page_neighbors,
	page_replace_neighbors,
	page_vector,
	page_self_distance,
	page_place,
	page_add_heaptid,
	page_replace_many,
	page_prefetch
};

/*
 * Opens the on-page graph of index for one operation, allocated in the
 * current memory context; hnsw_page_graph_close ends it.  The graph's shape
 * (m, ef_construction, levels) is the metapage's, what the index was built
 * with, whatever ALTER INDEX has set in the reloptions since; info gives
 * the metric's distance function only.  Appends start at the metapage's
 * insert_page hint.  Pins nothing yet.
 */
HnswPageGraph *
hnsw_page_graph_open(Relation index, const HnswIndexInfo *info,
					 const HnswMetaPageData *meta)
{
	HnswPageGraph *pg = palloc0(sizeof(HnswPageGraph));

	pg->skip_flags = HNSW_ELEMENT_GONE;
	hnsw_graph_init(&pg->g, &page_ops, meta->dim, meta->m,
					meta->ef_construction, meta->max_level, info->dist);
	/* a version 1 index's lists carry no filler marks: select afresh */
	pg->g.fillers_marked = meta->version >= 2;
	pg->index = index;
	hnsw_codec_init(&pg->codec, info, meta->storage, meta->dim);
	hnsw_codec_load_centroids(index, meta, &pg->codec);
	pg->metric = info->metric;
	pg->decoded = palloc(sizeof(float) * Max(meta->dim, 1));
	pg->code = palloc(hnsw_code_scratch_bytes(&pg->codec));
	pg->max_level = meta->max_level;
	pg->insert_page = meta->insert_page;
	hnsw_buffers_init(&pg->bufs, index);
	return pg;
}

/*
 * Lets the graph keep up to keep pins between its reads (VACUUM: see
 * HnswBuffers); before it reads anything.
 */
void
hnsw_page_graph_keep_pins(HnswPageGraph *pg, int keep)
{
	hnsw_buffers_keep(&pg->bufs, keep);
}

/* the graph core's handle, for its algorithms (hnsw_graph.h) */
HnswGraph *
hnsw_page_graph_core(HnswPageGraph *pg)
{
	return &pg->g;
}

/* a copy of id's list at level, as the graph's searches read it */
int
hnsw_page_graph_neighbors(HnswPageGraph *pg, HnswId id, int level,
						  HnswEdge *out)
{
	return page_neighbors(&pg->g, id, level, out);
}

/*
 * Makes scans of this graph return elements marked DEAD: the hints were set
 * for snapshots of the primary, and a hot standby's older snapshot may still
 * see those rows (as nbtree's LP_DEAD rule).
 */
void
hnsw_page_graph_ignore_dead_hints(HnswPageGraph *pg)
{
	pg->skip_flags &= ~HNSW_ELEMENT_DEAD;
}

/* tells the graph the scan's query (its norm enters the codes' bounds) */
static void
set_query(HnswPageGraph *pg, const float *q)
{
	pg->qnorm = sqrt(vec_norm_squared_double(q, pg->g.dim)) * 1.000001;
}

/*
 * Makes this graph's query distances lower bounds of the exact ones, for a
 * scan of a coded index, q being the query as the index compares it.
 * Returns whether the index is coded (then the scan must report the
 * bounds and have the executor recheck the order).
 */
bool
hnsw_page_graph_report_bounds(HnswPageGraph *pg, const float *q)
{
	if (pg->codec.storage == HNSW_STORAGE_FLOAT4)
		return false;
	pg->bounds = true;
	set_query(pg, q);
	return true;
}

/* the same, for a scan that re-ranks its candidates by the table's rows */
void
hnsw_page_graph_rerank(HnswPageGraph *pg, const float *q)
{
	set_query(pg, q);
	pg->q = q;
	pg->rerank = true;
	if (pg->codec.ncent > 0 && PRODUCT_METRIC(pg->metric))
	{
		pg->qready = palloc0(sizeof(bool) * pg->codec.ncent);
		pg->qdot = palloc(sizeof(float) * pg->codec.ncent);
	}
	if (PRODUCT_METRIC(pg->metric))
	{
		pg->q16.q = palloc(sizeof(int16) * pg->g.dim);
		if (!hnsw_code_query16(&pg->codec, q, &pg->q16))
		{
			pfree(pg->q16.q);
			pg->q16.q = NULL;
		}
	}
}

/* drops the pins the operation still holds (it holds no lock) and pg */
void
hnsw_page_graph_close(HnswPageGraph *pg)
{
	hnsw_buffers_release(&pg->bufs);
	pfree(pg->decoded);
	pfree(pg->code);
	if (pg->qready)
	{
		pfree(pg->qready);
		pfree(pg->qdot);
	}
	if (pg->q16.q)
		pfree(pg->q16.q);
	pfree(pg);
}

/*
 * Copies a vector datum into out as the index stores it: dimensions
 * checked, normalised for cosine.  Returns false for a vector the index
 * does not hold (zero under cosine).  The norm is summed in double, as
 * l2_normalize does (the result is the same vector): a float sum of squares
 * underflows to zero for [1e-30,0,0] and overflows for [1e20,1e20,0], in
 * double neither happens, so only the zero vector has norm 0.
 */
bool
hnsw_prepare_vector(HnswIndexInfo *info, Datum value, float *out, int dim)
{
	Vector	   *v = DatumGetVector(value);
	int			i;

	if (v->dim != dim)
		CheckVectorDims(dim, v->dim);
	memcpy(out, v->x, sizeof(float) * dim);
	if (info->normalize)
	{
		double		norm = sqrt(vec_norm_squared_double(out, dim));

		if (norm == 0)
			return false;
		for (i = 0; i < dim; i++)
			out[i] = (float) (out[i] / norm);
	}
	if ((Pointer) v != DatumGetPointer(value))
		pfree(v);
	return true;
}

/* copies the heap TIDs of an element that is a result into out; count */
static int
copy_tids(HnswElementTuple etup, uint8 skip_flags, ItemPointerData *out)
{
	int			n = 0;
	int			i;

	if (etup->flags & skip_flags)
		return 0;
	for (i = 0; i < HNSW_HEAPTIDS; i++)
		if (ItemPointerIsValid(&etup->heaptids[i]))
			out[n++] = etup->heaptids[i];
	return n;
}

/*
 * The heap TIDs of element id, for a scan returning it.  A coded index's
 * re-ranking scan (hnsw_page_graph_rerank) also asks, through est and
 * spread (else NULL), for the element's code distance from the query (not
 * less its spreads, as the search takes it) and how far the exact distance
 * of its rows typically lies from it (hnsw_code_spread).
 */
int
hnsw_element_tids(HnswPageGraph *pg, HnswId id, ItemPointerData *out,
				  double *est, double *spread)
{
	Page		page = hnsw_buffers_lock(&pg->bufs, HnswIdBlock(id));
	HnswElementTuple etup = element_on(pg, page, id);
	int			n = copy_tids(etup, pg->skip_flags, out);

	if (spread)
	{
		float		d = code_estimate(pg, pg->q, etup->vec, etup->centroid);

		*est = d;
		*spread = code_spread(pg, etup->vec, d);
	}
	hnsw_buffers_unlock(&pg->bufs);
	return n;
}

/* what hnsw_block_tids collects, element by element */
typedef struct BlockTids
{
	HnswPageGraph *pg;
	ItemPointerData *out;
	int			n;
} BlockTids;

static void
collect_block_tids(void *arg, Page page, HnswId id, HnswElementTuple etup)
{
	BlockTids  *bt = (BlockTids *) arg;

	bt->n += copy_tids(element_on(bt->pg, page, id), bt->pg->skip_flags,
					   bt->out + bt->n);
}

/*
 * The heap TIDs of every live element on block blkno, for scans that need
 * all rows in no particular order (a NULL query).  out has room for
 * HNSW_MAX_ITEMS_PER_PAGE * HNSW_HEAPTIDS.  Takes and releases the page's
 * share lock outside the operation's held pins.
 */
int
hnsw_block_tids(HnswPageGraph *pg, BlockNumber blkno, ItemPointerData *out)
{
	BlockTids	bt = {pg, out, 0};

	hnsw_page_walk_elements(pg->index, blkno, NULL, collect_block_tids, &bt);
	return bt.n;
}

/*
 * Marks element id DEAD, as a hint, when a scan learned that all the heap
 * tuples it returned for it are dead to everyone (kill_prior_tuple).  Like
 * nbtree's LP_DEAD bits: set under a share lock, not WAL-logged.  Only if
 * the element still holds exactly those TIDs, so a slot VACUUM freed and an
 * insert reused is never marked.
 */
void
hnsw_mark_dead(HnswPageGraph *pg, HnswId id, const ItemPointerData *tids,
			   int ntids)
{
	Page		page = hnsw_buffers_lock(&pg->bufs, HnswIdBlock(id));
	HnswElementTuple etup = element_on(pg, page, id);
	ItemPointerData cur[HNSW_HEAPTIDS];

	if (copy_tids(etup, pg->skip_flags, cur) == ntids &&
		memcmp(cur, tids, sizeof(ItemPointerData) * ntids) == 0)
	{
		etup->flags |= HNSW_ELEMENT_DEAD;
		MarkBufferDirtyHint(pg->bufs.locked, true);
	}
	hnsw_buffers_unlock(&pg->bufs);
}
