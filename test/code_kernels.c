/*
 * code_kernels.c
 *		The code kernels' variants against each other, outside the server:
 *		the AVX-512 sq8 and sq4 kernels must give the AVX2 ones' results bit
 *		for bit (they add the same terms in the same order), and every
 *		variant the CPU runs must stay within float rounding of a double
 *		reference.  Built and run by test/t/054_code_kernels.pl.
 *
 * hnsw_codes.c is included whole, so that its static kernels are
 * reachable; the few server functions it names are stood in for below.
 */
#include "../src/hnsw_codes.c"

#include <stdio.h>
#include <stdlib.h>
#include <strings.h>

#undef printf
#undef fprintf

void *
palloc(Size size)
{
	return malloc(size);
}

void
pfree(void *pointer)
{
	free(pointer);
}

int
pg_strcasecmp(const char *s1, const char *s2)
{
	return strcasecmp(s1, s2);
}

/* elog(ERROR) stands for a bug here: the program stops */
bool
errstart_cold(int elevel, const char *domain)
{
	return true;
}

int
errmsg_internal(const char *fmt,...)
{
	return 0;
}

void
errfinish(const char *filename, int lineno, const char *funcname)
{
	fprintf(stderr, "error at %s:%d\n", filename, lineno);
	abort();
}

/* the three sums in double over the decoded values, and sum |terms| */
static void
reference(const float *q, const float *x, int n, double *ref, double *mag)
{
	for (int m = 0; m < 3; m++)
		ref[m] = mag[m] = 0;
	for (int i = 0; i < n; i++)
	{
		double		d = (double) q[i] - x[i];

		ref[0] += d * d;
		ref[1] += (double) q[i] * x[i];
		ref[2] += fabs(d);
		mag[1] += fabs((double) q[i] * x[i]);
	}
	mag[0] = ref[0];
	mag[2] = ref[2];
}

/*
 * One trial: dimension n, a code of random levels (sq8, or sq4's nibbles),
 * a query, and a centroid the code is of the residual to (or NULL);
 * returns the number of mismatches found.
 */
static int
trial(int n, float lo, float step, const float *cen, float *q, uint8 *c,
	  float *x)
{
	double		cmax = 0;

	const CodeKernels *avx2[2] = {&sq8_kernels_avx2, &sq4_kernels_avx2};
	const CodeKernels *avx512[2] = {&sq8_kernels_avx512, &sq4_kernels_avx512};
	const CodeKernels *generic[2] = {&sq8_kernels_generic, &sq4_kernels_generic};
	int			bad = 0;

	for (int i = 0; i < n && cen; i++)
		cmax = fmax(cmax, fabs(cen[i]));
	for (int s = 0; s < 2; s++)
	{
		double		ref[3],
					mag[3];
		const CodeKernels *k[3] = {generic[s], avx2[s], avx512[s]};

		k[0]->decode(c, n, lo, step, cen, x);
		reference(q, x, n, ref, mag);
		for (int v = 0; v < 3; v++)
		{
			float		r[3] = {k[v]->l2_squared(q, c, n, lo, step, cen),
				k[v]->inner_product(q, c, n, lo, step, cen),
			k[v]->l1(q, c, n, lo, step, cen)};

			for (int m = 0; m < 3; m++)
			{
				/* the decode's own rounding, then the sums' */
				double		tol = (n + 64) * 0x1p-22 * (mag[m] + 1e-30) +
					n * 0x1p-21 * fabs(lo) * (m == 0 ? 2 * sqrt(mag[0]) : 1) +
					n * 0x1p-21 * fabs(step) * 255 * (m == 0 ? 2 * sqrt(mag[0]) + 1 : 1) +
					n * 0x1p-21 * cmax * (m == 0 ? 2 * sqrt(mag[0]) + 1 : 1);

				if (fabs(r[m] - ref[m]) > tol)
				{
					if (bad++ < 5)
						fprintf(stderr, "%s%s variant %d metric %d n %d: %.9g, reference %.9g\n",
								s ? "sq4" : "sq8", cen ? " (centroid)" : "", v,
								m, n, r[m], ref[m]);
				}
			}
			if (v == 2)
			{
				float		a[3] = {avx2[s]->l2_squared(q, c, n, lo, step, cen),
					avx2[s]->inner_product(q, c, n, lo, step, cen),
				avx2[s]->l1(q, c, n, lo, step, cen)};

				if (memcmp(a, r, sizeof(a)) != 0)
				{
					if (bad++ < 5)
						fprintf(stderr, "%s%s n %d: avx512 %.9g %.9g %.9g, avx2 %.9g %.9g %.9g\n",
								s ? "sq4" : "sq8", cen ? " (centroid)" : "", n,
								r[0], r[1], r[2], a[0], a[1], a[2]);
				}
			}
		}
	}
	return bad;
}

/*
 * The sq8 integer products (hnsw_code_dot16) of every variant the CPU runs
 * against an int64 reference, on random values and on the extremes
 * (levels 255 against +-32767 in every dimension, where an int32 partial
 * sum held over too many values would overflow); returns mismatches.
 */
static int
dot16_trial(int n, int16 *q, uint8 *c)
{
	int64		(*v[4]) (const int16 *, const uint8 *, int) = {
		dot16_generic, dot16_avx2, dot16_avx512, dot16_vnni
	};
	int			nv = cpu_has_vnni() ? 4 : 3;
	int			bad = 0;

	for (int pass = 0; pass < 3; pass++)
	{
		int64		ref = 0;

		for (int i = 0; i < n; i++)
		{
			if (pass > 0)
			{
				q[i] = pass == 1 ? 32767 : -32767;
				c[i] = 255;
			}
			else
			{
				q[i] = (int16) (rand() % 65535 - 32767);
				c[i] = rand() & 255;
			}
			ref += (int64) q[i] * c[i];
		}
		for (int k = 0; k < nv; k++)
		{
			int64		r = v[k](q, c, n);

			if (r != ref && bad++ < 5)
				fprintf(stderr, "dot16 variant %d pass %d n %d: %lld, reference %lld\n",
						k, pass, n, (long long) r, (long long) ref);
		}
	}
	return bad;
}

int
main(void)
{
	static float q[16384],
				x[16384],
				cen[16384];
	static uint8 c[16384];
	static int16 q16[16384];
	long		bad = 0;
	int			trials = 0;

	__builtin_cpu_init();
	if (!(__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
		  cpu_has_avx512bw()))
	{
		fprintf(stdout, "skip: no AVX-512BW\n");
		return 0;
	}
	srand(20261205);
	for (int n = 1; n <= 16000; n += (n < 200 ? 1 : 97 + rand() % 50))
	{
		for (int rep = 0; rep < 3; rep++, trials++)
		{
			float		scale = rep == 2 ? 1000.0f : 1.0f;
			float		lo = ((float) rand() / RAND_MAX - 0.5f) * scale;
			float		step = (float) rand() / RAND_MAX * 0.01f * scale;

			for (int i = 0; i < n; i++)
			{
				q[i] = ((float) rand() / RAND_MAX - 0.5f) * scale;
				cen[i] = ((float) rand() / RAND_MAX - 0.5f) * scale;
				c[i] = rand() & 255;
			}
			bad += trial(n, lo, step, NULL, q, c, x);
			bad += trial(n, lo, step, cen, q, c, x);
		}
		bad += dot16_trial(n, q16, c);
	}
	fprintf(stdout, "%d trials, %ld mismatches\n", trials, bad);
	return bad != 0;
}
