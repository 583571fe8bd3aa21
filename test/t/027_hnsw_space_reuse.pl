# Space reuse: delete every row, VACUUM, insert as many rows again, 21
# times over, and the index must stop growing after the first cycle.
#
# Two tables of 4,000 rows of uniform random vector(3), each with an hnsw
# index (m = 16, ef_construction = 64).  Every cycle deletes all rows,
# VACUUMs (which frees every element slot), and inserts 4,000 rows: into
# "same" the same rows again, into "fresh" new random rows.  The index
# after the first cycle (inserts do not pack pages as CREATE INDEX does) is
# the reference: after 20 further cycles it must have grown by at most 2%
# in pages.  Freed slots come in every level, and an element of
# level L needs a slot whose neighbour tuple can take level L, shrunk or
# grown in place; before the free space map recorded the level a page can
# take, an element whose first page did not fit was appended, and the
# index grew by 2-3% a cycle.  After the cycles: the counts are exact
# (4,000 active elements, 4,000 active rows, count_indexed = count_active +
# count_deleted), hnsw_index_check passes with every element reachable, and
# for 25 queries an index scan ORDER BY v <-> q LIMIT 10 (ef_search = 100)
# returns exactly the 10 rows a sequential scan finds.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../perl";
use HnswTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my ($N, $CYCLES, $NQ, $K) = (4000, 21, 25, 10);
my $MAX_GROWTH_PCT = 2;

my $t0 = time;
my $node = hnsw_node('space_reuse');

sub info
{
	my ($table) = @_;
	my $out = $node->safe_psql('postgres',
		qq{SELECT pages, count_indexed, count_deleted, elements_active,
			count_active FROM hnsw_index_info('${table}_idx')});
	my %i;
	@i{qw(pages indexed deleted active tids)} = split /\|/, $out;
	return \%i;
}

$node->safe_psql(
	'postgres', qq{
	SELECT setseed(0.25);
	CREATE TABLE src AS SELECT i AS id,
		ARRAY[random(), random(), random()]::vector(3) AS v
		FROM generate_series(1, $N) i;
	CREATE TABLE queries AS SELECT q AS qid,
		ARRAY[random(), random(), random()]::vector(3) AS v
		FROM generate_series(1, $NQ) q;
});

for my $table (qw(same fresh))
{
	my $t = time;
	$node->safe_psql(
		'postgres', qq{
		CREATE TABLE $table (id int, v vector(3));
		INSERT INTO $table SELECT id, v FROM src;
		CREATE INDEX ${table}_idx ON $table USING hnsw (v vector_l2_ops)
			WITH (m = 16, ef_construction = 64);
	});
	my @pages = (info($table)->{pages});
	for my $c (1 .. $CYCLES)
	{
		my $insert =
		  $table eq 'same'
		  ? "INSERT INTO same SELECT id, v FROM src"
		  : "SELECT setseed($c / 64.0); INSERT INTO fresh SELECT i,"
		  . " ARRAY[random(), random(), random()]::vector(3)"
		  . " FROM generate_series(1, $N) i";
		$node->safe_psql(
			'postgres', qq{
			DELETE FROM $table;
			VACUUM $table;
			$insert;
		});
		push @pages, info($table)->{pages};
	}
	my $i = info($table);
	my ($first, $last) = ($pages[1], $pages[-1]);
	note sprintf('%s (%d s): pages after CREATE INDEX and each cycle: %s',
		$table, time - $t, join(' ', @pages));
	cmp_ok($last * 100, '<=', $first * (100 + $MAX_GROWTH_PCT),
		"$table: $last pages after cycle $CYCLES, at most ${MAX_GROWTH_PCT}% above"
		  . " the $first after cycle 1");
	is_deeply([ @$i{qw(active tids)} ], [ $N, $N ],
		"$table: $N active elements, $N active rows");
	is($i->{indexed}, $i->{active} + $i->{deleted},
		"$table: count_indexed = count_active + count_deleted");
	diag(sprintf('%s: %d pages after cycle 1, %d after cycle %d (%+.1f%%);'
		  . ' count_indexed %d, count_deleted %d',
		$table, $first, $last, $CYCLES, 100.0 * ($last - $first) / $first,
		$i->{indexed}, $i->{deleted}));
	index_check($node, "${table}_idx", "$table after $CYCLES cycles");

	# the exact top-$K of every query, by a sequential scan and by the index
	my $topk = qq{SELECT q.qid, s.ids FROM queries q CROSS JOIN LATERAL
		(SELECT array_agg(id ORDER BY id) AS ids, count(*) AS n FROM
			(SELECT id FROM $table ORDER BY v <-> q.v LIMIT $K) x) s
		ORDER BY q.qid};
	my $plan = explain_plan($node, $topk,
		'SET enable_seqscan = off; SET hnsw.ef_search = 100;');
	like($plan, qr/Index Scan using ${table}_idx/,
		"$table: the top-$K query uses the index");
	my $exact = $node->safe_psql('postgres',
		"SET enable_indexscan = off; SET enable_bitmapscan = off; $topk");
	my $via_index = $node->safe_psql('postgres',
		"SET enable_seqscan = off; SET hnsw.ef_search = 100; $topk");
	my @rows = split /\n/, $exact;
	is(scalar @rows, $NQ, "$table: $NQ exact results");
	is($via_index, $exact,
		"$table: the index returns exactly the $K nearest rows of every query");
}

note sprintf('total %d s', time - $t0);
$node->stop;
done_testing();
