/*
 * hnsw_place.c
 *		Where new tuples go: a slot VACUUM freed, the page being filled, or
 *		a new page.  The metapage's insert_page hint, which tracks the
 *		page being filled, is written by hnsw_meta.c.
 *
 * Every function here holds at most one graph-page lock at a time, except
 * during the first insert into an empty index, whose caller holds the
 * metapage lock around the placement (metapage before graph page, never
 * the reverse: hnsw_meta_place_first).
 */
#include "postgres.h"

#include "storage/bufmgr.h"
#include "storage/freespace.h"
#include "storage/lmgr.h"
#include "storage/smgr.h"
#include "utils/rel.h"

#include "hnsw.h"

/*
 * Builds an element tuple for vec (stored as codec says) at level, with
 * tid; with vec NULL, its vector area is left zero for the caller to fill
 * (a build that already holds the code).
 */
HnswElementTuple
hnsw_form_element(const HnswCodec *codec, const float *vec, int level,
				  ItemPointer tid, Size *size)
{
	HnswElementTuple etup;
	int			i;

	*size = HNSW_ELEMENT_SIZE(codec->storage, codec->dim);
	etup = palloc0(*size);
	etup->type = HNSW_TUPLE_ELEMENT;
	etup->level = level;
	for (i = 0; i < HNSW_HEAPTIDS; i++)
		ItemPointerSetInvalid(&etup->heaptids[i]);
	if (tid)
		etup->heaptids[0] = *tid;
	if (vec)
		etup->centroid = hnsw_encode(codec, vec, etup->vec);
	return etup;
}

/* builds a neighbour tuple holding lists[l][0..counts[l]) for l <= level */
HnswNeighborTuple
hnsw_form_neighbors(int m, int level, HnswEdge **lists, const int *counts,
					Size *size)
{
	HnswNeighborTuple ntup;
	int			l;

	*size = HNSW_NEIGHBOR_SIZE(m, level);
	ntup = palloc0(*size);
	ntup->type = HNSW_TUPLE_NEIGHBORS;
	ntup->level = level;
	for (l = 0; l <= level && lists; l++)
		memcpy(ntup->edges + HNSW_LIST_OFFSET(m, l), lists[l],
			   sizeof(HnswEdge) * counts[l]);
	return ntup;
}

/*
 * The placement rules, shared by appends here and the build's bulk layout
 * (hnsw_build.c), which decides ids before it writes a page.
 *
 * A page with free bytes and nused items can take nitems more items of
 * space bytes (hnsw_item_space sizes, line pointers included) if both the
 * bytes and the item limit allow.
 */
bool
hnsw_room_for(Size free, int nused, Size space, int nitems)
{
	return free >= space && nused + nitems <= HNSW_MAX_ITEMS_PER_PAGE;
}

/*
 * An element and its neighbour tuple (raw tuple sizes) go on one page when
 * both fit an empty page; else each goes alone, neighbour tuple first.
 */
bool
hnsw_place_together(Size esize, Size nsize)
{
	return hnsw_item_space(esize) + hnsw_item_space(nsize) <= hnsw_page_capacity();
}

/* whether an initialised graph page can take nitems more of space bytes */
static bool
page_has_room(Page page, Size space, int nitems)
{
	return hnsw_room_for(PageGetExactFreeSpace(page),
						 PageGetMaxOffsetNumber(page), space, nitems);
}

/*
 * The last block of the index, exclusively locked, if it is an initialised
 * graph page other than tried with room for the items; else InvalidBuffer.
 *
 * Inserts that find the hint page full at the same moment would each add
 * a page, and all but the last would keep the one element placed there:
 * under concurrent churn a third of the pages appended were left nearly
 * empty.  Taking and releasing the relation extension lock first waits
 * for an extension in progress, so that a backend that lost the race
 * fills the page the winner added instead of adding its own.  A page
 * still new is skipped, not taken: its extender may not have locked it
 * yet, and would initialise it over our tuples.
 */
static Buffer
last_page_with_room(Relation index, BlockNumber tried, Size space, int nitems)
{
	BlockNumber nblocks;
	BlockNumber last;
	Buffer		buf;
	Page		page;

	if (!RELATION_IS_LOCAL(index))
	{
		LockRelationForExtension(index, ExclusiveLock);
		UnlockRelationForExtension(index, ExclusiveLock);
	}
	nblocks = RelationGetNumberOfBlocks(index);
	if (nblocks <= HNSW_METAPAGE_BLKNO + 1)
		return InvalidBuffer;
	last = nblocks - 1;
	if (last == tried)
		return InvalidBuffer;
	buf = ReadBuffer(index, last);
	LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
	page = BufferGetPage(buf);
	/* a build that trained centroids wrote graph pages after them */
	if (!PageIsNew(page) &&
		HnswPageGetOpaque(page)->kind != HNSW_PAGE_CENTROIDS)
	{
		hnsw_check_page(index, page, last);
		if (page_has_room(page, space, nitems))
			return buf;
	}
	UnlockReleaseBuffer(buf);
	return InvalidBuffer;
}

/*
 * Returns an exclusively locked buffer with room for items of the given
 * total space: the hinted page if it has room, else the index's last page
 * if another backend has just added it and it has room, else a new page
 * (*isnew).
 */
static Buffer
buffer_with_room(Relation index, BlockNumber hint, Size space, int nitems,
				 bool *isnew)
{
	Buffer		buf;

	*isnew = false;
	if (hint != InvalidBlockNumber &&
		hint < RelationGetNumberOfBlocks(index))
	{
		Page		page;

		buf = ReadBuffer(index, hint);
		LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
		page = BufferGetPage(buf);
		if (PageIsNew(page))
		{
			*isnew = true;		/* extended, never initialised: take it */
			return buf;
		}
		hnsw_check_page(index, page, hint);
		if (page_has_room(page, space, nitems))
			return buf;
		UnlockReleaseBuffer(buf);
	}
	buf = last_page_with_room(index, hint, space, nitems);
	if (buf != InvalidBuffer)
		return buf;
	*isnew = true;
	return hnsw_new_buffer(index, MAIN_FORKNUM);
}

/* PageAddItem that treats failure as the bug it would be */
static OffsetNumber
add_item(Relation index, Page page, Item item, Size size)
{
	OffsetNumber off = PageAddItem(page, item, size, InvalidOffsetNumber,
								   false, false);

	if (off == InvalidOffsetNumber)
		elog(ERROR, "failed to add tuple to index \"%s\"",
			 RelationGetRelationName(index));
	return off;
}

/*
 * Appends ntup then etup (either may be NULL) to one page in one WAL
 * record; when both, etup->nbrs is set to ntup's id.  Updates *hint to the
 * page used.  Returns the id of the last tuple added.
 */
static HnswId
append_tuples(Relation index, BlockNumber *hint, HnswNeighborTuple ntup,
			  Size nsize, HnswElementTuple etup, Size esize)
{
	Size		space = ((ntup ? hnsw_item_space(nsize) : 0) +
						 (etup ? hnsw_item_space(esize) : 0));
	bool		isnew;
	Buffer		buf = buffer_with_room(index, *hint, space,
									   (ntup != NULL) + (etup != NULL), &isnew);
	BlockNumber blkno = BufferGetBlockNumber(buf);
	HnswWal    *state;
	Page		page = hnsw_wal_begin(index, buf, isnew, &state);
	OffsetNumber off = InvalidOffsetNumber;

	if (isnew)
		hnsw_init_page(page, HNSW_PAGE_GRAPH);
	if (ntup)
		off = add_item(index, page, (Item) ntup, nsize);
	if (etup)
	{
		if (ntup)
			etup->nbrs = HnswIdMake(blkno, off);
		off = add_item(index, page, (Item) etup, esize);
	}
	hnsw_wal_finish(state);
	UnlockReleaseBuffer(buf);
	*hint = blkno;
	return HnswIdMake(blkno, off);
}

/*
 * Stores a new element for vec at level with its lists (NULL: empty) and
 * heap TID: in a FREE slot if the free space map names one that fits, else
 * appended (*hint: the page to try first, then the page last used).  The
 * one way a new element reaches the pages, for the first insert into an
 * empty index and every later one.  Returns its id.
 */
HnswId
hnsw_store_new_element(Relation index, const HnswCodec *codec, int m,
					   const float *vec, int level, HnswEdge **lists,
					   const int *counts, ItemPointer tid, BlockNumber *hint)
{
	Size		esize;
	Size		nsize;
	HnswElementTuple etup = hnsw_form_element(codec, vec, level, tid, &esize);
	HnswNeighborTuple ntup = hnsw_form_neighbors(m, level, lists, counts, &nsize);
	HnswId		id;

	id = hnsw_reuse_slot(index, m, etup, esize, ntup, nsize);
	if (id == HNSW_INVALID_ID)
		id = hnsw_place_element(index, hint, etup, esize, ntup, nsize);
	pfree(etup);
	pfree(ntup);
	return id;
}

/*
 * Places a new element and its neighbour tuple: on one page when both fit
 * on an empty page, else each on its own.  *hint is the page to try first
 * and becomes the page last used.  Returns the element's id.
 */
HnswId
hnsw_place_element(Relation index, BlockNumber *hint, HnswElementTuple etup,
				   Size esize, HnswNeighborTuple ntup, Size nsize)
{
	if (hnsw_place_together(esize, nsize))
		return append_tuples(index, hint, ntup, nsize, etup, esize);
	etup->nbrs = append_tuples(index, hint, ntup, nsize, NULL, 0);
	return append_tuples(index, hint, NULL, 0, etup, esize);
}

/*
 * Free space map values.  The map records, per page, the highest level of
 * element that one of the page's FREE slots can take, so that a lookup for
 * a level-L element names only pages where it fits, whatever the levels of
 * the slots there.  A level is stored as (level + 1) steps of the map's own
 * resolution (BLCKSZ / 256 bytes, one category), 0 being "nothing
 * reusable"; the map's round-down when recording and round-up when
 * searching agree on exact multiples.  Values recorded by older versions
 * (BLCKSZ / 4 for "some FREE slot") read as a level above any element's:
 * such a page is visited once and then recorded exactly.
 */
#define HNSW_FSM_STEP		(BLCKSZ / 256)

/* a FREE slot named by the map may be stale: pages tried per insert */
#define HNSW_REUSE_ATTEMPTS	16

/* pages passed over per insert because they suit higher levels better */
#define HNSW_REUSE_SKIPS	2

/* the free space map value of a page that can take elements up to level */
Size
hnsw_fsm_value(int level)
{
	return level < 0 ? 0 : (Size) (level + 1) * HNSW_FSM_STEP;
}

/*
 * The highest level whose neighbour tuple fits in room bytes, -1 if none.
 * PageIndexTupleOverwrite resizes a tuple when its MAXALIGNed new size is
 * at most its MAXALIGNed old size plus the page's free space, which is
 * what room holds.
 */
static int
level_for_room(int m, Size room)
{
	int			level = -1;

	while (level + 1 < HNSW_GRAPH_MAX_LEVELS &&
		   MAXALIGN(HNSW_NEIGHBOR_SIZE(m, level + 1)) <= room)
		level++;
	return level;
}

/*
 * What scan_free_slots finds on a page about its usable FREE slots.  The
 * level a page can take depends only on its free space and its longest
 * such neighbour tuple, so the two longest are kept: after a slot is
 * taken, the other one tells what the page can still take.
 */
typedef struct HnswSlotScan
{
	Size		freespace;		/* the page's free space */
	Size		maxlen;			/* longest neighbour tuple (MAXALIGNed), 0 if
								 * no slot */
	OffsetNumber maxslot;		/* the element slot that has it */
	Size		nextlen;		/* longest of the other slots', 0 if none */
	OffsetNumber best;			/* slot chosen for the new element, or
								 * InvalidOffsetNumber */
	Size		bestlen;		/* its neighbour tuple's length */
} HnswSlotScan;

/*
 * Walks the FREE element slots of a locked page that a new element can
 * take: an element tuple of size esize whose neighbour tuple is on the
 * same page (one on another page is never reused).  Shrinking a neighbour
 * tuple in place always works; growing it needs the page's free space,
 * which all slots share.
 *
 * With nsize > 0, also chooses the slot for a neighbour tuple of nsize
 * bytes: one of exactly that size first (nothing moves), else the smallest
 * that shrinks, else the largest that can grow.  A level-0 element thus
 * takes a higher slot only when the page has no level-0 one, and the
 * space it gives back lets another slot of the page grow later.  The
 * choice and scan_level use the same rule, so a page whose level admits
 * an element always has a slot for it.
 *
 * A FREE element that still holds a heap TID raises an ERROR: its flags
 * were damaged while its row lives, and overwriting it would lose the row.
 */
static void
scan_free_slots(Relation index, Page page, BlockNumber blkno, Size esize,
				Size nsize, HnswSlotScan *scan)
{
	OffsetNumber maxoff = hnsw_page_max_offset(index, page, blkno);
	OffsetNumber off;

	memset(scan, 0, sizeof(HnswSlotScan));
	scan->freespace = PageGetExactFreeSpace(page);
	scan->maxslot = scan->best = InvalidOffsetNumber;
	for (off = FirstOffsetNumber; off <= maxoff; off++)
	{
		ItemId		iid = PageGetItemId(page, off);
		HnswElementTuple etup;
		Size		nlen;

		if (!ItemIdIsNormal(iid) || ItemIdGetLength(iid) != esize ||
			hnsw_item_type(index, blkno, page, off) != HNSW_TUPLE_ELEMENT)
			continue;
		etup = (HnswElementTuple) PageGetItem(page, iid);
		if (!(etup->flags & HNSW_ELEMENT_FREE))
			continue;
		/* a FREE slot still holding a row is damage: never overwrite it */
		hnsw_check_deleted_element(index, HnswIdMake(blkno, off), etup);
		if (HnswIdBlock(etup->nbrs) != blkno)
			continue;
		(void) hnsw_page_neighbors_any(index, page, etup->nbrs);
		nlen = ItemIdGetLength(PageGetItemId(page, HnswIdOffset(etup->nbrs)));
		if (MAXALIGN(nlen) > scan->maxlen)
		{
			scan->nextlen = scan->maxlen;
			scan->maxlen = MAXALIGN(nlen);
			scan->maxslot = off;
		}
		else
			scan->nextlen = Max(scan->nextlen, MAXALIGN(nlen));
		if (nsize == 0 ||
			(scan->best != InvalidOffsetNumber && scan->bestlen == nsize))
			continue;
		if (nlen == nsize ||
			(nlen > nsize &&
			 (scan->best == InvalidOffsetNumber || scan->bestlen < nsize ||
			  nlen < scan->bestlen)) ||
			(nlen < nsize &&
			 MAXALIGN(nsize) <= MAXALIGN(nlen) + scan->freespace &&
			 (scan->best == InvalidOffsetNumber ||
			  (scan->bestlen < nsize && nlen > scan->bestlen))))
		{
			scan->best = off;
			scan->bestlen = nlen;
		}
	}
}

/* the highest level one of the scanned slots can take, -1 if none */
static int
scan_level(int m, const HnswSlotScan *scan)
{
	return scan->maxlen == 0 ? -1 :
		level_for_room(m, scan->maxlen + scan->freespace);
}

/* the same once the chosen slot holds a neighbour tuple of nsize bytes */
static int
scan_level_after(int m, const HnswSlotScan *scan, Size nsize)
{
	Size		rest = scan->best == scan->maxslot ? scan->nextlen : scan->maxlen;

	return rest == 0 ? -1 :
		level_for_room(m, rest + scan->freespace + MAXALIGN(scan->bestlen) -
					   MAXALIGN(nsize));
}

/*
 * The highest level of element that a FREE slot of the locked page can
 * take, -1 if none: what the free space map records for the page.
 */
int
hnsw_page_reuse_level(Relation index, Page page, BlockNumber blkno, int m,
					  Size esize)
{
	HnswSlotScan scan;

	scan_free_slots(index, page, blkno, esize, 0, &scan);
	return scan_level(m, &scan);
}

/*
 * Puts the new element into the FREE slot scan_free_slots chooses on the
 * exclusively locked page, in one WAL record: the neighbour tuple is
 * overwritten in place, or resized in place when the levels differ
 * (PageIndexTupleOverwrite moves other tuples' data, never their line
 * pointers, so every id stays valid), then the element overwrites the old
 * one and keeps its id.  *level_before and *level_after are the page's
 * reuse level around the change.  Returns HNSW_INVALID_ID if no slot of
 * the page fits, or, when picky, with *skipped set and nothing changed, if
 * the page could take a higher level than this element's and would lose
 * that by taking it (its last higher slot shrunk, or the last slot that
 * its free space could grow taken): near the end of a cycle that refills
 * a whole index, such pages are what the last higher-level elements need.
 */
static HnswId
reuse_on_page(Relation index, Buffer buf, int m, HnswElementTuple etup,
			  Size esize, HnswNeighborTuple ntup, Size nsize, bool picky,
			  int *level_before, int *level_after, bool *skipped)
{
	BlockNumber blkno = BufferGetBlockNumber(buf);
	Page		page = BufferGetPage(buf);
	HnswWal    *state;
	HnswElementTuple old;
	HnswSlotScan scan;

	scan_free_slots(index, page, blkno, esize, nsize, &scan);
	*level_before = *level_after = scan_level(m, &scan);
	*skipped = false;
	if (scan.best == InvalidOffsetNumber)
		return HNSW_INVALID_ID;
	if (picky && *level_before > ntup->level &&
		scan_level_after(m, &scan, nsize) < *level_before)
	{
		*skipped = true;
		return HNSW_INVALID_ID;
	}

	page = hnsw_wal_begin(index, buf, false, &state);
	old = (HnswElementTuple) PageGetItem(page, PageGetItemId(page, scan.best));
	/* the resize below may move old's data: copy its link first */
	etup->nbrs = old->nbrs;
	if (!PageIndexTupleOverwrite(page, HnswIdOffset(etup->nbrs),
								 (Item) ntup, nsize))
		elog(ERROR, "no room to resize a neighbour tuple in block %u of index \"%s\"",
			 blkno, RelationGetRelationName(index));
	memcpy(PageGetItem(page, PageGetItemId(page, scan.best)), etup, esize);
	*level_after = scan_level_after(m, &scan, nsize);
	hnsw_wal_finish(state);
	return HnswIdMake(blkno, scan.best);
}

/*
 * Whether the free space map can name a page now.  Until a VACUUM frees a
 * slot the index has no FSM fork, and every lookup asks the kernel whether
 * the fork exists yet: a system call per inserted row.  Once a lookup has
 * found it missing (the smgr caches a length of 0), this backend looks
 * again only every 64th time; a slot VACUUM frees meanwhile is reused a
 * few inserts later, which costs nothing but a little space.
 */
static bool
fsm_worth_asking(Relation index)
{
#if PG_VERSION_NUM >= 140000
	static uint32 skipped = 0;
#if PG_VERSION_NUM >= 150000
	SMgrRelation smgr = RelationGetSmgr(index);
#else
	SMgrRelation smgr;

	RelationOpenSmgr(index);
	smgr = index->rd_smgr;
#endif
	if (smgr->smgr_cached_nblocks[FSM_FORKNUM] == 0 && ++skipped % 64 != 0)
		return false;
#endif
	return true;
}

/*
 * Places a new element in a slot VACUUM freed, on a page the free space
 * map names as able to take its level (see hnsw_fsm_value).  The first
 * HNSW_REUSE_SKIPS pages that would lose a higher level to this element
 * are passed over (reuse_on_page), the map naming the next page each time;
 * after that the element takes what fits.  After a reuse the page is
 * recorded again with what its remaining FREE slots can take.  A page
 * that cannot take the element after all (the map is not crash-safe, and
 * concurrent inserts race for the last slot of a page) is recorded with
 * what it can take, so that no lookup for this level names it again, and
 * the next page is tried.  Returns HNSW_INVALID_ID when no page can take
 * the element.
 */
HnswId
hnsw_reuse_slot(Relation index, int m, HnswElementTuple etup, Size esize,
				HnswNeighborTuple ntup, Size nsize)
{
	int			level = ntup->level;
	int			skips = 0;
	int			attempt;

	if (!fsm_worth_asking(index))
		return HNSW_INVALID_ID;
	for (attempt = 0; attempt < HNSW_REUSE_ATTEMPTS; attempt++)
	{
		BlockNumber blkno = GetPageWithFreeSpace(index, hnsw_fsm_value(level));
		Buffer		buf;
		HnswId		id;
		int			before;
		int			after;
		bool		skipped;

		if (blkno == InvalidBlockNumber)
			return HNSW_INVALID_ID;
		if (blkno == HNSW_METAPAGE_BLKNO ||
			blkno >= RelationGetNumberOfBlocks(index))
		{
			RecordPageWithFreeSpace(index, blkno, 0);
			continue;
		}
		buf = ReadBuffer(index, blkno);
		LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
		if (PageIsNew(BufferGetPage(buf)))
		{
			UnlockReleaseBuffer(buf);
			RecordPageWithFreeSpace(index, blkno, 0);
			continue;
		}
		hnsw_check_page(index, BufferGetPage(buf), blkno);
		id = reuse_on_page(index, buf, m, etup, esize, ntup, nsize,
						   skips < HNSW_REUSE_SKIPS, &before, &after, &skipped);
		UnlockReleaseBuffer(buf);
		if (skipped)
		{
			skips++;
			continue;
		}
		if (id == HNSW_INVALID_ID)
		{
			RecordPageWithFreeSpace(index, blkno,
									hnsw_fsm_value(Min(after, level - 1)));
			continue;
		}
		RecordPageWithFreeSpace(index, blkno, hnsw_fsm_value(after));

		/*
		 * Recording updates only the map's leaf page.  A value that went up
		 * (a shrunk neighbour tuple gave space to the page's other slots)
		 * must also reach the upper pages, or lookups would not find it;
		 * lower values are corrected there by the lookups.
		 */
		if (after > before)
			FreeSpaceMapVacuumRange(index, blkno, blkno + 1);
		return id;
	}
	return HNSW_INVALID_ID;
}

/* ---------------------------------------------------------------------
 * The build's bulk pass: its layout (hnsw_build.c, layout_ids) has given
 * every tuple its final id with the rules above (hnsw_place_together,
 * hnsw_room_for); here the tuples are put there.
 * ---------------------------------------------------------------------
 */

/* starts filling block first, the index's next block */
void
hnsw_bulk_begin(HnswBulkWriter *w, Relation index, BlockNumber first)
{
	w->index = index;
	w->cur = first;
	hnsw_init_page((Page) w->page.data, HNSW_PAGE_GRAPH);
}

/* appends the page image as the index's next block, without WAL */
static void
bulk_flush(HnswBulkWriter *w)
{
	Buffer		buf = hnsw_new_buffer(w->index, MAIN_FORKNUM);

	if (BufferGetBlockNumber(buf) != w->cur)
		elog(ERROR, "hnsw build wrote block %u where %u was expected",
			 BufferGetBlockNumber(buf), w->cur);
	memcpy(BufferGetPage(buf), w->page.data, BLCKSZ);
	MarkBufferDirty(buf);
	UnlockReleaseBuffer(buf);
}

/*
 * Adds a tuple at id, which must lie on the page being filled or a later
 * one (the layout hands ids out in order): the pages before it are full.
 */
void
hnsw_bulk_add(HnswBulkWriter *w, HnswId id, Item item, Size size)
{
	Page		page = (Page) w->page.data;

	while (HnswIdBlock(id) != w->cur)
	{
		bulk_flush(w);
		hnsw_init_page(page, HNSW_PAGE_GRAPH);
		w->cur++;
	}
	if (PageAddItem(page, item, size, InvalidOffsetNumber, false, false) !=
		HnswIdOffset(id))
		elog(ERROR, "hnsw build placed a tuple off its planned offset");
}

/* writes the last page; returns its block number */
BlockNumber
hnsw_bulk_end(HnswBulkWriter *w)
{
	bulk_flush(w);
	return w->cur;
}
