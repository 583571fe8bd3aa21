# hnsw_index_info counts rows, as the original service's /status counted
# documents, and keeps the element counts apart.
#
# The service's case: 1,000 vectors indexed under ids x0..x999, then the same
# 1,000 vectors again under y0..y999, gave count_indexed = count_active =
# 2,000.  Here the second 1,000 rows share the first 1,000 elements (up to 8
# identical vectors share one), so:
#   - after both loads: count_indexed 2000, count_deleted 0, count_active
#     2000; elements 1000, elements_deleted 0, elements_active 1000;
#   - DELETE of x0..x99 and y0..y99 (100 elements left without a live row)
#     and of y100..y299 (200 rows whose elements keep their x row): nothing
#     changes until a scan or VACUUM looks (an index does not see DELETEs);
#   - a full ordered index scan (ef_search 1000 covers the whole graph in
#     one round) fetches every row, finds the 400 deleted ones dead to every
#     transaction and hints DEAD the 100 elements all of whose rows are dead:
#     count_deleted 200, count_active 1800 (the 200 deleted y100..y299 stay
#     in it: their elements still hold live rows), count_indexed 2000;
#     elements_deleted 100, elements_active 900;
#   - VACUUM removes the 400 dead rows: count_indexed = count_active = 1600
#     = count(*), count_deleted 0; the 100 emptied elements stay as free
#     slots: elements 1000, elements_deleted 100, elements_active 900.
# Autovacuum is off (hnsw_node), so only this test's scans and VACUUM act.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../perl";
use HnswTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $DIM = 8;
my $node = hnsw_node('info_rows');

# the 1,000 vectors, fixed by the seed
$node->safe_psql('postgres', qq{
	SELECT setseed(0.25);
	CREATE TABLE src AS
		SELECT i, ${\ random_vector_sql($DIM, 'i') } AS v
		FROM generate_series(0, 999) i;
	CREATE TABLE docs (id text PRIMARY KEY, embedding vector($DIM));
	CREATE INDEX docs_idx ON docs USING hnsw (embedding vector_l2_ops);
});
is($node->safe_psql('postgres', 'SELECT count(DISTINCT v) FROM src'),
	1000, '1000 distinct vectors');

# as the service's clients indexed: 100 documents per request
for my $prefix ('x', 'y')
{
	for (my $start = 0; $start < 1000; $start += 100)
	{
		$node->safe_psql('postgres', qq{
			INSERT INTO docs SELECT '$prefix' || i, v FROM src
			WHERE i >= $start AND i < $start + 100 ORDER BY i});
	}
}

my @COLS = qw(count_indexed count_deleted count_active
  elements elements_deleted elements_active);

# hnsw_index_info's six counts as a hash
sub info
{
	my $out = $node->safe_psql('postgres',
		'SELECT ' . join(', ', @COLS) . q{ FROM hnsw_index_info('docs_idx')});
	my %i;
	@i{@COLS} = split /\|/, $out;
	return \%i;
}

sub counts
{
	my %c;
	@c{@COLS} = @_;
	return \%c;
}

is_deeply(info(), counts(2000, 0, 2000, 1000, 0, 1000),
	'x0..x999 and y0..y999, the same vectors: 2000 rows indexed and active, in 1000 elements');

$node->safe_psql('postgres', q{
	DELETE FROM docs WHERE substr(id, 2)::int < 100;
	DELETE FROM docs WHERE id LIKE 'y%' AND substr(id, 2)::int BETWEEN 100 AND 299;
});
is($node->safe_psql('postgres', 'SELECT count(*) FROM docs'), 1600, '400 rows deleted');
is_deeply(info(), counts(2000, 0, 2000, 1000, 0, 1000),
	'after DELETE, before any scan: the index has not seen the deletions');

# a full ordered scan: every element is a result of the first round
my $scanned = $node->safe_psql('postgres', q{
	SET enable_seqscan = off;
	SET hnsw.ef_search = 1000;
	SET hnsw.iterative_scan = relaxed_order;
	SELECT count(*) FROM (SELECT id FROM docs
		ORDER BY embedding <-> (SELECT v FROM src WHERE i = 500)) s;
});
is($scanned, 1600, 'a full index scan returns the 1600 live rows');
is_deeply(info(), counts(2000, 200, 1800, 1000, 100, 900),
	'after the scan: the 200 rows of the 100 elements hinted DEAD are counted deleted');

$node->safe_psql('postgres', 'VACUUM docs');
is_deeply(info(), counts(1600, 0, 1600, 1000, 100, 900),
	'after VACUUM: 1600 rows, none deleted; the 100 emptied elements are free slots');
is($node->safe_psql('postgres', 'SELECT count(*) FROM docs'), 1600,
	'count_active equals count(*) after VACUUM');

my ($ok, $out, $err) = (0, '', '');
$ok = $node->psql('postgres', q{SELECT * FROM hnsw_index_check('docs_idx')},
	stdout => \$out, stderr => \$err);
is($ok, 0, 'hnsw_index_check passes') or diag($err);

$node->stop;
done_testing();
