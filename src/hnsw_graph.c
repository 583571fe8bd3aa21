/*
 * hnsw_graph.c
 *		The graph handle of the HNSW algorithms (Malkov & Yashunin),
 *		independent of storage: set-up, levels, the id set, and what the
 *		other graph-core files share (edge order, id lookup).
 *
 * Everything here reaches elements only through HnswGraphOps, so the same
 * code builds the in-memory graph during CREATE INDEX, inserts into the
 * on-page graph, streams scan results and chooses replacement neighbours in
 * VACUUM.  No allocation happens per candidate: heaps, the visited set and
 * the neighbour-selection scratch are allocated once per graph and reused.
 */
#include "postgres.h"

#include <math.h>

#include "hnsw_graph_int.h"
#include "miscadmin.h"
#include "utils/memutils.h"

/* ---------------------------------------------------------------------
 * Id set: open addressing over non-zero ids; a search's visited set (cleared
 * per search) and VACUUM's set of removed elements.
 * ---------------------------------------------------------------------
 */
void
hnsw_idset_init(HnswIdSet *v, uint32 size)
{
	v->keys = palloc0(sizeof(HnswId) * size);
	v->mask = size - 1;
	v->count = 0;
}

void
hnsw_idset_clear(HnswIdSet *v)
{
	memset(v->keys, 0, sizeof(HnswId) * (v->mask + 1));
	v->count = 0;
}

/* double the table, re-inserting every key (hnsw_idset_add, when half full) */
void
hnsw_idset_grow(HnswIdSet *v)
{
	HnswId	   *old = v->keys;
	uint32		oldsize = v->mask + 1;
	uint32		i;

	v->keys = MemoryContextAllocHuge(GetMemoryChunkContext(old),
									 sizeof(HnswId) * oldsize * 2);
	memset(v->keys, 0, sizeof(HnswId) * oldsize * 2);
	v->mask = oldsize * 2 - 1;
	for (i = 0; i < oldsize; i++)
	{
		if (old[i] != HNSW_INVALID_ID)
		{
			uint32		s = hnsw_idset_slot(old[i], v->mask);

			while (v->keys[s] != HNSW_INVALID_ID)
				s = (s + 1) & v->mask;
			v->keys[s] = old[i];
		}
	}
	pfree(old);
}

/* true if id is in the set */
bool
hnsw_idset_contains(const HnswIdSet *v, HnswId id)
{
	uint32		s = hnsw_idset_slot(id, v->mask);

	while (v->keys[s] != HNSW_INVALID_ID)
	{
		if (v->keys[s] == id)
			return true;
		s = (s + 1) & v->mask;
	}
	return false;
}

/* copies the set's ids into out (room for v->count), in no order */
uint32
hnsw_idset_members(const HnswIdSet *v, HnswId *out)
{
	uint32		n = 0;
	uint32		i;

	for (i = 0; i <= v->mask; i++)
		if (v->keys[i] != HNSW_INVALID_ID)
			out[n++] = v->keys[i];
	return n;
}

/*
 * Allocates all scratch a graph needs in the current memory context, so that
 * inserting or searching never allocates per candidate.
 */
void
hnsw_graph_init(HnswGraph *g, const HnswGraphOps *ops, int dim, int m,
				int ef_construction, int max_level,
				float (*dist) (const float *, const float *, int))
{
	int			l;
	int			maxlist = 2 * m + 1;

	g->ops = ops;
	g->dim = dim;
	g->m = m;
	g->ef_construction = ef_construction;
	g->max_level = Min(max_level, HNSW_GRAPH_MAX_LEVELS - 1);
	g->fillers_marked = true;
	g->dist = dist;

	g->ctx = CurrentMemoryContext;
	hnsw_search_init(&g->search, ef_construction, 1024);
	g->found = palloc(sizeof(HnswEdge) * ef_construction);
	g->cands0 = palloc(sizeof(HnswEdge) * (ef_construction + m));
	g->eps = palloc(sizeof(HnswEdge) * ef_construction);
	g->nbrs = palloc(sizeof(HnswEdge) * maxlist);
	for (l = 0; l < HNSW_GRAPH_MAX_LEVELS; l++)
	{
		g->lists[l] = NULL;
		g->counts[l] = 0;
	}
	for (l = 0; l <= g->max_level; l++)
		g->lists[l] = palloc(sizeof(HnswEdge) * m);
	g->linkvec = NULL;
	g->old = palloc(sizeof(HnswEdge) * maxlist);
	g->merged = palloc(sizeof(HnswEdge) * maxlist);
	g->fresh = palloc(sizeof(HnswEdge) * maxlist);
	g->vecs = NULL;				/* see hnsw_select_neighbors */
	g->rs = NULL;
	g->keep = palloc(Max(ef_construction, maxlist * maxlist));
	g->selvecs = palloc(sizeof(float *) * maxlist);
	g->batch = palloc(sizeof(HnswId) * maxlist);
	g->batchdist = palloc(sizeof(float) * maxlist);
	g->batchflags = palloc(sizeof(uint8) * maxlist);
}

/*
 * Scrambles x so that every bit of the result depends on every bit of x
 * (the finaliser of the splitmix64 generator).  Nearby inputs, as the
 * TIDs of one heap page are, give unrelated outputs.
 */
uint64
hnsw_mix64(uint64 x)
{
	x ^= x >> 30;
	x *= UINT64CONST(0xbf58476d1ce4e5b9);
	x ^= x >> 27;
	x *= UINT64CONST(0x94d049bb133111eb);
	x ^= x >> 31;
	return x;
}

/* the next number of the generator whose state is *state, uniform in [0, 1) */
double
hnsw_next_unit(uint64 *state)
{
	*state += UINT64CONST(0x9e3779b97f4a7c15);
	return (double) (hnsw_mix64(*state) >> 11) / (double) (UINT64CONST(1) << 53);
}

/*
 * The level of the element for heap tuple tid, drawn from the exponential
 * distribution with mL = 1 / ln(m) as in the paper, capped where the
 * neighbour lists would no longer fit.
 *
 * The draw is a hash of the TID and seed (the index's relfilenode, see
 * hnsw_level_seed) rather than the backend's random generator, as hnswlib
 * seeds its generator: the same rows loaded the same way give the same
 * graph, so a failing test or a bench figure can be reproduced, and each
 * REINDEX (a new relfilenode) still draws afresh.  Nobody who only writes
 * rows chooses their TIDs, so the levels stay as random as the paper's.
 */
int
hnsw_tid_level(uint64 seed, ItemPointer tid, int m, int max_level)
{
	uint64		blk = ItemPointerGetBlockNumberNoCheck(tid);
	uint64		state = (blk << 16 | ItemPointerGetOffsetNumberNoCheck(tid)) ^
	hnsw_mix64(seed);
	double		level = -log(1.0 - hnsw_next_unit(&state)) / log((double) m);

	return (int) Min(level, (double) Min(max_level, HNSW_GRAPH_MAX_LEVELS - 1));
}

/* ---------------------------------------------------------------------
 * Sorting edges by distance: VACUUM's repair sorts a candidate list per
 * list it plans, and qsort through a comparator function took about 12% of
 * a VACUUM.  PostgreSQL 14's sort template inlines the comparison.
 * ---------------------------------------------------------------------
 */
#define EDGE_CMP(a, b)	(((a)->dist > (b)->dist) - ((a)->dist < (b)->dist))

#if PG_VERSION_NUM >= 140000
#define ST_SORT sort_edges
#define ST_ELEMENT_TYPE HnswEdge
#define ST_COMPARE(a, b) EDGE_CMP(a, b)
#define ST_SCOPE static
#define ST_DEFINE
#include "lib/sort_template.h"
#else
static int
edge_cmp(const void *a, const void *b)
{
	return EDGE_CMP((const HnswEdge *) a, (const HnswEdge *) b);
}
#endif

/* sorts n edges nearest first (ties in no particular order) */
void
hnsw_sort_edges(HnswEdge *edges, size_t n)
{
#if PG_VERSION_NUM >= 140000
	sort_edges(edges, n);
#else
	qsort(edges, n, sizeof(HnswEdge), edge_cmp);
#endif
}

/*
 * Position of id in an array sorted by id, or -1.  The ids need not be
 * adjacent: entry i's id is at (char *) first + i * stride, so arrays of
 * structs keyed by an id (the checker's elements) share this search with
 * plain id arrays (stride sizeof(HnswId)).
 */
int64
hnsw_find_id(const HnswId *first, int64 n, Size stride, HnswId id)
{
	int64		lo = 0;
	int64		hi = n - 1;

	while (lo <= hi)
	{
		int64		mid = lo + (hi - lo) / 2;
		HnswId		at = *(const HnswId *) ((const char *) first + mid * stride);

		if (at == id)
			return mid;
		if (at < id)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return -1;
}

void
hnsw_search_free(HnswSearch *s)
{
	pfree(s->cand.items);
	pfree(s->top.items);
	pfree(s->pending.items);
	if (s->later.items)
	{
		pfree(s->later.items);
		pfree(s->later_result);
	}
	pfree(s->visited.keys);
}
