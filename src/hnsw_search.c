/*
 * hnsw_search.c
 *		Searching the graph: the candidate heaps, the layer search,
 *		the greedy descent, the neighbour-selection heuristic, and the
 *		streaming layer-0 search that scans take results from.
 *
 * See hnsw_graph.c for what the graph core is; hnsw_graph_int.h
 * declares what its files share.
 */
#include "postgres.h"

#include <math.h>

#include "hnsw_graph_int.h"
#include "miscadmin.h"
#include "utils/memutils.h"

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
 * Set-up
 * ---------------------------------------------------------------------
 */
void
hnsw_search_init(HnswSearch *s, int ef, uint32 visited)
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

/* ---------------------------------------------------------------------
 * Searching
 * ---------------------------------------------------------------------
 */

/*
 * The neighbours of id at level not in seen yet (added to it now), in
 * g->batch, with their distances from q in g->batchdist and flags in
 * g->batchflags; returns how many.  The layer searches and the greedy
 * descent both expand an element this way.
 */
static int
unseen_neighbors(HnswGraph *g, HnswIdSet *seen, const float *q, HnswId id,
				 int level)
{
	int			n = g->ops->neighbors(g, id, level, g->nbrs);
	int			k = 0;
	int			i;

	for (i = 0; i < n; i++)
	{
		if (hnsw_idset_add(seen, g->nbrs[i].id))
			g->batch[k++] = g->nbrs[i].id;
	}
	if (k > 0)
		g->ops->distances(g, q, g->batch, k, g->batchdist, g->batchflags);
	return k;
}

/* fetch id's unvisited neighbours at the search's level and their distances */
static int
fetch_unvisited(HnswGraph *g, HnswSearch *s, HnswId id)
{
	int			k = unseen_neighbors(g, &s->visited, s->q, id, s->level);

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
	hnsw_idset_clear(&s->visited);
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
 *
 * An element whose distance was taken once is not taken again: consecutive
 * elements on the path share neighbours, and an element stays in the
 * levels below its own.  About 30% of the descent's distances were such
 * repeats (scans of the bench's sets), and skipping them changes nothing:
 * the current element is always at least as near as every one seen.
 */
HnswEdge
hnsw_descend(HnswGraph *g, const float *q, HnswId entry, int from_level,
			 int to_level, bool *skip)
{
	HnswIdSet  *seen = &g->search.visited;
	HnswEdge	cur;
	uint8		flags;
	int			level;

	hnsw_idset_clear(seen);
	(void) hnsw_idset_add(seen, entry);
	cur.id = entry;
	g->ops->distances(g, q, &entry, 1, &cur.dist, &flags);
	*skip = (flags & HNSW_SKIP_RESULT) != 0;
	for (level = from_level; level > to_level; level--)
	{
		bool		changed = true;

		while (changed)
		{
			int			k = unseen_neighbors(g, seen, q, cur.id, level);
			int			i;

			changed = false;
			for (i = 0; i < k; i++)
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
	 * Every element found is dead (a scan set DEAD hints after a mass DELETE,
	 * and VACUUM has not run yet): an insert that linked to none of them
	 * would leave its element, and every later one, unreachable until VACUUM.
	 * The nearest dead one that VACUUM has not started to remove serves;
	 * VACUUM repairs around it like around any element it removes. The entry
	 * points count too: a dead entry point with no neighbours (a rolled-back
	 * first row) is all a search finds.
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
	hnsw_search_init(s, 64, 4096);
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
hnsw_stream_behind(const HnswSearch *s)
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
hnsw_stream_exhausted(const HnswSearch *s)
{
	return s->cand.count == 0 && s->later.count == 0;
}
