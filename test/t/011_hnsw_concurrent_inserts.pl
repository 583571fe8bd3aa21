# Concurrent inserts into an hnsw index from 8 sessions.
#
# Phase 1: 8 pgbench clients insert 2,000 random 32-dim vectors into a table
# whose index was created while the table was empty, so that the first
# inserts race to become the entry point.  Phase 2: 8 clients insert 1,000
# more while also searching the index in the same transactions.  Then every
# row must be found as its own nearest neighbour through the index, a full
# index scan must reach every row, and recall@10 against brute force must
# be high.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../perl";
use HnswTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $DIM = 32;
my $node = hnsw_node('concurrent');

$node->safe_psql(
	'postgres', qq{
	CREATE TABLE t (id bigserial PRIMARY KEY, v vector($DIM));
	CREATE INDEX t_v_idx ON t USING hnsw (v vector_l2_ops)
		WITH (m = 16, ef_construction = 64);
});

my $random_vec = random_vector_sql($DIM);

$node->pgbench(
	'-n -c 8 -j 2 -t 250',
	0,
	[qr{processed: 2000/2000}],
	[qr{^$}],
	'phase 1: 8 sessions insert 2000 rows into an indexed empty table',
	{ '011_insert.sql' => "INSERT INTO t (v) SELECT $random_vec;\n" },
	'postgres');
is($node->safe_psql('postgres', 'SELECT count(*) FROM t'),
	2000, 'phase 1: 2000 rows');

{
	# the searches in phase 2 must go through the index
	local $ENV{PGOPTIONS} = '-c enable_seqscan=off';
	$node->pgbench(
		'-n -c 8 -j 2 -t 125',
		0,
		[qr{processed: 1000/1000}],
		[qr{^$}],
		'phase 2: 8 sessions insert 1000 rows and search concurrently',
		{
			'011_insert_search.sql' => qq{BEGIN;
INSERT INTO t (v) SELECT $random_vec;
SELECT id FROM t ORDER BY v <-> $random_vec LIMIT 10;
END;
}
		},
		'postgres');
}

my $n = 3000;
is($node->safe_psql('postgres', 'SELECT count(*) FROM t'), $n, "$n rows");
is($node->safe_psql('postgres', 'SELECT count(DISTINCT v) FROM t'),
	$n, 'all vectors distinct (self-match is unambiguous)');

like(
	explain_plan(
		$node,
		'SELECT a.id, (SELECT b.id FROM t b ORDER BY b.v <-> a.v LIMIT 1) FROM t a',
		'SET enable_seqscan = off;'),
	qr/Index Scan using t_v_idx on t b/,
	'self-match query uses the hnsw index');

# Every element reachable: a full streaming scan (relaxed order, so that no
# result is held back for ordering, and no visit bound) returns every row.
is( full_scan_count(
		$node, 't', '<->',
		"(SELECT v FROM t WHERE id = 1)",
		'SET hnsw.iterative_scan = relaxed_order; SET hnsw.max_scan_tuples = 1000000;'
	),
	$n,
	'full index scan returns every row');

my $c = index_check($node, 't_v_idx', 'after concurrent inserts');
is($c->{active}, $n, "$n active elements") if $c;

my ($mismatch, $ids) = self_nn_mismatches($node, 't', '<->', 100);
is($mismatch, 0, 'every row is its own nearest neighbour via the index (ef_search=100)')
  or diag("rows not found as their own nearest neighbour (first 20): $ids");

# Recall against brute force, 50 queries from the same distribution.
$node->safe_psql(
	'postgres', qq{
	SELECT setseed(0.11);
	CREATE TABLE queries AS SELECT qid, ${\ random_vector_sql($DIM, 'qid')} AS v
		FROM generate_series(1, 50) qid;
});
make_exact(
	$node,
	into => 'exact',
	table => 't',
	op => '<->',
	queries => 'queries',
	k => 10);
my $r = recall_stats(
	$node,
	table => 't',
	op => '<->',
	queries => 'queries',
	exact => 'exact',
	k => 10,
	ef => 100);
like($r->{plan}, qr/Index Scan using t_v_idx on t/, 'recall query uses the index');
cmp_ok($r->{recall}, '>=', 0.95, 'recall@10 at ef_search=100 >= 0.95');
is($r->{rows}, 500, '50 queries return 500 rows');
is($r->{min}, 10, 'every query returns 10 rows');
is($r->{inversions}, 0, 'distances are non-decreasing');
diag(sprintf('after concurrent inserts: recall@10 at ef_search=100: %.3f',
	$r->{recall}));

$node->stop;
done_testing();
