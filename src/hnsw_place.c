/*
 * hnsw_place.c
 *		Where new tuples go: a slot VACUUM freed, the page being filled, or
 *		a new page; and the metapage fields that track them.
 *
 * Every function here holds at most one graph-page lock at a time, except
 * the first insert into an empty index, which holds the metapage lock
 * around the placement (metapage before graph page, never the reverse).
 */
#include "postgres.h"

#include "access/generic_xlog.h"
#include "storage/bufmgr.h"
#include "storage/freespace.h"
#include "storage/smgr.h"
#include "utils/rel.h"

#include "hnsw.h"

/* builds an element tuple for vec at level holding tid */
HnswElementTuple
hnsw_form_element(const float *vec, int dim, int level, ItemPointer tid,
				  Size *size)
{
	HnswElementTuple etup;
	int			i;

	*size = HNSW_ELEMENT_SIZE(dim);
	etup = palloc0(*size);
	etup->type = HNSW_TUPLE_ELEMENT;
	etup->level = level;
	for (i = 0; i < HNSW_HEAPTIDS; i++)
		ItemPointerSetInvalid(&etup->heaptids[i]);
	if (tid)
		etup->heaptids[0] = *tid;
	memcpy(etup->vec, vec, sizeof(float) * dim);
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
 * Returns an exclusively locked buffer with room for items of the given
 * total space: the hinted page if it has room, else a new page (*isnew).
 */
static Buffer
buffer_with_room(Relation index, BlockNumber hint, Size space, int nitems,
				 bool *isnew)
{
	*isnew = false;
	if (hint != InvalidBlockNumber &&
		hint < RelationGetNumberOfBlocks(index))
	{
		Buffer		buf = ReadBuffer(index, hint);
		Page		page;

		LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
		page = BufferGetPage(buf);
		if (PageIsNew(page))
		{
			*isnew = true;		/* extended, never initialised: take it */
			return buf;
		}
		hnsw_check_page(index, page, hint);
		if (PageGetExactFreeSpace(page) >= space &&
			PageGetMaxOffsetNumber(page) + nitems <= HNSW_MAX_ITEMS_PER_PAGE)
			return buf;
		UnlockReleaseBuffer(buf);
	}
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
	Size		space = (ntup ? hnsw_item_space(nsize) : 0) +
		(etup ? hnsw_item_space(esize) : 0);
	bool		isnew;
	Buffer		buf = buffer_with_room(index, *hint, space,
									   (ntup != NULL) + (etup != NULL), &isnew);
	BlockNumber blkno = BufferGetBlockNumber(buf);
	GenericXLogState *state = GenericXLogStart(index);
	Page		page = GenericXLogRegisterBuffer(state, buf,
												 isnew ? GENERIC_XLOG_FULL_IMAGE : 0);
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
	GenericXLogFinish(state);
	UnlockReleaseBuffer(buf);
	*hint = blkno;
	return HnswIdMake(blkno, off);
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
	if (hnsw_item_space(esize) + hnsw_item_space(nsize) <= hnsw_page_capacity())
		return append_tuples(index, hint, ntup, nsize, etup, esize);
	etup->nbrs = append_tuples(index, hint, ntup, nsize, NULL, 0);
	return append_tuples(index, hint, NULL, 0, etup, esize);
}

/*
 * Raises the entry point to (entry, level) if level is above the current
 * one, and moves insert_page forward; both under the metapage's lock.
 */
void
hnsw_update_meta(Relation index, HnswId entry, int level,
				 BlockNumber insert_page)
{
	Buffer		buf = ReadBuffer(index, HNSW_METAPAGE_BLKNO);
	GenericXLogState *state;
	Page		page;
	HnswMetaPage meta;
	bool		newentry;
	bool		newpage;

	LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
	hnsw_check_meta(index, BufferGetPage(buf));
	meta = HnswPageGetMeta(BufferGetPage(buf));
	newentry = entry != HNSW_INVALID_ID &&
		(meta->entry == HNSW_INVALID_ID || level > meta->entry_level);
	newpage = insert_page != InvalidBlockNumber &&
		(meta->insert_page == InvalidBlockNumber || insert_page > meta->insert_page);
	if (newentry || newpage)
	{
		state = GenericXLogStart(index);
		page = GenericXLogRegisterBuffer(state, buf, 0);
		meta = HnswPageGetMeta(page);
		if (newentry)
		{
			meta->entry = entry;
			meta->entry_level = level;
		}
		if (newpage)
			meta->insert_page = insert_page;
		GenericXLogFinish(state);
	}
	UnlockReleaseBuffer(buf);
}


/*
 * Overwrites, on a page already locked exclusively, the neighbour tuple of
 * a freed element with a new one of size nsize: in place when the levels
 * match, else resized in place (PageIndexTupleOverwrite moves the other
 * tuples' data, never their line pointers, so every id stays valid).
 * False when the page has no room to grow it.
 */
static bool
reuse_neighbors(Page page, OffsetNumber oldoff, HnswNeighborTuple ntup,
				Size nsize)
{
	ItemId		oldiid = PageGetItemId(page, oldoff);

	if (ItemIdGetLength(oldiid) == nsize)
	{
		memcpy(PageGetItem(page, oldiid), ntup, nsize);
		return true;
	}
	return PageIndexTupleOverwrite(page, oldoff, (Item) ntup, nsize);
}

/*
 * Puts the new element into a freed element slot on the locked page, if
 * one there can take it (its neighbour tuple must be on the same page).
 */
static HnswId
reuse_on_page(Relation index, Buffer buf, HnswElementTuple etup, Size esize,
			  HnswNeighborTuple ntup, Size nsize, bool *anyfree)
{
	BlockNumber blkno = BufferGetBlockNumber(buf);
	GenericXLogState *state = GenericXLogStart(index);
	Page		page = GenericXLogRegisterBuffer(state, buf, 0);
	OffsetNumber maxoff = PageGetMaxOffsetNumber(page);
	OffsetNumber off;

	for (off = FirstOffsetNumber; off <= maxoff; off++)
	{
		ItemId		iid = PageGetItemId(page, off);
		HnswElementTuple old;

		if (!ItemIdIsNormal(iid) || ItemIdGetLength(iid) != esize)
			continue;
		old = (HnswElementTuple) PageGetItem(page, iid);
		if (old->type != HNSW_TUPLE_ELEMENT || !(old->flags & HNSW_ELEMENT_FREE))
			continue;
		*anyfree = true;
		if (HnswIdBlock(old->nbrs) != blkno)
			continue;
		/* the overwrite below may move tuple data: keep the id, not old */
		etup->nbrs = old->nbrs;
		(void) hnsw_page_neighbors_any(index, page, etup->nbrs);
		if (!reuse_neighbors(page, HnswIdOffset(etup->nbrs), ntup, nsize))
			continue;
		memcpy(PageGetItem(page, PageGetItemId(page, off)), etup, esize);
		GenericXLogFinish(state);
		return HnswIdMake(blkno, off);
	}
	GenericXLogAbort(state);
	return HNSW_INVALID_ID;
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
 * map names.  A page found to have no usable slot is cleared from the map.
 * Returns HNSW_INVALID_ID when there is none.
 */
HnswId
hnsw_reuse_slot(Relation index, HnswElementTuple etup, Size esize,
				HnswNeighborTuple ntup, Size nsize)
{
	int			attempt;

	if (!fsm_worth_asking(index))
		return HNSW_INVALID_ID;
	for (attempt = 0; attempt < 4; attempt++)
	{
		BlockNumber blkno = GetPageWithFreeSpace(index, HNSW_FSM_FREE_SLOTS);
		Buffer		buf;
		HnswId		id;
		bool		anyfree = false;

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
		hnsw_check_page(index, BufferGetPage(buf), blkno);
		id = reuse_on_page(index, buf, etup, esize, ntup, nsize, &anyfree);
		UnlockReleaseBuffer(buf);
		if (id != HNSW_INVALID_ID)
			return id;
		/* free slots this element cannot use stay known for others */
		if (!anyfree)
			RecordPageWithFreeSpace(index, blkno, 0);
		else
			break;
	}
	return HNSW_INVALID_ID;
}
