/*
 * hnsw_graph_int.h
 *		What the graph core's files (hnsw_graph.c, hnsw_search.c,
 *		hnsw_link.c, hnsw_repair.c) share with each other and nobody else.
 */
#ifndef HNSW_GRAPH_INT_H
#define HNSW_GRAPH_INT_H

#include "hnsw_graph.h"

/* how link_back protects the edge it adds */
#define LINK_PLAIN	0			/* an ordinary edge */
#define LINK_TREE	1			/* a tree edge, if the list has room for one */
#define LINK_FORCE	2			/* beyond HNSW_TREE_EDGES: last resort */

/* hnsw_graph.c */
extern void hnsw_idset_clear(HnswIdSet *v);
extern uint64 hnsw_mix64(uint64 x);
extern double hnsw_next_unit(uint64 *state);
extern void hnsw_sort_edges(HnswEdge *edges, size_t n);

/* hnsw_search.c */
extern void hnsw_search_init(HnswSearch *s, int ef, uint32 visited);

/* hnsw_link.c */
extern bool hnsw_list_contains(const HnswEdge *list, int n, HnswId id);
extern void hnsw_plan_start(HnswGraph *g, HnswListWrite *w, HnswId id, int level);
extern bool hnsw_plan_select(HnswGraph *g, HnswListWrite *w, const HnswEdge *cands,
							 int n, int cap, bool fill);
extern bool hnsw_link_back(HnswGraph *g, HnswId id, const float *vec, HnswEdge nb,
						   int level, int protect);
extern bool hnsw_link_tree_walk(HnswGraph *g, HnswId x, const float *vec,
								const HnswEdge *starts, int n, bool (*ok) (void *arg, HnswId id),
								void *arg);
extern bool hnsw_link_tree(HnswGraph *g, HnswId x, HnswEdge p, int mode);

/* hnsw_repair.c */
extern void hnsw_write_planned_lists(HnswGraph *g, HnswListWrite *w, int n);

#endif
