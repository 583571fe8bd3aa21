/*
 * hnsw_check.c
 *		hnsw_index_check(regclass): verifies every invariant of an index and
 *		raises an ERROR naming the first violation (block, offset, what).
 *
 * Runs under ShareLock on the index, so no insert or VACUUM changes it
 * meanwhile (scans go on).  A hot standby grants no ShareLock: there it
 * runs under AccessShareLock, and WAL replay may change the index while it
 * runs, so a check during replay of heavy writes can report a change in
 * flight as a violation (run it again, or when the primary is quiet).
 * Three passes: collect and check every tuple;
 * check every element's neighbour lists; walk layer 0 from the entry
 * point and require every live element to be reached.
 */
#include "postgres.h"

#include <math.h>

#include "access/htup_details.h"
#include "access/relation.h"
#include "access/table.h"
#include "access/tableam.h"
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

PG_FUNCTION_INFO_V1(hnsw_index_check);

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
	Relation	heap;			/* for the visibility of unreached rows */
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

	if (len != HNSW_ELEMENT_SIZE(ck->meta.dim))
		violation(ck, id, "element tuple size does not match the dimensions");
	if (etup->level > ck->meta.max_level)
		violation(ck, id, "element level above the index's maximum");
	if (etup->flags & ~HNSW_ELEMENT_GONE)
		violation(ck, id, "element has unknown flags");
	if ((etup->flags & HNSW_ELEMENT_FREE) && !(etup->flags & HNSW_ELEMENT_DELETED))
		violation(ck, id, "free element not marked deleted");
	if (etup->flags & HNSW_ELEMENT_FREE)
		return;
	for (i = 0; i < ck->meta.dim; i++)
		if (!isfinite(etup->vec[i]))
			violation(ck, id, "element vector holds NaN or infinity");
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

/* pass 1 on one page: every item is a well-formed hnsw tuple */
static void
collect_page(Checker *ck, BlockNumber blkno)
{
	Page		page;
	Buffer		buf = hnsw_read_graph_page(ck->index, blkno, &page);
	OffsetNumber off;
	OffsetNumber maxoff;

	if (buf == InvalidBuffer)
		return;
	maxoff = PageGetMaxOffsetNumber(page);
	if (maxoff > HNSW_MAX_ITEMS_PER_PAGE)
		hnsw_corrupt(ck->index, blkno, 0, "too many items on page");
	for (off = FirstOffsetNumber; off <= maxoff; off++)
	{
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
		}
		else if (type == HNSW_TUPLE_NEIGHBORS)
		{
			(void) hnsw_page_neighbors(ck->index, page, id, ck->meta.m);
			add_ntup(ck, id);
		}
		else if (type != HNSW_TUPLE_FREE_NEIGHBORS)
			violation(ck, id, "item of unknown type");
	}
	UnlockReleaseBuffer(buf);
}

/* index of id in the element array, or -1 */
static int64
find_elem(Checker *ck, HnswId id)
{
	int64		lo = 0;
	int64		hi = ck->nelems - 1;

	while (lo <= hi)
	{
		int64		mid = (lo + hi) / 2;

		if (ck->elems[mid].id == id)
			return mid;
		if (ck->elems[mid].id < id)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return -1;
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
		int64		lo = 0;
		int64		hi = ck->nntups - 1;
		int64		found = -1;

		while (lo <= hi && found < 0)
		{
			int64		mid = (lo + hi) / 2;

			if (ck->ntups[mid] == e->nbrs)
				found = mid;
			else if (ck->ntups[mid] < e->nbrs)
				lo = mid + 1;
			else
				hi = mid - 1;
		}
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
		int			n = pg->g.ops->neighbors(&pg->g, e->id, level, list);
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
			/* sorted, with the mark bits masked (hnsw_graph.h) */
			if (isnan(list[i].dist) ||
				(i > 0 && hnsw_edge_dist(list[i].dist, false) <
				 hnsw_edge_dist(list[i - 1].dist, false)))
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

/* pass 3: breadth-first walk of layer 0; returns live elements reached */
static int64
check_reachable(Checker *ck, HnswPageGraph *pg, HnswEdge *list)
{
	bool	   *seen = palloc_extended(Max(ck->nelems, 1), MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
	int64	   *queue = palloc_extended(sizeof(int64) * Max(ck->nelems, 1), MCXT_ALLOC_HUGE);
	int64		head = 0;
	int64		tail = 0;
	int64		reached = 0;
	int64		i;

	if (ck->meta.entry == HNSW_INVALID_ID)
		return 0;
	queue[tail++] = find_elem(ck, ck->meta.entry);
	seen[queue[0]] = true;
	while (head < tail)
	{
		CheckElem  *e = &ck->elems[queue[head++]];
		int			n = pg->g.ops->neighbors(&pg->g, e->id, 0, list);

		CHECK_FOR_INTERRUPTS();
		reached += !(e->flags & HNSW_ELEMENT_GONE);
		for (i = 0; i < n; i++)
		{
			int64		t = find_elem(ck, list[i].id);

			if (t < 0)
				violation(ck, e->id, "layer-0 edge to an id that is not an element");
			if (!seen[t])
			{
				seen[t] = true;
				queue[tail++] = t;
			}
		}
	}
	if (reached < ck->active && ck->metric != HNSW_METRIC_IP)
	{
		for (i = 0; i < ck->nelems; i++)
			if (!seen[i] && !(ck->elems[i].flags & HNSW_ELEMENT_GONE) &&
				holds_visible_row(ck, ck->elems[i].id))
				violation(ck, ck->elems[i].id,
						  psprintf("element of a visible row not reachable from the entry point at layer 0 (%lld of %lld elements are unreached)",
								   (long long) (ck->active - reached),
								   (long long) ck->active));
	}
	return reached;
}

/*
 * hnsw_index_check(regclass): on a sound index, the counts it verified.
 */
Datum
hnsw_index_check(PG_FUNCTION_ARGS)
{
	Oid			indexoid = PG_GETARG_OID(0);
	Checker		ck;
	Oid			heapoid;
	HnswIndexInfo info;
	HnswPageGraph pg;
	HnswEdge   *list;
	BlockNumber nblocks;
	BlockNumber blkno;
	TupleDesc	tupdesc;
	Datum		values[6];
	bool		nulls[6] = {0};
	int64		reached;
	int64		i;
	LOCKMODE	lockmode = RecoveryInProgress() ? AccessShareLock : ShareLock;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	memset(&ck, 0, sizeof(ck));
	/* the table first, as everywhere else; errors for a non-index follow */
	heapoid = IndexGetRelation(indexoid, true);
	if (OidIsValid(heapoid))
		ck.heap = table_open(heapoid, AccessShareLock);
	ck.index = hnsw_open_for_inspection(indexoid, lockmode);
	hnsw_read_meta(ck.index, &ck.meta);
	ck.cap = ck.ntcap = 1024;
	ck.elems = palloc(sizeof(CheckElem) * ck.cap);
	ck.ntups = palloc(sizeof(HnswId) * ck.ntcap);

	nblocks = RelationGetNumberOfBlocks(ck.index);
	for (blkno = HNSW_METAPAGE_BLKNO + 1; blkno < nblocks; blkno++)
	{
		CHECK_FOR_INTERRUPTS();
		collect_page(&ck, blkno);
	}
	check_ownership(&ck);
	check_entry(&ck);

	hnsw_get_info(ck.index, &info);
	ck.metric = info.metric;
	hnsw_page_graph_init(&pg, ck.index, &info, &ck.meta);
	list = palloc(sizeof(HnswEdge) * 2 * ck.meta.m);
	for (i = 0; i < ck.nelems; i++)
	{
		CHECK_FOR_INTERRUPTS();
		if (!(ck.elems[i].flags & (HNSW_ELEMENT_FREE | HNSW_ELEMENT_DELETED)))
			check_lists(&ck, &pg, &ck.elems[i], list);
	}
	reached = check_reachable(&ck, &pg, list);
	hnsw_page_graph_release(&pg);
	relation_close(ck.index, lockmode);
	table_close(ck.heap, AccessShareLock);

	values[0] = Int64GetDatum(ck.nelems);
	values[1] = Int64GetDatum(ck.active);
	values[2] = Int64GetDatum(ck.nelems - ck.active);
	values[3] = Int64GetDatum(ck.edges);
	values[4] = Int64GetDatum(reached);
	values[5] = Int64GetDatum(nblocks);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}
