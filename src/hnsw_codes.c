/*
 * hnsw_codes.c
 *		Compact codes of vectors (storage = half, sq8, sq4): encoding, decoding,
 *		distance kernels on codes with runtime CPU dispatch, the checks, and
 *		the lower bounds a scan reports so that the executor can put rows in
 *		exact order.
 *
 * A coded element keeps an HnswCodeHeader and then its code: dim IEEE
 * half-precision values, or a scalar code of 8 or 4 bits a value with the
 * vector's own offset and step, of the vector itself or of its residual to
 * the nearest of the index's trained centroids (hnsw_centroids.c).  The
 * offset and step are each code's own, so an insert never falls out of a
 * trained range: a row far from every centroid is coded as itself.
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
#define FLOAT_TRUE_MIN		0x1p-149	/* float's least subnormal */
#define HALF_ROUNDING		0x1p-11 /* half's unit roundoff */
#define HALF_SUBNORMAL		0x1p-24f	/* the smallest half */
#define HALF_SUBNORMAL_INV	0x1p24f
#define SCALAR_CLAMP		0x1p126f	/* sq8, sq4: steps stay finite */

typedef struct CodeKernels
{
	void		(*decode) (const void *code, int n, float lo, float step,
						   const float *cen, float *out);
	float		(*l2_squared) (const float *q, const void *code, int n,
							   float lo, float step, const float *cen);
	float		(*inner_product) (const float *q, const void *code, int n,
								  float lo, float step, const float *cen);
	float		(*l1) (const float *q, const void *code, int n, float lo,
					   float step, const float *cen);
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
 * for query value q and decoded value x, X(j) the decoded value of the
 * j-th code of the block: lo + step * level, plus the centroid's value
 * where the code is of a residual (X_*C; the bodies then read cen, which
 * advances with q; elsewhere cen is NULL and never read).  LEVEL(c, shift)
 * is the level a code byte holds (sq8: the byte; sq4: one nibble, see
 * below).  Blocks of LANES, then of 8 into the first lanes (a dimension
 * count is often a multiple of 8 and not of 32), then single values.
 */
#define LEVEL_SQ8(c, shift)		(c)
#define LEVEL_SQ4(c, shift)		(((c) >> (shift)) & 15)
#define X_SQ8(j)	SQ8_VALUE(lo, step, LEVEL_SQ8(c[j], shift))
#define X_SQ4(j)	SQ8_VALUE(lo, step, LEVEL_SQ4(c[j], shift))
#define X_SQ8C(j)	(cen[j] + X_SQ8(j))
#define X_SQ4C(j)	(cen[j] + X_SQ4(j))
#define ADV_NONE(k)	((void) 0)
#define ADV_CEN(k)	(cen += (k))

#define CODE_DECODE(name, X, ADV) \
KERNEL_INLINE void \
name(const uint8 *restrict c, int n, int shift, float lo, float step, \
	 const float *restrict cen, float *restrict out) \
{ \
	for (int k = n / LANES; k > 0; k--, c += LANES, out += LANES, ADV(LANES)) \
	{ \
		UNROLL(32) \
		for (int j = 0; j < LANES; j++) \
			out[j] = X(j); \
	} \
	for (int j = 0; j < n % LANES; j++) \
		out[j] = X(j); \
}

/*
 * What every code kernel does after its blocks of LANES values: blocks of
 * 8 into the first lanes (a dimension count is often a multiple of 8 and
 * not of 32), the fold, then single values; returns the sum.
 */
#define CODE_TAIL(TERM, X, ADV) \
	do { \
		for (int k = (n % LANES) / 8; k > 0; k--, q += 8, c += 8, ADV(8)) \
		{ \
			UNROLL(8) \
			for (int j = 0; j < 8; j++) \
				part[j] += TERM(q[j], X(j)); \
		} \
		sum = fold(part, LANES); \
		for (int j = 0; j < n % 8; j++) \
			sum += TERM(q[j], X(j)); \
		return sum; \
	} while (0)

#define CODE_BODY(name, TERM, X, ADV) \
KERNEL_INLINE float \
name(const float *restrict q, const uint8 *restrict c, int n, int shift, \
	 float lo, float step, const float *restrict cen) \
{ \
	float		part[LANES] = {0}; \
	float		sum; \
\
	for (int k = n / LANES; k > 0; k--, q += LANES, c += LANES, ADV(LANES)) \
	{ \
		UNROLL(32) \
		for (int j = 0; j < LANES; j++) \
			part[j] += TERM(q[j], X(j)); \
	} \
	CODE_TAIL(TERM, X, ADV); \
}

#define TERM_L2(a, b)	(((a) - (b)) * ((a) - (b)))
#define TERM_IP(a, b)	((a) * (b))
#define TERM_L1(a, b)	fabsf((a) - (b))

/* a code's decoder and its three metrics' bodies */
#define CODE_BODIES(prefix, X, ADV) \
	CODE_DECODE(prefix##_decode, X, ADV) \
	CODE_BODY(prefix##_l2, TERM_L2, X, ADV) \
	CODE_BODY(prefix##_ip, TERM_IP, X, ADV) \
	CODE_BODY(prefix##_l1, TERM_L1, X, ADV)

CODE_BODIES(body_sq8, X_SQ8, ADV_NONE)
CODE_BODIES(body_sq8c, X_SQ8C, ADV_CEN)

/*
 * sq4 keeps value j in the low nibble of byte j and value half + j in its
 * high nibble (half = (n + 1) / 2): two contiguous runs, each summed by the
 * body above taking one nibble of each byte.
 */
CODE_BODIES(body_nibbles, X_SQ4, ADV_NONE)
CODE_BODIES(body_nibblesc, X_SQ4C, ADV_CEN)

/* the centroid's values from off on, if there is a centroid */
static inline const float *
cen_at(const float *cen, int off)
{
	return cen ? cen + off : NULL;
}

/* an sq4 kernel: the low nibbles' run, then the high ones' */
#define SQ4_SUM(body, q, code, n, lo, step, cen) \
	(body((q), (code), ((n) + 1) / 2, 0, (lo), (step), (cen)) + \
	 body((q) + ((n) + 1) / 2, (code), (n) / 2, 4, (lo), (step), \
		  cen_at((cen), ((n) + 1) / 2)))

/*
 * One storage's kernels in one CPU variant: without a centroid (the code
 * of the vector itself) and with one (the code of the vector's residual
 * to centroid cen), for each metric, and the decoders.
 */
#define INSTANTIATE_ONE(kind, suffix, attrs, DECODE, BODY, SUM) \
static attrs void \
kind##_decode_##suffix(const void *code, int n, float lo, float step, \
					   const float *cen, float *out) \
{ \
	DECODE(code, n, lo, step, cen, out); \
} \
static attrs float \
kind##_l2_##suffix(const float *q, const void *code, int n, float lo, \
				   float step, const float *cen) \
{ \
	return cen ? SUM(BODY##c_l2, q, code, n, lo, step, cen) : \
		SUM(BODY##_l2, q, code, n, lo, step, NULL); \
} \
static attrs float \
kind##_ip_##suffix(const float *q, const void *code, int n, float lo, \
				   float step, const float *cen) \
{ \
	return cen ? SUM(BODY##c_ip, q, code, n, lo, step, cen) : \
		SUM(BODY##_ip, q, code, n, lo, step, NULL); \
} \
static attrs float \
kind##_l1_##suffix(const float *q, const void *code, int n, float lo, \
				   float step, const float *cen) \
{ \
	return cen ? SUM(BODY##c_l1, q, code, n, lo, step, cen) : \
		SUM(BODY##_l1, q, code, n, lo, step, NULL); \
} \
static const CodeKernels kind##_kernels_##suffix = { \
	kind##_decode_##suffix, kind##_l2_##suffix, kind##_ip_##suffix, \
	kind##_l1_##suffix \
};

#define SQ8_RUN(body, q, code, n, lo, step, cen) \
	body((q), (code), (n), 0, (lo), (step), (cen))
#define SQ8_DECODE(code, n, lo, step, cen, out) \
	((cen) ? body_sq8c_decode((code), (n), 0, (lo), (step), (cen), (out)) : \
	 body_sq8_decode((code), (n), 0, (lo), (step), NULL, (out)))
#define SQ4_DECODE_RUN(code, n, lo, step, cen, out, body) \
	(body((code), ((n) + 1) / 2, 0, (lo), (step), (cen), (out)), \
	 body((code), (n) / 2, 4, (lo), (step), \
		  cen_at((cen), ((n) + 1) / 2), (out) + ((n) + 1) / 2))
#define SQ4_DECODE(code, n, lo, step, cen, out) \
	((cen) ? SQ4_DECODE_RUN(code, n, lo, step, cen, out, body_nibblesc_decode) : \
	 SQ4_DECODE_RUN(code, n, lo, step, cen, out, body_nibbles_decode))

#define INSTANTIATE_SCALAR(suffix, attrs) \
	INSTANTIATE_ONE(sq8, suffix, attrs, SQ8_DECODE, body_sq8, SQ8_RUN) \
	INSTANTIATE_ONE(sq4, suffix, attrs, SQ4_DECODE, body_nibbles, SQ4_SUM)

INSTANTIATE_SCALAR(generic, /* baseline ISA */ )

/* half without F16C: decode into scratch, then distance.c's kernels */
static void
half_decode_generic(const void *code, int n, float lo, float step,
					const float *cen, float *out)
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

/* the decoded values of a register, with the centroid's added (CEN512) */
#define CEN512_NONE(x, off)	(x)
#define CEN512_ADD(x, off)	_mm512_add_ps(_mm512_loadu_ps(cen + (off)), x)

#define CODE_BODY_512(name, STEP, TERM, WIDEN, X, CEN512, ADV) \
__attribute__((target("avx512f,avx512bw,avx2,fma"))) \
static float \
name(const float *restrict q, const uint8 *restrict c, int n, int shift, \
	 float lo, float step, const float *restrict cen) \
{ \
	__m512		acc0 = _mm512_setzero_ps(); \
	__m512		acc1 = _mm512_setzero_ps(); \
	__m512		vlo = _mm512_set1_ps(lo); \
	__m512		vstep = _mm512_set1_ps(step); \
	float		part[LANES]; \
	float		sum; \
\
	for (int k = n / LANES; k > 0; k--, q += LANES, c += LANES, ADV(LANES)) \
	{ \
		__m512		x0 = _mm512_fmadd_ps(vstep, _mm512_cvtepi32_ps(WIDEN(c, shift)), vlo); \
		__m512		x1 = _mm512_fmadd_ps(vstep, _mm512_cvtepi32_ps(WIDEN(c + 16, shift)), vlo); \
\
		acc0 = STEP(acc0, _mm512_loadu_ps(q), CEN512(x0, 0)); \
		acc1 = STEP(acc1, _mm512_loadu_ps(q + 16), CEN512(x1, 16)); \
	} \
	_mm512_storeu_ps(part, acc0); \
	_mm512_storeu_ps(part + 16, acc1); \
	CODE_TAIL(TERM, X, ADV); \
}

#define BODIES_512(metric, STEP, TERM) \
CODE_BODY_512(sq8_##metric##_avx512, STEP, TERM, WIDEN_SQ8, X_SQ8, CEN512_NONE, ADV_NONE) \
CODE_BODY_512(sq8c_##metric##_avx512, STEP, TERM, WIDEN_SQ8, X_SQ8C, CEN512_ADD, ADV_CEN) \
CODE_BODY_512(nibbles_##metric##_avx512, STEP, TERM, WIDEN_SQ4, X_SQ4, CEN512_NONE, ADV_NONE) \
CODE_BODY_512(nibblesc_##metric##_avx512, STEP, TERM, WIDEN_SQ4, X_SQ4C, CEN512_ADD, ADV_CEN)

BODIES_512(l2, STEP512_L2, TERM_L2)
BODIES_512(ip, STEP512_IP, TERM_IP)
BODIES_512(l1, STEP512_L1, TERM_L1)

#define WRAP_512(name, SUM, plain, withcen) \
__attribute__((target("avx512f,avx512bw,avx2,fma"))) \
static float \
name(const float *q, const void *code, int n, float lo, float step, \
	 const float *cen) \
{ \
	return cen ? SUM(withcen, q, code, n, lo, step, cen) : \
		SUM(plain, q, code, n, lo, step, NULL); \
}
WRAP_512(sq8_l2_avx512w, SQ8_RUN, sq8_l2_avx512, sq8c_l2_avx512)
WRAP_512(sq8_ip_avx512w, SQ8_RUN, sq8_ip_avx512, sq8c_ip_avx512)
WRAP_512(sq8_l1_avx512w, SQ8_RUN, sq8_l1_avx512, sq8c_l1_avx512)
WRAP_512(sq4_l2_avx512w, SQ4_SUM, nibbles_l2_avx512, nibblesc_l2_avx512)
WRAP_512(sq4_ip_avx512w, SQ4_SUM, nibbles_ip_avx512, nibblesc_ip_avx512)
WRAP_512(sq4_l1_avx512w, SQ4_SUM, nibbles_l1_avx512, nibblesc_l1_avx512)

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
half_decode_f16c(const void *code, int n, float lo, float step,
				 const float *cen, float *out)
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
name(const float *q, const void *code, int n, float lo, float step, \
	 const float *cen) \
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

/* ---------------------------------------------------------------------
 * Integer products for re-ranking scans of sq8 codes
 *
 * A re-ranking scan's estimate need not be the decoder's arithmetic (the
 * table's vector decides the order), so its sq8 products take the query
 * quantised to 16 bits against the code's bytes: q.x~ = lo * sum(q) +
 * step * qscale * sum(q16 c), the last sum an exact integer.  The AVX-512
 * VNNI loop takes 2 instructions per 32 values, against 11 for the float
 * kernel; every variant gives the same integer.
 * ---------------------------------------------------------------------
 */

/*
 * Values per int32 partial sum: 256 products of at most 32767 * 255 fit in
 * an int32, so the vector variants' lanes take 256 at most too (AVX2's
 * eight lanes per 2,048 values, AVX-512's sixteen per 4,096).
 */
#define DOT16_BLOCK		256

static int64
dot16_generic(const int16 *q, const uint8 *c, int n)
{
	int64		sum = 0;

	for (int b = 0; b < n; b += DOT16_BLOCK)
	{
		int32		part = 0;
		int			end = Min(n, b + DOT16_BLOCK);

		for (int j = b; j < end; j++)
			part += (int32) q[j] * c[j];
		sum += part;
	}
	return sum;
}

#ifdef HAVE_X86_KERNELS
/* the lanes of an int32 register, summed into an int64 */
__attribute__((target("avx2")))
static inline int64
lanes256(__m256i v)
{
	int32		l[8];
	int64		sum = 0;

	_mm256_storeu_si256((__m256i *) l, v);
	for (int i = 0; i < 8; i++)
		sum += l[i];
	return sum;
}

__attribute__((target("avx512f")))
static inline int64
lanes512(__m512i v)
{
	int32		l[16];
	int64		sum = 0;

	_mm512_storeu_si512(l, v);
	for (int i = 0; i < 16; i++)
		sum += l[i];
	return sum;
}

__attribute__((target("avx2")))
static int64
dot16_avx2(const int16 *q, const uint8 *c, int n)
{
	int64		sum = 0;
	int			j = 0;

	while (j + 16 <= n)
	{
		__m256i		acc = _mm256_setzero_si256();
		int			end = Min(n, j + 2048);

		for (; j + 16 <= end; j += 16)
		{
			__m256i		x = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *) (c + j)));
			__m256i		y = _mm256_loadu_si256((const __m256i *) (q + j));

			acc = _mm256_add_epi32(acc, _mm256_madd_epi16(x, y));
		}
		sum += lanes256(acc);
	}
	return sum + dot16_generic(q + j, c + j, n - j);
}

/* DOT16_512(name, attrs, STEP): STEP(acc, codes, query) adds 32 products */
#define DOT16_512(name, attrs, STEP) \
__attribute__((target(attrs))) \
static int64 \
name(const int16 *q, const uint8 *c, int n) \
{ \
	int64		sum = 0; \
	int			j = 0; \
\
	while (j + 32 <= n) \
	{ \
		__m512i		acc = _mm512_setzero_si512(); \
		int			end = Min(n, j + 4096); \
\
		for (; j + 32 <= end; j += 32) \
			acc = STEP(acc, \
					   _mm512_cvtepu8_epi16(_mm256_loadu_si256((const __m256i *) (c + j))), \
					   _mm512_loadu_si512(q + j)); \
		sum += lanes512(acc); \
	} \
	return sum + dot16_generic(q + j, c + j, n - j); \
}
#define STEP16_BW(acc, a, b)	_mm512_add_epi32(acc, _mm512_madd_epi16(a, b))
#define STEP16_VNNI(acc, a, b)	_mm512_dpwssd_epi32(acc, a, b)
DOT16_512(dot16_avx512, "avx512f,avx512bw", STEP16_BW)
DOT16_512(dot16_vnni, "avx512f,avx512bw,avx512vnni", STEP16_VNNI)

/* CPUID leaf 7, ECX bit 11 */
static bool
cpu_has_vnni(void)
{
	unsigned int eax,
				ebx,
				ecx,
				edx;

	return __get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx) &&
		(ecx & (1u << 11)) != 0;
}
#endif

static int64 (*dot16) (const int16 *q, const uint8 *c, int n) = dot16_generic;

/* binds the kernels to the best variant the CPU runs; from _PG_init */
void
hnsw_codes_init(void)
{
	half_kernels = half_kernels_generic;
	sq8_kernels = sq8_kernels_generic;
	sq4_kernels = sq4_kernels_generic;
	dot16 = dot16_generic;
#ifdef HAVE_X86_KERNELS
	__builtin_cpu_init();
	if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
	{
		sq8_kernels = sq8_kernels_avx2;
		sq4_kernels = sq4_kernels_avx2;
		if (cpu_has_f16c())
			half_kernels = half_kernels_f16c;
		dot16 = dot16_avx2;
		if (cpu_has_avx512bw())
		{
			sq8_kernels = sq8_kernels_avx512;
			sq4_kernels = sq4_kernels_avx512;
			dot16 = cpu_has_vnni() ? dot16_vnni : dot16_avx512;
		}
	}
#endif
}

/*
 * The centroid a code's residual was taken to (1 to ncent), or NULL for
 * centroid 0, a code of the vector itself.  Callers check an element's
 * number against the metapage's count when they read it; this check only
 * keeps a missed one from reading outside the centroids.
 */
static inline const float *
centroid_of(const HnswCodec *c, int centroid)
{
	if (centroid == 0)
		return NULL;
	if (unlikely(centroid > c->ncent))
		elog(ERROR, "hnsw code refers to centroid %d of %d", centroid,
			 c->ncent);
	return c->cent + (Size) (centroid - 1) * c->dim;
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
				   const void *code, int centroid, float *scratch)
{
	const HnswCodeHeader *h = (const HnswCodeHeader *) code;
	const void *values = (const char *) code + sizeof(HnswCodeHeader);
	const CodeKernels *k = kernels_of(c->storage);
	const float *cen = centroid_of(c, centroid);
	float		r;

	if (k->l2_squared != NULL)
	{
		switch (metric)
		{
			case HNSW_METRIC_L2:
				r = k->l2_squared(q, values, c->dim, h->lo, h->step, cen);
				break;
			case HNSW_METRIC_L1:
				r = k->l1(q, values, c->dim, h->lo, h->step, cen);
				break;
			case HNSW_METRIC_NEG_IP:
				r = -k->inner_product(q, values, c->dim, h->lo, h->step, cen);
				break;
			default:
				r = 1.0f - k->inner_product(q, values, c->dim, h->lo, h->step,
											cen);
				break;
		}
		if (fabsf(r) <= VEC_DIST_EXACT)
			return r;
	}
	k->decode(values, c->dim, h->lo, h->step, cen, scratch);
	switch (metric)
	{
		case HNSW_METRIC_L2:
			return vec_index_l2_squared(q, scratch, c->dim);
		case HNSW_METRIC_L1:
			return vec_index_l1(q, scratch, c->dim);
		case HNSW_METRIC_NEG_IP:
			return vec_index_neg_ip(q, scratch, c->dim);
		default:
			return vec_index_ip_distance(q, scratch, c->dim);
	}
}

/*
 * Prepares a re-ranking scan's 16-bit query for hnsw_code_dot16: q16 = q /
 * qscale rounded, |q16| <= 32767.  False (nothing prepared; the scan then
 * takes the float kernels) unless the storage is sq8, q is finite, its
 * largest value is at least 2^-111 and its sum within float's range.
 * out->err is the typical error the rounding adds to a product per unit of
 * step: qscale / sqrt(12) per value, times sqrt(dim) values of at most 255.
 */
bool
hnsw_code_query16(const HnswCodec *c, const float *q, HnswQuery16 *out)
{
	double		sum = 0;
	double		inv;
	float		top = 0;

	if (c->storage != HNSW_STORAGE_SQ8)
		return false;
	for (int i = 0; i < c->dim; i++)
	{
		if (!isfinite(q[i]))
			return false;
		top = Max(top, fabsf(q[i]));
		sum += q[i];
	}

	/*
	 * qscale must be a normal float (a query of subnormal values would lose
	 * its products to qscale's underflow), and the sum finite
	 */
	if (!(top >= FLT_MIN * 32768.0f) || !(fabs(sum) <= FLT_MAX))
		return false;
	out->scale = top / 32767.0f;
	inv = 32767.0 / top;		/* in double: |q[i] * inv| <= 32767 + ulps */
	for (int i = 0; i < c->dim; i++)
		out->q[i] = (int16) rint(q[i] * inv);
	out->sum = (float) sum;
	out->err = out->scale * 255.0 * sqrt((double) c->dim / 12.0);
	return true;
}

/*
 * q . x~ for an sq8 code (the code's own values, without its centroid)
 * from the query prepared by hnsw_code_query16: lo * sum(q) + step *
 * scale * sum(q16 c).  NaN where that is out of VEC_DIST_EXACT's range (the
 * caller then takes hnsw_code_distance).
 */
float
hnsw_code_dot16(const HnswCodec *c, const void *code, const HnswQuery16 *q16)
{
	const HnswCodeHeader *h = (const HnswCodeHeader *) code;
	int64		s = dot16(q16->q, (const uint8 *) code + sizeof(HnswCodeHeader),
						  c->dim);
	float		r = h->lo * q16->sum + h->step * (q16->scale * (float) s);

	return fabsf(r) <= VEC_DIST_EXACT ? r : NAN;
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
 * The centroid of cent (ncent of dim floats) nearest to v in L2, numbered
 * 1 to ncent (ties to the lower number), or 0 where no distance is finite
 * (vectors near the float4 limits).  The build's k-means
 * (hnsw_centroids.c) and the encoder both search this way.
 */
int
hnsw_nearest_centroid(const float *cent, int ncent, int dim, const float *v)
{
	float		best = INFINITY;
	int			choice = 0;
	int			i;

	for (i = 0; i < ncent; i++)
	{
		float		d = vec_index_l2_squared(v, cent + (Size) i * dim, dim);

		if (d < best)
		{
			best = d;
			choice = i + 1;
		}
	}
	return choice;
}

/*
 * The centroid nearest to vec (1 to ncent), with vec's residual to it in
 * res, or 0 where the index has none, no distance is finite or the
 * residual overflows (near the float4 limits).
 */
static int
nearest_centroid(const HnswCodec *c, const float *vec, float *res)
{
	int			choice = hnsw_nearest_centroid(c->cent, c->ncent, c->dim, vec);
	const float *cen;
	int			i;

	if (choice == 0)
		return 0;
	cen = c->cent + (Size) (choice - 1) * c->dim;
	for (i = 0; i < c->dim; i++)
	{
		res[i] = vec[i] - cen[i];
		if (!isfinite(res[i]))
			return 0;
	}
	return choice;
}

/*
 * Writes the code of values (vec itself, or its residual to centroid) to
 * out, with the header's error bound and norm, and returns the error
 * measured: the distance from vec to what the code decodes to, as this
 * CPU's decoder rebuilds it, before rounding up.  The bound adds a little
 * for a kernel or decoder on another CPU: an FMA rounds lo + step * c once,
 * a multiply and an add twice, at most an ulp of the larger term apart per
 * value, and adding a centroid's value rounds once more, at most an ulp of
 * the decoded value apart (OTHER_CPU is four ulps of the largest).
 */
static double
encode_values(const HnswCodec *c, const float *vec, const float *values,
			  int centroid, void *out, float *dec)
{
	HnswCodeHeader *h = (HnswCodeHeader *) out;
	void	   *code = (char *) out + sizeof(HnswCodeHeader);
	double		err = 0;
	double		norm2 = 0;
	double		big = 0;
	int			i;

	memset(h, 0, sizeof(HnswCodeHeader));
	if (c->storage == HNSW_STORAGE_HALF)
	{
		for (i = 0; i < c->dim; i++)
			((uint16 *) code)[i] = float_to_half(values[i]);
	}
	else
		encode_scalar(values, c->dim, code_top(c), h, code);
	hnsw_decode(c, out, centroid, dec);
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
	h->err = float_up(err * (1 + ROUND_UP) +
					  OTHER_CPU * big * (c->l1 ? (double) c->dim : sqrt((double) c->dim)));
	h->norm = float_up(sqrt(norm2) * (1 + ROUND_UP));
	return err;
}

/*
 * Writes vec's code (header and values) to out and returns the centroid
 * it is the code of the residual to, or 0 for a code of vec itself.  An
 * index with trained centroids codes the residual to the nearest one
 * unless the code of vec itself errs less: a vector far from every
 * centroid, or one whose own code holds many values exactly (the zero
 * pixels of an image, at its minimum), keeps that.
 */
int
hnsw_encode(const HnswCodec *c, const float *vec, void *out)
{
	Size		bytes = hnsw_code_bytes(c->storage, c->dim);
	float	   *dec;
	float	   *res;
	void	   *own;
	int			centroid;
	double		err;

	if (c->storage == HNSW_STORAGE_FLOAT4)
	{
		memcpy(out, vec, sizeof(float) * c->dim);
		return 0;
	}
	dec = palloc(sizeof(float) * c->dim);
	if (c->ncent == 0)
	{
		encode_values(c, vec, vec, 0, out, dec);
		pfree(dec);
		return 0;
	}
	res = palloc(sizeof(float) * c->dim);
	own = palloc(bytes);
	centroid = nearest_centroid(c, vec, res);
	err = encode_values(c, vec, vec, 0, own, dec);
	if (centroid == 0 || encode_values(c, vec, res, centroid, out, dec) >= err)
	{
		memcpy(out, own, bytes);
		centroid = 0;
	}
	pfree(dec);
	pfree(res);
	pfree(own);
	return centroid;
}

/*
 * The vector a code stands for: the stored floats themselves for float4,
 * else decoded into scratch (dim floats), the centroid's values added.
 */
const float *
hnsw_decode(const HnswCodec *c, const void *code, int centroid, float *scratch)
{
	const HnswCodeHeader *h = (const HnswCodeHeader *) code;
	const char *values = (const char *) code + sizeof(HnswCodeHeader);

	if (c->storage == HNSW_STORAGE_FLOAT4)
		return (const float *) code;
	kernels_of(c->storage)->decode(values, c->dim, h->lo, h->step,
								   centroid_of(c, centroid), scratch);
	return scratch;
}

/*
 * Whether the element whose code is code (of the residual to centroid)
 * may also stand for vec (a row to attach to it, or a row the checker
 * looks up): vec encodes to the same code, and lies within the stored
 * error bound of what the code decodes to (measured, not recomputed by
 * encode's formula, so that a bound written by another build is judged by
 * what it promises).  scratch: hnsw_code_bytes, then dim floats.
 */
bool
hnsw_code_holds(const HnswCodec *c, const void *code, int centroid,
				const float *vec, void *scratch)
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
	if (hnsw_encode(c, vec, scratch) != centroid ||
		memcmp((const char *) code + hdr, (const char *) scratch + hdr,
			   bytes - hdr) != 0 ||
		stored->lo != mine->lo || stored->step != mine->step)
		return false;
	dec = hnsw_decode(c, code, centroid,
					  (float *) ((char *) scratch + MAXALIGN(bytes)));
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
hnsw_code_invalid(const HnswCodec *c, const void *code, int centroid)
{
	const HnswCodeHeader *h = (const HnswCodeHeader *) code;
	const uint16 *half = (const uint16 *) ((const char *) code + sizeof(HnswCodeHeader));
	int			i;

	if (centroid > c->ncent)
		return "element refers to a centroid the index does not have";

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
 * What float arithmetic below its normal range (2^-126) loses whatever the
 * relative bounds say: a product or a square there keeps only multiples of
 * 2^-149, so each of a kernel's dim terms may be off by 2^-150, as may the
 * few other operations of a code's distance; the operator sums in double
 * there (distance.c).  Twice (dim + 64) such halves, in the units of the
 * distance.  Rows of 6e-23 against a query of 1e-23 (products about
 * 1e-45) had their bounds above the operator's distance: "index returned
 * tuples in wrong order" from an sq8 expression index.
 */
static inline double
underflow_slack(const HnswCodec *c)
{
	return (c->dim + 64) * FLOAT_TRUE_MIN;
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
		d -= underflow_slack(c);
		if (metric == HNSW_METRIC_L2)
			lb = sqrt(Max(d, 0.0) * (1 - g));
		else
			lb = d * (1 - g);
		lb = (lb - h->err) * (1 - g);
		if (!(lb > 0))
			return 0.0f;
		return float_down(metric == HNSW_METRIC_L2 ? lb * lb : lb);
	}
	/* products: est is 1 - q.x~, or -q.x~ (NEG_IP: no 1 to round against) */
	if (!(fabs(d) < VEC_DIST_EXACT) || !isfinite(h->err) || !isfinite(h->norm))
		return -INFINITY;
	lb = d - qnorm * h->err - g * qnorm * (2.0 * h->norm + h->err) -
		4 * FLOAT_UNIT * ((metric == HNSW_METRIC_NEG_IP ? 0 : 1) + fabs(d)) -
		underflow_slack(c);
	if (metric == HNSW_METRIC_COSINE)
		lb = Max(lb, cosine_bound(h, d, g, qnorm) - underflow_slack(c));
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
 * overflowed).  Nor where half precision lost more than its rounding, at
 * most 2^-11 of each coordinate: coordinates it clamped, or flushed below
 * its range (6e-8, with 11 bits from 6.1e-5 only) have errors that a
 * direction lines up with, not the random ones code_direction_error
 * assumes (rows of 1e-20, all zeros in half, came out in no order); the
 * search then takes the code's lower bound.  hnsw_code_spread is infinite
 * exactly where it is not.
 */
static bool
code_usable(const HnswCodec *c, const void *code, float est)
{
	const HnswCodeHeader *h = (const HnswCodeHeader *) code;

	if (c->storage == HNSW_STORAGE_HALF)
	{
		/* rounding: 2^-11 of |x| (L1: of |x|_1 <= sqrt(dim) |x|), as encoded */
		double		r = c->l1 ? sqrt((double) c->dim) : 1.0;
		double		cpu = OTHER_CPU * sqrt((double) c->dim) * r;

		if (h->err > h->norm * r * (2 * HALF_ROUNDING + cpu))
			return false;
	}
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
	return width + 4.0 * root * FLOAT_UNIT * scale + underflow_slack(c);
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
		default:				/* NEG_IP: -q.x already */
			return (double) bound;
	}
}
