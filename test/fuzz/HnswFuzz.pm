# HnswFuzz: shared code of the fuzz tests (test/t/04*_fuzz_*.pl).
#
# Test files load it with
#     use FindBin;
#     use lib "$FindBin::Bin/../perl", "$FindBin::Bin/../fuzz";
#     use HnswFuzz;
#
# Settings (environment; the README's "Fuzzing" section has the same list):
#   HNSW_FUZZ_SECONDS   seconds each fuzzer spends generating cases (each
#                       test has a small default so that `make test` stays
#                       short; `make fuzz` raises it)
#   HNSW_FUZZ_SEED      seed of the case generator; every run prints the one
#                       it used, and the same seed gives the same cases in
#                       the same order
#   HNSW_FUZZ_SKIP      comma-separated case classes to leave out, e.g.
#                       extreme,dups1000 (see fuzz_class)
#   HNSW_FUZZ_SANITIZE  auto (default): run the fuzzers against a build of
#                       the extension with -fsanitize=address,undefined if
#                       gcc can link one; 1: the same but fail if it cannot;
#                       0: use the installed extension
#
# The sanitizer build (sanitizer_install) is made once per tmp_check (one
# `make test` run) and installed into a shadow copy of the PostgreSQL
# installation on PATH: the binaries copied, everything else symlinked, the
# extension's files replaced.  PostgreSQL finds its lib and share
# directories relative to its binaries, so nodes created with that
# install_path load the sanitizer build, and nothing is installed anywhere
# else.  The server binary itself is not instrumented: the sanitizer
# runtimes come in with the extension when a backend first loads it.  That
# finds stack and global overflows and undefined behaviour in the
# extension's code, but not overflows inside palloc'd chunks (PostgreSQL's
# memory contexts carve them out of larger malloc blocks) and not misuse of
# shared buffers.
package HnswFuzz;

use strict;
use warnings;

use Cwd qw(abs_path);
use Exporter 'import';
use Fcntl qw(:flock);
use File::Basename qw(basename dirname);
use File::Copy qw(copy);
use File::Path qw(make_path);
use IPC::Run;
use Time::HiRes ();
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use HnswTest;

our @EXPORT = qw(
  fuzz_start
  fuzz_time_left
  fuzz_clock_start
  fuzz_class
  fuzz_node
  fuzz_sanitized
  sanitizer_reports_clear
  check_sql
  server_mark
  server_problems
  rand_int
  rand_pick
  rand_weighted
  sql_quote
  failure_summary
  OPCLASSES
);

# the four operator classes: [name, opclass, operator, normalises]
use constant OPCLASSES => (
	[ 'l2', 'vector_l2_ops', '<->', 0 ],
	[ 'ip', 'vector_ip_ops', '<#>', 0 ],
	[ 'cosine', 'vector_cosine_ops', '<=>', 1 ],
	[ 'l1', 'vector_l1_ops', '<+>', 0 ],);

my $tree = abs_path(dirname(__FILE__) . '/../..');
my %skip = map { $_ => 1 } grep { $_ ne '' } split /\s*,\s*/, $ENV{HNSW_FUZZ_SKIP} // '';

# Starts a fuzzer: reads the settings, seeds rand() and prints the seed
# and budget (diag, so that prove shows them even when everything
# passes).  Returns a hash: name, seconds, seed, t0.
sub fuzz_start
{
	my ($name, $default_seconds) = @_;
	my $seconds = $ENV{HNSW_FUZZ_SECONDS} // $default_seconds;
	die "HNSW_FUZZ_SECONDS must be a number: $seconds" unless $seconds =~ /^\d+(\.\d+)?$/;
	my $seed = $ENV{HNSW_FUZZ_SEED};
	if (!defined $seed || $seed eq '')
	{
		$seed = int(Time::HiRes::time() * 1000 + $$) % 2147483647;
	}
	die "HNSW_FUZZ_SEED must be an integer: $seed" unless $seed =~ /^\d+$/;
	srand($seed);
	diag("fuzz $name: seed $seed, $seconds s"
		  . (%skip ? ', skipping ' . join(',', sort keys %skip) : '')
		  . " (to repeat: HNSW_FUZZ_SEED=$seed HNSW_FUZZ_SECONDS=$seconds)");
	return { name => $name, seconds => $seconds, seed => $seed, t0 => Time::HiRes::time() };
}

# starts the budget's clock (after the setup, which may include the
# sanitizer build)
sub fuzz_clock_start
{
	my ($f) = @_;
	$f->{t0} = Time::HiRes::time();
	return;
}

# seconds left of the fuzzer's budget (negative once it is spent)
sub fuzz_time_left
{
	my ($f) = @_;
	return $f->{seconds} - (Time::HiRes::time() - $f->{t0});
}

# Is case class $name on?  All are, unless HNSW_FUZZ_SKIP names them.
# The classes that today's code fails on (see the README) can be turned
# off this way while they are being fixed: extreme (values near the
# float4 limits, subnormals), dups (one vector in hundreds of rows),
# dups1000 (... in thousands), ties (vectors of small integers and zero
# vectors, 1-d cosine: many exact ties), near (near-copies of earlier
# vectors, a tight cluster of tiny vectors),
# small_graph (m 2 or 3, ef_construction below 16), meta (damage to the
# metapage), lp255 (pages claiming more than 255 line pointers).  A fuzzer
# may accept other names (041: its operations).
sub fuzz_class
{
	my ($name) = @_;
	return !$skip{$name};
}

sub rand_int { my ($lo, $hi) = @_; return $lo + int(rand($hi - $lo + 1)); }
sub rand_pick { return $_[ int(rand(scalar @_)) ]; }

# picks a key of %$w with probability proportional to its value
sub rand_weighted
{
	my ($w) = @_;
	my @k = sort keys %$w;
	my $total = 0;
	$total += $w->{$_} for @k;
	my $r = rand($total);
	for (@k)
	{
		return $_ if ($r -= $w->{$_}) < 0;
	}
	return $k[-1];
}

# A summary of failure descriptions: how many share each kind (the first
# line with numbers, quoted values and names blanked), with the first
# $n_examples of each in full.
sub failure_summary
{
	my ($n_examples, @failures) = @_;
	my (%count, %examples, @order);
	for my $f (@failures)
	{
		my ($first) = grep { /ERROR|failed|returned|crash|lost|timeout|sanitizer|holds|column|distance/ } split /\n/, $f;
		my $kind = $first // (split /\n/, $f)[0];
		$kind =~ s/^.*?(ERROR|->|after REINDEX|REINDEX failed)/$1/;
		$kind =~ s/"[^"]*"/"..."/g;
		$kind =~ s/'[^']*'/'...'/g;
		$kind =~ s/\d+(\.\d+)?(e[-+]?\d+)?/N/g;
		$kind =~ s/^.*?step N: //;
		$kind =~ s/N(,N)+/N,.../g;
		push @order, $kind unless $count{$kind}++;
		push @{ $examples{$kind} }, $f if @{ $examples{$kind} // [] } < $n_examples;
	}
	return join("\n", map { "$count{$_} x $_\n" . join("\n", map { s/^/    /mgr } @{ $examples{$_} }) } @order);
}

sub sql_quote
{
	my ($s) = @_;
	$s =~ s/'/''/g;
	return "'$s'";
}

# ---------------------------------------------------------------------
# The sanitizer build
# ---------------------------------------------------------------------

my $SAN_FLAGS = '-O1 -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer';
my $san_state;    # undef: not tried yet; '' unavailable; else the install path

sub pg_config
{
	my ($opt) = @_;
	my $pc = $ENV{PG_CONFIG} || 'pg_config';
	my $v = `$pc --$opt`;
	die "$pc --$opt failed" if $? != 0;
	chomp $v;
	return $v;
}

sub run_logged
{
	my ($log, @cmd) = @_;
	open(my $fh, '>>', $log) or die "open $log: $!";
	print $fh "\$ @cmd\n";
	close $fh;
	return system("@cmd >>'$log' 2>&1") == 0;
}

# A PostgreSQL installation (for install_path) whose extension is the
# sanitizer build, or undef when HNSW_FUZZ_SANITIZE is 0 or (auto) gcc
# cannot link a sanitized library.  Builds it on first use in this
# tmp_check (under a lock: other tests reuse it).
sub sanitizer_install
{
	return $san_state || undef if defined $san_state;
	my $mode = $ENV{HNSW_FUZZ_SANITIZE} // 'auto';
	if ($mode eq '0' || $mode eq 'off')
	{
		$san_state = '';
		return undef;
	}
	my $root = "$PostgreSQL::Test::Utils::tmp_check/sanitizer";
	make_path($root);
	open(my $lock, '>', "$root/lock") or die "open $root/lock: $!";
	flock($lock, LOCK_EX) or die "flock: $!";
	my $log = "$root/build.log";
	if (-f "$root/ready")
	{
		$san_state = slurp_file("$root/ready");
	}
	elsif (-f "$root/unavailable")
	{
		$san_state = '';
	}
	else
	{
		$san_state = build_sanitized($root, $log);
		if ($san_state) { append_to_file("$root/ready", $san_state); }
		else { append_to_file("$root/unavailable", 'x'); }
	}
	close $lock;
	if (!$san_state)
	{
		BAIL_OUT("HNSW_FUZZ_SANITIZE=1 but no sanitizer build: see $log")
		  if $mode eq '1' || $mode eq 'on';
		diag("no sanitizer build (gcc cannot link -fsanitize=address,undefined here): "
			  . "fuzzing the installed extension; see $log");
		return undef;
	}
	return $san_state;
}

sub build_sanitized
{
	my ($root, $log) = @_;
	my $t0 = time;
	my $cc = pg_config('cc');
	$cc =~ s/\s.*//;

	# can this toolchain link a sanitized shared library at all?
	my $probe = "$root/probe.c";
	append_to_file($probe, "int hnsw_probe(int i) { int a[2] = {1, 2}; return a[i & 1]; }\n");
	if (!run_logged($log, $cc, $SAN_FLAGS, '-shared', '-fPIC', '-o', "$root/probe.so", $probe))
	{
		return '';
	}

	# the build: a copy of the sources plus the sanitizer hooks
	my $b = "$root/build";
	make_path("$b/src", "$b/sql");
	copy("$tree/$_", "$b/$_") or die "copy $_: $!" for qw(Makefile hnswsearch.control);
	for my $f (glob("$tree/src/*.[ch]"), glob("$tree/test/fuzz/sanitizer_*.c"))
	{
		copy($f, "$b/src/" . basename($f)) or die "copy $f: $!";
	}
	for my $f (glob("$tree/sql/hnswsearch--*.sql"))
	{
		copy($f, "$b/sql/" . basename($f)) or die "copy $f: $!";
	}
	my $pc = $ENV{PG_CONFIG} || 'pg_config';
	# with_llvm=no: no JIT bitcode (the fuzz nodes run with jit = off)
	run_logged($log, 'make', '-C', $b, '-s', '-j2', "PG_CONFIG=$pc", 'with_llvm=no',
		"COPT='$SAN_FLAGS'")
	  or BAIL_OUT("the sanitizer build of the extension failed: see $log");

	# the shadow installation
	my ($bindir, $libdir, $sharedir) = map { pg_config($_) } qw(bindir pkglibdir sharedir);
	my $inst = "$root/install";
	make_path("$inst$bindir", "$inst$libdir", "$inst$sharedir/extension");
	for my $f (glob("$bindir/*"))
	{
		my $to = "$inst$bindir/" . basename($f);
		# a real file, not a symlink: PostgreSQL resolves its own path
		# through symlinks to find lib and share
		link($f, $to) or copy($f, $to) or die "copy $f: $!";
		chmod((stat $f)[2] & 07777, $to);
	}
	for my $f (glob("$libdir/*"))
	{
		next if basename($f) =~ /^hnswsearch\./;
		symlink($f, "$inst$libdir/" . basename($f)) or die "symlink $f: $!";
	}
	for my $f (glob("$sharedir/*"))
	{
		next if basename($f) eq 'extension';
		symlink($f, "$inst$sharedir/" . basename($f)) or die "symlink $f: $!";
	}
	for my $f (glob("$sharedir/extension/*"))
	{
		next if basename($f) =~ /^hnswsearch[.-]/;
		symlink($f, "$inst$sharedir/extension/" . basename($f)) or die "symlink $f: $!";
	}
	copy("$b/hnswsearch.so", "$inst$libdir/hnswsearch.so") or die "copy hnswsearch.so: $!";
	chmod(0755, "$inst$libdir/hnswsearch.so");
	copy("$b/hnswsearch.control", "$inst$sharedir/extension/hnswsearch.control")
	  or die "copy control: $!";
	for my $f (glob("$b/sql/hnswsearch--*.sql"))
	{
		copy($f, "$inst$sharedir/extension/" . basename($f)) or die "copy $f: $!";
	}

	# the copy must find its own lib directory, not the original one
	my $install_path = $inst . dirname($bindir);
	my $found = `'$install_path/bin/pg_config' --pkglibdir`;
	chomp $found;
	if ($found ne "$inst$libdir")
	{
		append_to_file($log, "the copied installation reports pkglibdir $found, not $inst$libdir\n");
		return '';
	}
	diag(sprintf('sanitizer build (%s) ready in %d s: %s', $SAN_FLAGS, time - $t0, $install_path));
	return $install_path;
}

# ---------------------------------------------------------------------
# Nodes and crash detection
# ---------------------------------------------------------------------

my %san_logdir;    # node name => directory of sanitizer reports

# hnsw_node on the sanitizer build when there is one (and jit off, so
# that no JIT bitcode of the normal build runs instead).  %opts as for
# hnsw_node (conf lines are appended).
sub fuzz_node
{
	my ($name, %opts) = @_;
	my $inst = sanitizer_install();
	if ($inst)
	{
		my $dir = "$PostgreSQL::Test::Utils::tmp_check/sanitizer_reports_$name";
		make_path($dir);
		$san_logdir{$name} = $dir;
		# read by test/fuzz/sanitizer_options.c in the server (the
		# runtimes cannot read ASAN_OPTIONS there); inherited by every
		# server started from here on
		$ENV{HNSW_ASAN_OPTIONS} = 'verify_asan_link_order=0:detect_leaks=0:abort_on_error=1'
		  . ":halt_on_error=1:log_path=$dir/asan";
		$ENV{HNSW_UBSAN_OPTIONS} = 'print_stacktrace=1:halt_on_error=1:abort_on_error=1'
		  . ":log_path=$dir/ubsan";
	}
	# restart_after_crash: after a crash (which fails the test) the fuzzer
	# goes on, to find what else there is
	return hnsw_node(
		$name,
		install_path => $inst,
		conf => [ 'jit = off', 'restart_after_crash = on', @{ $opts{conf} // [] } ]);
}

# Is $node running the sanitizer build?
sub fuzz_sanitized
{
	my ($node) = @_;
	return defined $san_logdir{ $node->name };
}

# Removes the sanitizer reports of $node (after a deliberate crash).
sub sanitizer_reports_clear
{
	my ($node) = @_;
	my $dir = $san_logdir{ $node->name };
	unlink glob("$dir/*") if $dir;
	return;
}

# The SQL call of hnsw_index_check($index) that every fuzzer uses: with the
# table pass (heapallindexed => true) when the installed extension has the
# two-argument form, else the one-argument form.
my %check_args;
sub check_sql
{
	my ($node, $index) = @_;
	$check_args{ $node->name } //= $node->safe_psql('postgres',
		q{SELECT count(*) FROM pg_proc WHERE proname = 'hnsw_index_check' AND pronargs = 2});
	return $check_args{ $node->name }
	  ? "hnsw_index_check('$index'::regclass, true)"
	  : "hnsw_index_check('$index'::regclass)";
}

# The state to compare with later: the postmaster's start time and the
# length of its log.
sub server_mark
{
	my ($node) = @_;
	return {
		start => $node->safe_psql('postgres', 'SELECT pg_postmaster_start_time()'),
		log => -s $node->logfile,
	};
}

# What went wrong since server_mark: a postmaster restart, a backend that
# died (the log), sanitizer reports.  Returns a list of descriptions
# (empty: all is well).  With $running false the server is not queried
# (it is stopped).
sub server_problems
{
	my ($node, $mark, $running) = @_;
	$running //= 1;
	my @p;
	if ($running)
	{
		my ($rc, $start) = (0, '');
		$rc = $node->psql('postgres', 'SELECT pg_postmaster_start_time()', stdout => \$start);
		push @p, 'the server does not answer' if $rc != 0;
		push @p, "the postmaster restarted (started $mark->{start}, now $start)"
		  if $rc == 0 && $start ne $mark->{start};
	}
	my @log = split /\n/, slurp_file($node->logfile, $mark->{log});
	for my $i (0 .. $#log)
	{
		if ($log[$i] =~ /server process \(PID \d+\) (was terminated|exited with exit code)|terminating any other active server processes|PANIC:|TRAP:/)
		{
			push @p, "server log: $log[$i]";
		}
		elsif ($log[$i] =~ /runtime error:|ERROR: [A-Za-z]+Sanitizer/)
		{
			# UBSan writes to stderr (the server log) whatever log_path says
			my $to = $i + 15 > $#log ? $#log : $i + 15;
			push @p, "sanitizer report in the server log:\n" . join("\n", @log[ $i .. $to ]);
		}
	}
	my $dir = $san_logdir{ $node->name };
	if ($dir)
	{
		for my $f (sort glob("$dir/*"))
		{
			my $text = slurp_file($f);
			my @lines = split /\n/, $text;
			splice(@lines, 40) if @lines > 40;
			push @p, "sanitizer report $f:\n" . join("\n", @lines);
		}
	}
	return @p;
}

# ---------------------------------------------------------------------
# A psql session that runs one statement (or script) at a time and tells
# which ERROR it raised, with its SQLSTATE: much cheaper than a psql
# process per statement.
# ---------------------------------------------------------------------
package HnswFuzz::Session;

use strict;
use warnings;
use IPC::Run;

# HnswFuzz::Session->new($node): a session in database postgres
sub new
{
	my ($class, $node) = @_;
	my $self = bless { node => $node, n => 0 }, $class;
	$self->start;
	return $self;
}

sub start
{
	my ($self) = @_;
	$self->{in} = $self->{out} = $self->{err} = '';
	$self->{timer} = IPC::Run::timer($PostgreSQL::Test::Utils::timeout_default);
	$self->{h} = IPC::Run::start(
		[
			'psql', '-XAtq', '-v', 'ON_ERROR_STOP=0', '-v', 'VERBOSITY=verbose',
			'-d', $self->{node}->connstr('postgres'), '-f', '-'
		],
		'<', \$self->{in}, '>', \$self->{out}, '2>', \$self->{err},
		$self->{timer});
	return;
}

sub close
{
	my ($self) = @_;
	return unless $self->{h};
	$self->{in} .= "\\q\n";
	eval { $self->{h}->finish; 1 } or eval { $self->{h}->kill_kill; };
	delete $self->{h};
	return;
}

# Runs $sql; returns a hash:
#   ok     1 if no ERROR
#   out    its output (psql -At)
#   state  SQLSTATE of the first ERROR, msg its message, where its
#          LOCATION line
#   lost   the session died (the server closed the connection or psql
#          exited); a new session is started for the next query
#   timeout  no answer within $timeout seconds (default: the TAP default);
#          the session is killed and a new one started
#   err    everything psql wrote to stderr
sub query
{
	my ($self, $sql, $timeout) = @_;
	$self->start unless $self->{h};
	my $n = ++$self->{n};
	my $marker = "__hnsw_fuzz_${n}__";
	$self->{out} = $self->{err} = '';
	$self->{in} .= "$sql\n;\n\\echo $marker\n\\warn $marker\n";
	$self->{timer}->start($timeout // $PostgreSQL::Test::Utils::timeout_default);
	my %r = (ok => 0, lost => 0, timeout => 0);
	# the markers' whole lines, newline included: a marker read without its
	# newline would leave that newline to start the next query's output
	my $done = sub {
		return $self->{out} =~ /^$marker\n/m && $self->{err} =~ /^$marker\n/m;
	};
	eval {
		$self->{h}->pump while $self->{h}->pumpable && !$done->() && !$self->{timer}->is_expired;
		1;
	} or $r{lost} = 1;
	if ($self->{timer}->is_expired && !$done->())
	{
		$r{timeout} = 1;
		eval { $self->{h}->kill_kill; };
		delete $self->{h};
	}
	elsif (!$done->())
	{
		$r{lost} = 1;
		eval { $self->{h}->finish; };
		delete $self->{h};
	}
	($r{out} = $self->{out}) =~ s/^$marker\n?//m;
	($r{err} = $self->{err}) =~ s/^$marker\n?//m;
	chomp $r{out};
	if ($r{err} =~ /^(?:psql:[^\n]*?)?(ERROR|FATAL|PANIC):  ([0-9A-Z]{5}): ([^\n]*)/m)
	{
		@r{qw(level state msg)} = ($1, $2, $3);
		$r{where} = $1 if $r{err} =~ /^LOCATION:  ([^\n]*)/m;
	}
	$r{lost} = 1
	  if $r{err} =~ /server closed the connection unexpectedly|connection to server was lost|no connection to the server/;
	$r{ok} = (!$r{lost} && !$r{timeout} && !defined $r{state}) ? 1 : 0;
	return \%r;
}

# one line describing a query result
sub describe
{
	my ($r) = @_;
	return 'no answer (timeout)' if $r->{timeout};
	return 'connection lost: ' . ($r->{err} =~ s/\s+/ /gr) if $r->{lost};
	return 'ok' if $r->{ok};
	return "$r->{level} $r->{state}: $r->{msg}" . ($r->{where} ? " ($r->{where})" : '');
}

1;
