/*
 * hnsw_codes.c
 *		Compact codes of vectors (storage = half, sq8, sq4): encoding, decoding,
 *		distance kernels on codes with runtime CPU dispatch, the checks, and
 *		the lower bounds a scan reports so that the executor can put rows in
 *		exact order.
 *
 * A coded element keeps an HnswCodeHeader and then its code: dim IEEE
 * half-precision values, or a scalar code of 8 or 4 bits a value with the
 * vector's own offset and step (no training, so an insert never falls out
 * of a trained range and REINDEX is never needed to retrain).
 */
#include "postgres.h"

#include <float.h>
#include <math.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <cpuid.h>
#include <immintrin.h>
#define HAVE_X86_KERNELS 1
#endif

#include "distance.h"
#include "distance_kernel.h"
#include "hnsw.h"
#include "hnsw_codes.h"

/* the kernels over one storage's codes, bound at load time */
/*
 * Constants, here because pgindent splits hexadecimal floats in code
 * (0x1p-24 becomes 0x1 p - 24) and leaves #define lines alone.
 */
#define FLOAT_UNIT			0x1p-24 /* float's unit roundoff */
#define ROUND_UP			0x1p-20 /* a bound's margin before rounding */
#define OTHER_CPU			0x1p-21 /* another CPU's decoder, per value */
#define HALF_SUBNORMAL		0x1p-24f	/* the smallest half */
#define HALF_SUBNORMAL_INV	0x1p24f
#define SCALAR_CLAMP		0x1p126f	/* sq8, sq4: steps stay finite */

typedef struct CodeKernels
{
	void		(*decode) (const void *code, int n, float lo, float step,
						   float *out);
	float		(*l2_squared) (const float *q, const void *code, int n,
							   float lo, float step);
	float		(*inner_product) (const float *q, const void *code, int n,
								  float lo, float step);
	float		(*l1) (const float *q, const void *code, int n, float lo,
					   float step);
} CodeKernels;

static CodeKernels half_kernels;
static CodeKernels sq8_kernels;
static CodeKernels sq4_kernels;

static const struct
{
	const char *name;
	int			max_dim;
}			storages[] = {
	[HNSW_STORAGE_FLOAT4] = {"float4", HNSW_MAX_DIM},
	[HNSW_STORAGE_HALF] = {"half", HNSW_MAX_DIM_HALF},
	[HNSW_STORAGE_SQ8] = {"sq8", HNSW_MAX_DIM_SQ8},
	[HNSW_STORAGE_SQ4] = {"sq4", HNSW_MAX_DIM_SQ4},
};

const char *
hnsw_storage_name(int storage)
{
	if (storage < HNSW_STORAGE_FLOAT4 || storage > HNSW_STORAGE_LAST)
		return "unknown";
	return storages[storage].name;
}

/* the storage kind of a reloption value, or 0 */
int
hnsw_storage_by_name(const char *name)
{
	int			s;

	for (s = HNSW_STORAGE_FLOAT4; s <= HNSW_STORAGE_LAST; s++)
		if (pg_strcasecmp(name, storages[s].name) == 0)
			return s;
	return 0;
}

/* the most dimensions an element of this storage holds on one page */
int
hnsw_storage_max_dim(int storage)
{
	return storages[storage].max_dim;
}

/* bytes of an element's vector area: the vector, or a header and code */
Size
hnsw_code_bytes(int storage, int dim)
{
	switch (storage)
	{
		case HNSW_STORAGE_HALF:
			return sizeof(HnswCodeHeader) + sizeof(uint16) * dim;
		case HNSW_STORAGE_SQ8:
			return sizeof(HnswCodeHeader) + dim;
		case HNSW_STORAGE_SQ4:
			return sizeof(HnswCodeHeader) + (dim + 1) / 2;
		default:
			return sizeof(float) * dim;
	}
}

/* ---------------------------------------------------------------------
 * Half precision
 * ---------------------------------------------------------------------
 */

/*
 * The nearest half (ties to even), clamped to the largest finite half,
 * 65504, where the value would round to infinity: the error bound then
 * covers the clamp and the row stays findable.  Inputs are finite.
 */
static uint16
float_to_half(float f)
{
	uint32		x;
	uint32		sign;
	uint32		ax;
	uint32		h;
	uint32		rest;

	memcpy(&x, &f, sizeof(x));
	sign = (x >> 16) & 0x8000;
	ax = x & 0x7fffffff;
	if (ax >= 0x477ff000)		/* 65520 and above round to infinity */
		return sign | 0x7bff;
	if (ax < 0x38800000)		/* below 2^-14: a subnormal half, or zero */
		return sign | (uint32) rintf(fabsf(f) * HALF_SUBNORMAL_INV);
	h = ((((ax >> 23) - 127 + 15) << 10) | ((ax & 0x7fffff) >> 13));
	rest = ax & 0x1fff;
	if (rest > 0x1000 || (rest == 0x1000 && (h & 1)))
		h++;					/* a carry into the exponent is right */
	return sign | h;
}

static float
half_to_float(uint16 h)
{
	uint32		exp = (h >> 10) & 0x1f;
	uint32		mant = h & 0x3ff;
	uint32		x;
	float		f;

	if (exp == 0)
		f = (float) mant * HALF_SUBNORMAL;
	else if (exp == 31)
		f = mant ? NAN : INFINITY;	/* never written; the checker reports it */
	else
	{
		x = ((exp + 112) << 23) | (mant << 13);
		memcpy(&f, &x, sizeof(f));
	}
	return (h & 0x8000) ? -f : f;
}

/* ---------------------------------------------------------------------
 * Kernels
 *
 * A distance is computed on the code directly, without writing the
 * decoded vector out: sq8 and sq4 by bodies the compiler vectorises (as
 * distance.c's, over one byte per value, decoding lo + step * c in the
 * register), half by F16C conversions where the CPU has them.  Elsewhere
 * half decodes into a scratch vector for distance.c's kernels.
 * ---------------------------------------------------------------------
 */

/* the value of sq8 code c: the one expression every kernel uses */
#define SQ8_VALUE(lo, step, c)	((lo) + (step) * (float) (c))

/*
 * The bodies, one per metric and code: TERM(q, x) is what a lane adds up
 * for query value q and decoded value x, LEVEL(c, shift) the level a code
 * byte holds (sq8: the byte; sq4: one nibble, see below).  Blocks of LANES,
 * then of 8 into the first lanes (a dimension count is often a multiple of
 * 8 and not of 32), then single values.
 */
#define LEVEL_SQ8(c, shift)		(c)
#define LEVEL_SQ4(c, shift)		(((c) >> (shift)) & 15)

#define CODE_DECODE(name, LEVEL) \
KERNEL_INLINE void \
name(const uint8 *restrict c, int n, int shift, float lo, float step, \
	 float *restrict out) \
{ \
	for (int k = n / LANES; k > 0; k--, c += LANES, out += LANES) \
	{ \
		UNROLL(32) \
		for (int j = 0; j < LANES; j++) \
			out[j] = SQ8_VALUE(lo, step, LEVEL(c[j], shift)); \
	} \
	for (int j = 0; j < n % LANES; j++) \
		out[j] = SQ8_VALUE(lo, step, LEVEL(c[j], shift)); \
}

/*
 * What every code kernel does after its blocks of LANES values: blocks of
 * 8 into the first lanes (a dimension count is often a multiple of 8 and
 * not of 32), the fold, then single values; returns the sum.
 */
#define CODE_TAIL(TERM, LEVEL) \
	do { \
		for (int k = (n % LANES) / 8; k > 0; k--, q += 8, c += 8) \
		{ \
			UNROLL(8) \
			for (int j = 0; j < 8; j++) \
				part[j] += TERM(q[j], SQ8_VALUE(lo, step, LEVEL(c[j], shift))); \
		} \
		sum = fold(part, LANES); \
		for (int j = 0; j < n % 8; j++) \
			sum += TERM(q[j], SQ8_VALUE(lo, step, LEVEL(c[j], shift))); \
		return sum; \
	} while (0)

#define CODE_BODY(name, TERM, LEVEL) \
KERNEL_INLINE float \
name(const float *restrict q, const uint8 *restrict c, int n, int shift, \
	 float lo, float step) \
{ \
	float		part[LANES] = {0}; \
	float		sum; \
\
	for (int k = n / LANES; k > 0; k--, q += LANES, c += LANES) \
	{ \
		UNROLL(32) \
		for (int j = 0; j < LANES; j++) \
			part[j] += TERM(q[j], SQ8_VALUE(lo, step, LEVEL(c[j], shift))); \
	} \
	CODE_TAIL(TERM, LEVEL); \
}

#define TERM_L2(a, b)	(((a) - (b)) * ((a) - (b)))
#define TERM_IP(a, b)	((a) * (b))
#define TERM_L1(a, b)	fabsf((a) - (b))

CODE_DECODE(body_sq8_decode, LEVEL_SQ8)
CODE_BODY(body_sq8_l2, TERM_L2, LEVEL_SQ8)
CODE_BODY(body_sq8_ip, TERM_IP, LEVEL_SQ8)
CODE_BODY(body_sq8_l1, TERM_L1, LEVEL_SQ8)

/*
 * sq4 keeps value j in the low nibble of byte j and value half + j in its
 * high nibble (half = (n + 1) / 2): two contiguous runs, each summed by the
 * body above taking one nibble of each byte.
 */
CODE_DECODE(body_nibbles_decode, LEVEL_SQ4)
CODE_BODY(body_nibbles_l2, TERM_L2, LEVEL_SQ4)
CODE_BODY(body_nibbles_ip, TERM_IP, LEVEL_SQ4)
CODE_BODY(body_nibbles_l1, TERM_L1, LEVEL_SQ4)

/* an sq4 kernel: the low nibbles' run, then the high ones' */
#define SQ4_SUM(body, q, code, n, lo, step) \
	(body((q), (code), ((n) + 1) / 2, 0, (lo), (step)) + \
	 body((q) + ((n) + 1) / 2, (code), (n) / 2, 4, (lo), (step)))

#define INSTANTIATE_SCALAR(suffix, attrs) \
static attrs void \
sq8_decode_##suffix(const void *code, int n, float lo, float step, float *out) \
{ \
	body_sq8_decode(code, n, 0, lo, step, out); \
} \
static attrs float \
sq8_l2_##suffix(const float *q, const void *code, int n, float lo, float step) \
{ \
	return body_sq8_l2(q, code, n, 0, lo, step); \
} \
static attrs float \
sq8_ip_##suffix(const float *q, const void *code, int n, float lo, float step) \
{ \
	return body_sq8_ip(q, code, n, 0, lo, step); \
} \
static attrs float \
sq8_l1_##suffix(const float *q, const void *code, int n, float lo, float step) \
{ \
	return body_sq8_l1(q, code, n, 0, lo, step); \
} \
static attrs void \
sq4_decode_##suffix(const void *code, int n, float lo, float step, float *out) \
{ \
	body_nibbles_decode(code, (n + 1) / 2, 0, lo, step, out); \
	body_nibbles_decode(code, n / 2, 4, lo, step, out + (n + 1) / 2); \
} \
static attrs float \
sq4_l2_##suffix(const float *q, const void *code, int n, float lo, float step) \
{ \
	return SQ4_SUM(body_nibbles_l2, q, code, n, lo, step); \
} \
static attrs float \
sq4_ip_##suffix(const float *q, const void *code, int n, float lo, float step) \
{ \
	return SQ4_SUM(body_nibbles_ip, q, code, n, lo, step); \
} \
static attrs float \
sq4_l1_##suffix(const float *q, const void *code, int n, float lo, float step) \
{ \
	return SQ4_SUM(body_nibbles_l1, q, code, n, lo, step); \
} \
static const CodeKernels sq8_kernels_##suffix = { \
	sq8_decode_##suffix, sq8_l2_##suffix, sq8_ip_##suffix, sq8_l1_##suffix \
}; \
static const CodeKernels sq4_kernels_##suffix = { \
	sq4_decode_##suffix, sq4_l2_##suffix, sq4_ip_##suffix, sq4_l1_##suffix \
};

INSTANTIATE_SCALAR(generic, /* baseline ISA */ )

/* half without F16C: decode into scratch, then distance.c's kernels */
static void
half_decode_generic(const void *code, int n, float lo, float step, float *out)
{
	const uint16 *h = (const uint16 *) code;

	for (int i = 0; i < n; i++)
		out[i] = half_to_float(h[i]);
}

static const CodeKernels half_kernels_generic = {
	half_decode_generic, NULL, NULL, NULL
};

#ifdef HAVE_X86_KERNELS
INSTANTIATE_SCALAR(avx2, __attribute__((target("avx2,fma"))))

/*
 * sq8 and sq4 kernels in AVX-512, where the compiler keeps the bodies above
 * in 256-bit registers: the same sums, 32 lanes in two registers, each
 * lane adding the same terms in the same order as the bodies (the decode
 * lo + step * c and each term one FMA, as GCC contracts them there), then
 * the bodies' own code for the blocks of 8, the fold and the tail.  WIDEN
 * gives 16 levels as 32-bit integers.
 */
#define WIDEN_SQ8(c, shift) \
	_mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *) (c)))
#define WIDEN_SQ4(c, shift) \
	_mm512_and_si512(_mm512_srl_epi32(WIDEN_SQ8(c, shift), \
									  _mm_cvtsi32_si128(shift)), \
					 _mm512_set1_epi32(15))
#define STEP512_L2(acc, a, b) \
	_mm512_fmadd_ps(_mm512_sub_ps(a, b), _mm512_sub_ps(a, b), acc)
#define STEP512_IP(acc, a, b)	_mm512_fmadd_ps(a, b, acc)
#define STEP512_L1(acc, a, b)	_mm512_add_ps(acc, _mm512_abs_ps(_mm512_sub_ps(a, b)))

#define CODE_BODY_512(name, STEP, TERM, WIDEN, LEVEL) \
__attribute__((target("avx512f,avx512bw,avx2,fma"))) \
static float \
name(const float *restrict q, const uint8 *restrict c, int n, int shift, \
	 float lo, float step) \
{ \
	__m512		acc0 = _mm512_setzero_ps(); \
	__m512		acc1 = _mm512_setzero_ps(); \
	__m512		vlo = _mm512_set1_ps(lo); \
	__m512		vstep = _mm512_set1_ps(step); \
	float		part[LANES]; \
	float		sum; \
\
	for (int k = n / LANES; k > 0; k--, q += LANES, c += LANES) \
	{ \
		__m512		x0 = _mm512_fmadd_ps(vstep, _mm512_cvtepi32_ps(WIDEN(c, shift)), vlo); \
		__m512		x1 = _mm512_fmadd_ps(vstep, _mm512_cvtepi32_ps(WIDEN(c + 16, shift)), vlo); \
\
		acc0 = STEP(acc0, _mm512_loadu_ps(q), x0); \
		acc1 = STEP(acc1, _mm512_loadu_ps(q + 16), x1); \
	} \
	_mm512_storeu_ps(part, acc0); \
	_mm512_storeu_ps(part + 16, acc1); \
	CODE_TAIL(TERM, LEVEL); \
}

CODE_BODY_512(sq8_l2_avx512, STEP512_L2, TERM_L2, WIDEN_SQ8, LEVEL_SQ8)
CODE_BODY_512(sq8_ip_avx512, STEP512_IP, TERM_IP, WIDEN_SQ8, LEVEL_SQ8)
CODE_BODY_512(sq8_l1_avx512, STEP512_L1, TERM_L1, WIDEN_SQ8, LEVEL_SQ8)
CODE_BODY_512(nibbles_l2_avx512, STEP512_L2, TERM_L2, WIDEN_SQ4, LEVEL_SQ4)
CODE_BODY_512(nibbles_ip_avx512, STEP512_IP, TERM_IP, WIDEN_SQ4, LEVEL_SQ4)
CODE_BODY_512(nibbles_l1_avx512, STEP512_L1, TERM_L1, WIDEN_SQ4, LEVEL_SQ4)

#define SQ8_512(name, body) \
__attribute__((target("avx512f,avx512bw,avx2,fma"))) \
static float \
name(const float *q, const void *code, int n, float lo, float step) \
{ \
	return body(q, code, n, 0, lo, step); \
}
#define SQ4_512(name, body) \
__attribute__((target("avx512f,avx512bw,avx2,fma"))) \
static float \
name(const float *q, const void *code, int n, float lo, float step) \
{ \
	return SQ4_SUM(body, q, code, n, lo, step); \
}
SQ8_512(sq8_l2_avx512w, sq8_l2_avx512)
SQ8_512(sq8_ip_avx512w, sq8_ip_avx512)
SQ8_512(sq8_l1_avx512w, sq8_l1_avx512)
SQ4_512(sq4_l2_avx512w, nibbles_l2_avx512)
SQ4_512(sq4_ip_avx512w, nibbles_ip_avx512)
SQ4_512(sq4_l1_avx512w, nibbles_l1_avx512)

static const CodeKernels sq8_kernels_avx512 = {
	sq8_decode_avx2, sq8_l2_avx512w, sq8_ip_avx512w, sq8_l1_avx512w
};
static const CodeKernels sq4_kernels_avx512 = {
	sq4_decode_avx2, sq4_l2_avx512w, sq4_ip_avx512w, sq4_l1_avx512w
};

static bool
cpu_has_avx512bw(void)
{
	return __builtin_cpu_supports("avx512f") &&
		__builtin_cpu_supports("avx512bw");
}

__attribute__((target("avx2,f16c")))
static void
half_decode_f16c(const void *code, int n, float lo, float step, float *out)
{
	const uint16 *h = (const uint16 *) code;
	int			i;

	for (i = 0; i + 8 <= n; i += 8)
		_mm256_storeu_ps(out + i,
						 _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *) (h + i))));
	for (; i < n; i++)
		out[i] = half_to_float(h[i]);
}

/*
 * Half kernels: 16 values a step into two accumulators, STEP(acc, q, x)
 * adding one register's terms; TAIL the scalar term for the rest.
 */
#define HALF_KERNEL(name, STEP, TAIL) \
__attribute__((target("avx2,fma,f16c"))) \
static float \
name(const float *q, const void *code, int n, float lo, float step) \
{ \
	const uint16 *h = (const uint16 *) code; \
	__m256		acc0 = _mm256_setzero_ps(); \
	__m256		acc1 = _mm256_setzero_ps(); \
	__m256		x; \
	__m128		s; \
	float		sum; \
	int			i; \
\
	for (i = 0; i + 16 <= n; i += 16) \
	{ \
		x = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *) (h + i))); \
		acc0 = STEP(acc0, _mm256_loadu_ps(q + i), x); \
		x = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *) (h + i + 8))); \
		acc1 = STEP(acc1, _mm256_loadu_ps(q + i + 8), x); \
	} \
	acc0 = _mm256_add_ps(acc0, acc1); \
	s = _mm_add_ps(_mm256_castps256_ps128(acc0), _mm256_extractf128_ps(acc0, 1)); \
	s = _mm_add_ps(s, _mm_movehl_ps(s, s)); \
	s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1)); \
	sum = _mm_cvtss_f32(s); \
	for (; i < n; i++) \
		sum += TAIL(q[i], half_to_float(h[i])); \
	return sum; \
}

#define STEP_L2(acc, a, b) \
	_mm256_fmadd_ps(_mm256_sub_ps(a, b), _mm256_sub_ps(a, b), acc)
#define STEP_IP(acc, a, b)	_mm256_fmadd_ps(a, b, acc)
#define STEP_L1(acc, a, b) \
	_mm256_add_ps(acc, _mm256_andnot_ps(_mm256_set1_ps(-0.0f), _mm256_sub_ps(a, b)))

HALF_KERNEL(half_l2_f16c, STEP_L2, TERM_L2)
HALF_KERNEL(half_ip_f16c, STEP_IP, TERM_IP)
HALF_KERNEL(half_l1_f16c, STEP_L1, TERM_L1)

static const CodeKernels half_kernels_f16c = {
	half_decode_f16c, half_l2_f16c, half_ip_f16c, half_l1_f16c
};

/* CPUID leaf 1, ECX bit 29 (not every compiler's __builtin_cpu_supports knows it) */
static bool
cpu_has_f16c(void)
{
	unsigned int eax,
				ebx,
				ecx,
				edx;

	return __get_cpuid(1, &eax, &ebx, &ecx, &edx) && (ecx & (1u << 29)) != 0;
}
#endif

/* binds the kernels to the best variant the CPU runs; from _PG_init */
void
hnsw_codes_init(void)
{
	half_kernels = half_kernels_generic;
	sq8_kernels = sq8_kernels_generic;
	sq4_kernels = sq4_kernels_generic;
#ifdef HAVE_X86_KERNELS
	__builtin_cpu_init();
	if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
	{
		sq8_kernels = sq8_kernels_avx2;
		sq4_kernels = sq4_kernels_avx2;
		if (cpu_has_f16c())
			half_kernels = half_kernels_f16c;
		if (cpu_has_avx512bw())
		{
			sq8_kernels = sq8_kernels_avx512;
			sq4_kernels = sq4_kernels_avx512;
		}
	}
#endif
}

/* the kernels of a code storage */
static const CodeKernels *
kernels_of(int storage)
{
	switch (storage)
	{
		case HNSW_STORAGE_HALF:
			return &half_kernels;
		case HNSW_STORAGE_SQ8:
			return &sq8_kernels;
		default:
			return &sq4_kernels;
	}
}

/*
 * The index's distance from q to a code, in HnswGraph.dist's metric: the
 * code kernel's sum where it is in range; else (and for half without F16C)
 * the code decoded into scratch and measured by distance.c's index
 * kernels, which stay finite and ordered for every input.
 */
float
hnsw_code_distance(const HnswCodec *c, int metric, const float *q,
				   const void *code, float *scratch)
{
	const HnswCodeHeader *h = (const HnswCodeHeader *) code;
	const void *values = (const char *) code + sizeof(HnswCodeHeader);
	const CodeKernels *k = kernels_of(c->storage);
	float		r;

	if (k->l2_squared != NULL)
	{
		switch (metric)
		{
			case HNSW_METRIC_L2:
				r = k->l2_squared(q, values, c->dim, h->lo, h->step);
				break;
			case HNSW_METRIC_L1:
				r = k->l1(q, values, c->dim, h->lo, h->step);
				break;
			default:
				r = 1.0f - k->inner_product(q, values, c->dim, h->lo, h->step);
				break;
		}
		if (fabsf(r) <= VEC_DIST_EXACT)
			return r;
	}
	k->decode(values, c->dim, h->lo, h->step, scratch);
	switch (metric)
	{
		case HNSW_METRIC_L2:
			return vec_index_l2_squared(q, scratch, c->dim);
		case HNSW_METRIC_L1:
			return vec_index_l1(q, scratch, c->dim);
		default:
			return vec_index_ip_distance(q, scratch, c->dim);
	}
}

/* ---------------------------------------------------------------------
 * Encoding and decoding
 * ---------------------------------------------------------------------
 */

/* the float at or above d (infinity above FLT_MAX) */
static float
float_up(double d)
{
	float		f = (float) d;

	if ((double) f < d)
		f = nextafterf(f, INFINITY);
	return f;
}

/* the float at or below d */
static float
float_down(double d)
{
	float		f = (float) d;

	if ((double) f > d)
		f = nextafterf(f, -INFINITY);
	return f;
}

/* the highest level of a scalar code: 255 for sq8, 15 for sq4 */
static int
code_top(const HnswCodec *c)
{
	return c->storage == HNSW_STORAGE_SQ8 ? 255 : 15;
}

/*
 * The scalar codes: top + 1 levels from the vector's smallest value to its
 * largest.  Values beyond 2^126 in magnitude are clamped there, so that
 * the steps stay finite; the error bound covers the clamp.  sq4 packs two
 * values a byte (see LEVEL_SQ4).
 */
static void
encode_scalar(const float *vec, int dim, int top, HnswCodeHeader *h,
			  uint8 *code)
{
	int			half = (dim + 1) / 2;
	float		lo = vec[0];
	float		hi = vec[0];
	int			i;

	for (i = 1; i < dim; i++)
	{
		lo = Min(lo, vec[i]);
		hi = Max(hi, vec[i]);
	}
	lo = Max(-SCALAR_CLAMP, Min(lo, SCALAR_CLAMP));
	hi = Max(-SCALAR_CLAMP, Min(hi, SCALAR_CLAMP));
	h->lo = lo;
	h->step = (float) (((double) hi - (double) lo) / top);
	if (top == 15)
		memset(code, 0, half);
	for (i = 0; i < dim; i++)
	{
		double		t = h->step > 0 ? ((double) vec[i] - lo) / h->step : 0;
		uint8		c = (uint8) Max(0.0, Min((double) top, rint(t)));

		if (top == 255)
			code[i] = c;
		else if (i < half)
			code[i] |= c;
		else
			code[i - half] |= c << 4;
	}
}

/*
 * Writes vec's code (header and values) to out.  The error bound is taken
 * from the vector as this CPU's decoder rebuilds it, rounded up, plus a
 * little for a kernel or decoder on another CPU: an FMA rounds lo + step * c
 * once, a multiply and an add twice, at most an ulp of the larger term
 * apart per value.
 */
void
hnsw_encode(const HnswCodec *c, const float *vec, void *out)
{
	HnswCodeHeader *h = (HnswCodeHeader *) out;
	void	   *code = (char *) out + sizeof(HnswCodeHeader);
	float	   *dec;
	double		err = 0;
	double		norm2 = 0;
	double		big = 0;
	int			i;

	if (c->storage == HNSW_STORAGE_FLOAT4)
	{
		memcpy(out, vec, sizeof(float) * c->dim);
		return;
	}
	memset(h, 0, sizeof(HnswCodeHeader));
	if (c->storage == HNSW_STORAGE_HALF)
	{
		for (i = 0; i < c->dim; i++)
			((uint16 *) code)[i] = float_to_half(vec[i]);
	}
	else
		encode_scalar(vec, c->dim, code_top(c), h, code);
	dec = palloc(sizeof(float) * c->dim);
	hnsw_decode(c, out, dec);
	for (i = 0; i < c->dim; i++)
	{
		double		d = (double) vec[i] - (double) dec[i];

		err += c->l1 ? fabs(d) : d * d;
		norm2 += (double) dec[i] * dec[i];
		big = Max(big, fabs(dec[i]));
	}
	big = Max(big, Max(fabs(h->lo), fabs(h->lo + code_top(c) * h->step)));
	if (!c->l1)
		err = sqrt(err);
	err = err * (1 + ROUND_UP) +
		OTHER_CPU * big * (c->l1 ? (double) c->dim : sqrt((double) c->dim));
	h->err = float_up(err);
	h->norm = float_up(sqrt(norm2) * (1 + ROUND_UP));
	pfree(dec);
}

/*
 * The vector a code stands for: the stored floats themselves for float4,
 * else decoded into scratch (dim floats).
 */
const float *
hnsw_decode(const HnswCodec *c, const void *code, float *scratch)
{
	const HnswCodeHeader *h = (const HnswCodeHeader *) code;
	const char *values = (const char *) code + sizeof(HnswCodeHeader);

	if (c->storage == HNSW_STORAGE_FLOAT4)
		return (const float *) code;
	kernels_of(c->storage)->decode(values, c->dim, h->lo, h->step, scratch);
	return scratch;
}

/*
 * Whether the element whose code is code may also stand for vec (a row to
 * attach to it, or a row the checker looks up): vec encodes to the same
 * code, and lies within the stored error bound of what the code decodes
 * to (measured, not recomputed by encode's formula, so that a bound
 * written by another build is judged by what it promises).  scratch:
 * hnsw_code_bytes, then dim floats.
 */
bool
hnsw_code_holds(const HnswCodec *c, const void *code, const float *vec,
				void *scratch)
{
	const HnswCodeHeader *stored = (const HnswCodeHeader *) code;
	const HnswCodeHeader *mine = (const HnswCodeHeader *) scratch;
	Size		hdr = sizeof(HnswCodeHeader);
	Size		bytes = hnsw_code_bytes(c->storage, c->dim);
	const float *dec;
	double		err = 0;
	int			i;

	if (c->storage == HNSW_STORAGE_FLOAT4)
		return memcmp(code, vec, sizeof(float) * c->dim) == 0;
	hnsw_encode(c, vec, scratch);
	if (memcmp((const char *) code + hdr, (const char *) scratch + hdr,
			   bytes - hdr) != 0 ||
		stored->lo != mine->lo || stored->step != mine->step)
		return false;
	dec = hnsw_decode(c, code, (float *) ((char *) scratch + MAXALIGN(bytes)));
	for (i = 0; i < c->dim; i++)
	{
		double		d = (double) vec[i] - (double) dec[i];

		err += c->l1 ? fabs(d) : d * d;
	}
	if (!c->l1)
		err = sqrt(err);
	return err <= stored->err;
}

/* the scratch hnsw_code_holds needs */
Size
hnsw_code_scratch_bytes(const HnswCodec *c)
{
	return MAXALIGN(hnsw_code_bytes(c->storage, c->dim)) +
		sizeof(float) * c->dim;
}

/* what is wrong with a stored code, or NULL: for hnsw_index_check */
const char *
hnsw_code_invalid(const HnswCodec *c, const void *code)
{
	const HnswCodeHeader *h = (const HnswCodeHeader *) code;
	const uint16 *half = (const uint16 *) ((const char *) code + sizeof(HnswCodeHeader));
	int			i;

	if (c->storage == HNSW_STORAGE_FLOAT4)
	{
		for (i = 0; i < c->dim; i++)
			if (!isfinite(((const float *) code)[i]))
				return "element vector has a non-finite value";
		return NULL;
	}
	if (!(h->err >= 0) || !(h->norm >= 0))
		return "element code has a negative or NaN error bound or norm";
	if (c->storage != HNSW_STORAGE_HALF)
	{
		if (!isfinite(h->lo) || !isfinite(h->step) || h->step < 0 ||
			!isfinite(h->lo + code_top(c) * h->step))
			return "element code has an invalid offset or step";
		return NULL;
	}
	if (h->lo != 0 || h->step != 0)
		return "element code has an offset or step under storage half";
	for (i = 0; i < c->dim; i++)
		if ((half[i] & 0x7c00) == 0x7c00)
			return "element code has an infinite or NaN half value";
	return NULL;
}

/* ---------------------------------------------------------------------
 * Lower bounds
 * ---------------------------------------------------------------------
 */

/*
 * A tighter lower bound for cosine, whose rows and query are unit vectors:
 * there 1 - q.x = |q - x|^2 / 2, and by the triangle inequality
 * |q - x| >= |q - x~| - err, where |q - x~|^2 = |q|^2 + |x~|^2 - 2 q.x~ is
 * known from est = 1 - q.x~.  Near neighbours gain most: the interval
 * shrinks from err (hnsw_code_bound's inner-product form) to about
 * err * sqrt(2 est).  The exact unit vectors (the row's and the query's
 * before their normalised copies were rounded to float) lie within one
 * unit roundoff of the copies, which the distance loses twice; the
 * kernel's float sum and the operator's are covered as in
 * hnsw_code_bound, by g.  Returns -INFINITY where it knows nothing.
 */
static double
cosine_bound(const HnswCodeHeader *h, double est, double g, double qnorm)
{
	double		slack = g * qnorm * h->norm + 4 * FLOAT_UNIT * (1 + fabs(est));
	double		qlo = 1.0 - 2 * FLOAT_UNIT; /* |q|: a unit vector rounded */
	double		nlo = h->norm * (1.0 - 2 * ROUND_UP);	/* |x~| */
	double		d2 = qlo * qlo + nlo * nlo - 2.0 * (1.0 - est) - 2.0 * slack;
	double		r;

	if (!(d2 > 0))
		return -INFINITY;
	r = sqrt(d2) * (1.0 - FLOAT_UNIT) - h->err - 4 * FLOAT_UNIT;
	if (!(r > 0))
		return -INFINITY;
	return r * r / 2.0 * (1.0 - 2 * FLOAT_UNIT) - g * (2.0 + h->err);
}

/*
 * A lower bound, in the index's internal metric, of the distance the
 * ORDER BY operator computes from the query and the row's true vector,
 * given est, the float kernel's distance from the query to the decoded
 * code, and qnorm, the query's L2 norm (inner product only).
 *
 * By the triangle inequality the true vector is at most err from the
 * decoded one; in L2, |q - x| >= |q - x~| - err; in L1 the same; for the
 * inner product, q.x <= q.x~ + |q| err.  Then two float sums (our kernel's
 * and the operator's) each err from the exact sum by at most about
 * dim * 2^-24 of the sum of the absolute terms, which is the distance
 * itself for L2 and L1 and at most |q| |x| for the products; g takes
 * twice that, with room for the final conversions.  A bound above the
 * operator's value would make the executor fail with "index returned
 * tuples in wrong order", so every step rounds down.
 */
float
hnsw_code_bound(int metric, const HnswCodec *c, const void *code, float est,
				double qnorm)
{
	const HnswCodeHeader *h = (const HnswCodeHeader *) code;
	double		g = (c->dim + 64) * 2 * FLOAT_UNIT;
	double		d = est;
	double		lb;

	if (metric == HNSW_METRIC_L2 || metric == HNSW_METRIC_L1)
	{
		if (!(fabs(d) < VEC_DIST_EXACT))
			return 0.0f;		/* compressed: no usable estimate */
		if (metric == HNSW_METRIC_L2)
			lb = sqrt(Max(d, 0.0) * (1 - g));
		else
			lb = d * (1 - g);
		lb = (lb - h->err) * (1 - g);
		if (!(lb > 0))
			return 0.0f;
		return float_down(metric == HNSW_METRIC_L2 ? lb * lb : lb);
	}
	/* inner product and cosine: est is 1 - q.x~ */
	if (!(fabs(d) < VEC_DIST_EXACT) || !isfinite(h->err) || !isfinite(h->norm))
		return -INFINITY;
	lb = d - qnorm * h->err - g * qnorm * (2.0 * h->norm + h->err) -
		4 * FLOAT_UNIT * (1 + fabs(d));
	if (metric == HNSW_METRIC_COSINE)
		lb = Max(lb, cosine_bound(h, d, g, qnorm));
	return float_down(lb);
}

/*
 * How far the error vector e = x - x~ typically moves a distance along one
 * direction (a unit vector u: u.e), for hnsw_code_spread.  |u.e| <= |e| <=
 * err always.  Where the errors of the coordinates are independent and
 * alike, u.e is about |e| / sqrt(dim); a scalar code's error is at most
 * half a step in every coordinate, but coordinates the code holds exactly
 * (a pixel at the vector's minimum) have none, so the others may carry
 * all of |e|, and those are where a direction can line up with it: for
 * such codes the typical size is taken as a uniform rounding error's,
 * step / sqrt(12), whatever err says per coordinate.  For L1 (err in L1,
 * the sum of |e|) the distance moves by about the L2 norm of e, estimated
 * from err and the step the same way.
 */
static double
code_direction_error(const HnswCodec *c, const HnswCodeHeader *h)
{
	double		root = sqrt((double) c->dim);

	if (c->storage == HNSW_STORAGE_HALF)
		return h->err / root;
	if (c->l1)
		return Min((double) h->err, sqrt(h->err * (double) h->step / 3.0));
	return Min((double) h->err, h->step / sqrt(12.0));
}

/*
 * Whether est, the kernel's distance to a code, estimates the exact
 * distance at all: not where the float sum left its exact range, nor where
 * the code's error, norm or step is not finite (half precision clamped
 * a coordinate beyond 65504 to it, and the error that covers the clamp
 * overflowed).  hnsw_code_spread is infinite exactly where it is not.
 */
static bool
code_usable(const HnswCodec *c, const void *code, float est)
{
	const HnswCodeHeader *h = (const HnswCodeHeader *) code;

	return fabs(est) < VEC_DIST_EXACT && isfinite(h->err) &&
		isfinite(h->norm) && isfinite(h->step);
}

/*
 * How far the exact distance typically strays from est, the kernel's
 * distance to the decoded code, for a re-ranking scan (hnsw_rerank.c):
 * hnsw_code_bound's interval with the error vector's typical component
 * along one direction (q - x~ in L2, q for the products) in place of its
 * norm err (code_direction_error), plus the float sums' rounding, about
 * sqrt(dim) units of the last place of the sum's scale.  Infinite where
 * est is not a usable estimate.
 */
double
hnsw_code_spread(int metric, const HnswCodec *c, const void *code, float est,
				 double qnorm)
{
	const HnswCodeHeader *h = (const HnswCodeHeader *) code;
	double		root = sqrt((double) c->dim);
	double		e;
	double		width;
	double		scale;

	if (!code_usable(c, code, est))
		return INFINITY;
	e = code_direction_error(c, h);
	if (metric == HNSW_METRIC_L2)
	{
		width = 2.0 * sqrt(Max(est, 0.0f)) * e; /* d(r^2) = 2 r dr */
		scale = fabs(est);
	}
	else if (metric == HNSW_METRIC_L1)
	{
		width = e;
		scale = fabs(est);
	}
	else
	{
		width = qnorm * e;
		scale = qnorm * h->norm;
	}
	return width + 4.0 * root * FLOAT_UNIT * scale;
}

/* a bound in the internal metric, in the units of the ORDER BY operator */
double
hnsw_bound_to_operator(int metric, float bound)
{
	switch (metric)
	{
		case HNSW_METRIC_L2:
			return sqrt((double) bound);
		case HNSW_METRIC_IP:
			return (double) bound - 1.0;	/* <#> is -q.x, internal 1 - q.x */
		default:
			return (double) bound;
	}
}
