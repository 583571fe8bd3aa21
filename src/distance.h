/*
 * distance.h
 *		Distance kernels over float4 arrays.  Each pointer is bound once, at
 *		load time, to the best variant the CPU supports (see distance.c).
 */
#ifndef HNSW_DISTANCE_H
#define HNSW_DISTANCE_H

typedef float (*VectorKernel) (const float *a, const float *b, int n);

/* sum of squared differences */
extern VectorKernel vec_l2_squared;

/* sum of products */
extern VectorKernel vec_inner_product;

/* sum of absolute differences */
extern VectorKernel vec_l1;

/*
 * The SQL functions' sums, right for every finite input: the float kernel's
 * result where it is in range, else the sum recomputed in double.
 */
extern double vec_l2_squared_full(const float *a, const float *b, int n);
extern double vec_inner_product_full(const float *a, const float *b, int n);
extern double vec_l1_full(const float *a, const float *b, int n);

/* 1 - cosine similarity, for any finite input; NaN if a norm is zero */
extern double vec_cosine_distance(const float *a, const float *b, int n);

/* sum of squares of a (the squared norm), in double */
extern double vec_norm_squared_double(const float *a, int n);

/*
 * The index's distances (float, ordered for every finite input): up to
 * VEC_DIST_EXACT in magnitude the float kernel's value; beyond it, the
 * double result compressed by vec_dist_compress into [2^120, 2^125) (and
 * its negative), with the three lowest bits clear.
 */
#define VEC_DIST_EXACT	0x1p120f

extern VectorKernel vec_index_l2_squared;
extern VectorKernel vec_index_ip_distance;	/* 1 - a.b */
extern VectorKernel vec_index_neg_ip;	/* -a.b (inner-product scans) */
extern VectorKernel vec_index_l1;
extern float vec_dist_compress(double d);

/* binds the pointers above; called from _PG_init, safe to call twice */
extern void distance_init(void);

/* name of the variant bound at load time: "avx512f", "avx2+fma" or "generic" */
extern const char *distance_variant(void);

/*
 * Additions for testing and the microbenchmark (bench/kernels.c).
 *
 * Variant names: "scalar" (one running sum, strict left-to-right order, the
 * reference), "generic" (the multi-accumulator kernels compiled for the
 * baseline ISA; what distance_init() binds when nothing better is there),
 * "avx2+fma" and "avx512f" (x86-64 only, when the CPU has them).
 */

/* the strictly sequential reference kernels */
extern float vec_l2_squared_scalar(const float *a, const float *b, int n);
extern float vec_inner_product_scalar(const float *a, const float *b, int n);
extern float vec_l1_scalar(const float *a, const float *b, int n);

/* 1 if the named variant exists in this build and runs on this CPU */
extern int	distance_variant_available(const char *name);

/*
 * Bind all kernels to the named variant; returns 1 on success, 0 (and
 * changes nothing) if it is unknown or unavailable.  distance_init()
 * restores the best one.
 */
extern int	distance_use_variant(const char *name);

#endif
