/*
 * hnsw_inspect.c
 *		SQL-callable status: hnsw_index_info(regclass), the counterpart of
 *		the original service's /status, and the opening of an index for
 *		inspection (privileges first, then locks) that hnsw_index_check
 *		shares.  The checker itself, hnsw_index_check(regclass, boolean),
 *		is hnsw_check.c.
 */
#include "postgres.h"

#include <math.h>

#include "access/htup_details.h"
#include "access/relation.h"
#include "access/table.h"
#include "catalog/index.h"
#include "catalog/pg_am.h"
#include "catalog/pg_class.h"
#include "commands/defrem.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/syscache.h"

#include "hnsw.h"

PG_FUNCTION_INFO_V1(hnsw_index_info);

/*
 * Opens an hnsw index for inspection by the SQL function func, and with
 * heap not NULL its table too (AccessShareLock, taken before the index's
 * lock, in the order DML takes them).  Everything that can refuse the
 * call is decided from the catalogues before any lock is requested, so
 * that a caller without rights, or with the wrong kind of relation, gets
 * the error at once instead of queueing behind another session's lock:
 * the argument must be an index, the caller must be allowed to SELECT
 * from its table (so the results reveal nothing the table would not), the
 * index must be an hnsw index, and not a partitioned one, which has no
 * storage of its own.
 */
Relation
hnsw_open_for_inspection(Oid indexoid, LOCKMODE lockmode, Relation *heap,
						 const char *func)
{
	Oid			heapoid = IndexGetRelation(indexoid, true);
	HeapTuple	tuple;
	Form_pg_class form;
	char	   *name;
	char	   *qualified;
	char		relkind;
	Oid			relam;
	Relation	index;
	AclResult	acl;

	if (!OidIsValid(heapoid))
	{
		name = get_rel_name(indexoid);
		if (name == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_TABLE),
					 errmsg("index with OID %u does not exist", indexoid)));
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is not an index", name)));
	}
	acl = pg_class_aclcheck(heapoid, GetUserId(), ACL_SELECT);
	if (acl != ACLCHECK_OK)
		aclcheck_error(acl, OBJECT_TABLE, get_rel_name(heapoid));

	tuple = SearchSysCache1(RELOID, ObjectIdGetDatum(indexoid));
	if (!HeapTupleIsValid(tuple))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("index with OID %u does not exist", indexoid)));
	form = (Form_pg_class) GETSTRUCT(tuple);
	name = pstrdup(NameStr(form->relname));
	qualified = quote_qualified_identifier(get_namespace_name(form->relnamespace),
										   name);
	relkind = form->relkind;
	relam = form->relam;
	ReleaseSysCache(tuple);
	if (relam != get_index_am_oid("hnsw", false))
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is not an hnsw index", name)));
	if (relkind == RELKIND_PARTITIONED_INDEX)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is a partitioned index", name),
				 errdetail("A partitioned index holds no data; each partition has an index of its own."),
				 errhint("Call %s on the index of each partition, for example: SELECT * FROM pg_partition_tree(%s) p, LATERAL %s(p.relid) WHERE p.isleaf;",
						 func, quote_literal_cstr(qualified), func)));

	if (heap)
		*heap = table_open(heapoid, AccessShareLock);
	index = index_open(indexoid, lockmode);
	/* dropped and its OID reused while we waited for the locks */
	if (index->rd_index->indrelid != heapoid ||
		index->rd_rel->relam != relam)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("index \"%s\" was dropped while it was being opened",
						name)));
	return index;
}

/*
 * Counts by state, from one pass over the pages.  Rows are heap TIDs held by
 * elements (up to HNSW_HEAPTIDS identical vectors share one element):
 * those of elements hinted DEAD are rows a scan found deleted, dead to
 * every transaction, that VACUUM has not removed yet; those of elements
 * with no flag are the rows a search can return.  A DELETED or FREE element
 * holds no TIDs (VACUUM's pass 1 removed them all).
 */
typedef struct HnswCounts
{
	int64		elements;		/* element tuples, in every state */
	int64		elements_gone;	/* DEAD, DELETED or FREE */
	int64		rows_active;	/* TIDs of elements that are not gone */
	int64		rows_dead;		/* TIDs of elements hinted DEAD */
} HnswCounts;

/* adds one element tuple to the counts */
static void
count_element(void *arg, Page page, HnswId id, HnswElementTuple etup)
{
	HnswCounts *c = (HnswCounts *) arg;
	int64		tids = 0;
	int			i;

	for (i = 0; i < HNSW_HEAPTIDS; i++)
		tids += ItemPointerIsValid(&etup->heaptids[i]);
	c->elements++;
	if (etup->flags & HNSW_ELEMENT_GONE)
	{
		c->elements_gone++;
		if (!(etup->flags & (HNSW_ELEMENT_DELETED | HNSW_ELEMENT_FREE)))
			c->rows_dead += tids;
	}
	else
		c->rows_active += tids;
}

/* OUT columns of hnsw_index_info in extension version 0.1.0 */
#define HNSW_INFO_NATTS_0_1_0	11
/* in 0.2.0 and 0.3.0 */
#define HNSW_INFO_NATTS_0_2_0	13
/* in 0.4.0: storage, bytes_per_vector */
#define HNSW_INFO_NATTS_0_4_0	15
/* and from 0.5.0 on: centroids */
#define HNSW_INFO_NATTS			16

/*
 * hnsw_index_info(regclass): one row of counts and settings, the
 * counterpart of the original service's /status.  The service counted
 * documents, so count_indexed, count_deleted and count_active count rows
 * (heap TIDs): count_indexed = count_active + count_deleted, the rows the
 * index holds; count_deleted, the rows of elements hinted DEAD; count_active,
 * the rest.  The elements* columns count element tuples the same way
 * (elements = elements_active + elements_deleted, where elements_deleted
 * takes DEAD, DELETED and FREE ones).
 *
 * A database still on version 0.1.0 of the SQL script (the library updated,
 * ALTER EXTENSION UPDATE not yet run) declares the 0.1.0 columns; they get
 * the 0.1.0 values, element counts and heap_tids, rather than 0.2.0 values
 * under the wrong names.  One on 0.2.0 or 0.3.0 gets all but the last
 * three, one on 0.4.0 all but the last.
 */
Datum
hnsw_index_info(PG_FUNCTION_ARGS)
{
	Oid			indexoid = PG_GETARG_OID(0);
	Relation	index = hnsw_open_for_inspection(indexoid, AccessShareLock, NULL,
												 "hnsw_index_info");
	HnswMetaPageData meta;
	HnswCounts	c = {0, 0, 0, 0};
	BlockNumber nblocks;
	BlockNumber blkno;
	TupleDesc	tupdesc;
	Datum		values[HNSW_INFO_NATTS];
	bool		nulls[HNSW_INFO_NATTS] = {0};
	int			n = 0;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	if (tupdesc->natts != HNSW_INFO_NATTS &&
		tupdesc->natts != HNSW_INFO_NATTS_0_4_0 &&
		tupdesc->natts != HNSW_INFO_NATTS_0_2_0 &&
		tupdesc->natts != HNSW_INFO_NATTS_0_1_0)
		elog(ERROR, "hnsw_index_info: unexpected number of result columns: %d",
			 tupdesc->natts);
	hnsw_read_meta(index, &meta);
	nblocks = RelationGetNumberOfBlocks(index);
	for (blkno = HNSW_FIRST_GRAPH_BLOCK(&meta); blkno < nblocks; blkno++)
	{
		CHECK_FOR_INTERRUPTS();
		hnsw_page_walk_elements(index, blkno, NULL, count_element, &c);
	}
	if (tupdesc->natts != HNSW_INFO_NATTS_0_1_0)
	{
		values[n++] = Int64GetDatum(c.rows_active + c.rows_dead);
		values[n++] = Int64GetDatum(c.rows_dead);
		values[n++] = Int64GetDatum(c.rows_active);
		values[n++] = Int64GetDatum(c.elements);
		values[n++] = Int64GetDatum(c.elements_gone);
		values[n++] = Int64GetDatum(c.elements - c.elements_gone);
	}
	else
	{
		/* 0.1.0: count_indexed, count_deleted, count_active, heap_tids */
		values[n++] = Int64GetDatum(c.elements);
		values[n++] = Int64GetDatum(c.elements_gone);
		values[n++] = Int64GetDatum(c.elements - c.elements_gone);
		values[n++] = Int64GetDatum(c.rows_active);
	}
	values[n++] = Int32GetDatum(meta.dim);
	values[n++] = Int32GetDatum(meta.m);
	values[n++] = Int32GetDatum(meta.ef_construction);
	values[n++] = Int32GetDatum(meta.entry_level);
	values[n++] = Int64GetDatum(nblocks);
	values[n++] = Int64GetDatum((int64) nblocks * BLCKSZ);
	values[n++] = Int32GetDatum(meta.version);
	if (tupdesc->natts >= HNSW_INFO_NATTS_0_4_0)
	{
		values[n++] = CStringGetTextDatum(hnsw_storage_name(meta.storage));
		values[n++] = Int32GetDatum((int32) hnsw_code_bytes(meta.storage,
															meta.dim));
	}
	if (tupdesc->natts == HNSW_INFO_NATTS)
		values[n++] = Int32GetDatum(meta.ncentroids);
	Assert(n == tupdesc->natts);
	index_close(index, AccessShareLock);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}
