/*
 * hnsw_rewrite.c
 *		VACUUM's side of the storage: reading which elements of a page stay,
 *		and rewriting element tuples in place (dropping dead heap TIDs,
 *		marking elements DELETED and then FREE), one WAL record per page,
 *		with the page's free-space-map entry refreshed.
 *
 * hnsw_vacuum.c decides what happens to each element (its passes, the sets
 * of removed and staying elements); what the flags and TIDs of an element
 * tuple mean, and how a page is locked, logged and recorded, is here.
 */
#include "postgres.h"

#include "storage/bufmgr.h"
#include "storage/freespace.h"
#include "utils/rel.h"

#include "hnsw.h"

/*
 * Runs visit on every element tuple of blkno under an exclusive lock, in
 * one WAL record if any call changed its tuple, and records in the free
 * space map the highest level of element the page's FREE slots can then
 * take (hnsw_fsm_value; the map is not crash-safe, so every pass that sees
 * the page refreshes it).  m and esize give the index's tuple sizes.
 * Holds no lock or pin on entry or on return.
 */
void
hnsw_rewrite_elements(Relation index, BlockNumber blkno,
					  BufferAccessStrategy strategy, int m, Size esize,
					  HnswElementRewrite visit, void *arg)
{
	Page		page;
	Buffer		buf = hnsw_read_graph_page(index, blkno, strategy,
										   BUFFER_LOCK_EXCLUSIVE, &page);
	HnswWal    *state;
	OffsetNumber maxoff;
	OffsetNumber off;
	bool		changed = false;
	int			level;

	if (buf == InvalidBuffer)
		return;
	page = hnsw_wal_begin(index, buf, false, &state);
	maxoff = hnsw_page_max_offset(index, page, blkno);
	for (off = FirstOffsetNumber; off <= maxoff; off++)
	{
		HnswElementTuple etup = hnsw_item_element(index, blkno, page, off);

		if (etup == NULL)
			continue;
		changed |= visit(arg, HnswIdMake(blkno, off), etup);
	}
	if (changed)
		hnsw_wal_finish(state);
	else
		hnsw_wal_abort(state);
	level = hnsw_page_reuse_level(index, BufferGetPage(buf), blkno, m, esize);
	UnlockReleaseBuffer(buf);
	RecordPageWithFreeSpace(index, blkno, hnsw_fsm_value(level));
}

/* what hnsw_staying_elements collects, element by element */
typedef struct StayingElements
{
	HnswId	   *ids;
	int		   *levels;
	int			n;
} StayingElements;

static void
collect_staying(void *arg, Page page, HnswId id, HnswElementTuple etup)
{
	StayingElements *st = (StayingElements *) arg;

	if (etup->flags & (HNSW_ELEMENT_FREE | HNSW_ELEMENT_DELETED))
		return;
	Assert(st->n < HNSW_MAX_ITEMS_PER_PAGE);
	st->ids[st->n] = id;
	st->levels[st->n++] = etup->level;
}

/*
 * The elements of blkno that stay (neither DELETED nor FREE) and their
 * levels, read under a share lock through strategy: at most
 * HNSW_MAX_ITEMS_PER_PAGE, the size ids and levels must have
 * (hnsw_page_max_offset bounds the walk).  Holds no lock or pin on entry
 * or on return.
 */
int
hnsw_staying_elements(Relation index, BlockNumber blkno,
					  BufferAccessStrategy strategy, HnswId *ids, int *levels)
{
	StayingElements st = {ids, levels, 0};

	hnsw_page_walk_elements(index, blkno, strategy, collect_staying, &st);
	return st.n;
}

/*
 * Drops from etup the heap TIDs dead reports dead (counting them in
 * *removed), marks the element DELETED when none is left, and clears a
 * stale DEAD hint where live TIDs are left (the element is a result again).
 * Sets *changed if the tuple changed; returns the number of live TIDs.
 */
int
hnsw_element_drop_tids(HnswElementTuple etup,
					   bool (*dead) (ItemPointer tid, void *state),
					   void *state, double *removed, bool *changed)
{
	int			live = 0;
	int			i;

	for (i = 0; i < HNSW_HEAPTIDS; i++)
	{
		if (!ItemPointerIsValid(&etup->heaptids[i]))
			continue;
		if (dead(&etup->heaptids[i], state))
		{
			ItemPointerSetInvalid(&etup->heaptids[i]);
			(*removed)++;
			*changed = true;
		}
		else
			live++;
	}
	if (live == 0 && !(etup->flags & HNSW_ELEMENT_DELETED))
	{
		etup->flags |= HNSW_ELEMENT_DELETED;
		*changed = true;
	}
	if (live > 0 && (etup->flags & HNSW_ELEMENT_DEAD))
	{
		etup->flags &= ~HNSW_ELEMENT_DEAD;
		*changed = true;
	}
	return live;
}

/* true if etup is FREE: its slot can be reused */
bool
hnsw_element_is_free(HnswElementTuple etup)
{
	return (etup->flags & HNSW_ELEMENT_FREE) != 0;
}

/* true if etup is DELETED (or FREE): no row of the table is in it */
bool
hnsw_element_is_deleted(HnswElementTuple etup)
{
	return (etup->flags & HNSW_ELEMENT_DELETED) != 0;
}

/* makes a DELETED element FREE, for inserts to overwrite */
void
hnsw_element_set_free(HnswElementTuple etup)
{
	etup->flags = HNSW_ELEMENT_DELETED | HNSW_ELEMENT_FREE;
}
