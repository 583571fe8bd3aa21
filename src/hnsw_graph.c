/*
 * hnsw_graph.c
 *		The HNSW algorithms (Malkov & Yashunin), independent of storage.
 *
 * Everything here reaches elements only through HnswGraphOps, so the same
 * code builds the in-memory graph during CREATE INDEX, inserts into the
 * on-page graph, streams scan results and chooses replacement neighbours in
 * VACUUM.  No allocation happens per candidate: heaps, the visited set and
 * the neighbour-selection scratch are allocated once per graph and reused.
 */
#include "postgres.h"

#include <math.h>

#include "hnsw_graph.h"
#include "miscadmin.h"
#include "utils/memutils.h"

#if PG_VERSION_NUM >= 150000
#include "common/pg_prng.h"
#endif

/* ---------------------------------------------------------------------
 * Binary min-heap of edges.  Max-heaps push negated distances.
 * ---------------------------------------------------------------------
 */
static void
heap_init(HnswHeap *h, int capacity)
{
	h->items = palloc(sizeof(HnswEdge) * capacity);
	h->count = 0;
	h->capacity = capacity;
}

static void
heap_push(HnswHeap *h, HnswId id, float dist)
{
	int			i;

	if (h->count == h->capacity)
	{
		h->capacity *= 2;
		h->items = repalloc_huge(h->items, sizeof(HnswEdge) * h->capacity);
	}
	i = h->count++;
	while (i > 0)
	{
		int			parent = (i - 1) / 2;

		if (h->items[parent].dist <= dist)
			break;
		h->items[i] = h->items[parent];
		i = parent;
	}
	h->items[i].id = id;
	h->items[i].dist = dist;
}

static HnswEdge
heap_pop(HnswHeap *h)
{
	HnswEdge	top = h->items[0];
	HnswEdge	last = h->items[--h->count];
	int			n = h->count;
	int			i = 0;

	for (;;)
	{
		int			child = 2 * i + 1;

		if (child >= n)
			break;
		if (child + 1 < n && h->items[child + 1].dist < h->items[child].dist)
			child++;
		if (last.dist <= h->items[child].dist)
			break;
		h->items[i] = h->items[child];
		i = child;
	}
	if (n > 0)
		h->items[i] = last;
	return top;
}

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

static void
idset_clear(HnswIdSet *v)
{
	memset(v->keys, 0, sizeof(HnswId) * (v->mask + 1));
	v->count = 0;
}

static inline uint32
idset_slot(HnswId id, uint32 mask)
{
	uint32		h = id * 0x9E3779B1u;

	return (h ^ (h >> 15)) & mask;
}

/* double the table, re-inserting every key */
static void
idset_grow(HnswIdSet *v)
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
			uint32		s = idset_slot(old[i], v->mask);

			while (v->keys[s] != HNSW_INVALID_ID)
				s = (s + 1) & v->mask;
			v->keys[s] = old[i];
		}
	}
	pfree(old);
}

/* add id; true if it was not there before */
bool
hnsw_idset_add(HnswIdSet *v, HnswId id)
{
	uint32		s;

	if (v->count * 2 >= v->mask)
		idset_grow(v);
	s = idset_slot(id, v->mask);
	while (v->keys[s] != HNSW_INVALID_ID)
	{
		if (v->keys[s] == id)
			return false;
		s = (s + 1) & v->mask;
	}
	v->keys[s] = id;
	v->count++;
	return true;
}

/* true if id is in the set */
bool
hnsw_idset_contains(const HnswIdSet *v, HnswId id)
{
	uint32		s = idset_slot(id, v->mask);

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

/* ---------------------------------------------------------------------
 * Set-up
 * ---------------------------------------------------------------------
 */
static void
search_init(HnswSearch *s, int ef, uint32 visited)
{
	heap_init(&s->cand, Max(ef, 64));
	heap_init(&s->top, Max(ef, 64) + 1);
	heap_init(&s->pending, 64);
	s->later.items = NULL;
	s->later.count = s->later.capacity = 0;
	s->later_result = NULL;
	hnsw_idset_init(&s->visited, visited);
	s->ndistances = 0;
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
	search_init(&g->search, ef_construction, 1024);
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
	g->qvec = NULL;
	g->cands = NULL;
	g->hop = NULL;
	g->keep = palloc(Max(ef_construction, maxlist * maxlist));
	g->selvecs = palloc(sizeof(float *) * maxlist);
	g->batch = palloc(sizeof(HnswId) * maxlist);
	g->batchdist = palloc(sizeof(float) * maxlist);
	g->batchflags = palloc(sizeof(uint8) * maxlist);
}

/* a uniform random number in [0, 1), from the backend's generator */
static double
random_unit(void)
{
#if PG_VERSION_NUM >= 150000
	return pg_prng_double(&pg_global_prng_state);
#else
	return (double) random() / ((double) MAX_RANDOM_VALUE + 1);
#endif
}

/*
 * Draws a level from the exponential distribution with mL = 1 / ln(m), as
 * in the paper, capped where the neighbour lists would no longer fit.
 */
int
hnsw_random_level(int m, int max_level)
{
	double		level = -log(1.0 - random_unit()) / log((double) m);

	return (int) Min(level, (double) Min(max_level, HNSW_GRAPH_MAX_LEVELS - 1));
}

/* ---------------------------------------------------------------------
 * Searching
 * ---------------------------------------------------------------------
 */

/* fetch id's unvisited neighbours at the search's level and their distances */
static int
fetch_unvisited(HnswGraph *g, HnswSearch *s, HnswId id)
{
	int			n = g->ops->neighbors(g, id, s->level, g->nbrs);
	int			k = 0;
	int			i;

	for (i = 0; i < n; i++)
	{
		if (hnsw_idset_add(&s->visited, g->nbrs[i].id))
			g->batch[k++] = g->nbrs[i].id;
	}
	if (k > 0)
		g->ops->distances(g, s->q, g->batch, k, g->batchdist, g->batchflags);
	s->ndistances += k;
	return k;
}

/*
 * A streaming search keeps a find too far for this round's beam (it would
 * neither be expanded nor handed out this round) in an unordered list, and
 * heaps it only if another round comes.
 */
static void
defer(HnswSearch *s, HnswId id, float d, bool result)
{
	HnswHeap   *l = &s->later;

	if (l->count == l->capacity)
	{
		l->capacity = Max(l->capacity * 2, 256);
		l->items = l->items ? repalloc_huge(l->items, sizeof(HnswEdge) * l->capacity) :
			palloc(sizeof(HnswEdge) * l->capacity);
		s->later_result = s->later_result ?
			repalloc_huge(s->later_result, l->capacity) : palloc(l->capacity);
	}
	l->items[l->count].id = id;
	l->items[l->count].dist = d;
	s->later_result[l->count++] = result;
	if (d < s->later_min)
		s->later_min = d;
}

/* consider one discovered element for the candidate and result heaps */
static inline void
offer(HnswSearch *s, HnswId id, float d, bool result, int ef)
{
	bool		better = s->top.count < ef || d < -s->top.items[0].dist;

	if (s->stream && !better)
	{
		defer(s, id, d, result);
		return;
	}
	if (better)
		heap_push(&s->cand, id, d);
	if (s->stream && result)
		heap_push(&s->pending, id, d);

	if (better && result)
	{
		heap_push(&s->top, id, -d);
		if (s->top.count > ef)
			(void) heap_pop(&s->top);
	}
}

/*
 * The best-first loop shared by every search: expand the nearest candidate
 * until it is farther than the worst of the ef best results.
 */
static void
search_run(HnswGraph *g, HnswSearch *s, int ef, bool strict)
{
	while (s->cand.count > 0)
	{
		HnswEdge	c = s->cand.items[0];
		int			k;
		int			i;

		if (s->top.count >= ef && c.dist > -s->top.items[0].dist)
			break;
		(void) heap_pop(&s->cand);
		/* the next candidate is often the one now on top: overlap its load */
		if (s->cand.count > 0)
			g->ops->prefetch(g, s->cand.items[0].id, s->level);
		k = fetch_unvisited(g, s, c.id);
		for (i = 0; i < k; i++)
		{
			float		d = g->batchdist[i];
			bool		result = (g->batchflags[i] & HNSW_SKIP_RESULT) == 0;

			if (!result && !s->stream && d < s->fallback.dist &&
				!(g->batchflags[i] & HNSW_SKIP_LINK))
			{
				s->fallback.id = g->batch[i];
				s->fallback.dist = d;
			}
			if (strict && d < s->emitted_dist)
				result = false;
			offer(s, g->batch[i], d, result, ef);
		}
	}
}

/* start a search from the given entry points */
static void
search_start(HnswSearch *s, const float *q, int level, bool stream,
			 const HnswEdge *eps, int neps, bool eps_skip)
{
	int			i;

	s->q = q;
	s->level = level;
	s->stream = stream;
	s->emitted_dist = -INFINITY;
	s->cand.count = 0;
	s->top.count = 0;
	s->pending.count = 0;
	s->later.count = 0;
	s->later_min = INFINITY;
	s->fallback.id = HNSW_INVALID_ID;
	s->fallback.dist = INFINITY;
	idset_clear(&s->visited);
	for (i = 0; i < neps; i++)
	{
		if (!hnsw_idset_add(&s->visited, eps[i].id))
			continue;
		heap_push(&s->cand, eps[i].id, eps[i].dist);
		if (eps_skip)
			continue;
		heap_push(&s->top, eps[i].id, -eps[i].dist);
		if (stream)
			heap_push(&s->pending, eps[i].id, eps[i].dist);
	}
}

/*
 * Greedy descent: from entry at from_level down to (excluding) to_level,
 * move to the nearest neighbour while it improves.  Returns the element to
 * start the search at to_level from; *skip says it is not a result
 * (deleted), so the search there only traverses it.
 */
HnswEdge
hnsw_descend(HnswGraph *g, const float *q, HnswId entry, int from_level,
			 int to_level, bool *skip)
{
	HnswEdge	cur;
	uint8		flags;
	int			level;

	cur.id = entry;
	g->ops->distances(g, q, &entry, 1, &cur.dist, &flags);
	*skip = (flags & HNSW_SKIP_RESULT) != 0;
	for (level = from_level; level > to_level; level--)
	{
		bool		changed = true;

		while (changed)
		{
			int			n = g->ops->neighbors(g, cur.id, level, g->nbrs);
			int			i;

			changed = false;
			if (n == 0)
				break;
			for (i = 0; i < n; i++)
				g->batch[i] = g->nbrs[i].id;
			g->ops->distances(g, q, g->batch, n, g->batchdist, g->batchflags);
			for (i = 0; i < n; i++)
			{
				if (g->batchdist[i] < cur.dist)
				{
					cur.id = g->batch[i];
					cur.dist = g->batchdist[i];
					*skip = (g->batchflags[i] & HNSW_SKIP_RESULT) != 0;
					changed = true;
				}
			}
		}
	}
	return cur;
}

/*
 * The nearest of the entry points eps an insert may link to: skipped as
 * results (dead), but not DELETED or FREE.  Rare (hnsw_search_layer found
 * nothing else), so the flags are read afresh.
 */
static HnswEdge
linkable_entry(HnswGraph *g, const float *q, const HnswEdge *eps, int neps)
{
	HnswEdge	best = {HNSW_INVALID_ID, INFINITY};
	int			n = Min(neps, 2 * g->m + 1);
	int			i;

	for (i = 0; i < n; i++)
		g->batch[i] = eps[i].id;
	g->ops->distances(g, q, g->batch, n, g->batchdist, g->batchflags);
	for (i = 0; i < n; i++)
	{
		if (!(g->batchflags[i] & HNSW_SKIP_LINK) && g->batchdist[i] < best.dist)
		{
			best.id = g->batch[i];
			best.dist = g->batchdist[i];
		}
	}
	return best;
}

/*
 * Searches one layer with beam width ef from the entry points; writes the
 * results nearest first into out and returns their number (at most ef).
 */
int
hnsw_search_layer(HnswGraph *g, const float *q, const HnswEdge *eps, int neps,
				  bool eps_skip, int ef, int level, HnswEdge *out)
{
	HnswSearch *s = &g->search;
	int			n;
	int			i;

	search_start(s, q, level, false, eps, neps, eps_skip);
	while (s->top.count > ef)
		(void) heap_pop(&s->top);
	search_run(g, s, ef, false);
	n = s->top.count;
	for (i = n - 1; i >= 0; i--)
	{
		HnswEdge	e = heap_pop(&s->top);

		out[i].id = e.id;
		out[i].dist = -e.dist;
	}

	/*
	 * Every element found is dead (a scan set DEAD hints after a mass
	 * DELETE, and VACUUM has not run yet): an insert that linked to none of
	 * them would leave its element, and every later one, unreachable until
	 * VACUUM.  The nearest dead one that VACUUM has not started to remove
	 * serves; VACUUM repairs around it like around any element it removes.
	 * The entry points count too: a dead entry point with no neighbours
	 * (a rolled-back first row) is all a search finds.
	 */
	if (n == 0 && s->fallback.id == HNSW_INVALID_ID && eps_skip)
		s->fallback = linkable_entry(g, q, eps, neps);
	if (n == 0 && s->fallback.id != HNSW_INVALID_ID)
	{
		out[0] = s->fallback;
		n = 1;
	}
	return n;
}

/*
 * The paper's neighbour-selection heuristic (its Algorithm 4): walk the
 * candidates nearest first and keep one only if it is nearer to the base
 * than to every candidate kept so far; protected (tree) edges are kept
 * first.  Then, as the paper's keepPrunedConnections option, the room left
 * up to max is filled with the nearest pruned candidates, marked as
 * fillers: the heuristic's edges give a list its reach, the fillers its
 * density, and the list space is allocated anyway.  cands must be sorted
 * by distance to the base; out keeps that order.
 */
int
hnsw_select_neighbors(HnswGraph *g, const HnswEdge *cands, int n, int max,
					  bool fill, HnswEdge *out)
{
	int			nsel = 0;
	int			nout = 0;
	int			i;

	/* a list with room keeps everything (unjudged) unless it is to be filled */
	if (n <= max && (!fill || !g->fillers_marked))
	{
		for (i = 0; i < n; i++)
		{
			out[i] = cands[i];
			if (g->fillers_marked && !hnsw_edge_protected(cands[i]))
				out[i].dist = hnsw_edge_mark(cands[i].dist, HNSW_EDGE_UNSURE);
		}
		return n;
	}
	/* scans never select: they do without this (large for many dimensions) */
	if (g->vecs == NULL)
		g->vecs = MemoryContextAlloc(g->ctx, sizeof(float) * g->dim * (2 * g->m + 1));
	for (i = 0; i < n; i++)
	{
		g->keep[i] = 0;
		if (hnsw_edge_protected(cands[i]) && nsel < max)
		{
			g->selvecs[nsel] = g->ops->vector(g, cands[i].id,
											  g->vecs + (Size) nsel * g->dim);
			nsel++;
			g->keep[i] = 1;
		}
	}
	for (i = 0; i < n && nsel < max; i++)
	{
		const float *v;
		float		d = hnsw_edge_dist(cands[i].dist, false);
		bool		keep = true;
		int			j;

		if (g->keep[i] || hnsw_edge_protected(cands[i]))
			continue;
		v = g->ops->vector(g, cands[i].id, g->vecs + (Size) nsel * g->dim);
		for (j = 0; j < nsel && keep; j++)
			keep = g->dist(v, g->selvecs[j], g->dim) > d;
		if (keep)
		{
			g->selvecs[nsel++] = v;
			g->keep[i] = 1;
		}
	}
	for (i = 0; i < n && nsel < max && fill; i++)
	{
		if (!g->keep[i] && !hnsw_edge_protected(cands[i]))
		{
			g->keep[i] = 2;
			nsel++;
		}
	}
	for (i = 0; i < n; i++)
	{
		if (!g->keep[i])
			continue;
		out[nout] = cands[i];
		out[nout++].dist = hnsw_edge_mark(cands[i].dist,
										  hnsw_edge_protected(cands[i]) ?
										  HNSW_EDGE_PROTECTED :
										  g->keep[i] == 2 ? HNSW_EDGE_FILLER : 0);
	}
	return nout;
}

/* how link_back protects the edge it adds */
#define LINK_PLAIN	0			/* an ordinary edge */
#define LINK_TREE	1			/* a tree edge, if the list has room for one */
#define LINK_FORCE	2			/* a tree edge beyond HNSW_TREE_EDGES: last resort */

static bool link_tree(HnswGraph *g, HnswId x, HnswEdge p, int mode);
static bool link_tree_walk(HnswGraph *g, HnswId x, const float *vec,
						   const HnswEdge *starts, int n,
						   bool (*ok) (void *arg, HnswId id), void *arg);

/* protected edges in list[0..n), other than one to id */
static int
count_protected(const HnswEdge *list, int n, HnswId id)
{
	int			k = 0;
	int			i;

	for (i = 0; i < n; i++)
		k += hnsw_edge_protected(list[i]) && list[i].id != id;
	return k;
}

/* true if list[0..n) holds id */
static bool
list_contains(const HnswEdge *list, int n, HnswId id)
{
	int			i;

	for (i = 0; i < n; i++)
		if (list[i].id == id)
			return true;
	return false;
}

static void write_lists(HnswGraph *g, HnswListWrite *w, int n);

/* starts planning a write of id's list at level: reads the list into w */
static void
plan_start(HnswGraph *g, HnswListWrite *w, HnswId id, int level)
{
	w->id = id;
	w->level = level;
	w->lost_tree = false;
	w->nold = g->ops->neighbors(g, id, level, w->old);
}

/*
 * Finishes a plan: the heuristic keeps at most cap of the sorted
 * candidates cands[0..n) as w's new list.  Returns whether it differs from
 * the list as read.
 */
static bool
plan_select(HnswGraph *g, HnswListWrite *w, const HnswEdge *cands, int n,
			int cap, bool fill)
{
	w->nnew = hnsw_select_neighbors(g, cands, n, Min(n, cap), fill, w->fresh);
	return w->nnew != w->nold ||
		memcmp(w->fresh, w->old, sizeof(HnswEdge) * w->nold) != 0;
}

/* the vector of id, for a back-link to it: vec if the caller has it */
static const float *
link_vector(HnswGraph *g, HnswId id, const float *vec)
{
	if (vec != NULL)
		return vec;
	if (g->linkvec == NULL)
		g->linkvec = MemoryContextAlloc(g->ctx, sizeof(float) * g->dim);
	return g->ops->vector(g, id, g->linkvec);
}

/*
 * Judges the new edge merged[pos] of a full list whose marks are all sure,
 * as the heuristic would: it is pruned if a protected edge, or a chosen
 * edge nearer than it, is nearer to it than the owner is.  A chosen new
 * edge in turn prunes the chosen edges beyond it that are nearer to it than
 * to the owner (what these prune no longer is not re-judged: such edges
 * stay fillers, still in the list).  Returns whether it was pruned.
 */
static bool
judge_added(HnswGraph *g, HnswEdge *merged, int pos, int n,
			const float *vec)
{
	float		d = merged[pos].dist;
	bool		pruned = false;
	int			k = 0;
	int			i;

	for (i = 0; i < n; i++)
		if (i != pos && !hnsw_edge_filler(merged[i]) &&
			(i < pos || hnsw_edge_protected(merged[i])))
			g->batch[k++] = merged[i].id;
	if (k > 0)
		g->ops->distances(g, vec, g->batch, k, g->batchdist, g->batchflags);
	for (i = 0; i < k && !pruned; i++)
		pruned = g->batchdist[i] <= d;
	if (pruned)
		return true;
	k = 0;
	for (i = pos + 1; i < n; i++)
		if (!hnsw_edge_filler(merged[i]) && !hnsw_edge_protected(merged[i]))
			g->batch[k++] = merged[i].id;
	if (k == 0)
		return false;
	g->ops->distances(g, vec, g->batch, k, g->batchdist, g->batchflags);
	for (i = pos + 1, k = 0; i < n; i++)
	{
		if (hnsw_edge_filler(merged[i]) || hnsw_edge_protected(merged[i]))
			continue;
		if (g->batchdist[k++] <= hnsw_edge_dist(merged[i].dist, false))
			merged[i].dist = hnsw_edge_mark(merged[i].dist, HNSW_EDGE_FILLER);
	}
	return false;
}

/*
 * Plans w's new list when an ordinary edge joins it (merged[0..n), the new
 * edge at pos, unmarked).  While the list has room the edge joins unsure,
 * at no cost.  When it overflows with unsure edges in it, the heuristic
 * judges them all; after that each new edge is judged from the marks
 * alone (judge_added), and the farthest filler goes (a pruned new edge is
 * a filler itself) -- or, in a list of chosen edges only, the farthest of
 * them, as the heuristic stops at cap.
 */
static bool
plan_added(HnswGraph *g, HnswListWrite *w, HnswId id, const float *vec,
		   int pos, int n, int cap)
{
	HnswEdge   *merged = g->merged;
	int			i;

	if (n <= cap)
		merged[pos].dist = hnsw_edge_mark(merged[pos].dist, HNSW_EDGE_UNSURE);
	else
	{
		for (i = 0; i < n; i++)
			if (hnsw_edge_unsure(merged[i]))
				return plan_select(g, w, merged, n, cap, true);
		if (judge_added(g, merged, pos, n, link_vector(g, id, vec)))
			merged[pos].dist = hnsw_edge_mark(merged[pos].dist, HNSW_EDGE_FILLER);
		for (i = n - 1; i >= 0; i--)
			if (hnsw_edge_filler(merged[i]))
				break;
		if (i < 0)				/* no filler: the farthest chosen one */
			for (i = n - 1; i > 0 && hnsw_edge_protected(merged[i]); i--)
				;
		if (i == pos)
			return false;
		memmove(&merged[i], &merged[i + 1], sizeof(HnswEdge) * (n - i - 1));
		n--;
	}
	memcpy(w->fresh, merged, sizeof(HnswEdge) * n);
	w->nnew = n;
	return true;
}

/*
 * Plans the edge (nb -> id) at level into w: nb's list as read, and the
 * list with the edge merged in, pruned and filled as the selection does.
 * A protected edge (a tree edge) is never pruned; a list that already
 * holds HNSW_TREE_EDGES of them takes the edge unprotected.  vec is id's
 * vector, or NULL.  *holds says whether the planned list holds the edge
 * (and protected, if asked).  Returns false when the list would not
 * change.
 */
static bool
plan_link_back(HnswGraph *g, HnswId id, const float *vec, HnswEdge nb,
			   int level, int protect, HnswListWrite *w, bool *holds)
{
	int			cap = HNSW_LIST_CAP(g->m, level);
	bool		tree;
	bool		had;
	bool		changed;
	float		dist;
	int			pos;
	int			i;
	int			j;

	plan_start(g, w, nb.id, level);
	tree = protect == LINK_FORCE ||
		(protect && count_protected(w->old, w->nold, id) < HNSW_TREE_EDGES(g->m));
	/* even by force, a tree edge never displaces another one */
	if (tree && count_protected(w->old, w->nold, id) >= cap)
	{
		*holds = false;
		return false;
	}
	had = list_contains(w->old, w->nold, id);
	if (had && !tree)
	{
		*holds = !protect;
		return false;
	}
	dist = hnsw_edge_dist(nb.dist, tree);
	/* merge the new edge into the sorted list (replacing an old one) */
	for (i = 0, j = 0; i < w->nold && w->old[i].dist <= dist; i++)
		if (w->old[i].id != id)
			g->merged[j++] = w->old[i];
	pos = j;
	g->merged[j].id = id;
	g->merged[j++].dist = dist;
	for (; i < w->nold; i++)
		if (w->old[i].id != id)
			g->merged[j++] = w->old[i];
	if (g->fillers_marked && !tree && !had)
	{
		/* false: the new edge is not taken */
		changed = plan_added(g, w, id, vec, pos, j, cap);
		if (!changed)
		{
			*holds = false;
			return false;
		}
	}
	else
		changed = plan_select(g, w, g->merged, j, cap, true);
	*holds = list_contains(w->fresh, w->nnew, id) && tree == (protect != LINK_PLAIN);
	return changed;
}

/*
 * Adds the edge (nb -> id) at level (see plan_link_back), retrying when
 * the storage reports a concurrent change.  Returns whether nb's list
 * holds the edge, and protected if asked.
 */
static bool
link_back(HnswGraph *g, HnswId id, const float *vec, HnswEdge nb, int level,
		  int protect)
{
	HnswListWrite w;
	bool		holds;

	w.old = g->old;
	w.fresh = g->fresh;
	for (;;)
	{
		if (!plan_link_back(g, id, vec, nb, level, protect, &w, &holds))
			return holds;
		write_lists(g, &w, 1);
		if (w.done)
			return holds;
	}
}

/*
 * An identical vector already in the graph takes the heap TID instead of a
 * new element.  Identical vectors are at the vector's distance to itself
 * (0 for L2 and L1, 1 - |v|^2 for inner product), computed by the same
 * kernel on the same floats, so comparing distances finds them; the
 * storage compares the vectors themselves before attaching.
 */
static bool
attach_duplicate(HnswGraph *g, const float *vec, ItemPointer tid, int nfound)
{
	float		self = g->dist(vec, vec, g->dim);
	int			i;

	for (i = 0; i < nfound && g->found[i].dist <= self; i++)
	{
		if (g->found[i].dist == self &&
			g->ops->add_heaptid(g, g->found[i].id, vec, tid))
			return true;
	}
	return false;
}

/* how many lists a walk through the tree reads at most */
#define WALK_BUDGET 1024

/* a uniform random integer in [0, n) */
static int
random_below(int n)
{
	return Min((int) (random_unit() * n), n - 1);
}

/*
 * Finds x (vector vec) a parent by walking tree edges from starts[0..n):
 * the first element whose list has room for one more tree edge (and that
 * ok(arg, id) accepts, if ok is given) takes x.  Needed where the nearest
 * elements are all full of tree edges, as among thousands of identical
 * vectors, whose searches all find the same few elements.
 *
 * The walk is depth first in random order: in a tree, a walk that never
 * turns back ends at a leaf (one tree edge) within the tree's diameter,
 * where a breadth-first walk from the same starts would fill the tree
 * level by level and, later, read most of it.  Only elements already
 * linked are visited, so when x is unreached its own subtree is never
 * taken for a parent.
 */
static bool
link_tree_walk(HnswGraph *g, HnswId x, const float *vec,
			   const HnswEdge *starts, int n,
			   bool (*ok) (void *arg, HnswId id), void *arg)
{
	HnswId	   *stack = palloc(sizeof(HnswId) * WALK_BUDGET);
	HnswEdge   *list = palloc(sizeof(HnswEdge) * (2 * g->m + 1));
	HnswIdSet seen;
	int			depth = 0;
	int			reads;
	bool		linked = false;

	hnsw_idset_init(&seen, 2 * WALK_BUDGET);
	(void) hnsw_idset_add(&seen, x);
	if (n > 0)
		stack[depth++] = starts[random_below(n)].id;
	for (reads = 0; depth > 0 && reads < WALK_BUDGET && !linked; reads++)
	{
		HnswId		y = stack[--depth];
		int			k;
		int			i;

		CHECK_FOR_INTERRUPTS();
		if (!hnsw_idset_add(&seen, y))
			continue;
		k = g->ops->neighbors(g, y, 0, list);
		if (count_protected(list, k, x) < HNSW_TREE_EDGES(g->m) &&
			(ok == NULL || ok(arg, y)))
		{
			HnswEdge	p = {y, 0};
			uint8		flags;

			g->ops->distances(g, vec, &y, 1, &p.dist, &flags);
			linked = link_tree(g, x, p, LINK_TREE);
		}
		/* push the unseen tree neighbours in random order */
		for (i = k; i > 0 && depth < WALK_BUDGET; i--)
		{
			int			j = random_below(i);
			HnswEdge	e = list[j];

			list[j] = list[i - 1];
			if (hnsw_edge_protected(e) && !hnsw_idset_contains(&seen, e.id))
				stack[depth++] = e.id;
		}
		/* a dead end: start again from another start */
		if (depth == 0 && n > 1)
			stack[depth++] = starts[random_below(n)].id;
	}
	pfree(seen.keys);
	pfree(list);
	pfree(stack);
	return linked;
}

/*
 * Adds the new element's level-0 back-links.  Its parent is the nearest
 * neighbour whose list takes a protected edge to it (a list already full
 * of protected edges, as among many identical vectors, refuses); the
 * element's own edge to its parent is protected too.
 */
static void
link_parent(HnswGraph *g, HnswId id, const float *vec, int nfound)
{
	bool		parented = false;
	int			i;

	for (i = 0; i < g->counts[0]; i++)
	{
		HnswEdge	nb = g->lists[0][i];
		bool		linked = link_back(g, id, vec, nb, 0,
									   parented ? LINK_PLAIN : LINK_TREE);

		if (!parented && linked)
		{
			HnswEdge	up = {id, nb.dist};

			parented = true;
			if (i > 0)
				(void) link_back(g, nb.id, NULL, up, 0, LINK_TREE);
		}
	}
	/* every chosen neighbour is full of tree edges: try the other finds */
	for (i = 0; i < nfound && !parented; i++)
		if (!list_contains(g->lists[0], g->counts[0], g->found[i].id))
			parented = link_tree(g, id, g->found[i], LINK_TREE);
	/* then the elements below them in the tree */
	if (!parented)
		parented = link_tree_walk(g, id, vec, g->found, nfound, NULL, NULL);
	/* and failing those, the nearest neighbour takes one tree edge more */
	if (!parented && g->counts[0] > 0)
		(void) link_tree(g, id, g->lists[0][0], LINK_FORCE);
}

/*
 * A new element about to become the entry point (its level is above the
 * entry's) takes a protected edge to the old entry.  Tree edges are not
 * always both ways (a list full of them takes a parent's edge back
 * unprotected), so the new entry, a leaf of the tree, may reach only its
 * own subtree through them; through the old entry it reaches everything.
 * Not to an entry VACUUM is removing (HNSW_SKIP_LINK): VACUUM replaces it
 * and reconnects from the new one.
 */
static void
link_entry(HnswGraph *g, HnswId id, const float *vec, HnswId entry)
{
	HnswEdge	e = {entry, 0};
	HnswEdge	owner = {id, 0};
	uint8		flags = 0;

	g->ops->distances(g, vec, &entry, 1, &e.dist, &flags);
	if (flags & HNSW_SKIP_LINK)
		return;
	owner.dist = hnsw_edge_dist(e.dist, false);
	/* id's list takes the edge to entry */
	if (!link_back(g, entry, NULL, owner, 0, LINK_TREE))
		(void) link_back(g, entry, NULL, owner, 0, LINK_FORCE);
}

/*
 * Inserts vec (heap tuple tid) at the given level into a non-empty graph
 * whose entry point is entry at entry_level.  Returns the new element's id,
 * or HNSW_INVALID_ID when the tid was attached to an identical element.
 * The caller makes the new element the entry point when its level is
 * higher.
 */
static int	select_level0_upper(HnswGraph *g, int nfound);
static int	edge_cmp(const void *a, const void *b);

HnswId
hnsw_insert(HnswGraph *g, const float *vec, int level, ItemPointer tid,
			HnswId entry, int entry_level)
{
	bool		skip;
	HnswEdge	ep = hnsw_descend(g, vec, entry, entry_level, level, &skip);
	int			top = Min(level, entry_level);
	int			neps = 1;
	HnswId		id;
	int			l;
	int			i;
	int			nfound0 = 0;

	g->eps[0] = ep;
	for (l = top; l >= 0; l--)
	{
		int			nfound = hnsw_search_layer(g, vec, g->eps, neps, skip,
											   g->ef_construction, l, g->found);

		if (l == 0 && attach_duplicate(g, vec, tid, nfound))
			return HNSW_INVALID_ID;
		if (l == 0)
			nfound0 = nfound;
		/* search results carry raw distances: clear the mark bits */
		for (i = 0; i < nfound; i++)
			g->found[i].dist = hnsw_edge_dist(g->found[i].dist, false);
		if (l == 0 && top >= 1)
			g->counts[0] = select_level0_upper(g, nfound);
		else
			g->counts[l] = hnsw_select_neighbors(g, g->found, nfound, g->m,
												 true, g->lists[l]);
		if (l == 0 && g->counts[0] > 0)
			g->lists[0][0].dist = hnsw_edge_dist(g->lists[0][0].dist, true);
		if (nfound > 0)
		{
			memcpy(g->eps, g->found, sizeof(HnswEdge) * nfound);
			neps = nfound;
			skip = false;
		}
	}
	for (l = top + 1; l <= level; l++)
		g->counts[l] = 0;

	id = g->ops->place(g, vec, level, g->lists, g->counts, tid);

	for (l = top; l > 0; l--)
		for (i = 0; i < g->counts[l]; i++)
			(void) link_back(g, id, vec, g->lists[l][i], l, LINK_PLAIN);
	link_parent(g, id, vec, nfound0);
	if (level > entry_level)
		link_entry(g, id, vec, entry);
	return id;
}

/*
 * Level-0 neighbours of a new element that also has level 1: the heuristic
 * judges the level-0 finds together with the element's level-1 neighbours
 * (g->lists[1], distances to the new vector already known), so that the
 * list a scan's layer-0 search starts from keeps edges out of its cluster.
 *
 * Why: a scan descends greedily and starts layer 0 at an element of level
 * 1 or more.  If that element lies in the wrong cluster, the search can
 * leave it only through level-0 edges that reach other clusters, and the
 * finds of an insert into a dense cluster (ef_construction nearest) hold
 * none: a build gets such edges only from the elements inserted while
 * their cluster was still small, and churn replaces those elements.  Level-1
 * lists span clusters, so the heuristic keeps from them the nearest
 * element in each direction the level-0 finds do not cover.  Measured on
 * TAP 035's data (50,000 churn transactions on 6,000 rows in 50 clusters,
 * a VACUUM every 5,000), this and its VACUUM counterpart (gather_upper)
 * took the churned index's gap to a rebuild at ef 10 / 20 / 40 from
 * 0.05-0.06 / 0.02-0.04 / 0.01-0.03 to 0.01-0.02 / 0.001-0.009 /
 * 0-0.004 (src/README.md section 9).  An element of level 1 or more
 * is one in m on average, so inserts pay little: a few more candidates and
 * back-links for those.  Returns the number of edges in g->lists[0].
 */
static int
select_level0_upper(HnswGraph *g, int nfound)
{
	HnswEdge   *c = g->cands0;
	int			n = nfound;
	int			i;

	memcpy(c, g->found, sizeof(HnswEdge) * nfound);
	for (i = 0; i < g->counts[1]; i++)
	{
		HnswEdge	e = g->lists[1][i];

		if (list_contains(c, nfound, e.id))
			continue;
		e.dist = hnsw_edge_dist(e.dist, false);
		c[n++] = e;
	}
	if (n > nfound)
		qsort(c, n, sizeof(HnswEdge), edge_cmp);
	return hnsw_select_neighbors(g, c, n, g->m, true, g->lists[0]);
}

/*
 * Tree edges both ways between x and a new parent p (p.dist: x to p).
 * False if p's list is too full of protected edges to take x (with
 * LINK_FORCE: only if it holds nothing but protected edges).
 */
static bool
link_tree(HnswGraph *g, HnswId x, HnswEdge p, int mode)
{
	HnswEdge	up = {x, p.dist};

	if (!link_back(g, x, NULL, p, 0, mode)) /* p -> x */
		return false;
	(void) link_back(g, p.id, NULL, up, 0, mode);	/* x -> p */
	return true;
}

/*
 * For an UPDATE that kept the vector: a narrow search for an element with
 * exactly this vector, and the heap TID attached to it if it has room.
 * Much cheaper than an insertion; false means insert normally.
 */
bool
hnsw_attach_duplicate(HnswGraph *g, const float *vec, ItemPointer tid,
					  HnswId entry, int entry_level)
{
	bool		skip;
	HnswEdge	ep = hnsw_descend(g, vec, entry, entry_level, 0, &skip);
	int			n = hnsw_search_layer(g, vec, &ep, 1, skip, g->m, 0, g->found);

	return attach_duplicate(g, vec, tid, n);
}

static int
edge_cmp(const void *a, const void *b)
{
	float		da = ((const HnswEdge *) a)->dist;
	float		db = ((const HnswEdge *) b)->dist;

	return (da > db) - (da < db);
}

/* true if list[0..n) holds id */
static bool list_contains(const HnswEdge *list, int n, HnswId id);

/* scratch for repair and reconnection, (2m + 1)^2 candidates */
static void
alloc_repair_scratch(HnswGraph *g)
{
	int			maxcand = (2 * g->m + 1) * (2 * g->m + 1);
	int			i;

	if (g->cands != NULL)
		return;
	g->cands = MemoryContextAlloc(g->ctx, sizeof(HnswEdge) * maxcand);
	g->hop = MemoryContextAlloc(g->ctx, sizeof(HnswId) * maxcand);
	g->qvec = MemoryContextAlloc(g->ctx, sizeof(float) * g->dim);
	g->repair.old = MemoryContextAlloc(g->ctx, sizeof(HnswEdge) * 2 * g->m);
	g->repair.fresh = MemoryContextAlloc(g->ctx, sizeof(HnswEdge) * 2 * g->m);
	g->writes = MemoryContextAlloc(g->ctx, sizeof(HnswListWrite) * HNSW_WRITE_BATCH);
	for (i = 0; i < HNSW_WRITE_BATCH; i++)
	{
		g->writes[i].old = MemoryContextAlloc(g->ctx, sizeof(HnswEdge) * 4 * g->m);
		g->writes[i].fresh = g->writes[i].old + 2 * g->m;
	}
}

/*
 * HNSW_WRITE_BATCH list writes, each with room for 2m old and 2m new edges,
 * for a caller to plan with hnsw_repair_plan and apply with
 * hnsw_repair_apply (hnsw_link_back_many uses them too, so not meanwhile).
 */
HnswListWrite *
hnsw_list_writes(HnswGraph *g)
{
	alloc_repair_scratch(g);
	return g->writes;
}

/* appends to g->hop the neighbours of r at level that are new candidates */
static int
gather_two_hop(HnswGraph *g, HnswId id, HnswId r, int level,
			   const HnswIdSet *removed, int ncand, int nhop)
{
	int			n = g->ops->neighbors(g, r, level, g->nbrs);
	int			i;
	int			j;

	for (i = 0; i < n; i++)
	{
		HnswId		x = g->nbrs[i].id;
		bool		seen = x == id || hnsw_idset_contains(removed, x) ||
			list_contains(g->cands, ncand, x);

		/* a filler is near a chosen edge of r's: the chosen ones suffice */
		if (g->fillers_marked && hnsw_edge_filler(g->nbrs[i]))
			continue;

		for (j = 0; j < nhop && !seen; j++)
			seen = g->hop[j] == x;
		if (!seen)
			g->hop[nhop++] = x;
	}
	return nhop;
}

/*
 * Appends to g->hop id's level-1 neighbours that are new candidates (id has
 * level 1 or more): a repaired level-0 list of an element that scans
 * start layer 0 from gets its edges out of the cluster back, as an insert
 * takes them (select_level0_upper).  Under churn the removed elements'
 * own lists rarely hold such edges any more, so two hops alone lose them.
 */
static int
gather_upper(HnswGraph *g, HnswId id, const HnswIdSet *removed, int ncand,
			 int nhop)
{
	int			n = g->ops->neighbors(g, id, 1, g->nbrs);
	int			i;
	int			j;

	for (i = 0; i < n; i++)
	{
		HnswId		x = g->nbrs[i].id;
		bool		seen = x == id || hnsw_idset_contains(removed, x) ||
			list_contains(g->cands, ncand, x);

		for (j = 0; j < nhop && !seen; j++)
			seen = g->hop[j] == x;
		if (!seen)
			g->hop[nhop++] = x;
	}
	return nhop;
}

/* adds the distances from id to the two-hop ids to the candidates */
static int
add_hop_candidates(HnswGraph *g, HnswId id, int nhop, int ncand)
{
	const float *v;
	int			i;
	int			n;

	if (nhop == 0)
		return ncand;
	v = g->ops->vector(g, id, g->qvec);
	if (v != g->qvec)
		memcpy(g->qvec, v, sizeof(float) * g->dim);
	for (i = 0; i < nhop; i += n)
	{
		int			k;

		n = Min(nhop - i, 2 * g->m);
		g->ops->distances(g, g->qvec, g->hop + i, n, g->batchdist,
						  g->batchflags);
		for (k = 0; k < n; k++)
		{
			if (g->batchflags[k] & HNSW_SKIP_RESULT)
				continue;
			g->cands[ncand].id = g->hop[i + k];
			g->cands[ncand++].dist = hnsw_edge_dist(g->batchdist[k], false);
		}
	}
	return ncand;
}

/*
 * After a repair's selection: the list's own surviving edges that the
 * heuristic did not choose stay, as fillers, nearest first, in the room
 * left.  Repairs add no new fillers (those would owe back-links and crowd
 * out later inserts), but a list does not shrink either.
 */
static void
keep_old_fillers(HnswGraph *g, HnswListWrite *w, const HnswIdSet *removed,
				 int cap)
{
	int			n = w->nnew;
	int			i;

	for (i = 0; i < w->nold && n < cap; i++)
	{
		HnswEdge	e = w->old[i];

		if (hnsw_idset_contains(removed, e.id) || list_contains(w->fresh, n, e.id))
			continue;
		if (!hnsw_edge_protected(e) && g->fillers_marked)
			e.dist = hnsw_edge_mark(e.dist, HNSW_EDGE_FILLER);
		w->fresh[n++] = e;
	}
	if (n == w->nnew)
		return;
	w->nnew = n;
	qsort(w->fresh, n, sizeof(HnswEdge), edge_cmp);
}

/*
 * Plans VACUUM's local repair of id's list at level (top: id's own level):
 * the edges to removed elements go, and the list is refilled from the
 * removed elements' own neighbours (two hops) and, for the level-0 list of
 * an element of level 1 or more, from its level-1 list (gather_upper),
 * chosen with the selection heuristic -- no search from the entry point.
 * w->old and w->fresh need room for 2m edges.  Returns false when the list
 * has no edge to a removed element.
 */
bool
hnsw_repair_plan(HnswGraph *g, HnswId id, int level, int top,
				 const HnswIdSet *removed, HnswListWrite *w)
{
	int			cap = HNSW_LIST_CAP(g->m, level);
	int			ncand = 0;
	int			nhop = 0;
	int			i;

	alloc_repair_scratch(g);
	plan_start(g, w, id, level);
	w->top = top;
	for (i = 0; i < w->nold; i++)
	{
		if (!hnsw_idset_contains(removed, w->old[i].id))
			g->cands[ncand++] = w->old[i];
		else
			w->lost_tree |= hnsw_edge_protected(w->old[i]);
	}
	if (ncand == w->nold)
		return false;
	for (i = 0; i < w->nold; i++)
		if (hnsw_idset_contains(removed, w->old[i].id))
			nhop = gather_two_hop(g, id, w->old[i].id, level, removed,
								  ncand, nhop);
	if (level == 0 && top >= 1)
		nhop = gather_upper(g, id, removed, ncand, nhop);
	ncand = add_hop_candidates(g, id, nhop, ncand);
	qsort(g->cands, ncand, sizeof(HnswEdge), edge_cmp);
	(void) plan_select(g, w, g->cands, ncand, cap, false);
	keep_old_fillers(g, w, removed, cap);
	return true;
}

/*
 * After a repair's list is written: like an insertion, each new neighbour
 * gets the edge back (the edges a deleted element held into this
 * neighbourhood are gone; without this, elements would only ever lose ways
 * in) -- at once, or queued in q for hnsw_link_back_many.  A tree edge
 * that went with a removed element is replaced: the nearest remaining
 * neighbour becomes a new parent, with tree edges both ways.
 */
static bool staying(void *arg, HnswId id);

static void
repair_written(HnswGraph *g, const HnswListWrite *w, HnswBackLinks *q,
			   const HnswIdSet *removed)
{
	int			i;

	for (i = 0; i < w->nnew; i++)
	{
		HnswEdge	e = w->fresh[i];

		if (list_contains(w->old, w->nold, e.id))
			continue;
		if (q == NULL)
		{
			(void) link_back(g, w->id, NULL, e, w->level, LINK_PLAIN);
			continue;
		}
		if (q->count == q->capacity)
		{
			q->capacity = Max(q->capacity * 2, 1024);
			q->items = q->items ?
				repalloc_huge(q->items, sizeof(HnswBackLink) * q->capacity) :
				MemoryContextAllocHuge(g->ctx, sizeof(HnswBackLink) * q->capacity);
		}
		q->items[q->count].target = e.id;
		q->items[q->count].from = w->id;
		q->items[q->count].dist = hnsw_edge_dist(e.dist, false);
		q->items[q->count++].level = w->level;
	}
	if (w->lost_tree && w->level == 0 && w->nnew > 0)
	{
		for (i = 0; i < w->nnew; i++)
			if (link_tree(g, w->id, w->fresh[i], LINK_TREE))
				break;
		if (i == w->nnew &&
			!link_tree_walk(g, w->id, g->ops->vector(g, w->id, g->qvec),
							w->fresh, w->nnew, staying, (void *) removed))
			(void) link_tree(g, w->id, w->fresh[0], LINK_FORCE);
	}
}

/* writes w[0..n), through replace_many where the storage has it */
static void
write_lists(HnswGraph *g, HnswListWrite *w, int n)
{
	int			i;

	if (g->ops->replace_many != NULL)
	{
		g->ops->replace_many(g, w, n);
		return;
	}
	for (i = 0; i < n; i++)
		w[i].done = g->ops->replace_neighbors(g, w[i].id, w[i].level,
											  w[i].old, w[i].nold,
											  w[i].fresh, w[i].nnew);
}

/* a walk's parent in a VACUUM repair must not be one it removes */
static bool
staying(void *arg, HnswId id)
{
	return !hnsw_idset_contains((const HnswIdSet *) arg, id);
}

/*
 * Repairs one list at once (retrying when an insert changed it meanwhile),
 * its back-links included.
 */
void
hnsw_repair(HnswGraph *g, HnswId id, int level, int top,
			const HnswIdSet *removed)
{
	HnswListWrite *w = &g->repair;

	for (;;)
	{
		if (!hnsw_repair_plan(g, id, level, top, removed, w))
			return;
		write_lists(g, w, 1);
		if (w->done)
			break;
	}
	repair_written(g, w, NULL, removed);
}

/*
 * Writes the planned repairs w[0..n) (sorted by id; one page's, so one WAL
 * record) and queues their back-links in q; a list an insert changed
 * meanwhile is repaired again on its own.
 */
void
hnsw_repair_apply(HnswGraph *g, HnswListWrite *w, int n,
				  const HnswIdSet *removed, HnswBackLinks *q)
{
	int			i;

	write_lists(g, w, n);
	for (i = 0; i < n; i++)
	{
		if (w[i].done)
			repair_written(g, &w[i], q, removed);
		else
			hnsw_repair(g, w[i].id, w[i].level, w[i].top, removed);
	}
}

static int
backlink_cmp(const void *a, const void *b)
{
	const HnswBackLink *x = a;
	const HnswBackLink *y = b;

	if (x->target != y->target)
		return x->target < y->target ? -1 : 1;
	if (x->level != y->level)
		return x->level - y->level;
	return (x->dist > y->dist) - (x->dist < y->dist);
}

/*
 * Plans the list of q[first..last) (one target and level): its edges plus
 * the queued ones.  A list with room takes them all (unsure, unjudged); one
 * that overflows is pruned with the heuristic and filled back to capacity
 * with the nearest pruned edges, as an insertion's back-link does
 * (plan_added).  Without the filling, a full list that took one edge from a
 * repair kept only its chosen edges: after deleting 10% of a fresh build
 * (10,000 clustered rows, m = 16), the 1,172 overflowing lists went from
 * 29 edges to 11, and some to 1-6, which churn compounds with every
 * VACUUM.  False if nothing changes.
 */
static bool
plan_back_links(HnswGraph *g, const HnswBackLink *q, int64 first, int64 last,
				HnswListWrite *w)
{
	int			level = q[first].level;
	int			cap = HNSW_LIST_CAP(g->m, level);
	int			maxcand = (2 * g->m + 1) * (2 * g->m + 1);
	int			n;
	int64		i;

	plan_start(g, w, q[first].target, level);
	w->first = first;
	w->last = last;
	memcpy(g->cands, w->old, sizeof(HnswEdge) * w->nold);
	n = w->nold;
	for (i = first; i < last && n < maxcand; i++)
	{
		if (list_contains(g->cands, n, q[i].from))
			continue;
		g->cands[n].id = q[i].from;
		g->cands[n++].dist = q[i].dist;
	}
	if (n == w->nold)
		return false;
	qsort(g->cands, n, sizeof(HnswEdge), edge_cmp);
	return plan_select(g, w, g->cands, n, cap, n > cap);
}

/* writes the planned back-links; a list changed meanwhile, edge by edge */
static void
apply_back_links(HnswGraph *g, const HnswBackLink *q, HnswListWrite *w, int n)
{
	int			i;
	int64		k;

	write_lists(g, w, n);
	for (i = 0; i < n; i++)
	{
		if (w[i].done)
			continue;
		for (k = w[i].first; k < w[i].last; k++)
		{
			HnswEdge	e = {q[k].target, q[k].dist};

			/* the edge (target -> from): target's list takes from */
			(void) link_back(g, q[k].from, NULL, e, q[k].level, LINK_PLAIN);
		}
	}
}

/*
 * Adds the queued back-links, target by target: each target's list takes
 * all its new edges at once, and a page's lists are written together.
 */
void
hnsw_link_back_many(HnswGraph *g, HnswBackLinks *q)
{
	HnswListWrite *w = hnsw_list_writes(g);
	int			nw = 0;
	int64		i = 0;

	qsort(q->items, q->count, sizeof(HnswBackLink), backlink_cmp);
	while (i < q->count)
	{
		int64		j = i + 1;

		while (j < q->count && q->items[j].target == q->items[i].target &&
			   q->items[j].level == q->items[i].level)
			j++;
		CHECK_FOR_INTERRUPTS();
		if (plan_back_links(g, q->items, i, j, &w[nw]))
			nw++;
		i = j;
		/* sorted by target, a batch's writes to one page go together */
		if (nw == HNSW_WRITE_BATCH || (nw > 0 && i == q->count))
		{
			apply_back_links(g, q->items, w, nw);
			nw = 0;
		}
	}
	q->count = 0;
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

/* position of id in the sorted ids[0..n), or -1 */
static inline int64
id_index(const HnswId *ids, int64 n, HnswId id)
{
	return hnsw_find_id(ids, n, sizeof(HnswId), id);
}

/*
 * Marks everything reachable at layer 0 from ids[start] through protected
 * (tree) edges only.  Only those stay reachable: an ordinary edge can be
 * pruned by any later insert's back-link, and an element that some
 * ordinary edge still reaches, but no chain of tree edges from the entry,
 * is lost as soon as that edge is (after a VACUUM, the children of a
 * removed element re-parented among their own subtree were reached only
 * so, and the next inserts cut them off).
 */
static void
mark_reachable(HnswGraph *g, const HnswId *ids, const bool *gone, int64 n,
			   int64 start, bool *reach, int64 *queue)
{
	int64		head = 0;
	int64		tail = 0;

	if (reach[start])
		return;
	reach[start] = true;
	queue[tail++] = start;
	while (head < tail)
	{
		int			k = g->ops->neighbors(g, ids[queue[head++]], 0, g->nbrs);
		int			i;

		for (i = 0; i < k; i++)
		{
			int64		t;

			if (!hnsw_edge_protected(g->nbrs[i]))
				continue;
			t = id_index(ids, n, g->nbrs[i].id);
			if (t >= 0 && !gone[t] && !reach[t])
			{
				reach[t] = true;
				queue[tail++] = t;
			}
		}
	}
}

/*
 * Makes every element of ids (sorted; gone[] ones excluded) reachable at
 * layer 0 from entry through tree edges (mark_reachable).  An element
 * without a parent (every candidate full of tree edges), or cut off by
 * VACUUM (its parent removed and a re-parenting that chose one of its own
 * descendants), gets tree edges from its nearest tree-reached neighbour
 * (or the entry point).  Run at the end of a build and by VACUUM, so
 * that after either every element is reached by tree edges; inserts keep
 * it so (a new element's parent is an element its search reached).
 * Returns the number of elements linked.
 */
static int64 reconnect_round(HnswGraph *g, const HnswId *ids, const bool *gone,
							 int64 n, HnswId entry);

int64
hnsw_reconnect(HnswGraph *g, const HnswId *ids, const bool *gone, int64 n,
			   HnswId entry)
{
	int64		total = 0;
	int			round;

	/* an edge given up for one element can, rarely, strand another */
	for (round = 0; round < 8; round++)
	{
		int64		added = reconnect_round(g, ids, gone, n, entry);

		total += added;
		if (added == 0)
			break;
	}
	return total;
}

/* a walk's parent for an unreached element must be reached and staying */
typedef struct ReachOk
{
	const HnswId *ids;
	const bool *gone;
	const bool *reach;
	int64		n;
} ReachOk;

static bool
reach_ok(void *arg, HnswId id)
{
	ReachOk    *r = arg;
	int64		t = id_index(r->ids, r->n, id);

	return t >= 0 && r->reach[t] && !r->gone[t];
}

static int64
reconnect_round(HnswGraph *g, const HnswId *ids, const bool *gone, int64 n,
				HnswId entry)
{
	int64		start = id_index(ids, n, entry);
	bool	   *reach;
	int64	   *queue;
	int64		added = 0;
	int64		i;

	if (start < 0)
		return 0;
	reach = palloc0(sizeof(bool) * Max(n, 1));
	queue = palloc(sizeof(int64) * Max(n, 1));
	alloc_repair_scratch(g);
	mark_reachable(g, ids, gone, n, start, reach, queue);
	for (i = 0; i < n; i++)
	{
		HnswEdge	p;
		bool		linked = false;
		int			mode;
		int			k;
		int			e;

		if (gone[i] || reach[i])
			continue;
		CHECK_FOR_INTERRUPTS();
		/*
		 * The nearest reachable neighbour that takes it, else the entry; if
		 * all their tree edges are taken, the nearest takes one more.
		 */
		k = g->ops->neighbors(g, ids[i], 0, g->nbrs);
		memcpy(g->cands, g->nbrs, sizeof(HnswEdge) * k);
		for (mode = LINK_TREE; mode <= LINK_FORCE && !linked; mode++)
		{
			int			nstart = 0;

			for (e = 0; e < k && !linked; e++)
			{
				int64		t = id_index(ids, n, g->cands[e].id);

				if (t >= 0 && reach[t] && !gone[t])
				{
					g->cands[nstart++] = g->cands[e];
					linked = link_tree(g, ids[i], g->cands[e], mode);
				}
			}
			/* all full of tree edges: below them in the tree, or the entry's */
			if (!linked && mode == LINK_TREE)
			{
				ReachOk		r = {ids, gone, reach, n};

				g->cands[nstart].id = entry;
				linked = link_tree_walk(g, ids[i],
										g->ops->vector(g, ids[i], g->qvec),
										g->cands, nstart + 1, reach_ok, &r);
			}
			k = nstart;
		}
		if (!linked)
		{
			uint8		flags;

			p.id = entry;
			g->ops->distances(g, g->ops->vector(g, entry, g->qvec), &ids[i], 1,
							  &p.dist, &flags);
			linked = link_tree(g, ids[i], p, LINK_FORCE);
		}
		if (!linked)
			continue;
		added++;
		mark_reachable(g, ids, gone, n, i, reach, queue);
	}
	pfree(reach);
	pfree(queue);
	return added;
}

/* ---------------------------------------------------------------------
 * Streaming search, for scans that return results a few at a time
 * ---------------------------------------------------------------------
 */

/* begin a level-0 streaming search at start (from hnsw_descend) */
void
hnsw_stream_begin(HnswGraph *g, HnswSearch *s, const float *q, HnswEdge start,
				  bool skip)
{
	/* a scan visits a few thousand elements: no growing on the way */
	search_init(s, 64, 4096);
	search_start(s, q, 0, true, &start, 1, skip);
	s->top.count = 0;
}

/*
 * Runs one more round: the ef nearest results not yet taken become the
 * beam, and the search expands until no candidate can improve on it.
 * With strict, results nearer than one already taken are dropped, so that
 * the stream stays in order.
 */
void
hnsw_stream_expand(HnswGraph *g, HnswSearch *s, int ef, bool strict)
{
	HnswEdge   *best = palloc(sizeof(HnswEdge) * ef);
	int			n = 0;
	int			i;

	hnsw_stream_flush(s);
	while (n < ef && s->pending.count > 0)
		best[n++] = heap_pop(&s->pending);
	s->top.count = 0;
	for (i = 0; i < n; i++)
	{
		heap_push(&s->pending, best[i].id, best[i].dist);
		heap_push(&s->top, best[i].id, -best[i].dist);
	}
	pfree(best);
	search_run(g, s, ef, strict);
}

/*
 * Moves the finds deferred by earlier rounds into the heaps: before a new
 * round, and before the scan hands out everything found (draining).
 */
void
hnsw_stream_flush(HnswSearch *s)
{
	int			i;

	for (i = 0; i < s->later.count; i++)
	{
		HnswEdge	e = s->later.items[i];

		heap_push(&s->cand, e.id, e.dist);
		if (s->later_result[i])
			heap_push(&s->pending, e.id, e.dist);
	}
	s->later.count = 0;
	s->later_min = INFINITY;
}

/*
 * True when the nearest result not yet taken is farther than a find not
 * yet expanded: another round may find nearer results, which a strict
 * stream would have to drop once a farther one was handed out.  Among
 * thousands of identical vectors each round uncovers only part of them;
 * without this, a round would hand out farther rows before the rest.
 */
bool
hnsw_stream_behind(HnswSearch *s)
{
	float		frontier = s->later_min;

	if (s->pending.count == 0)
		return false;
	if (s->cand.count > 0 && s->cand.items[0].dist < frontier)
		frontier = s->cand.items[0].dist;
	return s->pending.items[0].dist > frontier;
}

/* take the nearest result not yet taken */
bool
hnsw_stream_next(HnswSearch *s, HnswEdge *out)
{
	if (s->pending.count == 0)
		return false;
	*out = heap_pop(&s->pending);
	if (out->dist > s->emitted_dist)
		s->emitted_dist = out->dist;
	return true;
}

/* the memory a streaming search holds: its heaps, deferred finds, id set */
double
hnsw_stream_bytes(const HnswSearch *s)
{
	return (double) (s->cand.capacity + s->top.capacity +
					 s->pending.capacity + s->later.capacity) * sizeof(HnswEdge) +
		(double) (s->visited.mask + 1) * sizeof(HnswId);
}

/*
 * Gives an exhausted stream the entry point id to expand, if the search has
 * not met it.  The search started where the greedy descent ended, and
 * layer-0 edges are not all both ways (a list full of tree edges takes its
 * parent's edge unprotected), so what it reaches from there can be a
 * subtree only, while the entry point reaches every element through tree
 * edges.  A scan whose bounds let it run out therefore continues from the
 * entry point before it ends.  strict: as in search_run.  True if there is
 * something to expand again.
 */
bool
hnsw_stream_reseed(HnswGraph *g, HnswSearch *s, HnswId id, bool strict)
{
	float		d;
	uint8		flags;

	if (id == HNSW_INVALID_ID || !hnsw_idset_add(&s->visited, id))
		return false;
	g->ops->distances(g, s->q, &id, 1, &d, &flags);
	heap_push(&s->cand, id, d);
	if (!(flags & HNSW_SKIP_RESULT) && !(strict && d < s->emitted_dist))
		heap_push(&s->pending, id, d);
	return true;
}

/* true once no unexpanded candidate remains: the reachable graph is done */
bool
hnsw_stream_exhausted(HnswSearch *s)
{
	return s->cand.count == 0 && s->later.count == 0;
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
