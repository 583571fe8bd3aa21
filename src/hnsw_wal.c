/*
 * hnsw_wal.c
 *		Every change to an index page after the build is logged here, as a
 *		generic WAL record (rmgr "Generic") that the server's own generic
 *		redo replays; only the delta is computed by this file.
 *
 * The generic WAL interface (access/generic_xlog.h) compares the page
 * before and after a change one byte at a time; for an index whose pages
 * are full and whose changes are a few hundred bytes (one neighbour list),
 * that comparison was about a third of an insert's CPU time (a perf
 * profile of 20,000 rows inserted into the bench's clustered index).  This
 * file writes the same record with the same delta format, comparing eight
 * bytes at a time: the record holds, per page, a sequence of fragments,
 * each a 2-byte offset, a 2-byte length and that many bytes to copy to
 * that offset; replay copies them, then zeroes the page's hole (pd_lower
 * to pd_upper).  Any delta that turns the old page into the new one under
 * that replay is a valid record; ours and the server's differ only in
 * where fragments split.  The server's replay is what applies ours, so a
 * standby, crash recovery and wal_consistency_checking need nothing from
 * this extension (TAP 013, 014 and 052 replay with
 * wal_consistency_checking).
 *
 * Two ways in.  For any change, as GenericXLogStart/RegisterBuffer/Finish
 * for one page: hnsw_wal_begin returns a copy of the exclusively locked
 * page to modify, hnsw_wal_finish puts it in place and logs it in one
 * critical section, hnsw_wal_abort forgets it.  For byte ranges the caller
 * has fully prepared (neighbour lists), hnsw_wal_write writes them in
 * place and logs them as the record's fragments, with no copy and no
 * comparison.  Unlogged and temporary indexes get the change without WAL.
 */
#include "postgres.h"

#include "access/rmgr.h"
#include "access/xloginsert.h"
#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "storage/bufpage.h"
#include "utils/rel.h"

#include "hnsw.h"

/* a fragment's header: offset and length, as the server's redo reads them */
#define FRAGMENT_HEADER (2 * sizeof(uint16))

/*
 * A delta's bound.  A compared page's: fragments are separated by at least
 * 8 unchanged bytes, more than a header, so a region's delta is at most
 * its length plus one header, and each region adds at most two fragments
 * of bytes the old page did not hold (see region_delta): a page plus 8
 * headers.  hnsw_wal_write's: pieces lie apart within the page, so a page
 * plus a header per piece.  One buffer serves both; neither nests.
 */
#define MAX_DELTA (BLCKSZ + Max(8, HNSW_WAL_PIECES) * FRAGMENT_HEADER)
static char delta_buf[MAX_DELTA];

struct HnswWal
{
	PGAlignedBlock image;		/* the copy being modified; first, aligned */
	Buffer		buffer;
	bool		logged;
	bool		full_image;
};

/*
 * Starts a change to buf (pinned, exclusively locked) of index; the page
 * to modify is returned.  full_image logs the whole page (a page just
 * initialised, whose old contents say nothing).
 */
Page
hnsw_wal_begin(Relation index, Buffer buf, bool full_image, HnswWal **wal)
{
	HnswWal    *w = palloc(sizeof(HnswWal));

	w->buffer = buf;
	w->logged = RelationNeedsWAL(index);
	w->full_image = full_image;
	memcpy(w->image.data, BufferGetPage(buf), BLCKSZ);
	*wal = w;
	return (Page) w->image.data;
}

/* drops a change begun by hnsw_wal_begin; the page stays as it was */
void
hnsw_wal_abort(HnswWal *wal)
{
	pfree(wal);
}

/* eight bytes at p, at any alignment */
static inline uint64
load8(const char *p)
{
	uint64		v;

	memcpy(&v, p, sizeof(v));
	return v;
}

/*
 * Whether 64 bytes at a and b are equal: one branch for eight words, a
 * loop the compiler turns into vector compares (most of a page is
 * unchanged; this loop is where a delta spends its time).
 */
static inline bool
same64(const char *a, const char *b)
{
	uint64		x = 0;
	int			k;

	for (k = 0; k < 64; k += 8)
		x |= load8(a + k) ^ load8(b + k);
	return x == 0;
}

/*
 * Appends to out the fragment that puts data (len bytes) at offset off of
 * a page; returns its end.
 */
static char *
put_fragment(char *out, int off, const char *data, int len)
{
	uint16		o = (uint16) off;
	uint16		l = (uint16) len;

	memcpy(out, &o, sizeof(o));
	memcpy(out + sizeof(o), &l, sizeof(l));
	memcpy(out + FRAGMENT_HEADER, data, len);
	return out + FRAGMENT_HEADER + len;
}

/*
 * The fragments of the bytes in [lo, hi) where old and new differ, a word
 * at a time.  A fragment runs from a differing byte to the last differing
 * byte before the next eight equal bytes, so fragments lie at least eight
 * bytes apart (the bound of MAX_DELTA) and the equal bytes inside one are
 * fewer than a separate fragment's header would cost twice.
 */
static char *
changed_fragments(char *out, const char *old, const char *new, int lo, int hi)
{
	int			i = lo;

	while (i < hi)
	{
		int			s;
		int			e;

		while (i + 64 <= hi && same64(old + i, new + i))
			i += 64;
		while (i + 8 <= hi && load8(old + i) == load8(new + i))
			i += 8;
		while (i < hi && old[i] == new[i])
			i++;
		if (i >= hi)
			break;
		s = i++;
		while (i + 8 <= hi && load8(old + i) != load8(new + i))
			i += 8;
		e = i + 8 <= hi ? i : hi;
		while (old[e - 1] == new[e - 1])
			e--;				/* stops at s, which differs */
		out = put_fragment(out, s, new + s, e - s);
		i = i + 8 <= hi ? i + 8 : hi;
	}
	return out;
}

/*
 * The fragments that turn the new page's bytes [start, end) into place,
 * where the old page holds meaningful bytes only in [vstart, vend) (its
 * hole is zero on a replayed page but need not be on this one): bytes
 * outside that range are always written, bytes inside it where they
 * differ.
 */
static char *
region_delta(char *out, const char *old, const char *new,
			 int start, int end, int vstart, int vend)
{
	int			lo = Max(start, vstart);
	int			hi = Min(end, vend);

	if (lo >= hi)
		return start < end ?
			put_fragment(out, start, new + start, end - start) : out;
	if (start < lo)
		out = put_fragment(out, start, new + start, lo - start);
	out = changed_fragments(out, old, new, lo, hi);
	if (hi < end)
		out = put_fragment(out, hi, new + hi, end - hi);
	return out;
}

/*
 * The whole delta from old to new: their parts below pd_lower and from
 * pd_upper on (the hole is zeroed by replay, and by hnsw_wal_finish here).
 */
static int
page_delta(char *out, Page old, Page new)
{
	PageHeader	o = (PageHeader) old;
	PageHeader	n = (PageHeader) new;
	char	   *end;

	end = region_delta(out, old, new, 0, n->pd_lower, 0, o->pd_lower);
	end = region_delta(end, old, new, n->pd_upper, BLCKSZ, o->pd_upper, BLCKSZ);
	Assert(end - out <= MAX_DELTA);
	return end - out;
}

#ifdef USE_ASSERT_CHECKING
/* replays delta on a copy of old, as the server's redo does; must give new */
static void
check_delta(Page old, Page new, const char *delta, int len)
{
	PGAlignedBlock copy;
	const char *p = delta;
	PageHeader	h = (PageHeader) copy.data;

	memcpy(copy.data, old, BLCKSZ);
	while (p < delta + len)
	{
		uint16		off;
		uint16		l;

		memcpy(&off, p, sizeof(off));
		memcpy(&l, p + sizeof(off), sizeof(l));
		memcpy(copy.data + off, p + FRAGMENT_HEADER, l);
		p += FRAGMENT_HEADER + l;
	}
	memset(copy.data + h->pd_lower, 0, h->pd_upper - h->pd_lower);
	Assert(memcmp(copy.data, new, h->pd_lower) == 0);
	Assert(memcmp(copy.data + h->pd_upper, (char *) new + h->pd_upper,
				  BLCKSZ - h->pd_upper) == 0);
}
#endif

/*
 * The new page must have the standard layout replay assumes, else replay
 * would zero a hole that is not one: a change that broke it is an error
 * here, before anything is written.
 */
static void
check_layout(HnswWal *wal)
{
	PageHeader	h = (PageHeader) wal->image.data;

	if (h->pd_lower < SizeOfPageHeaderData || h->pd_lower > h->pd_upper ||
		h->pd_upper > BLCKSZ)
		elog(ERROR, "hnsw page change in block %u leaves pd_lower %u, pd_upper %u",
			 BufferGetBlockNumber(wal->buffer), h->pd_lower, h->pd_upper);
}

/*
 * Logs the change to buf (dirty, its new contents in place) as a generic
 * record: the delta, or with flags REGBUF_FORCE_IMAGE the whole page.
 * Inside the caller's critical section.
 */
static void
log_change(Buffer buf, int flags, const char *delta, int len)
{
	XLogRecPtr	lsn;

	XLogBeginInsert();
	XLogRegisterBuffer(0, buf, flags | REGBUF_STANDARD);
	if (len > 0)
		XLogRegisterBufData(0, (char *) delta, len);
	lsn = XLogInsert(RM_GENERIC_ID, 0);
	PageSetLSN(BufferGetPage(buf), lsn);
}

/*
 * Puts the modified copy in place, its hole zeroed, and logs the change
 * (the delta, or the whole page for a full image) in one critical section.
 */
void
hnsw_wal_finish(HnswWal *wal)
{
	Page		page = BufferGetPage(wal->buffer);
	Page		image = (Page) wal->image.data;
	PageHeader	h = (PageHeader) image;
	int			len = 0;

	check_layout(wal);
	if (wal->logged && !wal->full_image)
	{
		len = page_delta(delta_buf, page, image);
#ifdef USE_ASSERT_CHECKING
		check_delta(page, image, delta_buf, len);
#endif
	}

	START_CRIT_SECTION();
	memcpy(page, image, h->pd_lower);
	memset((char *) page + h->pd_lower, 0, h->pd_upper - h->pd_lower);
	memcpy((char *) page + h->pd_upper, (char *) image + h->pd_upper,
		   BLCKSZ - h->pd_upper);
	MarkBufferDirty(wal->buffer);
	if (wal->logged)
		log_change(wal->buffer, wal->full_image ? REGBUF_FORCE_IMAGE : 0,
				   delta_buf, len);
	END_CRIT_SECTION();
	pfree(wal);
}

/*
 * Copies each piece's bytes over its place in the page of buf (pinned,
 * exclusively locked; no piece in the page's hole) and logs them as one
 * record whose delta holds one fragment per piece: no copy of the page and
 * no comparison.  For changes the caller has fully prepared, so that
 * nothing can fail between the first byte written and the record.
 */
void
hnsw_wal_write(Relation index, Buffer buf, const HnswWalPieces *pieces)
{
	Page		page = BufferGetPage(buf);
	PageHeader	h = (PageHeader) page;
	char	   *end = delta_buf;
	int			i;

	for (i = 0; i < pieces->n; i++)
	{
		int			off = pieces->dst[i] - (char *) page;
		int			len = pieces->len[i];

		if (off < 0 || len <= 0 || off + len > BLCKSZ ||
			(off + len > h->pd_lower && off < h->pd_upper) ||
			end + FRAGMENT_HEADER + len > delta_buf + MAX_DELTA)
			elog(ERROR, "hnsw page write of %d bytes at %d in block %u is outside the page's data",
				 len, off, BufferGetBlockNumber(buf));
		end = put_fragment(end, off, pieces->src[i], len);
	}

	START_CRIT_SECTION();
	for (i = 0; i < pieces->n; i++)
		memcpy(pieces->dst[i], pieces->src[i], pieces->len[i]);
	MarkBufferDirty(buf);
	if (RelationNeedsWAL(index))
		log_change(buf, 0, delta_buf, end - delta_buf);
	END_CRIT_SECTION();
}
