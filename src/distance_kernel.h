/*
 * distance_kernel.h
 *		What the vectorised kernel bodies share (distance.c over float4
 *		vectors, hnsw_codes.c over compact codes): inlining, unrolling, the
 *		number of partial sums and their folding.  Included by .c files
 *		only, after their system headers.
 */
#ifndef HNSW_DISTANCE_KERNEL_H
#define HNSW_DISTANCE_KERNEL_H

#if defined(__GNUC__) || defined(__clang__)
#define KERNEL_INLINE static inline __attribute__((always_inline))
#else
#define KERNEL_INLINE static inline
#endif

/*
 * Fully unrolling the per-lane loops lets the compiler keep the partial sums
 * in registers; left as loops, GCC vectorizes them but keeps the array in
 * memory, and the store-to-load round trip per block costs more than the
 * arithmetic.  Functions say "#pragma GCC unroll n" (clang honours it too;
 * pgindent leaves it alone); UNROLL(n) is the same inside a macro.
 */
#define PRAGMA_(x)	_Pragma(#x)
#if defined(__clang__)
#define UNROLL(n)	PRAGMA_(unroll n)
#elif defined(__GNUC__)
#define UNROLL(n)	PRAGMA_(GCC unroll n)
#else
#define UNROLL(n)
#endif

/*
 * Partial sums per kernel.  32 floats are four AVX2 registers (two AVX-512
 * ones, eight SSE ones): enough independent chains to hide the add/FMA
 * latency.
 */
#define LANES		32

/* fold lanes[0..n) into lanes[0], pairwise by halves; n a power of two */
KERNEL_INLINE float
fold(float *lanes, int n)
{
#pragma GCC unroll 8
	for (int width = n / 2; width > 0; width /= 2)
#pragma GCC unroll 32
		for (int j = 0; j < width; j++)
			lanes[j] += lanes[j + width];
	return lanes[0];
}

#endif
