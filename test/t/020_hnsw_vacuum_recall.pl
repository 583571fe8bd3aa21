# Recall and exact counts of an hnsw index through DELETE, VACUUM and
# reinsertion.
#
# Data: 20,000 64-dim vectors from a 50-component Gaussian mixture (as in
# 010, but ids in contiguous runs per center, so that id % 10 is independent
# of the cluster), 100 queries from the same mixture, L2.  An index is built
# over the rows, 10% of them (id % 10 = 0) are deleted, and then:
#   - before VACUUM: no query returns fewer than 10 rows, recall@10 at
#     ef_search=100 against brute force over the remaining rows >= 0.95, and
#     a full index scan returns exactly the 18,000 live rows and hints every
#     deleted element DEAD (elements_deleted = count_deleted = 2000, all
#     20,000 rows still indexed);
#   - VACUUM: the index tuple count it reports (pg_class.reltuples) is 18,000,
#     hnsw_index_info has count_indexed 18000 / count_deleted 0 /
#     count_active 18000 rows in elements 20000 / elements_deleted 2000 /
#     elements_active 18000, hnsw_index_check passes with every live element
#     reachable, and recall stays >= 0.95;
#   - 2,000 new rows reuse the freed slots: elements <= 20,100 (the
#     figure is reported), the check passes, recall >= 0.95.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../perl";
use HnswTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my ($N, $DIM, $CLUSTERS, $NQ, $K) = (20000, 64, 50, 100, 10);
my $MIN_RECALL = 0.95;
my $DELETED = $N / 10;
my $LIVE = $N - $DELETED;
my $REUSE_SLACK = 100;

my $t0 = time;
my $node = hnsw_node('vacuum_recall');

my $points = clustered_select(
	centers => 'centers',
	n => $N,
	dim => $DIM,
	clusters => $CLUSTERS);
my $queries = clustered_select(
	centers => 'centers',
	n => $NQ,
	dim => $DIM,
	clusters => $CLUSTERS,
	assign => 'cycle');
my $new_points = clustered_select(
	centers => 'centers',
	n => $DELETED,
	first => $N + 1,
	dim => $DIM,
	clusters => $CLUSTERS,
	assign => 'cycle');
$node->safe_psql(
	'postgres', make_centers('centers', $CLUSTERS, $DIM, 0.2) . qq{
	CREATE TABLE items (id int PRIMARY KEY, v vector($DIM));
	INSERT INTO items $points;
	CREATE TABLE queries AS SELECT id AS qid, v FROM ($queries) q;
	CREATE TABLE new_items AS $new_points;
	ANALYZE items, queries;
	CREATE INDEX items_v_idx ON items USING hnsw (v vector_l2_ops)
		WITH (m = 16, ef_construction = 64);
});
is($node->safe_psql('postgres', 'SELECT count(DISTINCT v) FROM items'),
	$N, "$N distinct vectors loaded");

# hnsw_index_info as a hash
sub info
{
	my $out = $node->safe_psql('postgres',
		q{SELECT count_indexed, count_deleted, count_active, elements,
			elements_deleted, elements_active, dimensions
		  FROM hnsw_index_info('items_v_idx')});
	my %i;
	@i{qw(rows rows_deleted rows_active elements elements_deleted
		  elements_active dim)} = split /\|/, $out;
	return \%i;
}

# the hash info() returns for these counts (rows, then elements)
sub counts
{
	my %i;
	@i{qw(rows rows_deleted rows_active elements elements_deleted
		  elements_active dim)} = (@_, $DIM);
	return \%i;
}

# hnsw_index_check as a hash; on an ERROR, a failed test naming it and an
# empty hash (so that the rest of the test still runs and reports)
sub check
{
	my ($what) = @_;
	my ($rc, $out, $err) = $node->psql('postgres',
		q{SELECT elements, active, deleted, edges, reachable, pages
		  FROM hnsw_index_check('items_v_idx')});
	my %c;
	if ($rc != 0)
	{
		fail("$what: hnsw_index_check raised no error");
		diag("$what: $err");
		return \%c;
	}
	@c{qw(elements active deleted edges reachable pages)} = split /\|/, $out;
	return \%c;
}

# recall against a fresh brute force over the current rows
my $round = 0;
sub measure
{
	my ($what) = @_;
	$round++;
	make_exact(
		$node,
		into => "exact_$round",
		table => 'items',
		op => '<->',
		queries => 'queries',
		k => $K);
	my $r = recall_stats(
		$node,
		table => 'items',
		op => '<->',
		queries => 'queries',
		exact => "exact_$round",
		k => $K,
		ef => 100);
	like($r->{plan}, qr/Index Scan using items_v_idx on items/,
		"$what: query uses the index");
	cmp_ok($r->{recall}, '>=', $MIN_RECALL,
		"$what: recall\@$K at ef_search=100 >= $MIN_RECALL");
	is($r->{min}, $K, "$what: every query returns $K rows");
	is($r->{inversions}, 0, "$what: distances are non-decreasing");
	diag(sprintf('%s: recall@%d at ef_search=100: %.4f', $what, $K, $r->{recall}));
	return $r->{recall};
}

my $i = info();
is_deeply($i, counts($N, 0, $N, $N, 0, $N), 'after build: counts');
my $c = check('after build');
is($c->{reachable}, $N, "after build: check passes, all $N reachable");
note sprintf('setup took %d s', time - $t0);

# --- DELETE 10% --------------------------------------------------------
is( $node->safe_psql('postgres',
		'WITH d AS (DELETE FROM items WHERE id % 10 = 0 RETURNING 1) SELECT count(*) FROM d'),
	$DELETED,
	"$DELETED rows deleted");
measure('after DELETE, before VACUUM');

# A full relaxed-order scan (no visit bound) returns exactly the live rows;
# it fetches every deleted row's heap tuple, finds it dead to everyone and
# so hints every deleted element DEAD.
my $full = q{SET enable_seqscan = off;
	SET hnsw.iterative_scan = relaxed_order;
	SET hnsw.max_scan_tuples = 100000000;
	SELECT count(*), count(*) FILTER (WHERE id % 10 = 0), count(DISTINCT id)
	FROM (SELECT id FROM items ORDER BY v <-> (SELECT v FROM queries LIMIT 1)
		  LIMIT 100000000) s};
is($node->safe_psql('postgres', $full), "$LIVE|0|$LIVE",
	"before VACUUM: a full index scan returns the $LIVE live rows, no deleted one");
$i = info();
is_deeply(
	$i,
	counts($N, $DELETED, $LIVE, $N, $DELETED, $LIVE),
	'before VACUUM: the full scan hinted every deleted element DEAD');
$c = check('before VACUUM');
is($c->{active}, $LIVE, "before VACUUM: check passes, $LIVE active");

# --- VACUUM ------------------------------------------------------------
my $t1 = time;
$node->safe_psql('postgres', 'VACUUM items');
note sprintf('VACUUM took %d s', time - $t1);
is( $node->safe_psql('postgres',
		q{SELECT reltuples FROM pg_class WHERE relname = 'items_v_idx'}),
	$LIVE,
	"VACUUM reports $LIVE index tuples");
$i = info();
is_deeply(
	$i,
	counts($LIVE, 0, $LIVE, $N, $DELETED, $LIVE),
	"after VACUUM: $LIVE rows, in $N slots of which $DELETED are free");
$c = check('after VACUUM');
is_deeply(
	[ @$c{qw(elements active deleted reachable)} ],
	[ $N, $LIVE, $DELETED, $LIVE ],
	'after VACUUM: check passes, every live element reachable');
is($node->safe_psql('postgres', $full), "$LIVE|0|$LIVE",
	"after VACUUM: a full index scan returns the $LIVE live rows");
my $recall_vacuum = measure('after VACUUM');

# --- reinsertion into the freed slots ---------------------------------
$node->safe_psql('postgres', 'INSERT INTO items SELECT * FROM new_items');
$i = info();
is($i->{elements_active}, $N, "after reinsertion: $N active elements");
is_deeply([ @$i{qw(rows rows_deleted rows_active)} ], [ $N, 0, $N ],
	"after reinsertion: $N rows indexed and active");
is($i->{elements}, $i->{elements_active} + $i->{elements_deleted},
	'elements = elements_active + elements_deleted');
cmp_ok($i->{elements}, '<=', $N + $REUSE_SLACK,
	"after reinsertion: at most $REUSE_SLACK new slots (freed ones reused)");
diag("after inserting $DELETED rows into $DELETED freed slots: elements = $i->{elements}"
	  . " (elements_deleted $i->{elements_deleted})");
$c = check('after reinsertion');
is_deeply(
	[ @$c{qw(elements active reachable)} ],
	[ $i->{elements}, $N, $N ],
	'after reinsertion: check passes, every element reachable');
is( full_scan_count(
		$node, 'items', '<->', '(SELECT v FROM queries LIMIT 1)',
		'SET hnsw.iterative_scan = relaxed_order; SET hnsw.max_scan_tuples = 100000000;'),
	$N,
	"after reinsertion: a full index scan returns all $N rows");
my $recall_insert = measure('after reinsertion');

# a second round: delete other rows, VACUUM, the check and counts again
$node->safe_psql('postgres', 'DELETE FROM items WHERE id % 10 = 5; VACUUM items');
my $left = $node->safe_psql('postgres', 'SELECT count(*) FROM items');
is($left, $N - $DELETED - $DELETED / 10, 'second round: rows left');
$i = info();
is($i->{elements_active}, $left, 'second round: active elements after DELETE and VACUUM');
is_deeply([ @$i{qw(rows rows_deleted rows_active)} ], [ $left, 0, $left ],
	'second round: rows indexed and active after DELETE and VACUUM');
is($i->{elements}, $i->{elements_active} + $i->{elements_deleted},
	'second round: elements = elements_active + elements_deleted');
$c = check('second round');
is($c->{reachable}, $left, 'second round: check passes, every live element reachable');
is( full_scan_count(
		$node, 'items', '<->', '(SELECT v FROM queries LIMIT 1)',
		'SET hnsw.iterative_scan = relaxed_order; SET hnsw.max_scan_tuples = 100000000;'),
	$left,
	"second round: a full index scan returns all $left rows");
measure('second round');

note sprintf('total %d s', time - $t0);
$node->stop;
done_testing();
