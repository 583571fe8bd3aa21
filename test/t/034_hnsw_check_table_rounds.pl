# hnsw_index_check's table pass keeps its sorted heap TIDs (12 bytes per
# row) within maintenance_work_mem: with more rows than that holds, it
# checks the table in ranges of heap blocks, one walk over the index per
# range, and still finds every row, and every lost one.
#
# 100,000 rows, 8 to a vector (12,500 elements of 8 heap TIDs each, so that
# the build is quick), get an hnsw index.  At maintenance_work_mem = 1MB
# (87,381 TIDs) the table pass runs in two ranges (counted from its DEBUG1
# lines), at 64MB in one; both verify 100,000 rows.  Then, with the server
# stopped, one heap TID is cleared in an element holding rows of the
# table's last block and one in an element holding rows of block 0: the
# table pass names each lost row at both settings, whichever range it
# falls in.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../perl";
use HnswTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $N = 100000;
my $node = hnsw_node('check_table_rounds');
$node->safe_psql(
	'postgres', qq{
	CREATE TABLE t (id int, v vector(2)) WITH (autovacuum_enabled = off);
	INSERT INTO t SELECT i, ARRAY[i / 8, (i / 8) % 13] FROM generate_series(0, $N - 1) i;
	CREATE INDEX t_v_idx ON t USING hnsw (v vector_l2_ops) WITH (m = 4, ef_construction = 8);
});
is($node->safe_psql('postgres', q{SELECT elements, active FROM hnsw_index_check('t_v_idx')}),
	'12500|12500', '12,500 elements of 8 rows');

# the table pass's (rows verified, ranges), or its ERROR
sub table_pass
{
	my ($mwm) = @_;
	my ($rc, $out, $err) = $node->psql('postgres',
		"SET client_min_messages = debug1; SET maintenance_work_mem = '$mwm';
		 SELECT table_rows FROM hnsw_index_check('t_v_idx', heapallindexed => true)");
	my $ranges = () = $err =~ /table pass over blocks/g;
	return $rc == 0 ? ($out, $ranges) : ($err =~ /ERROR:\s+(.*)/ ? $1 : $err, $ranges);
}

my ($rows, $ranges) = table_pass('64MB');
is($rows, $N, '64MB: the table pass verifies every row');
is($ranges, 1, '64MB: in one range');
($rows, $ranges) = table_pass('1MB');
is($rows, $N, '1MB: the table pass verifies every row');
is($ranges, 2, '1MB: in two ranges of heap blocks');

my $last = $node->safe_psql('postgres', q{SELECT max((ctid::text::point)[0])::int FROM t});
my $file = index_file($node, 't_v_idx');
$node->safe_psql('postgres', 'CHECKPOINT');
$node->stop;

# an element holding rows of heap block $hblk: (index block, element)
sub find_element
{
	my ($hblk) = @_;
	for my $blk (1 .. (-s $file) / 8192 - 1)
	{
		for my $e (page_elements(read_block($file, $blk)))
		{
			return ($blk, $e) if grep { /^\($hblk,/ } @{ $e->{tids} };
		}
	}
	die "no element holds rows of heap block $hblk";
}

for my $hblk ($last, 0)
{
	my ($blk, $e) = find_element($hblk);
	my ($lost) = grep { /^\($hblk,/ } @{ $e->{tids} };
	my $page = read_block($file, $blk);
	my $orig = $page;
	for my $i (0 .. 7)
	{
		my ($hi, $lo, $pos) = unpack('v3', substr($page, $e->{start} + 8 + 6 * $i, 6));
		next unless sprintf('(%d,%d)', ($hi << 16) | $lo, $pos) eq $lost;
		substr($page, $e->{start} + 8 + 6 * $i, 6) = "\xff\xff\xff\xff\x00\x00";
	}
	write_block($file, $blk, $page);
	$node->start;
	for my $mwm ('64MB', '1MB')
	{
		my ($err) = table_pass($mwm);
		like($err, qr/index "t_v_idx" has no entry for row \Q$lost\E of table "t"/,
			"heap block $hblk, $mwm: the table pass names the lost row $lost");
	}
	$node->stop;
	write_block($file, $blk, $orig);
}

$node->start;
($rows) = table_pass('1MB');
is($rows, $N, 'put back: every row verified again');
$node->stop;
done_testing();
