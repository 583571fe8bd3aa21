# hnsw_index_check and hnsw_index_info check the caller's privileges before
# they lock anything, and refuse a partitioned index with a clear message.
#
#   - a session holds ACCESS EXCLUSIVE on table t (LOCK TABLE, transaction
#     left open);
#   - a role without SELECT on t calls hnsw_index_check (with and without
#     the table pass) and hnsw_index_info under lock_timeout = 5s: each gets
#     "permission denied for table t" at once (before the fix,
#     hnsw_index_check opened the table first, waited for the lock, and
#     failed with the lock timeout instead);
#   - the superuser's hnsw_index_check does wait for the lock (it times out);
#   - after the lock is released, the role with SELECT granted checks the
#     index;
#   - on a table partitioned in two, the partitioned hnsw index is refused
#     by both functions with "... is a partitioned index" (before: "could not
#     open file"), and each partition's index checks clean, the table pass
#     included;
#   - a btree index, partitioned or not, is "not an hnsw index".
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../perl";
use HnswTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);

my $node = hnsw_node('check_access');
$node->safe_psql(
	'postgres', q{
	CREATE TABLE t (id int PRIMARY KEY, v vector(3));
	INSERT INTO t SELECT i, ARRAY[i, i % 7, -i]::vector FROM generate_series(1, 100) i;
	CREATE INDEX t_v_idx ON t USING hnsw (v vector_l2_ops);
	CREATE ROLE nosel LOGIN;
});

my $locker = $node->background_psql('postgres');
$locker->query_safe('BEGIN; LOCK TABLE t IN ACCESS EXCLUSIVE MODE;');
is($node->safe_psql('postgres',
		q{SELECT count(*) FROM pg_locks WHERE relation = 't'::regclass
		  AND mode = 'AccessExclusiveLock' AND granted}),
	'1', 'another session holds ACCESS EXCLUSIVE on t');

for my $call (
	q{SELECT * FROM hnsw_index_check('t_v_idx')},
	q{SELECT * FROM hnsw_index_check('t_v_idx', heapallindexed => true)},
	q{SELECT * FROM hnsw_index_info('t_v_idx')})
{
	my $t0 = time;
	my ($rc, $out, $err) = $node->psql('postgres',
		"SET lock_timeout = '5s'; SET ROLE nosel; $call");
	my $secs = time - $t0;
	like($err, qr/ERROR:  permission denied for table t/, "$call: permission denied");
	cmp_ok($secs, '<', 4, "$call: at once, without waiting for the lock");
}
like(sql_error($node, q{SET lock_timeout = '1s'; SELECT * FROM hnsw_index_check('t_v_idx')}),
	qr/canceling statement due to lock timeout/,
	'a role with the privilege waits for the lock');
$locker->query_safe('COMMIT');
$locker->quit;

$node->safe_psql('postgres', 'GRANT SELECT ON t TO nosel');
is(sql_output($node,
		q{SET ROLE nosel; SELECT active, table_rows FROM hnsw_index_check('t_v_idx', true)}),
	'100|100', 'with SELECT granted the role checks the index, table pass included');

# partitioned
$node->safe_psql(
	'postgres', q{
	CREATE TABLE p (id int, v vector(3)) PARTITION BY RANGE (id);
	CREATE TABLE p1 PARTITION OF p FOR VALUES FROM (0) TO (50);
	CREATE TABLE p2 PARTITION OF p FOR VALUES FROM (50) TO (100);
	INSERT INTO p SELECT i, ARRAY[i, 1, 1]::vector FROM generate_series(0, 99) i;
	CREATE INDEX p_v_idx ON p USING hnsw (v vector_l2_ops);
	CREATE INDEX p_id_idx ON p (id);
});
my $part_re = qr/ERROR:  "p_v_idx" is a partitioned index\nDETAIL:  [^\n]*\nHINT:  [^\n]*pg_partition_tree/;
for my $f (qw(hnsw_index_check hnsw_index_info))
{
	my ($rc, $out, $err) = $node->psql('postgres', "SELECT * FROM $f('p_v_idx')");
	like($err, $part_re, "$f on the partitioned index: a clear error with a hint");
	like(sql_error($node, "SELECT * FROM $f('p_id_idx')"), qr/"p_id_idx" is not an hnsw index/,
		"$f on a partitioned btree index: not an hnsw index");
}
is(sql_output($node,
		q{SELECT string_agg(c.active || '/' || c.table_rows, ' ' ORDER BY relid::text)
		  FROM pg_partition_tree('p_v_idx') pt,
			   LATERAL hnsw_index_check(pt.relid, true) c WHERE pt.isleaf}),
	'50/50 50/50', 'the hint\'s query checks each partition\'s index');
like(sql_error($node, q{SELECT * FROM hnsw_index_check('t_pkey')}),
	qr/"t_pkey" is not an hnsw index/, 'a btree index: not an hnsw index');

$node->stop;
done_testing();
