/*
 * hnswsearch.c
 *		Module entry point: PG_MODULE_MAGIC and _PG_init.
 */
#include "postgres.h"

#include "fmgr.h"

#include "distance.h"
#include "hnsw.h"

PG_MODULE_MAGIC;

extern PGDLLEXPORT void _PG_init(void);

void
_PG_init(void)
{
	/* bind the distance kernels to the best variant this CPU supports */
	distance_init();
	/* and the decoders of compact codes */
	hnsw_codes_init();
	/* the hnsw index's reloptions and hnsw.* settings */
	hnsw_init_options();
}
