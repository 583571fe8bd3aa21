/*
 * distance.c
 *		Distance kernels over float4 arrays, with runtime CPU dispatch.
 *
 * This file is plain C on purpose: it includes no PostgreSQL header, so the
 * microbenchmark in bench/ can compile it on its own.
 *
 * How the kernels get vectorized without -ffast-math
 * --------------------------------------------------
 * A loop like "s += x[i] * y[i]" is one long dependency chain: the compiler
 * may not reorder float additions, so it cannot split the sum across SIMD
 * lanes.  Instead each kernel keeps an array of LANES independent partial
 * sums; element i + j of a block goes to partial sum j.  Updating that array
 * is an element-wise operation, which the compiler vectorizes as written, no
 * reassociation needed.  After the blocks the partial sums are folded in a
 * fixed order (halves, then quarters, ...), and the elements past the last
 * whole block are added one by one.  The summation order is therefore fixed
 * by the source, not by the instruction set: every variant adds the same
 * numbers in the same order (FMA contraction aside), and a vector shorter
 * than one block is summed exactly left to right, like the "scalar"
 * reference.
 *
 * Runtime dispatch
 * ----------------
 * The kernel bodies are always-inline functions.  Thin wrappers instantiate
 * them once for the baseline ISA ("generic") and, on x86-64, once more under
 * __attribute__((target("avx2,fma"))) and target("avx512f"); the compiler
 * vectorizes each copy for its own ISA.  distance_init() asks the CPU what it
 * supports and binds the public pointers to the best set, so one build runs
 * everywhere and uses wide registers where they exist.
 */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "distance.h"
#include "distance_kernel.h"

/* ---------------------------------------------------------------------
 * Kernel bodies (instantiated per target below)
 *
 * The blocks advance the pointers rather than index with a[i + j]: under
 * PostgreSQL's -fwrapv the compiler may not assume i + j does not wrap, and
 * then it cannot prove the accesses contiguous and emits gathers.
 * ---------------------------------------------------------------------
 */

KERNEL_INLINE float
body_l2_squared(const float *restrict a, const float *restrict b, int n)
{
	float		part[LANES] = {0};
	float		sum;

	for (int k = n / LANES; k > 0; k--, a += LANES, b += LANES)
	{
#pragma GCC unroll 32
		for (int j = 0; j < LANES; j++)
		{
			float		d = a[j] - b[j];

			part[j] += d * d;
		}
	}
	sum = fold(part, LANES);
	for (int i = 0; i < n % LANES; i++)
	{
		float		d = a[i] - b[i];

		sum += d * d;
	}
	return sum;
}

KERNEL_INLINE float
body_inner_product(const float *restrict a, const float *restrict b, int n)
{
	float		part[LANES] = {0};
	float		sum;

	for (int k = n / LANES; k > 0; k--, a += LANES, b += LANES)
	{
#pragma GCC unroll 32
		for (int j = 0; j < LANES; j++)
			part[j] += a[j] * b[j];
	}
	sum = fold(part, LANES);
	for (int i = 0; i < n % LANES; i++)
		sum += a[i] * b[i];
	return sum;
}

KERNEL_INLINE float
body_l1(const float *restrict a, const float *restrict b, int n)
{
	float		part[LANES] = {0};
	float		sum;

	for (int k = n / LANES; k > 0; k--, a += LANES, b += LANES)
	{
#pragma GCC unroll 32
		for (int j = 0; j < LANES; j++)
			part[j] += fabsf(a[j] - b[j]);
	}
	sum = fold(part, LANES);
	for (int i = 0; i < n % LANES; i++)
		sum += fabsf(a[i] - b[i]);
	return sum;
}

KERNEL_INLINE float
body_norm_squared(const float *restrict a, int n)
{
	float		part[LANES] = {0};
	float		sum;

	for (int k = n / LANES; k > 0; k--, a += LANES)
	{
#pragma GCC unroll 32
		for (int j = 0; j < LANES; j++)
			part[j] += a[j] * a[j];
	}
	sum = fold(part, LANES);
	for (int i = 0; i < n % LANES; i++)
		sum += a[i] * a[i];
	return sum;
}

/*
 * out[0] = sum a*b, out[1] = sum a*a, out[2] = sum b*b.
 *
 * Three passes rather than one loop with three sets of partial sums: GCC's
 * SLP vectorizer leaves part of the fused loop scalar (the products share
 * their loads), while each single-sum pass vectorizes cleanly.  Re-reading
 * two vectors that are already in cache costs less than that.
 */
KERNEL_INLINE void
body_cosine_sums(const float *restrict a, const float *restrict b, int n,
				 float *restrict out)
{
	out[0] = body_inner_product(a, b, n);
	out[1] = body_norm_squared(a, n);
	out[2] = body_norm_squared(b, n);
}

/* ---------------------------------------------------------------------
 * Extreme values: sums in double, and the index's compression
 *
 * The float kernels are right for vectors of ordinary magnitude, but a
 * float sum overflows (to inf, or NaN from inf - inf) once a result passes
 * FLT_MAX, which two coordinates of 2e19 are enough for, and products below
 * FLT_MIN lose precision or vanish.  In double neither happens for finite
 * float input: a product of two floats is exact (at most 48 significant
 * bits, a magnitude between 2^-298 and 2^256), and a sum of 16000 of them
 * stays below 2^272.  So each kernel gets a double twin, strictly left to
 * right, which runs only when the float result is out of range: in the
 * index kernels one comparison on the fast path, which branches to a cold
 * function.
 * ---------------------------------------------------------------------
 */

#if defined(__GNUC__) || defined(__clang__)
#define LIKELY(x)	__builtin_expect(!!(x), 1)
#define COLD		__attribute__((noinline, cold))
#else
#define LIKELY(x)	(x)
#define COLD
#endif

/*
 * A float result below this (in magnitude) may have lost terms to
 * underflow: each product that underflows is off by at most 2^-150, so n
 * of them by less than 2^-139, which relative to a result of at least
 * 2^-100 is far below float's own rounding.
 */
#define SUM_MIN_EXACT	0x1p-100f

/*
 * Index distance compression (vec_dist_compress): the largest double it
 * takes (finite vectors of 16000 dimensions stay below 2^271.97), and the
 * shift that maps the 152 binades above VEC_DIST_EXACT into 4.75.
 */
#define DIST_DOUBLE_MAX	0x1p272
#define DIST_SHIFT		37

/*
 * The double twins of the three kernels, strictly left to right: they run
 * only for the rare out-of-range sums, so plain loops do.
 */
static double
l2_squared_double(const float *a, const float *b, int n)
{
	double		sum = 0.0;

	for (int i = 0; i < n; i++)
	{
		double		d = (double) a[i] - (double) b[i];

		sum += d * d;
	}
	return sum;
}

static double
inner_product_double(const float *a, const float *b, int n)
{
	double		sum = 0.0;

	for (int i = 0; i < n; i++)
		sum += (double) a[i] * (double) b[i];
	return sum;
}

static double
l1_double(const float *a, const float *b, int n)
{
	double		sum = 0.0;

	for (int i = 0; i < n; i++)
		sum += fabs((double) a[i] - (double) b[i]);
	return sum;
}

/*
 * Sum of squares in double: the norm every normalisation uses (l2_normalize,
 * vector_norm and the cosine index), exact enough for any finite input, and
 * zero only for the zero vector.  Not a hot path: once per vector.
 */
double
vec_norm_squared_double(const float *a, int n)
{
	double		sum = 0.0;

	for (int i = 0; i < n; i++)
		sum += (double) a[i] * (double) a[i];
	return sum;
}

/*
 * A distance for the index, as a float that keeps the order of the true
 * distances for every finite input.  Up to VEC_DIST_EXACT in magnitude it
 * is the plain float value.  Beyond, it is compressed: the bits of |d| as a
 * double, counted from those of VEC_DIST_EXACT, shifted right and added to
 * the bits of VEC_DIST_EXACT as a float.  The bit pattern of a positive
 * IEEE number grows with its value, and roughly with its logarithm, so the
 * map is monotone (by integer arithmetic, no rounding to break it), and
 * the distances up to 2^272 that finite vectors of up to 16000 dimensions
 * can reach land in [2^120, 2^125): order is kept to about 1 part in 30000
 * (closer distances tie).  The result's three lowest bits are clear, so
 * that the index may set its edge marks there and still hold a finite
 * float; the negative side (inner product) is the mirror image.
 */
float
vec_dist_compress(double d)
{
	double		m = fabs(d);
	double		exact = VEC_DIST_EXACT;
	uint64_t	dbits,
				ebits;
	uint32_t	fbits;
	float		ef = VEC_DIST_EXACT;
	float		r;

	if (m <= exact)
		return (float) d;
	/* also NaN, which finite input cannot give */
	if (!(m <= DIST_DOUBLE_MAX))
		m = DIST_DOUBLE_MAX;
	memcpy(&dbits, &m, sizeof(dbits));
	memcpy(&ebits, &exact, sizeof(ebits));
	memcpy(&fbits, &ef, sizeof(fbits));
	/* 152 binades of doubles, 2^52 steps each, to 4.75 binades of floats */
	fbits += (uint32_t) ((dbits - ebits) >> DIST_SHIFT) << 3;
	if (d < 0)
		fbits |= (uint32_t) 1 << 31;
	memcpy(&r, &fbits, sizeof(r));
	return r;
}

/*
 * The index kernels' slow paths (see INSTANTIATE_KERNELS): the float result
 * was beyond VEC_DIST_EXACT, infinite or NaN, so the distance is summed
 * again in double and compressed.  "1 - a.b" is the inner product's
 * distance (and cosine's, over normalised vectors).
 */
static COLD float
index_l2_squared_slow(const float *a, const float *b, int n)
{
	return vec_dist_compress(l2_squared_double(a, b, n));
}

static COLD float
index_ip_distance_slow(const float *a, const float *b, int n)
{
	return vec_dist_compress(1.0 - inner_product_double(a, b, n));
}

static COLD float
index_neg_ip_slow(const float *a, const float *b, int n)
{
	return vec_dist_compress(-inner_product_double(a, b, n));
}

static COLD float
index_l1_slow(const float *a, const float *b, int n)
{
	return vec_dist_compress(l1_double(a, b, n));
}

/* ---------------------------------------------------------------------
 * Variants
 * ---------------------------------------------------------------------
 */

typedef void (*CosineKernel) (const float *a, const float *b, int n, float *out);

typedef struct KernelSet
{
	const char *name;
	int			(*supported) (void);
	VectorKernel l2_squared;
	VectorKernel inner_product;
	VectorKernel l1;
	CosineKernel cosine_sums;
	VectorKernel index_l2_squared;
	VectorKernel index_ip_distance;
	VectorKernel index_neg_ip;
	VectorKernel index_l1;
} KernelSet;

/*
 * Instantiate the bodies under a name suffix and function attributes.  The
 * index kernels are the plain ones with the range check at the end, so
 * that the graph calls one function per distance, as before the check:
 * out of range, a tail call to the cold slow path.
 */
#define INSTANTIATE_KERNELS(suffix, attrs) \
static attrs float \
l2_squared_##suffix(const float *a, const float *b, int n) \
{ \
	return body_l2_squared(a, b, n); \
} \
static attrs float \
inner_product_##suffix(const float *a, const float *b, int n) \
{ \
	return body_inner_product(a, b, n); \
} \
static attrs float \
l1_##suffix(const float *a, const float *b, int n) \
{ \
	return body_l1(a, b, n); \
} \
static attrs void \
cosine_sums_##suffix(const float *a, const float *b, int n, float *out) \
{ \
	body_cosine_sums(a, b, n, out); \
} \
static attrs float \
index_l2_squared_##suffix(const float *a, const float *b, int n) \
{ \
	float		r = body_l2_squared(a, b, n); \
\
	if (LIKELY(r <= VEC_DIST_EXACT)) \
		return r; \
	return index_l2_squared_slow(a, b, n); \
} \
static attrs float \
index_ip_distance_##suffix(const float *a, const float *b, int n) \
{ \
	float		r = 1.0f - body_inner_product(a, b, n); \
\
	if (LIKELY(fabsf(r) <= VEC_DIST_EXACT)) \
		return r; \
	return index_ip_distance_slow(a, b, n); \
} \
static attrs float \
index_neg_ip_##suffix(const float *a, const float *b, int n) \
{ \
	float		r = -body_inner_product(a, b, n); \
\
	if (LIKELY(fabsf(r) <= VEC_DIST_EXACT)) \
		return r; \
	return index_neg_ip_slow(a, b, n); \
} \
static attrs float \
index_l1_##suffix(const float *a, const float *b, int n) \
{ \
	float		r = body_l1(a, b, n); \
\
	if (LIKELY(r <= VEC_DIST_EXACT)) \
		return r; \
	return index_l1_slow(a, b, n); \
}

static int
always_supported(void)
{
	return 1;
}

/* the baseline ISA: SSE2 on x86-64, NEON on aarch64, whatever elsewhere */
INSTANTIATE_KERNELS(generic, /* no attributes */ )

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define HAVE_X86_VARIANTS 1

INSTANTIATE_KERNELS(avx2, __attribute__((target("avx2,fma"))))

#if defined(__clang__)
INSTANTIATE_KERNELS(avx512, __attribute__((target("avx512f,avx2,fma"))))
#else
INSTANTIATE_KERNELS(avx512, __attribute__((target("avx512f,avx2,fma,prefer-vector-width=512"))))
#endif

static int
cpu_has_avx2_fma(void)
{
	__builtin_cpu_init();
	return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

static int
cpu_has_avx512f(void)
{
	/* __builtin_cpu_supports also checks that the OS saves the registers */
	return cpu_has_avx2_fma() && __builtin_cpu_supports("avx512f");
}
#endif

/* ---------------------------------------------------------------------
 * The "scalar" reference: one running sum, strictly left to right.
 * Exported for the microbenchmark and for checking the other variants.
 * ---------------------------------------------------------------------
 */

float
vec_l2_squared_scalar(const float *a, const float *b, int n)
{
	float		sum = 0.0f;

	for (int i = 0; i < n; i++)
	{
		float		d = a[i] - b[i];

		sum += d * d;
	}
	return sum;
}

float
vec_inner_product_scalar(const float *a, const float *b, int n)
{
	float		sum = 0.0f;

	for (int i = 0; i < n; i++)
		sum += a[i] * b[i];
	return sum;
}

float
vec_l1_scalar(const float *a, const float *b, int n)
{
	float		sum = 0.0f;

	for (int i = 0; i < n; i++)
		sum += fabsf(a[i] - b[i]);
	return sum;
}

static void
cosine_sums_scalar(const float *a, const float *b, int n, float *out)
{
	float		sd = 0.0f,
				sa = 0.0f,
				sb = 0.0f;

	for (int i = 0; i < n; i++)
	{
		sd += a[i] * b[i];
		sa += a[i] * a[i];
		sb += b[i] * b[i];
	}
	out[0] = sd;
	out[1] = sa;
	out[2] = sb;
}

static float
index_l2_squared_scalar(const float *a, const float *b, int n)
{
	float		r = vec_l2_squared_scalar(a, b, n);

	return r <= VEC_DIST_EXACT ? r : index_l2_squared_slow(a, b, n);
}

static float
index_ip_distance_scalar(const float *a, const float *b, int n)
{
	float		r = 1.0f - vec_inner_product_scalar(a, b, n);

	return fabsf(r) <= VEC_DIST_EXACT ? r : index_ip_distance_slow(a, b, n);
}

static float
index_neg_ip_scalar(const float *a, const float *b, int n)
{
	float		r = -vec_inner_product_scalar(a, b, n);

	return fabsf(r) <= VEC_DIST_EXACT ? r : index_neg_ip_slow(a, b, n);
}

static float
index_l1_scalar(const float *a, const float *b, int n)
{
	float		r = vec_l1_scalar(a, b, n);

	return r <= VEC_DIST_EXACT ? r : index_l1_slow(a, b, n);
}

/* best first: distance_init() binds the first supported entry */
static const KernelSet kernel_sets[] = {
#ifdef HAVE_X86_VARIANTS
	{"avx512f", cpu_has_avx512f, l2_squared_avx512, inner_product_avx512,
		l1_avx512, cosine_sums_avx512,
		index_l2_squared_avx512, index_ip_distance_avx512, index_neg_ip_avx512,
	index_l1_avx512},
	{"avx2+fma", cpu_has_avx2_fma, l2_squared_avx2, inner_product_avx2,
		l1_avx2, cosine_sums_avx2,
		index_l2_squared_avx2, index_ip_distance_avx2, index_neg_ip_avx2,
	index_l1_avx2},
#endif
	{"generic", always_supported, l2_squared_generic, inner_product_generic,
		l1_generic, cosine_sums_generic,
		index_l2_squared_generic, index_ip_distance_generic, index_neg_ip_generic,
	index_l1_generic},
	{"scalar", always_supported, vec_l2_squared_scalar, vec_inner_product_scalar,
		vec_l1_scalar, cosine_sums_scalar,
		index_l2_squared_scalar, index_ip_distance_scalar, index_neg_ip_scalar,
	index_l1_scalar},
};

#define N_KERNEL_SETS ((int) (sizeof(kernel_sets) / sizeof(kernel_sets[0])))

/*
 * The bound kernels.  They start out as "generic", which runs on any CPU, so
 * a caller that runs before distance_init() still gets correct results.
 * The index's (vec_index_*) keep a finite order for any finite input; the
 * others are the plain float sums.
 */
VectorKernel vec_l2_squared = l2_squared_generic;
VectorKernel vec_inner_product = inner_product_generic;
VectorKernel vec_l1 = l1_generic;
VectorKernel vec_index_l2_squared = index_l2_squared_generic;
VectorKernel vec_index_ip_distance = index_ip_distance_generic;
VectorKernel vec_index_neg_ip = index_neg_ip_generic;
VectorKernel vec_index_l1 = index_l1_generic;
static CosineKernel bound_cosine_sums = cosine_sums_generic;
static const char *bound_name = "generic";

static void
bind_kernels(const KernelSet *set)
{
	vec_l2_squared = set->l2_squared;
	vec_inner_product = set->inner_product;
	vec_l1 = set->l1;
	bound_cosine_sums = set->cosine_sums;
	vec_index_l2_squared = set->index_l2_squared;
	vec_index_ip_distance = set->index_ip_distance;
	vec_index_neg_ip = set->index_neg_ip;
	vec_index_l1 = set->index_l1;
	bound_name = set->name;
}

static const KernelSet *
find_kernel_set(const char *name)
{
	for (int i = 0; i < N_KERNEL_SETS; i++)
		if (strcmp(kernel_sets[i].name, name) == 0)
			return &kernel_sets[i];
	return NULL;
}

void
distance_init(void)
{
	for (int i = 0; i < N_KERNEL_SETS; i++)
	{
		if (kernel_sets[i].supported())
		{
			bind_kernels(&kernel_sets[i]);
			return;
		}
	}
}

const char *
distance_variant(void)
{
	return bound_name;
}

int
distance_variant_available(const char *name)
{
	const KernelSet *set = find_kernel_set(name);

	return set != NULL && set->supported();
}

int
distance_use_variant(const char *name)
{
	const KernelSet *set = find_kernel_set(name);

	if (set == NULL || !set->supported())
		return 0;
	bind_kernels(set);
	return 1;
}

/* ---------------------------------------------------------------------
 * The SQL functions' sums
 * ---------------------------------------------------------------------
 */

/* true if a float sum is finite and too large to have lost terms below FLT_MIN */
static inline int
sum_in_range(float r)
{
	float		m = fabsf(r);

	return m >= SUM_MIN_EXACT && m <= FLT_MAX;
}

/*
 * The SQL functions' kernels: the float kernel's result, as pgvector
 * computes it, wherever that is right; the double sum where the float one
 * overflowed or may have underflowed (including an exact zero, which only
 * costs a second pass for identical or orthogonal vectors).
 */
double
vec_l2_squared_full(const float *a, const float *b, int n)
{
	float		r = vec_l2_squared(a, b, n);

	return sum_in_range(r) ? (double) r : l2_squared_double(a, b, n);
}

double
vec_inner_product_full(const float *a, const float *b, int n)
{
	float		r = vec_inner_product(a, b, n);

	return sum_in_range(r) ? (double) r : inner_product_double(a, b, n);
}

double
vec_l1_full(const float *a, const float *b, int n)
{
	float		r = vec_l1(a, b, n);

	return sum_in_range(r) ? (double) r : l1_double(a, b, n);
}

/*
 * 1 - cosine similarity.  The float sums serve when both squared norms are
 * in range (then the dot product is too, up to rounding, and whatever it
 * lost to underflow is negligible against the norms); otherwise all three
 * are summed in double, where a norm is zero only for the zero vector.  A
 * zero vector gives NaN, as in pgvector.
 */
double
vec_cosine_distance(const float *a, const float *b, int n)
{
	float		sums[3];
	double		dot,
				na,
				nb,
				similarity;

	bound_cosine_sums(a, b, n, sums);
	if (sum_in_range(sums[1]) && sum_in_range(sums[2]) && isfinite(sums[0]))
	{
		dot = sums[0];
		na = sums[1];
		nb = sums[2];
	}
	else
	{
		dot = inner_product_double(a, b, n);
		na = vec_norm_squared_double(a, n);
		nb = vec_norm_squared_double(b, n);
	}

	/* one sqrt of the product, not a product of two sqrts (< 2^544: fine) */
	similarity = dot / sqrt(na * nb);

	/* rounding can push it just outside [-1, 1]; NaN passes through */
	if (similarity > 1.0)
		similarity = 1.0;
	else if (similarity < -1.0)
		similarity = -1.0;

	return 1.0 - similarity;
}
