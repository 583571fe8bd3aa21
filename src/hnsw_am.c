/*
 * hnsw_am.c
 *		The access method's handler, its validator and its cost estimate.
 */
#include "postgres.h"

#include <float.h>
#include <math.h>

#include "access/amapi.h"
#include "access/amvalidate.h"
#include "access/htup_details.h"
#include "catalog/pg_opclass.h"
#include "commands/progress.h"
#include "commands/vacuum.h"
#include "optimizer/cost.h"
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
 * What a scan costs.  A search computes distances to about ef_search * 2m
 * elements (plus a few per upper level) before its first row; every row
 * after that costs a little more search.  Pages are priced as cached when
 * effective_cache_size holds the index, since a graph search revisits the
 * same hot pages; otherwise the uncached share is priced as random reads.
 * Every row after the first round costs an expansion (2m distances), so
 * an ORDER BY without LIMIT prefers an exact sort, which returns every row.
 * Without an ORDER BY the index is useless, so the path is priced out.
 */
void
hnswcostestimate(PlannerInfo *root, IndexPath *path, double loop_count,
				 Cost *indexStartupCost, Cost *indexTotalCost,
				 Selectivity *indexSelectivity, double *indexCorrelation,
				 double *indexPages)
{
	IndexOptInfo *index = path->indexinfo;
	double		tuples = Max(index->tuples, 1);
	double		pages = Max(index->pages, 1);
	Relation	rel;
	int			m;
	int			dim;
	double		visits;
	double		per_visit;
	double		touched;
	double		cached;

	if (path->indexorderbys == NIL)
	{
		*indexStartupCost = get_float8_infinity();
		*indexTotalCost = get_float8_infinity();
		*indexSelectivity = 0;
		*indexCorrelation = 0;
		*indexPages = 0;
		return;
	}
	rel = index_open(index->indexoid, NoLock);
	m = rel->rd_options ? ((HnswOptions *) rel->rd_options)->m : HNSW_DEFAULT_M;
	dim = TupleDescAttr(RelationGetDescr(rel), 0)->atttypmod;
	index_close(rel, NoLock);
	if (dim <= 0)
		dim = 128;

	visits = Min(tuples, (double) hnsw_ef_search * 2 * m +
				 2.0 * m * log(tuples) / log((double) m));
	per_visit = cpu_index_tuple_cost + cpu_operator_cost * Max(dim / 64.0, 1.0);
	touched = Min(pages, visits * pages / tuples);
	cached = Min(1.0, (double) effective_cache_size / pages);

	*indexStartupCost = visits * per_visit + touched * cpu_tuple_cost +
		touched * (1.0 - cached) * random_page_cost;
	/* streaming past the first round expands about one element per row */
	*indexTotalCost = *indexStartupCost + (tuples - visits) * per_visit * 2 * m +
		(pages - touched) * (cpu_tuple_cost + (1.0 - cached) * random_page_cost);
	*indexSelectivity = 1.0;
	*indexCorrelation = 0;
	*indexPages = touched;
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
