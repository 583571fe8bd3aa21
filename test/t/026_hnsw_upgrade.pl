# Extension versions: ALTER EXTENSION hnswsearch UPDATE from 0.1.0 to 0.2.0
# gives the same SQL objects as a fresh 0.2.0 install, and hnsw_index_info
# answers correctly before and after the update.
#
#   - database "upgraded": CREATE EXTENSION ... VERSION '0.1.0', an index
#     over 6 rows holding 3 distinct vectors twice each (3 elements of 2
#     rows); with the new library under the 0.1.0 SQL, hnsw_index_info still
#     returns the 0.1.0 columns with their 0.1.0 meaning (elements counted,
#     then heap_tids): 3, 0, 3, 6;
#   - ALTER EXTENSION ... UPDATE TO '0.2.0': extversion 0.2.0, and
#     hnsw_index_info returns rows then elements: 6, 0, 6, 3, 0, 3;
#   - database "fresh": CREATE EXTENSION (the default version, 0.2.0): the
#     extension's member objects (pg_describe_object) and every member
#     function's signature, result, attributes and C symbol are the same in
#     both databases.
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
	'0.2.0', 'default version 0.2.0');

$node->safe_psql('postgres', 'CREATE DATABASE upgraded');
$node->safe_psql('postgres', 'CREATE DATABASE fresh');

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
my $m_upgraded = $node->safe_psql('upgraded', $members);
cmp_ok(scalar(split /\n/, $m_fresh), '>', 50, 'a fresh 0.2.0 install has its objects (75 today)');
is($m_upgraded, $m_fresh, 'the updated extension has the same member objects as a fresh 0.2.0');

my $f_fresh = $node->safe_psql('fresh', $functions);
my $f_upgraded = $node->safe_psql('upgraded', $functions);
is($f_upgraded, $f_fresh, 'and the same functions, signatures and attributes');
like($f_upgraded,
	qr/^hnsw_index_info\(index regclass, OUT count_indexed bigint, OUT count_deleted bigint, OUT count_active bigint, OUT elements bigint, OUT elements_deleted bigint, OUT elements_active bigint, OUT dimensions integer, OUT m integer, OUT ef_construction integer, OUT max_level integer, OUT pages bigint, OUT bytes bigint, OUT format_version integer\)/m,
	'hnsw_index_info has the 0.2.0 columns');

$node->stop;
done_testing();
