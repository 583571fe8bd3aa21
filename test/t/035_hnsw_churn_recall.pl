# Search quality after concurrent churn (issue 9, item 9): an index that went
# through INSERT / UPDATE / DELETE with VACUUMs in between must answer about
# as well as a fresh build of the same rows.
#
# 6,000 64-dim rows from a 50-component Gaussian mixture get an hnsw index.
# Then 10 rounds: a VACUUM starts, and beside it pgbench -c 4 -j 2 runs
# 5,000 transactions (1,250 per client) that insert new rows, give rows new
# vectors and delete rows (equal weights, all vectors from the same
# mixture).  50,000 transactions in all, the rows replaced about five
# times over, and a fixed amount of churn per VACUUM whatever the
# machine's speed (with a VACUUM every second instead, a quiet machine ran
# twice the transactions per VACUUM of a busy one, and the gaps below
# doubled).  After a final VACUUM, recall@10 of 500 queries against brute
# force over the live rows is measured at ef_search 10, 20 and 40; then
# the index is rebuilt (REINDEX) and measured again.  The churned index
# must be within $MARGIN{$ef} of the rebuilt one at each ef.  (The bench
# holds the real target, 0.01 on 100,000 rows and 1,000 queries; 5,000
# results here scatter by about 0.01, so the margins are wider.)  Such
# churn replaces the elements inserted while their cluster was small,
# which gave a build its level-0 edges between clusters, and a scan whose
# descent ends in the wrong cluster could not leave it: before the level-0
# lists of upper elements took their level-1 neighbours as candidates,
# this churn (3 runs by hand, src/README.md section 9) lost 0.049-0.060,
# 0.023-0.041 and 0.011-0.026 at ef 10 / 20 / 40; after, 0.014-0.021,
# 0.005-0.009 and 0-0.002.  This test itself: before, 0.058-0.059,
# 0.040-0.043 and 0.021-0.033 (2 runs); after, 0.008-0.027, 0.001-0.007
# and 0-0.004 (7 runs).  Twelve later runs (the repair of issue 9's last
# item, with levels drawn at random and hashed from the TID, six each)
# reached 0.024 / 0.016 / 0.007 at worst: a churned index now and then
# loses a few queries whose descent ends in another cluster, as a
# rebuild does less often at these ef_search values.  Hence the margins
# 0.04 / 0.025 / 0.015, still well inside what the old repair lost.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../perl";
use HnswTest;
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my ($N, $DIM, $CLUSTERS, $NQ) = (6000, 64, 50, 500);
my $SIGMA = 0.3;
my $ROUNDS = 10;
my $TRANSACTIONS = $ENV{HNSW_CHURN_TX} // 1250;   # per client and round (HNSW_CHURN_TX: other amounts by hand)
my %MARGIN = (10 => 0.04, 20 => 0.025, 40 => 0.015);
my @EFS = (10, 20, 40);

my $node = hnsw_node('churn_recall');
$node->safe_psql(
	'postgres', make_centers('centers', $CLUSTERS, $DIM, 0.35) . qq{
	CREATE TABLE t (id bigserial PRIMARY KEY, v vector($DIM));
	INSERT INTO t (id, v) ${\ clustered_select(centers => 'centers', n => $N,
		dim => $DIM, clusters => $CLUSTERS, assign => 'cycle', sigma => $SIGMA)};
	SELECT setval('t_id_seq', $N);
	CREATE TABLE queries AS SELECT id AS qid, v FROM (${\ clustered_select(
		centers => 'centers', n => $NQ, dim => $DIM, clusters => $CLUSTERS,
		assign => 'cycle', sigma => $SIGMA)}) q;
	CREATE INDEX t_v_idx ON t USING hnsw (v vector_l2_ops);
	ANALYZE t, queries;
});

my ($args) = churn_scripts($node, '035', 'centers', $DIM, $SIGMA, $CLUSTERS);

my ($done, $vacuums) = (0, 0);
for my $round (1 .. $ROUNDS)
{
	my $vacuum = bg_start($node, 'VACUUM t;');
	my ($out, $err) = ('', '');
	IPC::Run::run(
		[
			'pgbench', '-n', '-c', '4', '-j', '2', '-t', $TRANSACTIONS, @$args,
			'-h', $node->host, '-p', $node->port, 'postgres'
		],
		'>', \$out, '2>', \$err,
		IPC::Run::timeout($PostgreSQL::Test::Utils::timeout_default));
	my ($n) = $out =~ /number of transactions actually processed: (\d+)/;
	$done += $n // 0;
	my ($rc, undef, $verr) = bg_finish($vacuum);
	$vacuums += $rc == 0;
	diag("round $round: VACUUM: $verr") if $rc != 0;
}
note("churn: $done transactions, $vacuums VACUUMs beside them");
is($done, 4 * $TRANSACTIONS * $ROUNDS, 'the churn ran all its transactions');
is($vacuums, $ROUNDS, 'every VACUUM beside the churn succeeded');

$node->safe_psql('postgres', 'VACUUM t');
my $churned_check = index_check($node, 't_v_idx');
make_exact($node, table => 't', queries => 'queries', op => '<->', into => 'exact');

my %recall;
for my $phase ('churned', 'rebuilt')
{
	$node->safe_psql('postgres', 'REINDEX INDEX t_v_idx') if $phase eq 'rebuilt';
	for my $ef (@EFS)
	{
		my $r = recall_stats($node, table => 't', queries => 'queries',
			exact => 'exact', op => '<->', ef => $ef);
		$recall{$phase}{$ef} = $r->{recall};
		note(sprintf('%s: ef_search %d recall@10 %.4f', $phase, $ef, $r->{recall}));
	}
}
my $rebuilt_check = index_check($node, 't_v_idx');
note(sprintf('edges per element: churned %.2f, rebuilt %.2f',
	$churned_check->{edges} / $churned_check->{active},
	$rebuilt_check->{edges} / $rebuilt_check->{active}));
for my $ef (@EFS)
{
	cmp_ok($recall{churned}{$ef}, '>=', $recall{rebuilt}{$ef} - $MARGIN{$ef},
		sprintf('ef_search %d: churned recall %.4f within %.3f of a rebuild (%.4f)',
			$ef, $recall{churned}{$ef}, $MARGIN{$ef}, $recall{rebuilt}{$ef}));
}

done_testing();
