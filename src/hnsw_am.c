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
 * Calibrated times, in microseconds, of the work the planner compares
 * (src/README.md, section 10, has the measurements and the method):
 * a seq scan + top-N sort of ORDER BY v <-> q LIMIT k costs a fixed part
 * plus a part per row, larger when the vector is out of line (TOAST fetch
 * and copy), and an index scan costs a fixed part (scan set-up, metapage,
 * descent) plus a part per element whose distance it computes.
 */
#define HNSW_SEQ_FIXED_US		17.0
#define HNSW_SEQ_ROW_US			0.23
#define HNSW_SEQ_ROW_DIM_US		0.00086
#define HNSW_SEQ_TOAST_ROW_US	0.27
#define HNSW_SEQ_TOAST_DIM_US	0.0025
#define HNSW_SCAN_FIXED_US		40.0
#define HNSW_VISIT_US			0.34
#define HNSW_VISIT_DIM_US		0.0006

/*
 * Elements whose distance a scan computes before it has handed out `rows`
 * rows: the fit of bench/cost_calibrate.py's counts, 2m * sqrt(beam) *
 * log_2m(N) (a search path that grows with the beam's square root and the
 * graph's depth, each expansion meeting up to 2m new neighbours), bounded
 * by the table with a smooth saturation.  The beam is ef_search: a round
 * hands out its whole beam.  A continuing scan that needs more rounds
 * costs about what one round of a beam of 1.4-2 times rows costs (LIMIT
 * 30 and 100 on the bench's clustered set), so the beam is widened to
 * 2 * rows there; with iterative_scan off one round is all there is.
 */
static double
hnsw_visits(double tuples, int m, double rows)
{
	double		beam = hnsw_ef_search;
	double		u;

	if (hnsw_iterative_scan != HNSW_ITERATIVE_OFF && rows > beam)
		beam = 2.0 * rows;
	u = 2.0 * m * sqrt(beam) * Max(log(tuples), 1.0) / log(2.0 * m);
	return tuples * (1.0 - exp(-u / tuples));
}

/*
 * What a scan costs, in the planner's own units for this table.
 *
 * The competing plan is a seq scan and a (top-N) sort.  The planner prices
 * it per heap page and per row, with the distance at its function's COST
 * whatever the dimension, and nothing for fetching out-of-line (TOAST)
 * vectors, so its price per millisecond of real work falls by an order of
 * magnitude from 3 to 1536 dimensions.  A dimension-aware index estimate in
 * any fixed unit would therefore lose to an underpriced seq scan exactly
 * where the index wins most.  So we compute what the planner charges the
 * seq scan (the same formulas as cost_seqscan and cost_sort), divide it by
 * the calibrated time of that scan to get the planner's rate for this
 * table, and charge the index scan's calibrated time at that rate: the
 * planner's comparison of the two estimates is then the comparison of the
 * two times.  What the planner adds to the index path itself (heap fetches
 * and per-row evaluation of the returned rows) it adds in the same units
 * as on the seq side.
 *
 * The rows a scan must produce come from the query's LIMIT when the index's
 * table is the only relation (scaled up by the selectivity of its other
 * conditions); otherwise the estimate covers one round and leaves the rest
 * to the LIMIT node's interpolation.  Pages of an index larger than
 * effective_cache_size are also priced as random reads for the uncached
 * share.  The total is a scan that runs to the end, visiting every element.
 * Without an ORDER BY the index is useless, so the path is priced out.
 */
void
hnswcostestimate(PlannerInfo *root, IndexPath *path, double loop_count,
				 Cost *indexStartupCost, Cost *indexTotalCost,
				 Selectivity *indexSelectivity, double *indexCorrelation,
				 double *indexPages)
{
	IndexOptInfo *index = path->indexinfo;
	RelOptInfo *baserel = index->rel;
	double		tuples = Max(baserel->tuples, Max(index->tuples, 1));
	double		heap_pages = Max(baserel->pages, 1);
	double		pages = Max(index->pages, 1);
	Relation	rel;
	int			m;
	int			dim;
	double		rows;
	bool		limited = false;
	bool		toasted;
	QualCost	order_cost;
	double		sorted;
	double		bound;
	double		seq_cost;
	double		seq_us;
	double		rate;
	double		visits;
	double		visit_us;
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

	/* rows the scan must hand out: LIMIT (+ OFFSET) over the selectivity */
	rows = hnsw_ef_search;
	if (root->limit_tuples > 0 &&
		bms_membership(root->all_baserels) == BMS_SINGLETON)
	{
		rows = root->limit_tuples * tuples / Max(baserel->rows, 1);
		limited = true;
	}
	rows = Min(rows, tuples);

	/*
	 * What the planner charges the seq scan + sort: pages, rows and the
	 * table's conditions; for every row that passes them, the distance and
	 * the sort's comparisons (a bounded heap when the LIMIT is known and
	 * small).
	 */
	cost_qual_eval(&order_cost, path->indexorderbys, root);
	sorted = Max(baserel->rows, 1);
	bound = limited && sorted > 2.0 * root->limit_tuples ?
		2.0 * root->limit_tuples : Max(sorted, 2.0);
	seq_cost = seq_page_cost * heap_pages +
		tuples * (cpu_tuple_cost + baserel->baserestrictcost.per_tuple) +
		sorted * (order_cost.per_tuple +
				  2.0 * cpu_operator_cost * log(bound) / log(2.0));

	/*
	 * Its calibrated time.  A vector is out of line if the heap holds less
	 * per row than the vector's own size.
	 */
	toasted = heap_pages * BLCKSZ / tuples < 4.0 * dim;
	seq_us = HNSW_SEQ_FIXED_US + tuples *
		(toasted ? HNSW_SEQ_TOAST_ROW_US + HNSW_SEQ_TOAST_DIM_US * dim :
		 HNSW_SEQ_ROW_US + HNSW_SEQ_ROW_DIM_US * dim);
	rate = seq_cost / seq_us;

	/* the index scan's calibrated time, at that rate */
	visits = hnsw_visits(tuples, m, rows);
	visit_us = HNSW_VISIT_US + HNSW_VISIT_DIM_US * dim;
	touched = Min(pages, visits * pages / tuples);
	cached = Min(1.0, (double) effective_cache_size / (pages + heap_pages));

	*indexStartupCost = (HNSW_SCAN_FIXED_US + visits * visit_us) * rate +
		touched * (1.0 - cached) * random_page_cost;
	*indexTotalCost = *indexStartupCost +
		(tuples - visits) * visit_us * rate +
		(pages - touched) * (1.0 - cached) * random_page_cost;
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
