/*
 * sanitizer_selftest.c
 *		Linked into the sanitizer build of the extension only (see
 *		sanitizer_options.c).  The fuzz tests call it to see that the build
 *		they run against really stops at a memory error and at undefined
 *		behaviour:
 *
 *		CREATE FUNCTION hnsw_fuzz_selftest(text, int) RETURNS int
 *			AS 'hnswsearch', 'hnsw_fuzz_selftest' LANGUAGE C STRICT;
 *		SELECT hnsw_fuzz_selftest('asan', 1);	-- 2
 *		SELECT hnsw_fuzz_selftest('asan', 4);	-- ASan: stack-buffer-overflow
 *		SELECT hnsw_fuzz_selftest('ubsan', 1);	-- UBSan: shift exponent too large
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/builtins.h"

PG_FUNCTION_INFO_V1(hnsw_fuzz_selftest);

Datum
hnsw_fuzz_selftest(PG_FUNCTION_ARGS)
{
	char	   *kind = text_to_cstring(PG_GETARG_TEXT_PP(0));
	int32		i = PG_GETARG_INT32(1);

	if (strcmp(kind, "asan") == 0)
	{
		volatile int32 a[4] = {1, 2, 3, 4};

		/*
		 * Through a pointer whose target the compiler cannot see, so that
		 * UBSan's object-size check stays out of it and ASan finds it.
		 */
		int32	   *volatile p = (int32 *) a;

		PG_RETURN_INT32(p[i]);
	}
	else
	{
		/* (not an integer overflow: PostgreSQL compiles with -fwrapv) */
		volatile int32 shift = 31 + i;

		PG_RETURN_INT32((int32) (1U << shift));
	}
}
