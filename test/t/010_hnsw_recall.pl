# Recall of hnsw indexes against brute force, for every opclass, for an
# index built by CREATE INDEX over loaded rows and for one filled by
# inserting the rows into an indexed empty table.
#
# Data: 20,000 64-dim vectors from a 50-component Gaussian mixture (sigma 0.3
# around centers uniform in [-1,1]^64, fixed seed), 100 queries drawn from
# the same mixture.  At hnsw.ef_search = 100 every opclass and build path
# must reach recall@10 >= 0.95, every query must return exactly 10 rows, and
# the rows must come out in non-decreasing distance order.
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

# opclass => operator
my @opclasses = (
	[ 'l2',     'vector_l2_ops',     '<->' ],
	[ 'ip',     'vector_ip_ops',     '<#>' ],
	[ 'cosine', 'vector_cosine_ops', '<=>' ],
	[ 'l1',     'vector_l1_ops',     '<+>' ],);

my $node = hnsw_node('recall');

my $t0 = time;
my $points = clustered_select(
	centers => 'centers',
	n => $N,
	dim => $DIM,
	clusters => $CLUSTERS,
	assign => 'cycle');
my $queries = clustered_select(
	centers => 'centers',
	n => $NQ,
	dim => $DIM,
	clusters => $CLUSTERS,
	assign => 'cycle');
$node->safe_psql(
	'postgres', make_centers('centers', $CLUSTERS, $DIM, 0.42) . qq{
	CREATE TABLE items (id int PRIMARY KEY, v vector($DIM));
	INSERT INTO items $points;
	CREATE TABLE queries AS SELECT id AS qid, v FROM ($queries) q;
	ANALYZE items, queries;
});
is($node->safe_psql('postgres', 'SELECT count(DISTINCT v) FROM items'),
	$N, "$N distinct vectors loaded");
is( $node->safe_psql(
		'postgres', 'SELECT count(*) FROM queries q JOIN items i ON i.v = q.v'),
	0,
	'no query vector is in the table');

# Insertion path: two background sessions (this machine has two cores) each
# create tables with an index on the empty table and insert the rows.
my @bg;
for my $pair ([ @opclasses[ 0, 1 ] ], [ @opclasses[ 2, 3 ] ])
{
	my $sql = '';
	for my $oc (@$pair)
	{
		my ($name, $opclass) = @$oc;
		$sql .= qq{
			CREATE TABLE ins_$name (id int PRIMARY KEY, v vector($DIM));
			CREATE INDEX ins_${name}_idx ON ins_$name
				USING hnsw (v $opclass) WITH (m = 16, ef_construction = 64);
			INSERT INTO ins_$name SELECT id, v FROM items ORDER BY id;
		};
	}
	push @bg, bg_start($node, $sql);
}

# Meanwhile: brute-force ground truth, then CREATE INDEX after loading.
for my $oc (@opclasses)
{
	my ($name, $opclass, $op) = @$oc;
	make_exact(
		$node,
		into => "exact_$name",
		table => 'items',
		op => $op,
		queries => 'queries',
		k => $K);
}
note sprintf('brute force done at %d s', time - $t0);
for my $oc (@opclasses)
{
	my ($name, $opclass) = @$oc;
	$node->safe_psql(
		'postgres', qq{
		CREATE INDEX build_${name}_idx ON items
			USING hnsw (v $opclass) WITH (m = 16, ef_construction = 64)});
}
note sprintf('CREATE INDEX done at %d s', time - $t0);

# The checks of one index: hnsw_index_check, then recall, row counts and
# order over the 100 queries at ef_search = 100.
sub check_index
{
	my ($name, $op, $how, $table, $index) = @_;
	my $what = "$name ($how)";
	my $c = index_check($node, $index, $what, $name eq 'ip');
	is($c->{active}, $N, "$what: $N active elements") if $c;

	my $r = recall_stats(
		$node,
		table => $table,
		op => $op,
		queries => 'queries',
		exact => "exact_$name",
		k => $K,
		ef => 100);
	like($r->{plan}, qr/Index Scan using $index on $table/,
		"$what: query uses $index");
	cmp_ok($r->{recall}, '>=', $MIN_RECALL,
		"$what: recall\@$K at ef_search=100 >= $MIN_RECALL");
	is($r->{rows}, $NQ * $K, "$what: $NQ queries return $NQ*$K rows");
	is($r->{min}, $K, "$what: fewest rows for a query is $K");
	is($r->{max}, $K, "$what: most rows for a query is $K");
	is($r->{inversions}, 0, "$what: distances are non-decreasing");
	diag(sprintf('%s: recall@%d at ef_search=100: %.3f', $what, $K, $r->{recall}));
	return;
}

# The built indexes while the insertion sessions still run ...
for my $oc (@opclasses)
{
	my ($name, $opclass, $op) = @$oc;
	check_index($name, $op, 'build', 'items', "build_${name}_idx");
}

# ... then the inserted ones.
for my $h (@bg)
{
	my ($rc, $out, $err) = bg_finish($h);
	is($rc, 0, 'insertion session succeeded') or diag($err);
}
note sprintf('insertion sessions done at %d s', time - $t0);
for my $oc (@opclasses)
{
	my ($name, $opclass, $op) = @$oc;
	is($node->safe_psql('postgres', "SELECT count(*) FROM ins_$name"),
		$N, "ins_$name holds $N rows");
	check_index($name, $op, 'insert', "ins_$name", "ins_${name}_idx");
}

$node->stop;
done_testing();
