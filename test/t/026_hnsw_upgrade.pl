# Extension versions: ALTER EXTENSION hnswsearch UPDATE from 0.1.0 through
# 0.2.0, 0.3.0 and 0.4.0 to 0.5.0, and from 0.2.0 to 0.5.0, gives the same
# SQL objects as a fresh 0.5.0 install, and hnsw_index_info and
# hnsw_index_check answer correctly before and after each update.
#
#   - database "upgraded": CREATE EXTENSION ... VERSION '0.1.0', an index
#     over 6 rows holding 3 distinct vectors twice each (3 elements of 2
#     rows); with the new library under the 0.1.0 SQL, hnsw_index_info still
#     returns the 0.1.0 columns with their 0.1.0 meaning (elements counted,
#     then heap_tids): 3, 0, 3, 6;
#   - ALTER EXTENSION ... UPDATE TO '0.2.0': extversion 0.2.0, and
#     hnsw_index_info returns rows then elements: 6, 0, 6, 3, 0, 3;
#     hnsw_index_check(regclass) returns its six 0.2.0 columns;
#   - ALTER EXTENSION ... UPDATE TO '0.3.0': hnsw_index_check takes
#     heapallindexed and returns table_rows (6 with the table pass, NULL
#     without); hnsw_index_info still returns its 13 columns of 0.2.0;
#   - ALTER EXTENSION ... UPDATE TO '0.4.0': hnsw_index_info gains storage
#     and bytes_per_vector (float4, 12 for vector(3));
#   - ALTER EXTENSION ... UPDATE TO '0.5.0': hnsw_index_info gains
#     centroids (0 for a float4 index; 64 for an sq8 index built on 3,000
#     rows, 0 for one built on 50);
#   - database "from020": CREATE EXTENSION ... VERSION '0.2.0', then
#     ALTER EXTENSION hnswsearch UPDATE (to the default version): the same;
#   - database "fresh": CREATE EXTENSION (the default version, 0.5.0): the
#     extension's member objects (pg_describe_object) and every member
#     function's signature, result, attributes and C symbol are the same in
#     all three databases.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../perl";
use HnswTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = hnsw_node('upgrade');

is($node->safe_psql('postgres',
		q{SELECT default_version FROM pg_available_extensions WHERE name = 'hnswsearch'}),
	'0.5.0', 'default version 0.5.0');

$node->safe_psql('postgres', 'CREATE DATABASE upgraded');
$node->safe_psql('postgres', 'CREATE DATABASE fresh');
$node->safe_psql('postgres', 'CREATE DATABASE from020');

$node->safe_psql('upgraded', q{
	CREATE EXTENSION hnswsearch VERSION '0.1.0';
	CREATE TABLE t (id int, v vector(3));
	INSERT INTO t VALUES (1, '[1,0,0]'), (2, '[0,1,0]'), (3, '[0,0,1]'),
		(4, '[1,0,0]'), (5, '[0,1,0]'), (6, '[0,0,1]');
	CREATE INDEX t_v_idx ON t USING hnsw (v vector_l2_ops);
});
is($node->safe_psql('upgraded',
		q{SELECT extversion FROM pg_extension WHERE extname = 'hnswsearch'}),
	'0.1.0', 'installed as 0.1.0');
is($node->safe_psql('upgraded',
		q{SELECT count_indexed, count_deleted, count_active, heap_tids, dimensions
		  FROM hnsw_index_info('t_v_idx')}),
	'3|0|3|6|3', '0.1.0 SQL: hnsw_index_info keeps its 0.1.0 columns and meaning');

$node->safe_psql('upgraded', q{ALTER EXTENSION hnswsearch UPDATE TO '0.2.0'});
is($node->safe_psql('upgraded',
		q{SELECT extversion FROM pg_extension WHERE extname = 'hnswsearch'}),
	'0.2.0', 'updated to 0.2.0');
is($node->safe_psql('upgraded',
		q{SELECT count_indexed, count_deleted, count_active, elements,
			elements_deleted, elements_active, dimensions, format_version
		  FROM hnsw_index_info('t_v_idx')}),
	'6|0|6|3|0|3|3|2', '0.2.0: hnsw_index_info counts rows, then elements');
is($node->safe_psql('upgraded', q{SELECT * FROM hnsw_index_check('t_v_idx')}),
	'3|3|0|6|3|2', '0.2.0 SQL: hnsw_index_check returns its six 0.2.0 columns');

$node->safe_psql('upgraded', q{ALTER EXTENSION hnswsearch UPDATE TO '0.3.0'});
is($node->safe_psql('upgraded',
		q{SELECT extversion FROM pg_extension WHERE extname = 'hnswsearch'}),
	'0.3.0', 'updated to 0.3.0');
is($node->safe_psql('upgraded',
		q{SELECT elements, active, reachable, table_rows
		  FROM hnsw_index_check('t_v_idx', heapallindexed => true)}),
	'3|3|3|6', '0.3.0: hnsw_index_check with the table pass counts the 6 rows');
is($node->safe_psql('upgraded',
		q{SELECT elements, table_rows IS NULL FROM hnsw_index_check('t_v_idx')}),
	'3|t', '0.3.0: without it, table_rows is NULL');
is($node->safe_psql('upgraded',
		q{SELECT count_indexed, elements, format_version FROM hnsw_index_info('t_v_idx')}),
	'6|3|2', '0.3.0 SQL: hnsw_index_info keeps its 13 columns');
$node->safe_psql('upgraded', q{ALTER EXTENSION hnswsearch UPDATE TO '0.4.0'});
is($node->safe_psql('upgraded',
		q{SELECT extversion FROM pg_extension WHERE extname = 'hnswsearch'}),
	'0.4.0', 'updated to 0.4.0');
is($node->safe_psql('upgraded',
		q{SELECT count_indexed, elements, storage, bytes_per_vector FROM hnsw_index_info('t_v_idx')}),
	'6|3|float4|12', '0.4.0: hnsw_index_info reports the storage and bytes per vector');
$node->safe_psql('upgraded', q{ALTER EXTENSION hnswsearch UPDATE TO '0.5.0'});
is($node->safe_psql('upgraded',
		q{SELECT extversion FROM pg_extension WHERE extname = 'hnswsearch'}),
	'0.5.0', 'updated to 0.5.0');
$node->safe_psql('upgraded', q{
	CREATE TABLE big (id int, v vector(16));
	INSERT INTO big SELECT i, (SELECT array_agg(sin(i * j + j))::vector(16)
		FROM generate_series(1, 16) j) FROM generate_series(1, 3000) i;
	CREATE INDEX big_sq8 ON big USING hnsw (v vector_l2_ops) WITH (storage = sq8);
	CREATE INDEX small_sq8 ON big USING hnsw (v vector_l2_ops) WITH (storage = sq8)
		WHERE id <= 50;
});
is($node->safe_psql('upgraded',
		q{SELECT string_agg(storage || ':' || format_version || ':' || centroids, ',' ORDER BY i)
		  FROM unnest(ARRAY['t_v_idx', 'big_sq8', 'small_sq8']) WITH ORDINALITY AS x(n, i),
			LATERAL hnsw_index_info(n::regclass)}),
	'float4:2:0,sq8:4:64,sq8:3:0',
	'0.5.0: hnsw_index_info reports the centroids (64 trained on 3,000 rows, none on 50)');

$node->safe_psql('from020', q{
	CREATE EXTENSION hnswsearch VERSION '0.2.0';
	CREATE TABLE t (id int, v vector(3));
	INSERT INTO t SELECT i, ARRAY[i, 1, 1]::vector FROM generate_series(1, 20) i;
	CREATE INDEX t_v_idx ON t USING hnsw (v vector_cosine_ops);
});
is($node->safe_psql('from020', q{SELECT elements, active FROM hnsw_index_check('t_v_idx')}),
	'20|20', 'installed as 0.2.0: hnsw_index_check(regclass) works');
$node->safe_psql('from020', 'ALTER EXTENSION hnswsearch UPDATE');
is($node->safe_psql('from020',
		q{SELECT extversion FROM pg_extension WHERE extname = 'hnswsearch'}),
	'0.5.0', 'ALTER EXTENSION UPDATE goes from 0.2.0 to 0.5.0');
is($node->safe_psql('from020',
		q{SELECT elements, table_rows FROM hnsw_index_check('t_v_idx', true)}),
	'20|20', 'after the update the new argument works');

$node->safe_psql('fresh', 'CREATE EXTENSION hnswsearch');

# every member object of the extension, by description
my $members = q{
	SELECT pg_describe_object(classid, objid, objsubid) AS o
	FROM pg_depend
	WHERE refclassid = 'pg_extension'::regclass AND deptype = 'e'
	  AND refobjid = (SELECT oid FROM pg_extension WHERE extname = 'hnswsearch')
	ORDER BY o};
# and what each member function is
my $functions = q{
	SELECT p.proname || '(' || pg_get_function_arguments(p.oid) || ') -> ' ||
		pg_get_function_result(p.oid) || ' ' ||
		concat_ws(' ', p.prokind, p.provolatile, p.proparallel, p.proisstrict,
				  p.proretset, l.lanname, p.prosrc, p.probin) AS f
	FROM pg_proc p
	JOIN pg_language l ON l.oid = p.prolang
	JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid
	WHERE d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'
	  AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'hnswsearch')
	ORDER BY f};

my $m_fresh = $node->safe_psql('fresh', $members);
cmp_ok(scalar(split /\n/, $m_fresh), '>', 50, 'a fresh 0.5.0 install has its objects (75 today)');
my $f_fresh = $node->safe_psql('fresh', $functions);
my $f_upgraded;
for my $db (qw(upgraded from020))
{
	is($node->safe_psql($db, $members), $m_fresh,
		"$db: the updated extension has the same member objects as a fresh 0.5.0");
	$f_upgraded = $node->safe_psql($db, $functions);
	is($f_upgraded, $f_fresh, "$db: and the same functions, signatures and attributes");
}
like($f_upgraded,
	qr/^hnsw_index_info\(index regclass, OUT count_indexed bigint, OUT count_deleted bigint, OUT count_active bigint, OUT elements bigint, OUT elements_deleted bigint, OUT elements_active bigint, OUT dimensions integer, OUT m integer, OUT ef_construction integer, OUT max_level integer, OUT pages bigint, OUT bytes bigint, OUT format_version integer, OUT storage text, OUT bytes_per_vector integer, OUT centroids integer\)/m,
	'hnsw_index_info has the 0.5.0 columns');
like($f_upgraded,
	qr/^hnsw_index_check\(index regclass, heapallindexed boolean DEFAULT false, OUT elements bigint, OUT active bigint, OUT deleted bigint, OUT edges bigint, OUT reachable bigint, OUT pages bigint, OUT table_rows bigint\)/m,
	'hnsw_index_check has the 0.3.0 argument and columns');

$node->stop;
done_testing();
