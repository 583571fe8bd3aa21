/*
 * hnsw_link.c
 *		Inserting into the graph: a new element's lists, the edges
 *		back to it, tree edges (a parent for every element), the entry
 *		point's link, and rows attached to an identical element.
 *
 * See hnsw_graph.c for what the graph core is; hnsw_graph_int.h
 * declares what its files share.
 */
#include "postgres.h"

#include <math.h>

#include "hnsw_graph_int.h"
#include "miscadmin.h"
#include "utils/memutils.h"

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
bool
hnsw_list_contains(const HnswEdge *list, int n, HnswId id)
{
	int			i;

	for (i = 0; i < n; i++)
		if (list[i].id == id)
			return true;
	return false;
}

/* starts planning a write of id's list at level: reads the list into w */
void
hnsw_plan_start(HnswGraph *g, HnswListWrite *w, HnswId id, int level)
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
bool
hnsw_plan_select(HnswGraph *g, HnswListWrite *w, const HnswEdge *cands, int n,
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
				return hnsw_plan_select(g, w, merged, n, cap, true);
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

	hnsw_plan_start(g, w, nb.id, level);
	tree = protect == LINK_FORCE ||
		(protect && count_protected(w->old, w->nold, id) < HNSW_TREE_EDGES(g->m));
	/* even by force, a tree edge never displaces another one */
	if (tree && count_protected(w->old, w->nold, id) >= cap)
	{
		*holds = false;
		return false;
	}
	had = hnsw_list_contains(w->old, w->nold, id);
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
		changed = hnsw_plan_select(g, w, g->merged, j, cap, true);
	*holds = hnsw_list_contains(w->fresh, w->nnew, id) && tree == (protect != LINK_PLAIN);
	return changed;
}

/*
 * Adds the edge (nb -> id) at level (see plan_link_back), retrying when
 * the storage reports a concurrent change.  Returns whether nb's list
 * holds the edge, and protected if asked.
 */
bool
hnsw_link_back(HnswGraph *g, HnswId id, const float *vec, HnswEdge nb, int level,
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
		hnsw_write_planned_lists(g, &w, 1);
		if (w.done)
			return holds;
	}
}

/*
 * An identical vector already in the graph takes the heap TID instead of a
 * new element.  Identical vectors are at the vector's distance to itself as
 * stored (0 for L2 and L1, 1 - |v|^2 for inner product; under a code, to
 * its code), computed by the storage as it computes every distance to an
 * element, so comparing distances finds them.  The comparison leaves out
 * the mark bits (a distance carried down from an upper layer had them
 * cleared); the storage compares the vectors (or codes) themselves before
 * attaching.
 */
static bool
attach_duplicate(HnswGraph *g, const float *vec, ItemPointer tid, int nfound)
{
	float		self = g->ops->self_distance ?
	g->ops->self_distance(g, vec) : g->dist(vec, vec, g->dim);
	int			i;

	self = hnsw_edge_mark(self, 0);
	for (i = 0; i < nfound && hnsw_edge_mark(g->found[i].dist, 0) <= self; i++)
	{
		if (hnsw_edge_mark(g->found[i].dist, 0) == self &&
			g->ops->add_heaptid(g, g->found[i].id, vec, tid))
			return true;
	}
	return false;
}

/* how many lists a walk through the tree reads at most */
#define WALK_BUDGET 1024

/* a uniform random integer in [0, n), from the generator state *state */
static int
random_below(uint64 *state, int n)
{
	return Min((int) (hnsw_next_unit(state) * n), n - 1);
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
 * taken for a parent.  The walk passes through elements VACUUM is
 * removing (their edges stand until its pass 4) but never takes one for a
 * parent: an insert during VACUUM's pass 2 did, among thousands of copies
 * of one vector, and pass 4 freed the slot under the new protected edge
 * ("edge at level 0 to freed slot").
 */
bool
hnsw_link_tree_walk(HnswGraph *g, HnswId x, const float *vec,
					const HnswEdge *starts, int n,
					bool (*ok) (void *arg, HnswId id), void *arg)
{
	HnswId	   *stack = palloc(sizeof(HnswId) * WALK_BUDGET);
	HnswEdge   *list = palloc(sizeof(HnswEdge) * (2 * g->m + 1));
	HnswIdSet	seen;
	int			depth = 0;
	int			reads;
	bool		linked = false;
	uint64		rng = hnsw_mix64(x);	/* the same walk for the same graph */

	hnsw_idset_init(&seen, 2 * WALK_BUDGET);
	(void) hnsw_idset_add(&seen, x);
	if (n > 0)
		stack[depth++] = starts[random_below(&rng, n)].id;
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
			uint8		flags = 0;

			g->ops->distances(g, vec, &y, 1, &p.dist, &flags);
			/* not an element VACUUM is removing (src/README.md 5.3) */
			if (!(flags & HNSW_SKIP_LINK))
				linked = hnsw_link_tree(g, x, p, LINK_TREE);
		}
		/* push the unseen tree neighbours in random order */
		for (i = k; i > 0 && depth < WALK_BUDGET; i--)
		{
			int			j = random_below(&rng, i);
			HnswEdge	e = list[j];

			list[j] = list[i - 1];
			if (hnsw_edge_protected(e) && !hnsw_idset_contains(&seen, e.id))
				stack[depth++] = e.id;
		}
		/* a dead end: start again from another start */
		if (depth == 0 && n > 1)
			stack[depth++] = starts[random_below(&rng, n)].id;
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
		bool		linked = hnsw_link_back(g, id, vec, nb, 0,
											parented ? LINK_PLAIN : LINK_TREE);

		if (!parented && linked)
		{
			HnswEdge	up = {id, nb.dist};

			parented = true;
			if (i > 0)
				(void) hnsw_link_back(g, nb.id, NULL, up, 0, LINK_TREE);
		}
	}
	/* every chosen neighbour is full of tree edges: try the other finds */
	for (i = 0; i < nfound && !parented; i++)
		if (!hnsw_list_contains(g->lists[0], g->counts[0], g->found[i].id))
			parented = hnsw_link_tree(g, id, g->found[i], LINK_TREE);
	/* then the elements below them in the tree */
	if (!parented)
		parented = hnsw_link_tree_walk(g, id, vec, g->found, nfound, NULL, NULL);
	/* and failing those, the nearest neighbour takes one tree edge more */
	if (!parented && g->counts[0] > 0)
		(void) hnsw_link_tree(g, id, g->lists[0][0], LINK_FORCE);
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
	if (!hnsw_link_back(g, entry, NULL, owner, 0, LINK_TREE))
		(void) hnsw_link_back(g, entry, NULL, owner, 0, LINK_FORCE);
}

/*
 * Inserts vec (heap tuple tid) at the given level into a non-empty graph
 * whose entry point is entry at entry_level.  Returns the new element's id,
 * or HNSW_INVALID_ID when the tid was attached to an identical element.
 * The caller makes the new element the entry point when its level is
 * higher.
 */
static int	select_level0_upper(HnswGraph *g, int nfound);
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
			(void) hnsw_link_back(g, id, vec, g->lists[l][i], l, LINK_PLAIN);
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

		if (hnsw_list_contains(c, nfound, e.id))
			continue;
		e.dist = hnsw_edge_dist(e.dist, false);
		c[n++] = e;
	}
	if (n > nfound)
		hnsw_sort_edges(c, n);
	return hnsw_select_neighbors(g, c, n, g->m, true, g->lists[0]);
}

/*
 * Tree edges both ways between x and a new parent p (p.dist: x to p).
 * False if p's list is too full of protected edges to take x (with
 * LINK_FORCE: only if it holds nothing but protected edges).
 */
bool
hnsw_link_tree(HnswGraph *g, HnswId x, HnswEdge p, int mode)
{
	HnswEdge	up = {x, p.dist};

	if (!hnsw_link_back(g, x, NULL, p, 0, mode))	/* p -> x */
		return false;
	(void) hnsw_link_back(g, p.id, NULL, up, 0, mode);	/* x -> p */
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
