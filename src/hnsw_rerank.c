/*
 * hnsw_rerank.c
 *		Re-ranking a coded index's candidates by the table's own vectors.
 *
 * An index with storage half, sq8 or sq4 searches with distances to codes.
 * Before a scan hands rows out, it fetches each candidate's row from the
 * table, computes the distance from the query to the row's vector as the
 * SQL operator does (in double where a float sum would overflow, so that
 * vectors near the float4 limits too come out in the operator's order),
 * and hands the rows out in that order (src/README.md section 11 says why
 * this and not lower bounds for the executor's recheck).  The full vectors
 * thus stay in the table, and only the candidates needed are read: the
 * nearest by code, until no candidate still to come can be nearer.
 *
 * A row is read with the scan's snapshot, as the executor reads it next:
 * a row it does not see would not be returned anyway, and one it sees has
 * the vector the index entry was made for (an update that changes it
 * makes a new entry; a HOT chain keeps the indexed column).  Reading other
 * versions is not safe: a dead row's TOAST chunks may be gone already.
 */
#include "postgres.h"

#include <math.h>

#include "access/tableam.h"
#include "executor/tuptable.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "distance.h"
#include "hnsw.h"
#include "vector.h"

/*
 * How many spreads (hnsw_code_spread) below its code distance a candidate's
 * exact distance may lie: HNSW_RERANK_Z, which the search already took off
 * each candidate's distance, raised to the largest ratio the scan measures
 * on the rows it reads, up to RERANK_Z_MAX (section 11 of src/README.md).
 */
#define RERANK_Z_MAX 20.0

typedef struct RerankItem
{
	ItemPointerData tid;
	double		dist;
} RerankItem;

struct HnswRerank
{
	IndexFetchTableData *fetch;
	TupleTableSlot *slot;
	Snapshot	snapshot;		/* the scan's */
	AttrNumber	attnum;			/* the indexed column in the table */
	HnswMetric	metric;
	const float *q;				/* the operator's query */
	int			dim;
	int			scale;			/* distances times 2^scale, as the scan's */
	MemoryContext rowcxt;		/* detoasted values, reset per row */
	RerankItem *items;			/* the rows waiting: a min-heap on dist */
	int			n;
	int			cap;
	double		spread;			/* the largest code spread of a candidate */
	double		z;				/* spreads allowed below the code distance */
	double		code;			/* the last candidate's code distance */
	int			nread;			/* rows read from the table */
	int			lookahead;		/* most rows waiting before one goes out */
};

/*
 * Starts re-ranking for a scan of index over heap with query q (as the
 * index compares it).  The scan's distances are in units of 2^scale: an
 * inner-product scan searches by q times 2^scale (hnsw_scan.c); the rows
 * are still compared with q, as the operator compares them, and the
 * result scaled, which is exact in double.  NULL where it cannot: an
 * expression index, whose indexed values are not a column of the table
 * (the scan then reports lower bounds for the executor's recheck instead).
 */
HnswRerank *
hnsw_rerank_begin(Relation index, Relation heap, Snapshot snapshot,
				  const HnswIndexInfo *info, const float *q, int dim,
				  int scale, int lookahead)
{
	AttrNumber	attnum = index->rd_index->indkey.values[0];
	HnswRerank *r;

	if (heap == NULL || attnum == 0 || snapshot == InvalidSnapshot)
		return NULL;
	r = palloc0(sizeof(HnswRerank));
	r->fetch = table_index_fetch_begin(heap);
	r->slot = table_slot_create(heap, NULL);
	r->snapshot = snapshot;
	r->attnum = attnum;
	r->metric = info->metric;
	r->q = q;
	r->dim = dim;
	r->scale = scale;
	r->rowcxt = AllocSetContextCreate(CurrentMemoryContext, "hnsw rerank row",
									  ALLOCSET_SMALL_SIZES);
	r->z = HNSW_RERANK_Z;
	r->code = -INFINITY;
	r->lookahead = Max(lookahead, 1);
	r->cap = 64;
	r->items = palloc(sizeof(RerankItem) * r->cap);
	return r;
}

/*
 * The operator's distance from the query to vector v, up to what order
 * does not need (L2: the square root; cosine: from the normalised query,
 * which has the same cosine; inner product: times 2^scale); NaN where the
 * index holds no such row (a zero vector under cosine).
 */
static double
exact_distance(const HnswRerank *r, const Vector *v)
{
	switch (r->metric)
	{
		case HNSW_METRIC_L2:
			return vec_l2_squared_full(r->q, v->x, r->dim);
		case HNSW_METRIC_IP:
			return ldexp(-vec_inner_product_full(r->q, v->x, r->dim),
						 r->scale);
		case HNSW_METRIC_L1:
			return vec_l1_full(r->q, v->x, r->dim);
		default:
			return vec_cosine_distance(r->q, v->x, r->dim);
	}
}

/*
 * The distance from the query to the row at tid; false if the scan's
 * snapshot sees none, and then *dead says whether the row is dead to every
 * transaction (as the executor learns for kill_prior_tuple).
 */
static bool
row_distance(HnswRerank *r, ItemPointer tid, double *dist, bool *dead)
{
	ItemPointerData t = *tid;
	bool		call_again = false;
	bool		all_dead = false;
	bool		isnull;
	Datum		value;
	bool		found = false;
	MemoryContext old;

	*dead = false;
	if (!table_index_fetch_tuple(r->fetch, &t, r->snapshot, r->slot,
								 &call_again, &all_dead))
	{
		*dead = all_dead;
		return false;
	}
	old = MemoryContextSwitchTo(r->rowcxt);
	value = slot_getattr(r->slot, r->attnum, &isnull);
	if (!isnull)
	{
		Vector	   *v = DatumGetVector(value);

		if (v->dim == r->dim)
		{
			*dist = exact_distance(r, v);
			found = !isnan(*dist);
		}
	}
	MemoryContextSwitchTo(old);
	ExecClearTuple(r->slot);
	MemoryContextReset(r->rowcxt);
	return found;
}

/* a RerankItem min-heap on dist: restores the order after the last pushed */
static void
heap_up(RerankItem *h, int i)
{
	RerankItem	x = h[i];

	while (i > 0 && h[(i - 1) / 2].dist > x.dist)
	{
		h[i] = h[(i - 1) / 2];
		i = (i - 1) / 2;
	}
	h[i] = x;
}

/* ... and after the root was replaced by the last item */
static void
heap_down(RerankItem *h, int n)
{
	RerankItem	x = h[0];
	int			i = 0;

	for (;;)
	{
		int			c = 2 * i + 1;

		if (c >= n)
			break;
		if (c + 1 < n && h[c + 1].dist < h[c].dist)
			c++;
		if (!(h[c].dist < x.dist))
			break;
		h[i] = h[c];
		i = c;
	}
	h[i] = x;
}

/*
 * Adds the rows of one candidate (its heap TIDs), whose code distance lets
 * the exact one stray by about spread (hnsw_code_spread), to the rows
 * waiting.  Where a row lies more spreads below its code distance than z
 * allows, z rises, and the largest finite spread so far stands for that of
 * the candidates not yet read (an infinite one belongs to a code searched
 * by its lower bound).  Returns how many of the rows are dead to everyone.
 */
int
hnsw_rerank_add(HnswRerank *r, const ItemPointerData *tids, int ntids,
				double code, double spread)
{
	int			ndead = 0;

	r->code = code;
	if (isfinite(spread) && spread > r->spread)
		r->spread = spread;
	else if (isnan(spread))
		r->spread = spread;		/* then nothing is certain */
	for (int i = 0; i < ntids; i++)
	{
		double		d;
		bool		dead;

		if (!row_distance(r, (ItemPointer) &tids[i], &d, &dead))
		{
			ndead += dead;
			continue;
		}
		if (spread > 0 && (code - d) / spread > r->z)
			r->z = Min((code - d) / spread, RERANK_Z_MAX);
		if (r->n == r->cap)
		{
			r->cap *= 2;
			r->items = repalloc(r->items, sizeof(RerankItem) * r->cap);
		}
		r->items[r->n].tid = tids[i];
		r->items[r->n].dist = d;
		heap_up(r->items, r->n++);
		r->nread++;
	}
	return ndead;
}

/*
 * The nearest row waiting, if no candidate not yet read can be nearer:
 * every such candidate's code distance less HNSW_RERANK_Z of its spreads
 * is frontier or beyond (the stream hands them out in that order), so its
 * exact distance too, unless its code errs more than that: by the margin
 * (z - HNSW_RERANK_Z) times the largest spread, 0 until a row has erred
 * more (measured, not proven: see src/README.md section 11).  frontier is
 * INFINITY when no candidate is left.  Where codes are coarse for the
 * data, the spreads can hold back hundreds of rows; with half of
 * ef_search rows waiting (the look-ahead) they are dropped, as the
 * batches of earlier versions did: a row goes out once it is no farther
 * than the last candidate's code distance itself.  Handing out the
 * nearest row regardless would be worse: under strict_order every nearer
 * row found later is then dropped.
 */
bool
hnsw_rerank_next(HnswRerank *r, double frontier, ItemPointer tid,
				 double *dist)
{
	if (r->n == 0)
		return false;
	if (frontier != INFINITY && r->n >= r->lookahead)
		frontier = Max(frontier, r->code);
	else if (frontier != INFINITY && r->z > HNSW_RERANK_Z)
		frontier -= (r->z - HNSW_RERANK_Z) * r->spread;
	if (!(r->items[0].dist <= frontier))
		return false;
	*tid = r->items[0].tid;
	*dist = r->items[0].dist;
	r->items[0] = r->items[--r->n];
	if (r->n > 0)
		heap_down(r->items, r->n);
	return true;
}

/* how many rows the scan read from the table (its DEBUG1 message) */
int
hnsw_rerank_rows_read(const HnswRerank *r)
{
	return r->nread;
}

/* releases the table fetch and its slot (the memory goes with the scan's) */
void
hnsw_rerank_end(HnswRerank *r)
{
	ExecDropSingleTupleTableSlot(r->slot);
	table_index_fetch_end(r->fetch);
	MemoryContextDelete(r->rowcxt);
}
