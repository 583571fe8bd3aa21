/*
 * sanitizer_options.c
 *		Linked into the sanitizer build of the extension only (test/fuzz/
 *		HnswFuzz.pm copies it into that build's sources); never part of the
 *		normal build.
 *
 * The server binary is not instrumented, so the ASan runtime is loaded with
 * the extension, in a backend, long after exec.  (Preloading it into the
 * postmaster with LD_PRELOAD is no way out: Debian's postgres then hangs in
 * bindtextdomain at startup.)  That has two consequences handled here.
 *
 * Options: the runtimes read ASAN_OPTIONS and UBSAN_OPTIONS from
 * /proc/self/environ, which PostgreSQL has overwritten with the process
 * title by then.  They call the hooks below instead, which return
 * HNSW_ASAN_OPTIONS / HNSW_UBSAN_OPTIONS from the (relocated, still
 * readable) environment, or defaults that make every finding fatal.
 *
 * Stack poisoning: ASan marks the redzones around a function's stack
 * arrays at entry and clears them at return.  A function left by an ERROR
 * (siglongjmp) never returns, and as the postgres binary calls the C
 * library's siglongjmp directly rather than through ASan's interceptor,
 * nobody clears its redzones: a later, deeper call reusing that stack
 * would be reported as an overflow that is not there.  So whenever an
 * ERROR has unwound the stack (at transaction and subtransaction abort:
 * the top level and PL/pgSQL's EXCEPTION blocks), the callbacks below
 * clear the shadow of the unused stack below the current frame.
 */
#include "postgres.h"

#include <stdlib.h>
#include <sanitizer/asan_interface.h>

#include "access/xact.h"
#include "tcop/tcopprot.h"

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

/* clears the poison of the stack below this frame, as deep as it may go */
static void
unpoison_unused_stack(void)
{
	char	   *here = (char *) __builtin_frame_address(0);
	/* max_stack_depth (kB) plus the kernel's daylight (STACK_DEPTH_SLOP) */
	Size		depth = (Size) max_stack_depth * 1024 + STACK_DEPTH_SLOP;

	__asan_unpoison_memory_region(here - depth, depth);
}

static void
abort_callback(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT)
		unpoison_unused_stack();
}

static void
subabort_callback(SubXactEvent event, SubTransactionId mySubid,
				  SubTransactionId parentSubid, void *arg)
{
	if (event == SUBXACT_EVENT_ABORT_SUB)
		unpoison_unused_stack();
}

static void hnsw_sanitizer_init(void) __attribute__((constructor));

static void
hnsw_sanitizer_init(void)
{
	RegisterXactCallback(abort_callback, NULL);
	RegisterSubXactCallback(subabort_callback, NULL);
}
