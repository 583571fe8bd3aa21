/*
 * sanitizer_options.c
 *		Linked into the sanitizer build of the extension only (test/fuzz/
 *		build_sanitized.sh copies it into that build's sources); never part
 *		of the normal build.
 *
 * The server binary is not instrumented, so the ASan runtime is loaded with
 * the extension, in a backend, long after exec.  It then reads
 * ASAN_OPTIONS and UBSAN_OPTIONS from /proc/self/environ, which PostgreSQL
 * has overwritten with the process title by then, so the environment
 * cannot reach it.  The runtimes call these hooks instead; they return
 * HNSW_ASAN_OPTIONS / HNSW_UBSAN_OPTIONS from the (relocated, still
 * readable) environment, or defaults that make every finding fatal.
 */
#include <stdlib.h>

extern const char *__asan_default_options(void);
extern const char *__ubsan_default_options(void);

const char *
__asan_default_options(void)
{
	const char *s = getenv("HNSW_ASAN_OPTIONS");

	/*
	 * verify_asan_link_order=0: the runtime cannot come first in the
	 * library list of a binary that was not linked with it.
	 */
	return s ? s : "verify_asan_link_order=0:detect_leaks=0:abort_on_error=1:halt_on_error=1";
}

const char *
__ubsan_default_options(void)
{
	const char *s = getenv("HNSW_UBSAN_OPTIONS");

	return s ? s : "print_stacktrace=1:halt_on_error=1:abort_on_error=1";
}
