/*
 * hnsw_codes.c
 *		Compact codes of vectors (storage = half or sq8): encoding, decoding
 *		with runtime CPU dispatch, the checks, and the lower bounds a scan
 *		reports so that the executor can put rows in exact order.
 *
 * A coded element keeps an HnswCodeHeader and then its code: dim IEEE
 * half-precision values, or dim bytes of an 8-bit scalar code with the
 * vector's own offset and step (no training, so an insert never falls out
 * of a trained range and REINDEX is never needed to retrain).  The graph
 * computes distances on the decoded vector with the float kernels of
 * distance.c: decoding into a scratch vector that stays in the L1 cache
 * costs little next to the cache misses the smaller element saves.
 */
#include "postgres.h"

#include <float.h>
#include <math.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <cpuid.h>
#include <immintrin.h>
#define HAVE_X86_DECODERS 1
#endif

#include "distance.h"
#include "hnsw.h"
#include "hnsw_codes.h"

typedef void (*HalfDecoder) (const uint16 *in, int n, float *out);
typedef void (*Sq8Decoder) (const uint8 *in, int n, float mid, float step,
							float *out);

static HalfDecoder decode_half;
static Sq8Decoder decode_sq8;

static const struct
{
	const char *name;
	int			max_dim;
}			storages[] = {
	[HNSW_STORAGE_FLOAT4] = {"float4", HNSW_MAX_DIM},
	[HNSW_STORAGE_HALF] = {"half", HNSW_MAX_DIM_HALF},
	[HNSW_STORAGE_SQ8] = {"sq8", HNSW_MAX_DIM_SQ8},
};

const char *
hnsw_storage_name(int storage)
{
	if (storage < HNSW_STORAGE_FLOAT4 || storage > HNSW_STORAGE_SQ8)
		return "unknown";
	return storages[storage].name;
}

/* the storage kind of a reloption value, or 0 */
int
hnsw_storage_by_name(const char *name)
{
	int			s;

	for (s = HNSW_STORAGE_FLOAT4; s <= HNSW_STORAGE_SQ8; s++)
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
		return sign | (uint32) rintf(fabsf(f) * 0x1p24f);
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
		f = (float) mant * 0x1p-24f;
	else if (exp == 31)
		f = mant ? NAN : INFINITY;	/* never written; the checker reports it */
	else
	{
		x = ((exp + 112) << 23) | (mant << 13);
		memcpy(&f, &x, sizeof(f));
	}
	return (h & 0x8000) ? -f : f;
}

static void
decode_half_generic(const uint16 *in, int n, float *out)
{
	int			i;

	for (i = 0; i < n; i++)
		out[i] = half_to_float(in[i]);
}

static void
decode_sq8_generic(const uint8 *in, int n, float mid, float step, float *out)
{
	int			i;

	for (i = 0; i < n; i++)
		out[i] = mid + step * ((float) in[i] - 127.5f);
}

#ifdef HAVE_X86_DECODERS
__attribute__((target("avx2,f16c")))
static void
decode_half_f16c(const uint16 *in, int n, float *out)
{
	int			i;

	for (i = 0; i + 8 <= n; i += 8)
		_mm256_storeu_ps(out + i,
						 _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *) (in + i))));
	for (; i < n; i++)
		out[i] = half_to_float(in[i]);
}

/* the same loop as the generic one, vectorised for AVX2 by the compiler */
__attribute__((target("avx2,fma")))
static void
decode_sq8_avx2(const uint8 *in, int n, float mid, float step, float *out)
{
	int			i;

	for (i = 0; i < n; i++)
		out[i] = mid + step * ((float) in[i] - 127.5f);
}
#endif

#ifdef HAVE_X86_DECODERS
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

/* binds the decoders to the best variant the CPU runs; from _PG_init */
void
hnsw_codes_init(void)
{
	decode_half = decode_half_generic;
	decode_sq8 = decode_sq8_generic;
#ifdef HAVE_X86_DECODERS
	__builtin_cpu_init();
	if (__builtin_cpu_supports("avx2") && cpu_has_f16c())
		decode_half = decode_half_f16c;
	if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
		decode_sq8 = decode_sq8_avx2;
#endif
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

static void
encode_sq8(const float *vec, int dim, HnswCodeHeader *h, uint8 *code)
{
	float		lo = vec[0];
	float		hi = vec[0];
	int			i;

	for (i = 1; i < dim; i++)
	{
		lo = Min(lo, vec[i]);
		hi = Max(hi, vec[i]);
	}
	/* halves: mid + step * 127.5 stays finite even for -FLT_MAX..FLT_MAX */
	h->mid = (float) (((double) lo + (double) hi) / 2);
	h->step = (float) (((double) hi - (double) lo) / 255);
	for (i = 0; i < dim; i++)
	{
		double		t = h->step > 0 ?
			((double) vec[i] - h->mid) / h->step + 127.5 : 127.5;

		code[i] = (uint8) Max(0.0, Min(255.0, rint(t)));
	}
}

/*
 * Writes vec's code (header and values) to out.  The error bound is taken
 * from the vector as this CPU's decoder rebuilds it, rounded up, plus a
 * little for a decoder on another CPU (an FMA rounds once, a multiply and
 * an add twice: at most an ulp of each value apart).
 */
void
hnsw_encode(const HnswCodec *c, const float *vec, void *out)
{
	HnswCodeHeader *h = (HnswCodeHeader *) out;
	void	   *code = (char *) out + sizeof(HnswCodeHeader);
	float	   *dec = palloc(sizeof(float) * c->dim);
	double		err = 0;
	double		norm2 = 0;
	double		norm1 = 0;
	int			i;

	if (c->storage == HNSW_STORAGE_FLOAT4)
	{
		memcpy(out, vec, sizeof(float) * c->dim);
		pfree(dec);
		return;
	}
	memset(h, 0, sizeof(HnswCodeHeader));
	if (c->storage == HNSW_STORAGE_HALF)
	{
		for (i = 0; i < c->dim; i++)
			((uint16 *) code)[i] = float_to_half(vec[i]);
	}
	else
		encode_sq8(vec, c->dim, h, code);
	hnsw_decode(c, out, dec);
	for (i = 0; i < c->dim; i++)
	{
		double		d = (double) vec[i] - (double) dec[i];

		err += c->l1 ? fabs(d) : d * d;
		norm2 += (double) dec[i] * dec[i];
		norm1 += fabs(dec[i]);
	}
	if (!c->l1)
		err = sqrt(err);
	err = err * (1 + 0x1p-20) + 0x1p-21 * (c->l1 ? norm1 : sqrt(norm2));
	h->err = float_up(err);
	h->norm = float_up(sqrt(norm2) * (1 + 0x1p-20));
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

	switch (c->storage)
	{
		case HNSW_STORAGE_HALF:
			decode_half((const uint16 *) values, c->dim, scratch);
			return scratch;
		case HNSW_STORAGE_SQ8:
			decode_sq8((const uint8 *) values, c->dim, h->mid, h->step,
					   scratch);
			return scratch;
		default:
			return (const float *) code;
	}
}

/*
 * Whether the element whose code is code may also stand for vec (a row to
 * attach to it, or a row the checker looks up): the same code, and vec no
 * farther from it than the stored bound.  scratch: hnsw_code_bytes.
 */
bool
hnsw_code_holds(const HnswCodec *c, const void *code, const float *vec,
				void *scratch)
{
	const HnswCodeHeader *stored = (const HnswCodeHeader *) code;
	const HnswCodeHeader *mine = (const HnswCodeHeader *) scratch;
	Size		hdr = sizeof(HnswCodeHeader);

	if (c->storage == HNSW_STORAGE_FLOAT4)
		return memcmp(code, vec, sizeof(float) * c->dim) == 0;
	hnsw_encode(c, vec, scratch);
	return memcmp((const char *) code + hdr, (const char *) scratch + hdr,
				  hnsw_code_bytes(c->storage, c->dim) - hdr) == 0 &&
		stored->mid == mine->mid && stored->step == mine->step &&
		mine->err <= stored->err && mine->norm <= stored->norm;
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
	if (c->storage == HNSW_STORAGE_SQ8)
	{
		if (!isfinite(h->mid) || !isfinite(h->step) || h->step < 0)
			return "element code has an invalid offset or step";
		return NULL;
	}
	if (h->mid != 0 || h->step != 0)
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
	double		g = (c->dim + 64) * 0x1p-23;
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
		4 * 0x1p-24 * (1 + fabs(d));
	return float_down(lb);
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
