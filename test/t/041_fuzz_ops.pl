# Fuzzing the index with random sequences of writes and maintenance.
#
# For HNSW_FUZZ_SECONDS (default 40), and for at least one episode per
# operator class, this runs episodes.  An episode creates a table with a
# vector column (vector(dim) or unconstrained vector), an hnsw index with a
# random m, ef_construction and storage (built on rows already there, or created
# empty and filled by inserts), then runs 12 to 30 random steps:
#   INSERT of random rows, of one vector by the hundreds (by the thousand
#   in class dups1000), of NULLs; UPDATE to new vectors, to one shared
#   vector, to the same vector (v = v), of another column only; DELETE;
#   VACUUM (plain, INDEX_CLEANUP, FREEZE, DISABLE_PAGE_SKIPPING), VACUUM
#   FULL, ANALYZE; REINDEX (plain, CONCURRENTLY, TABLE); DROP INDEX and
#   CREATE INDEX CONCURRENTLY; TRUNCATE; transactions that roll back and
#   savepoints rolled back to; ordered index scans at random ef_search and
#   iterative modes; and, on an unconstrained column, rows of another
#   dimension count, which the index must refuse (22000), and a table
#   holding two dimension counts, on which CREATE INDEX must fail.
# The vectors: uniform, small integers (many exact ties), zero vectors,
# near-copies of earlier rows and, in class extreme, elements near the
# float4 limits (±3.4e38, ±1e20), the smallest normals and subnormals, -0.
#
# After every step: hnsw_index_check passes (through check_sql: with its
# table pass when the installed version has one), and an unconstrained
# column holds one dimension count only, the index's.  At the end of an
# episode: an ordered scan with large bounds (relaxed_order, ef_search
# 1000, no tuple or memory limit) returns every row with a vector (for
# cosine, a non-zero one) exactly once; for inner product this is only
# reported (the README's limits: elements of small norm may be unreachable
# by design).  Ordered scans in strict order must return non-decreasing
# distances.
#
# Any other ERROR, a failed check, a missed row, a crash or a sanitizer
# report fails the test; the first failure of an episode ends it, and the
# episode's statements are written as a replayable script to
# tmp_check/log/041_fuzz_ops_episode_N.sql.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../perl", "$FindBin::Bin/../fuzz";
use List::Util qw(max min);
use HnswTest;
use HnswFuzz;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $f = fuzz_start('ops', 40);
my $node = fuzz_node('fuzz_ops', conf => [ 'statement_timeout = 120s' ]);
my $mark = server_mark($node);
my $s = HnswFuzz::Session->new($node);
my @OC = OPCLASSES;
my %opcount;
my @failures;
fuzz_clock_start($f);

# ---------------------------------------------------------------------
# vectors
# ---------------------------------------------------------------------
my @EXTREME = qw(3.4e38 -3.4e38 3.4028235e38 1e20 -1e20 1e19 1e-38 -1e-38
  1.17549435e-38 1e-45 -1e-45 3e-39 0 -0);

sub num
{
	my ($x) = @_;
	my $t = sprintf(rand() < 0.5 ? '%.4g' : '%.7g', $x);
	return $t eq '-0' && rand() < 0.5 ? '0' : $t;
}

# a vector literal of $dim elements, of class $class
sub vec_of
{
	my ($dim, $class) = @_;
	my @x;
	for (1 .. $dim)
	{
		if ($class eq 'grid') { push @x, rand_int(-2, 2); }
		elsif ($class eq 'zero') { push @x, 0; }
		elsif ($class eq 'small') { push @x, num((rand() * 2 - 1) * 1e-3); }
		elsif ($class eq 'extreme') { push @x, rand() < 0.5 ? rand_pick(@EXTREME) : num(rand() * 2 - 1); }
		else { push @x, num(rand() * 2 - 1); }
	}
	return '[' . join(',', @x) . ']';
}

# $v times $f, element by element; those the product would take beyond
# float's range stay as they are
sub scale_vec
{
	my ($v, $f) = @_;
	my @x = map { abs($_ * $f) < 3e38 ? num($_ * $f) : $_ } split /,/, substr($v, 1, -1);
	return '[' . join(',', @x) . ']';
}

# a near-copy of $v: one element changed by a little
sub nudge
{
	my ($v) = @_;
	my @x = split /,/, substr($v, 1, -1);
	my $i = int(rand(@x));
	$x[$i] = num($x[$i] + (rand() - 0.5) * 1e-4) if $x[$i] =~ /^-?[\d.]+$/ && abs($x[$i]) < 1e30;
	return '[' . join(',', @x) . ']';
}

# ---------------------------------------------------------------------
# one episode
# ---------------------------------------------------------------------

# Runs $sql in the session, records it in the episode's script.  Returns
# the result; a result other than ok (or the ERROR %exp allows: state =>
# SQLSTATE, msg => regexp) is the episode's failure.
sub run
{
	my ($e, $sql, %exp) = @_;
	push @{ $e->{script} }, $sql;
	my $r = $s->query($sql);
	return $r if $r->{ok};
	return $r
	  if !$r->{lost} && !$r->{timeout}
	  && defined $exp{state} && ($r->{state} // '') eq $exp{state}
	  && ($r->{msg} // '') =~ $exp{msg};
	fail_episode($e, "$sql\n  -> " . HnswFuzz::Session::describe($r));
	return undef;
}

sub fail_episode
{
	my ($e, $what) = @_;
	return if $e->{failed};
	$e->{failed} = $what;
	my $file = "$PostgreSQL::Test::Utils::log_path/041_fuzz_ops_episode_$e->{ep}.sql";
	open(my $fh, '>', $file) or die "open $file: $!";
	print $fh "-- 041_fuzz_ops seed $f->{seed}, episode $e->{ep}: replay with psql -f\n";
	print $fh "-- failed: $what\n" =~ s/\n(?!$)/\n-- /gr;
	print $fh "CREATE EXTENSION IF NOT EXISTS hnswsearch;\nDROP TABLE IF EXISTS $e->{t};\n";
	print $fh "$_;\n" for @{ $e->{script} };
	close $fh;
	my $line = "episode $e->{ep} ($e->{desc}), step $e->{step}: $what\n  script: $file";
	push @failures, $line;
	return;
}

# the index's dimensions (0: not fixed yet), or undef without an index
sub index_dims
{
	my ($e) = @_;
	return undef unless $e->{has_index};
	my $r = $s->query("SELECT dimensions FROM hnsw_index_info('$e->{i}')");
	if (!$r->{ok})
	{
		fail_episode($e, "hnsw_index_info: " . HnswFuzz::Session::describe($r));
		return undef;
	}
	return $r->{out};
}

# the dimension count new rows get
sub dims_for_rows
{
	my ($e) = @_;
	return $e->{dim} if $e->{typed};
	my $d = index_dims($e);
	return $d if $d;
	# no index, or none fixed: whatever the table has, else the base count
	my $r = run($e, "SELECT coalesce(min(vector_dims(v)), $e->{dim}) FROM $e->{t}");
	return $r ? $r->{out} : $e->{dim};
}

sub new_vec
{
	my ($e, $dim) = @_;
	my %w = (normal => 55);
	%w = (%w, near => 8, small => 5) if fuzz_class('near');
	%w = (%w, grid => 15, zero => 5) if fuzz_class('ties');
	$w{extreme} = 12 if fuzz_class('extreme');
	my $class = rand_weighted(\%w);
	my @pool = grep { tr/,// + 1 == $dim } @{ $e->{pool} };
	my $v = $class eq 'near' ? (@pool ? nudge(rand_pick(@pool)) : vec_of($dim, 'normal')) : vec_of($dim, $class);
	push @{ $e->{pool} }, $v;
	shift @{ $e->{pool} } if @{ $e->{pool} } > 200;
	return $v;
}

sub old_vec
{
	my ($e, $dim) = @_;
	my @pool = grep { tr/,// + 1 == $dim } @{ $e->{pool} };
	return @pool ? rand_pick(@pool) : new_vec($e, $dim);
}

sub index_ddl
{
	my ($e, $concurrently) = @_;
	return sprintf('CREATE INDEX %s%s ON %s USING hnsw (v %s) WITH (m = %d, ef_construction = %d, storage = %s)',
		$concurrently ? 'CONCURRENTLY ' : '', $e->{i}, $e->{t}, $e->{opclass}, $e->{m}, $e->{efc},
		$e->{storage});
}

sub other_dim { my ($d) = @_; my $o; do { $o = rand_int(1, 9) } while $o == $d; return $o; }

my $DIMS_RE = qr/^different vector dimensions \d+ and \d+$/;

# the operations: name => [weight, code]
my %OPS;
%OPS = (
	insert => [
		25,
		sub {
			my ($e) = @_;
			my $d = dims_for_rows($e);
			my @v = map { new_vec($e, $d) } 1 .. (rand() < 0.3 ? rand_int(50, 150) : rand_int(1, 10));
			run($e, "INSERT INTO $e->{t} (v) VALUES " . join(',', map { "('$_')" } @v));
		}
	],
	insert_dups => [
		8,
		sub {
			my ($e) = @_;
			return unless fuzz_class('dups');
			my $d = dims_for_rows($e);
			my $v = rand() < 0.5 ? old_vec($e, $d) : new_vec($e, $d);
			my $k = fuzz_class('dups1000') && rand() < 0.3 ? rand_int(1000, 2500) : rand_int(100, 500);
			run($e, "INSERT INTO $e->{t} (v) SELECT '$v' FROM generate_series(1, $k)");
		}
	],
	insert_null => [
		2,
		sub {
			my ($e) = @_;
			run($e, "INSERT INTO $e->{t} (v) SELECT NULL FROM generate_series(1, " . rand_int(1, 20) . ')');
		}
	],
	insert_wrong_dims => [
		5,
		sub {
			my ($e) = @_;
			return if $e->{typed};
			my $d = index_dims($e);
			return unless $d;
			my $o = other_dim($d);
			my $v = vec_of($o, rand() < 0.3 ? 'zero' : 'normal');
			run($e, "INSERT INTO $e->{t} (v) VALUES ('" . vec_of($d, 'normal') . "'), ('$v')",
				state => '22000', msg => $DIMS_RE);
		}
	],
	update_wrong_dims => [
		2,
		sub {
			my ($e) = @_;
			return if $e->{typed};
			my $d = index_dims($e);
			return unless $d;
			my $v = vec_of(other_dim($d), rand() < 0.3 ? 'zero' : 'normal');
			run($e, "UPDATE $e->{t} SET v = '$v' WHERE id = (SELECT min(id) FROM $e->{t} WHERE v IS NOT NULL)",
				state => '22000', msg => $DIMS_RE);
		}
	],
	update_new => [
		10,
		sub {
			my ($e) = @_;
			my $d = dims_for_rows($e);
			my ($p, @v) = (rand_int(2, 12), map { new_vec($e, $d) } 1 .. 3);
			run($e, "UPDATE $e->{t} SET v = (ARRAY['$v[0]', '$v[1]', '$v[2]']::vector[])[id % 3 + 1]"
				  . " WHERE id % $p = " . rand_int(0, $p - 1));
		}
	],
	update_same => [
		4,
		sub {
			my ($e) = @_;
			my $p = rand_int(1, 6);
			run($e, "UPDATE $e->{t} SET v = v WHERE id % $p = " . rand_int(0, $p - 1));
		}
	],
	update_other_column => [
		3,
		sub {
			my ($e) = @_;
			my $p = rand_int(1, 6);
			run($e, "UPDATE $e->{t} SET note = coalesce(note, 0) + 1 WHERE id % $p = " . rand_int(0, $p - 1));
		}
	],
	update_to_one => [
		4,
		sub {
			my ($e) = @_;
			return unless fuzz_class('dups');
			my $v = old_vec($e, dims_for_rows($e));
			my $p = rand_int(2, 8);
			run($e, "UPDATE $e->{t} SET v = '$v' WHERE id % $p = " . rand_int(0, $p - 1));
		}
	],
	delete => [
		10,
		sub {
			my ($e) = @_;
			my $k = rand();
			my $p = rand_int(2, 10);
			my $where =
				$k < 0.5 ? "id % $p = " . rand_int(0, $p - 1)
			  : $k < 0.75 ? "id > (SELECT max(id) - " . rand_int(1, 300) . " FROM $e->{t})"
			  : $k < 0.9 ? "v = '" . old_vec($e, dims_for_rows($e)) . "'"
			  : "id % 10 <> " . rand_int(0, 9);
			run($e, "DELETE FROM $e->{t} WHERE $where");
		}
	],
	vacuum => [
		10,
		sub {
			my ($e) = @_;
			run($e, rand_pick("VACUUM $e->{t}", "VACUUM (INDEX_CLEANUP ON) $e->{t}",
				"VACUUM (FREEZE) $e->{t}", "VACUUM (DISABLE_PAGE_SKIPPING) $e->{t}", "ANALYZE $e->{t}"));
		}
	],
	vacuum_full => [ 1, sub { run($_[0], "VACUUM FULL $_[0]{t}"); } ],
	reindex => [
		3,
		sub {
			my ($e) = @_;
			return unless $e->{has_index};
			run($e, rand_pick("REINDEX INDEX $e->{i}", "REINDEX INDEX CONCURRENTLY $e->{i}", "REINDEX TABLE $e->{t}"));
		}
	],
	recreate_concurrently => [
		2,
		sub {
			my ($e) = @_;
			return unless $e->{has_index};
			run($e, "DROP INDEX $e->{i}") or return;
			$e->{has_index} = 0;
			$e->{m} = fuzz_class('small_graph') ? rand_pick(2, 4, 8, 16) : rand_pick(4, 8, 16);
			$e->{efc} = max(2 * $e->{m}, fuzz_class('small_graph') ? rand_pick(4, 16, 64) : rand_pick(16, 64));
			run($e, index_ddl($e, 1)) or return;
			$e->{has_index} = 1;
		}
	],
	build_on_two_dim_counts => [
		2,
		sub {
			my ($e) = @_;
			return if $e->{typed} || !$e->{has_index};
			my $d = dims_for_rows($e);
			my $o = other_dim($d);
			run($e, "DROP INDEX $e->{i}") or return;
			$e->{has_index} = 0;
			run($e, "INSERT INTO $e->{t} (v) VALUES ('" . vec_of($o, rand() < 0.3 ? 'zero' : 'normal') . "')") or return;
			my $r = run($e, "SELECT count(DISTINCT vector_dims(v)) FROM $e->{t}") or return;
			if ($r->{out} > 1)
			{
				my $r2 = run($e, index_ddl($e, rand() < 0.5), state => '22000', msg => $DIMS_RE) or return;
				if ($r2->{ok})
				{
					fail_episode($e, "CREATE INDEX on a column with two dimension counts succeeded");
					return;
				}
				# a failed CREATE INDEX CONCURRENTLY leaves an invalid index
				run($e, "DROP INDEX IF EXISTS $e->{i}") or return;
			}
			run($e, "DELETE FROM $e->{t} WHERE vector_dims(v) = $o") or return;
			run($e, "VACUUM $e->{t}") or return;
			run($e, index_ddl($e, rand() < 0.5)) or return;
			$e->{has_index} = 1;
		}
	],
	truncate => [ 1, sub { run($_[0], "TRUNCATE $_[0]{t}"); } ],
	rollback => [
		4,
		sub {
			my ($e) = @_;
			my $d = dims_for_rows($e);
			my @v = map { new_vec($e, $d) } 1 .. rand_int(1, 40);
			run($e, "BEGIN;\nINSERT INTO $e->{t} (v) VALUES " . join(',', map { "('$_')" } @v) . ";\n"
				  . "UPDATE $e->{t} SET v = '" . new_vec($e, $d) . "' WHERE id % 7 = " . rand_int(0, 6) . ";\n"
				  . "DELETE FROM $e->{t} WHERE id % 5 = " . rand_int(0, 4) . ";\nROLLBACK");
		}
	],
	savepoint => [
		2,
		sub {
			my ($e) = @_;
			my $d = dims_for_rows($e);
			my $v1 = new_vec($e, $d);
			my $v2 = new_vec($e, $d);
			run($e, "BEGIN;\nINSERT INTO $e->{t} (v) VALUES ('$v1');\nSAVEPOINT a;\n"
				  . "INSERT INTO $e->{t} (v) SELECT '$v2' FROM generate_series(1, " . rand_int(1, 50) . ");\n"
				  . "ROLLBACK TO a;\nINSERT INTO $e->{t} (v) VALUES ('$v2');\nCOMMIT");
		}
	],
	scan => [
		6,
		sub {
			my ($e) = @_;
			return unless $e->{has_index};
			my $d = dims_for_rows($e);
			my $q = rand() < 0.5 ? old_vec($e, $d) : vec_of($d, 'normal');
			# a query of any scale: inner product orders rows alike for every
			# positive multiple of it (products below float's normal range
			# lost their order before session 18)
			my $f = rand() < 0.25 ? rand_pick(1e-40, 1e-25, 1e-12, 1e12, 1e30) : 1;
			$q = scale_vec($q, $f) if $f != 1;
			my $mode = rand_pick('off', 'strict_order', 'relaxed_order');
			my $k = rand_pick(1, 5, 10, 100, 1000);
			my $r = run($e, "BEGIN;\nSET LOCAL enable_seqscan = off;\nSET LOCAL hnsw.ef_search = "
				  . rand_pick(1, 10, 40, 200) . ";\nSET LOCAL hnsw.iterative_scan = $mode;\n"
				  . "SELECT id, v $e->{op} '$q' FROM $e->{t} ORDER BY v $e->{op} '$q' LIMIT $k;\nCOMMIT")
			  or return;
			my @rows = map { [ split /\|/ ] } grep { /\|/ } split /\n/, $r->{out};
			fail_episode($e, "the scan returned " . scalar(@rows) . " rows for LIMIT $k") if @rows > $k;
			return if $mode eq 'relaxed_order';
			# a zero query under cosine has no direction: every distance is
			# NaN (as in pgvector) and the index returns rows in no order
			return
			  if $e->{oc} eq 'cosine' && @rows && !grep { $_->[1] !~ /NaN/i } @rows;
			for my $j (1 .. $#rows)
			{
				my ($a, $b) = ($rows[ $j - 1 ][1], $rows[$j][1]);
				# the index may round a distance otherwise than the operator
				# (cosine: it compares normalised vectors): as HnswTest's
				# $INVERSION_SLACK, relative, but absolute near 0 for
				# cosine and inner product; and the index's float distances
				# tie near 0 where the operator's double ones do not
				# (src/README.md section 9, distances at the ends of float's
				# range: squared L2 below about 1e-38, so L2 distances
				# below about 1e-19; L1 sums below float's normal range)
				my $slack = $INVERSION_SLACK * ($e->{oc} eq 'cosine' ? max(abs($a), 1)
					: $e->{oc} eq 'ip' ? max(abs($a), $f) : abs($a));
				$slack = max($slack, $e->{oc} eq 'l2' ? 1e-18 : $e->{oc} eq 'l1' ? 1e-37 : 0);
				# beyond 2^120 the index's distances keep 15 bits (vec_dist_compress:
				# about 1 part in 30,000, the same section), so rows that close
				# tie and come in either order; for L2 the operator's root, 2^60
				# (episode 265 of seed 1235742825: inner product near -4.66e38,
				# two rows 1e-5 apart)
				my $far = $e->{oc} eq 'l2' ? 2**60 : 2**120;
				$slack = max($slack, max(abs($a), abs($b)) * ($e->{oc} eq 'l2' ? 2**-15 : 2**-14))
				  if $a !~ /NaN/i && $b !~ /NaN/i && max(abs($a), abs($b)) > $far;
				# a coded index re-ranks by the operator's own sums (or the
				# executor does, by its bounds), so its rows come in the
				# operator's order, at any scale; cosine compares the
				# normalised query there, which may round otherwise
				$slack = 1e-12 * abs($a) if $e->{storage} ne 'float4' && $e->{oc} ne 'cosine';
				if ($b =~ /NaN/i || $a =~ /NaN/i || $b < $a - $slack)
				{
					fail_episode($e, "ordered scan ($mode) for '$q': distance $b after $a (row $j)");
					last;
				}
			}
		}
	],
);

# hnsw_index_check after every step, and one dimension count per column
sub check_step
{
	my ($e, $what) = @_;
	return if $e->{failed};
	if ($e->{has_index})
	{
		my $r = $s->query('SELECT elements, active, reachable FROM ' . check_sql($node, $e->{i}));
		push @{ $e->{script} }, 'SELECT * FROM ' . check_sql($node, $e->{i});
		if (!$r->{ok})
		{
			fail_episode($e, "hnsw_index_check after $what: " . HnswFuzz::Session::describe($r));
			return;
		}
	}
	return if $e->{typed} || !$e->{has_index};
	my $r = $s->query("SELECT count(DISTINCT vector_dims(v)), coalesce(min(vector_dims(v)), 0),"
		  . " (SELECT dimensions FROM hnsw_index_info('$e->{i}')) FROM $e->{t}");
	my ($n, $tdim, $idim) = split /\|/, $r->{out} // '';
	if (!$r->{ok} || $n > 1 || ($n == 1 && $idim != $tdim))
	{
		push @{ $e->{script} }, "SELECT vector_dims(v), count(*) FROM $e->{t} GROUP BY 1";
		fail_episode($e, "after $what the column holds "
			  . ($r->{ok} ? "$n dimension count(s) (least $tdim) under an index of $idim dimensions" : HnswFuzz::Session::describe($r)));
	}
	return;
}

# every row with a vector the index holds comes back from a full scan
sub final_scan
{
	my ($e) = @_;
	return if $e->{failed} || !$e->{has_index};
	my $d = dims_for_rows($e);
	return if $e->{failed};
	my $q = vec_of($d, 'normal');
	my $held = $e->{norm} ? 'v IS NOT NULL AND vector_norm(v) > 0' : 'v IS NOT NULL';
	my $sql = "BEGIN;\nSET LOCAL enable_seqscan = off;\nSET LOCAL hnsw.ef_search = 1000;\n"
	  . "SET LOCAL hnsw.iterative_scan = relaxed_order;\nSET LOCAL hnsw.max_scan_tuples = 2147483647;\n"
	  . "SET LOCAL hnsw.scan_mem_multiplier = 1000;\n"
	  . "WITH s AS MATERIALIZED (SELECT id FROM $e->{t} ORDER BY v $e->{op} '$q' LIMIT 100000000)\n"
	  . "SELECT (SELECT count(*) FROM s), (SELECT count(DISTINCT id) FROM s),\n"
	  . "  (SELECT count(*) FROM $e->{t} WHERE $held),\n"
	  . "  (SELECT coalesce(string_agg(id::text, ',' ORDER BY id), '') FROM\n"
	  . "    (SELECT id FROM $e->{t} WHERE $held EXCEPT SELECT id FROM s ORDER BY id LIMIT 10) m);\nCOMMIT";
	if ($e->{ep} < 4)
	{
		# the scan must go through the index
		my $r = $s->query("SET enable_seqscan = off; EXPLAIN (COSTS OFF) SELECT id FROM $e->{t} ORDER BY v $e->{op} '$q' LIMIT 100000000; RESET enable_seqscan");
		like($r->{out}, qr/Index Scan using $e->{i}/, "episode $e->{ep}: the full scan uses the index");
	}
	my $r = run($e, $sql) or return;
	my ($rows, $distinct, $held_n, $missing) = split /\|/, $r->{out};
	my $desc = "$rows rows ($distinct distinct) of $held_n" . ($missing ne '' ? ", missing ids $missing..." : '');
	$e->{final} = $desc;
	return if $rows == $held_n && $distinct == $held_n;
	if ($e->{oc} eq 'ip')
	{
		note("episode $e->{ep} (ip): the full scan returned $desc (inner product does not promise reachability)");
		fail_episode($e, "the full scan returned duplicates: $desc") if $distinct != $rows;
		return;
	}
	fail_episode($e, "the full scan with large bounds returned $desc");
	return;
}

sub episode
{
	my ($ep) = @_;
	my ($ocname, $opclass, $op, $norm) = @{ $OC[ $ep % 4 ] };
	my $e = {
		ep => $ep, oc => $ocname, opclass => $opclass, op => $op, norm => $norm,
		# (under cosine, 1-d vectors are all [1] or [-1] once normalised:
		# exact ties)
		dim => rand_pick((fuzz_class('ties') || $ocname ne 'cosine' ? (1) : ()), 2, 3, 3, 4, 5, 8, 8, 16, 33),
		typed => rand() < 0.5 ? 1 : 0,
		m => fuzz_class('small_graph') ? rand_pick(2, 3, 4, 6, 8, 16) : rand_pick(4, 6, 8, 16),
		# compact codes: exact order through the executor's recheck
		storage => rand_pick('float4', 'half', 'sq8', 'sq4'),
		t => "t$ep", i => "i$ep", script => [], pool => [], step => 0,
	};
	$e->{efc} = max(2 * $e->{m}, fuzz_class('small_graph') ? rand_pick(4, 8, 16, 32, 64) : rand_pick(16, 32, 64));
	my $steps = rand_int(12, 30);
	my $build_first = rand() < 0.5;
	$e->{desc} = sprintf('%s, %s, m %d, ef_construction %d, storage %s, %s', $ocname,
		$e->{typed} ? "vector($e->{dim})" : "vector (first rows $e->{dim}-d)",
		$e->{m}, $e->{efc}, $e->{storage}, $build_first ? 'built on rows' : 'built empty');

	run($e, "SET maintenance_work_mem = '" . rand_pick('1MB', '64MB') . "'");
	run($e, "CREATE TABLE $e->{t} (id serial PRIMARY KEY, v vector" . ($e->{typed} ? "($e->{dim})" : '') . ', note int)');
	if ($build_first)
	{
		$OPS{insert}[1]->($e) for 1 .. rand_int(0, 4);
		$OPS{insert_dups}[1]->($e) if rand() < 0.3 && fuzz_class('dups');
	}
	run($e, index_ddl($e, 0)) and $e->{has_index} = 1;
	check_step($e, 'CREATE INDEX');
	# HNSW_FUZZ_SKIP may name operations too
	my @names = grep { fuzz_class($_) } sort keys %OPS;
	my %w = map { $_ => $OPS{$_}[0] } @names;
	while ($e->{step} < $steps && !$e->{failed})
	{
		last if $e->{step} >= 5 && $ep >= 3 && fuzz_time_left($f) < 0;
		my $name = rand_weighted(\%w);
		$e->{step}++;
		push @{ $e->{script} }, "-- step $e->{step}: $name";
		my $before = @{ $e->{script} };
		$OPS{$name}[1]->($e);
		# (an operation may find nothing to do: another dimension count
		# needs an unconstrained column, and so on)
		$opcount{$name}++ if @{ $e->{script} } > $before;
		check_step($e, $name);
	}
	final_scan($e);
	ok(!$e->{failed},
		"episode $ep ($e->{desc}): $e->{step} steps, every step and check clean"
		  . ($e->{final} ? "; full scan: $e->{final}" : ''));
	my $r = $s->query("DROP TABLE $e->{t}");
	die 'DROP TABLE failed: ' . HnswFuzz::Session::describe($r) unless $r->{ok} || $r->{lost};
	return $e->{step};
}

my ($episodes, $steps) = (0, 0);
while ($episodes < 4 || fuzz_time_left($f) > 0)
{
	$steps += episode($episodes);
	$episodes++;
	# a crash or lost server ends the run
	last if grep { /connection lost|no answer/ } @failures;
}
$s->close;

note('operations run: ' . join(', ', map { "$_ $opcount{$_}" } sort keys %opcount));
diag(sprintf('fuzz ops: %d episodes, %d steps in %.0f s; %d failed', $episodes, $steps,
	Time::HiRes::time() - $f->{t0}, scalar @failures));
is(scalar(@failures), 0, 'no episode failed') or diag(failure_summary(2, @failures));
my @p = server_problems($node, $mark);
is(scalar(@p), 0, 'no backend crashed, no sanitizer report') or diag(join("\n", @p));

$node->stop;
done_testing();
