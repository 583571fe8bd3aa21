# Crash recovery of an hnsw index.
#
# A table of 2,000 random 32-dim vectors gets an hnsw index (CREATE INDEX),
# then 4 pgbench clients insert into it until the server is stopped in
# immediate mode (the postmaster's children are killed: no shutdown
# checkpoint, recovery replays the WAL).  After restart every committed row
# must be reachable through the index: a full index scan with a high
# hnsw.max_scan_tuples returns count(*) rows, and every row is found as its
# own nearest neighbour.  VACUUM (removing the rows of the transactions the
# crash aborted) and further inserts must work, and a second crash cycle
# must leave the index as sound.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../perl";
use HnswTest;
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);

my $DIM = 32;
my $INITIAL = 2000;

# Commits are acknowledged only once in the WAL (which survives the kill:
# fsync = off matters only to an OS crash).  Full-page writes on, as in
# production.
my $node = hnsw_node('crash',
	conf => [
		'synchronous_commit = on', 'full_page_writes = on',
		'wal_consistency_checking = generic' ]);

my $random_vec = random_vector_sql($DIM);
$node->safe_psql(
	'postgres', qq{
	SELECT setseed(0.13);
	CREATE TABLE t (id bigserial PRIMARY KEY, v vector($DIM));
	INSERT INTO t (v) SELECT ${\ random_vector_sql($DIM, 'i')}
		FROM generate_series(1, $INITIAL) i;
	CREATE INDEX t_v_idx ON t USING hnsw (v vector_l2_ops)
		WITH (m = 16, ef_construction = 64);
});

my $script = $node->basedir . '/013_insert.sql';
append_to_file($script, "INSERT INTO t (v) SELECT $random_vec;\n");

# Checks that every row of t is reachable through the index.
sub check_index
{
	my ($what) = @_;
	my $count = $node->safe_psql('postgres', 'SELECT count(*) FROM t');
	is($node->safe_psql('postgres', 'SELECT count(DISTINCT v) FROM t'),
		$count, "$what: all $count vectors distinct");
	like(
		explain_plan(
			$node, 'SELECT id FROM t ORDER BY v <-> (SELECT v FROM t LIMIT 1)',
			'SET enable_seqscan = off;'),
		qr/Index Scan using t_v_idx on t/,
		"$what: full scan query uses the index");

	# Full streaming scans from three starting queries: with no visit bound
	# and relaxed order (which returns every element it visits), every row.
	for my $q ("(SELECT v FROM t ORDER BY id LIMIT 1)",
		"(SELECT v FROM t ORDER BY id DESC LIMIT 1)", $random_vec)
	{
		is( full_scan_count(
				$node, 't', '<->', $q,
				'SET hnsw.iterative_scan = relaxed_order; SET hnsw.max_scan_tuples = 100000000;'
			),
			$count,
			"$what: full index scan returns all $count rows");
	}
	# strict_order (the default) drops late finds nearer than a row already
	# returned, to keep the order, so it may return fewer (noted only).
	my $strict = full_scan_count($node, 't', '<->',
		'(SELECT v FROM t ORDER BY id LIMIT 1)',
		'SET hnsw.max_scan_tuples = 100000000;');
	cmp_ok($strict, '<=', $count, "$what: strict_order full scan returns at most all rows");
	note("$what: strict_order full scan returned $strict of $count rows");

	# Before a VACUUM, the elements of inserts the crash aborted still hold
	# their (dead) heap TIDs, so are active too; one the crash cut before its
	# links were logged is unreachable, which is sound as its row is dead
	# (VACUUM frees it).
	my $c = index_check($node, 't_v_idx', $what, 0, $count);
	cmp_ok($c->{active}, '>=', $count, "$what: at least $count active elements") if $c;

	my ($mismatch, $ids) = self_nn_mismatches($node, 't', '<->', 100);
	is($mismatch, 0,
		"$what: every row is its own nearest neighbour via the index")
	  or diag("not found as their own nearest neighbour (first 20): $ids");
	return $count;
}

my $count = check_index('after build');
is($count, $INITIAL, "after build: $INITIAL rows");

for my $cycle (1, 2)
{
	my ($out, $err) = ('', '');
	my $h = IPC::Run::start(
		[
			'pgbench', '-n', '-c', '4', '-j', '2', '-T', '120',
			'-f', $script, '-h', $node->host, '-p', $node->port, 'postgres'
		],
		'>', \$out, '2>', \$err,
		IPC::Run::timeout($PostgreSQL::Test::Utils::timeout_default));

	# let the inserts run until some hundreds have committed
	my $target = $count + 400;
	my $now = $count;
	for (my $i = 0; $i < 600 && $now < $target; $i++)
	{
		usleep(100_000);
		$now = $node->safe_psql('postgres', 'SELECT count(*) FROM t');
	}
	cmp_ok($now, '>=', $target, "cycle $cycle: inserts under way ($now rows)");
	usleep(500_000);

	$node->stop('immediate');
	# pgbench fails once its connections are gone; that is expected
	eval { $h->finish; };
	$h->kill_kill if $h->pumpable;
	note("cycle $cycle: pgbench after the crash: " . ($err =~ s/\n.*//sr));
	$node->start;

	my $after = check_index("cycle $cycle, after crash recovery");
	cmp_ok($after, '>=', $now, "cycle $cycle: rows seen committed before the crash survived");

	# VACUUM removes the heap tuples of the inserts the crash aborted, and
	# with them their TIDs from the index.
	$node->safe_psql('postgres', 'VACUUM t');
	check_index("cycle $cycle, after VACUUM");
	my $c = index_check($node, 't_v_idx', "cycle $cycle, after VACUUM");
	is($c->{active}, $after, "cycle $cycle, after VACUUM: exactly $after active elements")
	  if $c;

	# and the recovered index takes more inserts
	$node->pgbench(
		'-n -c 4 -j 2 -t 50',
		0,
		[qr{processed: 200/200}],
		[qr{^$}],
		"cycle $cycle: 200 more inserts after recovery",
		{ "013_insert_after_$cycle.sql" => "INSERT INTO t (v) SELECT $random_vec;\n" },
		'postgres');
	$count = check_index("cycle $cycle, after more inserts");
	is($count, $after + 200, "cycle $cycle: 200 rows added");
}

$node->stop;
done_testing();
