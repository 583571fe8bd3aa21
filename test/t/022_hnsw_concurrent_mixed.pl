# Concurrent INSERT, DELETE, UPDATE, index searches and VACUUM on one hnsw
# index for 60 seconds.
#
# A table of 5,000 random 32-dim vectors gets an hnsw index.  Then, at the
# same time for 60 s:
#   - pgbench -c 4 -j 2 runs weighted scripts: INSERT of a random vector (4),
#     DELETE of the row nearest a random vector, found through the index (2),
#     DELETE of a row picked by id (2), UPDATE of a row's vector (1), and a
#     top-10 search that raises an ERROR unless it returns 10 rows (4);
#   - a second pgbench client runs VACUUM every 0.2 s.
# Both must exit 0 with no failed or aborted transaction, and the server log
# must hold no ERROR, FATAL, PANIC or crash report from that time.  Then,
# after a final VACUUM: hnsw_index_info counts equal the row count,
# hnsw_index_check passes with every live element reachable, a full index
# scan returns every row, and every row is its own nearest neighbour through
# the index at ef_search=100.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../perl";
use HnswTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $DIM = 32;
my $INITIAL = 5000;
my $SECONDS = 60;

my $t0 = time;
my $node = hnsw_node('concurrent_mixed');
$node->safe_psql(
	'postgres', qq{
	SELECT setseed(0.22);
	CREATE TABLE t (id bigserial PRIMARY KEY, v vector($DIM));
	INSERT INTO t (v) SELECT ${\ random_vector_sql($DIM, 'i')}
		FROM generate_series(1, $INITIAL) i;
	CREATE INDEX t_v_idx ON t USING hnsw (v vector_l2_ops)
		WITH (m = 16, ef_construction = 64);
	ANALYZE t;
});
my $start_time = $node->safe_psql('postgres', 'SELECT pg_postmaster_start_time()');

my $vec = random_vector_sql($DIM);
my %scripts = (
	'insert' => [ 4, "INSERT INTO t (v) SELECT $vec;\n" ],
	'delete_knn' => [
		2,
		"DELETE FROM t WHERE id = (SELECT id FROM t ORDER BY v <-> $vec LIMIT 1);\n"
	],
	'delete_id' => [
		2, qq{\\set r random(1, 1000000000)
DELETE FROM t WHERE id = (SELECT id FROM t
	WHERE id >= :r % (SELECT max(id) FROM t) ORDER BY id LIMIT 1);
}
	],
	'update' => [
		1, qq{\\set r random(1, 1000000000)
UPDATE t SET v = $vec WHERE id = (SELECT id FROM t
	WHERE id >= :r % (SELECT max(id) FROM t) ORDER BY id LIMIT 1);
}
	],
	'search' => [
		4, qq{SELECT count(*) AS n FROM (SELECT id FROM t ORDER BY v <-> $vec LIMIT 10) s \\gset
\\if :n < 10
SELECT 'an index search returned fewer than 10 rows'::int;
\\endif
}
	],);
my @args;
for my $name (sort keys %scripts)
{
	my $file = $node->basedir . "/022_$name.sql";
	append_to_file($file, $scripts{$name}[1]);
	push @args, '-f', "$file\@$scripts{$name}[0]";
}
my $vacuum_file = $node->basedir . '/022_vacuum.sql';
append_to_file($vacuum_file, "VACUUM t;\n\\sleep 200 ms\n");

my $log_offset = -s $node->logfile;
note sprintf('setup took %d s', time - $t0);

# every statement must use the index where it can
local $ENV{PGOPTIONS} = '-c enable_seqscan=off';
my ($mixed, $vac) = pgbench_with_vacuum($node, $SECONDS, \@args, $vacuum_file);
my ($out, $err) = @$mixed;
my ($vout, $verr) = @$vac;
for my $run ([ 'mixed', $out, $err ], [ 'VACUUM', $vout, $verr ])
{
	my ($what, $o, $e) = @$run;
	like($o, qr/number of failed transactions: 0 /, "$what: no failed transaction");
	unlike($e, qr/aborted|ERROR|error/, "$what: no client aborted, no error reported");
	my ($done) = $o =~ /number of transactions actually processed: (\d+)/;
	note("$what: " . ($done // '?') . ' transactions');
	diag("$what pgbench: " . join('; ',
		grep { /^(number of transactions actually|number of failed|latency average|tps)/ }
		  split /\n/, $o));
}

# the server log since the start of the run
my $log = slurp_file($node->logfile, $log_offset);
my @bad = grep { /\b(ERROR|FATAL|PANIC|TRAP)\b|terminated by signal|server process/ }
  split /\n/, $log;
is(scalar(@bad), 0, 'no ERROR, FATAL, PANIC or crash in the server log')
  or diag(join("\n", @bad[ 0 .. ($#bad < 19 ? $#bad : 19) ]));
is($node->safe_psql('postgres', 'SELECT pg_postmaster_start_time()'),
	$start_time, 'the server did not restart');

# --- after the run -----------------------------------------------------
my $t1 = time;
$node->safe_psql('postgres', 'VACUUM t');
my $count = $node->safe_psql('postgres', 'SELECT count(*) FROM t');
note("rows after the run: $count");
is($node->safe_psql('postgres', 'SELECT count(DISTINCT v) FROM t'),
	$count, "all $count vectors distinct (self-match is unambiguous)");

my ($rows, $rows_deleted, $rows_active, $elements, $deleted, $active) = split /\|/,
  $node->safe_psql('postgres',
	q{SELECT count_indexed, count_deleted, count_active, elements,
		elements_deleted, elements_active
	  FROM hnsw_index_info('t_v_idx')});
is($active, $count, "hnsw_index_info: $count active elements");
is("$rows|$rows_deleted|$rows_active", "$count|0|$count",
	"hnsw_index_info: $count rows indexed and active, none deleted");
is($elements, $active + $deleted, 'elements = elements_active + elements_deleted');
diag("after the run: $count rows; elements $elements, elements_deleted $deleted");

my ($rc, $check, $cerr) = $node->psql('postgres',
	q{SELECT active, reachable FROM hnsw_index_check('t_v_idx')});
is($rc, 0, 'hnsw_index_check passes') or diag($cerr);
is($check, "$count|$count", "hnsw_index_check: $count active, all reachable");

is( full_scan_count(
		$node, 't', '<->', "(SELECT v FROM t ORDER BY id LIMIT 1)",
		'SET hnsw.iterative_scan = relaxed_order; SET hnsw.max_scan_tuples = 100000000;'
	),
	$count,
	"a full index scan returns all $count rows");

my ($mismatch, $ids) = self_nn_mismatches($node, 't', '<->', 100);
is($mismatch, 0, 'every row is its own nearest neighbour via the index (ef_search=100)')
  or diag("rows not found as their own nearest neighbour (first 20): $ids");
note sprintf('checks took %d s; total %d s', time - $t1, time - $t0);

$node->stop;
done_testing();
