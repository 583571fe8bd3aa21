/*
 * kernels.c
 *		Microbenchmark and self-check for the distance kernels in
 *		src/distance.c.  Built and run by bench/kernels.sh.
 *
 * For d = 128, 768 and 1536 and each metric (l2sq, ip, l1) it prints the
 * time per distance of every kernel variant this CPU can run: "scalar" (the
 * strictly sequential reference), "generic" (the multi-accumulator kernels
 * at the baseline ISA) and the x86-64 ones, and marks the one distance_init()
 * binds ("dispatched").  After the variants, "index" is the distance the
 * hnsw index calls (vec_index_*: the dispatched kernel plus its range
 * check, "1 - a.b" for ip), to show what the check costs.
 *
 * Each timing runs one query against a pool of vectors small enough to stay
 * in L2, so it measures arithmetic rather than memory bandwidth, and keeps the
 * best of several repetitions.  Before timing, every variant's result is
 * compared with a double-precision reference; a relative error above 1e-4
 * makes the program fail.  So does check_extremes(): coordinates near
 * FLT_MAX and below FLT_MIN, where the float sums overflow or underflow,
 * must give the double results in the SQL kernels and finite, ordered
 * values in the index kernels.
 */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "distance.h"

static const char *const variant_names[] = {"scalar", "generic", "avx2+fma", "avx512f"};
#define N_VARIANTS ((int) (sizeof(variant_names) / sizeof(variant_names[0])))

static const int dims[] = {128, 768, 1536};
#define N_DIMS ((int) (sizeof(dims) / sizeof(dims[0])))

enum Metric
{
	METRIC_L2SQ,
	METRIC_IP,
	METRIC_L1,
	N_METRICS
};
static const char *const metric_names[] = {"l2sq", "ip", "l1"};

/* bytes of vectors per pool: well inside a typical 512 KB - 1 MB L2 */
#define POOL_BYTES	(256 * 1024)
#define REPEATS		7
#define TARGET_NS	20e6		/* time each repetition for about 20 ms */

static volatile float sink;

static unsigned long long rng_state = 0x9e3779b97f4a7c15ULL;

/* xorshift64*: uniform in [-1, 1) */
static float
random_float(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return (float) ((double) ((rng_state * 2685821657736338717ULL) >> 11)
					/ 9007199254740992.0 * 2.0 - 1.0);
}

static double
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static VectorKernel
bound_kernel(enum Metric m)
{
	switch (m)
	{
		case METRIC_L2SQ:
			return vec_l2_squared;
		case METRIC_IP:
			return vec_inner_product;
		default:
			return vec_l1;
	}
}

/* the index's distance for a metric */
static VectorKernel
index_kernel(enum Metric m)
{
	switch (m)
	{
		case METRIC_L2SQ:
			return vec_index_l2_squared;
		case METRIC_IP:
			return vec_index_ip_distance;
		default:
			return vec_index_l1;
	}
}

static double
reference(enum Metric m, const float *a, const float *b, int n)
{
	double		sum = 0.0;

	for (int i = 0; i < n; i++)
	{
		double		x = a[i],
					y = b[i];

		if (m == METRIC_L2SQ)
			sum += (x - y) * (x - y);
		else if (m == METRIC_IP)
			sum += x * y;
		else
			sum += fabs(x - y);
	}
	return sum;
}

/* ns per call of k(query, pool[i]) over the pool, best of REPEATS */
static double
time_kernel(VectorKernel k, const float *query, const float *pool, int nvec, int d)
{
	double		best = 1e300;
	long		rounds = 1;
	float		acc = 0.0f;

	/* calibrate: enough rounds over the pool for about TARGET_NS */
	for (;;)
	{
		double		t0 = now_ns(),
					t;

		for (long r = 0; r < rounds; r++)
			for (int v = 0; v < nvec; v++)
				acc += k(query, pool + (size_t) v * d, d);
		t = now_ns() - t0;
		if (t > TARGET_NS / 4)
		{
			rounds = (long) (rounds * TARGET_NS / t) + 1;
			break;
		}
		rounds *= 2;
	}

	for (int rep = 0; rep < REPEATS; rep++)
	{
		double		t0 = now_ns(),
					t;

		for (long r = 0; r < rounds; r++)
			for (int v = 0; v < nvec; v++)
				acc += k(query, pool + (size_t) v * d, d);
		t = (now_ns() - t0) / ((double) rounds * nvec);
		if (t < best)
			best = t;
	}
	sink = acc;
	return best;
}

/* largest relative error of the bound kernels against the double reference */
static double
check_kernels(const float *query, const float *pool, int nvec, int d)
{
	double		worst = 0.0;

	for (int m = 0; m < N_METRICS; m++)
	{
		VectorKernel k = bound_kernel((enum Metric) m);

		for (int v = 0; v < nvec; v++)
		{
			const float *x = pool + (size_t) v * d;
			double		want = reference((enum Metric) m, query, x, d);
			double		scale = (m == METRIC_IP) ? sqrt(reference(METRIC_IP, query, query, d) *
														reference(METRIC_IP, x, x, d)) : fabs(want);
			double		err = fabs((double) k(query, x, d) - want) / (scale > 0 ? scale : 1.0);

			if (err > worst)
				worst = err;
		}
	}
	return worst;
}

/* the SQL-facing kernel for a metric (double results) */
static double
full_kernel(enum Metric m, const float *a, const float *b, int n)
{
	switch (m)
	{
		case METRIC_L2SQ:
			return vec_l2_squared_full(a, b, n);
		case METRIC_IP:
			return vec_inner_product_full(a, b, n);
		default:
			return vec_l1_full(a, b, n);
	}
}

/* report one failed extremes check; returns 1 */
static int
extreme_failed(const char *what, enum Metric m, int d, double got, double want)
{
	fprintf(stderr, "extremes: %s, %s, d = %d: got %.17g, want %.17g\n",
			what, metric_names[m], d, got, want);
	return 1;
}

/*
 * Pairs of vectors whose float sums overflow or underflow, with the bound
 * variant: the SQL kernels must give the double reference (to 1e-4, as
 * above: the float path serves where it is in range), the index kernels a finite float with the three lowest bits
 * clear where the value is compressed, and, for a series of growing
 * scales, values that never decrease (never increase for ip's 1 - a.b
 * where a.b grows).  Returns the number of failures.
 */
static int
check_extremes(int d)
{
	static const float scales[] = {1e-45f, 1e-30f, 1e-20f, 1e18f, 1e19f, 3e19f,
	1e20f, 1e25f, 1e30f, 1e35f, 1e37f, 1e38f, 3.4e38f};
	int			nscales = (int) (sizeof(scales) / sizeof(scales[0]));
	float	   *a = malloc(sizeof(float) * d);
	float	   *b = malloc(sizeof(float) * d);
	int			failed = 0;

	for (int m = 0; m < N_METRICS; m++)
	{
		float		prev = 0.0f;

		for (int s = 0; s < nscales; s++)
		{
			double		want;
			double		got;
			float		idx;
			uint32_t	bits;

			/* a = scale * (1, -1, 1, ...), b = -a: every term of one sign */
			for (int i = 0; i < d; i++)
			{
				a[i] = (i % 2 == 0) ? scales[s] : -scales[s];
				b[i] = (m == METRIC_IP) ? a[i] : -a[i];
			}
			want = reference((enum Metric) m, a, b, d);
			got = full_kernel((enum Metric) m, a, b, d);
			if (!(fabs(got - want) <= 1e-4 * fabs(want)))
				failed += extreme_failed("sql kernel", (enum Metric) m, d, got, want);

			idx = index_kernel((enum Metric) m)(a, b, d);
			memcpy(&bits, &idx, sizeof(bits));
			if (!isfinite(idx))
				failed += extreme_failed("index kernel not finite", (enum Metric) m, d, idx, want);
			else if (fabsf(idx) > VEC_DIST_EXACT && (bits & 7) != 0)
				failed += extreme_failed("index kernel low bits set", (enum Metric) m, d, idx, want);
			else if (s > 0 && (m == METRIC_IP ? idx > prev : idx < prev))
				failed += extreme_failed("index kernel out of order", (enum Metric) m, d, idx, prev);
			prev = idx;
		}
	}

	/* the compression itself: monotone, continuous at VEC_DIST_EXACT */
	{
		float		prev = vec_dist_compress(VEC_DIST_EXACT);

		if (prev != VEC_DIST_EXACT)
			failed += extreme_failed("compress at the threshold", METRIC_L2SQ, 0, prev, VEC_DIST_EXACT);
		for (double x = VEC_DIST_EXACT; x < 0x1p280; x *= 1.0001)
		{
			float		c = vec_dist_compress(x);

			if (c < prev || !isfinite(c) || vec_dist_compress(-x) != -c)
			{
				failed += extreme_failed("compress not monotone", METRIC_L2SQ, 0, c, prev);
				break;
			}
			prev = c;
		}
	}

	free(a);
	free(b);
	return failed;
}

int
main(void)
{
	const char *best_name;
	int			failed = 0;

	distance_init();
	best_name = distance_variant();

	printf("distance kernels: dispatched variant is \"%s\"\n", best_name);
	printf("available:");
	for (int v = 0; v < N_VARIANTS; v++)
		if (distance_variant_available(variant_names[v]))
			printf(" %s", variant_names[v]);
	printf("\n\n");
	printf("%-6s %-5s %-10s %12s %10s %12s\n",
		   "d", "metric", "variant", "ns/distance", "speedup", "max rel err");

	for (int di = 0; di < N_DIMS; di++)
	{
		int			d = dims[di];
		int			nvec = POOL_BYTES / (int) (d * sizeof(float));
		float	   *pool = malloc(sizeof(float) * (size_t) d * nvec);
		float	   *query = malloc(sizeof(float) * (size_t) d);

		if (pool == NULL || query == NULL)
		{
			fprintf(stderr, "out of memory\n");
			return 2;
		}
		for (int i = 0; i < d; i++)
			query[i] = random_float();
		for (size_t i = 0; i < (size_t) d * nvec; i++)
			pool[i] = random_float();

		for (int m = 0; m < N_METRICS; m++)
		{
			double		scalar_ns = 0.0;
			double		index_ns;

			for (int v = 0; v < N_VARIANTS; v++)
			{
				double		ns,
							err;

				if (!distance_use_variant(variant_names[v]))
					continue;
				err = check_kernels(query, pool, nvec, d);
				if (err > 1e-4)
					failed = 1;
				if (m == 0 && check_extremes(d) > 0)
					failed = 1;
				ns = time_kernel(bound_kernel((enum Metric) m), query, pool, nvec, d);
				if (v == 0)
					scalar_ns = ns;
				printf("%-6d %-6s %-10s %12.1f %9.2fx %12.2e%s%s\n",
					   d, metric_names[m], variant_names[v], ns, scalar_ns / ns, err,
					   strcmp(variant_names[v], best_name) == 0 ? "  <- dispatched" : "",
					   err > 1e-4 ? "  FAILED" : "");
			}
			/* the index's distance over the dispatched variant */
			distance_init();
			index_ns = time_kernel(index_kernel((enum Metric) m), query, pool, nvec, d);
			printf("%-6d %-6s %-10s %12.1f %9.2fx\n", d, metric_names[m], "index",
				   index_ns, scalar_ns / index_ns);
		}
		printf("\n");
		free(pool);
		free(query);
	}

	distance_init();
	if (failed)
	{
		fprintf(stderr, "kernel self-check FAILED\n");
		return 1;
	}
	return 0;
}
