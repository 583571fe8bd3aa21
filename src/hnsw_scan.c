/*
 * hnsw_scan.c
 *		Ordered index scans: ORDER BY col <op> query LIMIT k.
 *
 * The scan descends the upper layers greedily, then runs a streaming
 * layer-0 search (hnsw_stream_*): each round widens the beam to the
 * ef_search nearest results not yet returned and hands out the nearer half
 * of it, nearest first; the farther half stays open, so that the next
 * round can still find elements between them (a find nearer than a row
 * already returned would have to be dropped to keep the order).  When the executor wants more rows than a round gave (a LIMIT
 * above ef_search, rows removed by a filter, dead heap tuples), the next
 * round continues from where the search stopped, until the reachable graph
 * is exhausted or hnsw.max_scan_tuples elements have been visited (or the
 * memory bound is hit), after which the results already found are returned
 * (in order, except late finds under relaxed_order) and the scan ends.  With hnsw.iterative_scan = off the scan
 * stops after the first round, as pgvector's does by default.
 */
#include "postgres.h"

#include <math.h>

#include "access/relscan.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#include "distance.h"
#include "hnsw.h"
#include "vector.h"

typedef struct HnswScanOpaqueData
{
	MemoryContext ctx;			/* everything below, reset per rescan */
	bool		started;
	bool		done;
	bool		unordered;		/* NULL (or zero cosine) query: every row */
	bool		searching;		/* an ordered search is under way */
	bool		bounds;			/* coded index: distances are lower bounds */
	float		dist;			/* the current element's distance (bound) */
	HnswRerank *rerank;			/* coded index: rows re-ranked by the table */
	double		last_dist;		/* rerank: the last row's distance */
	double		rerank_frontier;	/* rerank: the last candidate's distance */
	HnswIndexInfo info;
	HnswMetaPageData meta;
	HnswPageGraph *pg;			/* while started */
	HnswSearch	search;
	float	   *q;				/* the query, as the scan searches by it */
	int			qscale;			/* q is the operator's query times 2^qscale */
	int			rounds;
	int			round_left;		/* results this round may still hand out */
	int			round_extra;	/* rerank: and then, without expanding */
	bool		draining;		/* no more rounds: hand out what is found */
	BlockNumber nextblk;		/* unordered: next block to read */
	ItemPointerData *tids;		/* heap TIDs to return before moving on */
	int			ntids;
	int			itid;
	HnswId		cur;			/* the element the TIDs are from */
	int			nkilled;		/* of them, found dead to everyone */
	bool		kill_dead;		/* rerank: hint elements of dead rows DEAD */
} HnswScanOpaqueData;

typedef HnswScanOpaqueData *HnswScanOpaque;

/* ambeginscan */
IndexScanDesc
hnswbeginscan(Relation index, int nkeys, int norderbys)
{
	IndexScanDesc scan = RelationGetIndexScan(index, nkeys, norderbys);
	HnswScanOpaque so = palloc0(sizeof(HnswScanOpaqueData));

	so->ctx = AllocSetContextCreate(CurrentMemoryContext, "hnsw scan",
									ALLOCSET_DEFAULT_SIZES);
	/* the AM allocates where it reports distances (coded indexes do) */
	if (norderbys > 0)
	{
		scan->xs_orderbyvals = palloc0(sizeof(Datum) * norderbys);
		scan->xs_orderbynulls = palloc(sizeof(bool) * norderbys);
		memset(scan->xs_orderbynulls, true, sizeof(bool) * norderbys);
	}
	scan->opaque = so;
	return scan;
}

/*
 * Drops what a previous scan left: its pins and its memory.  What the scan
 * did goes to the log at DEBUG1 (SET client_min_messages = debug1 shows
 * it): the work per query, to compare with other graphs at equal recall.
 */
static void
scan_reset(HnswScanOpaque so)
{
	if (so->searching)
		elog(DEBUG1, "hnsw scan: %llu distances, %u elements visited, %d rounds, %d rows re-ranked",
			 (unsigned long long) so->search.ndistances,
			 so->search.visited.count, so->rounds,
			 so->rerank ? hnsw_rerank_rows_read(so->rerank) : 0);
	if (so->rerank)
		hnsw_rerank_end(so->rerank);
	if (so->pg)
		hnsw_page_graph_close(so->pg);
	MemoryContextReset(so->ctx);
	so->rerank = NULL;
	so->pg = NULL;
	so->started = false;
	so->searching = false;
	so->done = false;
	so->ntids = so->itid = 0;
	so->cur = HNSW_INVALID_ID;
	so->nkilled = 0;
}

/* amrescan */
void
hnswrescan(IndexScanDesc scan, ScanKey keys, int nkeys, ScanKey orderbys,
		   int norderbys)
{
	HnswScanOpaque so = (HnswScanOpaque) scan->opaque;

	scan_reset(so);
	if (keys && scan->numberOfKeys > 0)
		memmove(scan->keyData, keys, scan->numberOfKeys * sizeof(ScanKeyData));
	if (orderbys && scan->numberOfOrderBys > 0)
		memmove(scan->orderByData, orderbys,
				scan->numberOfOrderBys * sizeof(ScanKeyData));
}

/*
 * The metric a scan searches by: the index's, except that an inner-product
 * scan takes -q.x where the lists keep 1 - q.x (hnsw.h), so that rows whose
 * products are too small for 1 - q.x to tell apart still come out in the
 * operator's order.  The graph's structure does not change with a constant
 * added to every distance.
 */
static HnswMetric
scan_metric(const HnswIndexInfo *info)
{
	return info->metric == HNSW_METRIC_IP ? HNSW_METRIC_NEG_IP : info->metric;
}

/*
 * The power of two an inner-product scan multiplies its query by: the one
 * that brings its largest coordinate up into [2^-20, 2^-19), for a query
 * below that; 0 (no change) for others and for the zero vector.  -q.x
 * orders the rows alike for every positive multiple of q, and a power of
 * two changes only the exponents of the products and of their float sums.
 * But products of a query of 1e-23 with rows of 6e-23 fall below float's
 * normal range (1.2e-38), where the kernels' sums keep a few bits or none
 * and the scan loses its order (a float4 index returned such rows out of
 * order, an sq8 index the wrong ones).  Raised to 2^-20, the query's
 * products keep float's precision for rows from about 1e-32 up, and their
 * sums, below 2^128 * 2^-19 * 16,000 dimensions, stay finite (src/README.md
 * section 3 says how the kernels compress sums beyond 2^120).  Scaling
 * larger queries down would do the reverse to tiny rows: a query of 3.4e38
 * against rows of 1e-38 (regress hnsw_extremes) has products of about 1.
 */
#define QUERY_TOP_EXP	(-20)

static int
query_scale(const float *q, int dim)
{
	float		top = 0;

	for (int i = 0; i < dim; i++)
		top = Max(top, fabsf(q[i]));
	if (!(top > 0) || ilogbf(top) >= QUERY_TOP_EXP)
		return 0;
	return QUERY_TOP_EXP - ilogbf(top);
}

/*
 * An inner-product scan searches by its query times 2^qscale (query_scale),
 * in a copy: the re-rank keeps the operator's query.
 */
static void
scale_query(HnswScanOpaque so)
{
	int			dim = so->meta.dim;
	float	   *q;

	if (so->qscale == 0)
		return;
	q = palloc(sizeof(float) * dim);
	for (int i = 0; i < dim; i++)
		q[i] = ldexpf(so->q[i], so->qscale);
	so->q = q;
}

/* the index's page graph, searching by scan_metric */
static HnswPageGraph *
open_graph(Relation index, const HnswIndexInfo *info,
		   const HnswMetaPageData *meta)
{
	HnswIndexInfo ginfo = *info;

	ginfo.metric = scan_metric(info);
	if (ginfo.metric == HNSW_METRIC_NEG_IP)
		ginfo.dist = vec_index_neg_ip;
	return hnsw_page_graph_open(index, &ginfo, meta);
}

/*
 * Reads the metapage and the query, and descends to layer 0.  Runs once per
 * scan, at its first amgettuple after ambeginscan or amrescan, so this is
 * where the scan is counted in pg_stat_*_indexes.idx_scan: once per start,
 * ordered or unordered, empty index or not, as nbtree counts in _bt_first.
 */
static void
scan_start(IndexScanDesc scan)
{
	HnswScanOpaque so = (HnswScanOpaque) scan->opaque;
	ScanKey		key = &scan->orderByData[0];
	HnswGraph  *g;
	HnswEdge	start;
	bool		skip;

	so->started = true;
	pgstat_count_index_scan(scan->indexRelation);
	hnsw_get_info(scan->indexRelation, &so->info);
	hnsw_read_meta(scan->indexRelation, &so->meta);
	so->pg = open_graph(scan->indexRelation, &so->info, &so->meta);
	if (scan->xactStartedInRecovery)
		hnsw_page_graph_ignore_dead_hints(so->pg);
	if (so->meta.entry == HNSW_INVALID_ID)
	{
		so->done = true;
		return;
	}
	so->q = palloc(sizeof(float) * so->meta.dim);
	if (scan->numberOfOrderBys == 0 || (key->sk_flags & SK_ISNULL) ||
		!hnsw_prepare_vector(&so->info, key->sk_argument, so->q, so->meta.dim))
	{
		so->unordered = true;
		so->nextblk = HNSW_FIRST_GRAPH_BLOCK(&so->meta);
		/* a whole block's TIDs at a time */
		so->tids = palloc(sizeof(ItemPointerData) *
						  HNSW_MAX_ITEMS_PER_PAGE * HNSW_HEAPTIDS);
		return;
	}
	so->unordered = false;
	so->tids = palloc(sizeof(ItemPointerData) * HNSW_HEAPTIDS);
	so->qscale = scan_metric(&so->info) == HNSW_METRIC_NEG_IP ?
		query_scale(so->q, so->meta.dim) : 0;
	/* a coded index re-ranks by the table, else reports lower bounds */
	if (so->meta.storage != HNSW_STORAGE_FLOAT4)
		so->rerank = hnsw_rerank_begin(scan->indexRelation, scan->heapRelation,
									   scan->xs_snapshot, &so->info, so->q,
									   so->meta.dim, so->qscale,
									   hnsw_ef_search / 2);
	scale_query(so);
	if (so->rerank)
	{
		hnsw_page_graph_rerank(so->pg, so->q);
		/* as index_fetch_heap: a standby's snapshots may still see them */
		so->kill_dead = !scan->xactStartedInRecovery;
	}
	so->last_dist = -INFINITY;
	so->rerank_frontier = -INFINITY;
	so->bounds = so->rerank == NULL &&
		hnsw_page_graph_report_bounds(so->pg, so->q);
	g = hnsw_page_graph_core(so->pg);
	start = hnsw_descend(g, so->q, so->meta.entry, so->meta.entry_level, 0,
						 &skip);
	hnsw_stream_begin(g, &so->search, so->q, start, skip);
	so->searching = true;
	so->rounds = 0;
	so->round_left = 0;
	so->round_extra = 0;
	so->draining = false;
}

/* true while the scan may search further (tuple and memory bounds) */
static bool
may_expand(HnswScanOpaque so)
{
	HnswSearch *s = &so->search;

	if (hnsw_stream_exhausted(s))
		return false;
	if (so->rounds == 0)
		return true;			/* the bounds apply to continuing only */
	if (hnsw_iterative_scan == HNSW_ITERATIVE_OFF)
		return false;
	return s->visited.count < (uint32) hnsw_max_scan_tuples &&
		hnsw_stream_bytes(s) < (double) work_mem * 1024.0 * hnsw_scan_mem_multiplier;
}

/* the next element in distance order, or false at the end of the scan */
static bool
next_result(HnswScanOpaque so, HnswEdge *e)
{
	for (;;)
	{
		bool		behind;

		if (so->round_left == 0 && so->round_extra > 0 && !so->draining)
		{
			/* the round's other finds become results, in order */
			hnsw_stream_flush(&so->search);
			so->round_left = so->round_extra;
			so->round_extra = 0;
		}
		/* a round ends early where unexpanded finds are nearer */
		behind = (!so->draining && so->rounds > 0 &&
				  hnsw_iterative_scan != HNSW_ITERATIVE_OFF &&
				  hnsw_stream_behind(&so->search));

		if ((so->round_left > 0 || so->draining) && !behind &&
			hnsw_stream_next(&so->search, e))
		{
			so->round_left--;
			return true;
		}
		if (so->draining)
			return false;
		if (!may_expand(so))
		{
			/*
			 * run out before the bounds: go on from the entry point, once
			 * (reseeding declines an entry point the search has visited)
			 */
			if (hnsw_stream_exhausted(&so->search) &&
				hnsw_iterative_scan != HNSW_ITERATIVE_OFF &&
				hnsw_stream_reseed(hnsw_page_graph_core(so->pg), &so->search,
								   so->meta.entry,
								   hnsw_iterative_scan != HNSW_ITERATIVE_RELAXED))
				continue;
			/* off: the first round's ef results are all there is */
			if (hnsw_iterative_scan == HNSW_ITERATIVE_OFF && so->rounds > 0)
				return false;
			hnsw_stream_flush(&so->search);
			so->draining = true;
			continue;
		}
		CHECK_FOR_INTERRUPTS();
		hnsw_stream_expand(hnsw_page_graph_core(so->pg), &so->search,
						   hnsw_ef_search,
						   hnsw_iterative_scan != HNSW_ITERATIVE_RELAXED);
		so->rounds++;

		/*
		 * A round hands out its whole beam, as a one-shot HNSW search returns
		 * its ef best, so a LIMIT up to ef_search takes one round. Handing
		 * out half of it, so that the next round could still find elements
		 * lying between the halves, bought recall per ef_search at a higher
		 * price than a larger ef_search buys the same recall (src/README.md
		 * section 9).  A round still ends early before a result farther than
		 * an unexpanded find (hnsw_stream_behind).
		 */
		so->round_left = hnsw_ef_search;

		/*
		 * A re-ranking scan needs candidates past the rows it returns, to
		 * know that none still to come is nearer: LIMIT 10 at ef_search 10
		 * reads 11 or more.  A round of its own for them cost about as much
		 * again as the first (on Fashion-MNIST at ef 10: 271 distances
		 * against 173); the finds the round made beyond its beam serve, as
		 * far as the rows read ahead may go.
		 */
		if (so->rerank && hnsw_iterative_scan != HNSW_ITERATIVE_OFF)
			so->round_extra = hnsw_ef_search / 2;
	}
}

/*
 * The next row of a coded index's scan in the order of the table's
 * vectors.  Candidates come from the stream one by one, nearest by code
 * first; each one's rows are read from the table (hnsw_rerank.c), and the
 * nearest row read goes out as soon as no candidate still to come can be
 * nearer by its exact distance: none lies below the last candidate's code
 * distance by more than a few of the codes' typical errors
 * (hnsw_rerank_next), or half of ef_search rows are read ahead.  So a
 * LIMIT k reads about k rows plus those within the codes' error of the
 * k-th, at most k + ef_search / 2.  Rows found dead to
 * everyone get their element hinted DEAD, as next_tids does from the
 * executor's kill_prior_tuple.  A row nearer than one already returned,
 * found later, is dropped, as any late find, unless relaxed_order: under
 * off too, where the margin can still let a row through before a nearer
 * one is read (regress hnsw_rerank_order).
 */
static bool
next_reranked(HnswScanOpaque so)
{
	ItemPointerData tids[HNSW_HEAPTIDS];
	ItemPointerData tid;
	HnswEdge	e;
	double		d;
	double		est;
	double		spread;
	int			n;

	for (;;)
	{
		while (hnsw_rerank_next(so->rerank, so->rerank_frontier, &tid, &d))
		{
			/* a late find: only relaxed_order returns it out of order */
			if (hnsw_iterative_scan != HNSW_ITERATIVE_RELAXED &&
				d < so->last_dist)
				continue;
			so->last_dist = d;
			so->tids[0] = tid;
			so->ntids = 1;
			return true;
		}
		if (so->rerank_frontier == INFINITY)
			return false;
		if (!next_result(so, &e))
		{
			so->rerank_frontier = INFINITY;
			continue;
		}
		/* the scan's distances are the operator's (squared for L2) */
		so->rerank_frontier = e.dist;
		n = hnsw_element_tids(so->pg, e.id, tids, &est, &spread);
		/* a code that estimates nothing was searched by its lower bound */
		if (!isfinite(spread))
			est = e.dist;
		/* rows dead to everyone: hint the element DEAD, as next_tids does */
		if (hnsw_rerank_add(so->rerank, tids, n, est, spread) == n &&
			n > 0 && so->kill_dead)
			hnsw_mark_dead(so->pg, e.id, tids, n);
	}
}

/* refills so->tids with the next element's (or block's) heap TIDs */
static bool
next_tids(IndexScanDesc scan)
{
	HnswScanOpaque so = (HnswScanOpaque) scan->opaque;
	HnswEdge	e;

	if (so->cur != HNSW_INVALID_ID && so->ntids > 0 && so->nkilled == so->ntids)
		hnsw_mark_dead(so->pg, so->cur, so->tids, so->ntids);
	so->cur = HNSW_INVALID_ID;
	so->nkilled = 0;
	so->itid = 0;
	so->ntids = 0;
	while (so->ntids == 0)
	{
		if (so->unordered)
		{
			if (so->nextblk >= RelationGetNumberOfBlocks(scan->indexRelation))
				return false;
			so->ntids = hnsw_block_tids(so->pg, so->nextblk++, so->tids);
		}
		else if (so->rerank)
			return next_reranked(so);
		else
		{
			if (!next_result(so, &e))
				return false;
			so->ntids = hnsw_element_tids(so->pg, e.id, so->tids, NULL, NULL);
			so->cur = e.id;
			so->dist = e.dist;
		}
	}
	return true;
}

/*
 * Under a code the scan orders by lower bounds of the exact distances and
 * hands them to the executor, which computes the exact distance from the
 * table row and returns rows in that order (IndexNextWithReorder): a row
 * waits in the executor's queue until no later row can have a smaller
 * bound.  The bounds must not decrease from row to row, which the strict
 * order of the stream gives, and never exceed the exact distance, else the
 * executor fails with "index returned tuples in wrong order"
 * (hnsw_code_bound).
 */
static void
report_bound(IndexScanDesc scan, HnswScanOpaque so)
{
	/* a scaled query's distances (query_scale) scale back exactly */
	scan->xs_orderbyvals[0] =
		Float8GetDatum(ldexp(hnsw_bound_to_operator(scan_metric(&so->info),
													so->dist), -so->qscale));
	scan->xs_orderbynulls[0] = false;
	scan->xs_recheckorderby = true;
}

/* amgettuple */
bool
hnswgettuple(IndexScanDesc scan, ScanDirection dir)
{
	HnswScanOpaque so = (HnswScanOpaque) scan->opaque;
	MemoryContext old = MemoryContextSwitchTo(so->ctx);
	bool		found = false;

	if (!so->started)
		scan_start(scan);
	else if (scan->kill_prior_tuple)
		so->nkilled++;
	if (!so->done && (so->itid < so->ntids || next_tids(scan)))
	{
		scan->xs_heaptid = so->tids[so->itid++];
		scan->xs_recheck = false;
		scan->xs_recheckorderby = false;
		if (so->bounds)
			report_bound(scan, so);
		found = true;
	}
	else
		so->done = true;
	MemoryContextSwitchTo(old);
	return found;
}

/* amendscan */
void
hnswendscan(IndexScanDesc scan)
{
	HnswScanOpaque so = (HnswScanOpaque) scan->opaque;

	scan_reset(so);
	MemoryContextDelete(so->ctx);
	pfree(so);
	scan->opaque = NULL;
}
