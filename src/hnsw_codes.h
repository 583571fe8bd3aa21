/*
 * hnsw_codes.h
 *		How an element keeps its vector: in full (float4) or as a compact
 *		code (half precision, 8-bit scalar), and the distances and bounds
 *		the graph and the scan compute from a code.  src/README.md section
 *		11 has the design.
 */
#ifndef HNSW_CODES_H
#define HNSW_CODES_H

#include "c.h"

/* storage kinds of the element vector (the metapage's storage field) */
#define HNSW_STORAGE_FLOAT4		1
#define HNSW_STORAGE_HALF		2
#define HNSW_STORAGE_SQ8		3
#define HNSW_STORAGE_SQ4		4
#define HNSW_STORAGE_LAST		HNSW_STORAGE_SQ4

/*
 * What precedes a code (half, sq8, sq4; float4 has none).  err bounds the
 * distance between the vector and what its code decodes to (in L1 for an
 * L1 index, else in L2), norm the decoded vector's L2 norm; both rounded
 * up, possibly infinite for vectors near the float4 limits.  sq8 and sq4
 * decode code c to lo + step * c (one expression, in the decoder and the
 * kernels alike); half leaves lo and step zero.
 */
typedef struct HnswCodeHeader
{
	float		err;
	float		norm;
	float		lo;
	float		step;
} HnswCodeHeader;

/*
 * How one index's vectors are stored: fixed by the metapage.  An sq8 or
 * sq4 index built from rows may have trained centroids (ncent of them,
 * dim floats each, hnsw_centroids.c); an element's code is then of its
 * vector's residual to the centroid its tuple names (1 to ncent), or of
 * the vector itself (0).
 */
typedef struct HnswCodec
{
	uint8		storage;		/* HNSW_STORAGE_* */
	int			dim;
	bool		l1;				/* err in L1 (an L1 index), else in L2 */
	int			ncent;			/* trained centroids, or 0 */
	const float *cent;			/* ncent * dim floats */
} HnswCodec;

extern const char *hnsw_storage_name(int storage);
extern int	hnsw_storage_by_name(const char *name);
extern int	hnsw_storage_max_dim(int storage);
extern Size hnsw_code_bytes(int storage, int dim);

extern int	hnsw_nearest_centroid(const float *cent, int ncent, int dim,
								  const float *v);
extern int	hnsw_encode(const HnswCodec *c, const float *vec, void *out);
extern const float *hnsw_decode(const HnswCodec *c, const void *code,
								int centroid, float *scratch);
extern Size hnsw_code_scratch_bytes(const HnswCodec *c);
extern bool hnsw_code_holds(const HnswCodec *c, const void *code,
							int centroid, const float *vec, void *scratch);
extern const char *hnsw_code_invalid(const HnswCodec *c, const void *code,
									 int centroid);

/* the index's distance (HnswGraph.dist's metric) from q to a code */
extern float hnsw_code_distance(const HnswCodec *c, int metric, const float *q,
								const void *code, int centroid,
								float *scratch);

/* lower bounds of exact distances, for scans of a coded index */
extern float hnsw_code_bound(int metric, const HnswCodec *c, const void *code,
							 float est, double qnorm);
extern double hnsw_bound_to_operator(int metric, float bound);
extern double hnsw_code_spread(int metric, const HnswCodec *c, const void *code,
							   float est, double qnorm);

/*
 * A re-ranking scan's query quantised to 16 bits, for sq8 products on the
 * codes' bytes (hnsw_code_dot16); q holds dim values.
 */
typedef struct HnswQuery16
{
	int16	   *q;
	float		scale;			/* q[i] ~ scale * q16[i] */
	float		sum;			/* sum of q */
	double		err;			/* the rounding's typical error, per step */
} HnswQuery16;

extern bool hnsw_code_query16(const HnswCodec *c, const float *q,
							  HnswQuery16 *out);
extern float hnsw_code_dot16(const HnswCodec *c, const void *code,
							 const HnswQuery16 *q16);

extern void hnsw_codes_init(void);

#endif
