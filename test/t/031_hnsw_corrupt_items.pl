# A page with more line pointers than an hnsw page can hold (255: an id
# keeps the offset in 8 bits) gives a clean ERROR everywhere, VACUUM
# included, never a crash.
#
# A table of 20 rows, 8 of them with the same vector (one element holding 8
# heap TIDs), gets an hnsw index that fits on block 1; one row is deleted so
# that VACUUM has lists to repair.  With the server stopped, block 1's
# pd_lower is raised to 300 line pointers and the new ones are copies of the
# 8-TID element's line pointer: a page of 300 elements.  Then:
#   - VACUUM raises an ERROR naming the index and block (before the fix it
#     wrote past an array of 255 on the stack, and an unordered scan past a
#     buffer of 255 * 8 TIDs);
#   - hnsw_index_check, hnsw_index_info, an ordered and an unordered scan
#     and an INSERT raise the same ERROR;
#   - the server did not restart and no backend crashed;
#   - REINDEX repairs the index.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../perl";
use HnswTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $LPS = 300;

my $node = hnsw_node('corrupt_items');
$node->safe_psql(
	'postgres', q{
	CREATE TABLE t (id int PRIMARY KEY, v vector(4));
	INSERT INTO t SELECT i, '[1,1,1,1]' FROM generate_series(1, 8) i;
	INSERT INTO t SELECT i, ARRAY[i, i % 3, -i, 1]::vector FROM generate_series(9, 20) i;
	CREATE INDEX t_v_idx ON t USING hnsw (v vector_l2_ops);
	DELETE FROM t WHERE id = 20;
});
is($node->safe_psql('postgres',
		q{SELECT elements, active, pages FROM hnsw_index_check('t_v_idx')}),
	'13|13|2', 'the index checks clean: 13 elements on one graph page');
my $file = index_file($node, 't_v_idx');
$node->safe_psql('postgres', 'CHECKPOINT');
$node->stop;

my $page = read_block($file, 1);
my ($pd_lower, $pd_upper) = unpack('v2', substr($page, 12, 4));
my @items = page_items($page);
# the element holding 8 heap TIDs
my ($victim) = grep {
	my $it = $_;
	$it->{type} == 1
	  && 8 == grep { substr($page, $it->{start} + 8 + 6 * $_, 6) ne "\xff\xff\xff\xff\x00\x00" } 0 .. 7
} @items;
ok($victim, 'block 1 holds the element of the 8 identical rows');
die 'no 8-TID element on block 1' unless $victim;
my $new_lower = 24 + 4 * $LPS;
cmp_ok($new_lower, '<=', $pd_upper, "$LPS line pointers fit below pd_upper ($pd_upper)");
# Offsets above 255 do not fit in an id: HnswIdMake(1, 256 + k) is (1, k).
# So that code that forms such ids runs on (they name real elements) rather
# than stopping at an ERROR for a bad id, offset 256 is left unused and
# 256 + k is an element only where k is one; the rest are the copies.
my $lpword = substr($page, $victim->{lp}, 4);
my %is_element = map { $_->{off} => ($_->{type} == 1) } @items;
my $maxoff = ($pd_lower - 24) / 4;
for my $off ($maxoff + 1 .. $LPS)
{
	my $alias = $off - 256;
	my $element = $off < 256 || ($alias > 0 && ($alias > $maxoff || $is_element{$alias}));
	substr($page, 24 + 4 * ($off - 1), 4) = $element ? $lpword : "\0\0\0\0";
}
substr($page, 12, 2) = pack('v', $new_lower);
write_block($file, 1, $page);
note("block 1: pd_lower $pd_lower -> $new_lower, line pointers "
	  . ($maxoff + 1) . "..$LPS copy offset $victim->{off}");

my $log_offset = -s $node->logfile;
$node->start;
my $start_time = $node->safe_psql('postgres', 'SELECT pg_postmaster_start_time()');
my $items_re = qr/index "t_v_idx" is corrupted at block 1, offset 0: page has $LPS line pointers, more than 255/;

like(sql_error($node, 'VACUUM t'), $items_re, 'VACUUM raises an ERROR naming index and block');
server_alive_since($node, 'VACUUM', $start_time, $log_offset);

my %statements = (
	'hnsw_index_check' => q{SELECT * FROM hnsw_index_check('t_v_idx')},
	'hnsw_index_info' => q{SELECT * FROM hnsw_index_info('t_v_idx')},
	'ordered scan' => q{SET enable_seqscan = off;
		SELECT id FROM t ORDER BY v <-> '[1,1,1,1]' LIMIT 5},
	'unordered scan' => q{SET enable_seqscan = off; SET plan_cache_mode = force_generic_plan;
		PREPARE q(vector) AS SELECT count(*) FROM (SELECT id FROM t ORDER BY v <-> $1 LIMIT 1000) s;
		EXECUTE q(NULL)},
	'INSERT' => q{INSERT INTO t SELECT 100 + i, ARRAY[i, 1, 1, 1]::vector FROM generate_series(1, 20) i},
	'second VACUUM' => 'VACUUM t',);
for my $what (sort keys %statements)
{
	like(sql_error($node, $statements{$what}), $items_re, "$what raises the ERROR");
}
server_alive_since($node, 'after every statement', $start_time, $log_offset);

is($node->safe_psql('postgres',
		q{REINDEX INDEX t_v_idx; SELECT elements, active FROM hnsw_index_check('t_v_idx')}),
	'12|12', 'REINDEX repairs the index');
is($node->safe_psql('postgres', q{VACUUM t; SELECT count(*) FROM t}), '19',
	'VACUUM runs again');

$node->stop;
done_testing();
