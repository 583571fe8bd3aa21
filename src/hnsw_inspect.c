/*
 * hnsw_inspect.c
 *		SQL-callable status and verification: hnsw_index_info(regclass), the
 *		counterpart of the original service's /status, and
 *		hnsw_index_check(regclass), which walks the whole index and checks
 *		every invariant listed in src/README.md.
 */
#include "postgres.h"

#include <math.h>

#include "access/htup_details.h"
#include "access/relation.h"
#include "catalog/index.h"
#include "catalog/pg_am.h"
#include "commands/defrem.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"

#include "hnsw.h"

PG_FUNCTION_INFO_V1(hnsw_index_info);

/*
 * Opens an hnsw index for inspection, after checking the caller may
 * SELECT from its table (so the counts reveal nothing the table would
 * not).
 */
Relation
hnsw_open_for_inspection(Oid indexoid, LOCKMODE lockmode)
{
	Oid			heapoid = IndexGetRelation(indexoid, true);
	Relation	index;
	AclResult	acl;

	if (!OidIsValid(heapoid))
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is not an index", get_rel_name(indexoid) ?
						get_rel_name(indexoid) : "?")));
	acl = pg_class_aclcheck(heapoid, GetUserId(), ACL_SELECT);
	if (acl != ACLCHECK_OK)
		aclcheck_error(acl, OBJECT_TABLE, get_rel_name(heapoid));
	index = relation_open(indexoid, lockmode);
	if (index->rd_rel->relam != get_index_am_oid("hnsw", false))
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is not an hnsw index",
						RelationGetRelationName(index))));
	return index;
}

/* element counts by state, from one pass over the pages */
typedef struct HnswCounts
{
	int64		elements;
	int64		deleted;		/* DEAD, DELETED or FREE */
	int64		heaptids;
} HnswCounts;

static void
count_page(Relation index, BlockNumber blkno, HnswCounts *c)
{
	Page		page;
	Buffer		buf = hnsw_read_graph_page(index, blkno, &page);
	OffsetNumber off;

	if (buf == InvalidBuffer)
		return;
	for (off = FirstOffsetNumber; off <= PageGetMaxOffsetNumber(page); off++)
	{
		HnswElementTuple etup;
		int			i;

		if (!hnsw_item_element(page, off))
			continue;
		etup = hnsw_page_element(index, page, HnswIdMake(blkno, off));
		c->elements++;
		if (etup->flags & HNSW_ELEMENT_GONE)
			c->deleted++;
		else
			for (i = 0; i < HNSW_HEAPTIDS; i++)
				c->heaptids += ItemPointerIsValid(&etup->heaptids[i]);
	}
	UnlockReleaseBuffer(buf);
}

/*
 * hnsw_index_info(regclass): one row of counts and settings.
 * count_indexed = count_active + count_deleted always holds.
 */
Datum
hnsw_index_info(PG_FUNCTION_ARGS)
{
	Oid			indexoid = PG_GETARG_OID(0);
	Relation	index = hnsw_open_for_inspection(indexoid, AccessShareLock);
	HnswMetaPageData meta;
	HnswCounts	c = {0, 0, 0};
	BlockNumber nblocks;
	BlockNumber blkno;
	TupleDesc	tupdesc;
	Datum		values[11];
	bool		nulls[11] = {0};

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	hnsw_read_meta(index, &meta);
	nblocks = RelationGetNumberOfBlocks(index);
	for (blkno = HNSW_METAPAGE_BLKNO + 1; blkno < nblocks; blkno++)
	{
		CHECK_FOR_INTERRUPTS();
		count_page(index, blkno, &c);
	}
	values[0] = Int64GetDatum(c.elements);
	values[1] = Int64GetDatum(c.deleted);
	values[2] = Int64GetDatum(c.elements - c.deleted);
	values[3] = Int64GetDatum(c.heaptids);
	values[4] = Int32GetDatum(meta.dim);
	values[5] = Int32GetDatum(meta.m);
	values[6] = Int32GetDatum(meta.ef_construction);
	values[7] = Int32GetDatum(meta.entry_level);
	values[8] = Int64GetDatum(nblocks);
	values[9] = Int64GetDatum((int64) nblocks * BLCKSZ);
	values[10] = Int32GetDatum(meta.version);
	relation_close(index, AccessShareLock);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}
