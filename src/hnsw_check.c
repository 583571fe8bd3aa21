/*
 * hnsw_check.c
 *		hnsw_index_check(regclass, heapallindexed): verifies every invariant
 *		of an index and raises an ERROR naming the first violation (block,
 *		offset, what); with heapallindexed, also that every row of the
 *		table the index should hold is there, with its vector bit for bit.
 *
 * Runs under ShareLock on the index, so no insert or VACUUM changes it
 * meanwhile (scans go on).  A hot standby grants no ShareLock: there it
 * runs under AccessShareLock, and WAL replay may change the index while it
 * runs, so a check during replay of heavy writes can report a change in
 * flight as a violation (run it again, or when the primary is quiet).
 * Three passes: collect and check every tuple;
 * check every element's neighbour lists; walk layer 0 from the entry
 * point and require every live element to be reached, through tree edges
 * alone too.  The table pass
 * (heapallindexed) comes last: the heap TIDs the index holds, each with
 * its element, are sorted by TID, and a scan of the table looks up every
 * row the index should hold (table_index_build_range_scan gives the rows
 * an MVCC snapshot sees, each under the TID an index entry would use, with
 * the value the index would get).  The sorted TIDs take 12 bytes per row
 * and are kept within maintenance_work_mem: when they do not fit, the
 * table is checked in ranges of blocks, one walk over the index per range.
 */
#include "postgres.h"

#include <math.h>

#include "access/htup_details.h"
#include "access/relation.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/transam.h"
#include "access/xlog.h"
#include "catalog/index.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "utils/acl.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "hnsw.h"
#include "vector.h"

PG_FUNCTION_INFO_V1(hnsw_index_check);

/* OUT columns of hnsw_index_check in extension version 0.2.0, and from 0.3.0 */
#define HNSW_CHECK_NATTS_0_2_0	6
#define HNSW_CHECK_NATTS		7

/* a heap TID the index holds, and the element holding it */
typedef struct CheckTid
{
	ItemPointerData tid;
	HnswId		id;
} CheckTid;

typedef struct CheckElem
{
	HnswId		id;
	HnswId		nbrs;
	uint8		level;
	uint8		flags;
} CheckElem;

typedef struct Checker
{
	Relation	index;
	HnswMetaPageData meta;
	CheckElem  *elems;			/* in id order */
	int64		nelems;
	int64		cap;
	HnswId	   *ntups;			/* neighbour tuple ids, in id order */
	bool	   *nused;
	int64		nntups;
	int64		ntcap;
	int64		edges;
	int64		active;
	HnswMetric	metric;
	HnswCodec	codec;			/* how elements keep their vectors */
	Size		esize;			/* an element tuple's size */
	Relation	heap;			/* for the visibility of unreached rows */

	/* the table pass (heapallindexed) */
	bool		heapallindexed;
	CheckTid   *tids;			/* this round's heap TIDs, sorted before use */
	int64		ntids;
	int64		tidcap;			/* allocated */
	int64		maxtids;		/* what maintenance_work_mem holds */
	BlockNumber lo;				/* this round's heap blocks: [lo, hi) */
	BlockNumber hi;
	HnswIndexInfo info;			/* how the table's vectors are normalised */
	float	   *vec;			/* one row's vector as the index stores it */
	void	   *code;			/* and as encoded (hnsw_code_holds) */
	MemoryContext rowcxt;		/* reset after every row */
	int64		table_rows;		/* rows found with their vector */
} Checker;

static void
violation(Checker *ck, HnswId id, const char *what)
{
	hnsw_corrupt(ck->index, HnswIdBlock(id), HnswIdOffset(id), what);
}

static void
add_elem(Checker *ck, HnswId id, HnswElementTuple etup)
{
	if (ck->nelems == ck->cap)
	{
		ck->cap *= 2;
		ck->elems = repalloc_huge(ck->elems, sizeof(CheckElem) * ck->cap);
	}
	ck->elems[ck->nelems].id = id;
	ck->elems[ck->nelems].nbrs = etup->nbrs;
	ck->elems[ck->nelems].level = etup->level;
	ck->elems[ck->nelems++].flags = etup->flags;
}

static void
add_ntup(Checker *ck, HnswId id)
{
	if (ck->nntups == ck->ntcap)
	{
		ck->ntcap *= 2;
		ck->ntups = repalloc_huge(ck->ntups, sizeof(HnswId) * ck->ntcap);
	}
	ck->ntups[ck->nntups++] = id;
}

/* checks one element tuple's own fields */
static void
check_element(Checker *ck, HnswId id, HnswElementTuple etup, Size len)
{
	int			i;
	const char *bad;

	if (len != ck->esize)
	{
		violation(ck, id, "element tuple size does not match the dimensions");
		return;
	}
	if (etup->level > ck->meta.max_level)
		violation(ck, id, "element level above the index's maximum");
	if (etup->flags & ~HNSW_ELEMENT_GONE)
		violation(ck, id, "element has unknown flags");
	if ((etup->flags & HNSW_ELEMENT_FREE) && !(etup->flags & HNSW_ELEMENT_DELETED))
		violation(ck, id, "free element not marked deleted");
	hnsw_check_deleted_element(ck->index, id, etup);
	if (etup->flags & HNSW_ELEMENT_FREE)
		return;
	if ((bad = hnsw_code_invalid(&ck->codec, etup->vec,
								 etup->centroid)) != NULL)
		violation(ck, id, bad);
	if (!(etup->flags & HNSW_ELEMENT_GONE))
	{
		bool		any = false;

		for (i = 0; i < HNSW_HEAPTIDS; i++)
			any |= ItemPointerIsValid(&etup->heaptids[i]);
		if (!any)
			violation(ck, id, "live element without heap TIDs");
		ck->active++;
	}
}

/* qsort comparator: heap TID order, in which check_row looks TIDs up */
static int
tid_cmp(const void *a, const void *b)
{
	return ItemPointerCompare(&((CheckTid *) a)->tid, &((CheckTid *) b)->tid);
}

/*
 * The table pass's TIDs no longer fit in maintenance_work_mem: this round
 * keeps the TIDs of the heap blocks below the median TID's block (at least
 * the lowest block present), and the rest waits for a later round.
 */
static void
shrink_round(Checker *ck)
{
	BlockNumber hi;
	int64		n = 0;

	qsort(ck->tids, ck->ntids, sizeof(CheckTid), tid_cmp);
	hi = ItemPointerGetBlockNumber(&ck->tids[ck->ntids / 2].tid);
	if (hi == ItemPointerGetBlockNumber(&ck->tids[0].tid))
		hi++;
	while (n < ck->ntids && ItemPointerGetBlockNumber(&ck->tids[n].tid) < hi)
		n++;
	/* one heap block holds at most MaxHeapTuplesPerPage rows, < maxtids / 4 */
	if (n == ck->ntids)
		ereport(ERROR,
				(errcode(ERRCODE_INDEX_CORRUPTED),
				 errmsg("index \"%s\" holds %lld heap TIDs of block %u of table \"%s\"",
						RelationGetRelationName(ck->index), (long long) n,
						hi - 1, RelationGetRelationName(ck->heap)),
				 errhint("REINDEX the index.")));
	ck->ntids = n;
	ck->hi = hi;
}

/* for the table pass: the element's heap TIDs in this round's blocks */
static void
note_tids(Checker *ck, HnswId id, HnswElementTuple etup)
{
	int			i;

	for (i = 0; i < HNSW_HEAPTIDS; i++)
	{
		BlockNumber blk;

		if (!ItemPointerIsValid(&etup->heaptids[i]))
			continue;
		blk = ItemPointerGetBlockNumber(&etup->heaptids[i]);
		if (blk < ck->lo || blk >= ck->hi)
			continue;
		if (ck->ntids == ck->maxtids)
		{
			shrink_round(ck);
			if (blk >= ck->hi)
				continue;
		}
		if (ck->ntids == ck->tidcap)
		{
			ck->tidcap = Min(ck->tidcap * 2, ck->maxtids);
			ck->tids = repalloc_huge(ck->tids, sizeof(CheckTid) * ck->tidcap);
		}
		ck->tids[ck->ntids].tid = etup->heaptids[i];
		ck->tids[ck->ntids++].id = id;
	}
}

/* pass 1 on one item: a well-formed hnsw tuple */
static void
collect_item(void *arg, Page page, BlockNumber blkno, OffsetNumber off)
{
	Checker    *ck = (Checker *) arg;
	ItemId		iid = PageGetItemId(page, off);
	HnswId		id = HnswIdMake(blkno, off);
	uint8		type;

	if (!ItemIdIsNormal(iid))
		violation(ck, id, "line pointer is not in use");
	type = hnsw_item_type(ck->index, blkno, page, off);
	if (type == HNSW_TUPLE_ELEMENT)
	{
		HnswElementTuple etup = hnsw_page_element(ck->index, page, id);

		check_element(ck, id, etup, ItemIdGetLength(iid));
		add_elem(ck, id, etup);
		if (ck->heapallindexed)
			note_tids(ck, id, etup);
	}
	else if (type == HNSW_TUPLE_NEIGHBORS)
	{
		(void) hnsw_page_neighbors(ck->index, page, id, ck->meta.m);
		add_ntup(ck, id);
	}
	else if (type != HNSW_TUPLE_FREE_NEIGHBORS)
		violation(ck, id, "item of unknown type");
}

/* index of id in the element array, or -1 */
static int64
find_elem(Checker *ck, HnswId id)
{
	return hnsw_find_id(&ck->elems[0].id, ck->nelems, sizeof(CheckElem), id);
}

/* each element's neighbour tuple exists and belongs to it alone */
static void
check_ownership(Checker *ck)
{
	int64		i;

	ck->nused = palloc_extended(Max(ck->nntups, 1), MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
	for (i = 0; i < ck->nelems; i++)
	{
		CheckElem  *e = &ck->elems[i];
		int64		found = hnsw_find_id(ck->ntups, ck->nntups, sizeof(HnswId),
										 e->nbrs);

		if (found < 0)
			violation(ck, e->id, "element's neighbour tuple is missing");
		if (ck->nused[found])
			violation(ck, e->id, "neighbour tuple shared by two elements");
		ck->nused[found] = true;
	}
}

/* pass 2: one element's lists (the page graph checks tuple levels) */
static void
check_lists(Checker *ck, HnswPageGraph *pg, CheckElem *e, HnswEdge *list)
{
	int			level;

	for (level = 0; level <= e->level; level++)
	{
		int			n = hnsw_page_graph_neighbors(pg, e->id, level, list);
		int			i;
		int			j;

		for (i = 0; i < n; i++)
		{
			int64		t = find_elem(ck, list[i].id);

			if (t < 0)
				violation(ck, e->id, psprintf("edge at level %d to (%u,%u), which is not an element",
											  level, HnswIdBlock(list[i].id),
											  HnswIdOffset(list[i].id)));
			if (list[i].id == e->id)
				violation(ck, e->id, psprintf("self edge at level %d", level));
			if (ck->elems[t].flags & HNSW_ELEMENT_FREE)
				violation(ck, e->id, psprintf("edge at level %d to freed slot (%u,%u)",
											  level, HnswIdBlock(list[i].id),
											  HnswIdOffset(list[i].id)));
			if (ck->elems[t].level < level)
				violation(ck, e->id, psprintf("edge at level %d to an element of level %d",
											  level, ck->elems[t].level));

			/*
			 * Finite: the index's kernels never return inf or NaN (beyond
			 * VEC_DIST_EXACT they compress, distance.c), and marks keep a
			 * finite value finite.  An inf from a float sum that overflowed
			 * (before the kernels compressed) becomes NaN when marked.
			 */
			if (!isfinite(list[i].dist))
				violation(ck, e->id, psprintf("neighbour list at level %d holds a distance that is not finite",
											  level));
			/* sorted, with the mark bits masked (hnsw_graph.h) */
			if (i > 0 && hnsw_edge_dist(list[i].dist, false) <
				hnsw_edge_dist(list[i - 1].dist, false))
				violation(ck, e->id, psprintf("neighbour list at level %d not sorted by distance",
											  level));
			for (j = 0; j < i; j++)
				if (list[j].id == list[i].id)
					violation(ck, e->id, psprintf("duplicate edge at level %d", level));
		}
		ck->edges += n;
	}
}

/* the entry point is an element in use, at the level the metapage says */
static void
check_entry(Checker *ck)
{
	int64		t;

	if (ck->meta.entry == HNSW_INVALID_ID)
	{
		if (ck->active > 0)
			hnsw_corrupt(ck->index, HNSW_METAPAGE_BLKNO, 0,
						 "index has live elements but no entry point");
		return;
	}
	t = find_elem(ck, ck->meta.entry);
	if (t < 0 || (ck->elems[t].flags & HNSW_ELEMENT_FREE))
		hnsw_corrupt(ck->index, HNSW_METAPAGE_BLKNO, 0,
					 "entry point is not an element in use");
	if (ck->elems[t].level != ck->meta.entry_level)
		hnsw_corrupt(ck->index, HNSW_METAPAGE_BLKNO, 0,
					 psprintf("entry level %d, but the entry element has level %d",
							  ck->meta.entry_level, ck->elems[t].level));
}

/*
 * True if one of the element's heap tuples is visible now.  An element of
 * a transaction that a crash cut short (placed, back-links never written)
 * is unreachable, but its row is dead: VACUUM frees it, and it is no
 * violation.  The check's ShareLock keeps inserts out, so no insert is in
 * progress.
 */
static bool
holds_visible_row(Checker *ck, HnswId id)
{
	Buffer		buf = ReadBuffer(ck->index, HnswIdBlock(id));
	ItemPointerData tids[HNSW_HEAPTIDS];
	HnswElementTuple etup;
	bool		visible = false;
	int			n = 0;
	int			i;

	LockBuffer(buf, BUFFER_LOCK_SHARE);
	etup = hnsw_page_element(ck->index, BufferGetPage(buf), id);
	for (i = 0; i < HNSW_HEAPTIDS; i++)
		if (ItemPointerIsValid(&etup->heaptids[i]))
			tids[n++] = etup->heaptids[i];
	UnlockReleaseBuffer(buf);
	for (i = 0; i < n && !visible; i++)
	{
		bool		all_dead;

		visible = table_index_fetch_tuple_check(ck->heap, &tids[i],
												GetLatestSnapshot(), &all_dead);
	}
	return visible;
}

/* the walk's number of an edge's target: its index in ck->elems */
static int64
edge_target(void *arg, HnswId from, HnswId to)
{
	Checker    *ck = (Checker *) arg;
	int64		t = find_elem(ck, to);

	if (t < 0)
		violation(ck, from, "layer-0 edge to an id that is not an element");
	return t;
}

/*
 * Breadth-first walk of layer 0 from the entry point, through every edge
 * or (tree) through protected edges only; the walk's seen[] marks, per
 * element, whether it was reached.  Returns the live elements reached.
 */
static int64
walk_layer0(Checker *ck, HnswPageGraph *pg, bool tree, HnswWalk *w)
{
	int64		reached = 0;
	int64		i;

	hnsw_walk_init(w, hnsw_page_graph_core(pg), ck->nelems, tree,
				   edge_target, ck);
	hnsw_walk_from(w, ck->meta.entry, find_elem(ck, ck->meta.entry));
	for (i = 0; i < ck->nelems; i++)
		reached += w->seen[i] && !(ck->elems[i].flags & HNSW_ELEMENT_GONE);
	return reached;
}

/* reports the first element of a visible row that seen[] does not hold */
static void
report_unreached(Checker *ck, const bool *seen, int64 reached,
				 const char *what)
{
	int64		i;

	for (i = 0; i < ck->nelems; i++)
		if (!seen[i] && !(ck->elems[i].flags & HNSW_ELEMENT_GONE) &&
			holds_visible_row(ck, ck->elems[i].id))
			violation(ck, ck->elems[i].id,
					  psprintf("element of a visible row not reachable from the entry point at layer 0%s (%lld of %lld elements are unreached)",
							   what, (long long) (ck->active - reached),
							   (long long) ck->active));
}

/*
 * pass 3: every live element is reached at layer 0 from the entry point,
 * and through tree edges alone: an element only ordinary edges reach is
 * lost when a later insert prunes them, so that is a violation too (of
 * what the build, inserts and VACUUM maintain, src/README.md section 4).
 * Returns the live elements reached.
 */
static int64
check_reachable(Checker *ck, HnswPageGraph *pg)
{
	HnswWalk	w;
	int64		reached;
	int64		treached;

	if (ck->meta.entry == HNSW_INVALID_ID)
		return 0;
	reached = walk_layer0(ck, pg, false, &w);
	if (reached < ck->active)
		report_unreached(ck, w.seen, reached, "");
	hnsw_walk_end(&w);
	pfree(w.order);
	treached = walk_layer0(ck, pg, true, &w);
	if (treached < ck->active)
		report_unreached(ck, w.seen, treached, " through tree edges");
	hnsw_walk_end(&w);
	pfree(w.order);
	return reached;
}

/*
 * A later round of the table pass: the heap TIDs in blocks lo and up, of
 * one element of the index (pass 1 checked the pages already).
 */
static void
collect_tids(void *arg, Page page, HnswId id, HnswElementTuple etup)
{
	Checker    *ck = (Checker *) arg;

	if (ItemIdGetLength(PageGetItemId(page, HnswIdOffset(id))) == ck->esize)
		note_tids(ck, id, etup);
}

/*
 * whether element id holds exactly the vector ck->vec (under a code: the
 * same code, with ck->vec within its error bound)
 */
static bool
element_has_vector(Checker *ck, HnswId id)
{
	Buffer		buf = ReadBuffer(ck->index, HnswIdBlock(id));
	Page		page;
	HnswElementTuple etup;
	bool		same;

	LockBuffer(buf, BUFFER_LOCK_SHARE);
	page = BufferGetPage(buf);
	etup = hnsw_page_element(ck->index, page, id);
	if (ItemIdGetLength(PageGetItemId(page, HnswIdOffset(id))) != ck->esize)
	{
		violation(ck, id, "element tuple size does not match the dimensions");
		same = false;
	}
	else
		same = hnsw_code_holds(&ck->codec, etup->vec, etup->centroid,
							   ck->vec, ck->code);
	UnlockReleaseBuffer(buf);
	return same;
}

/*
 * table_index_build_range_scan callback of the table pass: one row the
 * index should hold (NULL vectors, and zero vectors under cosine, it does
 * not), under its TID and with the value the index would get.  Its TID
 * must be held by an element whose vector is the row's, as the index
 * stores it (normalised for cosine), bit for bit.
 */
static void
check_row(Relation index, ItemPointer tid, Datum *values, bool *isnull,
		  bool tupleIsAlive, void *state)
{
	Checker    *ck = (Checker *) state;
	MemoryContext old;
	Vector	   *v;
	int64		lo = 0;
	int64		hi = ck->ntids;
	HnswId		other = HNSW_INVALID_ID;

	if (isnull[0])
		return;
	old = MemoryContextSwitchTo(ck->rowcxt);
	v = DatumGetVector(values[0]);
	/* a vector of other dimensions cannot be in the index at all */
	if (v->dim == ck->meta.dim &&
		!hnsw_prepare_vector(&ck->info, PointerGetDatum(v), ck->vec, ck->meta.dim))
	{
		MemoryContextSwitchTo(old);
		MemoryContextReset(ck->rowcxt);
		return;
	}
	while (lo < hi)
	{
		int64		mid = lo + (hi - lo) / 2;

		if (ItemPointerCompare(&ck->tids[mid].tid, tid) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	/* a TID held twice is accepted if either element has the vector */
	for (; lo < ck->ntids && ItemPointerEquals(&ck->tids[lo].tid, tid); lo++)
	{
		if (v->dim == ck->meta.dim && element_has_vector(ck, ck->tids[lo].id))
		{
			ck->table_rows++;
			MemoryContextSwitchTo(old);
			MemoryContextReset(ck->rowcxt);
			return;
		}
		other = ck->tids[lo].id;
	}
	if (other == HNSW_INVALID_ID)
		ereport(ERROR,
				(errcode(ERRCODE_INDEX_CORRUPTED),
				 errmsg("index \"%s\" has no entry for row (%u,%u) of table \"%s\"",
						RelationGetRelationName(ck->index),
						ItemPointerGetBlockNumber(tid),
						(unsigned) ItemPointerGetOffsetNumber(tid),
						RelationGetRelationName(ck->heap)),
				 errhint("REINDEX the index.")));
	ereport(ERROR,
			(errcode(ERRCODE_INDEX_CORRUPTED),
			 errmsg("index \"%s\" holds another vector for row (%u,%u) of table \"%s\" (element at block %u, offset %u)",
					RelationGetRelationName(ck->index),
					ItemPointerGetBlockNumber(tid),
					(unsigned) ItemPointerGetOffsetNumber(tid),
					RelationGetRelationName(ck->heap),
					HnswIdBlock(other), (unsigned) HnswIdOffset(other)),
			 errhint("REINDEX the index.")));
}

/*
 * Refuses the table pass where the index need not hold every row its
 * snapshot sees: an index that is not valid (a failed CREATE INDEX
 * CONCURRENTLY), and one built over broken HOT chains while transactions
 * that can see the older row versions may still run (as the planner
 * refuses to use such an index).
 */
static void
check_table_pass_allowed(Checker *ck)
{
	if (!ck->index->rd_index->indisvalid)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cannot check that index \"%s\" holds every row: it is not valid",
						RelationGetRelationName(ck->index)),
				 errhint("REINDEX the index, or drop it.")));
	if (ck->index->rd_index->indcheckxmin &&
		!TransactionIdPrecedes(HeapTupleHeaderGetXmin(ck->index->rd_indextuple->t_data),
							   TransactionXmin))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cannot check that index \"%s\" holds every row yet",
						RelationGetRelationName(ck->index)),
				 errdetail("The index is not usable by snapshots as old as this transaction's."),
				 errhint("Run the check in a later transaction.")));
}

/*
 * The table pass, after the structural passes: round by round, sort the
 * TIDs collected for the round's heap blocks [lo, hi) and scan those
 * blocks of the table; then collect the next range's TIDs from the index.
 * The first round's TIDs were collected by pass 1.
 */
static void
check_table(Checker *ck, BlockNumber nblocks)
{
	IndexInfo  *indexInfo = BuildIndexInfo(ck->index);

	/* an MVCC snapshot: the rows visible now (see the range scan) */
	indexInfo->ii_Concurrent = true;
	ck->vec = palloc(sizeof(float) * Max(ck->meta.dim, 1));
	ck->code = palloc(hnsw_code_scratch_bytes(&ck->codec));
	ck->rowcxt = AllocSetContextCreate(CurrentMemoryContext, "hnsw check row",
									   ALLOCSET_SMALL_SIZES);
	for (;;)
	{
		BlockNumber heapblocks = RelationGetNumberOfBlocks(ck->heap);
		BlockNumber hi = Min(ck->hi, heapblocks);
		BlockNumber blkno;

		qsort(ck->tids, ck->ntids, sizeof(CheckTid), tid_cmp);
		elog(DEBUG1, "hnsw_index_check: table pass over blocks %u to %u of \"%s\" with %lld index entries",
			 ck->lo, hi, RelationGetRelationName(ck->heap),
			 (long long) ck->ntids);
		/* the range is clamped: a scan past the end would wrap to block 0 */
		if (ck->lo < hi)
			(void) table_index_build_range_scan(ck->heap, ck->index, indexInfo,
												false, false, false,
												ck->lo, hi - ck->lo,
												check_row, ck, NULL);
		if (ck->hi >= heapblocks)
			break;
		ck->lo = ck->hi;
		ck->hi = InvalidBlockNumber;
		ck->ntids = 0;
		for (blkno = HNSW_FIRST_GRAPH_BLOCK(&ck->meta); blkno < nblocks; blkno++)
		{
			CHECK_FOR_INTERRUPTS();
			hnsw_page_walk_elements(ck->index, blkno, NULL, collect_tids, ck);
		}
	}
	MemoryContextDelete(ck->rowcxt);
}

/*
 * hnsw_index_check(index regclass, heapallindexed boolean DEFAULT false):
 * on a sound index, the counts it verified, and with heapallindexed the
 * number of table rows found in the index (table_rows; NULL without).  A
 * database still on version 0.2.0 of the SQL script calls it with one
 * argument and six OUT columns, and gets what 0.2.0 returned.
 */
Datum
hnsw_index_check(PG_FUNCTION_ARGS)
{
	Oid			indexoid = PG_GETARG_OID(0);
	bool		heapallindexed = PG_NARGS() > 1 && PG_GETARG_BOOL(1);
	Checker		ck;
	HnswIndexInfo info;
	HnswPageGraph *pg;
	HnswEdge   *list;
	BlockNumber nblocks;
	BlockNumber blkno;
	TupleDesc	tupdesc;
	Datum		values[HNSW_CHECK_NATTS];
	bool		nulls[HNSW_CHECK_NATTS] = {0};
	int64		reached;
	int64		i;
	LOCKMODE	lockmode = RecoveryInProgress() ? AccessShareLock : ShareLock;
	MemoryContext ctx;
	MemoryContext old;
	HeapTuple	result;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	if (tupdesc->natts != HNSW_CHECK_NATTS &&
		tupdesc->natts != HNSW_CHECK_NATTS_0_2_0)
		elog(ERROR, "hnsw_index_check: unexpected number of result columns: %d",
			 tupdesc->natts);
	ctx = AllocSetContextCreate(CurrentMemoryContext, "hnsw check",
								ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(ctx);
	memset(&ck, 0, sizeof(ck));
	/* privileges and the kind of index first; then the table, then the index */
	ck.index = hnsw_open_for_inspection(indexoid, lockmode, &ck.heap,
										"hnsw_index_check");
	hnsw_read_meta(ck.index, &ck.meta);
	hnsw_get_info(ck.index, &info);
	hnsw_codec_init(&ck.codec, &info, ck.meta.storage, ck.meta.dim);
	hnsw_codec_load_centroids(ck.index, &ck.meta, &ck.codec);
	ck.esize = HNSW_ELEMENT_SIZE(ck.meta.storage, ck.meta.dim);
	ck.cap = ck.ntcap = 1024;
	ck.elems = palloc(sizeof(CheckElem) * ck.cap);
	ck.ntups = palloc(sizeof(HnswId) * ck.ntcap);
	ck.heapallindexed = heapallindexed;
	if (heapallindexed)
	{
		check_table_pass_allowed(&ck);
		ck.info = info;
		ck.lo = 0;
		ck.hi = InvalidBlockNumber;
		ck.maxtids = Max((int64) maintenance_work_mem * 1024 / (int64) sizeof(CheckTid),
						 4 * MaxHeapTuplesPerPage);
		ck.tidcap = Min(1024, ck.maxtids);
		ck.tids = palloc(sizeof(CheckTid) * ck.tidcap);
	}

	nblocks = RelationGetNumberOfBlocks(ck.index);
	for (blkno = HNSW_FIRST_GRAPH_BLOCK(&ck.meta); blkno < nblocks; blkno++)
	{
		CHECK_FOR_INTERRUPTS();
		hnsw_page_walk_items(ck.index, blkno, NULL, collect_item, &ck);
	}
	check_ownership(&ck);
	check_entry(&ck);

	ck.metric = info.metric;
	pg = hnsw_page_graph_open(ck.index, &info, &ck.meta);
	list = palloc(sizeof(HnswEdge) * 2 * ck.meta.m);
	for (i = 0; i < ck.nelems; i++)
	{
		CHECK_FOR_INTERRUPTS();
		if (!(ck.elems[i].flags & (HNSW_ELEMENT_FREE | HNSW_ELEMENT_DELETED)))
			check_lists(&ck, pg, &ck.elems[i], list);
	}
	reached = check_reachable(&ck, pg);
	hnsw_page_graph_close(pg);
	if (heapallindexed)
		check_table(&ck, nblocks);
	index_close(ck.index, lockmode);
	table_close(ck.heap, AccessShareLock);

	values[0] = Int64GetDatum(ck.nelems);
	values[1] = Int64GetDatum(ck.active);
	values[2] = Int64GetDatum(ck.nelems - ck.active);
	values[3] = Int64GetDatum(ck.edges);
	values[4] = Int64GetDatum(reached);
	values[5] = Int64GetDatum(nblocks);
	if (tupdesc->natts == HNSW_CHECK_NATTS)
	{
		values[6] = Int64GetDatum(ck.table_rows);
		nulls[6] = !heapallindexed;
	}
	MemoryContextSwitchTo(old);
	result = heap_form_tuple(tupdesc, values, nulls);
	MemoryContextDelete(ctx);
	PG_RETURN_DATUM(HeapTupleGetDatum(result));
}
