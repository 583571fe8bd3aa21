# The same rows loaded the same way give the same graph: an element's
# level is a hash of its heap TID and of the index's relfilenode
# (hnsw_tid_level), and the walks that place duplicates draw from the
# element's id, so nothing depends on the backend's random state.  A
# failing recall test, or a bench figure, can then be repeated exactly.
#
# Two fresh clusters run the same script: an index built over 3,000
# clustered 16-dim rows and 400 copies of one vector (the copies go
# through the duplicate tree walk), 30% of the rows deleted and VACUUMed,
# 300 rows inserted after; and an index made on an empty table and filled
# by INSERTs (its first element placed by the metapage's path).  Both
# clusters must give the same levels (element by element, found by heap
# TID in the index's pages), the same edge count and the same answers
# to 100 queries at ef_search 10.  With levels from the backend's random
# generator, as before, two clusters gave different levels every time.
#
# The levels must still be the paper's: a share of about 1/m above
# level 0 (here m 16: 6.25%, checked within 4 standard deviations), and
# a REINDEX (a new relfilenode) must draw them afresh -- unless
# hnsw.level_seed is set: then any index of the same rows (here a half
# index beside the float4 one) gets the same levels, and a REINDEX keeps
# them.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../perl";
use HnswTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my ($N, $DIM, $CLUSTERS, $NQ) = (3000, 16, 10, 100);

my $script = make_centers('centers', $CLUSTERS, $DIM, 0.61) . qq{
	CREATE TABLE built (id int, v vector($DIM));
	INSERT INTO built ${\ clustered_select(centers => 'centers', n => $N,
		dim => $DIM, clusters => $CLUSTERS, sigma => 0.2)};
	INSERT INTO built SELECT $N + i, (SELECT v FROM built WHERE id = 1)
		FROM generate_series(1, 400) i;
	CREATE INDEX built_idx ON built USING hnsw (v vector_l2_ops)
		WITH (m = 16, ef_construction = 40);
	DELETE FROM built WHERE id % 10 < 3;
	VACUUM built;
	INSERT INTO built ${\ clustered_select(centers => 'centers', n => 300,
		first => 10 * $N, dim => $DIM, clusters => $CLUSTERS, sigma => 0.2)};
	CREATE TABLE grown (id int, v vector($DIM));
	CREATE INDEX grown_idx ON grown USING hnsw (v vector_l2_ops)
		WITH (m = 16, ef_construction = 40);
	CREATE TABLE queries AS SELECT id AS qid, v FROM (${\ clustered_select(
		centers => 'centers', n => $NQ, first => 20 * $N, dim => $DIM,
		clusters => $CLUSTERS, sigma => 0.2)}) q;
};
# grown: the rows of built with ids up to 2,000 left, a statement each 100
my $grow = join('',
	map {
		"INSERT INTO grown SELECT id, v FROM built WHERE id > $_ * 100 "
		  . "AND id <= ($_ + 1) * 100 AND id <= 2000 ORDER BY id;\n"
	} 0 .. 19);

# heap TID => level of every element of $index, read from its pages
sub levels
{
	my ($node, $index) = @_;
	$node->safe_psql('postgres', 'CHECKPOINT');
	my $file = index_file($node, $index);
	my %level;
	for my $blk (1 .. (-s $file) / 8192 - 1)
	{
		for my $e (page_elements(read_block($file, $blk)))
		{
			$level{$_} = $e->{level} for @{ $e->{tids} };
		}
	}
	return \%level;
}

# what the two clusters must agree on, for one index
sub fingerprint
{
	my ($node, $table) = @_;
	my $check = $node->safe_psql('postgres',
		"SELECT elements, edges FROM hnsw_index_check('${table}_idx')");
	my $answers = $node->safe_psql(
		'postgres', qq{
		SET enable_seqscan = off;
		SET hnsw.ef_search = 10;
		SELECT md5(string_agg(r.ids, ';' ORDER BY q.qid)) FROM queries q,
			LATERAL (SELECT string_agg(id::text, ',') AS ids FROM
				(SELECT id FROM $table ORDER BY v <-> q.v LIMIT 10) s) r});
	my $levels = levels($node, "${table}_idx");
	my $upper = grep { $_ > 0 } values %$levels;
	return {
		check => $check,
		answers => $answers,
		levels => $levels,
		rows => scalar(keys %$levels),
		upper => $upper
	};
}

my %fp;
my @nodes;
for my $name ('first', 'second')
{
	my $node = hnsw_node("reproducible_$name");
	$node->safe_psql('postgres', $script);
	$node->safe_psql('postgres', $grow);
	$fp{$name}{$_} = fingerprint($node, $_) for ('built', 'grown');
	push @nodes, $node;
}

for my $t ('built', 'grown')
{
	my ($a, $b) = ($fp{first}{$t}, $fp{second}{$t});
	ok($a->{rows} > 1000, "$t: levels read for $a->{rows} rows");
	my $differ = grep { ($b->{levels}{$_} // -1) != $a->{levels}{$_} }
	  keys %{ $a->{levels} };
	is($differ, 0, "$t: the same level for every row in both clusters");
	is($b->{check}, $a->{check},
		"$t: the same elements and edges in both clusters ($a->{check})");
	is($b->{answers}, $a->{answers},
		"$t: the same answers to $NQ queries at ef_search 10");
	# Binomial(rows, 1/16): within 4 standard deviations of the mean
	my ($n, $p) = ($a->{rows}, 1 / 16);
	my $sd = sqrt($n * $p * (1 - $p));
	cmp_ok(abs($a->{upper} - $n * $p), '<=', 4 * $sd,
		sprintf('%s: %d of %d rows above level 0, expected %.0f +- %.0f',
			$t, $a->{upper}, $n, $n * $p, 4 * $sd));
}

# a REINDEX draws again: another relfilenode, other levels
my $before = levels($nodes[0], 'built_idx');
$nodes[0]->safe_psql('postgres', 'REINDEX INDEX built_idx');
my $after = levels($nodes[0], 'built_idx');
my $moved = grep { ($after->{$_} // -1) != $before->{$_} } keys %$before;
cmp_ok($moved, '>', 0.05 * keys %$before,
	"REINDEX draws new levels ($moved of ${\ scalar keys %$before} rows moved)");

# hnsw.level_seed: the same levels in any index of the same rows, whatever
# its storage, and kept by a REINDEX
sub same_levels
{
	my ($x, $y) = @_;
	return scalar grep { ($y->{$_} // -1) != $x->{$_} } keys %$x;
}
$nodes[0]->safe_psql(
	'postgres', q{
	SET hnsw.level_seed = 7;
	REINDEX INDEX built_idx;
	CREATE INDEX built_half_idx ON built USING hnsw (v vector_l2_ops)
		WITH (m = 16, ef_construction = 40, storage = half);});
my $seeded = levels($nodes[0], 'built_idx');
my $half = levels($nodes[0], 'built_half_idx');
is(same_levels($seeded, $half), 0,
	'level_seed: a half index gets the float4 index\'s levels for every row');
cmp_ok(same_levels($after, $seeded), '>', 0.05 * keys %$after,
	'level_seed: other levels than the file number gave');
$nodes[0]->safe_psql('postgres',
	'SET hnsw.level_seed = 7; REINDEX INDEX built_idx');
is(same_levels($seeded, levels($nodes[0], 'built_idx')), 0,
	'level_seed: a REINDEX under the same seed keeps every level');
$nodes[0]->safe_psql('postgres',
	'SET hnsw.level_seed = 8; REINDEX INDEX built_half_idx');
cmp_ok(same_levels($seeded, levels($nodes[0], 'built_half_idx')), '>',
	0.05 * keys %$seeded, 'level_seed: another seed, other levels');

done_testing();
