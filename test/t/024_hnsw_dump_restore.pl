# pg_dump / pg_restore round trips of a database with hnsw indexes.
#
# Database "src": 5,000 clustered 32-dim rows with an L2 index (m = 12,
# ef_construction = 80) and a cosine index (defaults), after a DELETE of 5%
# of the rows and a VACUUM (so the source indexes hold free slots).  It is
# dumped in custom format and restored with pg_restore -j 2 into "fc", and
# dumped as plain SQL and restored with psql into "plain".  In each
# restored database:
#   - the data is identical (same rows, same vectors),
#   - both indexes exist with their options (m, ef_construction) and are
#     used by ORDER BY ... LIMIT queries,
#   - hnsw_index_check passes and hnsw_index_info counts equal the source's
#     live counts (rows indexed and active, active elements; no deleted slot
#     after the rebuild), with the same dimensions, m, ef_construction,
#     format,
#   - top-10 results at ef_search=1000 (the widest beam) for 30 queries
#     match brute force: of the 300 rows returned per index, at least 297
#     lie within the true top-10 distance of their query (to 6 decimals, so
#     tied rows count: the cosine index ranks by float4 on normalised
#     vectors), as in the source.  Not all 300: an approximate graph, built
#     anew by the restore, can leave a row that only far elements link to
#     undiscovered by the first round's beam (seen about once in 200
#     queries), and strict order then drops it.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../perl";
use HnswTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my ($N, $DIM, $CLUSTERS, $NQ, $K) = (5000, 32, 20, 30, 10);

my $t0 = time;
my $node = hnsw_node('dump_restore');
$node->safe_psql('postgres', 'CREATE DATABASE src');
$node->safe_psql(
	'src', 'CREATE EXTENSION hnswsearch;'
	  . make_centers('centers', $CLUSTERS, $DIM, 0.24) . qq{
	CREATE TABLE items (id int PRIMARY KEY, v vector($DIM), note text);
	INSERT INTO items SELECT id, v, 'row ' || id FROM (${\ clustered_select(
		centers => 'centers', n => $N, dim => $DIM, clusters => $CLUSTERS)}) s;
	CREATE TABLE queries AS SELECT id AS qid, v FROM (${\ clustered_select(
		centers => 'centers', n => $NQ, dim => $DIM, clusters => $CLUSTERS,
		assign => 'cycle')}) q;
	CREATE INDEX items_l2_idx ON items USING hnsw (v vector_l2_ops)
		WITH (m = 12, ef_construction = 80);
	CREATE INDEX items_cos_idx ON items USING hnsw (v vector_cosine_ops);
	DELETE FROM items WHERE id % 20 = 7;
	VACUUM ANALYZE items;
	ANALYZE queries;
});
my $live = $N - $N / 20;

my @indexes = (
	[ 'items_l2_idx',  '<->', 12, 80 ],
	[ 'items_cos_idx', '<=>', 16, 64 ],);

# per index: info fields, and the number of returned rows (of NQ * K)
# within their query's true top-k distance
sub describe
{
	my ($db) = @_;
	my %d;
	$d{data} = $node->safe_psql($db,
		q{SELECT count(*), md5(string_agg(id || ':' || v::text || ':' || note, ',' ORDER BY id))
		  FROM items});
	for my $ix (@indexes)
	{
		my ($name, $op) = @$ix;
		$d{$name}{info} = $node->safe_psql($db,
			qq{SELECT count_indexed, count_deleted, count_active, elements,
					  elements_deleted, elements_active,
					  dimensions, m, ef_construction, format_version
			   FROM hnsw_index_info('$name')});
		my ($rc, $out, $err) = $node->psql($db,
			qq{SELECT active, reachable FROM hnsw_index_check('$name')});
		$d{$name}{check} = $rc == 0 ? $out : "ERROR: $err";
		$d{$name}{plan} = $node->safe_psql($db,
			"SET enable_seqscan = off; EXPLAIN (COSTS OFF) SELECT id FROM items
			 ORDER BY v $op (SELECT v FROM queries LIMIT 1) LIMIT $K");
		$d{$name}{equal} = $node->safe_psql(
			$db, qq{
			SET hnsw.ef_search = 1000;
			SET enable_seqscan = off;
			WITH ix AS MATERIALIZED (
				SELECT q.qid, s.ids, s.ds FROM queries q, LATERAL
					(SELECT array_agg(id ORDER BY d, id) AS ids,
							array_agg(round(d::numeric, 6) ORDER BY d, id) AS ds FROM
					(SELECT id, v $op q.v AS d FROM items ORDER BY v $op q.v LIMIT $K) s) s)
			SELECT sum((SELECT count(*) FROM unnest(ix.ds) x
						WHERE x <= bf.ds[array_length(bf.ds, 1)])) FROM ix JOIN
				(SELECT q.qid, s.ids, s.ds FROM queries q, LATERAL
					(SELECT array_agg(id ORDER BY d, id) AS ids,
							array_agg(round(d::numeric, 6) ORDER BY d, id) AS ds FROM
					(SELECT id, v $op q.v AS d FROM items
					 ORDER BY (v $op q.v) + 0, id LIMIT $K) s) s) bf USING (qid)});
	}
	return \%d;
}

my $src = describe('src');
like($src->{data}, qr/^$live\|/, "src: $live rows");
for my $ix (@indexes)
{
	my ($name, $op, $m, $efc) = @$ix;
	like($src->{$name}{info},
		qr/^$live\|0\|$live\|$N\|@{[ $N - $live ]}\|$live\|$DIM\|$m\|$efc\|2$/,
		"src: $name info ($N slots, $live live, m=$m, ef_construction=$efc)");
	is($src->{$name}{check}, "$live|$live", "src: $name checks clean");
	like($src->{$name}{plan}, qr/Index Scan using $name/, "src: queries use $name");
	cmp_ok($src->{$name}{equal}, '>=', $NQ * $K - 3,
		"src: $name: at least @{[ $NQ * $K - 3 ]} of @{[ $NQ * $K ]} top-$K rows within the true top-$K");
}

my $dir = $node->basedir;
my @conn = ('-h', $node->host, '-p', $node->port);

# custom format, parallel restore
command_ok([ 'pg_dump', @conn, '-Fc', '-f', "$dir/src.dump", 'src' ], 'pg_dump -Fc');
$node->safe_psql('postgres', 'CREATE DATABASE fc');
command_ok([ 'pg_restore', @conn, '-j', '2', '--exit-on-error', '-d', 'fc', "$dir/src.dump" ],
	'pg_restore -j 2 into fc');

# plain format through psql
command_ok([ 'pg_dump', @conn, '-f', "$dir/src.sql", 'src' ], 'pg_dump (plain)');
$node->safe_psql('postgres', 'CREATE DATABASE plain');
command_ok(
	[ 'psql', '-X', '-q', @conn, '-v', 'ON_ERROR_STOP=1', '-f', "$dir/src.sql", '-d', 'plain' ],
	'psql -f src.sql into plain');
like(slurp_file("$dir/src.sql"),
	qr/CREATE INDEX items_l2_idx ON public\.items USING hnsw \(v public\.vector_l2_ops\) WITH \(m='?12'?, ef_construction='?80'?\)/,
	'the plain dump creates the L2 index with its options');

for my $db ('fc', 'plain')
{
	my $d = describe($db);
	is($d->{data}, $src->{data}, "$db: the same rows and vectors as src");
	for my $ix (@indexes)
	{
		my ($name, $op, $m, $efc) = @$ix;
		is($d->{$name}{info}, "$live|0|$live|$live|0|$live|$DIM|$m|$efc|2",
			"$db: $name info: $live live elements, no deleted slot, m=$m, ef_construction=$efc");
		is($d->{$name}{check}, "$live|$live", "$db: $name checks clean");
		like($d->{$name}{plan}, qr/Index Scan using $name/, "$db: queries use $name");
		cmp_ok($d->{$name}{equal}, '>=', $NQ * $K - 3,
			"$db: $name: at least @{[ $NQ * $K - 3 ]} of @{[ $NQ * $K ]} top-$K rows within the true top-$K");
		note("$db: $name: $d->{$name}{equal} of @{[ $NQ * $K ]} rows within the true top-$K");
	}
}

note sprintf('total %d s', time - $t0);
$node->stop;
done_testing();
