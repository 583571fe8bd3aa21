/*
 * hnsw_build.c
 *		ambuild and ambuildempty.
 *
 * CREATE INDEX builds the graph in memory with the same algorithms the
 * on-page insert uses (the graph core), through an in-memory HnswGraphOps.
 * Once the heap is scanned, elements are laid out breadth-first from the
 * entry point, so that neighbours tend to share pages, and written
 * sequentially; the pages are WAL-logged in bulk at the end.  If the graph
 * outgrows maintenance_work_mem under a compact storage (half, sq8, sq4),
 * its vectors are replaced by their codes, and the build goes on in memory
 * with the distances an insert into the pages computes (to the codes); if
 * it outgrows the limit again, or under float4, what is built so far is
 * written out and the remaining tuples are inserted into the pages one by
 * one.
 */
#include "postgres.h"

#include "access/tableam.h"
#include "access/xloginsert.h"
#include "catalog/index.h"
#include "commands/progress.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#include "hnsw.h"
#include "vector.h"

/* an element of the in-memory graph; level-0 lists live in a flat array */
typedef struct MemElement
{
	uint8		level;
	uint8		ntids;
	uint8		centroid;		/* once coded: its code's centroid */
	ItemPointerData tids[HNSW_HEAPTIDS];
	uint16	   *upcount;		/* counts of levels 1..level */
	HnswEdge   *upper;			/* m edges per level 1..level */
} MemElement;

typedef struct HnswBuildState
{
	HnswGraph	g;				/* first: the ops receive this */
	Relation	heap;
	Relation	index;
	HnswIndexInfo info;
	int			dim;
	int			max_level;
	HnswCodec	codec;			/* how the pages keep the vectors */

	/* the in-memory graph; ids are index + 1 */
	uint32		n;
	uint32		cap;
	char	   *vecs;			/* vbytes each: vectors, or codes */
	Size		vbytes;			/* 4 * dim, or a code's size MAXALIGNed */
	bool		coded;			/* vecs holds codes (mem_code_ops) */
	void	   *code;			/* scratch: a code */
	float	   *decoded;		/* scratch after it: dim floats */
	HnswEdge   *l0;
	uint16	   *l0count;
	MemElement *elems;
	HnswId		entry;
	int			entry_level;
	Size		upper_bytes;
	Size		mem_limit;

	bool		ondisk;			/* outgrew memory: inserting into pages */
	double		reltuples;
	double		indtuples;
	float	   *vec;			/* the tuple being added */
	MemoryContext graphctx;
	MemoryContext tmpctx;
} HnswBuildState;

#define BS_OF(g)	((HnswBuildState *) (g))
#define MEM_AREA(bs, id)	((bs)->vecs + (Size) ((id) - 1) * (bs)->vbytes)
#define MEM_VEC(bs, id)		((float *) MEM_AREA(bs, id))	/* unless coded */
#define MEM_L0(bs, id)		((bs)->l0 + (Size) ((id) - 1) * 2 * (bs)->info.m)

/*
 * Asks the CPU to load the vectors (or codes) of a batch before their
 * distances are computed, so that their cache misses overlap: the build is
 * bound by those misses (the kernel took 65% of a build's CPU), and this
 * took 14% off a build of the bench's clustered set, 7.5% off
 * Fashion-MNIST.
 */
static inline void
mem_prefetch_batch(HnswBuildState *bs, const HnswId *ids, int n)
{
	int			i;

	for (i = 0; i < n; i++)
		hnsw_prefetch_bytes(MEM_AREA(bs, ids[i]), bs->vbytes);
}

static void
mem_distances(HnswGraph *g, const float *q, const HnswId *ids, int n,
			  float *dist, uint8 *flags)
{
	HnswBuildState *bs = BS_OF(g);
	int			i;

	mem_prefetch_batch(bs, ids, n);
	for (i = 0; i < n; i++)
	{
		/* once coded, as the on-page graph computes it (mem_code_ops) */
		dist[i] = bs->coded ?
			hnsw_code_distance(&bs->codec, bs->info.metric, q,
							   MEM_AREA(bs, ids[i]),
							   bs->elems[ids[i] - 1].centroid, bs->decoded) :
			g->dist(q, MEM_VEC(bs, ids[i]), g->dim);
		flags[i] = 0;
	}
}

/* the list of id at level, and where its count is kept */
static HnswEdge *
mem_list(HnswBuildState *bs, HnswId id, int level, uint16 **count)
{
	MemElement *e = &bs->elems[id - 1];

	if (level == 0)
	{
		*count = &bs->l0count[id - 1];
		return MEM_L0(bs, id);
	}
	Assert(level <= e->level);
	*count = &e->upcount[level - 1];
	return e->upper + (Size) (level - 1) * bs->info.m;
}

static int
mem_neighbors(HnswGraph *g, HnswId id, int level, HnswEdge *out)
{
	uint16	   *count;
	HnswEdge   *list = mem_list(BS_OF(g), id, level, &count);

	memcpy(out, list, sizeof(HnswEdge) * *count);
	return *count;
}

static bool
mem_replace_neighbors(HnswGraph *g, HnswId id, int level,
					  const HnswEdge *old, int nold,
					  const HnswEdge *edges, int n)
{
	uint16	   *count;
	HnswEdge   *list = mem_list(BS_OF(g), id, level, &count);

	memcpy(list, edges, sizeof(HnswEdge) * n);
	*count = n;
	return true;
}

static const float *
mem_vector(HnswGraph *g, HnswId id, float *scratch)
{
	return MEM_VEC(BS_OF(g), id);
}

/* bytes the graph holds per element, besides upper levels */
static Size
mem_element_bytes(HnswBuildState *bs)
{
	return bs->vbytes + sizeof(HnswEdge) * 2 * bs->info.m +
		sizeof(uint16) + sizeof(MemElement);
}

/*
 * Makes room for one more element, doubling the arrays up to the memory
 * limit.  Returns false when the limit is reached.
 */
static bool
mem_reserve(HnswBuildState *bs)
{
	Size		per = mem_element_bytes(bs);
	Size		newcap;
	MemoryContext old;

	if (bs->n < bs->cap)
		return true;
	newcap = Max(bs->cap * 2, 1024);
	if (newcap * per + bs->upper_bytes > bs->mem_limit)
		newcap = (bs->mem_limit - Min(bs->upper_bytes, bs->mem_limit)) / per;
	if (newcap <= bs->cap)
		return false;
	old = MemoryContextSwitchTo(bs->graphctx);
	if (bs->cap == 0)
	{
		bs->vecs = palloc_extended(bs->vbytes * newcap, MCXT_ALLOC_HUGE);
		bs->l0 = palloc_extended(sizeof(HnswEdge) * 2 * bs->info.m * newcap, MCXT_ALLOC_HUGE);
		bs->l0count = palloc_extended(sizeof(uint16) * newcap, MCXT_ALLOC_HUGE);
		bs->elems = palloc_extended(sizeof(MemElement) * newcap, MCXT_ALLOC_HUGE);
	}
	else
	{
		bs->vecs = repalloc_huge(bs->vecs, bs->vbytes * newcap);
		bs->l0 = repalloc_huge(bs->l0, sizeof(HnswEdge) * 2 * bs->info.m * newcap);
		bs->l0count = repalloc_huge(bs->l0count, sizeof(uint16) * newcap);
		bs->elems = repalloc_huge(bs->elems, sizeof(MemElement) * newcap);
	}
	MemoryContextSwitchTo(old);
	bs->cap = newcap;
	return true;
}

static HnswId
mem_place(HnswGraph *g, const float *vec, int level, HnswEdge **lists,
		  const int *counts, ItemPointer tid)
{
	HnswBuildState *bs = BS_OF(g);
	HnswId		id = ++bs->n;
	MemElement *e = &bs->elems[id - 1];
	int			l;

	Assert(bs->n <= bs->cap);
	/* under codes, vec is mem_code_place's scratch, at least vbytes long */
	memcpy(MEM_AREA(bs, id), vec, bs->vbytes);
	e->level = level;
	e->centroid = 0;
	e->ntids = 1;
	e->tids[0] = *tid;
	e->upcount = NULL;
	e->upper = NULL;
	if (level > 0)
	{
		Size		bytes = (sizeof(uint16) + sizeof(HnswEdge) * bs->info.m) * level;

		e->upcount = MemoryContextAllocZero(bs->graphctx, bytes);
		e->upper = (HnswEdge *) MemoryContextAlloc(bs->graphctx,
												   sizeof(HnswEdge) * bs->info.m * level);
		bs->upper_bytes += bytes;
	}
	bs->l0count[id - 1] = 0;
	for (l = 0; l <= level; l++)
	{
		uint16	   *count;
		HnswEdge   *list = mem_list(bs, id, l, &count);

		*count = counts ? counts[l] : 0;
		if (*count > 0)
			memcpy(list, lists[l], sizeof(HnswEdge) * *count);
	}
	return id;
}

static bool
mem_add_heaptid(HnswGraph *g, HnswId id, const float *vec, ItemPointer tid)
{
	HnswBuildState *bs = BS_OF(g);
	MemElement *e = &bs->elems[id - 1];

	if (e->ntids >= HNSW_HEAPTIDS ||
		memcmp(MEM_VEC(bs, id), vec, sizeof(float) * bs->dim) != 0)
		return false;
	e->tids[e->ntids++] = *tid;
	return true;
}

static void
mem_prefetch(HnswGraph *g, HnswId id, int level)
{
	if (level == 0)
		__builtin_prefetch(MEM_L0(BS_OF(g), id));
}

static const HnswGraphOps mem_ops = {
	mem_distances,
	mem_neighbors,
	mem_replace_neighbors,
	mem_vector,
	NULL,						/* self_distance: dist(vec, vec) */
	mem_place,
	mem_add_heaptid,
	NULL,						/* replace_many: one at a time */
	mem_prefetch
};

/*
 * The same graph once its vectors are codes (to_codes): the vector of an
 * element, placement and the duplicate test as the on-page graph computes
 * them under the index's storage (mem_distances switches itself).
 */
static const float *
mem_code_vector(HnswGraph *g, HnswId id, float *scratch)
{
	HnswBuildState *bs = BS_OF(g);

	return hnsw_decode(&bs->codec, MEM_AREA(bs, id),
					   bs->elems[id - 1].centroid, scratch);
}

/* HnswGraphOps.self_distance: from vec to its own code */
static float
mem_code_self_distance(HnswGraph *g, const float *vec)
{
	HnswBuildState *bs = BS_OF(g);

	int			centroid = hnsw_encode(&bs->codec, vec, bs->code);

	return hnsw_code_distance(&bs->codec, bs->info.metric, vec, bs->code,
							  centroid, bs->decoded);
}

static HnswId
mem_code_place(HnswGraph *g, const float *vec, int level, HnswEdge **lists,
			   const int *counts, ItemPointer tid)
{
	HnswBuildState *bs = BS_OF(g);
	int			centroid = hnsw_encode(&bs->codec, vec, bs->code);
	HnswId		id = mem_place(g, bs->code, level, lists, counts, tid);

	bs->elems[id - 1].centroid = centroid;
	return id;
}

static bool
mem_code_add_heaptid(HnswGraph *g, HnswId id, const float *vec, ItemPointer tid)
{
	HnswBuildState *bs = BS_OF(g);
	MemElement *e = &bs->elems[id - 1];

	if (e->ntids >= HNSW_HEAPTIDS ||
		!hnsw_code_holds(&bs->codec, MEM_AREA(bs, id), e->centroid, vec,
						 bs->code))
		return false;
	e->tids[e->ntids++] = *tid;
	return true;
}

static const HnswGraphOps mem_code_ops = {
	mem_distances,
	mem_neighbors,
	mem_replace_neighbors,
	mem_code_vector,
	mem_code_self_distance,
	mem_code_place,
	mem_code_add_heaptid,
	NULL,						/* replace_many: one at a time */
	mem_prefetch
};

/*
 * Trains the centroids of an sq8 or sq4 index on the vectors the graph
 * holds, before the first of them is encoded, writes them after the
 * metapage and gives them to the codec (hnsw_centroids.c).  Once per
 * build: its callers, to_codes and write_graph, each run once, and the
 * second finds the codes made (rows inserted later are coded against the
 * same centroids).
 */
static void
train_centroids(HnswBuildState *bs)
{
	int			k = hnsw_centroid_count(bs->n, bs->info.storage, bs->dim);
	float	   *cent;
	MemoryContext old;

	if (bs->coded || k == 0)
		return;
	/* the build's graph context: the codec keeps them */
	old = MemoryContextSwitchTo(bs->graphctx);
	cent = hnsw_centroids_train(bs->vecs, bs->vbytes, bs->n, bs->dim, k);
	MemoryContextSwitchTo(old);
	hnsw_centroids_write(bs->index, cent, k, bs->dim);
	bs->codec.ncent = k;
	bs->codec.cent = cent;
	elog(DEBUG1, "hnsw index \"%s\" codes residuals to %d centroids trained on %u rows",
		 RelationGetRelationName(bs->index), k, bs->n);
}

/*
 * Replaces every vector of the graph by its code, in place (codes are kept
 * MAXALIGNed, as their headers' floats want, and each is smaller than a
 * vector, so code i never reaches vector i + 1), and switches to
 * mem_code_ops.  The codes are what write_element would have made of the
 * vectors.  Returns false where codes would save nothing (float4, or a
 * code at least as large as the vector at very low dimensions).
 */
static bool
to_codes(HnswBuildState *bs)
{
	Size		cbytes;
	Size		stride;
	uint32		i;

	if (bs->coded || bs->info.storage == HNSW_STORAGE_FLOAT4)
		return false;
	cbytes = hnsw_code_bytes(bs->info.storage, bs->dim);
	stride = MAXALIGN(cbytes);
	if (stride >= bs->vbytes)
		return false;
	train_centroids(bs);
	for (i = 0; i < bs->n; i++)
	{
		bs->elems[i].centroid =
			hnsw_encode(&bs->codec, (const float *) (bs->vecs + i * bs->vbytes),
						bs->code);
		memcpy(bs->vecs + i * stride, bs->code, cbytes);
		if ((i & 1023) == 0)
			CHECK_FOR_INTERRUPTS();
	}
	elog(DEBUG1, "hnsw graph for index \"%s\" keeps codes instead of vectors after %u elements",
		 RelationGetRelationName(bs->index), bs->n);
	bs->vbytes = stride;
	bs->coded = true;
	bs->g.ops = &mem_code_ops;
	bs->vecs = repalloc_huge(bs->vecs, Max(stride * bs->n, 1));
	return true;
}

/* ---------------------------------------------------------------------
 * Writing the graph to pages
 * ---------------------------------------------------------------------
 */

/* the walk's number of an in-memory element: its index */
static int64
mem_index(void *arg, HnswId from, HnswId to)
{
	return to - 1;
}

/*
 * Elements in breadth-first order over level 0 from the entry point, then
 * each unreached one (in id order) with what it reaches in turn.
 */
static HnswId *
layout_order(HnswBuildState *bs)
{
	HnswWalk	w;
	HnswId		id;

	hnsw_walk_init(&w, &bs->g, bs->n, false, mem_index, NULL);
	hnsw_walk_from(&w, bs->entry, bs->entry - 1);
	for (id = 1; id <= bs->n; id++)
		hnsw_walk_from(&w, id, id - 1);
	hnsw_walk_end(&w);
	return w.order;
}

/* page-fill cursor shared by the layout pass and the writing pass */
typedef struct PageCursor
{
	BlockNumber blkno;
	Size		free;
	int			nitems;
} PageCursor;

/* reserves items of the given sizes on the cursor's page, or a new one */
static BlockNumber
cursor_take(PageCursor *pc, Size space, int nitems)
{
	if (!hnsw_room_for(pc->free, pc->nitems, space, nitems))
	{
		pc->blkno++;
		pc->free = hnsw_page_capacity();
		pc->nitems = 0;
	}
	pc->free -= space;
	pc->nitems += nitems;
	return pc->blkno;
}

/*
 * Decides every element's (and neighbour tuple's) final id with the
 * placement rules of appends (hnsw_place_together, hnsw_room_for): the
 * neighbour tuple first, then the element, on one page when both fit.
 */
static void
layout_ids(HnswBuildState *bs, const HnswId *order, BlockNumber first,
		   HnswId *eid, HnswId *nid)
{
	PageCursor	pc = {first - 1, 0, 0};
	Size		eraw = HNSW_ELEMENT_SIZE(bs->info.storage, bs->dim);
	Size		esize = hnsw_item_space(eraw);
	uint32		i;

	for (i = 0; i < bs->n; i++)
	{
		HnswId		id = order[i];
		Size		nraw = HNSW_NEIGHBOR_SIZE(bs->info.m, bs->elems[id - 1].level);
		Size		nsize = hnsw_item_space(nraw);
		BlockNumber blk;

		if (hnsw_place_together(eraw, nraw))
		{
			blk = cursor_take(&pc, esize + nsize, 2);
			nid[id] = HnswIdMake(blk, pc.nitems - 1);
			eid[id] = HnswIdMake(blk, pc.nitems);
		}
		else
		{
			blk = cursor_take(&pc, nsize, 1);
			nid[id] = HnswIdMake(blk, pc.nitems);
			blk = cursor_take(&pc, esize, 1);
			eid[id] = HnswIdMake(blk, pc.nitems);
		}
	}
}

/* writes one element and its neighbour tuple, ids translated to pages */
static void
write_element(HnswBuildState *bs, HnswBulkWriter *w, HnswId id,
			  const HnswId *eid, const HnswId *nid)
{
	MemElement *e = &bs->elems[id - 1];
	HnswEdge   *lists[HNSW_GRAPH_MAX_LEVELS];
	int			counts[HNSW_GRAPH_MAX_LEVELS];
	HnswElementTuple etup;
	HnswNeighborTuple ntup;
	Size		esize;
	Size		nsize;
	int			l;
	int			i;

	for (l = 0; l <= e->level; l++)
	{
		uint16	   *count;
		HnswEdge   *list = mem_list(bs, id, l, &count);

		lists[l] = palloc(sizeof(HnswEdge) * Max(*count, 1));
		counts[l] = *count;
		for (i = 0; i < *count; i++)
		{
			lists[l][i].id = eid[list[i].id];
			lists[l][i].dist = list[i].dist;
		}
	}
	ntup = hnsw_form_neighbors(bs->info.m, e->level, lists, counts, &nsize);
	etup = hnsw_form_element(&bs->codec, bs->coded ? NULL : MEM_VEC(bs, id),
							 e->level, NULL, &esize);
	if (bs->coded)
	{
		memcpy(etup->vec, MEM_AREA(bs, id),
			   hnsw_code_bytes(bs->info.storage, bs->dim));
		etup->centroid = e->centroid;
	}
	for (i = 0; i < e->ntids; i++)
		etup->heaptids[i] = e->tids[i];
	etup->nbrs = nid[id];
	hnsw_bulk_add(w, nid[id], (Item) ntup, nsize);
	hnsw_bulk_add(w, eid[id], (Item) etup, esize);
}

/*
 * Makes every element reachable at layer 0 before the graph is written.
 */
static void
reconnect_all(HnswBuildState *bs)
{
	HnswId	   *ids = palloc_extended(sizeof(HnswId) * bs->n, MCXT_ALLOC_HUGE);
	bool	   *gone = palloc_extended(bs->n, MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
	uint32		i;

	for (i = 0; i < bs->n; i++)
		ids[i] = i + 1;
	(void) hnsw_reconnect(&bs->g, ids, gone, bs->n, bs->entry);
	pfree(ids);
	pfree(gone);
}

/*
 * Writes the in-memory graph after the pages already in the index and
 * points the metapage at it.
 */
static void
write_graph(HnswBuildState *bs)
{
	BlockNumber first;
	HnswBulkWriter *w;
	HnswId	   *order;
	HnswId	   *eid;
	HnswId	   *nid;
	MemoryContext elemctx;
	uint32		i;

	if (bs->n == 0)
		return;
	train_centroids(bs);
	first = RelationGetNumberOfBlocks(bs->index);
	elemctx = AllocSetContextCreate(CurrentMemoryContext, "hnsw build write",
									ALLOCSET_DEFAULT_SIZES);
	pgstat_progress_update_param(PROGRESS_CREATEIDX_SUBPHASE,
								 PROGRESS_HNSW_PHASE_WRITE);
	pgstat_progress_update_param(PROGRESS_CREATEIDX_TUPLES_TOTAL, bs->n);
	reconnect_all(bs);
	order = layout_order(bs);
	eid = palloc_extended(sizeof(HnswId) * (bs->n + 1), MCXT_ALLOC_HUGE);
	nid = palloc_extended(sizeof(HnswId) * (bs->n + 1), MCXT_ALLOC_HUGE);
	layout_ids(bs, order, first, eid, nid);

	w = palloc(sizeof(HnswBulkWriter));
	hnsw_bulk_begin(w, bs->index, first);
	for (i = 0; i < bs->n; i++)
	{
		MemoryContext old = MemoryContextSwitchTo(elemctx);

		write_element(bs, w, order[i], eid, nid);
		MemoryContextSwitchTo(old);
		MemoryContextReset(elemctx);
		if ((i & 1023) == 0)
		{
			CHECK_FOR_INTERRUPTS();
			pgstat_progress_update_param(PROGRESS_CREATEIDX_TUPLES_DONE, i);
		}
	}
	pgstat_progress_update_param(PROGRESS_CREATEIDX_TUPLES_DONE, bs->n);
	hnsw_meta_advance(bs->index, eid[bs->entry], bs->entry_level,
					  hnsw_bulk_end(w));
	pfree(w);
	MemoryContextDelete(elemctx);
	pfree(order);
	pfree(eid);
	pfree(nid);
}

/* writes what is in memory and continues with on-page inserts */
static void
spill_to_pages(HnswBuildState *bs)
{
	ereport(NOTICE,
			(errmsg("hnsw graph for index \"%s\" outgrew maintenance_work_mem after %u elements",
					RelationGetRelationName(bs->index), bs->n),
			 errdetail("The remaining rows are inserted into the index pages one by one, which is slower."),
			 errhint("Raise maintenance_work_mem to build in memory.")));
	write_graph(bs);
	/* the inserts that follow are WAL-logged deltas against these pages */
	if (RelationNeedsWAL(bs->index))
		log_newpage_range(bs->index, MAIN_FORKNUM, 0,
						  RelationGetNumberOfBlocks(bs->index), true);
	MemoryContextReset(bs->graphctx);
	bs->ondisk = true;
	/* back to loading rows, whose total is not known (as at the start) */
	pgstat_progress_update_param(PROGRESS_CREATEIDX_SUBPHASE,
								 PROGRESS_HNSW_PHASE_LOAD);
	pgstat_progress_update_param(PROGRESS_CREATEIDX_TUPLES_TOTAL, 0);
	pgstat_progress_update_param(PROGRESS_CREATEIDX_TUPLES_DONE,
								 bs->indtuples);
}

/* the first vector fixes the dimensions if the column's typmod did not */
static void
init_dims(HnswBuildState *bs, Datum value)
{
	MemoryContext old;

	if (bs->dim == 0)
	{
		bs->dim = DatumGetVector(value)->dim;
		hnsw_check_dimensions(bs->dim, bs->info.storage, false);
		hnsw_meta_set_dim(bs->index, bs->dim);
	}
	hnsw_codec_init(&bs->codec, &bs->info, bs->info.storage, bs->dim);
	old = MemoryContextSwitchTo(bs->graphctx);
	hnsw_graph_init(&bs->g, &mem_ops, bs->dim, bs->info.m,
					bs->info.ef_construction, bs->max_level, bs->info.dist);
	bs->vec = palloc(sizeof(float) * bs->dim);
	bs->vbytes = sizeof(float) * bs->dim;
	bs->code = palloc(hnsw_code_scratch_bytes(&bs->codec));
	/* where hnsw_code_holds decodes into the same scratch */
	bs->decoded = (float *) ((char *) bs->code +
							 MAXALIGN(hnsw_code_bytes(bs->info.storage, bs->dim)));
	MemoryContextSwitchTo(old);
}

/* adds one heap tuple's vector to the in-memory graph */
static void
mem_add(HnswBuildState *bs, Datum value, ItemPointer tid)
{
	int			level;
	HnswId		id;

	if (bs->vec == NULL)
		init_dims(bs, value);
	if (!hnsw_prepare_vector(&bs->info, value, bs->vec, bs->dim))
		return;
	if (!mem_reserve(bs) && !(to_codes(bs) && mem_reserve(bs)))
	{
		spill_to_pages(bs);
		hnsw_insert_datum(bs->index, &bs->info, value, tid, false);
		return;
	}
	level = hnsw_tid_level(hnsw_level_seed(bs->index), tid, bs->info.m,
						   bs->max_level);
	if (bs->entry == HNSW_INVALID_ID)
	{
		bs->entry = bs->g.ops->place(&bs->g, bs->vec, level, NULL, NULL, tid);
		bs->entry_level = level;
		return;
	}
	id = hnsw_insert(&bs->g, bs->vec, level, tid, bs->entry, bs->entry_level);
	if (id != HNSW_INVALID_ID && level > bs->entry_level)
	{
		bs->entry = id;
		bs->entry_level = level;
	}
}

static void
build_callback(Relation index, ItemPointer tid, Datum *values, bool *isnull,
			   bool tupleIsAlive, void *state)
{
	HnswBuildState *bs = (HnswBuildState *) state;
	MemoryContext old;

	if (isnull[0])
		return;
	old = MemoryContextSwitchTo(bs->tmpctx);
	if (bs->ondisk)
		hnsw_insert_datum(index, &bs->info, values[0], tid, false);
	else
		mem_add(bs, values[0], tid);
	MemoryContextSwitchTo(old);
	MemoryContextReset(bs->tmpctx);
	bs->indtuples++;
	pgstat_progress_update_param(PROGRESS_CREATEIDX_TUPLES_DONE, bs->indtuples);
	CHECK_FOR_INTERRUPTS();
}

/*
 * Checks the options against each other and the column, and returns the
 * dimensions the column's typmod fixes (0 if it has none).
 */
static int
check_build(Relation index, HnswIndexInfo *info)
{
	int			typmod = TupleDescAttr(RelationGetDescr(index), 0)->atttypmod;

	if (info->ef_construction < 2 * info->m)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("ef_construction must be greater than or equal to 2 * m")));
	hnsw_check_dimensions(typmod, info->storage, true);
	return typmod > 0 ? typmod : 0;
}

/* ambuild */
IndexBuildResult *
hnswbuild(Relation heap, Relation index, IndexInfo *indexInfo)
{
	IndexBuildResult *result;
	HnswBuildState bs;

	if (RelationGetNumberOfBlocks(index) != 0)
		elog(ERROR, "index \"%s\" already contains data",
			 RelationGetRelationName(index));
	memset(&bs, 0, sizeof(bs));
	bs.heap = heap;
	bs.index = index;
	hnsw_get_info(index, &bs.info);
	bs.dim = check_build(index, &bs.info);
	bs.max_level = hnsw_level_cap(bs.info.m);
	bs.mem_limit = (Size) maintenance_work_mem * 1024;
	bs.graphctx = AllocSetContextCreate(CurrentMemoryContext, "hnsw build graph",
										ALLOCSET_DEFAULT_SIZES);
	bs.tmpctx = AllocSetContextCreate(CurrentMemoryContext, "hnsw build tuple",
									  ALLOCSET_DEFAULT_SIZES);

	hnsw_meta_init(index, MAIN_FORKNUM, bs.dim, bs.info.m,
				   bs.info.ef_construction, bs.info.storage);
	pgstat_progress_update_param(PROGRESS_CREATEIDX_SUBPHASE,
								 PROGRESS_HNSW_PHASE_LOAD);
	bs.reltuples = table_index_build_scan(heap, index, indexInfo, true, true,
										  build_callback, (void *) &bs, NULL);
	if (!bs.ondisk)
	{
		write_graph(&bs);
		if (RelationNeedsWAL(index))
			log_newpage_range(index, MAIN_FORKNUM, 0,
							  RelationGetNumberOfBlocks(index), true);
	}

	MemoryContextDelete(bs.graphctx);
	MemoryContextDelete(bs.tmpctx);
	result = palloc(sizeof(IndexBuildResult));
	result->heap_tuples = bs.reltuples;
	result->index_tuples = bs.indtuples;
	return result;
}

/* ambuildempty: the init fork of an unlogged index is an empty metapage */
void
hnswbuildempty(Relation index)
{
	HnswIndexInfo info;
	int			dim;

	hnsw_get_info(index, &info);
	dim = check_build(index, &info);
	hnsw_meta_init(index, INIT_FORKNUM, dim, info.m, info.ef_construction,
				   info.storage);
}
