# An index of on-disk format version 1 (built before neighbour lists marked
# their fillers) keeps working under this build: its lists' filler and
# unsure marks are ignored (every list change runs the whole heuristic),
# inserts, scans, VACUUM and hnsw_index_check work on it, and REINDEX makes
# it version 2.  The test builds a version 2 index and rewrites the version
# field of its metapage to 1 with the server stopped: the edge marks of a
# version 1 index are arbitrary low bits of its distances, which this build
# must not trust, and a version 2 graph is a valid version 1 graph.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../perl";
use HnswTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my ($DIM, $N, $K) = (16, 2000, 10);
my $node = hnsw_node('format1');
$node->safe_psql(
	'postgres', qq{
	SELECT setseed(0.28);
	CREATE TABLE t (id int PRIMARY KEY, v vector($DIM));
	INSERT INTO t SELECT i, ${\ random_vector_sql($DIM, 'i')}
		FROM generate_series(1, $N) i;
	CREATE INDEX t_v_idx ON t USING hnsw (v vector_l2_ops);
});
is($node->safe_psql('postgres', q{SELECT format_version FROM hnsw_index_info('t_v_idx')}),
	'2', 'a new index is format version 2');

# the metapage: the page header (24 bytes), then magic and version (uint32)
my $file = $node->data_dir . '/'
  . $node->safe_psql('postgres', q{SELECT pg_relation_filepath('t_v_idx')});
$node->safe_psql('postgres', 'CHECKPOINT');
$node->stop;
open(my $fh, '+<', $file) or die "open $file: $!";
binmode $fh;
sysseek($fh, 28, 0) or die "seek: $!";
syswrite($fh, pack('L', 1)) == 4 or die "write: $!";
close $fh;
$node->start;

is($node->safe_psql('postgres', q{SELECT format_version FROM hnsw_index_info('t_v_idx')}),
	'1', 'the index now reads as format version 1');
index_check($node, 't_v_idx', 'version 1 as built');

# grow it by half, delete a fifth, VACUUM: every list change of a version 1
# index goes through the whole heuristic
$node->safe_psql(
	'postgres', qq{
	INSERT INTO t SELECT i, ${\ random_vector_sql($DIM, 'i')}
		FROM generate_series($N + 1, $N * 3 / 2) i;
	DELETE FROM t WHERE id % 5 = 0;
	VACUUM t;
});
my $c = index_check($node, 't_v_idx', 'version 1 after INSERT, DELETE and VACUUM');
is($c->{active}, $N * 3 / 2 * 4 / 5, 'every remaining row has its element');
is($node->safe_psql('postgres', q{SELECT format_version FROM hnsw_index_info('t_v_idx')}),
	'1', 'still format version 1');

# rows are found by their own vector (a random graph: at most 0.1% missed)
cmp_ok($node->safe_psql(
		'postgres', q{
		SET enable_seqscan = off; SET hnsw.ef_search = 100;
		SELECT count(*) FROM t
		WHERE (SELECT u.id FROM t u ORDER BY u.v <-> t.v LIMIT 1) <> t.id}),
	'<=', 2, 'version 1: rows are their own nearest neighbour through the index');

$node->safe_psql('postgres', 'REINDEX INDEX t_v_idx');
is($node->safe_psql('postgres', q{SELECT format_version FROM hnsw_index_info('t_v_idx')}),
	'2', 'REINDEX writes format version 2');
index_check($node, 't_v_idx', 'after REINDEX');

$node->stop;
done_testing();
