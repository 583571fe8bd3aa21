/*
 * vector.c
 *		The vector type: a fixed-length array of float4, with the SQL surface
 *		and the text and binary formats of pgvector's "vector", so that SQL,
 *		COPY files and binary-protocol clients written for pgvector work
 *		unchanged.
 *
 * Layout (see vector.h): varlena header, int16 dim, int16 unused (always 0),
 * then dim float4 values.  Every vector has 1 to VECTOR_MAX_DIM dimensions
 * and only finite elements; all entry points that build a vector enforce
 * that, so the rest of the code may rely on it.
 */
#include "postgres.h"

#include <float.h>
#include <math.h>

#include "catalog/pg_type.h"
#include "common/shortest_dec.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "libpq/pqformat.h"
#include "port/pg_bitutils.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/float.h"
#include "utils/fmgrprotos.h"
#include "utils/lsyscache.h"
#include "utils/varbit.h"

#include "distance.h"
#include "vector.h"

/* ---------------------------------------------------------------------
 * Validation helpers
 * ---------------------------------------------------------------------
 */

/* a dimension count a vector may have */
static void
check_dim_count(int dim)
{
	if (dim < 1)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("vector must have at least 1 dimension")));
	if (dim > VECTOR_MAX_DIM)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("vector cannot have more than %d dimensions",
						VECTOR_MAX_DIM)));
}

/* the dimension count a type modifier (-1: none) asks for */
static void
check_typmod(int32 typmod, int dim)
{
	if (typmod != -1 && typmod != dim)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("expected %d dimensions, not %d", typmod, dim)));
}

void
CheckVectorDims(int a, int b)
{
	if (a != b)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("different vector dimensions %d and %d", a, b)));
}

void
CheckVectorElement(float value)
{
	if (isnan(value))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("NaN not allowed in vector")));
	if (isinf(value))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("infinite value not allowed in vector")));
}

Vector *
InitVector(int dim)
{
	Size		size = VECTOR_SIZE(dim);
	Vector	   *v = (Vector *) palloc0(size);

	SET_VARSIZE(v, size);
	v->dim = dim;
	return v;
}

/* an arithmetic result that overflowed float4 is an error, as for float4 */
static inline void
check_result_finite(const Vector *r)
{
	for (int i = 0; i < r->dim; i++)
		if (isinf(r->x[i]))
			float_overflow_error();
}

/* ---------------------------------------------------------------------
 * Text I/O
 * ---------------------------------------------------------------------
 */

/* the whitespace array_in accepts */
static inline bool
is_vector_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

static inline const char *
skip_space(const char *p)
{
	while (is_vector_space(*p))
		p++;
	return p;
}

/*
 * Reads the run of decimal digits at p into *w (*w times 10 per digit plus
 * the digit, wrapping: the caller only uses *w when the run was short
 * enough) and returns where the run ends.  Where 8 bytes remain before the
 * literal's end, 8 bytes are tested and converted at once: their digits
 * (bytes c - '0' below 10, found by adding 0x76 to each, which sets its
 * high bit at 10 or more, or with a borrow below '0'), shifted to the top
 * of the word, become one number by three multiplications that each join
 * neighbouring groups (pairs, fours, eights).  A byte after the first
 * non-digit may be wrong, but it is not used.
 */
static inline const char *
scan_digits(const char *p, const char *end, uint64 *w)
{
	static const uint64 pow10int[] = {1, 10, 100, 1000, 10000, 100000,
	1000000, 10000000, 100000000};
	uint64		acc = *w;

#ifndef WORDS_BIGENDIAN
	while (end - p >= 8)
	{
		uint64		v;
		uint64		x;
		uint64		nondigit;
		int			n;

		memcpy(&v, p, sizeof(v));
		x = v - UINT64CONST(0x3030303030303030);
		nondigit = ((x + UINT64CONST(0x7676767676767676)) | x) &
			UINT64CONST(0x8080808080808080);
		n = nondigit ? pg_rightmost_one_pos64(nondigit) / 8 : 8;
		if (n == 0)
			break;
		v = (v & UINT64CONST(0x0F0F0F0F0F0F0F0F)) << (8 * (8 - n));
		v = (v * 2561) >> 8;
		v = ((v & UINT64CONST(0x00FF00FF00FF00FF)) * 6553601) >> 16;
		v = ((v & UINT64CONST(0x0000FFFF0000FFFF)) * UINT64CONST(42949672960001)) >> 32;
		acc = acc * pow10int[n] + v;
		p += n;
		if (n < 8)
		{
			*w = acc;
			return p;
		}
	}
#endif
	for (; *p >= '0' && *p <= '9'; p++)
		acc = acc * 10 + (*p - '0');
	*w = acc;
	return p;
}

/*
 * A plain decimal ("-0.1234", "17", ".5", "1.25e-07") without strtof, which
 * spends most of vector_in's time on such input (the '%.9g' that clients
 * print a float with gives 9 significant digits and often an exponent).
 * Up to 19 significant digits read as an integer w at most 2^53, and 10^e
 * with |e| <= 22, are exact doubles, so one IEEE multiplication or division
 * rounds w * 10^e correctly to double.  Narrowing that double to float then
 * gives the float strtof returns, except where the double lies exactly
 * halfway between two floats: the decimal may lie on either side of it,
 * or on it.  Those, results outside float's normal range, and anything
 * else (more digits, inf, nan, hex) return false and are left to strtof.
 * end is the literal's end (scan_digits reads ahead up to it).
 */
static bool
parse_decimal(const char *p, const char *end, float *value, char **endp)
{
	static const double pow10[] = {1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7,
		1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19,
	1e20, 1e21, 1e22};
	bool		neg = (*p == '-');
	uint64		w = 0;
	const char *first;
	const char *sig;
	int			nsig;
	int			digits;
	int			e = 0;
	double		d = 0;
	uint64		bits;

#if !defined(FLT_EVAL_METHOD) || FLT_EVAL_METHOD != 0
	/* each operation must round once (x87 would round twice) */
	return false;
#endif
	if (*p == '-' || *p == '+')
		p++;
	/* the integer part: leading zeros, then the significant digits */
	first = p;
	while (*p == '0')
		p++;
	sig = p;
	p = scan_digits(p, end, &w);
	nsig = p - sig;
	digits = p - first;
	if (*p == '.')
	{
		/* the fraction: its leading zeros are significant after a digit */
		first = ++p;
		if (w == 0)
			while (*p == '0')
				p++;
		e = -(int) (p - first);
		sig = p;
		p = scan_digits(p, end, &w);
		nsig += p - sig;
		e -= p - sig;
		digits += p - first;
	}
	if (digits == 0 || nsig > 19)
		return false;
	if (*p == 'e' || *p == 'E')
	{
		bool		eneg;
		int			x = 0;
		int			n = 0;

		p++;
		eneg = (*p == '-');
		if (*p == '-' || *p == '+')
			p++;
		for (; *p >= '0' && *p <= '9'; p++)
		{
			if (++n > 4)
				return false;
			x = x * 10 + (*p - '0');
		}
		if (n == 0)
			return false;
		e += eneg ? -x : x;
	}
	if (!(*p == ',' || *p == ']' || is_vector_space(*p)))
		return false;
	if (w != 0)
	{
		if (w > (UINT64CONST(1) << 53) || e < -22 || e > 22)
			return false;
		d = e >= 0 ? (double) w * pow10[e] : (double) w / pow10[-e];
		if (d < FLT_MIN || d > FLT_MAX)
			return false;
		/* halfway between two floats: the 29 bits below float's are 1000... */
		memcpy(&bits, &d, sizeof(bits));
		if ((bits & ((UINT64CONST(1) << 29) - 1)) == (UINT64CONST(1) << 28))
			return false;
	}
	*value = neg ? -(float) d : (float) d;
	*endp = unconstify(char *, p);
	return true;
}

static void invalid_vector_syntax(const char *literal) pg_attribute_noreturn();

static void
invalid_vector_syntax(const char *literal)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
			 errmsg("invalid input syntax for type vector: \"%s\"", literal)));
}

/*
 * Any other element: strtof, as float4in uses (parsing as double and
 * narrowing would round twice), then the range and NaN checks.
 */
static float
parse_element(const char *p, char **end, const char *literal)
{
	float		value;

	errno = 0;
	value = strtof(p, end);
	if (*end == p)
		invalid_vector_syntax(literal);
	if (errno == ERANGE && isinf(value))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("\"%s\" is out of range for type vector",
						pnstrdup(p, *end - p))));
	CheckVectorElement(value);
	return value;
}

PG_FUNCTION_INFO_V1(vector_in);
Datum
vector_in(PG_FUNCTION_ARGS)
{
	char	   *literal = PG_GETARG_CSTRING(0);
	int32		typmod = PG_GETARG_INT32(2);
	const char *p = skip_space(literal);
	const char *literal_end = literal + strlen(literal);
	float	   *values;
	int			capacity = 64;
	int			dim = 0;
	Vector	   *result;

	if (*p != '[')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("invalid input syntax for type vector: \"%s\"", literal),
				 errdetail("Vector contents must start with \"[\".")));
	p = skip_space(p + 1);

	if (*p == ']')
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("vector must have at least 1 dimension")));

	values = (float *) palloc(sizeof(float) * capacity);

	for (;;)
	{
		char	   *end;
		float		value;

		if (dim == VECTOR_MAX_DIM)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("vector cannot have more than %d dimensions",
							VECTOR_MAX_DIM)));

		p = skip_space(p);
		if (*p == '\0')
			invalid_vector_syntax(literal);

		if (!parse_decimal(p, literal_end, &value, &end))
			value = parse_element(p, &end, literal);
		if (dim == capacity)
		{
			capacity = Min(capacity * 2, VECTOR_MAX_DIM);
			values = (float *) repalloc(values, sizeof(float) * capacity);
		}
		values[dim++] = value;

		p = skip_space(end);
		if (*p == ',')
			p++;
		else if (*p == ']')
		{
			p++;
			break;
		}
		else
			invalid_vector_syntax(literal);
	}

	p = skip_space(p);
	if (*p != '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("invalid input syntax for type vector: \"%s\"", literal),
				 errdetail("Junk after closing right brace.")));

	check_typmod(typmod, dim);

	result = InitVector(dim);
	memcpy(result->x, values, sizeof(float) * dim);
	pfree(values);

	PG_RETURN_VECTOR_P(result);
}

PG_FUNCTION_INFO_V1(vector_out);
Datum
vector_out(PG_FUNCTION_ARGS)
{
	Vector	   *v = PG_GETARG_VECTOR_P(0);
	char	   *buf;
	char	   *p;

	/*
	 * Each element takes at most FLOAT_SHORTEST_DECIMAL_LEN - 1 characters
	 * plus a separator; add the brackets and the terminator.
	 */
	buf = (char *) palloc((Size) FLOAT_SHORTEST_DECIMAL_LEN * v->dim + 2);
	p = buf;

	*p++ = '[';
	for (int i = 0; i < v->dim; i++)
	{
		if (i > 0)
			*p++ = ',';
		/* the shortest text that reads back as the same float (float4out) */
		p += float_to_shortest_decimal_bufn(v->x[i], p);
	}
	*p++ = ']';
	*p = '\0';

	PG_FREE_IF_COPY(v, 0);
	PG_RETURN_CSTRING(buf);
}

PG_FUNCTION_INFO_V1(vector_typmod_in);
Datum
vector_typmod_in(PG_FUNCTION_ARGS)
{
	ArrayType  *mods = PG_GETARG_ARRAYTYPE_P(0);
	int32	   *values;
	int			n;

	values = ArrayGetIntegerTypmods(mods, &n);

	if (n != 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid type modifier")));
	if (values[0] < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("dimensions for type vector must be at least 1")));
	if (values[0] > VECTOR_MAX_DIM)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("dimensions for type vector cannot exceed %d",
						VECTOR_MAX_DIM)));

	PG_RETURN_INT32(values[0]);
}

/* ---------------------------------------------------------------------
 * Binary I/O: int16 dim, int16 unused, dim x float4, network byte order
 * ---------------------------------------------------------------------
 */

PG_FUNCTION_INFO_V1(vector_recv);
Datum
vector_recv(PG_FUNCTION_ARGS)
{
	StringInfo	buf = (StringInfo) PG_GETARG_POINTER(0);
	int32		typmod = PG_GETARG_INT32(2);
	int16		dim;
	int16		unused;
	Vector	   *result;

	dim = (int16) pq_getmsgint(buf, sizeof(int16));
	unused = (int16) pq_getmsgint(buf, sizeof(int16));

	check_dim_count(dim);
	check_typmod(typmod, dim);
	if (unused != 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("expected unused to be 0, not %d", unused)));

	result = InitVector(dim);
	for (int i = 0; i < dim; i++)
	{
		result->x[i] = pq_getmsgfloat4(buf);
		CheckVectorElement(result->x[i]);
	}

	PG_RETURN_VECTOR_P(result);
}

PG_FUNCTION_INFO_V1(vector_send);
Datum
vector_send(PG_FUNCTION_ARGS)
{
	Vector	   *v = PG_GETARG_VECTOR_P(0);
	StringInfoData buf;

	pq_begintypsend(&buf);
	pq_sendint16(&buf, v->dim);
	pq_sendint16(&buf, v->unused);
	for (int i = 0; i < v->dim; i++)
		pq_sendfloat4(&buf, v->x[i]);

	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

/* ---------------------------------------------------------------------
 * Casts
 * ---------------------------------------------------------------------
 */

/* vector(vector, typmod, explicit): the length coercion for vector(n) */
PG_FUNCTION_INFO_V1(vector);
Datum
vector(PG_FUNCTION_ARGS)
{
	Vector	   *v = PG_GETARG_VECTOR_P(0);
	int32		typmod = PG_GETARG_INT32(1);

	check_typmod(typmod, v->dim);

	PG_RETURN_VECTOR_P(v);
}

/* integer[], real[], double precision[] and numeric[] to vector */
PG_FUNCTION_INFO_V1(array_to_vector);
Datum
array_to_vector(PG_FUNCTION_ARGS)
{
	ArrayType  *array = PG_GETARG_ARRAYTYPE_P(0);
	int32		typmod = PG_GETARG_INT32(1);
	Oid			elemtype = ARR_ELEMTYPE(array);
	int16		elemlen;
	bool		elembyval;
	char		elemalign;
	Datum	   *elems;
	int			n;
	Vector	   *result;

	if (ARR_NDIM(array) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("array must be 1-D")));
	if (array_contains_nulls(array))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("array must not contain nulls")));

	get_typlenbyvalalign(elemtype, &elemlen, &elembyval, &elemalign);
	deconstruct_array(array, elemtype, elemlen, elembyval, elemalign,
					  &elems, NULL, &n);

	check_dim_count(n);
	check_typmod(typmod, n);

	result = InitVector(n);
	for (int i = 0; i < n; i++)
	{
		switch (elemtype)
		{
			case INT4OID:
				result->x[i] = (float) DatumGetInt32(elems[i]);
				break;
			case FLOAT4OID:
				result->x[i] = DatumGetFloat4(elems[i]);
				break;
			case FLOAT8OID:
				/* out-of-range values become infinite, rejected below */
				result->x[i] = (float) DatumGetFloat8(elems[i]);
				break;
			case NUMERICOID:
				result->x[i] = DatumGetFloat4(DirectFunctionCall1(numeric_float4,
																  elems[i]));
				break;
			default:
				ereport(ERROR,
						(errcode(ERRCODE_DATA_EXCEPTION),
						 errmsg("unsupported array type")));
		}
		CheckVectorElement(result->x[i]);
	}
	pfree(elems);

	PG_RETURN_VECTOR_P(result);
}

/* vector to real[] */
PG_FUNCTION_INFO_V1(vector_to_float4);
Datum
vector_to_float4(PG_FUNCTION_ARGS)
{
	Vector	   *v = PG_GETARG_VECTOR_P(0);
	Datum	   *elems = (Datum *) palloc(sizeof(Datum) * v->dim);
	ArrayType  *result;

	for (int i = 0; i < v->dim; i++)
		elems[i] = Float4GetDatum(v->x[i]);
	result = construct_array(elems, v->dim, FLOAT4OID,
							 sizeof(float4), true, TYPALIGN_INT);
	pfree(elems);

	PG_RETURN_ARRAYTYPE_P(result);
}

/* ---------------------------------------------------------------------
 * Distances (float8 results).  Sums in float like pgvector (see
 * distance.c) where that is right; where a float sum would overflow or
 * underflow (coordinates beyond about 1e19 or below 1e-19), in double, so
 * every finite input gives the true distance.
 * ---------------------------------------------------------------------
 */

PG_FUNCTION_INFO_V1(l2_distance);
Datum
l2_distance(PG_FUNCTION_ARGS)
{
	Vector	   *a = PG_GETARG_VECTOR_P(0);
	Vector	   *b = PG_GETARG_VECTOR_P(1);

	CheckVectorDims(a->dim, b->dim);
	PG_RETURN_FLOAT8(sqrt(vec_l2_squared_full(a->x, b->x, a->dim)));
}

PG_FUNCTION_INFO_V1(vector_l2_squared_distance);
Datum
vector_l2_squared_distance(PG_FUNCTION_ARGS)
{
	Vector	   *a = PG_GETARG_VECTOR_P(0);
	Vector	   *b = PG_GETARG_VECTOR_P(1);

	CheckVectorDims(a->dim, b->dim);
	PG_RETURN_FLOAT8(vec_l2_squared_full(a->x, b->x, a->dim));
}

PG_FUNCTION_INFO_V1(inner_product);
Datum
inner_product(PG_FUNCTION_ARGS)
{
	Vector	   *a = PG_GETARG_VECTOR_P(0);
	Vector	   *b = PG_GETARG_VECTOR_P(1);

	CheckVectorDims(a->dim, b->dim);
	PG_RETURN_FLOAT8(vec_inner_product_full(a->x, b->x, a->dim));
}

PG_FUNCTION_INFO_V1(vector_negative_inner_product);
Datum
vector_negative_inner_product(PG_FUNCTION_ARGS)
{
	Vector	   *a = PG_GETARG_VECTOR_P(0);
	Vector	   *b = PG_GETARG_VECTOR_P(1);

	CheckVectorDims(a->dim, b->dim);
	PG_RETURN_FLOAT8(-vec_inner_product_full(a->x, b->x, a->dim));
}

PG_FUNCTION_INFO_V1(cosine_distance);
Datum
cosine_distance(PG_FUNCTION_ARGS)
{
	Vector	   *a = PG_GETARG_VECTOR_P(0);
	Vector	   *b = PG_GETARG_VECTOR_P(1);

	CheckVectorDims(a->dim, b->dim);
	PG_RETURN_FLOAT8(vec_cosine_distance(a->x, b->x, a->dim));
}

/*
 * Angular distance in [0, 1] for inputs assumed to be unit vectors; the
 * support function pgvector's ivfflat uses for spherical k-means.
 */
PG_FUNCTION_INFO_V1(vector_spherical_distance);
Datum
vector_spherical_distance(PG_FUNCTION_ARGS)
{
	Vector	   *a = PG_GETARG_VECTOR_P(0);
	Vector	   *b = PG_GETARG_VECTOR_P(1);
	double		dot;

	CheckVectorDims(a->dim, b->dim);
	dot = vec_inner_product_full(a->x, b->x, a->dim);
	/* rounding may leave |dot| slightly above 1, where acos is NaN */
	dot = Max(-1.0, Min(1.0, dot));
	PG_RETURN_FLOAT8(acos(dot) / M_PI);
}

PG_FUNCTION_INFO_V1(l1_distance);
Datum
l1_distance(PG_FUNCTION_ARGS)
{
	Vector	   *a = PG_GETARG_VECTOR_P(0);
	Vector	   *b = PG_GETARG_VECTOR_P(1);

	CheckVectorDims(a->dim, b->dim);
	PG_RETURN_FLOAT8(vec_l1_full(a->x, b->x, a->dim));
}

/* ---------------------------------------------------------------------
 * Other functions
 * ---------------------------------------------------------------------
 */

PG_FUNCTION_INFO_V1(vector_dims);
Datum
vector_dims(PG_FUNCTION_ARGS)
{
	Vector	   *v = PG_GETARG_VECTOR_P(0);

	PG_RETURN_INT32(v->dim);
}

/*
 * The norm, summed in double (vec_norm_squared_double) like pgvector's: no
 * finite input overflows or underflows it.
 */
PG_FUNCTION_INFO_V1(vector_norm);
Datum
vector_norm(PG_FUNCTION_ARGS)
{
	Vector	   *v = PG_GETARG_VECTOR_P(0);

	PG_RETURN_FLOAT8(sqrt(vec_norm_squared_double(v->x, v->dim)));
}

/*
 * v / |v|, the norm in double as for vector_norm (the cosine index
 * normalises its vectors the same way); the zero vector maps to itself.
 */
PG_FUNCTION_INFO_V1(l2_normalize);
Datum
l2_normalize(PG_FUNCTION_ARGS)
{
	Vector	   *v = PG_GETARG_VECTOR_P(0);
	Vector	   *result = InitVector(v->dim);
	double		norm = sqrt(vec_norm_squared_double(v->x, v->dim));

	if (norm > 0)
	{
		for (int i = 0; i < v->dim; i++)
			result->x[i] = (float) (v->x[i] / norm);
		check_result_finite(result);
	}

	PG_RETURN_VECTOR_P(result);
}

/* one bit per element, set where the element is positive, first element first */
PG_FUNCTION_INFO_V1(binary_quantize);
Datum
binary_quantize(PG_FUNCTION_ARGS)
{
	Vector	   *v = PG_GETARG_VECTOR_P(0);
	Size		size = VARBITTOTALLEN(v->dim);
	VarBit	   *result = (VarBit *) palloc0(size);
	bits8	   *bits;

	SET_VARSIZE(result, size);
	VARBITLEN(result) = v->dim;
	bits = VARBITS(result);
	for (int i = 0; i < v->dim; i++)
		if (v->x[i] > 0)
			bits[i / BITS_PER_BYTE] |= (bits8) (0x80 >> (i % BITS_PER_BYTE));

	PG_RETURN_VARBIT_P(result);
}

/*
 * subvector(v, start, count): count elements from 1-based position start,
 * clipped to the vector like substring(); the result must not be empty.
 */
PG_FUNCTION_INFO_V1(subvector);
Datum
subvector(PG_FUNCTION_ARGS)
{
	Vector	   *v = PG_GETARG_VECTOR_P(0);
	int32		start = PG_GETARG_INT32(1);
	int32		count = PG_GETARG_INT32(2);
	int64		first;
	int64		last;			/* one past the last, 1-based */
	Vector	   *result;

	if (count < 1)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("vector must have at least 1 dimension")));

	/* int64, so start + count cannot overflow */
	first = Max((int64) start, 1);
	last = Min((int64) start + count, (int64) v->dim + 1);
	if (last - first < 1)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("vector must have at least 1 dimension")));

	result = InitVector((int) (last - first));
	memcpy(result->x, v->x + (first - 1), sizeof(float) * result->dim);

	PG_RETURN_VECTOR_P(result);
}

/* ---------------------------------------------------------------------
 * Element-wise arithmetic and concatenation
 * ---------------------------------------------------------------------
 */

PG_FUNCTION_INFO_V1(vector_add);
Datum
vector_add(PG_FUNCTION_ARGS)
{
	Vector	   *a = PG_GETARG_VECTOR_P(0);
	Vector	   *b = PG_GETARG_VECTOR_P(1);
	Vector	   *r;

	CheckVectorDims(a->dim, b->dim);
	r = InitVector(a->dim);
	for (int i = 0; i < a->dim; i++)
		r->x[i] = a->x[i] + b->x[i];
	check_result_finite(r);

	PG_RETURN_VECTOR_P(r);
}

PG_FUNCTION_INFO_V1(vector_sub);
Datum
vector_sub(PG_FUNCTION_ARGS)
{
	Vector	   *a = PG_GETARG_VECTOR_P(0);
	Vector	   *b = PG_GETARG_VECTOR_P(1);
	Vector	   *r;

	CheckVectorDims(a->dim, b->dim);
	r = InitVector(a->dim);
	for (int i = 0; i < a->dim; i++)
		r->x[i] = a->x[i] - b->x[i];
	check_result_finite(r);

	PG_RETURN_VECTOR_P(r);
}

PG_FUNCTION_INFO_V1(vector_mul);
Datum
vector_mul(PG_FUNCTION_ARGS)
{
	Vector	   *a = PG_GETARG_VECTOR_P(0);
	Vector	   *b = PG_GETARG_VECTOR_P(1);
	Vector	   *r;

	CheckVectorDims(a->dim, b->dim);
	r = InitVector(a->dim);
	for (int i = 0; i < a->dim; i++)
		r->x[i] = a->x[i] * b->x[i];
	check_result_finite(r);
	/* like float4mul: a product of non-zero factors must not vanish */
	for (int i = 0; i < a->dim; i++)
		if (r->x[i] == 0 && a->x[i] != 0 && b->x[i] != 0)
			float_underflow_error();

	PG_RETURN_VECTOR_P(r);
}

PG_FUNCTION_INFO_V1(vector_concat);
Datum
vector_concat(PG_FUNCTION_ARGS)
{
	Vector	   *a = PG_GETARG_VECTOR_P(0);
	Vector	   *b = PG_GETARG_VECTOR_P(1);
	Vector	   *r;

	check_dim_count(a->dim + b->dim);
	r = InitVector(a->dim + b->dim);
	memcpy(r->x, a->x, sizeof(float) * a->dim);
	memcpy(r->x + a->dim, b->x, sizeof(float) * b->dim);

	PG_RETURN_VECTOR_P(r);
}

/* ---------------------------------------------------------------------
 * Comparison (btree): element by element, then the shorter one first,
 * as PostgreSQL orders arrays
 * ---------------------------------------------------------------------
 */

static int
vector_compare(const Vector *a, const Vector *b)
{
	int			n = Min(a->dim, b->dim);

	for (int i = 0; i < n; i++)
	{
		if (a->x[i] < b->x[i])
			return -1;
		if (a->x[i] > b->x[i])
			return 1;
	}
	if (a->dim != b->dim)
		return a->dim < b->dim ? -1 : 1;
	return 0;
}

/* defines a boolean comparison function from vector_compare */
#define VECTOR_COMPARISON(name, op) \
PG_FUNCTION_INFO_V1(name); \
Datum \
name(PG_FUNCTION_ARGS) \
{ \
	Vector	   *a = PG_GETARG_VECTOR_P(0); \
	Vector	   *b = PG_GETARG_VECTOR_P(1); \
	int			cmp = vector_compare(a, b); \
\
	PG_FREE_IF_COPY(a, 0); \
	PG_FREE_IF_COPY(b, 1); \
	PG_RETURN_BOOL(cmp op 0); \
}

VECTOR_COMPARISON(vector_lt, <)
VECTOR_COMPARISON(vector_le, <=)
VECTOR_COMPARISON(vector_eq, ==)
VECTOR_COMPARISON(vector_ne, !=)
VECTOR_COMPARISON(vector_ge, >=)
VECTOR_COMPARISON(vector_gt, >)

PG_FUNCTION_INFO_V1(vector_cmp);
Datum
vector_cmp(PG_FUNCTION_ARGS)
{
	Vector	   *a = PG_GETARG_VECTOR_P(0);
	Vector	   *b = PG_GETARG_VECTOR_P(1);
	int			cmp = vector_compare(a, b);

	PG_FREE_IF_COPY(a, 0);
	PG_FREE_IF_COPY(b, 1);
	PG_RETURN_INT32(cmp);
}

/* ---------------------------------------------------------------------
 * avg(vector): the state is a float8[] {count, sum_1, ..., sum_dim}; the
 * initial state '{0}' has no sums yet.  sum(vector) is plain vector_add.
 * ---------------------------------------------------------------------
 */

/*
 * The state's values and its number of sums (*dim), after checking it.
 * vector_accum, vector_combine and vector_avg all take their states through
 * here, so that each rejects what the others would: a state is either the
 * initial '{0}' (no rows, no sums), or a count followed by as many sums as a
 * vector has dimensions (1 to VECTOR_MAX_DIM).  Two initial states are
 * what a parallel avg() combines when its workers see no rows, so '{0}'
 * must stay valid everywhere.  A value that is not a float8[] of the right
 * shape cannot come from these functions at all (internal error, as
 * PostgreSQL's float8_accum reports it).
 */
static float8 *
state_values(ArrayType *state, const char *caller, int *dim)
{
	float8	   *values;

	if (ARR_NDIM(state) != 1 ||
		ARR_DIMS(state)[0] < 1 ||
		ARR_HASNULL(state) ||
		ARR_ELEMTYPE(state) != FLOAT8OID)
		elog(ERROR, "%s: expected state array", caller);
	*dim = ARR_DIMS(state)[0] - 1;
	values = (float8 *) ARR_DATA_PTR(state);
	if (*dim != 0 || values[0] != 0.0)
		check_dim_count(*dim);
	return values;
}

static ArrayType *
make_state(const float8 *values, int dim)
{
	Datum	   *elems = (Datum *) palloc(sizeof(Datum) * (dim + 1));
	ArrayType  *result;

	for (int i = 0; i <= dim; i++)
		elems[i] = Float8GetDatum(values[i]);
	result = construct_array(elems, dim + 1, FLOAT8OID,
							 sizeof(float8), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE);
	pfree(elems);
	return result;
}

PG_FUNCTION_INFO_V1(vector_accum);
Datum
vector_accum(PG_FUNCTION_ARGS)
{
	ArrayType  *state = PG_GETARG_ARRAYTYPE_P(0);
	Vector	   *v = PG_GETARG_VECTOR_P(1);
	int			dim;
	float8	   *sums = state_values(state, "vector_accum", &dim);

	if (dim == 0)
	{
		/* the first vector: start a state of its size */
		float8	   *values = (float8 *) palloc(sizeof(float8) * (v->dim + 1));
		ArrayType  *result;

		values[0] = sums[0] + 1.0;
		for (int i = 0; i < v->dim; i++)
			values[i + 1] = (float8) v->x[i];
		result = make_state(values, v->dim);
		pfree(values);
		PG_RETURN_ARRAYTYPE_P(result);
	}

	check_typmod(dim, v->dim);

	/*
	 * Inside an aggregate the state belongs to us: update it in place rather
	 * than copying dim + 1 values per row (as float8_accum does).
	 */
	if (!AggCheckCallContext(fcinfo, NULL))
		state = make_state(sums, dim);
	sums = (float8 *) ARR_DATA_PTR(state);

	sums[0] += 1.0;
	for (int i = 0; i < dim; i++)
	{
		sums[i + 1] += v->x[i];
		if (isinf(sums[i + 1]))
			float_overflow_error();
	}

	PG_RETURN_ARRAYTYPE_P(state);
}

PG_FUNCTION_INFO_V1(vector_combine);
Datum
vector_combine(PG_FUNCTION_ARGS)
{
	ArrayType  *state1 = PG_GETARG_ARRAYTYPE_P(0);
	ArrayType  *state2 = PG_GETARG_ARRAYTYPE_P(1);
	int			dim1;
	int			dim2;
	float8	   *s1 = state_values(state1, "vector_combine", &dim1);
	float8	   *s2 = state_values(state2, "vector_combine", &dim2);
	float8	   *values;
	ArrayType  *result;

	/* an empty side contributes nothing */
	if (s1[0] == 0.0)
		PG_RETURN_ARRAYTYPE_P(make_state(s2, dim2));
	if (s2[0] == 0.0)
		PG_RETURN_ARRAYTYPE_P(make_state(s1, dim1));

	check_typmod(dim1, dim2);

	values = (float8 *) palloc(sizeof(float8) * (dim1 + 1));
	values[0] = s1[0] + s2[0];
	for (int i = 1; i <= dim1; i++)
	{
		values[i] = s1[i] + s2[i];
		if (isinf(values[i]))
			float_overflow_error();
	}
	result = make_state(values, dim1);
	pfree(values);

	PG_RETURN_ARRAYTYPE_P(result);
}

PG_FUNCTION_INFO_V1(vector_avg);
Datum
vector_avg(PG_FUNCTION_ARGS)
{
	ArrayType  *state = PG_GETARG_ARRAYTYPE_P(0);
	int			dim;
	float8	   *s = state_values(state, "vector_avg", &dim);
	Vector	   *result;

	/* the average of no rows is NULL */
	if (s[0] == 0.0)
		PG_RETURN_NULL();

	result = InitVector(dim);
	for (int i = 0; i < dim; i++)
	{
		result->x[i] = (float) (s[i + 1] / s[0]);
		CheckVectorElement(result->x[i]);
	}

	PG_RETURN_VECTOR_P(result);
}

/* ---------------------------------------------------------------------
 * Introspection
 * ---------------------------------------------------------------------
 */

/* which distance kernels this server uses: "avx512f", "avx2+fma", "generic" */
PG_FUNCTION_INFO_V1(hnswsearch_distance_variant);
Datum
hnswsearch_distance_variant(PG_FUNCTION_ARGS)
{
	PG_RETURN_TEXT_P(cstring_to_text(distance_variant()));
}
