# Real clients, as pgvector's users write them (issue 12): each program in
# test/clients/ creates a table with hnsw indexes, inserts in batches through
# its client's vector adapter, searches with every operator, updates,
# deletes and reads hnsw_index_info, against this test's node, and checks that
# it sees what it would see with pgvector (type lookup, text and binary
# formats, results, errors).  Each client prints `ok - CHECK` or
# `not ok - CHECK: detail` per check and ends with `N checks, N failed`; here
# every such line becomes an assertion, and the program must exit 0 and
# report at least as many checks as it has today.
#
#   psycopg     /usr/bin/python3 test/clients/psycopg_client.py   (Debian's python3-psycopg, numpy)
#   sqlalchemy  /usr/bin/python3 test/clients/sqlalchemy_client.py (Debian's python3-sqlalchemy, psycopg2)
#   node-pg     node test/clients/node/pg_client.mjs (npm pg + pgvector, pinned in
#               test/clients/node/package-lock.json; test/run.sh runs `npm ci` there
#               in its set-up, and this test runs it if node_modules is missing)
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../perl";
use HnswTest;
use IPC::Run;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);

my $top = "$FindBin::Bin/../..";
my $clients = "$top/test/clients";
my $node = hnsw_node('clients');

my %pgenv = (
	PGHOST => $node->host,
	PGPORT => $node->port,
	PGDATABASE => 'postgres',
	PGUSER => scalar(getpwuid($>)));

# Runs one client program; every `ok`/`not ok` line becomes an assertion.
sub run_client
{
	my ($name, $min_checks, @cmd) = @_;
	my ($out, $err) = ('', '');
	my $t0 = time;
	local @ENV{ keys %pgenv } = values %pgenv;
	my $ok = eval {
		IPC::Run::run(\@cmd, '<', \undef, '>', \$out, '2>', \$err,
			IPC::Run::timeout($PostgreSQL::Test::Utils::timeout_default));
	};
	my $rc = $@ ? "died: $@" : $? >> 8;
	my $secs = sprintf('%.1f', time - $t0);
	my ($n_ok, $n_bad, $summary) = (0, 0, undef);
	for my $line (split /\n/, $out)
	{
		if ($line =~ /^ok - (.*)$/)
		{
			pass("$name: $1");
			$n_ok++;
		}
		elsif ($line =~ /^not ok - (.*)$/s)
		{
			fail("$name: $1");
			$n_bad++;
		}
		elsif ($line =~ /^(\d+) checks, (\d+) failed$/)
		{
			$summary = [ $1, $2 ];
		}
		else
		{
			diag("$name: $line");    # the versions line, shown by make test
		}
	}
	is($rc, 0, "$name: exits 0 (${secs} s)");
	ok( defined $summary && $summary->[0] == $n_ok + $n_bad && $summary->[1] == $n_bad,
		"$name: ran to its end (summary line matches the checks printed)");
	cmp_ok($n_ok + $n_bad, '>=', $min_checks, "$name: made at least $min_checks checks");
	diag("$name stderr:\n$err") if $err ne '' && ($rc ne '0' || $n_bad);
	note("$name stderr:\n$err") if $err ne '' && !($rc ne '0' || $n_bad);
	return;
}

run_client('psycopg', 54, '/usr/bin/python3', "$clients/psycopg_client.py");
run_client('sqlalchemy', 43, '/usr/bin/python3', "$clients/sqlalchemy_client.py");

# node: the modules npm ci installed from the lock file (by test/run.sh's
# set-up; here too, when they are missing, e.g. a tree copied without them).
my $nodedir = "$clients/node";
if (!-d "$nodedir/node_modules/pgvector" || !-d "$nodedir/node_modules/pg")
{
	my ($out, $err) = ('', '');
	# npm's cache: the user's, unless HOME is not ours (runuser keeps root's)
	my $cache = "$ENV{HOME}/.npm";
	$cache = "$PostgreSQL::Test::Utils::tmp_check/npm-cache"
	  unless (-d $cache ? -w $cache : -w $ENV{HOME});
	my $ok = eval {
		IPC::Run::run(
			[
				'npm', 'ci', '--no-audit', '--no-fund', '--loglevel=error',
				'--cache', $cache, '--prefix', $nodedir
			],
			'<', \undef, '>', \$out, '2>', \$err,
			IPC::Run::timeout($PostgreSQL::Test::Utils::timeout_default));
	};
	ok($ok, 'node-pg: npm ci installs the pinned modules') or diag("npm ci: $@\n$out\n$err");
}
run_client('node-pg', 36, 'node', "$nodedir/pg_client.mjs");

$node->stop;
done_testing();
