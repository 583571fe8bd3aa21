# Every field of a corrupt hnsw metapage is refused when the metapage is
# read: hnsw_index_check, hnsw_index_info, a search and an INSERT each raise
# an ERROR naming the field, and nothing is written to the index.
#
# A table of 300 random 8-dim vectors gets an hnsw index (m = 16,
# ef_construction = 64).  With the server stopped, one field of the
# metapage (block 0) is overwritten at a time; after each variant the
# original file is put back.  The headline case is ef_construction = 0:
# before the fix, 100 INSERTs succeeded with it and left elements that no
# search reached.  Each variant:
#   - hnsw_index_check, hnsw_index_info, a search and an INSERT of 100 rows
#     (rolled back if it succeeds) raise an ERROR matching the variant's
#     pattern (the field and value for corruption, the format-version
#     message for a version from a newer build);
#   - the server did not restart and no backend crashed.
# Last, the original file checks clean, with the same number of elements
# (no refused INSERT placed one).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../perl";
use HnswTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $N = 300;
my $node = hnsw_node('corrupt_meta');
$node->safe_psql(
	'postgres', qq{
	SELECT setseed(0.3);
	CREATE TABLE t (id int PRIMARY KEY, v vector(8));
	INSERT INTO t SELECT i, ${\ random_vector_sql(8, 'i')} FROM generate_series(1, $N) i;
	CREATE INDEX t_v_idx ON t USING hnsw (v vector_l2_ops);
	-- one insert after the build, so that insert_page is set
	INSERT INTO t SELECT $N + 1, ${\ random_vector_sql(8)};
});
my $c0 = index_check($node, 't_v_idx', 'as built');
my $file = index_file($node, 't_v_idx');
$node->safe_psql('postgres', 'CHECKPOINT');
$node->stop;

my $meta = read_block($file, 0);
# HnswMetaPageData after the 24-byte page header
my %f = (
	magic => [ 24, 'V' ],
	version => [ 28, 'V' ],
	dim => [ 32, 'v' ],
	m => [ 34, 'v' ],
	ef_construction => [ 36, 'v' ],
	storage => [ 38, 'C' ],
	max_level => [ 39, 'C' ],
	entry => [ 40, 'V' ],
	entry_level => [ 44, 'l<' ],
	insert_page => [ 48, 'V' ],
	ncentroids => [ 52, 'v' ],
	centroid_pages => [ 54, 'v' ],
	centroid_crc => [ 56, 'V' ],
	pd_lower => [ 12, 'v' ],
	page_id => [ 8186, 'v' ],);
my %orig;
for my $k (keys %f)
{
	my ($off, $fmt) = @{ $f{$k} };
	$orig{$k} = unpack($fmt, substr($meta, $off, length(pack($fmt, 0))));
}
note(join(', ', map { "$_ = $orig{$_}" } sort keys %orig));
is($orig{ef_construction}, 64, 'the metapage layout is as expected');
is($orig{pd_lower}, 60, 'pd_lower covers the metapage contents');
cmp_ok($orig{entry}, '>', 255, 'the index has an entry point');
isnt($orig{insert_page}, 0xFFFFFFFF, 'the index has an insert page');

my $corrupt = qr/index "t_v_idx" is corrupted at block 0, offset 0: /;
my $entry_blk = $orig{entry} >> 8;
my @variants = (
	[ 'magic', 0, qr/${corrupt}metapage has no hnsw magic number/ ],
	[ 'version', 0, qr/${corrupt}metapage version is 0/ ],
	[
		'version', 5,
		qr/index "t_v_idx" has on-disk format version 5, but this build of hnswsearch reads versions 1 to 4/
	],
	[ 'version', 4, qr/${corrupt}metapage storage float4 does not match version 4/ ],
	[ 'ncentroids', 8, qr/${corrupt}metapage of version 2 has centroids/ ],
	[ 'centroid_pages', 1, qr/${corrupt}metapage of version 2 has centroids/ ],
	[ 'centroid_crc', 7, qr/${corrupt}metapage of version 2 has centroids/ ],
	[ 'version', 3, qr/${corrupt}metapage storage float4 does not match version 3/ ],
	[ 'dim', 0, qr/${corrupt}metapage has an entry point but dim is 0/ ],
	[ 'dim', 2001, qr/${corrupt}metapage dim is 2001, outside 0\.\.2000/ ],
	[ 'm', 0, qr/${corrupt}metapage m is 0, outside 2\.\.100/ ],
	[ 'm', 101, qr/${corrupt}metapage m is 101, outside 2\.\.100/ ],
	[ 'ef_construction', 0, qr/${corrupt}metapage ef_construction is 0, outside 32\.\.1000/ ],
	[ 'ef_construction', 31, qr/${corrupt}metapage ef_construction is 31, outside 32\.\.1000/ ],
	[ 'ef_construction', 1001, qr/${corrupt}metapage ef_construction is 1001, outside 32\.\.1000/ ],
	[ 'storage', 0, qr/${corrupt}metapage storage is 0, outside 1\.\.4/ ],
	[ 'storage', 5, qr/${corrupt}metapage storage is 5, outside 1\.\.4/ ],
	[ 'storage', 2, qr/${corrupt}metapage storage half does not match version 2/ ],
	[ 'max_level', 30, qr/${corrupt}metapage max_level is 30, but m = 16 gives 31/ ],
	[ 'max_level', 40, qr/${corrupt}metapage max_level is 40, but m = 16 gives 31/ ],
	[ 'entry', 0, qr/${corrupt}metapage has no entry point but entry_level is \d+/ ],
	[ 'entry', 5, qr/${corrupt}metapage entry point \(0,5\) is not on a graph page/ ],
	[ 'entry', $entry_blk << 8, qr/${corrupt}metapage entry point \($entry_blk,0\) has offset 0/ ],
	[ 'entry_level', -2, qr/${corrupt}metapage entry_level is -2, outside 0\.\.31/ ],
	[ 'entry_level', 32, qr/${corrupt}metapage entry_level is 32, outside 0\.\.31/ ],
	[ 'insert_page', 0, qr/${corrupt}metapage insert_page 0 is not a graph page/ ],
	[ 'pd_lower', 24, qr/${corrupt}metapage pd_lower 24 does not cover its contents/ ],
	[ 'page_id', 0, qr/${corrupt}metapage has no hnsw special space/ ],);

my %statements = (
	'1 hnsw_index_check' => q{SELECT * FROM hnsw_index_check('t_v_idx')},
	'2 hnsw_index_info' => q{SELECT * FROM hnsw_index_info('t_v_idx')},
	'3 search' => q{SET enable_seqscan = off;
		SELECT id FROM t ORDER BY v <-> (SELECT v FROM t WHERE id = 7) LIMIT 3},
	'4 INSERT' => qq{BEGIN;
		INSERT INTO t SELECT 1000 + i, ${\ random_vector_sql(8, 'i')}
		FROM generate_series(1, 100) i;
		ROLLBACK},);

for my $v (@variants)
{
	my ($field, $value, $re) = @$v;
	my ($off, $fmt) = @{ $f{$field} };
	my $page = $meta;
	my $bytes = pack($fmt, $value);
	substr($page, $off, length($bytes)) = $bytes;
	write_block($file, 0, $page);

	my $log_offset = -s $node->logfile;
	$node->start;
	my $start_time = $node->safe_psql('postgres', 'SELECT pg_postmaster_start_time()');
	for my $what (sort keys %statements)
	{
		like(sql_error($node, $statements{$what}), $re,
			"$field = $value: $what raises the ERROR");
	}
	server_alive_since($node, "$field = $value", $start_time, $log_offset);
	$node->stop;
}

write_block($file, 0, $meta);
$node->start;
my $c = index_check($node, 't_v_idx', 'the original metapage back');
is($c->{elements}, $c0->{elements}, 'no variant added an element');
$node->stop;
done_testing();
