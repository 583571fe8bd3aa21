# CREATE INDEX under a compact storage when the graph outgrows
# maintenance_work_mem: the build replaces the vectors it holds by their
# codes and goes on in memory (distances to the codes, as an insert into
# the pages computes them); only when the codes outgrow the limit too, or
# under float4, are the remaining rows inserted into the pages one by one.
# Before, every storage went to the pages as soon as the float4 vectors
# filled the limit.
#
# 1,500 rows of 256 dimensions (10 overlapping Gaussian clusters), 100
# queries, L2, maintenance_work_mem = 1MB: about 750 vectors fit (1.3 kB
# each with the level-0 list), and then
#   float4  spills to the pages (NOTICE, no conversion);
#   sq8     converts and keeps all 1,500 in memory (about 0.6 kB each);
#   sq4     the same (about 0.5 kB each);
#   half    converts, then spills once its codes fill the limit too (about
#           0.85 kB each: more than 1.5 times as many rows as vectors).
# Each index must pass hnsw_index_check with the table pass (every row),
# give the seq scan's top 10 exactly at ef_search 800 (but sq4, whose
# strict-order scans drop late finds even when built with ample memory),
# and reach, at ef_search 10, 40 and 800, the recall against brute force
# of the same storage's index built with ample memory, less a margin (the
# two builds draw different levels).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../perl";
use HnswTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my ($N, $DIM, $CLUSTERS, $NQ) = (1500, 256, 10, 100);
my ($FIT_LO, $FIT_HI) = (500, 1000);    # vectors that fit in 1MB
my %MARGIN = (10 => 0.04, 40 => 0.02, 800 => 0.01);

my $node = hnsw_node('build_codes');
$node->safe_psql(
	'postgres', make_centers('centers', $CLUSTERS, $DIM, 0.37) . qq{
	CREATE TABLE items (id int, v vector($DIM));
	ALTER TABLE items ALTER COLUMN v SET STORAGE PLAIN;
	INSERT INTO items ${\ clustered_select(centers => 'centers', n => $N,
		dim => $DIM, clusters => $CLUSTERS, sigma => 1.0, assign => 'cycle')};
	CREATE TABLE queries AS SELECT id AS qid, v FROM (${\ clustered_select(
		centers => 'centers', n => $NQ, first => 10 * $N, dim => $DIM,
		clusters => $CLUSTERS, sigma => 1.0, assign => 'cycle')}) q;
});
make_exact($node, table => 'items', queries => 'queries', op => '<->',
	into => 'exact');

# CREATE INDEX $name at maintenance_work_mem $mem; returns what it printed
# at client_min_messages = debug1 (the NOTICE of a spill, the DEBUG line
# of the conversion)
sub build
{
	my ($name, $storage, $mem) = @_;
	my ($out, $err) = ('', '');
	my $rc = $node->psql(
		'postgres', qq{SET maintenance_work_mem = '$mem';
		SET client_min_messages = debug1;
		CREATE INDEX $name ON items USING hnsw (v vector_l2_ops)
			WITH (storage = $storage);},
		stdout => \$out,
		stderr => \$err);
	is($rc, 0, "$storage: CREATE INDEX $name at maintenance_work_mem $mem")
	  or diag($err);
	return $err;
}

sub converted_at
{
	my ($log) = @_;
	return $log =~ /keeps codes instead of vectors after (\d+) elements/
	  ? $1 : undef;
}

sub spilled_at
{
	my ($log) = @_;
	return $log =~ /outgrew maintenance_work_mem after (\d+) elements/
	  ? $1 : undef;
}

# recall at ef 10 and 40, and exactness at ef 800, of $index (the only
# index on the table)
sub measure
{
	my ($index, $what) = @_;
	my %r;
	for my $ef (10, 40, 800)
	{
		my $s = recall_stats($node, table => 'items', queries => 'queries',
			op => '<->', exact => 'exact', ef => $ef);
		like($s->{plan}, qr/Index Scan using $index/, "$what: ef $ef uses $index");
		$r{$ef} = $s->{recall};
		is($s->{inversions}, 0, "$what: ef $ef returns rows in distance order");
		is($s->{min}, 10, "$what: ef $ef returns 10 rows for every query");
	}
	# sq4's codes leave late finds that strict_order drops (README)
	is($r{800}, 1, "$what: ef 800 gives the seq scan's top 10 for every query")
	  unless $index =~ /sq4/;
	diag(sprintf("%s: recall\@10 %.4f at ef 10, %.4f at ef 40", $what, $r{10}, $r{40}));
	return \%r;
}

for my $storage (qw(float4 half sq8 sq4))
{
	my $small = build("small_$storage", $storage, '1MB');
	my ($conv, $spill) = (converted_at($small), spilled_at($small));
	diag("$storage at 1MB: "
		  . (defined $conv ? "codes after $conv, " : 'no conversion, ')
		  . (defined $spill ? "spilled after $spill" : 'all in memory'));
	if ($storage eq 'float4')
	{
		ok(!defined $conv, 'float4: no conversion');
		ok(defined $spill && $spill >= $FIT_LO && $spill <= $FIT_HI,
			"float4: spills to the pages after $FIT_LO-$FIT_HI vectors");
	}
	elsif ($storage eq 'half')
	{
		ok(defined $conv && $conv >= $FIT_LO && $conv <= $FIT_HI,
			"half: keeps codes after $FIT_LO-$FIT_HI vectors");
		ok(defined $spill && defined $conv && $spill > 1.5 * $conv && $spill < $N,
			'half: spills later, after more than 1.5 times as many rows');
	}
	else
	{
		ok(defined $conv && $conv >= $FIT_LO && $conv <= $FIT_HI,
			"$storage: keeps codes after $FIT_LO-$FIT_HI vectors");
		ok(!defined $spill, "$storage: all $N rows stay in memory");
	}
	my $c = index_check($node, "small_$storage", "$storage at 1MB");
	is($c->{active}, $N, "$storage at 1MB: $N active elements") if $c;
	my $rows = $node->safe_psql('postgres',
		"SELECT table_rows FROM hnsw_index_check('small_$storage', true)");
	is($rows, $N, "$storage at 1MB: the table pass counts $N rows");

	my $rs = measure("small_$storage", "$storage at 1MB");
	$node->safe_psql('postgres', "DROP INDEX small_$storage");

	my $large = build("large_$storage", $storage, '256MB');
	ok(!defined converted_at($large) && !defined spilled_at($large),
		"$storage at 256MB: all in memory as vectors");
	my $rl = measure("large_$storage", "$storage at 256MB");
	$node->safe_psql('postgres', "DROP INDEX large_$storage");
	for my $ef (10, 40, 800)
	{
		cmp_ok($rs->{$ef}, '>=', $rl->{$ef} - $MARGIN{$ef},
			"$storage: recall at ef $ef of the small-memory build within $MARGIN{$ef} of the ample one");
	}
}

$node->stop;
done_testing();
