/*
 * hnsw_vacuum.c
 *		ambulkdelete and amvacuumcleanup.
 *
 * Dead heap TIDs are removed from their elements; an element left with no
 * TID is marked deleted.  A deleted element stays in the graph as a
 * waypoint: searches traverse it but never return it, so the graph stays
 * connected.
 */
#include "postgres.h"

#include "access/generic_xlog.h"
#include "commands/vacuum.h"
#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "utils/rel.h"

#include "hnsw.h"

/*
 * Removes the TIDs callback reports dead from the element; returns how
 * many remain, and whether anything changed.
 */
static int
vacuum_element(HnswElementTuple etup, IndexBulkDeleteCallback callback,
			   void *callback_state, IndexBulkDeleteResult *stats,
			   bool *changed)
{
	int			live = 0;
	int			i;

	for (i = 0; i < HNSW_HEAPTIDS; i++)
	{
		if (!ItemPointerIsValid(&etup->heaptids[i]))
			continue;
		if (callback(&etup->heaptids[i], callback_state))
		{
			ItemPointerSetInvalid(&etup->heaptids[i]);
			stats->tuples_removed++;
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
	return live;
}

/* one graph page under an exclusive lock, WAL-logged if it changed */
static void
vacuum_page(Relation index, Buffer buf, IndexBulkDeleteCallback callback,
			void *callback_state, IndexBulkDeleteResult *stats)
{
	GenericXLogState *state;
	Page		page;
	OffsetNumber off;
	OffsetNumber maxoff;
	bool		changed = false;

	LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
	hnsw_check_page(index, BufferGetPage(buf), BufferGetBlockNumber(buf));
	state = GenericXLogStart(index);
	page = GenericXLogRegisterBuffer(state, buf, 0);
	maxoff = PageGetMaxOffsetNumber(page);
	for (off = FirstOffsetNumber; off <= maxoff; off++)
	{
		ItemId		iid = PageGetItemId(page, off);
		HnswElementTuple etup;

		if (!ItemIdIsNormal(iid))
			continue;
		etup = (HnswElementTuple) PageGetItem(page, iid);
		if (etup->type != HNSW_TUPLE_ELEMENT)
			continue;
		stats->num_index_tuples +=
			vacuum_element(etup, callback, callback_state, stats, &changed);
	}
	if (changed)
		GenericXLogFinish(state);
	else
		GenericXLogAbort(state);
	UnlockReleaseBuffer(buf);
}

/* ambulkdelete */
IndexBulkDeleteResult *
hnswbulkdelete(IndexVacuumInfo *info, IndexBulkDeleteResult *stats,
			   IndexBulkDeleteCallback callback, void *callback_state)
{
	Relation	index = info->index;
	BlockNumber nblocks = RelationGetNumberOfBlocks(index);
	BlockNumber blkno;

	if (stats == NULL)
		stats = palloc0(sizeof(IndexBulkDeleteResult));
	stats->num_index_tuples = 0;
	for (blkno = HNSW_METAPAGE_BLKNO + 1; blkno < nblocks; blkno++)
	{
		Buffer		buf;

		vacuum_delay_point();
		buf = ReadBufferExtended(index, MAIN_FORKNUM, blkno, RBM_NORMAL,
								 info->strategy);
		vacuum_page(index, buf, callback, callback_state, stats);
	}
	stats->num_pages = nblocks;
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
