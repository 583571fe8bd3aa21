/*
 * hnsw_options.c
 *		Index options (m, ef_construction, storage), the hnsw.* settings, and what an
 *		index's opclass means for the graph: metric, normalisation, kernel.
 */
#include "postgres.h"

#include <float.h>
#include <limits.h>

#include "access/reloptions.h"
#include "utils/guc.h"
#include "utils/rel.h"

#include "distance.h"
#include "hnsw.h"
#include "vector.h"

#if PG_VERSION_NUM < 150000
#define MarkGUCPrefixReserved(x) EmitWarningsOnPlaceholders(x)
#endif

int			hnsw_ef_search = 40;
int			hnsw_iterative_scan = HNSW_ITERATIVE_STRICT;
int			hnsw_max_scan_tuples = 20000;
int			hnsw_level_seed_setting = 0;
double		hnsw_scan_mem_multiplier = 1;

static relopt_kind hnsw_relopt_kind;

static const struct config_enum_entry iterative_scan_options[] = {
	{"off", HNSW_ITERATIVE_OFF, false},
	{"relaxed_order", HNSW_ITERATIVE_RELAXED, false},
	{"strict_order", HNSW_ITERATIVE_STRICT, false},
	{NULL, 0, false}
};

/* the storage reloption's validator: one of the names hnsw_codes.c knows */
static void
validate_storage(const char *value)
{
	if (value != NULL && hnsw_storage_by_name(value) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid value for hnsw option \"storage\": \"%s\"",
						value),
				 errdetail("Valid values are \"float4\", \"half\", \"sq8\" and \"sq4\".")));
}

/*
 * Registers the reloptions and GUCs.  Names, ranges and types follow
 * pgvector's so that scripts written for it run unchanged; the one
 * deliberate difference is iterative_scan's default (see README).
 */
void
hnsw_init_options(void)
{
	hnsw_relopt_kind = add_reloption_kind();
	add_int_reloption(hnsw_relopt_kind, "m",
					  "Max number of connections per element and layer",
					  HNSW_DEFAULT_M, HNSW_MIN_M, HNSW_MAX_M,
					  AccessExclusiveLock);
	add_int_reloption(hnsw_relopt_kind, "ef_construction",
					  "Size of the candidate list while building the graph",
					  HNSW_DEFAULT_EF_CONSTRUCTION, HNSW_MIN_EF_CONSTRUCTION,
					  HNSW_MAX_EF_CONSTRUCTION, AccessExclusiveLock);
	add_string_reloption(hnsw_relopt_kind, "storage",
						 "How the index keeps vectors: float4, half, sq8 or sq4",
						 "float4", validate_storage, AccessExclusiveLock);

	DefineCustomIntVariable("hnsw.ef_search",
							"Size of the candidate list for index scans.",
							"Larger is slower and finds more true neighbours.",
							&hnsw_ef_search, 40, 1, 1000,
							PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomEnumVariable("hnsw.iterative_scan",
							 "How a scan continues after ef_search results.",
							 "off stops there; strict_order keeps searching "
							 "and keeps distances in order; relaxed_order "
							 "keeps searching and may return late finds out "
							 "of order.",
							 &hnsw_iterative_scan, HNSW_ITERATIVE_STRICT,
							 iterative_scan_options,
							 PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("hnsw.max_scan_tuples",
							"Elements a continuing scan may visit before it "
							"stops searching.",
							NULL, &hnsw_max_scan_tuples, 20000, 1, INT_MAX,
							PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomRealVariable("hnsw.scan_mem_multiplier",
							 "Memory a scan may use, as a multiple of work_mem.",
							 NULL, &hnsw_scan_mem_multiplier, 1, 1, 1000,
							 PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("hnsw.level_seed",
							"Seed of the levels of the elements an index "
							"build or insert adds; 0 takes the index's "
							"file number.",
							"With the same seed, the same rows get the same "
							"levels in any index, and a REINDEX keeps them.",
							&hnsw_level_seed_setting, 0, 0, INT_MAX,
							PGC_USERSET, 0, NULL, NULL, NULL);
	MarkGUCPrefixReserved("hnsw");
}

/* amoptions */
bytea *
hnswoptions(Datum reloptions, bool validate)
{
	static const relopt_parse_elt tab[] = {
		{"m", RELOPT_TYPE_INT, offsetof(HnswOptions, m)},
		{"ef_construction", RELOPT_TYPE_INT, offsetof(HnswOptions, ef_construction)},
		{"storage", RELOPT_TYPE_STRING, offsetof(HnswOptions, storage)},
	};

	return (bytea *) build_reloptions(reloptions, validate, hnsw_relopt_kind,
									  sizeof(HnswOptions), tab, lengthof(tab));
}

/*
 * Reads the index's options and recognises its metric from the opclass's
 * distance support function, so the graph calls a kernel directly instead
 * of going through fmgr for every distance.  The kernels are the index
 * variants of distance.c, which stay finite and ordered for every finite
 * input (a plain float sum overflows to inf, and an edge mark set on inf
 * makes a NaN).
 */
void
hnsw_get_info(Relation index, HnswIndexInfo *info)
{
	HnswOptions *opts = (HnswOptions *) index->rd_options;
	FmgrInfo   *proc = index_getprocinfo(index, 1, HNSW_DISTANCE_PROC);
	PGFunction	fn = proc->fn_addr;

	info->m = opts ? opts->m : HNSW_DEFAULT_M;
	info->ef_construction = opts ? opts->ef_construction : HNSW_DEFAULT_EF_CONSTRUCTION;
	info->storage = HNSW_STORAGE_FLOAT4;
	if (opts && opts->storage != 0)
		info->storage = hnsw_storage_by_name((char *) opts + opts->storage);
	info->normalize = false;
	if (fn == l2_distance || fn == vector_l2_squared_distance)
	{
		info->metric = HNSW_METRIC_L2;
		info->dist = vec_index_l2_squared;
	}
	else if (fn == vector_negative_inner_product || fn == inner_product)
	{
		info->metric = HNSW_METRIC_IP;
		info->dist = vec_index_ip_distance;
	}
	else if (fn == cosine_distance)
	{
		info->metric = HNSW_METRIC_COSINE;
		info->dist = vec_index_ip_distance;
		info->normalize = true;
	}
	else if (fn == l1_distance)
	{
		info->metric = HNSW_METRIC_L1;
		info->dist = vec_index_l1;
	}
	else
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("hnsw index \"%s\" has an unsupported distance function",
						RelationGetRelationName(index))));
}

/*
 * Refuses dimensions the index cannot hold: an element tuple carries the
 * whole vector or code and must fit on one page.  column: the limit is met
 * in the column's type modifier (CREATE INDEX), else in a vector on its way
 * into the index (an unconstrained column).  The message for float4 is
 * pgvector's; the hint names the storage that lifts the limit.
 */
void
hnsw_check_dimensions(int dim, int storage, bool column)
{
	int			max = hnsw_storage_max_dim(storage);

	if (dim > max)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 column ?
				 errmsg("column cannot have more than %d dimensions for hnsw index",
						max) :
				 errmsg("vector cannot have more than %d dimensions for hnsw index",
						max),
				 storage == HNSW_STORAGE_FLOAT4 ?
				 errhint("Use WITH (storage = half) for up to %d dimensions, storage = sq8 for up to %d, or storage = sq4 for up to %d.",
						 HNSW_MAX_DIM_HALF, HNSW_MAX_DIM_SQ8, HNSW_MAX_DIM_SQ4) :
				 storage == HNSW_STORAGE_HALF ?
				 errhint("Use WITH (storage = sq8) for up to %d dimensions, or storage = sq4 for up to %d.",
						 HNSW_MAX_DIM_SQ8, HNSW_MAX_DIM_SQ4) :
				 storage == HNSW_STORAGE_SQ8 ?
				 errhint("Use WITH (storage = sq4) for up to %d dimensions.",
						 HNSW_MAX_DIM_SQ4) : 0));
}

/* how this index's elements keep their vectors (storage: the metapage's) */
void
hnsw_codec_init(HnswCodec *c, const HnswIndexInfo *info, int storage, int dim)
{
	c->storage = storage;
	c->dim = dim;
	c->l1 = info->metric == HNSW_METRIC_L1;
	c->ncent = 0;				/* hnsw_codec_load_centroids gives them */
	c->cent = NULL;
}
