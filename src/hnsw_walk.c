/*
 * hnsw_walk.c
 *		Breadth-first walks over layer 0 through HnswGraphOps: the build's
 *		page layout order and the checker's reachability passes.
 *
 * The caller numbers the elements densely (an array index) so that the
 * walk can mark them in a flat array; index_of translates an edge's
 * target, and may refuse it (-1: not followed) or raise an ERROR.
 */
#include "postgres.h"

#include "miscadmin.h"
#include "utils/memutils.h"

#include "hnsw_graph.h"

/*
 * Prepares a walk over n elements of g: nothing seen yet, room for every
 * element in w->order.  With tree_only, only protected (tree) edges are
 * followed.
 */
void
hnsw_walk_init(HnswWalk *w, HnswGraph *g, int64 n, bool tree_only,
			   HnswWalkIndex index_of, void *arg)
{
	w->g = g;
	w->tree_only = tree_only;
	w->index_of = index_of;
	w->arg = arg;
	w->seen = palloc_extended(Max(n, 1), MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
	w->order = palloc_extended(sizeof(HnswId) * Max(n, 1), MCXT_ALLOC_HUGE);
	w->norder = 0;
	w->list = palloc(sizeof(HnswEdge) * HNSW_LIST_CAP(g->m, 0));
}

/*
 * Walks layer 0 breadth-first from start (numbered start_index), unless it
 * was seen already, appending every element reached to w->order in the
 * order reached and marking it in w->seen.  Elements seen by earlier calls
 * are not entered again, so calls from successive starts extend one order.
 */
void
hnsw_walk_from(HnswWalk *w, HnswId start, int64 start_index)
{
	int64		head = w->norder;

	if (w->seen[start_index])
		return;
	w->seen[start_index] = true;
	w->order[w->norder++] = start;
	while (head < w->norder)
	{
		HnswId		id = w->order[head++];
		int			n = w->g->ops->neighbors(w->g, id, 0, w->list);
		int			i;

		CHECK_FOR_INTERRUPTS();
		for (i = 0; i < n; i++)
		{
			int64		t;

			if (w->tree_only && !hnsw_edge_protected(w->list[i]))
				continue;
			t = w->index_of(w->arg, id, w->list[i].id);
			if (t >= 0 && !w->seen[t])
			{
				w->seen[t] = true;
				w->order[w->norder++] = w->list[i].id;
			}
		}
	}
}

/* frees the walk's seen marks and scratch; w->order stays the caller's */
void
hnsw_walk_end(HnswWalk *w)
{
	pfree(w->seen);
	pfree(w->list);
	w->seen = NULL;
	w->list = NULL;
}
