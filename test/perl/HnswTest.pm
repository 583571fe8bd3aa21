# HnswTest: shared helpers for the hnsw TAP tests (test/t/01*_hnsw_*.pl).
#
# Test files load it with
#     use FindBin;
#     use lib "$FindBin::Bin/../perl";
#     use HnswTest;
# so no PERL5LIB entry is needed.
#
# Data is generated server-side with SQL (fast, and reproducible with
# setseed): a Gaussian mixture whose centers are uniform in [-1,1]^dim,
# each coordinate of a point being center + sigma * N(0,1), with N(0,1)
# made from random() by Box-Muller.  Ground truth is brute force: the same
# ORDER BY ... LIMIT k with index scans disabled (a seq scan and a sort).
package HnswTest;

use strict;
use warnings;

use Exporter 'import';
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

# relative tolerance when checking that distances are non-decreasing
our $INVERSION_SLACK = 1e-6;

our @EXPORT = qw(
  hnsw_node
  pgbench_with_vacuum
  churn_scripts
  make_centers
  gaussian_vector_sql
  random_vector_sql
  clustered_select
  make_exact
  recall_stats
  explain_plan
  self_nn_mismatches
  full_scan_count
  index_check
  bg_start
  bg_finish
  index_file
  read_block
  write_block
  page_items
  page_elements
  sql_error
  sql_output
  server_alive_since
  $INVERSION_SLACK
);

# A started node with the extension created in database "postgres".  The
# defaults trade durability for speed (tests need no protection against an
# OS crash); %opts: init => {...} for $node->init, conf => [lines] appended
# after the defaults (so they override them), install_path => a PostgreSQL
# installation other than the one on PATH (the fuzz tests' sanitizer build).
sub hnsw_node
{
	my ($name, %opts) = @_;
	my $node = PostgreSQL::Test::Cluster->new($name,
		$opts{install_path} ? (install_path => $opts{install_path}) : ());
	$node->init(%{ $opts{init} // {} });
	$node->append_conf(
		'postgresql.conf', join("\n",
			'fsync = off',
			'synchronous_commit = off',
			'full_page_writes = off',
			'autovacuum = off',
			'max_wal_size = 2GB',
			'checkpoint_timeout = 30min',
			'shared_buffers = 256MB',
			'maintenance_work_mem = 256MB',
			'max_parallel_workers_per_gather = 0',
			@{ $opts{conf} // [] })
		  . "\n");
	$node->start;
	$node->safe_psql('postgres', 'CREATE EXTENSION hnswsearch');
	return $node;
}

# SQL creating table $name (c int, cv float8[]) with $k centers in
# [-1,1]^$dim, after setseed($seed).
sub make_centers
{
	my ($name, $k, $dim, $seed) = @_;
	return qq{
		SELECT setseed($seed);
		CREATE TABLE $name AS
			SELECT c, array_agg(random() * 2 - 1 ORDER BY j) AS cv
			FROM generate_series(0, $k - 1) c, generate_series(1, $dim) j
			GROUP BY c ORDER BY c;
	};
}

# SQL expression: a vector($dim) drawn around the float8[] expression
# $center with standard deviation $sigma per coordinate.  Evaluated once
# per row when $center references the row.
sub gaussian_vector_sql
{
	my ($center, $dim, $sigma) = @_;
	return "(SELECT array_agg($center\[j] + $sigma * sqrt(-2 * ln(1 - random()))"
	  . " * cos(2 * pi() * random()) ORDER BY j)"
	  . " FROM generate_series(1, $dim) j)::vector($dim)";
}

# SQL expression: a vector($dim) of uniform random() coordinates.  With
# $outer (a column of the enclosing query) the subquery is correlated, so
# that it is evaluated for each row; without it, it is evaluated once per
# statement (as in a one-row INSERT).
sub random_vector_sql
{
	my ($dim, $outer) = @_;
	my $where = defined $outer ? " WHERE $outer IS NOT NULL" : '';
	return "(SELECT array_agg(random())::vector($dim)"
	  . " FROM generate_series(1, $dim)$where)";
}

# SQL query returning (id int, v vector(dim)) for ids first..first+n-1, each
# drawn around a center of table $centers (made by make_centers).  assign:
# 'block' (default) gives ids in contiguous runs of n/k to the same center,
# so that id % 100 is independent of the cluster; 'cycle' gives id to
# center id % k.
sub clustered_select
{
	my (%o) = @_;
	my $n = $o{n};
	my $first = $o{first} // 1;
	my $k = $o{clusters};
	my $assign =
	  ($o{assign} // 'block') eq 'cycle'
	  ? "i % $k"
	  : "((i - $first)::bigint * $k / $n)::int";
	my $vec = gaussian_vector_sql('c.cv', $o{dim}, $o{sigma} // 0.3);
	return qq{SELECT i AS id, $vec AS v
		FROM generate_series($first, $first + $n - 1) i
		JOIN $o{centers} c ON c.c = $assign
		ORDER BY i};
}

# Creates table $o{into} (qid, id) with the exact top-$o{k} ids of
# $o{table} for every row (qid, v) of $o{queries} under operator $o{op},
# computed with a seq scan.  Returns nothing.
sub make_exact
{
	my ($node, %o) = @_;
	my $k = $o{k} // 10;
	my $plan = explain_plan($node,
		"SELECT id FROM $o{table} ORDER BY v $o{op} (SELECT v FROM $o{queries} LIMIT 1) LIMIT $k",
		'SET enable_indexscan = off; SET enable_bitmapscan = off;');
	die "brute force would use an index:\n$plan" if $plan =~ /Index/;
	$node->safe_psql(
		'postgres', qq{
		SET enable_indexscan = off;
		SET enable_bitmapscan = off;
		CREATE TABLE $o{into} AS
			SELECT q.qid, t.id
			FROM $o{queries} q CROSS JOIN LATERAL
				(SELECT id FROM $o{table} ORDER BY v $o{op} q.v LIMIT $k) t;
	});
	return;
}

# EXPLAIN (COSTS OFF) of $sql after the settings in $settings (SQL).
sub explain_plan
{
	my ($node, $sql, $settings) = @_;
	$settings //= '';
	return $node->safe_psql('postgres', "$settings EXPLAIN (COSTS OFF) $sql");
}

# One statement measuring an index against the brute-force table $o{exact}
# (from make_exact with the same queries, op and k).  Runs with
# enable_seqscan = off so that the ORDER BY uses the index, at
# hnsw.ef_search = $o{ef} plus the SQL in $o{settings}.  Returns a hash:
#   recall      |index top-k ∩ exact top-k| / (k * queries)
#   rows        rows the index queries returned in all
#   min, max    fewest and most rows returned for one query
#   inversions  consecutive results whose distance decreases (by more than
#               $INVERSION_SLACK relative: the index may compute a distance
#               with other float rounding than the SQL operator, e.g. cosine
#               on vectors it normalised)
#   plan        the EXPLAIN of the measured query shape
sub recall_stats
{
	my ($node, %o) = @_;
	my $k = $o{k} // 10;
	my $settings = "SET enable_seqscan = off; SET hnsw.ef_search = $o{ef};"
	  . ($o{settings} // '');
	my $lateral = qq{SELECT q.qid, s.id, s.d, s.rn
		FROM $o{queries} q CROSS JOIN LATERAL
			(SELECT id, d, row_number() OVER () AS rn
			 FROM (SELECT id, v $o{op} q.v AS d FROM $o{table}
				   ORDER BY v $o{op} q.v LIMIT $k) s0) s};
	my %r;
	$r{plan} = explain_plan($node, $lateral, $settings);
	my $out = $node->safe_psql(
		'postgres', qq{$settings
		WITH r AS MATERIALIZED ($lateral),
		per AS (SELECT q.qid, count(r.id) AS n
				FROM $o{queries} q LEFT JOIN r USING (qid) GROUP BY q.qid),
		inv AS (SELECT d < p - $INVERSION_SLACK * abs(p) AS bad FROM
				(SELECT d, lag(d) OVER (PARTITION BY qid ORDER BY rn) AS p
				 FROM r) x)
		SELECT (SELECT count(*) FROM r JOIN $o{exact} e USING (qid, id))::float8
				 / (SELECT count(*) FROM $o{exact}),
			   (SELECT count(*) FROM r),
			   (SELECT min(n) FROM per), (SELECT max(n) FROM per),
			   (SELECT count(*) FROM inv WHERE bad)});
	@r{qw(recall rows min max inversions)} = split /\|/, $out;
	return \%r;
}

# Rows of $table (id, v) that an index scan at ef_search $ef does not return
# as their own nearest neighbour under $op.  Returns (count, sample ids).
sub self_nn_mismatches
{
	my ($node, $table, $op, $ef) = @_;
	my $out = $node->safe_psql(
		'postgres', qq{
		SET enable_seqscan = off;
		SET hnsw.ef_search = $ef;
		WITH m AS MATERIALIZED (
			SELECT a.id FROM $table a
			WHERE (SELECT b.id FROM $table b ORDER BY b.v $op a.v LIMIT 1)
				IS DISTINCT FROM a.id)
		SELECT count(*), coalesce((SELECT string_agg(id::text, ',' ORDER BY id)
			FROM (SELECT id FROM m ORDER BY id LIMIT 20) s), '') FROM m});
	my ($n, $ids) = split /\|/, $out;
	return ($n, $ids) if $n == 0;

	# For the report: which of the (first 20) missed rows a wider search
	# (ef_search = 400) finds, and which a full relaxed scan (every element
	# reachable from the entry point) returns.
	my $wide = $node->safe_psql(
		'postgres', qq{
		SET enable_seqscan = off;
		SET hnsw.ef_search = 400;
		SELECT coalesce(string_agg(a.id::text, ','), 'none') FROM $table a
		WHERE a.id IN ($ids)
		  AND (SELECT b.id FROM $table b ORDER BY b.v $op a.v LIMIT 1) = a.id});
	my $reach = $node->safe_psql(
		'postgres', qq{
		SET enable_seqscan = off;
		SET hnsw.iterative_scan = relaxed_order;
		SET hnsw.max_scan_tuples = 100000000;
		SELECT coalesce(string_agg(id::text, ','), 'none') FROM
			(SELECT id FROM $table ORDER BY v $op (SELECT v FROM $table LIMIT 1)
			 LIMIT 100000000) s WHERE id IN ($ids)});
	my $detail = "found at ef_search=400: $wide; reachable by a full scan: $reach";
	return ($n, "$ids\n$detail");
}

# Rows an index scan returns for ORDER BY v $op $query with no useful LIMIT
# (a full streaming scan), with the settings in $settings (SQL).
sub full_scan_count
{
	my ($node, $table, $op, $query, $settings) = @_;
	$settings //= '';
	return $node->safe_psql(
		'postgres', qq{SET enable_seqscan = off; $settings
		SELECT count(*) FROM (SELECT id FROM $table
			ORDER BY v $op $query LIMIT 100000000) s});
}

# Runs hnsw_index_check($index) on $node (it raises an ERROR naming the
# first broken invariant, an unreachable live element included) and tests
# that it passes and that every active element was reached (not for the
# inner-product opclass, which the function does not hold to reachability:
# pass $ip true).  With $min_reached, at least that many elements must be
# reached instead (after a crash, the element of an insert cut before its
# links is unreached and holds a dead row).  Returns the hash of its counts
# (elements active deleted edges reachable pages), or undef if it failed.
sub index_check
{
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	my ($node, $index, $what, $ip, $min_reached) = @_;
	my ($out, $err) = ('', '');
	my $rc = $node->psql(
		'postgres',
		"SELECT elements, active, deleted, edges, reachable, pages FROM hnsw_index_check('$index')",
		stdout => \$out,
		stderr => \$err);
	is($rc, 0, "$what: hnsw_index_check('$index') passes") or diag($err);
	return undef if $rc != 0;
	my %c;
	@c{qw(elements active deleted edges reachable pages)} = split /\|/, $out;
	return \%c if $ip;
	if (defined $min_reached)
	{
		# hnsw_index_check itself fails if an unreached element holds a
		# visible row; here at least the visible rows must be reached
		cmp_ok($c{reachable}, '>=', $min_reached,
			"$what: hnsw_index_check reaches at least $min_reached elements");
	}
	else
	{
		is($c{reachable}, $c{active},
			"$what: hnsw_index_check reaches all $c{active} active elements");
	}
	return \%c;
}

# pgbench scripts for churn on table t (id bigserial, v vector($dim)): an
# INSERT of a new vector around a random center of table $centers (made
# by make_centers), an UPDATE of a row picked by id to such a vector, and
# a DELETE of such a row, in files under $node's basedir named after
# $prefix; and a script that runs VACUUM t every second.  Returns the
# pgbench options for the three (['-f', file, ...]) and the VACUUM file,
# as pgbench_with_vacuum takes them, and the three files by name
# (insert, update, delete).
sub churn_scripts
{
	my ($node, $prefix, $centers, $dim, $sigma, $clusters) = @_;
	my $vec = gaussian_vector_sql('c.cv', $dim, $sigma);
	my $pick = q{\set k random(0, } . ($clusters - 1) . qq{)\n\\set r random(1, 1000000000)\n};
	my $row = '(SELECT id FROM t WHERE id >= :r % (SELECT max(id) FROM t) ORDER BY id LIMIT 1)';
	my %scripts = (
		insert => "${pick}INSERT INTO t (v) SELECT $vec FROM $centers c WHERE c.c = :k;\n",
		update => "${pick}UPDATE t SET v = (SELECT $vec FROM $centers c WHERE c.c = :k)"
		  . " WHERE id = $row;\n",
		delete => "${pick}DELETE FROM t WHERE id = $row;\n",);
	my (@args, %files);
	for my $name (sort keys %scripts)
	{
		$files{$name} = $node->basedir . "/${prefix}_$name.sql";
		append_to_file($files{$name}, $scripts{$name});
		push @args, '-f', $files{$name};
	}
	my $vacuum_file = $node->basedir . "/${prefix}_vacuum.sql";
	append_to_file($vacuum_file, "VACUUM t;\n\\sleep 1 s\n");
	return (\@args, $vacuum_file, \%files);
}

# Runs pgbench -c 4 -j 2 for $seconds with the script options @$args
# ('-f', file, ...) against $node, and beside it one client running the
# script file $vacuum_file; tests that both exit 0.  With
# transactions => N, the four clients run N transactions each instead (a
# fixed amount of work, whatever the machine's speed), and the VACUUM
# client, given at most $seconds, is stopped when they are done.  Returns
# the two pgbench outputs as [stdout, stderr] pairs: (mixed, vacuum).
sub pgbench_with_vacuum
{
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	my ($node, $seconds, $args, $vacuum_file, %opt) = @_;
	my @amount = $opt{transactions} ? ('-t', $opt{transactions}) : ('-T', $seconds);
	my @conn = ('-h', $node->host, '-p', $node->port, 'postgres');
	my ($out, $err, $vout, $verr) = ('', '', '', '');
	my $timeout = IPC::Run::timeout($seconds + $PostgreSQL::Test::Utils::timeout_default);
	my $mixed = IPC::Run::start(
		[ 'pgbench', '-n', '-c', '4', '-j', '2', @amount, @$args, @conn ],
		'>', \$out, '2>', \$err, $timeout);
	my $vacuum = IPC::Run::start(
		[ 'pgbench', '-n', '-c', '1', '-T', $seconds, '-f', $vacuum_file, @conn ],
		'>', \$vout, '2>', \$verr, $timeout);
	$mixed->finish;
	if ($opt{transactions})
	{
		$vacuum->kill_kill;
	}
	else
	{
		$vacuum->finish;
		is($vacuum->result(0), 0, 'VACUUM pgbench exits 0')
		  or diag("stdout:\n$vout\nstderr:\n$verr");
	}
	is($mixed->result(0), 0, 'mixed pgbench exits 0') or diag("stdout:\n$out\nstderr:\n$err");
	return ([ $out, $err ], [ $vout, $verr ]);
}

# Runs the SQL $sql through psql -v ON_ERROR_STOP=1 on $node in the
# background; returns a handle for bg_finish.  The script goes to psql as a
# file: IPC::Run feeds a child's stdin only when pumped, so a script on
# stdin ran only at bg_finish, after the work it was meant to overlap
# (before session 18 the "concurrent" sessions of tests 010, 029 and 035
# ran one after another).
my $bg_scripts = 0;

sub bg_start
{
	my ($node, $sql) = @_;
	my $h = { out => '', err => '' };
	my $file = sprintf('%s/bg_start_%d_%d.sql', $PostgreSQL::Test::Utils::tmp_check, $$, ++$bg_scripts);
	PostgreSQL::Test::Utils::append_to_file($file, $sql);
	$h->{run} = IPC::Run::start(
		[
			'psql', '-XAtq', '-v', 'ON_ERROR_STOP=1',
			'-d', $node->connstr('postgres'), '-f', $file
		],
		'>', \$h->{out}, '2>', \$h->{err},
		IPC::Run::timeout($PostgreSQL::Test::Utils::timeout_default));
	return $h;
}

# Waits for a bg_start session; returns (exit code, stdout, stderr).
sub bg_finish
{
	my ($h) = @_;
	$h->{run}->finish;
	return ($h->{run}->result(0), $h->{out}, $h->{err});
}

# The path of relation $rel's main fork on $node (the server must run).
sub index_file
{
	my ($node, $rel) = @_;
	my $path = $node->safe_psql('postgres', "SELECT pg_relation_filepath('$rel')");
	return $node->data_dir . "/$path";
}

# Block $blkno (8 kB) of file $file, as a byte string.
sub read_block
{
	my ($file, $blkno) = @_;
	open(my $fh, '<', $file) or die "open $file: $!";
	binmode $fh;
	sysseek($fh, $blkno * 8192, 0) or die "seek: $!";
	my $page = '';
	sysread($fh, $page, 8192) == 8192 or die "short read of block $blkno";
	close $fh;
	return $page;
}

# Writes the 8 kB byte string $page as block $blkno of $file (server stopped).
sub write_block
{
	my ($file, $blkno, $page) = @_;
	die 'a page is 8192 bytes' unless length($page) == 8192;
	open(my $fh, '+<', $file) or die "open $file: $!";
	binmode $fh;
	sysseek($fh, $blkno * 8192, 0) or die "seek: $!";
	syswrite($fh, $page) == 8192 or die "write: $!";
	close $fh;
	return;
}

# The normal items of a page: a list of hashes {off (offset number), lp
# (the line pointer's byte position), start, len, type (first byte)}.
sub page_items
{
	my ($page) = @_;
	my $pd_lower = unpack('v', substr($page, 12, 2));
	my @items;
	for (my $lp = 24, my $n = 1; $lp < $pd_lower; $lp += 4, $n++)
	{
		my $w = unpack('V', substr($page, $lp, 4));
		my ($start, $flags, $len) = ($w & 0x7fff, ($w >> 15) & 3, $w >> 17);
		next unless $flags == 1;
		push @items,
		  {
			off => $n,
			lp => $lp,
			start => $start,
			len => $len,
			type => ord(substr($page, $start, 1))
		  };
	}
	return @items;
}

# The element tuples of a page: a list of hashes {off, start (the item's
# byte position), level, flags, nblk (the block of its neighbour tuple),
# tids (its valid heap TIDs as ctid strings '(block,offset)')}.
sub page_elements
{
	my ($page) = @_;
	my @e;
	for my $it (grep { $_->{type} == 1 } page_items($page))
	{
		my ($level, $flags, $nbrs) = unpack('x C C x V', substr($page, $it->{start}, 8));
		my @tids;
		for my $i (0 .. 7)
		{
			my ($hi, $lo, $pos) = unpack('v3', substr($page, $it->{start} + 8 + 6 * $i, 6));
			next if $hi == 0xffff && $lo == 0xffff && $pos == 0;
			push @tids, sprintf('(%d,%d)', ($hi << 16) | $lo, $pos);
		}
		push @e,
		  {
			off => $it->{off},
			start => $it->{start},
			level => $level,
			flags => $flags,
			nblk => $nbrs >> 8,
			tids => \@tids
		  };
	}
	return @e;
}

# Runs $sql on $node; returns its ERROR text, '' if it succeeded.
sub sql_error
{
	my ($node, $sql) = @_;
	my ($rc, $out, $err) = $node->psql('postgres', $sql);
	return $rc == 0 ? '' : ($err =~ /ERROR:\s+(.*)/ ? $1 : $err);
}

# Runs $sql on $node; returns its output, or its stderr if it failed (so
# that a test goes on where safe_psql would die).
sub sql_output
{
	my ($node, $sql) = @_;
	my ($rc, $out, $err) = $node->psql('postgres', $sql);
	return $rc == 0 ? $out : $err;
}

# Tests that $node still runs the postmaster started at $start_time
# (pg_postmaster_start_time()), answers a new session, and logged no crash
# after byte $log_offset of its log.
sub server_alive_since
{
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	my ($node, $what, $start_time, $log_offset) = @_;
	my ($rc, $out) = $node->psql('postgres', 'SELECT pg_postmaster_start_time()');
	is($out, $start_time, "$what: the server answers and did not restart");
	my $log = slurp_file($node->logfile, $log_offset);
	unlike($log, qr/terminated by signal|PANIC|server process .* (was terminated|exited)/,
		"$what: no backend crashed");
	return;
}

1;
