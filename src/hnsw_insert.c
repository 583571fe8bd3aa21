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
#include "vector.h"

static void insert_datum(Relation index, HnswIndexInfo *info, Datum value,
						 ItemPointer tid, bool unchanged);

/*
 * Places the first element of an empty index, under the metapage lock.
 * Returns false if another backend got there first: the caller retries
 * as an ordinary insert.
 */
static bool
insert_first(Relation index, HnswIndexInfo *info, Datum value, ItemPointer tid)
{
	Buffer		buf = ReadBuffer(index, HNSW_METAPAGE_BLKNO);
	HnswMetaPage meta;
	GenericXLogState *state;
	Page		page;
	bool		placed = false;

	LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
	hnsw_check_meta(index, BufferGetPage(buf));
	meta = HnswPageGetMeta(BufferGetPage(buf));
	if (meta->entry == HNSW_INVALID_ID)
	{
		int			dim = meta->dim ? meta->dim : DatumGetVector(value)->dim;
		float	   *vec;
		int			level = hnsw_random_level(meta->m, meta->max_level);
		BlockNumber hint = meta->insert_page;
		HnswId		id;

		hnsw_check_dimensions(dim, false);
		vec = palloc(sizeof(float) * dim);
		if (hnsw_prepare_vector(info, value, vec, dim))
		{
			id = hnsw_store_new_element(index, dim, meta->m, vec, level,
										NULL, NULL, tid, &hint);

			state = GenericXLogStart(index);
			page = GenericXLogRegisterBuffer(state, buf, 0);
			meta = HnswPageGetMeta(page);
			meta->dim = dim;
			meta->entry = id;
			meta->entry_level = level;
			meta->insert_page = hint;
			GenericXLogFinish(state);
		}
		else if (meta->dim == 0)
		{
			/*
			 * A vector the index does not hold (zero under cosine) fixes the
			 * dimensions all the same: else a row of other dimensions would
			 * be accepted next, and the table could not be indexed again.
			 */
			state = GenericXLogStart(index);
			page = GenericXLogRegisterBuffer(state, buf, 0);
			HnswPageGetMeta(page)->dim = dim;
			GenericXLogFinish(state);
		}
		placed = true;
	}
	UnlockReleaseBuffer(buf);
	return placed;
}

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
		if (insert_first(index, info, value, tid))
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
	level = hnsw_random_level(meta.m, meta.max_level);
	id = hnsw_insert(g, vec, level, tid, meta.entry, meta.entry_level);
	hnsw_page_graph_close(pg);
	if (id != HNSW_INVALID_ID && level > meta.entry_level)
		hnsw_update_meta(index, id, level, InvalidBlockNumber);
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
