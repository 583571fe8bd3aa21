/*
 * hnsw.h
 *		The hnsw index access method: on-disk layout, options and the
 *		functions that cross files.  src/README.md explains the design.
 */
#ifndef HNSW_H
#define HNSW_H

#include "postgres.h"

#include "access/amapi.h"
#include "access/genam.h"
#include "nodes/execnodes.h"
#include "nodes/pathnodes.h"
#include "storage/bufmgr.h"
#include "utils/relcache.h"

#include "hnsw_codes.h"
#include "hnsw_graph.h"

#define HNSW_MAGIC				0x68534E57	/* "hSNW" */
#define HNSW_FORMAT_VERSION		2	/* 2: lists mark their fillers */
#define HNSW_FORMAT_VERSION_CODES	3	/* 3: elements hold codes */
#define HNSW_FORMAT_VERSION_CENTROIDS	4	/* 4: codes of residuals */
#define HNSW_MIN_FORMAT_VERSION	1	/* still read and written */
#define HNSW_PAGE_ID			0xFF91

#define HNSW_METAPAGE_BLKNO		0
#define HNSW_MAX_DIM			2000	/* storage float4 */
#define HNSW_MAX_DIM_HALF		4000
#define HNSW_MAX_DIM_SQ8		8000
#define HNSW_MAX_DIM_SQ4		16000	/* the vector type's own limit */
#define HNSW_HEAPTIDS			8	/* heap tuples sharing one vector */
#define HNSW_MAX_CENTROIDS		64	/* an element's number must fit 8 bits */
#define HNSW_MAX_ITEMS_PER_PAGE	255 /* offsets must fit in 8 bits of an id */
#define HNSW_MAX_BLOCKS			((BlockNumber) 1 << 24)

#define HNSW_DEFAULT_M					16
#define HNSW_MIN_M						2
#define HNSW_MAX_M						100
#define HNSW_DEFAULT_EF_CONSTRUCTION	64
#define HNSW_MIN_EF_CONSTRUCTION		4
#define HNSW_MAX_EF_CONSTRUCTION		1000

/* support function numbers */
#define HNSW_DISTANCE_PROC		1
#define HNSW_NPROCS				1

/* page kinds */
#define HNSW_PAGE_META			1
#define HNSW_PAGE_GRAPH			2
#define HNSW_PAGE_CENTROIDS		3	/* blocks 1 to centroid_pages */

/* tuple kinds */
#define HNSW_TUPLE_ELEMENT		1
#define HNSW_TUPLE_NEIGHBORS	2
#define HNSW_TUPLE_FREE_NEIGHBORS	3	/* an unused neighbour tuple */

/* element flags */
#define HNSW_ELEMENT_DEAD		0x01	/* hint: all heap tuples are dead */
#define HNSW_ELEMENT_DELETED	0x02	/* no heap tuples: VACUUM removed them */
#define HNSW_ELEMENT_FREE		0x04	/* deleted and unlinked: slot reusable */
#define HNSW_ELEMENT_GONE	(HNSW_ELEMENT_DEAD | HNSW_ELEMENT_DELETED | HNSW_ELEMENT_FREE)

/* heavyweight page lock: inserts hold it shared, VACUUM waits them out */
#define HNSW_INSERT_LOCK		0

/* build phases for pg_stat_progress_create_index */
#define PROGRESS_HNSW_PHASE_LOAD	2
#define PROGRESS_HNSW_PHASE_WRITE	3

/*
 * The index's distances: L2 squared, 1 - q.x (inner product, and cosine over
 * normalised vectors), L1.  A scan of an inner-product index computes -q.x
 * instead (HNSW_METRIC_NEG_IP), which keeps float's relative precision at
 * any scale where 1 - q.x ties every product below about 6e-8; the lists'
 * stored distances, compared by inserts and VACUUM, stay 1 - q.x.
 */
typedef enum HnswMetric
{
	HNSW_METRIC_L2,
	HNSW_METRIC_IP,
	HNSW_METRIC_COSINE,
	HNSW_METRIC_L1,
	HNSW_METRIC_NEG_IP
} HnswMetric;

/* special space at the end of every page */
typedef struct HnswPageOpaqueData
{
	uint16		kind;
	uint16		page_id;		/* HNSW_PAGE_ID, for tools that identify AMs */
	uint32		unused;
} HnswPageOpaqueData;

typedef HnswPageOpaqueData *HnswPageOpaque;

/* the metapage's contents, after the page header */
typedef struct HnswMetaPageData
{
	uint32		magic;
	uint32		version;
	uint16		dim;			/* 0 until the first vector arrives */
	uint16		m;
	uint16		ef_construction;
	uint8		storage;		/* HNSW_STORAGE_* */
	uint8		max_level;		/* cap on element levels for this index */
	HnswId		entry;			/* entry point, or HNSW_INVALID_ID */
	int32		entry_level;
	BlockNumber insert_page;	/* page new tuples are appended to */
	/* version 4: trained centroids (sq8, sq4; zero in older metapages) */
	uint16		ncentroids;		/* 0, or 2 to HNSW_MAX_CENTROIDS */
	uint16		centroid_pages; /* blocks 1 to this hold them */
	uint32		centroid_crc;	/* CRC-32C of their floats */
} HnswMetaPageData;

typedef HnswMetaPageData *HnswMetaPage;

/*
 * An element: its vector (or its code: hnsw_codes.h) and heap TIDs.  Its
 * neighbour lists live in a separate neighbour tuple (same page whenever
 * both fit), found via nbrs.
 */
typedef struct HnswElementTupleData
{
	uint8		type;
	uint8		level;
	uint8		flags;
	uint8		centroid;		/* its code's centroid (hnsw_codes.h), or 0 */
	HnswId		nbrs;
	ItemPointerData heaptids[HNSW_HEAPTIDS];	/* unused ones invalid */
	float		vec[FLEXIBLE_ARRAY_MEMBER]; /* hnsw_code_bytes of them */
} HnswElementTupleData;

typedef HnswElementTupleData *HnswElementTuple;

/*
 * An element's neighbour lists: 2m edges at level 0, then m per level up to
 * the element's level.  A list ends at its capacity or its first invalid id;
 * lists are kept sorted by distance.
 */
typedef struct HnswNeighborTupleData
{
	uint8		type;
	uint8		level;
	uint16		unused;
	HnswEdge	edges[FLEXIBLE_ARRAY_MEMBER];
} HnswNeighborTupleData;

typedef HnswNeighborTupleData *HnswNeighborTuple;

#define HNSW_ELEMENT_SIZE(storage, dim) \
	(offsetof(HnswElementTupleData, vec) + hnsw_code_bytes((storage), (dim)))
#define HNSW_NEIGHBOR_SIZE(m, level) \
	(offsetof(HnswNeighborTupleData, edges) + sizeof(HnswEdge) * \
	 (HNSW_LIST_OFFSET(m, level) + HNSW_LIST_CAP(m, level)))

/* where level's list starts in a neighbour tuple (lists of HNSW_LIST_CAP) */
#define HNSW_LIST_OFFSET(m, level)	\
	((level) == 0 ? 0 : HNSW_LIST_CAP(m, 0) + ((level) - 1) * HNSW_LIST_CAP(m, 1))

/* ids */
#define HnswIdMake(blk, off)	((HnswId) (((blk) << 8) | (off)))
#define HnswIdBlock(id)			((BlockNumber) ((id) >> 8))
#define HnswIdOffset(id)		((OffsetNumber) ((id) & 0xFF))

#define HnswPageGetOpaque(page) ((HnswPageOpaque) PageGetSpecialPointer(page))
#define HnswPageGetMeta(page)	((HnswMetaPage) PageGetContents(page))

/* reloptions */
typedef struct HnswOptions
{
	int32		vl_len_;
	int			m;
	int			ef_construction;
	int			storage;		/* offset of the string value, or 0 */
} HnswOptions;

/* GUCs */
typedef enum HnswIterativeScan
{
	HNSW_ITERATIVE_OFF,
	HNSW_ITERATIVE_RELAXED,
	HNSW_ITERATIVE_STRICT
} HnswIterativeScan;

extern int	hnsw_ef_search;
extern int	hnsw_iterative_scan;
extern int	hnsw_max_scan_tuples;
extern int	hnsw_level_seed_setting;
extern double hnsw_scan_mem_multiplier;

/* what an index's opclass and options say, read once per operation */
typedef struct HnswIndexInfo
{
	HnswMetric	metric;
	bool		normalize;
	int			m;
	int			ef_construction;
	int			storage;		/* as the reloption asks; the metapage rules */
	float		(*dist) (const float *, const float *, int);
} HnswIndexInfo;

/*
 * The on-page graph of one operation (a scan, an insert, a VACUUM pass, a
 * check): the graph core over the index's buffers.  Opaque: only the
 * storage module (hnsw_store.c) sees its fields.
 */
typedef struct HnswPageGraph HnswPageGraph;

/* hnsw_options.c */
extern void hnsw_init_options(void);
extern bytea *hnswoptions(Datum reloptions, bool validate);
extern void hnsw_get_info(Relation index, HnswIndexInfo *info);
extern void hnsw_check_dimensions(int dim, int storage, bool column);
extern void hnsw_codec_init(HnswCodec *c, const HnswIndexInfo *info,
							int storage, int dim);

/* hnsw_pages.c */
extern void hnsw_init_page(Page page, uint16 kind);
extern void hnsw_read_meta(Relation index, HnswMetaPageData *meta);
extern void hnsw_check_meta(Relation index, Page page);
extern void hnsw_check_page_kind(Relation index, Page page, BlockNumber blkno,
								 uint16 kind, const char *notkind);
extern void hnsw_check_page(Relation index, Page page, BlockNumber blkno);
extern OffsetNumber hnsw_page_max_offset(Relation index, Page page,
										 BlockNumber blkno);
extern void hnsw_check_deleted_element(Relation index, HnswId id,
									   HnswElementTuple etup);
extern HnswElementTuple hnsw_page_element(Relation index, Page page, HnswId id);
extern HnswNeighborTuple hnsw_page_neighbors(Relation index, Page page,
											 HnswId id, int m);
extern HnswNeighborTuple hnsw_page_neighbors_any(Relation index, Page page,
												 HnswId id);
extern uint8 hnsw_item_type(Relation index, BlockNumber blkno, Page page,
							OffsetNumber off);
extern HnswElementTuple hnsw_item_element(Relation index, BlockNumber blkno,
										  Page page, OffsetNumber off);
typedef void (*HnswItemVisitor) (void *arg, Page page, BlockNumber blkno,
								 OffsetNumber off);
typedef void (*HnswElementVisitor) (void *arg, Page page, HnswId id,
									HnswElementTuple etup);
extern Buffer hnsw_read_graph_page(Relation index, BlockNumber blkno,
								   BufferAccessStrategy strategy, int mode,
								   Page *page);
extern void hnsw_page_walk_items(Relation index, BlockNumber blkno,
								 BufferAccessStrategy strategy,
								 HnswItemVisitor visit, void *arg);
extern void hnsw_page_walk_elements(Relation index, BlockNumber blkno,
									BufferAccessStrategy strategy,
									HnswElementVisitor visit, void *arg);
extern Size hnsw_item_space(Size size);
extern Size hnsw_page_capacity(void);
extern int	hnsw_level_cap(int m);
extern uint64 hnsw_level_seed(Relation index);
extern Buffer hnsw_new_buffer(Relation index, ForkNumber fork);
extern void hnsw_corrupt(Relation index, BlockNumber blkno, OffsetNumber off,
						 const char *what) pg_attribute_noreturn();

/* hnsw_centroids.c */
extern int	hnsw_centroid_count(double rows, int storage, int dim);
extern int	hnsw_centroid_pages(int ncent, int dim);
extern float *hnsw_centroids_train(const char *base, Size stride, uint32 n,
								   int dim, int ncent);
extern void hnsw_centroids_write(Relation index, const float *cent, int ncent,
								 int dim);
extern void hnsw_codec_load_centroids(Relation index,
									  const HnswMetaPageData *meta,
									  HnswCodec *codec);

/* the first graph block: after the metapage and the centroids' pages */
#define HNSW_FIRST_GRAPH_BLOCK(meta) \
	((BlockNumber) (HNSW_METAPAGE_BLKNO + 1 + (meta)->centroid_pages))

/* hnsw_store.c and hnsw_place.c */
extern HnswPageGraph *hnsw_page_graph_open(Relation index,
										   const HnswIndexInfo *info,
										   const HnswMetaPageData *meta);
extern void hnsw_page_graph_keep_pins(HnswPageGraph *pg, int keep);
extern HnswGraph *hnsw_page_graph_core(HnswPageGraph *pg);
extern void hnsw_page_graph_ignore_dead_hints(HnswPageGraph *pg);
extern bool hnsw_page_graph_report_bounds(HnswPageGraph *pg, const float *q);
extern int	hnsw_page_graph_neighbors(HnswPageGraph *pg, HnswId id, int level,
									  HnswEdge *out);
extern void hnsw_page_graph_close(HnswPageGraph *pg);
extern int	hnsw_element_tids(HnswPageGraph *pg, HnswId id, ItemPointerData *out,
							  double *est, double *spread);
extern void hnsw_page_graph_rerank(HnswPageGraph *pg, const float *q);
extern void hnsw_mark_dead(HnswPageGraph *pg, HnswId id,
						   const ItemPointerData *tids, int ntids);
extern int	hnsw_block_tids(HnswPageGraph *pg, BlockNumber blkno,
							ItemPointerData *out);
extern bool hnsw_room_for(Size free, int nused, Size space, int nitems);
extern bool hnsw_place_together(Size esize, Size nsize);

/*
 * The build's one pass over new pages (hnsw_place.c): tuples go, in id
 * order, to the ids its layout gave them; pages are appended unlogged, and
 * the build WAL-logs them afterwards (log_newpage_range).
 */
typedef struct HnswBulkWriter
{
	Relation	index;
	BlockNumber cur;			/* the block being filled */
	PGAlignedBlock page;		/* its image */
} HnswBulkWriter;

extern void hnsw_bulk_begin(HnswBulkWriter *w, Relation index, BlockNumber first);
extern void hnsw_bulk_add(HnswBulkWriter *w, HnswId id, Item item, Size size);
extern BlockNumber hnsw_bulk_end(HnswBulkWriter *w);
extern HnswId hnsw_store_new_element(Relation index, const HnswCodec *codec,
									 int m, const float *vec, int level,
									 HnswEdge **lists, const int *counts,
									 ItemPointer tid, BlockNumber *hint);
extern HnswId hnsw_place_element(Relation index, BlockNumber *hint,
								 HnswElementTuple etup, Size esize,
								 HnswNeighborTuple ntup, Size nsize);
extern HnswElementTuple hnsw_form_element(const HnswCodec *codec,
										  const float *vec, int level,
										  ItemPointer tid, Size *size);
extern HnswNeighborTuple hnsw_form_neighbors(int m, int level, HnswEdge **lists,
											 const int *counts, Size *size);
extern HnswId hnsw_reuse_slot(Relation index, int m, HnswElementTuple etup,
							  Size esize, HnswNeighborTuple ntup, Size nsize);
extern Size hnsw_fsm_value(int level);

/* VACUUM's rewrites of element tuples (hnsw_rewrite.c) */
typedef bool (*HnswElementRewrite) (void *arg, HnswId id, HnswElementTuple etup);
extern void hnsw_rewrite_elements(Relation index, BlockNumber blkno,
								  BufferAccessStrategy strategy, int m,
								  Size esize, HnswElementRewrite visit,
								  void *arg);
extern int	hnsw_staying_elements(Relation index, BlockNumber blkno,
								  BufferAccessStrategy strategy, HnswId *ids,
								  int *levels);
extern int	hnsw_element_drop_tids(HnswElementTuple etup,
								   bool (*dead) (ItemPointer tid, void *state),
								   void *state, double *removed,
								   bool *changed);
extern bool hnsw_element_is_free(HnswElementTuple etup);
extern bool hnsw_element_is_deleted(HnswElementTuple etup);
extern void hnsw_element_set_free(HnswElementTuple etup);
extern int	hnsw_page_reuse_level(Relation index, Page page, BlockNumber blkno,
								  int m, Size esize);
extern bool hnsw_prepare_vector(HnswIndexInfo *info, Datum value, float *out,
								int dim);

/* hnsw_meta.c: every write of the metapage */
extern void hnsw_meta_init(Relation index, ForkNumber fork, int dim, int m,
						   int ef_construction, int storage);
extern void hnsw_meta_set_dim(Relation index, int dim);
extern void hnsw_meta_set_centroids(Relation index, int ncent, int pages,
									uint32 crc);
extern void hnsw_meta_advance(Relation index, HnswId entry, int level,
							  BlockNumber insert_page);
extern void hnsw_meta_replace_entry(Relation index, const HnswIdSet *removed,
									HnswId entry, int level);
extern bool hnsw_meta_place_first(Relation index, HnswIndexInfo *info,
								  Datum value, ItemPointer tid);

/* hnsw_wal.c: every page change after the build, as generic WAL records */
typedef struct HnswWal HnswWal;
extern Page hnsw_wal_begin(Relation index, Buffer buf, bool full_image,
						   HnswWal **wal);
extern void hnsw_wal_finish(HnswWal *wal);
extern void hnsw_wal_abort(HnswWal *wal);

/* byte ranges of one page that hnsw_wal_write sets in place */
#define HNSW_WAL_PIECES 32
typedef struct HnswWalPieces
{
	int			n;
	char	   *dst[HNSW_WAL_PIECES];	/* where in the page */
	const char *src[HNSW_WAL_PIECES];	/* the bytes to put there */
	int			len[HNSW_WAL_PIECES];
} HnswWalPieces;
extern void hnsw_wal_write(Relation index, Buffer buf,
						   const HnswWalPieces *pieces);

/* hnsw_insert.c */
extern bool hnswinsert(Relation index, Datum *values, bool *isnull,
					   ItemPointer heap_tid, Relation heap,
					   IndexUniqueCheck checkUnique,
#if PG_VERSION_NUM >= 140000
					   bool indexUnchanged,
#endif
					   IndexInfo *indexInfo);
extern void hnsw_insert_datum(Relation index, HnswIndexInfo *info,
							  Datum value, ItemPointer tid, bool unchanged);

/* hnsw_build.c */
extern IndexBuildResult *hnswbuild(Relation heap, Relation index,
								   IndexInfo *indexInfo);
extern void hnswbuildempty(Relation index);

/*
 * hnsw_rerank.c: a coded index's candidates by the table's vectors.  A
 * re-ranking scan searches each code at its distance minus
 * HNSW_RERANK_Z of its own spreads (hnsw_code_spread): three standard
 * deviations of a normal error, below which its exact distance is not
 * expected to lie.
 */
#define HNSW_RERANK_Z	3.0
typedef struct HnswRerank HnswRerank;
extern HnswRerank *hnsw_rerank_begin(Relation index, Relation heap,
									 Snapshot snapshot,
									 const HnswIndexInfo *info,
									 const float *q, int dim, int scale,
									 int lookahead);
extern int	hnsw_rerank_add(HnswRerank *r, const ItemPointerData *tids,
							int ntids, double code, double spread);
extern bool hnsw_rerank_next(HnswRerank *r, double frontier, ItemPointer tid,
							 double *dist);
extern int	hnsw_rerank_rows_read(const HnswRerank *r);
extern void hnsw_rerank_end(HnswRerank *r);

/* hnsw_scan.c */
extern IndexScanDesc hnswbeginscan(Relation index, int nkeys, int norderbys);
extern void hnswrescan(IndexScanDesc scan, ScanKey keys, int nkeys,
					   ScanKey orderbys, int norderbys);
extern bool hnswgettuple(IndexScanDesc scan, ScanDirection dir);
extern void hnswendscan(IndexScanDesc scan);

/* hnsw_vacuum.c */
extern IndexBulkDeleteResult *hnswbulkdelete(IndexVacuumInfo *info,
											 IndexBulkDeleteResult *stats,
											 IndexBulkDeleteCallback callback,
											 void *callback_state);
extern IndexBulkDeleteResult *hnswvacuumcleanup(IndexVacuumInfo *info,
												IndexBulkDeleteResult *stats);

/* hnsw_inspect.c */
extern Relation hnsw_open_for_inspection(Oid indexoid, LOCKMODE lockmode,
										 Relation *heap, const char *func);

/* hnsw_am.c */
extern void hnswcostestimate(PlannerInfo *root, IndexPath *path,
							 double loop_count, Cost *indexStartupCost,
							 Cost *indexTotalCost,
							 Selectivity *indexSelectivity,
							 double *indexCorrelation, double *indexPages);

#endif
