# pg_stat_progress_create_index during a CREATE INDEX that outgrows
# maintenance_work_mem: the build writes the graph it holds ("writing
# pages", tuples_total = its elements) and goes back to "building graph",
# inserting the remaining rows one by one.  Before session 18 tuples_total
# kept the written elements there while tuples_done counted every row
# read, so that done ran far past total (161 of 17,664 in the review).
#
# A procedure in a second session samples the view every few milliseconds,
# a transaction per sample (a transaction sees one snapshot of the other
# backends' progress), while the build runs; every sample must have
# tuples_done <= tuples_total where the total is known, the samples must
# have seen both phases, and the spill must have happened (its NOTICE).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../perl";
use HnswTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = hnsw_node('build_progress');
$node->safe_psql(
	'postgres', q{
	CREATE TABLE p (id int, v vector(64));
	SELECT setseed(0.57);
	INSERT INTO p SELECT i, (SELECT array_agg(random()::real) FROM generate_series(1, 64) WHERE i > 0)::vector
	FROM generate_series(1, 12000) i;
	CREATE TABLE seen (phase text, total bigint, done bigint);
	CREATE PROCEDURE sample(n int) LANGUAGE plpgsql AS $$
	DECLARE
	  got int := 0;
	  k int;
	BEGIN
	  -- wait for the build to start, then sample until it ends
	  FOR i IN 1..n LOOP
	    INSERT INTO seen SELECT phase, tuples_total, tuples_done
	      FROM pg_stat_progress_create_index WHERE relid = 'p'::regclass;
	    GET DIAGNOSTICS k = ROW_COUNT;
	    COMMIT;
	    EXIT WHEN got > 0 AND k = 0;
	    got := got + k;
	    PERFORM pg_sleep(0.003);
	  END LOOP;
	END $$;
});

my $build = bg_start($node,
	"SET maintenance_work_mem = '1MB';\nCREATE INDEX p_idx ON p USING hnsw (v vector_l2_ops);\n");
$node->safe_psql('postgres', 'CALL sample(20000)');
my ($rc, $out, $err) = bg_finish($build);
is($rc, 0, 'CREATE INDEX succeeds') or diag($err);
like($err, qr/outgrew maintenance_work_mem/, 'the build spilled to the pages');

my $res = $node->safe_psql(
	'postgres', q{
	SELECT count(*) FILTER (WHERE phase LIKE '%building graph'),
	       count(*) FILTER (WHERE phase LIKE '%writing pages'),
	       count(*) FILTER (WHERE total > 0 AND done > total)
	FROM seen});
my ($loading, $writing, $past) = split /\|/, $res;
cmp_ok($loading, '>', 10, "samples while building the graph ($loading)");
cmp_ok($writing + $loading, '>', 10, "samples in all ($writing writing pages)");
is($past, 0, 'tuples_done never exceeds a known tuples_total')
  or diag($node->safe_psql('postgres',
	'SELECT * FROM seen WHERE total > 0 AND done > total LIMIT 5'));
is($node->safe_psql('postgres', "SELECT elements FROM hnsw_index_check('p_idx')"),
	'12000', 'the index holds every row');

$node->stop;
done_testing();
