/*
 * hnsw_graph.h
 *		The HNSW algorithms, written once against a small storage interface.
 *
 * The in-memory build, the on-page insert, the scan and VACUUM's repair all
 * run the same layer search, neighbour selection and back-link code.  What
 * differs between them -- where an element's vector and neighbour lists
 * live and how they are locked -- is behind HnswGraphOps.
 */
#ifndef HNSW_GRAPH_H
#define HNSW_GRAPH_H

#include "postgres.h"
#include "storage/itemptr.h"

/*
 * An element's identity.  On pages it is (block << 8) | offset of the
 * element tuple; in the in-memory build it is the element's index plus one.
 * Zero is never a valid id in either space.
 */
typedef uint32 HnswId;

#define HNSW_INVALID_ID		((HnswId) 0)

/* hard cap on levels; an index's own cap (max_level) may be lower */
#define HNSW_GRAPH_MAX_LEVELS	32

/*
 * How many edges a list at level holds: 2m at layer 0, m above, as in the
 * paper (its Mmax0 and Mmax).  The one place this rule is written; the
 * on-page layout (HNSW_LIST_OFFSET, HNSW_NEIGHBOR_SIZE) follows from it.
 */
#define HNSW_LIST_CAP(m, level)		((level) == 0 ? 2 * (m) : (m))

/* a neighbour-list entry, and a search candidate: an id and its distance */
typedef struct HnswEdge
{
	HnswId		id;
	float		dist;
} HnswEdge;

/*
 * Edge marks.  A stored distance carries three flags in its lowest bits,
 * which are cleared in every distance computed afresh: a distance moves by
 * at most seven ulp, and lists stay sorted by the marked values.
 *
 * Tree edges (bit 0).  Every element's level-0 list holds a protected edge
 * to the neighbour it was linked under (its parent), and the parent's list
 * holds a protected edge back.  Neighbour selection never drops a protected
 * edge (unless an element has more protected edges than room), so pruning
 * cannot cut an element off: through the tree every element stays
 * reachable.
 *
 * Fillers (bit 1).  A list keeps the edges the selection heuristic chooses
 * and fills its remaining room with the nearest candidates the heuristic
 * pruned.  Marking these lets a back-link into a full list decide the new
 * edge's fate from the list alone, without running the heuristic over the
 * whole list again.  Unsure (bit 2): an edge added while the list had room,
 * not yet judged; the heuristic judges all of them when the list overflows.
 * Format version 2; lists of version 1 indexes carry no valid bits 1-2.
 */
/* at most this many protected edges in one list */
#define HNSW_TREE_EDGES(m)	Max(4, (m) / 4)

#define HNSW_EDGE_PROTECTED	0x1
#define HNSW_EDGE_FILLER	0x2
#define HNSW_EDGE_UNSURE	0x4
#define HNSW_EDGE_MARKS		0x7

static inline uint32
hnsw_edge_bits(float dist)
{
	uint32		bits;

	memcpy(&bits, &dist, sizeof(bits));
	return bits;
}

static inline bool
hnsw_edge_protected(HnswEdge e)
{
	return (hnsw_edge_bits(e.dist) & HNSW_EDGE_PROTECTED) != 0;
}

static inline bool
hnsw_edge_filler(HnswEdge e)
{
	return (hnsw_edge_bits(e.dist) & HNSW_EDGE_FILLER) != 0;
}

static inline bool
hnsw_edge_unsure(HnswEdge e)
{
	return (hnsw_edge_bits(e.dist) & HNSW_EDGE_UNSURE) != 0;
}

/* dist with its marks replaced by marks (HNSW_EDGE_* bits) */
static inline float
hnsw_edge_mark(float dist, uint32 marks)
{
	uint32		bits = (hnsw_edge_bits(dist) & ~(uint32) HNSW_EDGE_MARKS) | marks;

	memcpy(&dist, &bits, sizeof(bits));
	return dist;
}

/* dist with no marks but the protected one, if asked */
static inline float
hnsw_edge_dist(float dist, bool protect)
{
	return hnsw_edge_mark(dist, protect ? HNSW_EDGE_PROTECTED : 0);
}

/*
 * Asks the CPU to start loading size bytes at p, a cache line at a time:
 * a vector or element tuple whose distance is about to be computed.  A
 * hint only; nothing is read through p.
 */
static inline void
hnsw_prefetch_bytes(const void *p, Size size)
{
	for (Size o = 0; o < size; o += 64)
		__builtin_prefetch((const char *) p + o);
}

/* per-id flags reported by the distances callback */
#define HNSW_SKIP_RESULT	0x01	/* traverse through it, never return it */
#define HNSW_SKIP_LINK		0x02	/* never link to it (VACUUM removes it) */

typedef struct HnswGraph HnswGraph;

/*
 * A neighbour-list write planned ahead, so that several can be applied in
 * one step (VACUUM writes a page's repaired lists in one WAL record).
 */
typedef struct HnswListWrite
{
	HnswId		id;
	int			level;
	int			top;			/* repair: the element's own level */
	int			nold;
	int			nnew;
	HnswEdge   *old;			/* the list as read */
	HnswEdge   *fresh;			/* the list to write */
	bool		lost_tree;		/* repair: a removed neighbour was a parent */
	bool		done;			/* set by replace_many: written */
	int64		first;			/* back-links: this write's queue entries */
	int64		last;
} HnswListWrite;

/* list writes planned before a batch of them is applied */
#define HNSW_WRITE_BATCH	64

/* an edge (target -> from) at level that a repair owes, queued */
typedef struct HnswBackLink
{
	HnswId		target;
	HnswId		from;
	float		dist;
	int			level;
} HnswBackLink;

typedef struct HnswBackLinks
{
	HnswBackLink *items;
	int64		count;
	int64		capacity;
} HnswBackLinks;

typedef struct HnswGraphOps
{
	/* dist[i] = distance(q, ids[i]); flags[i] = HNSW_SKIP_RESULT or 0 */
	void		(*distances) (HnswGraph *g, const float *q, const HnswId *ids,
							  int n, float *dist, uint8 *flags);
	/* copy id's neighbour list at level into out (capacity per level); count */
	int			(*neighbors) (HnswGraph *g, HnswId id, int level, HnswEdge *out);

	/*
	 * Replace id's list at level by edges[0..n), but only if it still equals
	 * old[0..nold); false means a concurrent change, so the caller retries.
	 */
	bool		(*replace_neighbors) (HnswGraph *g, HnswId id, int level,
									  const HnswEdge *old, int nold,
									  const HnswEdge *edges, int n);
	/* the vector of id: a pointer into storage or a copy in scratch[dim] */
	const float *(*vector) (HnswGraph *g, HnswId id, float *scratch);

	/*
	 * what distances() gives from vec to an element holding vec (under a
	 * code, to vec's code), to find identical vectors by their distance;
	 * NULL: dist(vec, vec)
	 */
	float		(*self_distance) (HnswGraph *g, const float *vec);

	/*
	 * Store a new element with its neighbour lists (lists[l], counts[l] for l
	 * <= level; levels above the entry point have none) and return its id.
	 */
	HnswId		(*place) (HnswGraph *g, const float *vec, int level,
						  HnswEdge **lists, const int *counts, ItemPointer tid);
	/* attach tid to element id if its vector equals vec and it has room */
	bool		(*add_heaptid) (HnswGraph *g, HnswId id, const float *vec,
								ItemPointer tid);

	/*
	 * replace_neighbors for w[0..n) (sorted by id), each only if its list
	 * still equals its old one; sets w[i].done.  NULL: one at a time.
	 */
	void		(*replace_many) (HnswGraph *g, HnswListWrite *w, int n);
	/* a hint: id's neighbours will be asked for soon (start loading them) */
	void		(*prefetch) (HnswGraph *g, HnswId id, int level);
} HnswGraphOps;

/* binary min-heap of edges; a max-heap stores negated distances */
typedef struct HnswHeap
{
	HnswEdge   *items;
	int			count;
	int			capacity;
} HnswHeap;

/* an open-addressing set of ids (a search's visited set, VACUUM's removed set) */
typedef struct HnswIdSet
{
	HnswId	   *keys;
	uint32		mask;
	uint32		count;
} HnswIdSet;

extern void hnsw_idset_grow(HnswIdSet *v);

/* where id's probe starts: a multiplicative hash of the non-zero id */
static inline uint32
hnsw_idset_slot(HnswId id, uint32 mask)
{
	uint32		h = id * 0x9E3779B1u;

	return (h ^ (h >> 15)) & mask;
}

/*
 * Adds id; true if it was not there before.  Inline: a search calls it for
 * every neighbour it meets.
 */
static inline bool
hnsw_idset_add(HnswIdSet *v, HnswId id)
{
	uint32		s;

	if (v->count * 2 >= v->mask)
		hnsw_idset_grow(v);
	s = hnsw_idset_slot(id, v->mask);
	while (v->keys[s] != HNSW_INVALID_ID)
	{
		if (v->keys[s] == id)
			return false;
		s = (s + 1) & v->mask;
	}
	v->keys[s] = id;
	v->count++;
	return true;
}

/*
 * A layer search in progress.  Layer searches during insertion run it to
 * completion once; a scan keeps it and resumes it to stream more results.
 */
typedef struct HnswSearch
{
	const float *q;
	int			level;
	bool		stream;			/* keep every discovery for later rounds */
	float		emitted_dist;	/* stream: distance of the last result taken */
	HnswHeap	cand;			/* unexpanded candidates, nearest first */
	HnswHeap	top;			/* best ef results, farthest first (negated) */
	HnswHeap	pending;		/* stream: discovered results not yet taken */
	HnswHeap	later;			/* stream: finds too far for this round */
	bool	   *later_result;	/* stream: per find in later, a result? */
	float		later_min;		/* stream: nearest find in later */
	HnswIdSet	visited;
	uint64		ndistances;		/* distance computations so far */
	HnswEdge	fallback;		/* nearest skipped find one may link to */
} HnswSearch;

struct HnswGraph
{
	const HnswGraphOps *ops;
	int			dim;
	int			m;
	int			ef_construction;
	int			max_level;		/* cap on an element's level */
	bool		fillers_marked; /* lists mark their fillers (format 2) */
	float		(*dist) (const float *a, const float *b, int n);

	/* scratch owned by the core; what only inserts need, on first use */
	MemoryContext ctx;
	HnswSearch	search;
	HnswEdge   *found;			/* ef results of a layer search */
	HnswEdge   *cands0;			/* insert: level-0 finds plus level-1 list */
	HnswEdge   *eps;			/* entry points for the next layer down */
	HnswEdge   *nbrs;			/* a neighbour list being expanded */
	HnswEdge   *lists[HNSW_GRAPH_MAX_LEVELS];
	int			counts[HNSW_GRAPH_MAX_LEVELS];
	HnswEdge   *old;			/* back-link: the list as read */
	HnswEdge   *merged;			/* back-link: old plus the new edge */
	HnswEdge   *fresh;			/* back-link: the list to write */
	float	   *vecs;			/* neighbour selection: candidate vectors */
	struct HnswRepairScratch *rs;	/* repair's, on first use (hnsw_repair.c) */
	uint8	   *keep;			/* neighbour selection: per candidate */
	float	   *linkvec;		/* back-link: the new target's vector */
	const float **selvecs;
	HnswId	   *batch;
	float	   *batchdist;
	uint8	   *batchflags;
};

extern void hnsw_graph_init(HnswGraph *g, const HnswGraphOps *ops, int dim,
							int m, int ef_construction, int max_level,
							float (*dist) (const float *, const float *, int));
extern int	hnsw_tid_level(uint64 seed, ItemPointer tid, int m, int max_level);
extern HnswEdge hnsw_descend(HnswGraph *g, const float *q, HnswId entry,
							 int from_level, int to_level, bool *skip);
extern int	hnsw_search_layer(HnswGraph *g, const float *q, const HnswEdge *eps,
							  int neps, bool eps_skip, int ef, int level,
							  HnswEdge *out);
extern int	hnsw_select_neighbors(HnswGraph *g, const HnswEdge *cands, int n,
								  int max, bool fill, HnswEdge *out);
extern void hnsw_repair(HnswGraph *g, HnswId id, int level, int top,
						const HnswIdSet *removed);
extern bool hnsw_repair_plan(HnswGraph *g, HnswId id, int level, int top,
							 const HnswIdSet *removed, HnswListWrite *w);
extern void hnsw_repair_apply(HnswGraph *g, HnswListWrite *w, int n,
							  const HnswIdSet *removed, HnswBackLinks *q);
extern void hnsw_link_back_many(HnswGraph *g, HnswBackLinks *q);
extern HnswListWrite *hnsw_list_writes(HnswGraph *g);
extern int64 hnsw_reconnect(HnswGraph *g, const HnswId *ids, const bool *gone,
							int64 n, HnswId entry);
extern bool hnsw_attach_duplicate(HnswGraph *g, const float *vec,
								  ItemPointer tid, HnswId entry,
								  int entry_level);

/* id sets (the visited set's table, also used by VACUUM) */
extern void hnsw_idset_init(HnswIdSet *v, uint32 size);
extern bool hnsw_idset_contains(const HnswIdSet *v, HnswId id);
extern uint32 hnsw_idset_members(const HnswIdSet *v, HnswId *out);
extern int64 hnsw_find_id(const HnswId *first, int64 n, Size stride,
						  HnswId id);

extern HnswId hnsw_insert(HnswGraph *g, const float *vec, int level,
						  ItemPointer tid, HnswId entry, int entry_level);

/* streaming search, for scans */
extern void hnsw_stream_begin(HnswGraph *g, HnswSearch *s, const float *q,
							  HnswEdge start, bool skip);
extern void hnsw_stream_expand(HnswGraph *g, HnswSearch *s, int ef, bool strict);
extern bool hnsw_stream_next(HnswSearch *s, HnswEdge *out);
extern void hnsw_stream_flush(HnswSearch *s);
extern double hnsw_stream_bytes(const HnswSearch *s);
extern bool hnsw_stream_exhausted(const HnswSearch *s);
extern bool hnsw_stream_reseed(HnswGraph *g, HnswSearch *s, HnswId id,
							   bool strict);
extern bool hnsw_stream_behind(const HnswSearch *s);
extern void hnsw_search_free(HnswSearch *s);

/*
 * A breadth-first walk over layer 0 (hnsw_walk.c).  Elements are numbered
 * densely by the caller; index_of gives the number of to, the target of an
 * edge of from, or -1 to leave the edge unfollowed (it may raise an ERROR).
 */
typedef int64 (*HnswWalkIndex) (void *arg, HnswId from, HnswId to);

typedef struct HnswWalk
{
	HnswGraph  *g;
	bool		tree_only;		/* follow protected edges only */
	HnswWalkIndex index_of;
	void	   *arg;
	bool	   *seen;			/* per number: reached */
	HnswId	   *order;			/* the elements reached, in that order */
	int64		norder;
	HnswEdge   *list;			/* scratch: one layer-0 list */
} HnswWalk;

extern void hnsw_walk_init(HnswWalk *w, HnswGraph *g, int64 n, bool tree_only,
						   HnswWalkIndex index_of, void *arg);
extern void hnsw_walk_from(HnswWalk *w, HnswId start, int64 start_index);
extern void hnsw_walk_end(HnswWalk *w);

#endif
