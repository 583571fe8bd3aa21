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
 *     DELETED elements and are refilled to the edges they had, from two
 *     hops (and, at level 0 of an element of level 1 or more, from its
 *     level-1 list; above level 0, from a search of that level:
 *     hnsw_repair_plan); a page's repaired lists are written in one WAL
 *     record, and the edges back they owe are queued and added target
 *     page by target page (hnsw_link_back_many), so that WAL records are
 *     few.
 *  3. a DELETED entry point is replaced by the highest-level element pass
 *     2 saw; then every element pass 2 saw is made reachable at layer 0
 *     from the entry point (hnsw_reconnect).
 *  4. DELETED elements become FREE and their pages go into the free space
 *     map; inserts overwrite FREE slots in place.
 */
#include "postgres.h"

#include "commands/vacuum.h"
#include "miscadmin.h"
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
	HnswIdSet	removed;		/* DELETED elements this VACUUM frees */
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

/* a pass over one page: its elements through visit, the page's WAL and map */
static void
update_elements(HnswVacuum *vac, BlockNumber blkno, HnswElementRewrite visit)
{
	vacuum_delay_point();
	hnsw_rewrite_elements(vac->index, blkno, vac->info->strategy, vac->m,
						  vac->esize, visit, vac);
}

/*
 * pass 1: drop dead TIDs; collect the DELETED elements.  A DELETED or FREE
 * element that still holds a TID is damage this pass would make permanent
 * (pass 4 would free the slot for reuse with its row still in the table):
 * it raises an ERROR instead.
 */
static bool
visit_dead(void *arg, HnswId id, HnswElementTuple etup)
{
	HnswVacuum *vac = arg;
	bool		changed = false;

	hnsw_check_deleted_element(vac->index, id, etup);
	if (hnsw_element_is_free(etup))
		return false;
	vac->stats->num_index_tuples +=
		hnsw_element_drop_tids(etup, vac->callback, vac->callback_state,
							   &vac->stats->tuples_removed, &changed);
	if (hnsw_element_is_deleted(etup))
		hnsw_idset_add(&vac->removed, id);
	return changed;
}

/* pass 4: the DELETED elements in the removed set become FREE */
static bool
visit_free(void *arg, HnswId id, HnswElementTuple etup)
{
	HnswVacuum *vac = arg;

	if (!hnsw_idset_contains(&vac->removed, id))
		return false;
	hnsw_element_set_free(etup);
	return true;
}

/* pass 2 on one page: repair every staying element's lists */
static void
repair_page(HnswVacuum *vac, HnswGraph *g, BlockNumber blkno)
{
	HnswListWrite *writes = hnsw_list_writes(g);
	HnswId		ids[HNSW_MAX_ITEMS_PER_PAGE];
	int			levels[HNSW_MAX_ITEMS_PER_PAGE];
	int			n;
	int			nw = 0;
	int			i;

	vacuum_delay_point();
	n = hnsw_staying_elements(vac->index, blkno, vac->info->strategy,
							  ids, levels);
	for (i = 0; i < n; i++)
	{
		if (vac->nstaying == vac->capstaying)
		{
			vac->capstaying *= 2;
			vac->staying = repalloc_huge(vac->staying,
										 sizeof(HnswId) * vac->capstaying);
		}
		vac->staying[vac->nstaying++] = ids[i];
		if (levels[i] > vac->best_level)
		{
			vac->best = ids[i];
			vac->best_level = levels[i];
		}
	}

	/* plan every list's repair, then write the page's lists together */
	for (i = 0; i < n; i++)
	{
		int			level;

		for (level = 0; level <= levels[i]; level++)
		{
			if (hnsw_repair_plan(g, ids[i], level, levels[i],
								 &vac->removed, &writes[nw]))
				nw++;
			if (nw == HNSW_WRITE_BATCH)
			{
				hnsw_repair_apply(g, writes, nw, &vac->removed,
								  &vac->backlinks);
				nw = 0;
			}
		}
	}
	if (nw > 0)
		hnsw_repair_apply(g, writes, nw, &vac->removed,
						  &vac->backlinks);
	if (vac->backlinks.count >= HNSW_VACUUM_BACKLINKS)
		hnsw_link_back_many(g, &vac->backlinks);
}

/* pass 3: a deleted entry point gives way to the highest staying element */
static void
replace_entry(HnswVacuum *vac)
{
	hnsw_meta_replace_entry(vac->index, &vac->removed, vac->best,
							vac->best_level);
}

/* pass 3b: every staying element reachable from the (new) entry point */
static void
reconnect(HnswVacuum *vac, HnswGraph *g)
{
	HnswMetaPageData meta;
	bool	   *gone = palloc0(Max(vac->nstaying, 1));

	hnsw_read_meta(vac->index, &meta);
	if (meta.entry != HNSW_INVALID_ID)
		(void) hnsw_reconnect(g, vac->staying, gone, vac->nstaying,
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

/*
 * Passes 2 to 4, when pass 1 found deleted elements.  hold: pass 1 saw no
 * live element, so pass 2 may find none to stay and pass 3 clear the entry
 * point; an insert after the barrier would then find nothing it may link
 * to and, placed on a page pass 2 had read, stay unreached, the index
 * holding a live element and no entry (a review's race: its row was never
 * returned again).  Then the insert lock stays held until the entry is
 * replaced and the graph reconnected: inserts wait, and after it see the
 * new entry or none (and place the first element).
 */
static void
repair_and_free(HnswVacuum *vac, bool hold)
{
	HnswIndexInfo info;
	HnswMetaPageData meta;
	HnswPageGraph *pg;
	HnswGraph  *g;
	BlockNumber nblocks;
	BlockNumber blkno;
	BlockNumber *blocks;
	int			nb;
	int			i;

	/* inserts that may have chosen a now-DELETED neighbour finish first */
	LockPage(vac->index, HNSW_INSERT_LOCK, ExclusiveLock);
	if (!hold)
		UnlockPage(vac->index, HNSW_INSERT_LOCK, ExclusiveLock);

	hnsw_get_info(vac->index, &info);
	hnsw_read_meta(vac->index, &meta);
	pg = hnsw_page_graph_open(vac->index, &info, &meta);
	/* repairs return to the same pages: keep their pins (src/README.md 5.2) */
	hnsw_page_graph_keep_pins(pg, 1024);
	g = hnsw_page_graph_core(pg);
	nblocks = RelationGetNumberOfBlocks(vac->index);
	vac->capstaying = 1024;
	vac->nstaying = 0;
	vac->staying = palloc(sizeof(HnswId) * vac->capstaying);
	vac->backlinks.items = NULL;
	vac->backlinks.count = vac->backlinks.capacity = 0;
	for (blkno = HNSW_FIRST_GRAPH_BLOCK(&meta); blkno < nblocks; blkno++)
		repair_page(vac, g, blkno);
	hnsw_link_back_many(g, &vac->backlinks);

	replace_entry(vac);
	reconnect(vac, g);
	hnsw_page_graph_close(pg);
	if (hold)
		UnlockPage(vac->index, HNSW_INSERT_LOCK, ExclusiveLock);

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
	vac.esize = HNSW_ELEMENT_SIZE(meta.storage, meta.dim);
	hnsw_idset_init(&vac.removed, 1024);

	for (blkno = HNSW_FIRST_GRAPH_BLOCK(&meta); blkno < nblocks; blkno++)
		update_elements(&vac, blkno, visit_dead);
	if (vac.removed.count > 0)
		repair_and_free(&vac, stats->num_index_tuples == 0);
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
