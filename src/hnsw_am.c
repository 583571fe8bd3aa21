/*
 * hnsw_am.c
 *		The access method's handler, its validator and its cost estimate.
 */
#include "postgres.h"

#include <float.h>

#include "access/amapi.h"
#include "access/amvalidate.h"
#include "access/htup_details.h"
#include "catalog/pg_opclass.h"
#include "commands/progress.h"
#include "commands/vacuum.h"
#include "optimizer/optimizer.h"
#include "utils/float.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/selfuncs.h"
#include "utils/syscache.h"

#include "hnsw.h"

PG_FUNCTION_INFO_V1(hnswhandler);

/* names of the build sub-phases in pg_stat_progress_create_index */
static char *
hnswbuildphasename(int64 phasenum)
{
	switch (phasenum)
	{
		case PROGRESS_CREATEIDX_SUBPHASE_INITIALIZE:
			return "initializing";
		case PROGRESS_HNSW_PHASE_LOAD:
			return "building graph";
		case PROGRESS_HNSW_PHASE_WRITE:
			return "writing pages";
		default:
			return NULL;
	}
}

/*
 * The opclass must supply its distance function; everything else is fixed
 * by the SQL script.
 */
static bool
hnswvalidate(Oid opclassoid)
{
	HeapTuple	tup = SearchSysCache1(CLAOID, ObjectIdGetDatum(opclassoid));
	Form_pg_opclass form;
	bool		ok;

	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for operator class %u", opclassoid);
	form = (Form_pg_opclass) GETSTRUCT(tup);
	ok = OidIsValid(get_opfamily_proc(form->opcfamily, form->opcintype,
									  form->opcintype, HNSW_DISTANCE_PROC));
	if (!ok)
		ereport(INFO,
				(errcode(ERRCODE_INVALID_OBJECT_DEFINITION),
				 errmsg("hnsw operator class \"%s\" lacks its distance support function",
						NameStr(form->opcname))));
	ReleaseSysCache(tup);
	return ok;
}

/*
 * A search expands about ef_search elements at layer 0 and computes the
 * distance to each of their up to 2m neighbours: that, not the table size,
 * is the work, and it is all done before the first row comes out.  Without
 * an ORDER BY the index is useless, so the path is priced out.
 */
void
hnswcostestimate(PlannerInfo *root, IndexPath *path, double loop_count,
				 Cost *indexStartupCost, Cost *indexTotalCost,
				 Selectivity *indexSelectivity, double *indexCorrelation,
				 double *indexPages)
{
	GenericCosts costs;
	Relation	index;
	int			m;
	double		visits;

	if (path->indexorderbys == NIL)
	{
		*indexStartupCost = get_float8_infinity();
		*indexTotalCost = get_float8_infinity();
		*indexSelectivity = 0;
		*indexCorrelation = 0;
		*indexPages = 0;
		return;
	}
	index = index_open(path->indexinfo->indexoid, NoLock);
	m = index->rd_options ? ((HnswOptions *) index->rd_options)->m : HNSW_DEFAULT_M;
	index_close(index, NoLock);

	visits = (double) hnsw_ef_search * 2 * m;
	MemSet(&costs, 0, sizeof(costs));
	costs.numIndexTuples = Min(visits, Max(path->indexinfo->tuples, 1));
	genericcostestimate(root, path, loop_count, &costs);

	*indexStartupCost = costs.indexTotalCost +
		costs.numIndexTuples * cpu_operator_cost * 4;
	*indexTotalCost = *indexStartupCost +
		path->indexinfo->tuples * cpu_index_tuple_cost;
	*indexSelectivity = 1.0;
	*indexCorrelation = 0;
	*indexPages = costs.numIndexPages;
}

Datum
hnswhandler(PG_FUNCTION_ARGS)
{
	IndexAmRoutine *amroutine = makeNode(IndexAmRoutine);

	amroutine->amstrategies = 0;
	amroutine->amsupport = HNSW_NPROCS;
	amroutine->amoptsprocnum = 0;
	amroutine->amcanorder = false;
	amroutine->amcanorderbyop = true;
	amroutine->amcanbackward = false;
	amroutine->amcanunique = false;
	amroutine->amcanmulticol = false;
	amroutine->amoptionalkey = true;
	amroutine->amsearcharray = false;
	amroutine->amsearchnulls = false;
	amroutine->amstorage = false;
	amroutine->amclusterable = false;
	amroutine->ampredlocks = false;
	amroutine->amcanparallel = false;
	amroutine->amcaninclude = false;
	amroutine->amusemaintenanceworkmem = false;
#if PG_VERSION_NUM >= 160000
	amroutine->amsummarizing = false;
#endif
#if PG_VERSION_NUM >= 170000
	amroutine->amcanbuildparallel = false;
#endif
	amroutine->amparallelvacuumoptions = VACUUM_OPTION_PARALLEL_BULKDEL;
	amroutine->amkeytype = InvalidOid;

	amroutine->ambuild = hnswbuild;
	amroutine->ambuildempty = hnswbuildempty;
	amroutine->aminsert = hnswinsert;
#if PG_VERSION_NUM >= 170000
	amroutine->aminsertcleanup = NULL;
#endif
	amroutine->ambulkdelete = hnswbulkdelete;
	amroutine->amvacuumcleanup = hnswvacuumcleanup;
	amroutine->amcanreturn = NULL;
	amroutine->amcostestimate = hnswcostestimate;
	amroutine->amoptions = hnswoptions;
	amroutine->amproperty = NULL;
	amroutine->ambuildphasename = hnswbuildphasename;
	amroutine->amvalidate = hnswvalidate;
#if PG_VERSION_NUM >= 140000
	amroutine->amadjustmembers = NULL;
#endif
	amroutine->ambeginscan = hnswbeginscan;
	amroutine->amrescan = hnswrescan;
	amroutine->amgettuple = hnswgettuple;
	amroutine->amgetbitmap = NULL;
	amroutine->amendscan = hnswendscan;
	amroutine->ammarkpos = NULL;
	amroutine->amrestrpos = NULL;
	amroutine->amestimateparallelscan = NULL;
	amroutine->aminitparallelscan = NULL;
	amroutine->amparallelrescan = NULL;

	PG_RETURN_POINTER(amroutine);
}
