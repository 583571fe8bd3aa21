/*
 * hnsw_buffers.c
 *		The index's buffers as the page graph uses them: where each block
 *		was last found in shared buffers (per backend), the pins one graph
 *		operation holds, share locks on them, and CPU prefetches.
 *
 * Nothing here knows the tuple formats beyond an element's position
 * (block, line pointer); hnsw_store.c reads and writes the tuples.
 */
#include "postgres.h"

#include "miscadmin.h"
#include "storage/buf_internals.h"
#include "storage/bufmgr.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#include "hnsw.h"
#include "hnsw_buffers.h"

/*
 * Where an index's blocks were last found in shared buffers, remembered
 * per backend across scans and inserts, so that ReadRecentBuffer can re-pin
 * a block without the buffer-mapping lookup (a partition lock and a hash
 * probe) that ReadBuffer costs on every access.  A page's special space is
 * checked the first time this backend reads it; every tuple access is
 * still checked.  Keyed by the physical file, so TRUNCATE and REINDEX start
 * afresh.  A few indexes are remembered, replaced round robin.
 *
 * The same arrays say which blocks an operation holds pinned (heldby), so
 * that an operation starts without allocating or clearing a map of the
 * index's blocks (for a large index that clearing cost more than a short
 * scan's search).  A block held by one operation and then pinned by
 * another, or an index's arrays replaced while its operation is
 * suspended (a sixth index scanned in between), costs a second pin, which
 * the operation's list of pins (HnswBuffers.heldbufs) releases like any.
 * Whenever a block's heldby names an operation, its buffer is the one
 * that operation pinned for blkno: both are written together, and the
 * buffer cannot change while pinned.
 */
#if PG_VERSION_NUM >= 160000
typedef RelFileLocator HnswRelFile;
#define HNSW_RELFILE(rel)	((rel)->rd_locator)
#else
typedef RelFileNode HnswRelFile;
#define HNSW_RELFILE(rel)	((rel)->rd_node)
#endif

/* what a backend knows of one block: one cache line serves a pin */
typedef struct HnswRecentBlock
{
	Buffer		buffer;			/* where it was last seen, or InvalidBuffer */
	uint32		heldby;			/* the operation holding a pin on it, or 0 */
	bool		checked;		/* special space checked in that buffer */
} HnswRecentBlock;

typedef struct HnswRecentBlocks
{
	HnswRelFile file;
	bool		used;
	uint32		n;
	HnswRecentBlock *blocks;	/* n of them */
} HnswRecentBlocks;

#define HNSW_RECENT_INDEXES 4
static HnswRecentBlocks recent_blocks[HNSW_RECENT_INDEXES];
static int	recent_next = 0;

/*
 * Operation ids (HnswBuffers.opid), per backend.  An id is retired when
 * its operation drops its pins, so a block marked with a live id is pinned
 * by that operation; when the counter wraps, every mark is cleared.
 */
static uint32 last_opid = 0;

static uint32
next_opid(void)
{
	if (++last_opid == 0)
	{
		for (int i = 0; i < HNSW_RECENT_INDEXES; i++)
			for (uint32 j = 0; recent_blocks[i].used && j < recent_blocks[i].n; j++)
				recent_blocks[i].blocks[j].heldby = 0;
		last_opid = 1;
	}
	return last_opid;
}

static HnswRecentBlocks *
recent_for(Relation index)
{
	HnswRelFile file = HNSW_RELFILE(index);
	HnswRecentBlocks *rb;
	int			i;

	for (i = 0; i < HNSW_RECENT_INDEXES; i++)
	{
		rb = &recent_blocks[i];
		if (rb->used && memcmp(&rb->file, &file, sizeof(file)) == 0)
			return rb;
	}
	rb = &recent_blocks[recent_next];
	recent_next = (recent_next + 1) % HNSW_RECENT_INDEXES;
	if (rb->used)
	{
		pfree(rb->blocks);
	}
	rb->file = file;
	rb->used = true;
	rb->n = 64;
	rb->blocks = MemoryContextAllocZero(TopMemoryContext,
										sizeof(HnswRecentBlock) * rb->n);
	return rb;
}

/* makes the arrays cover blkno */
static void
recent_grow(HnswRecentBlocks *rb, BlockNumber blkno)
{
	uint32		n = rb->n;

	while (n <= blkno)
		n *= 2;
	rb->blocks = repalloc_huge(rb->blocks, sizeof(HnswRecentBlock) * n);
	memset(rb->blocks + rb->n, 0, sizeof(HnswRecentBlock) * (n - rb->n));
	rb->n = n;
}

/*
 * How many pins an operation may hold: what it keeps across checkpoints,
 * plus one batch (HNSW_BATCH_BLOCKS_MAX) taken between two of them, plus as
 * much again as a guard; more is a bug (hold).
 */
static inline int
pin_capacity(const HnswBuffers *b)
{
	return b->keep + 2 * HNSW_BATCH_BLOCKS_MAX;
}

/*
 * Starts an operation's pins on index (see HnswBuffers): none kept across
 * checkpoints.
 */
void
hnsw_buffers_init(HnswBuffers *b, Relation index)
{
	b->index = index;
	b->recent = recent_for(index);
	b->opid = next_opid();
	b->nblocks = 0;
	b->keep = 0;
	b->heldbufs = palloc(sizeof(Buffer) * pin_capacity(b));
	b->nheld = 0;
	b->locked = InvalidBuffer;
}

/*
 * Lets the operation keep up to keep pins across checkpoints, capped at a
 * small share of shared_buffers: pins held by one backend are buffers no
 * other backend can evict.  Called before the operation pins anything.
 */
void
hnsw_buffers_keep(HnswBuffers *b, int keep)
{
	Assert(b->nheld == 0);
	b->keep = Min(keep, Max(4 * HNSW_BATCH_BLOCKS_MAX, NBuffers / 32));
	b->heldbufs = repalloc(b->heldbufs, sizeof(Buffer) * pin_capacity(b));
}

/*
 * Drops every pin the operation holds; no buffer of it may be locked.  The
 * operation takes a new id, so that its marks in heldby are void at once.
 */
void
hnsw_buffers_release(HnswBuffers *b)
{
	int			i;

	for (i = 0; i < b->nheld; i++)
		ReleaseBuffer(b->heldbufs[i]);
	if (b->nheld > 0)
		b->opid = next_opid();
	b->nheld = 0;
}

/*
 * The arrays of b's index: those of another index if the slot was given to
 * it since (a sixth index in between), in which case the index is looked
 * up again.
 */
static inline HnswRecentBlocks *
recent_of(HnswBuffers *b)
{
	HnswRelFile file = HNSW_RELFILE(b->index);

	if (unlikely(memcmp(&b->recent->file, &file, sizeof(file)) != 0))
		b->recent = recent_for(b->index);
	return b->recent;
}

/* remembers buf as held for blkno */
static inline void
hold(HnswBuffers *b, HnswRecentBlocks *rb, BlockNumber blkno, Buffer buf)
{
	if (b->nheld >= pin_capacity(b))
		elog(ERROR, "hnsw: more pins than the operation's budget");
	rb->blocks[blkno].buffer = buf;
	rb->blocks[blkno].heldby = b->opid;
	b->heldbufs[b->nheld++] = buf;
}

/*
 * Pins blkno and holds the pin (at no cost if already held).  The recent
 * buffer of the block is tried first: ReadRecentBuffer skips the buffer
 * mapping lookup when the guess is still right.
 */
Buffer
hnsw_buffers_pin(HnswBuffers *b, BlockNumber blkno)
{
	HnswRecentBlocks *rb = recent_of(b);
	Buffer		buf;

	if (blkno < rb->n && rb->blocks[blkno].heldby == b->opid)
		return rb->blocks[blkno].buffer;

	/* an id beyond the index's end is corruption, not a read error */
	if (blkno >= b->nblocks)
	{
		b->nblocks = RelationGetNumberOfBlocks(b->index);
		if (blkno >= b->nblocks)
			hnsw_corrupt(b->index, blkno, 0, "reference to a block beyond the end of the index");
	}
	if (blkno >= rb->n)
		recent_grow(rb, blkno);
#if PG_VERSION_NUM >= 140000
	buf = rb->blocks[blkno].buffer;
	if (buf != InvalidBuffer &&
		ReadRecentBuffer(rb->file, MAIN_FORKNUM, blkno, buf))
	{
		hold(b, rb, blkno, buf);
		return buf;
	}
#endif
	buf = ReadBuffer(b->index, blkno);
	if (rb->blocks[blkno].buffer != buf)
		rb->blocks[blkno].checked = false;
	hold(b, rb, blkno, buf);
	return buf;
}

/* checks page blkno's special space the first time this backend locks it */
void
hnsw_buffers_check_once(HnswBuffers *b, BlockNumber blkno, Page page)
{
	if (!b->recent->blocks[blkno].checked)
	{
		hnsw_check_page(b->index, page, blkno);
		b->recent->blocks[blkno].checked = true;
	}
}

/*
 * Share-locks blkno (pinned and held, see above); b->locked is the buffer.
 * A page's special space is checked the first time this backend reads it.
 */
Page
hnsw_buffers_lock(HnswBuffers *b, BlockNumber blkno)
{
	hnsw_buffers_checkpoint(b);
	return hnsw_buffers_pin_lock(b, blkno, &b->locked);
}

/* pins and share-locks blkno in a buffer of the caller's, checked once */
Page
hnsw_buffers_pin_lock(HnswBuffers *b, BlockNumber blkno, Buffer *buf)
{
	Page		page;

	*buf = hnsw_buffers_pin(b, blkno);
	LockBuffer(*buf, BUFFER_LOCK_SHARE);
	page = BufferGetPage(*buf);
	hnsw_buffers_check_once(b, blkno, page);
	return page;
}

/* unlocks the buffer hnsw_buffers_lock locked; the pin stays held */
void
hnsw_buffers_unlock(HnswBuffers *b)
{
	LockBuffer(b->locked, BUFFER_LOCK_UNLOCK);
}

/*
 * Where shared buffer buf's header (BufferDesc) lies, for a CPU prefetch
 * only: the header is what pinning it touches first.  The one use of the
 * server-internal header storage/buf_internals.h in the extension: if a
 * PostgreSQL release changes GetBufferDescriptor or the descriptor array,
 * this is what fails to compile (or prefetches the wrong line, which costs
 * speed, never correctness: nothing is read through the address).
 */
static inline const void *
buffer_header(Buffer buf)
{
	return GetBufferDescriptor(buf - 1);
}

/* the buffer blkno was last seen in, or InvalidBuffer: a guess, unpinned */
static inline Buffer
recent_guess(HnswBuffers *b, BlockNumber blkno)
{
	return blkno < b->recent->n ? b->recent->blocks[blkno].buffer : InvalidBuffer;
}

/*
 * Asks the CPU to start loading what reading element id will touch first:
 * its buffer header, its page header and its line pointer, at the buffer
 * where the block was last seen.  A stale guess costs nothing but the load.
 */
void
hnsw_buffers_prefetch_element(HnswBuffers *b, HnswId id)
{
	Buffer		buf = recent_guess(b, HnswIdBlock(id));
	char	   *page;

	if (buf <= 0)
		return;
	page = (char *) BufferGetPage(buf);
	__builtin_prefetch(buffer_header(buf));
	__builtin_prefetch(page);
	__builtin_prefetch(page + SizeOfPageHeaderData +
					   (HnswIdOffset(id) - 1) * sizeof(ItemIdData));
}


/*
 * Starts loading element id's tuple (size bytes) where its line pointer,
 * read without pin or lock, says it is.  Only a hint: the buffer may hold
 * another page by now, or the page may be changing, and a wrong guess
 * costs a useless load, never a wrong result (everything is read again
 * under a lock before use).
 */
void
hnsw_buffers_prefetch_tuple(HnswBuffers *b, HnswId id, Size size)
{
	Buffer		buf = recent_guess(b, HnswIdBlock(id));
	char	   *page;
	ItemIdData	lp;

	if (buf <= 0 || HnswIdOffset(id) < FirstOffsetNumber)
		return;
	page = (char *) BufferGetPage(buf);
	memcpy(&lp, page + SizeOfPageHeaderData +
		   (HnswIdOffset(id) - 1) * sizeof(ItemIdData), sizeof(lp));
	if (lp.lp_off < SizeOfPageHeaderData || lp.lp_off + size > BLCKSZ)
		return;
	hnsw_prefetch_bytes(page + lp.lp_off, size);
}
