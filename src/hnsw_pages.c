/*
 * hnsw_pages.c
 *		Page utilities: initialising pages, reading the metapage, and
 *		finding tuples with every access checked, so that a corrupt page
 *		raises a clean ERROR instead of reading garbage.
 */
#include "postgres.h"

#include "lib/stringinfo.h"
#include "storage/bufpage.h"
#include "storage/lmgr.h"
#include "utils/rel.h"

#include "hnsw.h"

/* reports a corrupt page or tuple and never returns */
void
hnsw_corrupt(Relation index, BlockNumber blkno, OffsetNumber off,
			 const char *what)
{
	ereport(ERROR,
			(errcode(ERRCODE_INDEX_CORRUPTED),
			 errmsg("index \"%s\" is corrupted at block %u, offset %u: %s",
					RelationGetRelationName(index), blkno, off, what),
			 errhint("REINDEX the index.")));
}

void
hnsw_init_page(Page page, uint16 kind)
{
	HnswPageOpaque opaque;

	PageInit(page, BLCKSZ, sizeof(HnswPageOpaqueData));
	opaque = HnswPageGetOpaque(page);
	opaque->kind = kind;
	opaque->page_id = HNSW_PAGE_ID;
	opaque->unused = 0;
}

/*
 * The number of line pointers on a page, checked against the most an hnsw
 * page can hold (an id keeps the offset in 8 bits).  Every loop over a
 * page's items takes its bound from here: arrays sized by
 * HNSW_MAX_ITEMS_PER_PAGE are filled per item, and an id made from a
 * larger offset would name another item.
 */
OffsetNumber
hnsw_page_max_offset(Relation index, Page page, BlockNumber blkno)
{
	OffsetNumber maxoff = PageGetMaxOffsetNumber(page);

	if (maxoff > HNSW_MAX_ITEMS_PER_PAGE)
		hnsw_corrupt(index, blkno, 0,
					 psprintf("page has %u line pointers, more than %d",
							  (unsigned) maxoff, HNSW_MAX_ITEMS_PER_PAGE));
	return maxoff;
}

/*
 * Checks that a page has the hnsw special space and is of kind (a graph or
 * a centroid page); notkind is the error where it is of another.
 */
void
hnsw_check_page_kind(Relation index, Page page, BlockNumber blkno,
					 uint16 kind, const char *notkind)
{
	HnswPageOpaque opaque;

	if (PageIsNew(page) ||
		PageGetSpecialSize(page) != MAXALIGN(sizeof(HnswPageOpaqueData)))
		hnsw_corrupt(index, blkno, 0, "page has no hnsw special space");
	opaque = HnswPageGetOpaque(page);
	if (opaque->page_id != HNSW_PAGE_ID || opaque->kind != kind)
		hnsw_corrupt(index, blkno, 0, notkind);
}

/*
 * Checks a graph page's special space and its number of items, so that
 * whoever reads the page may trust both.
 */
void
hnsw_check_page(Relation index, Page page, BlockNumber blkno)
{
	hnsw_check_page_kind(index, page, blkno, HNSW_PAGE_GRAPH,
						 "page is not an hnsw graph page");
	(void) hnsw_page_max_offset(index, page, blkno);
}

/* reports a metapage field out of its range and never returns */
static void meta_corrupt(Relation index, const char *fmt,...) pg_attribute_printf(2, 3);

static void
meta_corrupt(Relation index, const char *fmt,...)
{
	StringInfoData what;

	initStringInfo(&what);
	for (;;)
	{
		va_list		args;
		int			needed;

		va_start(args, fmt);
		needed = appendStringInfoVA(&what, fmt, args);
		va_end(args);
		if (needed == 0)
			break;
		enlargeStringInfo(&what, needed);
	}
	hnsw_corrupt(index, HNSW_METAPAGE_BLKNO, 0, what.data);
}

/*
 * The centroid fields: zero below version 4 (older builds never wrote
 * there, and PageInit zeroed the bytes); from version 4, which only a
 * build that trained centroids writes, an sq8 or sq4 index's count within
 * its range, their pages as many as the count and dim need, and pd_lower
 * covering them.
 */
static void
check_meta_centroids(Relation index, Page page)
{
	HnswMetaPage meta = HnswPageGetMeta(page);
	Size		end = offsetof(PageHeaderData, pd_linp) + sizeof(HnswMetaPageData);

	if (meta->version < HNSW_FORMAT_VERSION_CENTROIDS)
	{
		if (meta->ncentroids != 0 || meta->centroid_pages != 0 ||
			meta->centroid_crc != 0)
			meta_corrupt(index, "metapage of version %u has centroids",
						 (unsigned) meta->version);
		return;
	}
	if (((PageHeader) page)->pd_lower < end)
		meta_corrupt(index, "metapage pd_lower %u does not cover its centroids",
					 (unsigned) ((PageHeader) page)->pd_lower);
	if (meta->storage != HNSW_STORAGE_SQ8 && meta->storage != HNSW_STORAGE_SQ4)
		meta_corrupt(index, "metapage has centroids under storage %s",
					 hnsw_storage_name(meta->storage));
	if (meta->ncentroids < 2 || meta->ncentroids > HNSW_MAX_CENTROIDS ||
		meta->dim == 0)
		meta_corrupt(index, "metapage has %u centroids of %u dimensions",
					 (unsigned) meta->ncentroids, (unsigned) meta->dim);
	if (meta->centroid_pages != hnsw_centroid_pages(meta->ncentroids, meta->dim))
		meta_corrupt(index, "metapage has %u centroid pages, %d expected",
					 (unsigned) meta->centroid_pages,
					 hnsw_centroid_pages(meta->ncentroids, meta->dim));
}

/*
 * Checks every field of the metapage against the range the code that
 * writes it can produce, so that a damaged metapage is refused when it is
 * read, before any of its values steers an insert, a scan, VACUUM or the
 * checker (an ef_construction of 0, say, lets inserts link their elements
 * nowhere).  A version above the ones this build reads is most likely an
 * index written by a newer build, and is refused as such.
 */
void
hnsw_check_meta(Relation index, Page page)
{
	HnswMetaPage meta = HnswPageGetMeta(page);
	HnswPageOpaque opaque;
	Size		end = (offsetof(PageHeaderData, pd_linp) +
					   offsetof(HnswMetaPageData, insert_page) + sizeof(BlockNumber));
	int			min_ef;

	if (PageIsNew(page) || meta->magic != HNSW_MAGIC)
		meta_corrupt(index, "metapage has no hnsw magic number");
	if (PageGetSpecialSize(page) != MAXALIGN(sizeof(HnswPageOpaqueData)))
		meta_corrupt(index, "metapage has no hnsw special space");
	opaque = HnswPageGetOpaque(page);
	if (opaque->page_id != HNSW_PAGE_ID || opaque->kind != HNSW_PAGE_META)
		meta_corrupt(index, "metapage has no hnsw special space");
	/* outside pd_lower, a full-page image would not keep the fields */
	if (((PageHeader) page)->pd_lower < end)
		meta_corrupt(index, "metapage pd_lower %u does not cover its contents",
					 (unsigned) ((PageHeader) page)->pd_lower);
	if (meta->version == 0)
		meta_corrupt(index, "metapage version is 0");
	if (meta->version < HNSW_MIN_FORMAT_VERSION ||
		meta->version > HNSW_FORMAT_VERSION_CENTROIDS)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("index \"%s\" has on-disk format version %u, but this "
						"build of hnswsearch reads versions %d to %d",
						RelationGetRelationName(index), meta->version,
						HNSW_MIN_FORMAT_VERSION, HNSW_FORMAT_VERSION_CENTROIDS),
				 errhint("REINDEX the index.")));
	if (meta->storage < HNSW_STORAGE_FLOAT4 || meta->storage > HNSW_STORAGE_LAST)
		meta_corrupt(index, "metapage storage is %u, outside %d..%d",
					 (unsigned) meta->storage, HNSW_STORAGE_FLOAT4,
					 HNSW_STORAGE_LAST);
	/* codes came with version 3; a float4 index keeps version 1 or 2 */
	if ((meta->storage == HNSW_STORAGE_FLOAT4) !=
		(meta->version < HNSW_FORMAT_VERSION_CODES))
		meta_corrupt(index, "metapage storage %s does not match version %u",
					 hnsw_storage_name(meta->storage),
					 (unsigned) meta->version);
	if (meta->dim > hnsw_storage_max_dim(meta->storage))
		meta_corrupt(index, "metapage dim is %u, outside 0..%d",
					 (unsigned) meta->dim,
					 hnsw_storage_max_dim(meta->storage));
	if (meta->m < HNSW_MIN_M || meta->m > HNSW_MAX_M)
		meta_corrupt(index, "metapage m is %u, outside %d..%d",
					 (unsigned) meta->m, HNSW_MIN_M, HNSW_MAX_M);
	/* CREATE INDEX refuses ef_construction below 2 * m */
	min_ef = Max(HNSW_MIN_EF_CONSTRUCTION, 2 * meta->m);
	if (meta->ef_construction < min_ef ||
		meta->ef_construction > HNSW_MAX_EF_CONSTRUCTION)
		meta_corrupt(index, "metapage ef_construction is %u, outside %d..%d",
					 (unsigned) meta->ef_construction, min_ef,
					 HNSW_MAX_EF_CONSTRUCTION);
	if (meta->max_level != hnsw_level_cap(meta->m))
		meta_corrupt(index, "metapage max_level is %u, but m = %u gives %d",
					 (unsigned) meta->max_level, (unsigned) meta->m,
					 hnsw_level_cap(meta->m));
	/* first: the entry and insert page must lie after the centroid pages */
	check_meta_centroids(index, page);
	if (meta->entry == HNSW_INVALID_ID)
	{
		if (meta->entry_level != -1)
			meta_corrupt(index, "metapage has no entry point but entry_level is %d",
						 meta->entry_level);
	}
	else
	{
		if (meta->dim == 0)
			meta_corrupt(index, "metapage has an entry point but dim is 0");
		if (HnswIdBlock(meta->entry) < HNSW_FIRST_GRAPH_BLOCK(meta))
			meta_corrupt(index, "metapage entry point (%u,%u) is not on a graph page",
						 HnswIdBlock(meta->entry),
						 (unsigned) HnswIdOffset(meta->entry));
		if (HnswIdOffset(meta->entry) < FirstOffsetNumber)
			meta_corrupt(index, "metapage entry point (%u,%u) has offset 0",
						 HnswIdBlock(meta->entry),
						 (unsigned) HnswIdOffset(meta->entry));
		if (meta->entry_level < 0 || meta->entry_level > meta->max_level)
			meta_corrupt(index, "metapage entry_level is %d, outside 0..%u",
						 meta->entry_level, (unsigned) meta->max_level);
	}
	if (meta->insert_page != InvalidBlockNumber &&
		(meta->insert_page < HNSW_FIRST_GRAPH_BLOCK(meta) ||
		 meta->insert_page >= HNSW_MAX_BLOCKS))
		meta_corrupt(index, "metapage insert_page %u is not a graph page",
					 meta->insert_page);
}

/* copies the metapage's contents, checked, under a share lock */
void
hnsw_read_meta(Relation index, HnswMetaPageData *meta)
{
	Buffer		buf = ReadBuffer(index, HNSW_METAPAGE_BLKNO);
	Page		page;

	LockBuffer(buf, BUFFER_LOCK_SHARE);
	page = BufferGetPage(buf);
	hnsw_check_meta(index, page);
	*meta = *HnswPageGetMeta(page);
	UnlockReleaseBuffer(buf);
}

/*
 * Does a normal item's line pointer put it where a tuple can be: aligned
 * (PageAddItem and PageIndexTupleOverwrite keep tuples MAXALIGNed), after
 * the page header and before the special space?
 */
static bool
item_in_page(Page page, ItemId iid)
{
	Size		off = ItemIdGetOffset(iid);

	return off >= SizeOfPageHeaderData && off == MAXALIGN(off) &&
		off + ItemIdGetLength(iid) <= ((PageHeader) page)->pd_special;
}

/* returns the item at id's offset on page, checking it is a normal item */
static Item
page_item(Relation index, Page page, HnswId id, Size size, uint8 type)
{
	OffsetNumber off = HnswIdOffset(id);
	ItemId		iid;
	Item		item;

	if (off < FirstOffsetNumber || off > PageGetMaxOffsetNumber(page))
		hnsw_corrupt(index, HnswIdBlock(id), off, "offset beyond the page's items");
	iid = PageGetItemId(page, off);
	if (!ItemIdIsNormal(iid) || ItemIdGetLength(iid) < size ||
		!item_in_page(page, iid))
		hnsw_corrupt(index, HnswIdBlock(id), off, "item is missing or too short");
	item = PageGetItem(page, iid);
	if (*(uint8 *) item != type)
		hnsw_corrupt(index, HnswIdBlock(id), off, "item has the wrong type");
	return item;
}

/* the element tuple id names on page (already checked by hnsw_check_page) */
HnswElementTuple
hnsw_page_element(Relation index, Page page, HnswId id)
{
	return (HnswElementTuple) page_item(index, page, id,
										offsetof(HnswElementTupleData, vec),
										HNSW_TUPLE_ELEMENT);
}

/* the neighbour tuple id names on page, with its level in range */
HnswNeighborTuple
hnsw_page_neighbors(Relation index, Page page, HnswId id, int m)
{
	HnswNeighborTuple ntup;

	ntup = (HnswNeighborTuple) page_item(index, page, id,
										 HNSW_NEIGHBOR_SIZE(m, 0),
										 HNSW_TUPLE_NEIGHBORS);
	if (ItemIdGetLength(PageGetItemId(page, HnswIdOffset(id))) !=
		HNSW_NEIGHBOR_SIZE(m, ntup->level))
		hnsw_corrupt(index, HnswIdBlock(id), HnswIdOffset(id),
					 "neighbour tuple size does not match its level");
	return ntup;
}

/* a neighbour tuple whose level is not known yet (size checked by caller) */
HnswNeighborTuple
hnsw_page_neighbors_any(Relation index, Page page, HnswId id)
{
	return (HnswNeighborTuple) page_item(index, page, id,
										 offsetof(HnswNeighborTupleData, edges),
										 HNSW_TUPLE_NEIGHBORS);
}

/*
 * Raises an ERROR if a DELETED or FREE element still holds a heap TID.
 * VACUUM removes an element's last TID in the same step that marks it
 * DELETED, and a FREE element is a DELETED one, so a TID there means the
 * flags were damaged: the row is still in the table, scans skip it, and a
 * reuse of the slot would lose it for good.
 */
void
hnsw_check_deleted_element(Relation index, HnswId id, HnswElementTuple etup)
{
	int			i;

	if (!(etup->flags & (HNSW_ELEMENT_DELETED | HNSW_ELEMENT_FREE)))
		return;
	for (i = 0; i < HNSW_HEAPTIDS; i++)
		if (ItemPointerIsValid(&etup->heaptids[i]))
			hnsw_corrupt(index, HnswIdBlock(id), HnswIdOffset(id),
						 psprintf("deleted element still holds heap TIDs (flags 0x%02x, row (%u,%u))",
								  etup->flags,
								  ItemPointerGetBlockNumberNoCheck(&etup->heaptids[i]),
								  (unsigned) ItemPointerGetOffsetNumberNoCheck(&etup->heaptids[i])));
}

/*
 * The tuple type of the item at off of page blkno, or 0 if that line pointer
 * is unused: for walks over every item of a page.  A line pointer that puts
 * the item outside the page is corruption.
 */
uint8
hnsw_item_type(Relation index, BlockNumber blkno, Page page, OffsetNumber off)
{
	ItemId		iid = PageGetItemId(page, off);

	if (!ItemIdIsNormal(iid))
		return 0;
	if (ItemIdGetLength(iid) < 1 || !item_in_page(page, iid))
		hnsw_corrupt(index, blkno, off, "item is missing or too short");
	return *(uint8 *) PageGetItem(page, iid);
}

/*
 * The element tuple at off of page blkno, or NULL if that item is unused or
 * another kind: for walks over every item of a page.  An element too short
 * for its fixed fields is corruption (its vector's size is left to the
 * caller).
 */
HnswElementTuple
hnsw_item_element(Relation index, BlockNumber blkno, Page page, OffsetNumber off)
{
	ItemId		iid = PageGetItemId(page, off);

	if (hnsw_item_type(index, blkno, page, off) != HNSW_TUPLE_ELEMENT)
		return NULL;
	if (ItemIdGetLength(iid) < offsetof(HnswElementTupleData, vec))
		hnsw_corrupt(index, blkno, off, "item is missing or too short");
	return (HnswElementTuple) PageGetItem(page, iid);
}

/*
 * Reads graph page blkno through strategy (NULL: the default), locked in
 * mode and checked, for passes over the whole index (walks, VACUUM);
 * InvalidBuffer for a page an interrupted extension left uninitialised,
 * which holds nothing.
 */
Buffer
hnsw_read_graph_page(Relation index, BlockNumber blkno,
					 BufferAccessStrategy strategy, int mode, Page *page)
{
	Buffer		buf = ReadBufferExtended(index, MAIN_FORKNUM, blkno,
										 RBM_NORMAL, strategy);

	LockBuffer(buf, mode);
	*page = BufferGetPage(buf);
	if (PageIsNew(*page))
	{
		UnlockReleaseBuffer(buf);
		return InvalidBuffer;
	}
	hnsw_check_page(index, *page, blkno);
	return buf;
}

/*
 * Calls visit on every item of graph page blkno (up to
 * hnsw_page_max_offset), under a share lock taken and released here: the
 * walks over a whole index (the checker, hnsw_index_info, unordered
 * scans, VACUUM's pass 2 with its strategy).  A page an interrupted
 * extension left uninitialised has none.
 */
void
hnsw_page_walk_items(Relation index, BlockNumber blkno,
					 BufferAccessStrategy strategy, HnswItemVisitor visit,
					 void *arg)
{
	Page		page;
	Buffer		buf = hnsw_read_graph_page(index, blkno, strategy,
										   BUFFER_LOCK_SHARE, &page);
	OffsetNumber off;
	OffsetNumber maxoff;

	if (buf == InvalidBuffer)
		return;
	maxoff = hnsw_page_max_offset(index, page, blkno);
	for (off = FirstOffsetNumber; off <= maxoff; off++)
		visit(arg, page, blkno, off);
	UnlockReleaseBuffer(buf);
}

/* what hnsw_page_walk_elements passes through hnsw_page_walk_items */
typedef struct ElementWalk
{
	Relation	index;
	HnswElementVisitor visit;
	void	   *arg;
} ElementWalk;

static void
visit_if_element(void *arg, Page page, BlockNumber blkno, OffsetNumber off)
{
	ElementWalk *w = (ElementWalk *) arg;
	HnswElementTuple etup = hnsw_item_element(w->index, blkno, page, off);

	if (etup != NULL)
		w->visit(w->arg, page, HnswIdMake(blkno, off), etup);
}

/*
 * The same for the element tuples of the page only (hnsw_item_element:
 * fixed fields checked, the vector's size left to visit).
 */
void
hnsw_page_walk_elements(Relation index, BlockNumber blkno,
						BufferAccessStrategy strategy,
						HnswElementVisitor visit, void *arg)
{
	ElementWalk w = {index, visit, arg};

	hnsw_page_walk_items(index, blkno, strategy, visit_if_element, &w);
}

/* page space an item of size takes, line pointer included */
Size
hnsw_item_space(Size size)
{
	return MAXALIGN(size) + sizeof(ItemIdData);
}

/* free space of an empty graph page */
Size
hnsw_page_capacity(void)
{
	return BLCKSZ - SizeOfPageHeaderData - MAXALIGN(sizeof(HnswPageOpaqueData));
}

/*
 * Adds a block to the index's fork and returns it pinned and exclusively
 * locked.  The caller initialises it (under WAL when needed).
 */
Buffer
hnsw_new_buffer(Relation index, ForkNumber fork)
{
	Buffer		buf;

#if PG_VERSION_NUM >= 160000
	buf = ExtendBufferedRel(BMR_REL(index), fork, NULL, EB_LOCK_FIRST);
#else
	bool		needLock = !RELATION_IS_LOCAL(index);

	if (needLock)
		LockRelationForExtension(index, ExclusiveLock);
	buf = ReadBufferExtended(index, fork, P_NEW, RBM_NORMAL, NULL);
	LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
	if (needLock)
		UnlockRelationForExtension(index, ExclusiveLock);
#endif
	if (BufferGetBlockNumber(buf) >= HNSW_MAX_BLOCKS)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("index \"%s\" has reached the maximum hnsw index size",
						RelationGetRelationName(index))));
	return buf;
}

/*
 * The highest level whose neighbour tuple (2m edges at level 0 and m per
 * upper level) still fits on an empty page.
 */
int
hnsw_level_cap(int m)
{
	Size		cap = hnsw_page_capacity() - sizeof(ItemIdData);
	int			level = 0;

	while (level + 1 < HNSW_GRAPH_MAX_LEVELS &&
		   MAXALIGN(HNSW_NEIGHBOR_SIZE(m, level + 1)) <= cap)
		level++;
	return level;
}

/*
 * What hnsw_tid_level mixes with a TID: the index's relfilenode, which a
 * REINDEX changes and which is the same from run to run of the same
 * script on a fresh cluster; or hnsw.level_seed where it is set, so that
 * indexes of different storages, or a REINDEX, can be compared on the
 * same levels.
 */
uint64
hnsw_level_seed(Relation index)
{
	if (hnsw_level_seed_setting != 0)
		return (uint64) hnsw_level_seed_setting;
#if PG_VERSION_NUM >= 160000
	return (uint64) index->rd_locator.relNumber;
#else
	return (uint64) index->rd_node.relNode;
#endif
}
