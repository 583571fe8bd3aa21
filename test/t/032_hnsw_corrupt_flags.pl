# One flipped byte must not lose a row for good: an element marked DELETED
# or FREE by corruption while it still holds a live row is reported by the
# checker, its slot is never reused, and hnsw_index_check's table pass
# (heapallindexed) finds rows the index lost or holds with another vector.
#
# A table of 2,850 random 8-dim vectors plus two rows sharing one vector
# (one element holding two heap TIDs) gets an hnsw index.  On a graph page B
# two level-0 elements whose neighbour tuples are on B are picked: the
# victim, and at a higher offset another one whose row is deleted and
# VACUUMed, so that its slot is FREE and the free space map names B.  With
# the server stopped, the victim's flags byte is set to DELETED|FREE (0x06),
# as VACUUM leaves a freed slot, while it still holds its row's heap TID.
# Then:
#   - hnsw_index_check, with and without the table pass, raises an ERROR
#     naming the victim (block B, its offset);
#   - INSERTs, one row each, until one is refused with an ERROR naming the
#     victim (a new element of level 0 asks the free space map, which names
#     B; before the fix it overwrote the victim's slot, and the victim's row
#     was lost while the checker passed); afterwards the victim's slot
#     still holds its row;
#   - VACUUM raises the same ERROR;
#   - flags DELETED alone (0x02, as VACUUM's first pass leaves an element
#     it emptied) with the row still there: the same ERROR from the checker
#     and VACUUM;
# With the flags byte put back:
#   - one of the two TIDs of the shared element cleared (a lost row the
#     structure checks cannot see): hnsw_index_check passes, the table pass
#     raises an ERROR naming the row's ctid;
#   - the lowest mantissa bit of one vector component of another element
#     flipped: hnsw_index_check passes, the table pass names the row's ctid
#     and the element;
#   - all put back: the table pass verifies all 2,851 indexed rows.
# No variant crashes the server.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../perl";
use HnswTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $N = 2850;
my $B = 3;
my $INVALID_TID = "\xff\xff\xff\xff\x00\x00";

my $node = hnsw_node('corrupt_flags');
$node->safe_psql(
	'postgres', qq{
	SELECT setseed(0.32);
	CREATE TABLE t (id int PRIMARY KEY, v vector(8));
	-- first in the table, so the build meets them first: the second one's
	-- search certainly finds the first, and shares its element
	INSERT INTO t VALUES ($N + 1, '[0.5,0.5,0.5,0.5,0.5,0.5,0.5,0.5]'),
		($N + 2, '[0.5,0.5,0.5,0.5,0.5,0.5,0.5,0.5]');
	INSERT INTO t SELECT i, ${\ random_vector_sql(8, 'i')} FROM generate_series(1, $N) i;
	CREATE INDEX t_v_idx ON t USING hnsw (v vector_l2_ops);
});
my $file = index_file($node, 't_v_idx');
$node->safe_psql('postgres', 'CHECKPOINT');
$node->stop;

my $page = read_block($file, $B);
my @cands = grep { $_->{level} == 0 && $_->{nblk} == $B && @{ $_->{tids} } == 1 && $_->{flags} == 0 }
  page_elements($page);
cmp_ok(scalar(@cands), '>=', 2, "block $B has two level-0 elements with their lists on the page");
my ($victim, $freed) = @cands[ 0, -1 ];
note("victim ($B,$victim->{off}) row $victim->{tids}[0]; freed ($B,$freed->{off}) row $freed->{tids}[0]");

# the shared element (two TIDs) and another element, anywhere but block B
# (the element of the shared vector may be there too)
my $nblocks = (-s $file) / 8192;
my ($shared, $shared_blk, $other, $other_blk);
for my $blk (1 .. $nblocks - 1)
{
	for my $e (page_elements(read_block($file, $blk)))
	{
		($shared, $shared_blk) = ($e, $blk) if @{ $e->{tids} } == 2;
		($other, $other_blk) = ($e, $blk)
		  if !$other && $blk != $B && @{ $e->{tids} } == 1 && $e->{flags} == 0;
	}
}
ok($shared, 'the two identical rows share one element');
ok($other, 'another element is found');
die 'elements not found' unless $shared && $other && @cands >= 2;

$node->start;
my $victim_id =
  $node->safe_psql('postgres', "SELECT id FROM t WHERE ctid = '$victim->{tids}[0]'");
$node->safe_psql('postgres', "DELETE FROM t WHERE ctid = '$freed->{tids}[0]'; VACUUM t");
is($node->safe_psql('postgres', q{SELECT elements_deleted FROM hnsw_index_info('t_v_idx')}),
	'1', 'VACUUM freed one slot');
is(sql_output($node, q{SELECT table_rows FROM hnsw_index_check('t_v_idx', heapallindexed => true)}),
	$N + 1, 'the table pass verifies every row of the healthy index');
$node->safe_psql('postgres', 'CHECKPOINT');
$node->stop;
$page = read_block($file, $B);
my ($fv) = grep { $_->{off} == $freed->{off} } page_elements($page);
is($fv->{flags}, 6, 'the deleted row\'s element is FREE');

# sets the victim's flags byte to $flags on block B as it is now
sub set_victim_flags
{
	my ($flags) = @_;
	my $p = read_block($file, $B);
	substr($p, $victim->{start} + 2, 1) = chr($flags);
	write_block($file, $B, $p);
	return;
}

my $victim_re = qr/index "t_v_idx" is corrupted at block $B, offset $victim->{off}: deleted element still holds heap TIDs/;

for my $flags (6, 2)
{
	set_victim_flags($flags);
	my $log_offset = -s $node->logfile;
	$node->start;
	my $start_time = $node->safe_psql('postgres', 'SELECT pg_postmaster_start_time()');

	like(sql_error($node, q{SELECT * FROM hnsw_index_check('t_v_idx')}),
		$victim_re, "flags $flags: hnsw_index_check names the victim");
	like(sql_error($node, q{SELECT * FROM hnsw_index_check('t_v_idx', true)}),
		$victim_re, "flags $flags: so does hnsw_index_check with the table pass");
	if ($flags == 6)
	{
		my ($refused, $ok) = (0, 0);
		for my $i (1 .. 20)
		{
			my $e = sql_error($node,
				"INSERT INTO t VALUES (10000 + $i, ${\ random_vector_sql(8)})");
			if ($e eq '') { $ok++; next; }
			like($e, $victim_re, "flags $flags: the INSERT refused names the victim");
			$refused = 1;
			last;
		}
		ok($refused, "flags $flags: an INSERT is refused ($ok inserted before)");
	}
	like(sql_error($node, 'VACUUM t'), $victim_re, "flags $flags: VACUUM names the victim");
	server_alive_since($node, "flags $flags", $start_time, $log_offset);
	$node->stop;

	my ($v) = grep { $_->{off} == $victim->{off} } page_elements(read_block($file, $B));
	is_deeply($v->{tids}, $victim->{tids}, "flags $flags: the victim's slot still holds its row");
}

# the victim's flags back
set_victim_flags(0);

# one of the shared element's TIDs cleared: that row is lost
my $lost = $shared->{tids}[1];
my $spage = read_block($file, $shared_blk);
my $orig_spage = $spage;
for my $i (0 .. 7)
{
	my $raw = substr($spage, $shared->{start} + 8 + 6 * $i, 6);
	next if $raw eq $INVALID_TID;
	my ($hi, $lo, $pos) = unpack('v3', $raw);
	next unless sprintf('(%d,%d)', ($hi << 16) | $lo, $pos) eq $lost;
	substr($spage, $shared->{start} + 8 + 6 * $i, 6) = $INVALID_TID;
}
write_block($file, $shared_blk, $spage);
my $log_offset = -s $node->logfile;
$node->start;
my $start_time = $node->safe_psql('postgres', 'SELECT pg_postmaster_start_time()');
my $c = index_check($node, 't_v_idx', 'a TID cleared');
like(sql_error($node, q{SELECT * FROM hnsw_index_check('t_v_idx', heapallindexed => true)}),
	qr/index "t_v_idx" has no entry for row \Q$lost\E of table "t"/,
	'a TID cleared: the table pass names the lost row');
$node->stop;
write_block($file, $shared_blk, $orig_spage);

# one bit of another element's vector flipped
my $opage = read_block($file, $other_blk);
my $orig_opage = $opage;
my $voff = $other->{start} + 56 + 4 * 3;
substr($opage, $voff, 1) = chr(ord(substr($opage, $voff, 1)) ^ 1);
write_block($file, $other_blk, $opage);
$node->start;
index_check($node, 't_v_idx', 'a vector bit flipped');
like(sql_error($node, q{SELECT * FROM hnsw_index_check('t_v_idx', heapallindexed => true)}),
	qr/index "t_v_idx" holds another vector for row \Q$other->{tids}[0]\E of table "t" \(element at block $other_blk, offset $other->{off}\)/,
	'a vector bit flipped: the table pass names the row and the element');
$node->stop;
write_block($file, $other_blk, $orig_opage);

$log_offset = -s $node->logfile;
$node->start;
$start_time = $node->safe_psql('postgres', 'SELECT pg_postmaster_start_time()');
my $rows = $node->safe_psql('postgres', 'SELECT count(*) FROM t');
is(sql_output($node, q{SELECT table_rows FROM hnsw_index_check('t_v_idx', heapallindexed => true)}),
	$rows, "all put back: the table pass verifies all $rows rows");
is($node->safe_psql('postgres', qq{SET enable_seqscan = off;
		SELECT id FROM t ORDER BY v <-> (SELECT v FROM t WHERE id = $victim_id) LIMIT 1}),
	$victim_id, "the victim's row is found through the index");
server_alive_since($node, 'end', $start_time, $log_offset);
$node->stop;
done_testing();
