/*
 * hnsw_vacuum.c
 *		ambulkdelete and amvacuumcleanup: remove dead heap TIDs, repair the
 *		graph around deleted elements, and free their slots for reuse.
 *
 * Four passes (src/README.md has the concurrency argument):
 *  1. every page: drop dead TIDs; an element left with none is marked
 *     DELETED.  Searches now traverse it but never return it, and inserts
 *     that start from now on never link to it.
 *  2. wait, by taking the insert lock exclusively once, for every insert
 *     in progress (any may have chosen a now-DELETED neighbour before pass
 *     1 marked it).  Then every other element's lists lose their edges to
 *     DELETED elements, refilled from two hops (and, at level 0 of an
 *     element of level 1 or more, from its level-1 list: hnsw_repair_plan); a
 *     page's repaired lists are written in one WAL record, and the edges
 *     back they owe are queued and added target page by target page
 *     (hnsw_link_back_many), so that WAL records are few.
 *  3. a DELETED entry point is replaced by the highest-level element pass
 *     2 saw; then every element pass 2 saw is made reachable at layer 0
 *     from the entry point (hnsw_reconnect).
 *  4. DELETED elements become FREE and their pages go into the free space
 *     map; inserts overwrite FREE slots in place.
 */
#include "postgres.h"

#include "access/generic_xlog.h"
#include "commands/vacuum.h"
#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "storage/freespace.h"
#include "storage/lmgr.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#include "hnsw.h"

typedef struct HnswVacuum
{
	IndexVacuumInfo *info;
	Relation	index;
	IndexBulkDeleteResult *stats;
	IndexBulkDeleteCallback callback;
	void	   *callback_state;
	HnswIdSet removed;		/* DELETED elements this VACUUM frees */
	HnswId		best;			/* highest-level element staying */
	int			best_level;
	HnswId	   *staying;		/* pass 2: every staying element, in order */
	int64		nstaying;
	int64		capstaying;
	HnswBackLinks backlinks;	/* pass 2: edges the repairs owe, queued */
	int			m;				/* from the metapage: neighbour tuple sizes */
	Size		esize;			/* element tuple size */
} HnswVacuum;

/* back-links queued before they are added, target page by target page */
#define HNSW_VACUUM_BACKLINKS	(256 * 1024)

/*
 * Reads block blkno for VACUUM, with its strategy, locked as asked;
 * InvalidBuffer for a never-initialised page.
 */
static Buffer
vacuum_buffer(HnswVacuum *vac, BlockNumber blkno, int mode)
{
	Buffer		buf;

	vacuum_delay_point();
	buf = ReadBufferExtended(vac->index, MAIN_FORKNUM, blkno, RBM_NORMAL,
							 vac->info->strategy);
	LockBuffer(buf, mode);
	/* a page added by an extension that crashed before initialising it */
	if (PageIsNew(BufferGetPage(buf)))
	{
		UnlockReleaseBuffer(buf);
		return InvalidBuffer;
	}
	hnsw_check_page(vac->index, BufferGetPage(buf), blkno);
	return buf;
}

/*
 * Drops the TIDs the callback reports dead; marks the element DELETED when
 * none is left.  Returns the number of live TIDs.
 */
static int
vacuum_element(HnswVacuum *vac, HnswElementTuple etup, bool *changed)
{
	int			live = 0;
	int			i;

	for (i = 0; i < HNSW_HEAPTIDS; i++)
	{
		if (!ItemPointerIsValid(&etup->heaptids[i]))
			continue;
		if (vac->callback(&etup->heaptids[i], vac->callback_state))
		{
			ItemPointerSetInvalid(&etup->heaptids[i]);
			vac->stats->tuples_removed++;
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
	/* a DEAD hint with live TIDs left is stale: the element is a result */
	if (live > 0 && (etup->flags & HNSW_ELEMENT_DEAD))
	{
		etup->flags &= ~HNSW_ELEMENT_DEAD;
		*changed = true;
	}
	return live;
}

/* what a pass does to one element tuple; true if it changed it */
typedef bool (*ElementVisitor) (HnswVacuum *vac, HnswId id, HnswElementTuple etup);

/*
 * Runs visit on every element tuple of blkno under an exclusive lock, in
 * one WAL record if anything changed, and records in the free space map
 * the highest level of element the page's FREE slots can then take
 * (hnsw_fsm_value; the map is not crash-safe, so every pass that sees the
 * page refreshes it).
 */
static void
update_elements(HnswVacuum *vac, BlockNumber blkno, ElementVisitor visit)
{
	Buffer		buf = vacuum_buffer(vac, blkno, BUFFER_LOCK_EXCLUSIVE);
	GenericXLogState *state;
	Page		page;
	OffsetNumber maxoff;
	OffsetNumber off;
	bool		changed = false;
	int			level;

	if (buf == InvalidBuffer)
		return;
	state = GenericXLogStart(vac->index);
	page = GenericXLogRegisterBuffer(state, buf, 0);
	maxoff = hnsw_page_max_offset(vac->index, page, blkno);
	for (off = FirstOffsetNumber; off <= maxoff; off++)
	{
		HnswElementTuple etup = hnsw_item_element(vac->index, blkno, page, off);

		if (etup == NULL)
			continue;
		changed |= visit(vac, HnswIdMake(blkno, off), etup);
	}
	if (changed)
		GenericXLogFinish(state);
	else
		GenericXLogAbort(state);
	level = hnsw_page_reuse_level(vac->index, BufferGetPage(buf), blkno,
								  vac->m, vac->esize);
	UnlockReleaseBuffer(buf);
	RecordPageWithFreeSpace(vac->index, blkno, hnsw_fsm_value(level));
}

/*
 * pass 1: drop dead TIDs; collect the DELETED elements.  A DELETED or FREE
 * element that still holds a TID is damage this pass would make permanent
 * (pass 4 would free the slot for reuse with its row still in the table):
 * it raises an ERROR instead.
 */
static bool
visit_dead(HnswVacuum *vac, HnswId id, HnswElementTuple etup)
{
	bool		changed = false;

	hnsw_check_deleted_element(vac->index, id, etup);
	if (etup->flags & HNSW_ELEMENT_FREE)
		return false;
	vac->stats->num_index_tuples += vacuum_element(vac, etup, &changed);
	if (etup->flags & HNSW_ELEMENT_DELETED)
		hnsw_idset_add(&vac->removed, id);
	return changed;
}

/* pass 4: the DELETED elements in the removed set become FREE */
static bool
visit_free(HnswVacuum *vac, HnswId id, HnswElementTuple etup)
{
	if (!hnsw_idset_contains(&vac->removed, id))
		return false;
	etup->flags = HNSW_ELEMENT_DELETED | HNSW_ELEMENT_FREE;
	return true;
}

/* pass 2 on one page: repair every staying element's lists */
static void
repair_page(HnswVacuum *vac, HnswPageGraph *pg, BlockNumber blkno)
{
	Buffer		buf = vacuum_buffer(vac, blkno, BUFFER_LOCK_SHARE);
	Page		page;
	OffsetNumber maxoff;
	HnswListWrite *writes = hnsw_list_writes(&pg->g);
	HnswId		ids[HNSW_MAX_ITEMS_PER_PAGE];
	int			levels[HNSW_MAX_ITEMS_PER_PAGE];
	int			n = 0;
	int			nw = 0;
	OffsetNumber off;
	int			i;

	if (buf == InvalidBuffer)
		return;
	page = BufferGetPage(buf);
	/* at most HNSW_MAX_ITEMS_PER_PAGE, the size of ids and levels */
	maxoff = hnsw_page_max_offset(vac->index, page, blkno);
	for (off = FirstOffsetNumber; off <= maxoff; off++)
	{
		HnswElementTuple etup = hnsw_item_element(vac->index, blkno, page, off);

		if (etup == NULL ||
			(etup->flags & (HNSW_ELEMENT_FREE | HNSW_ELEMENT_DELETED)))
			continue;
		Assert(n < HNSW_MAX_ITEMS_PER_PAGE);
		ids[n] = HnswIdMake(blkno, off);
		levels[n++] = etup->level;
		if (vac->nstaying == vac->capstaying)
		{
			vac->capstaying *= 2;
			vac->staying = repalloc_huge(vac->staying,
										 sizeof(HnswId) * vac->capstaying);
		}
		vac->staying[vac->nstaying++] = HnswIdMake(blkno, off);
		if (etup->level > vac->best_level)
		{
			vac->best = HnswIdMake(blkno, off);
			vac->best_level = etup->level;
		}
	}
	UnlockReleaseBuffer(buf);

	/* plan every list's repair, then write the page's lists together */
	for (i = 0; i < n; i++)
	{
		int			level;

		for (level = 0; level <= levels[i]; level++)
		{
			if (hnsw_repair_plan(&pg->g, ids[i], level, levels[i],
								 &vac->removed, &writes[nw]))
				nw++;
			if (nw == HNSW_WRITE_BATCH)
			{
				hnsw_repair_apply(&pg->g, writes, nw, &vac->removed,
								  &vac->backlinks);
				nw = 0;
			}
		}
	}
	if (nw > 0)
		hnsw_repair_apply(&pg->g, writes, nw, &vac->removed,
						  &vac->backlinks);
	if (vac->backlinks.count >= HNSW_VACUUM_BACKLINKS)
		hnsw_link_back_many(&pg->g, &vac->backlinks);
}

/* pass 3: a deleted entry point gives way to the highest staying element */
static void
replace_entry(HnswVacuum *vac)
{
	Buffer		buf = ReadBuffer(vac->index, HNSW_METAPAGE_BLKNO);
	HnswMetaPage meta;

	LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
	hnsw_check_meta(vac->index, BufferGetPage(buf));
	meta = HnswPageGetMeta(BufferGetPage(buf));
	if (meta->entry != HNSW_INVALID_ID &&
		hnsw_idset_contains(&vac->removed, meta->entry))
	{
		GenericXLogState *state = GenericXLogStart(vac->index);
		Page		page = GenericXLogRegisterBuffer(state, buf, 0);

		meta = HnswPageGetMeta(page);
		meta->entry = vac->best;
		meta->entry_level = vac->best == HNSW_INVALID_ID ? -1 : vac->best_level;
		GenericXLogFinish(state);
	}
	UnlockReleaseBuffer(buf);
}

/* pass 3b: every staying element reachable from the (new) entry point */
static void
reconnect(HnswVacuum *vac, HnswPageGraph *pg)
{
	HnswMetaPageData meta;
	bool	   *gone = palloc0(Max(vac->nstaying, 1));

	hnsw_read_meta(vac->index, &meta);
	if (meta.entry != HNSW_INVALID_ID)
		(void) hnsw_reconnect(&pg->g, vac->staying, gone, vac->nstaying,
							  meta.entry);
	pfree(gone);
}

static int
block_cmp(const void *a, const void *b)
{
	BlockNumber x = *(const BlockNumber *) a;
	BlockNumber y = *(const BlockNumber *) b;

	return (x > y) - (x < y);
}

/* the distinct blocks holding removed elements, sorted */
static int
removed_blocks(HnswVacuum *vac, BlockNumber **out)
{
	HnswId	   *ids = palloc(sizeof(HnswId) * Max(vac->removed.count, 1));
	BlockNumber *blocks = palloc(sizeof(BlockNumber) * Max(vac->removed.count, 1));
	uint32		n = hnsw_idset_members(&vac->removed, ids);
	uint32		i;
	int			k = 0;

	for (i = 0; i < n; i++)
		blocks[i] = HnswIdBlock(ids[i]);
	pfree(ids);
	qsort(blocks, n, sizeof(BlockNumber), block_cmp);
	for (i = 0; i < n; i++)
		if (k == 0 || blocks[k - 1] != blocks[i])
			blocks[k++] = blocks[i];
	*out = blocks;
	return k;
}

/* passes 2 to 4, when pass 1 found deleted elements */
static void
repair_and_free(HnswVacuum *vac)
{
	HnswIndexInfo info;
	HnswMetaPageData meta;
	HnswPageGraph pg;
	BlockNumber nblocks;
	BlockNumber blkno;
	BlockNumber *blocks;
	int			nb;
	int			i;

	/* inserts that may have chosen a now-DELETED neighbour finish first */
	LockPage(vac->index, HNSW_INSERT_LOCK, ExclusiveLock);
	UnlockPage(vac->index, HNSW_INSERT_LOCK, ExclusiveLock);

	hnsw_get_info(vac->index, &info);
	hnsw_read_meta(vac->index, &meta);
	hnsw_page_graph_init(&pg, vac->index, &info, &meta);
	nblocks = RelationGetNumberOfBlocks(vac->index);
	vac->capstaying = 1024;
	vac->nstaying = 0;
	vac->staying = palloc(sizeof(HnswId) * vac->capstaying);
	vac->backlinks.items = NULL;
	vac->backlinks.count = vac->backlinks.capacity = 0;
	for (blkno = HNSW_METAPAGE_BLKNO + 1; blkno < nblocks; blkno++)
		repair_page(vac, &pg, blkno);
	hnsw_link_back_many(&pg.g, &vac->backlinks);

	replace_entry(vac);
	reconnect(vac, &pg);
	hnsw_page_graph_release(&pg);

	nb = removed_blocks(vac, &blocks);
	for (i = 0; i < nb; i++)
		update_elements(vac, blocks[i], visit_free);
	pfree(blocks);
}

/* ambulkdelete */
IndexBulkDeleteResult *
hnswbulkdelete(IndexVacuumInfo *info, IndexBulkDeleteResult *stats,
			   IndexBulkDeleteCallback callback, void *callback_state)
{
	HnswVacuum	vac;
	HnswMetaPageData meta;
	BlockNumber nblocks = RelationGetNumberOfBlocks(info->index);
	BlockNumber blkno;
	MemoryContext ctx = AllocSetContextCreate(CurrentMemoryContext,
											  "hnsw vacuum",
											  ALLOCSET_DEFAULT_SIZES);
	MemoryContext old = MemoryContextSwitchTo(ctx);

	if (stats == NULL)
		stats = MemoryContextAllocZero(old, sizeof(IndexBulkDeleteResult));
	stats->num_index_tuples = 0;
	vac.info = info;
	vac.index = info->index;
	vac.stats = stats;
	vac.callback = callback;
	vac.callback_state = callback_state;
	vac.best = HNSW_INVALID_ID;
	vac.best_level = -1;
	hnsw_read_meta(info->index, &meta);
	vac.m = meta.m;
	vac.esize = HNSW_ELEMENT_SIZE(meta.dim);
	hnsw_idset_init(&vac.removed, 1024);

	for (blkno = HNSW_METAPAGE_BLKNO + 1; blkno < nblocks; blkno++)
		update_elements(&vac, blkno, visit_dead);
	if (vac.removed.count > 0)
		repair_and_free(&vac);
	/* recording set only the map's leaf pages: bring the upper ones along */
	FreeSpaceMapVacuum(vac.index);

	stats->num_pages = RelationGetNumberOfBlocks(info->index);
	MemoryContextSwitchTo(old);
	MemoryContextDelete(ctx);
	return stats;
}

/* counts live heap TIDs when VACUUM had nothing to delete */
static bool
keep_all(ItemPointer tid, void *state)
{
	return false;
}

/* amvacuumcleanup */
IndexBulkDeleteResult *
hnswvacuumcleanup(IndexVacuumInfo *info, IndexBulkDeleteResult *stats)
{
	if (info->analyze_only)
		return stats;
	if (stats == NULL)
		stats = hnswbulkdelete(info, NULL, keep_all, NULL);
	stats->num_pages = RelationGetNumberOfBlocks(info->index);
	return stats;
}
