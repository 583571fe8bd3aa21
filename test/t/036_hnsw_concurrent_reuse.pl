# Space under concurrent churn: an index that goes through INSERT / UPDATE /
# DELETE from four clients, with VACUUM every second beside them, must not
# need more pages per slot than a fresh build, and must reuse the slots
# VACUUM frees when concurrent inserts come.
#
# 6,000 64-dim clustered rows get an hnsw index.  pgbench -c 4 -j 2 then
# inserts, updates (new vector) and deletes rows for 20 s, another client
# running VACUUM every second; then a final VACUUM.
#
# 1. Density.  The churned index must hold at least 0.93 times as many
#    element slots (live or FREE) per page as a fresh build of the same
#    rows.  When the page being appended to filled up, every insert that
#    found it full at that moment added a page of its own and left it with
#    a single element: here 11 slots a page against 13 in a fresh build,
#    a sixth of the pages nearly empty.
# 2. Reuse.  As many rows as the index has FREE slots are then inserted by
#    four clients at once (no VACUUM): at most 2% of them may be appended,
#    and the index must end within 1.10 times the pages of a fresh build
#    of the same rows.
# 3. (TODO) Size right after the churn: at most 1.6 times the pages of a
#    fresh build.  This fails, and not for lack of reuse: a slot becomes
#    reusable only when the VACUUM after its row's deletion finishes (pass
#    4), so the index also holds every element deleted in between, about
#    the delete rate times (VACUUM interval + twice VACUUM's duration);
#    with a third of the rows replaced per VACUUM cycle that is 1.5 to 2
#    times the live rows (src/README.md, section 7).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../perl";
use HnswTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my ($N, $DIM, $CLUSTERS) = (6000, 64, 50);
my $SIGMA = 0.3;
my $SECONDS = 20;

my $node = hnsw_node('concurrent_reuse');
$node->safe_psql(
	'postgres', make_centers('centers', $CLUSTERS, $DIM, 0.35) . qq{
	CREATE TABLE t (id bigserial PRIMARY KEY, v vector($DIM))
	  WITH (autovacuum_enabled = false);
	INSERT INTO t (id, v) ${\ clustered_select(centers => 'centers', n => $N,
		dim => $DIM, clusters => $CLUSTERS, assign => 'cycle', sigma => $SIGMA)};
	SELECT setval('t_id_seq', $N);
	CREATE INDEX t_v_idx ON t USING hnsw (v vector_l2_ops);
	ANALYZE t;
});

# pages of the index, and of a fresh build over the same rows
sub pages
{
	my ($index) = @_;
	return $node->safe_psql('postgres',
		"SELECT pg_relation_size('$index') / current_setting('block_size')::int");
}

sub fresh_pages
{
	$node->safe_psql('postgres',
		'CREATE INDEX t_v_fresh ON t USING hnsw (v vector_l2_ops)');
	my $p = pages('t_v_fresh');
	my $c = index_check($node, 't_v_fresh', 'fresh build', 1);
	$node->safe_psql('postgres', 'DROP INDEX t_v_fresh');
	return ($p, $c);
}

my ($args, $vacuum_file, $files) = churn_scripts($node, '036', 'centers', $DIM, $SIGMA, $CLUSTERS);

my ($mixed) = pgbench_with_vacuum($node, $SECONDS, $args, $vacuum_file);
my ($done) = $mixed->[0] =~ /number of transactions actually processed: (\d+)/;
note('churn: ' . ($done // '?') . ' transactions');
cmp_ok($done // 0, '>=', 3000, 'the churn changed at least 3,000 rows');

$node->safe_psql('postgres', 'VACUUM t');
my $churned = index_check($node, 't_v_idx', 'after the churn');
my $pages = pages('t_v_idx');
my ($fpages, $fresh) = fresh_pages();
note("after the churn: $pages pages, $churned->{elements} slots"
	  . " ($churned->{active} live, $churned->{deleted} FREE);"
	  . " a fresh build: $fpages pages, $fresh->{elements} elements");

# 1. slots per page against a fresh build (metapage excluded)
my $density = $churned->{elements} / ($pages - 1);
my $fdensity = $fresh->{elements} / ($fpages - 1);
cmp_ok($density, '>=', 0.93 * $fdensity,
	sprintf('churned index holds %.2f slots a page, a fresh build %.2f',
		$density, $fdensity));

# 2. concurrent inserts fill the FREE slots
my $free = $churned->{deleted};
my $per_client = int(($free + 3) / 4);
my $insert_file = $files->{insert};    # the churn's INSERT, alone
my ($out, $err) = ('', '');
my $rc = IPC::Run::run(
	[
		'pgbench', '-n', '-c', '4', '-j', '2', '-t', $per_client,
		'-f', $insert_file, '-h', $node->host, '-p', $node->port, 'postgres'
	],
	'>', \$out, '2>', \$err);
ok($rc, 'refill pgbench exits 0') or diag("stdout:\n$out\nstderr:\n$err");
my $refilled = index_check($node, 't_v_idx', 'after the refill');
my $appended = $refilled->{elements} - $churned->{elements};
note("refill: " . 4 * $per_client . " rows, $appended appended,"
	  . " $refilled->{deleted} FREE left");
cmp_ok($appended, '<=', int(0.02 * $free) + 4,
	"at most 2% of $free rows inserted into $free FREE slots are appended");
$pages = pages('t_v_idx');
($fpages) = fresh_pages();
note("after the refill: $pages pages; a fresh build: $fpages");
cmp_ok($pages, '<=', 1.10 * $fpages,
	"after the refill $pages pages, at most 1.10 times a fresh build's $fpages");

# 3. right after the churn, the VACUUM lag (see the top)
TODO:
{
	local $TODO = 'slots are reusable only after the next VACUUM completes';
	my ($cpages, $cfpages) = ($churned->{pages}, $fresh->{pages});
	cmp_ok($cpages, '<=', 1.6 * $cfpages,
		"after the churn $cpages pages, at most 1.6 times a fresh build's $cfpages");
}

done_testing();
