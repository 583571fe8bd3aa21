/*
 * hnsw_insert.c
 *		aminsert: one heap tuple into the on-page graph.
 *
 * An insert takes no lock that excludes other inserts.  It holds the
 * heavyweight insert lock in share mode (only VACUUM's barrier waits for
 * it), reads the metapage, searches the graph page by page, appends its
 * element (with its neighbour lists already filled, so it is never visible
 * half-linked), then adds the back-links one list at a time, and finally
 * raises the entry point if its level is the new maximum.  Only the very
 * first element of an empty index is placed under the metapage's
 * exclusive lock, so two first inserts cannot both become entry points of
 * separate graphs.
 */
#include "postgres.h"

#include "storage/lmgr.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#include "hnsw.h"

static void insert_datum(Relation index, HnswIndexInfo *info, Datum value,
						 ItemPointer tid, bool unchanged);

/*
 * Inserts one vector datum.  Used by aminsert and by a build that outgrew
 * maintenance_work_mem.  Runs in a short-lived memory context of the
 * caller's.  With unchanged (an UPDATE that kept the vector), a narrow
 * search first tries to attach the TID to the existing element.
 *
 * The insert lock is held shared throughout, so that VACUUM can wait for
 * inserts that might link to an element it is about to free.
 */
void
hnsw_insert_datum(Relation index, HnswIndexInfo *info, Datum value,
				  ItemPointer tid, bool unchanged)
{
	LockPage(index, HNSW_INSERT_LOCK, ShareLock);
	insert_datum(index, info, value, tid, unchanged);
	UnlockPage(index, HNSW_INSERT_LOCK, ShareLock);
}

static void
insert_datum(Relation index, HnswIndexInfo *info, Datum value,
			 ItemPointer tid, bool unchanged)
{
	HnswMetaPageData meta;
	HnswPageGraph *pg;
	HnswGraph  *g;
	float	   *vec;
	int			level;
	HnswId		id;

	for (;;)
	{
		hnsw_read_meta(index, &meta);
		if (meta.entry != HNSW_INVALID_ID)
			break;
		if (hnsw_meta_place_first(index, info, value, tid))
			return;
	}
	vec = palloc(sizeof(float) * meta.dim);
	if (!hnsw_prepare_vector(info, value, vec, meta.dim))
		return;

	pg = hnsw_page_graph_open(index, info, &meta);
	g = hnsw_page_graph_core(pg);
	if (unchanged &&
		hnsw_attach_duplicate(g, vec, tid, meta.entry, meta.entry_level))
	{
		hnsw_page_graph_close(pg);
		return;
	}
	level = hnsw_tid_level(hnsw_level_seed(index), tid, meta.m, meta.max_level);
	id = hnsw_insert(g, vec, level, tid, meta.entry, meta.entry_level);
	hnsw_page_graph_close(pg);
	if (id != HNSW_INVALID_ID && level > meta.entry_level)
		hnsw_meta_advance(index, id, level, InvalidBlockNumber);
}

/* aminsert */
bool
hnswinsert(Relation index, Datum *values, bool *isnull, ItemPointer heap_tid,
		   Relation heap, IndexUniqueCheck checkUnique,
#if PG_VERSION_NUM >= 140000
		   bool indexUnchanged,
#endif
		   IndexInfo *indexInfo)
{
	MemoryContext ctx;
	MemoryContext old;
	HnswIndexInfo info;

	if (isnull[0])
		return false;
	ctx = AllocSetContextCreate(CurrentMemoryContext, "hnsw insert",
								ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(ctx);
	hnsw_get_info(index, &info);
#if PG_VERSION_NUM >= 140000
	hnsw_insert_datum(index, &info, values[0], heap_tid, indexUnchanged);
#else
	hnsw_insert_datum(index, &info, values[0], heap_tid, false);
#endif
	MemoryContextSwitchTo(old);
	MemoryContextDelete(ctx);
	return false;
}
