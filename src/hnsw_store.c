/*
 * hnsw_store.c
 *		The on-page graph: HnswGraphOps over the index's buffers, and the
 *		placement of new elements.
 *
 * Locking protocol (src/README.md has the argument): every access takes one
 * buffer content lock at a time, copies what it needs, and releases it; no
 * path holds two graph-page locks at once.  The only nesting is metapage
 * before a graph page, when the first element of an empty index is placed.
 * One buffer stays pinned between accesses so that consecutive reads of
 * the same page skip the buffer-mapping lookup.
 */
#include "postgres.h"

#include <math.h>

#include "access/generic_xlog.h"
#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#include "distance.h"
#include "hnsw.h"
#include "vector.h"

#define PG_OF(g)	((HnswPageGraph *) (g))

/*
 * Where an index's blocks were last found in shared buffers, remembered
 * per backend across scans and inserts, so that ReadRecentBuffer can re-pin
 * a block without the buffer-mapping lookup (a partition lock and a hash
 * probe) that ReadBuffer costs on every access.  A page's special space is
 * checked the first time this backend reads it; every tuple access is
 * still checked.  Keyed by the physical file, so TRUNCATE and REINDEX start
 * afresh.  A few indexes are remembered, replaced round robin.
 */
#if PG_VERSION_NUM >= 160000
typedef RelFileLocator HnswRelFile;
#define HNSW_RELFILE(rel)	((rel)->rd_locator)
#else
typedef RelFileNode HnswRelFile;
#define HNSW_RELFILE(rel)	((rel)->rd_node)
#endif

typedef struct HnswRecentBlocks
{
	HnswRelFile file;
	bool		used;
	uint32		n;
	Buffer	   *buffers;
	bool	   *checked;
} HnswRecentBlocks;

#define HNSW_RECENT_INDEXES 4
static HnswRecentBlocks recent_blocks[HNSW_RECENT_INDEXES];
static int	recent_next = 0;

static HnswRecentBlocks *
recent_for(Relation index)
{
	HnswRelFile file = HNSW_RELFILE(index);
	HnswRecentBlocks *rb;
	int			i;

	for (i = 0; i < HNSW_RECENT_INDEXES; i++)
	{
		rb = &recent_blocks[i];
		if (rb->used && memcmp(&rb->file, &file, sizeof(file)) == 0)
			return rb;
	}
	rb = &recent_blocks[recent_next];
	recent_next = (recent_next + 1) % HNSW_RECENT_INDEXES;
	if (rb->used)
	{
		pfree(rb->buffers);
		pfree(rb->checked);
	}
	rb->file = file;
	rb->used = true;
	rb->n = 64;
	rb->buffers = MemoryContextAllocZero(TopMemoryContext, sizeof(Buffer) * rb->n);
	rb->checked = MemoryContextAllocZero(TopMemoryContext, rb->n);
	return rb;
}

/* makes the arrays cover blkno */
static void
recent_grow(HnswRecentBlocks *rb, BlockNumber blkno)
{
	uint32		n = rb->n;

	while (n <= blkno)
		n *= 2;
	rb->buffers = repalloc_huge(rb->buffers, sizeof(Buffer) * n);
	rb->checked = repalloc_huge(rb->checked, n);
	memset(rb->buffers + rb->n, 0, sizeof(Buffer) * (n - rb->n));
	memset(rb->checked + rb->n, 0, n - rb->n);
	rb->n = n;
}

static Buffer
pin_block(HnswPageGraph *pg, BlockNumber blkno)
{
	HnswRecentBlocks *rb = pg->recent;
	Buffer		buf;

	if (blkno >= rb->n)
		recent_grow(rb, blkno);
#if PG_VERSION_NUM >= 140000
	if (rb->buffers[blkno] != InvalidBuffer &&
		ReadRecentBuffer(rb->file, MAIN_FORKNUM, blkno, rb->buffers[blkno]))
		return rb->buffers[blkno];
#endif
	buf = ReadBuffer(pg->index, blkno);
	if (rb->buffers[blkno] != buf)
	{
		rb->buffers[blkno] = buf;
		rb->checked[blkno] = false;
	}
	return buf;
}

/*
 * Share-locks blkno, keeping one pin between calls so consecutive reads of
 * a page pin it once.  A page's special space is checked the first time
 * this graph reads it.
 */
static Page
lock_block(HnswPageGraph *pg, BlockNumber blkno)
{
	Page		page;

	if (pg->pinned == InvalidBuffer || BufferGetBlockNumber(pg->pinned) != blkno)
	{
		if (pg->pinned != InvalidBuffer)
			ReleaseBuffer(pg->pinned);
		pg->pinned = InvalidBuffer;
		pg->pinned = pin_block(pg, blkno);
	}
	LockBuffer(pg->pinned, BUFFER_LOCK_SHARE);
	page = BufferGetPage(pg->pinned);
	if (!pg->recent->checked[blkno])
	{
		hnsw_check_page(pg->index, page, blkno);
		pg->recent->checked[blkno] = true;
	}
	return page;
}

static void
unlock_block(HnswPageGraph *pg)
{
	LockBuffer(pg->pinned, BUFFER_LOCK_UNLOCK);
}

/* the element tuple of id on page, with its size checked against dim */
static HnswElementTuple
element_on(HnswPageGraph *pg, Page page, HnswId id)
{
	HnswElementTuple etup = hnsw_page_element(pg->index, page, id);

	if (ItemIdGetLength(PageGetItemId(page, HnswIdOffset(id))) !=
		HNSW_ELEMENT_SIZE(pg->g.dim) || etup->level > pg->max_level)
		hnsw_corrupt(pg->index, HnswIdBlock(id), HnswIdOffset(id),
					 "element tuple does not match the index's dimensions");
	return etup;
}

/*
 * Distances from q to a batch of elements.  The batch is visited block by
 * block, so elements sharing a page cost one lock.
 */
static void
page_distances(HnswGraph *g, const float *q, const HnswId *ids, int n,
			   float *dist, uint8 *flags)
{
	HnswPageGraph *pg = PG_OF(g);
	int			order[2 * HNSW_MAX_M + 2];
	int			i;

	Assert(n <= lengthof(order));
	for (i = 0; i < n; i++)
	{
		int			j = i;

		while (j > 0 && ids[order[j - 1]] > ids[i])
		{
			order[j] = order[j - 1];
			j--;
		}
		order[j] = i;
	}
	i = 0;
	while (i < n)
	{
		BlockNumber blkno = HnswIdBlock(ids[order[i]]);
		Page		page = lock_block(pg, blkno);

		for (; i < n && HnswIdBlock(ids[order[i]]) == blkno; i++)
		{
			int			k = order[i];
			HnswElementTuple etup = element_on(pg, page, ids[k]);

			dist[k] = g->dist(q, etup->vec, g->dim);
			flags[k] = (etup->flags & (HNSW_ELEMENT_DEAD | HNSW_ELEMENT_DELETED)) ?
				HNSW_SKIP_RESULT : 0;
		}
		unlock_block(pg);
	}
}

/*
 * Locks the page holding id's neighbour tuple and returns the tuple; the
 * caller unlocks.  Checks the level asked for is one the element has.
 */
static HnswNeighborTuple
lock_neighbors(HnswPageGraph *pg, HnswId id, int level, HnswId *nidp)
{
	Page		page = lock_block(pg, HnswIdBlock(id));
	HnswElementTuple etup = element_on(pg, page, id);
	HnswId		nid = etup->nbrs;
	int			elevel = etup->level;
	HnswNeighborTuple ntup;

	if (level > elevel)
		hnsw_corrupt(pg->index, HnswIdBlock(id), HnswIdOffset(id),
					 "edge to an element below the edge's level");
	if (HnswIdBlock(nid) != HnswIdBlock(id))
	{
		unlock_block(pg);
		page = lock_block(pg, HnswIdBlock(nid));
	}
	ntup = hnsw_page_neighbors(pg->index, page, nid, pg->g.m);
	if (ntup->level != elevel)
		hnsw_corrupt(pg->index, HnswIdBlock(nid), HnswIdOffset(nid),
					 "neighbour tuple level differs from its element's");
	*nidp = nid;
	return ntup;
}

/* number of edges in a list: up to its capacity or first invalid id */
static int
list_count(const HnswEdge *list, int cap)
{
	int			n = 0;

	while (n < cap && list[n].id != HNSW_INVALID_ID)
		n++;
	return n;
}

static int
page_neighbors(HnswGraph *g, HnswId id, int level, HnswEdge *out)
{
	HnswPageGraph *pg = PG_OF(g);
	HnswId		nid;
	HnswNeighborTuple ntup = lock_neighbors(pg, id, level, &nid);
	HnswEdge   *list = ntup->edges + HNSW_LIST_OFFSET(g->m, level);
	int			n = list_count(list, HNSW_LIST_CAP(g->m, level));

	memcpy(out, list, sizeof(HnswEdge) * n);
	unlock_block(pg);
	return n;
}

/*
 * Writes a new list under an exclusive lock, WAL-logged, if the list is
 * still the one the caller derived it from.
 */
static bool
page_replace_neighbors(HnswGraph *g, HnswId id, int level,
					   const HnswEdge *old, int nold,
					   const HnswEdge *edges, int n)
{
	HnswPageGraph *pg = PG_OF(g);
	HnswId		nid;
	Buffer		buf;
	GenericXLogState *state;
	Page		page;
	HnswNeighborTuple ntup;
	HnswEdge   *list;
	int			cap = HNSW_LIST_CAP(g->m, level);

	(void) lock_neighbors(pg, id, level, &nid);
	buf = pg->pinned;
	LockBuffer(buf, BUFFER_LOCK_UNLOCK);

	LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
	state = GenericXLogStart(pg->index);
	page = GenericXLogRegisterBuffer(state, buf, 0);
	ntup = hnsw_page_neighbors(pg->index, page, nid, g->m);
	list = ntup->edges + HNSW_LIST_OFFSET(g->m, level);
	if (ntup->level < level || list_count(list, cap) != nold ||
		memcmp(list, old, sizeof(HnswEdge) * nold) != 0)
	{
		GenericXLogAbort(state);
		LockBuffer(buf, BUFFER_LOCK_UNLOCK);
		return false;
	}
	memcpy(list, edges, sizeof(HnswEdge) * n);
	memset(list + n, 0, sizeof(HnswEdge) * (cap - n));
	GenericXLogFinish(state);
	LockBuffer(buf, BUFFER_LOCK_UNLOCK);
	return true;
}

static const float *
page_vector(HnswGraph *g, HnswId id, float *scratch)
{
	HnswPageGraph *pg = PG_OF(g);
	Page		page = lock_block(pg, HnswIdBlock(id));
	HnswElementTuple etup = element_on(pg, page, id);

	memcpy(scratch, etup->vec, sizeof(float) * g->dim);
	unlock_block(pg);
	return scratch;
}

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

/* HnswGraphOps.place: form both tuples and append them */
static HnswId
page_place(HnswGraph *g, const float *vec, int level, HnswEdge **lists,
		   const int *counts, ItemPointer tid)
{
	HnswPageGraph *pg = PG_OF(g);
	Size		esize;
	Size		nsize;
	HnswElementTuple etup = hnsw_form_element(vec, g->dim, level, tid, &esize);
	HnswNeighborTuple ntup = hnsw_form_neighbors(g->m, level, lists, counts, &nsize);
	BlockNumber hint = pg->insert_page;
	HnswId		id;

	id = hnsw_place_element(pg->index, &hint, etup, esize, ntup, nsize);
	if (hint != pg->insert_page)
		hnsw_update_meta(pg->index, HNSW_INVALID_ID, 0, hint);
	pg->insert_page = hint;
	pfree(etup);
	pfree(ntup);
	return id;
}

/*
 * HnswGraphOps.add_heaptid: an identical vector gets the new heap TID in a
 * free slot instead of a second element (UPDATEs that keep the vector).
 */
static bool
page_add_heaptid(HnswGraph *g, HnswId id, const float *vec, ItemPointer tid)
{
	HnswPageGraph *pg = PG_OF(g);
	Buffer		buf = ReadBuffer(pg->index, HnswIdBlock(id));
	GenericXLogState *state;
	HnswElementTuple etup;
	Page		page;
	bool		added = false;
	int			i;

	LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
	hnsw_check_page(pg->index, BufferGetPage(buf), HnswIdBlock(id));
	state = GenericXLogStart(pg->index);
	page = GenericXLogRegisterBuffer(state, buf, 0);
	etup = element_on(pg, page, id);
	if ((etup->flags & (HNSW_ELEMENT_DEAD | HNSW_ELEMENT_DELETED)) == 0 &&
		memcmp(etup->vec, vec, sizeof(float) * g->dim) == 0)
	{
		for (i = 0; i < HNSW_HEAPTIDS && !added; i++)
		{
			if (!ItemPointerIsValid(&etup->heaptids[i]))
			{
				etup->heaptids[i] = *tid;
				added = true;
			}
		}
	}
	if (added)
		GenericXLogFinish(state);
	else
		GenericXLogAbort(state);
	UnlockReleaseBuffer(buf);
	return added;
}

static const HnswGraphOps page_ops = {
	page_distances,
	page_neighbors,
	page_replace_neighbors,
	page_vector,
	page_place,
	page_add_heaptid
};

void
hnsw_page_graph_init(HnswPageGraph *pg, Relation index, HnswIndexInfo *info,
					 int dim, int max_level)
{
	hnsw_graph_init(&pg->g, &page_ops, dim, info->m, info->ef_construction,
					max_level, info->dist);
	pg->index = index;
	pg->pinned = InvalidBuffer;
	pg->max_level = max_level;
	pg->insert_page = InvalidBlockNumber;
	pg->recent = recent_for(index);
}

void
hnsw_page_graph_release(HnswPageGraph *pg)
{
	if (pg->pinned != InvalidBuffer)
		ReleaseBuffer(pg->pinned);
	pg->pinned = InvalidBuffer;
}

/*
 * Copies a vector datum into out as the index stores it: dimensions
 * checked, normalised for cosine.  Returns false for a vector the index
 * does not hold (zero under cosine).
 */
bool
hnsw_prepare_vector(HnswIndexInfo *info, Datum value, float *out, int dim)
{
	Vector	   *v = DatumGetVector(value);
	int			i;

	if (v->dim != dim)
		CheckVectorDims(dim, v->dim);
	memcpy(out, v->x, sizeof(float) * dim);
	if (info->normalize)
	{
		double		norm = sqrt((double) vec_norm_squared(out, dim));

		if (norm == 0)
			return false;
		for (i = 0; i < dim; i++)
			out[i] = (float) (out[i] / norm);
	}
	if ((Pointer) v != DatumGetPointer(value))
		pfree(v);
	return true;
}

/* copies the heap TIDs of a live element into out; returns how many */
static int
copy_tids(HnswElementTuple etup, ItemPointerData *out)
{
	int			n = 0;
	int			i;

	if (etup->flags & (HNSW_ELEMENT_DEAD | HNSW_ELEMENT_DELETED))
		return 0;
	for (i = 0; i < HNSW_HEAPTIDS; i++)
		if (ItemPointerIsValid(&etup->heaptids[i]))
			out[n++] = etup->heaptids[i];
	return n;
}

/* the heap TIDs of element id, for a scan returning it */
int
hnsw_element_tids(HnswPageGraph *pg, HnswId id, ItemPointerData *out)
{
	Page		page = lock_block(pg, HnswIdBlock(id));
	int			n = copy_tids(element_on(pg, page, id), out);

	unlock_block(pg);
	return n;
}

/*
 * The heap TIDs of every live element on block blkno, for scans that need
 * all rows in no particular order (a NULL query).  out has room for
 * HNSW_MAX_ITEMS_PER_PAGE * HNSW_HEAPTIDS.
 */
int
hnsw_block_tids(HnswPageGraph *pg, BlockNumber blkno, ItemPointerData *out)
{
	Page		page = lock_block(pg, blkno);
	OffsetNumber maxoff = PageGetMaxOffsetNumber(page);
	OffsetNumber off;
	int			n = 0;

	for (off = FirstOffsetNumber; off <= maxoff; off++)
	{
		ItemId		iid = PageGetItemId(page, off);

		if (ItemIdIsNormal(iid) &&
			*(uint8 *) PageGetItem(page, iid) == HNSW_TUPLE_ELEMENT)
			n += copy_tids(element_on(pg, page, HnswIdMake(blkno, off)), out + n);
	}
	unlock_block(pg);
	return n;
}
