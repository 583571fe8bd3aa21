/*
 * hnsw_repair.c
 *		VACUUM's side of the graph: repairing the lists that lose
 *		edges to removed elements, the queue of edges back they owe, and
 *		the reconnect that keeps every element reachable through tree
 *		edges.
 *
 * See hnsw_graph.c for what the graph core is; hnsw_graph_int.h
 * declares what its files share.
 */
#include "postgres.h"

#include <math.h>

#include "hnsw_graph_int.h"
#include "miscadmin.h"
#include "utils/memutils.h"

/*
 * What repairs use besides the graph's shared scratch (HnswGraph.rs),
 * allocated the first time a graph repairs (alloc_repair_scratch): inserts
 * and scans never pay for it.
 */
typedef struct HnswRepairScratch
{
	float	   *qvec;			/* the vector of the element repaired */
	HnswEdge   *cands;			/* candidates, (2m + 1)^2 */
	HnswId	   *hop;			/* two-hop ids */
	HnswListWrite repair;		/* one list, written at once */
	HnswListWrite *writes;		/* HNSW_WRITE_BATCH planned writes */
} HnswRepairScratch;

/* room for a repair's candidates: a list's 2m edges and each one's list */
#define REPAIR_MAX_CANDS(m)	((2 * (m) + 1) * (2 * (m) + 1))

/* scratch for repair and reconnection, REPAIR_MAX_CANDS candidates */
static void
alloc_repair_scratch(HnswGraph *g)
{
	int			maxcand = REPAIR_MAX_CANDS(g->m);
	HnswRepairScratch *rs;
	int			i;

	if (g->rs != NULL)
		return;
	rs = MemoryContextAlloc(g->ctx, sizeof(HnswRepairScratch));
	rs->cands = MemoryContextAlloc(g->ctx, sizeof(HnswEdge) * maxcand);
	rs->hop = MemoryContextAlloc(g->ctx, sizeof(HnswId) * maxcand);
	rs->qvec = MemoryContextAlloc(g->ctx, sizeof(float) * g->dim);
	rs->repair.old = MemoryContextAlloc(g->ctx, sizeof(HnswEdge) * 2 * g->m);
	rs->repair.fresh = MemoryContextAlloc(g->ctx, sizeof(HnswEdge) * 2 * g->m);
	rs->writes = MemoryContextAlloc(g->ctx, sizeof(HnswListWrite) * HNSW_WRITE_BATCH);
	for (i = 0; i < HNSW_WRITE_BATCH; i++)
	{
		rs->writes[i].old = MemoryContextAlloc(g->ctx, sizeof(HnswEdge) * 4 * g->m);
		rs->writes[i].fresh = rs->writes[i].old + 2 * g->m;
	}
	g->rs = rs;
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
	return g->rs->writes;
}

/*
 * Appends to g->rs->hop the ids of g->nbrs[0..n) that are new candidates
 * for id's list: not id, not removed, not already a candidate or a hop;
 * with skip_fillers, not an edge marked filler either.
 */
static int
add_new_hops(HnswGraph *g, HnswId id, int n, bool skip_fillers,
			 const HnswIdSet *removed, int ncand, int nhop)
{
	int			i;
	int			j;

	for (i = 0; i < n; i++)
	{
		HnswId		x = g->nbrs[i].id;
		bool		seen = (x == id || hnsw_idset_contains(removed, x) ||
							hnsw_list_contains(g->rs->cands, ncand, x));

		if (skip_fillers && hnsw_edge_filler(g->nbrs[i]))
			continue;
		for (j = 0; j < nhop && !seen; j++)
			seen = g->rs->hop[j] == x;
		if (!seen)
			g->rs->hop[nhop++] = x;
	}
	return nhop;
}

/*
 * Appends the neighbours of r (a removed neighbour of id) at level that
 * are new candidates.  A filler is near a chosen edge of r's: the chosen
 * ones suffice.
 */
static int
gather_two_hop(HnswGraph *g, HnswId id, HnswId r, int level,
			   const HnswIdSet *removed, int ncand, int nhop)
{
	int			n = g->ops->neighbors(g, r, level, g->nbrs);

	return add_new_hops(g, id, n, g->fillers_marked, removed, ncand, nhop);
}

/*
 * Appends id's level-1 neighbours that are new candidates (id has level 1
 * or more): a repaired level-0 list of an element that scans start layer
 * 0 from gets its edges out of the cluster back, as an insert takes them
 * (select_level0_upper).  Under churn the removed elements' own lists
 * rarely hold such edges any more, so two hops alone lose them.
 */
static int
gather_upper(HnswGraph *g, HnswId id, const HnswIdSet *removed, int ncand,
			 int nhop)
{
	int			n = g->ops->neighbors(g, id, 1, g->nbrs);

	return add_new_hops(g, id, n, false, removed, ncand, nhop);
}

/* loads the vector of id, the list being repaired, into g->rs->qvec */
static void
load_repair_vector(HnswGraph *g, HnswId id)
{
	const float *v = g->ops->vector(g, id, g->rs->qvec);

	if (v != g->rs->qvec)
		memcpy(g->rs->qvec, v, sizeof(float) * g->dim);
}

/* adds the distances from g->rs->qvec to the two-hop ids to the candidates */
static int
add_hop_candidates(HnswGraph *g, int nhop, int ncand)
{
	int			i;
	int			n;

	for (i = 0; i < nhop; i += n)
	{
		int			k;

		n = Min(nhop - i, 2 * g->m);
		g->ops->distances(g, g->rs->qvec, g->rs->hop + i, n, g->batchdist,
						  g->batchflags);
		for (k = 0; k < n; k++)
		{
			if (g->batchflags[k] & HNSW_SKIP_RESULT)
				continue;
			g->rs->cands[ncand].id = g->rs->hop[i + k];
			g->rs->cands[ncand++].dist = hnsw_edge_dist(g->batchdist[k], false);
		}
	}
	return ncand;
}

/*
 * Adds to the candidates of id's list at level (1 or more) what a search of
 * that level for id's vector (g->rs->qvec) finds from the list's surviving
 * candidates, beam width ef_construction, as an insert's search at that
 * level would.  Two hops
 * alone lose the long edges the upper levels are for; the levels above 0
 * hold one element in m, so the searches cost VACUUM little.
 */
static int
add_search_candidates(HnswGraph *g, HnswId id, int level,
					  const HnswIdSet *removed, int ncand)
{
	int			maxcand = REPAIR_MAX_CANDS(g->m);
	int			neps = Min(ncand, g->ef_construction);
	int			nfound;
	int			i;

	if (neps == 0)
		return ncand;
	for (i = 0; i < neps; i++)
	{
		g->eps[i].id = g->rs->cands[i].id;
		g->eps[i].dist = hnsw_edge_dist(g->rs->cands[i].dist, false);
	}
	nfound = hnsw_search_layer(g, g->rs->qvec, g->eps, neps, false,
							   g->ef_construction, level, g->found);
	for (i = 0; i < nfound && ncand < maxcand; i++)
	{
		HnswEdge	e = g->found[i];

		if (e.id == id || hnsw_idset_contains(removed, e.id) ||
			hnsw_list_contains(g->rs->cands, ncand, e.id))
			continue;
		e.dist = hnsw_edge_dist(e.dist, false);
		g->rs->cands[ncand++] = e;
	}
	return ncand;
}

/*
 * After a repair's selection, the room left in the list up to what it held
 * before: first the list's own surviving edges that the heuristic did not
 * choose, as fillers, nearest first (up to the list's capacity), then the
 * nearest remaining candidates (g->rs->cands, sorted) until the list holds
 * as many edges as it had.  Without the second part a list keeps only the
 * heuristic's choice of what is lost and thins with every VACUUM: after
 * four VACUUMs that each removed a fifth of 20,000 clustered rows, 15.2
 * edges per element against a rebuild's 26.1, and recall at ef_search 10
 * 0.025 below the rebuild's (TAP 037).
 *
 * The candidates added are marked unsure, as a back-link joining a list
 * with room is: the first edge that overflows the list has the heuristic
 * judge them all (plan_added), so a later insert's back-link competes with
 * them as it would in a fresh build, not against fillers it can never
 * displace (marked fillers, these lists pushed new elements out under
 * churn: TAP 035 lost 0.016-0.029 at ef_search 10, in one run 0.021 at
 * 20).  They owe no edges back (repair_written): density within a
 * neighbourhood, not a way into it.  Format 1 lists have no marks and take
 * none of them.
 */
static void
fill_room(HnswGraph *g, HnswListWrite *w, const HnswIdSet *removed, int cap,
		  int ncand)
{
	int			n = w->nnew;
	int			i;

	for (i = 0; i < w->nold && n < cap; i++)
	{
		HnswEdge	e = w->old[i];

		if (hnsw_idset_contains(removed, e.id) || hnsw_list_contains(w->fresh, n, e.id))
			continue;
		if (!hnsw_edge_protected(e) && g->fillers_marked)
			e.dist = hnsw_edge_mark(e.dist, HNSW_EDGE_FILLER);
		w->fresh[n++] = e;
	}
	for (i = 0; i < ncand && n < w->nold && g->fillers_marked; i++)
	{
		HnswEdge	e = g->rs->cands[i];

		if (hnsw_list_contains(w->fresh, n, e.id))
			continue;
		e.dist = hnsw_edge_mark(hnsw_edge_dist(e.dist, false), HNSW_EDGE_UNSURE);
		w->fresh[n++] = e;
	}
	if (n == w->nnew)
		return;
	w->nnew = n;
	hnsw_sort_edges(w->fresh, n);
}

/*
 * Plans VACUUM's local repair of id's list at level (top: id's own level):
 * the edges to removed elements go, and the list is refilled from the
 * removed elements' own neighbours (two hops), for the level-0 list of an
 * element of level 1 or more from its level-1 list (gather_upper), and at
 * levels above 0 from a search of that level around the list
 * (add_search_candidates), chosen with the selection heuristic and then
 * filled back to the edges it had (fill_room).  Level 0 has no
 * search: one per list would cost VACUUM about a build.  w->old and
 * w->fresh need room for 2m edges.  Returns false when the list has no
 * edge to a removed element.
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
	hnsw_plan_start(g, w, id, level);
	w->top = top;
	for (i = 0; i < w->nold; i++)
	{
		if (!hnsw_idset_contains(removed, w->old[i].id))
			g->rs->cands[ncand++] = w->old[i];
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
	if (nhop > 0 || level >= 1)
		load_repair_vector(g, id);
	ncand = add_hop_candidates(g, nhop, ncand);
	if (level >= 1)
		ncand = add_search_candidates(g, id, level, removed, ncand);
	hnsw_sort_edges(g->rs->cands, ncand);
	(void) hnsw_plan_select(g, w, g->rs->cands, ncand, cap, false);
	fill_room(g, w, removed, cap, ncand);
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

		/* kept, or added by fill_room: nothing owed */
		if (hnsw_list_contains(w->old, w->nold, e.id) ||
			(g->fillers_marked && hnsw_edge_unsure(e)))
			continue;
		if (q == NULL)
		{
			(void) hnsw_link_back(g, w->id, NULL, e, w->level, LINK_PLAIN);
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
			if (hnsw_link_tree(g, w->id, w->fresh[i], LINK_TREE))
				break;
		if (i == w->nnew &&
			!hnsw_link_tree_walk(g, w->id, g->ops->vector(g, w->id, g->rs->qvec),
								 w->fresh, w->nnew, staying, (void *) removed))
			(void) hnsw_link_tree(g, w->id, w->fresh[0], LINK_FORCE);
	}
}

/* writes w[0..n), through replace_many where the storage has it */
void
hnsw_write_planned_lists(HnswGraph *g, HnswListWrite *w, int n)
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
	HnswListWrite *w = &g->rs->repair;

	for (;;)
	{
		if (!hnsw_repair_plan(g, id, level, top, removed, w))
			return;
		hnsw_write_planned_lists(g, w, 1);
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

	hnsw_write_planned_lists(g, w, n);
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
	int			maxcand = REPAIR_MAX_CANDS(g->m);
	int			n;
	int64		i;

	hnsw_plan_start(g, w, q[first].target, level);
	w->first = first;
	w->last = last;
	memcpy(g->rs->cands, w->old, sizeof(HnswEdge) * w->nold);
	n = w->nold;
	for (i = first; i < last && n < maxcand; i++)
	{
		if (hnsw_list_contains(g->rs->cands, n, q[i].from))
			continue;
		g->rs->cands[n].id = q[i].from;
		g->rs->cands[n++].dist = q[i].dist;
	}
	if (n == w->nold)
		return false;
	hnsw_sort_edges(g->rs->cands, n);
	return hnsw_plan_select(g, w, g->rs->cands, n, cap, n > cap);
}

/* writes the planned back-links; a list changed meanwhile, edge by edge */
static void
apply_back_links(HnswGraph *g, const HnswBackLink *q, HnswListWrite *w, int n)
{
	int			i;
	int64		k;

	hnsw_write_planned_lists(g, w, n);
	for (i = 0; i < n; i++)
	{
		if (w[i].done)
			continue;
		for (k = w[i].first; k < w[i].last; k++)
		{
			HnswEdge	e = {q[k].target, q[k].dist};

			/* the edge (target -> from): target's list takes from */
			(void) hnsw_link_back(g, q[k].from, NULL, e, q[k].level, LINK_PLAIN);
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

/* position of id in the sorted ids[0..n), or -1 */
static inline int64
id_index(const HnswId *ids, int64 n, HnswId id)
{
	return hnsw_find_id(ids, n, sizeof(HnswId), id);
}

/*
 * A reconnect counts as reached only what layer 0's protected (tree) edges
 * reach (hnsw_walk_from with tree_only): an ordinary edge can be pruned by
 * any later insert's back-link, and an element that some ordinary edge
 * still reaches, but no chain of tree edges from the entry, is lost as
 * soon as that edge is (after a VACUUM, the children of a removed element
 * re-parented among their own subtree were reached only so, and the next
 * inserts cut them off).  The walk numbers elements by their index in ids
 * and does not enter gone ones.
 */
typedef struct ReachIds
{
	const HnswId *ids;
	const bool *gone;
	int64		n;
} ReachIds;

static int64
reach_index(void *arg, HnswId from, HnswId to)
{
	ReachIds   *r = arg;
	int64		t = id_index(r->ids, r->n, to);

	return t >= 0 && !r->gone[t] ? t : -1;
}

/*
 * Makes every element of ids (sorted; gone[] ones excluded) reachable at
 * layer 0 from entry through tree edges (reach_index's walk).  An element
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

/* how many elements outside ids walk_from_outside passes through */
#define OUTSIDE_BUDGET	64

/*
 * Starts the walk where the entry point is not one of ids: an insert made
 * a new element the entry while VACUUM ran, after VACUUM had collected the
 * elements it reconnects.  A new entry takes a tree edge to the old one
 * (link_entry), so the tree edges out of the entry, followed through
 * elements outside ids (a few, each a later entry), lead to the elements
 * VACUUM knows; the walk starts from each it reaches.  Returns whether it
 * reached any.
 */
static bool
walk_from_outside(HnswWalk *walk, HnswGraph *g, HnswId entry,
				  const ReachIds *r)
{
	HnswId		queue[OUTSIDE_BUDGET];
	int			head = 0;
	int			tail = 0;
	bool		any = false;

	queue[tail++] = entry;
	while (head < tail)
	{
		int			k = g->ops->neighbors(g, queue[head++], 0, g->nbrs);

		for (int e = 0; e < k; e++)
		{
			HnswId		to = g->nbrs[e].id;
			int64		t;

			if (!hnsw_edge_protected(g->nbrs[e]))
				continue;
			t = id_index(r->ids, r->n, to);
			if (t >= 0 && !r->gone[t])
			{
				hnsw_walk_from(walk, to, t);
				any = true;
			}
			else if (t < 0 && tail < OUTSIDE_BUDGET)
			{
				bool		queued = false;

				for (int q = 0; q < tail && !queued; q++)
					queued = queue[q] == to;
				if (!queued)
					queue[tail++] = to;
			}
		}
	}
	return any;
}

static int64
reconnect_round(HnswGraph *g, const HnswId *ids, const bool *gone, int64 n,
				HnswId entry)
{
	int64		start = id_index(ids, n, entry);
	ReachIds	numbering = {ids, gone, n};
	HnswWalk	walk;
	bool	   *reach;
	int64		added = 0;
	int64		i;

	hnsw_walk_init(&walk, g, n, true, reach_index, &numbering);
	reach = walk.seen;
	alloc_repair_scratch(g);
	if (start >= 0)
		hnsw_walk_from(&walk, entry, start);
	else if (!walk_from_outside(&walk, g, entry, &numbering))
	{
		pfree(walk.order);
		hnsw_walk_end(&walk);
		return 0;
	}
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
		memcpy(g->rs->cands, g->nbrs, sizeof(HnswEdge) * k);
		for (mode = LINK_TREE; mode <= LINK_FORCE && !linked; mode++)
		{
			int			nstart = 0;

			for (e = 0; e < k && !linked; e++)
			{
				int64		t = id_index(ids, n, g->rs->cands[e].id);

				if (t >= 0 && reach[t] && !gone[t])
				{
					g->rs->cands[nstart++] = g->rs->cands[e];
					linked = hnsw_link_tree(g, ids[i], g->rs->cands[e], mode);
				}
			}
			/* all full of tree edges: below them in the tree, or the entry's */
			if (!linked && mode == LINK_TREE)
			{
				ReachOk		r = {ids, gone, reach, n};

				g->rs->cands[nstart].id = entry;
				linked = hnsw_link_tree_walk(g, ids[i],
											 g->ops->vector(g, ids[i], g->rs->qvec),
											 g->rs->cands, nstart + 1, reach_ok, &r);
			}
			k = nstart;
		}
		if (!linked)
		{
			uint8		flags;

			p.id = entry;
			g->ops->distances(g, g->ops->vector(g, entry, g->rs->qvec), &ids[i], 1,
							  &p.dist, &flags);
			linked = hnsw_link_tree(g, ids[i], p, LINK_FORCE);
		}
		if (!linked)
			continue;
		added++;
		hnsw_walk_from(&walk, ids[i], i);
	}
	pfree(walk.order);
	hnsw_walk_end(&walk);
	return added;
}
