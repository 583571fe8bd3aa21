/*
 * hnsw_buffers.h
 *		The pins, share locks and prefetches of one graph operation: for the
 *		storage files (hnsw_store.c) only.
 */
#ifndef HNSW_BUFFERS_H
#define HNSW_BUFFERS_H

#include "storage/bufmgr.h"
#include "utils/relcache.h"

#include "hnsw_graph.h"

/*
 * Blocks share-locked at once while a batch's distances are computed.  With
 * the few other pins a backend holds (the executor's heap page), they stay
 * within the 8 pins PostgreSQL counts in a plain array per backend: beyond
 * those, every pin and unpin of the backend goes through a hash table.
 */
#define HNSW_BATCH_BLOCKS	6
/* most pins a graph operation takes between two hnsw_buffers_checkpoint calls */
#define HNSW_BATCH_BLOCKS_MAX	(HNSW_BATCH_BLOCKS + 4)

/*
 * Pins held by one graph operation (a scan, an insert, a VACUUM pass): a
 * page once pinned stays pinned until an hnsw_buffers_checkpoint, a point
 * where the operation holds no lock, so a page read twice in between (an
 * element and then its neighbour list) costs one pin.  A scan or an insert
 * drops its pins at every checkpoint; VACUUM keeps up to keep of them
 * across checkpoints (hnsw_buffers_keep), since its repairs return to the
 * same pages again and again (src/README.md 5.2 has the measurements).
 */
typedef struct HnswBuffers
{
	Relation	index;
	struct HnswRecentBlocks *recent;	/* per backend: see hnsw_buffers.c */
	uint32		opid;			/* marks the blocks it holds (hnsw_buffers.c) */
	BlockNumber nblocks;		/* the index's size, as last looked up */
	Buffer	   *heldbufs;		/* the pins held, one entry per pin */
	int			nheld;
	int			keep;			/* pins kept across checkpoints, at most */
	Buffer		locked;			/* what hnsw_buffers_lock share-locked */
} HnswBuffers;

extern void hnsw_buffers_init(HnswBuffers *b, Relation index);
extern void hnsw_buffers_keep(HnswBuffers *b, int keep);
extern void hnsw_buffers_release(HnswBuffers *b);
extern Buffer hnsw_buffers_pin(HnswBuffers *b, BlockNumber blkno);
extern Page hnsw_buffers_pin_lock(HnswBuffers *b, BlockNumber blkno,
								  Buffer *buf);
extern void hnsw_buffers_check_once(HnswBuffers *b, BlockNumber blkno,
									Page page);
extern Page hnsw_buffers_lock(HnswBuffers *b, BlockNumber blkno);
extern void hnsw_buffers_unlock(HnswBuffers *b);
extern void hnsw_buffers_prefetch_element(HnswBuffers *b, HnswId id);
extern void hnsw_buffers_prefetch_tuple(HnswBuffers *b, HnswId id, Size size);

/*
 * At a point where no buffer of the operation is locked: drops its pins,
 * unless the next batch still fits within what it may keep.
 */
static inline void
hnsw_buffers_checkpoint(HnswBuffers *b)
{
	if (b->nheld > 0 && b->nheld + HNSW_BATCH_BLOCKS_MAX > b->keep)
		hnsw_buffers_release(b);
}

#endif
