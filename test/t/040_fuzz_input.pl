# Fuzzing the vector type's input functions: vector_in (text) and
# vector_recv (binary, through COPY ... (FORMAT binary)).
#
# For HNSW_FUZZ_SECONDS (default 25) this generates batches of cases: a
# fixed corpus of edge cases first, then random vectors in every spelling
# strtof knows (decimals on both sides of the fast path's limits, long
# digit strings, exponents, hex floats, subnormals, the float4 limits,
# inf/nan spellings), random whitespace, structural damage (brackets,
# commas, junk, 0 and 16,001 elements) and random mutations of all of these
# (inserted, deleted, swapped and duplicated characters, odd bytes and
# non-ASCII characters), each with no type modifier or with one.
#
# Text oracle, independent of vector_in's code: the grammar of the README
# (optional whitespace, "[", elements separated by ",", "]") with each
# element cut where strtof stops reading (a regular expression here), and
# each element's value taken from float4in (the real type's input) on the
# same characters.  The case must then be accepted with exactly those float
# bits, or rejected with the SQLSTATE and message of the first fault in
# reading order: 22P02 bad syntax, 22003 an element beyond the float4
# range (the message quoting exactly the element's characters), 22000 NaN,
# infinity, no element, or another dimension count than the type modifier,
# 54000 more than 16,000 elements.  An element that float4in refuses because
# it underflows to zero is documented to read as 0 (README) and is expected
# so.  Every accepted vector must print as float4out prints its elements
# and read back bit for bit.
#
# Binary oracle: the pgvector layout (int16 dim, int16 unused = 0, dim
# float4, network order): accepted iff the layout is complete, dim is 1 to
# 16,000 and matches the type modifier, unused is 0 and no element is NaN
# or infinite; then vector_send must give back the very input bytes, and
# the text form must read back bit for bit.  Otherwise 08P01 (message too
# short), 22P03 (bytes left over), 22000 or 54000.
#
# With the sanitizer build (HnswFuzz), a self-test first checks that a
# memory error in the extension does stop the backend and is reported.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../perl", "$FindBin::Bin/../fuzz";
use Encode qw(encode_utf8);
use POSIX ();
use HnswTest;
use HnswFuzz;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $f = fuzz_start('input', 25);
my $node = fuzz_node('fuzz_input');
my $mark = server_mark($node);

# ---------------------------------------------------------------------
# Sanitizer self-test
# ---------------------------------------------------------------------
if (fuzz_sanitized($node))
{
	# committed synchronously: the cluster runs with synchronous_commit off,
	# and the crash of the first self-test once took the function's
	# creation with it (the next call then failed with "does not exist")
	$node->safe_psql('postgres',
		q{SET synchronous_commit = on;
		  CREATE FUNCTION hnsw_fuzz_selftest(text, int) RETURNS int
		  AS 'hnswsearch', 'hnsw_fuzz_selftest' LANGUAGE C STRICT});
	is($node->safe_psql('postgres', q{SELECT hnsw_fuzz_selftest('asan', 1)}),
		2, 'sanitizer self-test: a read within a stack array works');
	for my $t (
		[ 'asan', 4, qr/ERROR: AddressSanitizer: stack-buffer-overflow/, 'a read past a stack array' ],
		[ 'ubsan', 1, qr/runtime error: shift exponent 32 is too large/, 'a shift past the width' ])
	{
		my ($kind, $arg, $report, $what) = @$t;
		my ($rc, $out, $err) = $node->psql('postgres', "SELECT hnsw_fuzz_selftest('$kind', $arg)");
		isnt($rc, 0, "sanitizer self-test: $what fails");
		like($err, qr/server closed the connection unexpectedly|connection to server was lost/,
			"sanitizer self-test: $what ends the backend")
		  or diag($err);
		$node->poll_query_until('postgres', 'SELECT true') or die 'the server did not come back';
		my @p = server_problems($node, $mark, 0);
		ok((grep { /$report/ } @p), "sanitizer self-test: $what is reported")
		  or diag(join("\n", @p));
		ok((grep { /server process \(PID \d+\) was terminated by signal 6/ } @p),
			"sanitizer self-test: the server log shows the abort after $what");
		sanitizer_reports_clear($node);
		$mark = server_mark($node);
	}
	$node->safe_psql('postgres', 'DROP FUNCTION hnsw_fuzz_selftest(text, int)');
}
else
{
	note('no sanitizer build: no self-test');
}

# ---------------------------------------------------------------------
# Server side: float4in per token, vector_in per case, COPY BINARY per case
# ---------------------------------------------------------------------
my @TYPMODS = (1, 2, 3, 4, 8, 16, 16000);
$node->safe_psql(
	'postgres', q{
	CREATE TABLE fz_cases (id int PRIMARY KEY, s text NOT NULL, tm int NOT NULL);
	CREATE TABLE fz_tokens (t text PRIMARY KEY);
	CREATE TABLE fz_bin_cases (id int PRIMARY KEY, path text NOT NULL, tm int NOT NULL);
	CREATE TABLE fzb_any (v vector);
	-- float4in on one element's characters: SQLSTATE and float4send bits
	CREATE FUNCTION fz_f4(t text, OUT st text, OUT bits text) LANGUAGE plpgsql AS $$
	BEGIN
		bits := encode(float4send(t::real), 'hex');
		st := '00000';
	EXCEPTION WHEN OTHERS THEN
		st := SQLSTATE;
	END $$;
	-- the vector checks on an accepted vector: its text is float4out of each
	-- element, and the text reads back bit for bit ('ok' or what failed)
	CREATE FUNCTION fz_roundtrip(v vector) RETURNS text LANGUAGE plpgsql AS $$
	DECLARE
		t text;
	BEGIN
		t := v::text;
		IF t <> '[' || array_to_string(v::real[], ',') || ']' THEN
			RETURN 'text form is not float4out of each element: ' || left(t, 200);
		END IF;
		IF vector_send(t::vector) <> vector_send(v) THEN
			RETURN 'text form does not read back: ' || left(t, 200);
		END IF;
		RETURN 'ok';
	EXCEPTION WHEN OTHERS THEN
		RETURN 'round trip raised ' || SQLSTATE || ': ' || SQLERRM;
	END $$;
	-- vector_in with a type modifier
	CREATE FUNCTION fz_vec(s text, tm int, OUT st text, OUT bits text, OUT rt text, OUT msg text)
	LANGUAGE plpgsql AS $$
	DECLARE
		v vector;
	BEGIN
		BEGIN
			v := vector_in(s::cstring, 0, tm);
		EXCEPTION WHEN OTHERS THEN
			st := SQLSTATE;
			msg := CASE WHEN length(SQLERRM) <= 5000 THEN SQLERRM
					ELSE left(SQLERRM, 300) || '...' || right(SQLERRM, 300) END;
			RETURN;
		END;
		st := '00000';
		bits := encode(vector_send(v), 'hex');
		rt := fz_roundtrip(v);
	END $$;
	-- vector_recv: COPY one binary file into a table whose column has the
	-- type modifier tm
	CREATE FUNCTION fz_bin(path text, tm int, OUT st text, OUT bits text, OUT rt text, OUT msg text)
	LANGUAGE plpgsql AS $$
	DECLARE
		tbl text := CASE WHEN tm = -1 THEN 'fzb_any' ELSE 'fzb_' || tm END;
		v vector;
		n int;
	BEGIN
		BEGIN
			EXECUTE format('COPY %I FROM %L (FORMAT binary)', tbl, path);
		EXCEPTION WHEN OTHERS THEN
			st := SQLSTATE;
			msg := CASE WHEN length(SQLERRM) <= 5000 THEN SQLERRM
					ELSE left(SQLERRM, 300) || '...' || right(SQLERRM, 300) END;
			RETURN;
		END;
		EXECUTE format('SELECT count(*), (array_agg(v))[1] FROM %I', tbl) INTO n, v;
		EXECUTE format('DELETE FROM %I', tbl);
		IF n <> 1 THEN
			st := 'ROWS';
			msg := n || ' rows';
			RETURN;
		END IF;
		st := '00000';
		bits := encode(vector_send(v), 'hex');
		rt := fz_roundtrip(v);
	END $$;
} . join('', map { "CREATE TABLE fzb_$_ (v vector($_));\n" } @TYPMODS));

my $session = HnswFuzz::Session->new($node);
fuzz_clock_start($f);
my $bindir = PostgreSQL::Test::Utils::tempdir('fuzz_bin');

# ---------------------------------------------------------------------
# Text cases
# ---------------------------------------------------------------------
my @WS = (' ', "\t", "\n", "\r", "\x0b", "\x0c");
my $SP = qr/[ \t\n\r\x0b\x0c]/;
# the longest prefix strtof reads, in the C locale
my $TOKEN = qr/
	[+-]?
	(?: 0[xX] (?: [0-9a-fA-F]+ (?:\.[0-9a-fA-F]*)? | \.[0-9a-fA-F]+ ) (?:[pP][+-]?[0-9]+)?
	  | (?: [0-9]+ (?:\.[0-9]*)? | \.[0-9]+ ) (?:[eE][+-]?[0-9]+)?
	  | [iI][nN][fF] (?:[iI][nN][iI][tT][yY])?
	  | [nN][aA][nN] (?:\([0-9A-Za-z_]*\))?
	)/x;

my @SPECIAL = qw!
  inf -inf +inf Inf INF Infinity -Infinity infinity INFINITY infinit infinityx
  nan NaN -nan +nan NAN nan(123) nan() nan(abc_9) nan( nan(1-2) nanx
  0 -0 +0 0.0 -0.0 00 .0 0. 000000000000000000000 -.0
  1 -1 +1 1. .5 -.5 +.5 5. 17 -0.1234 0.1 0.2 0.3 3.14159 2.718281828
  16777215 16777216 16777217 16777218 33554431 99999999 4294967295 4294967296
  1677721.6 1677721.7 .16777216 .16777217 1.6777216 0.0000000001 0.00000000001
  0.1234567890 0.12345678901 9999999.999 1234567890123456789
  1e0 1e-0 1e+0 1E5 1.5e-3 2e+07 1e 1e+ 1e- 1.e5 .e5 e5 1e5.5
  3.4028235e38 -3.4028235e38 3.4028236e38 3.40282357e38 3.4028237e38 3.5e38 1e38 1e39
  1.17549435e-38 1.1754942e-38 1e-38 1e-39 1.4e-45 1e-45 -1e-45 7e-46 7.1e-46 1e-46 2e-45
  1e-50 -1e-50 1e-400 1e400 -1e400 1e-99999999999 1e99999999999 1e0000000000000000000038
  0x0 0x1 0X1 0x1p3 0x1P-3 0x.8 0x1.8p1 0x1p-149 0x1p-150 0x1.8p-150 0x1p-126 0x1p127
  0x1p128 0x1.fffffep127 0x1.ffffffp127 0x 0xg 0x1p 0x1p+ 0x.p1 -0x1p-149 0xFFFFFF 0x1000001
  + - . +. -. ++1 --1 +-1 -+1 1+ 1- 1..2 1.2.3 ..1
!;
my @ODD = (
	"\x01", "\x1f", "\x7f", ';', '"', "'", '\\', '{', '}', '(', ')', '_', ':', '*', '/',
	"\x{e9}", "\x{ff11}", "\x{663}", "\x{a0}", "\x{2212}", "\x{2003}", "\x{3000}", "\x{1f600}");
my @MUTCHARS = (
	0 .. 9, qw(. e E + - [ ] x X p P i n a f I N), ',', ' ', "\t", "\n", @ODD);

sub ws
{
	return '' if rand() < 0.75;
	return join '', map { rand_pick(@WS) } 1 .. rand_int(1, 3);
}

sub digits { return join '', map { int(rand(10)) } 1 .. $_[0]; }

# a random finite float as some decimal spelling
sub float_text
{
	my $bits = int(rand(2**32)) & 0xfffffffe;
	$bits &= 0x7fffffff if rand() < 0.5;
	my $exp = ($bits >> 23) & 0xff;
	$bits ^= 0x40000000 if $exp == 0xff;    # not NaN or inf
	my $x = unpack('f>', pack('N', $bits));
	my $k = rand();
	return sprintf('%.*g', rand_int(1, 12), $x) if $k < 0.6;
	return sprintf('%.*e', rand_int(0, 10), $x) if $k < 0.8;
	return sprintf('%.*E', rand_int(0, 10), $x);
}

# one element's text
sub token
{
	my $k = rand();
	my $sign = rand() < 0.3 ? rand_pick('-', '+', '') : '';
	if ($k < 0.30)
	{
		# a decimal the fast path reads, and just past its limits (19
		# significant digits, 2^53, exponents beyond +-22)
		my $wide = rand() < 0.3;
		my $int = digits(rand_int(0, $wide ? 21 : 8));
		my $frac = rand() < 0.7 ? '.' . digits(rand_int(0, $wide ? 24 : 11)) : '';
		$frac .= rand_pick('e', 'E') . rand_pick('', '+', '-') . rand_int(0, 30)
		  if rand() < 0.3;
		$int = '0' if $int eq '' && ($frac eq '' || $frac eq '.');
		return "$sign$int$frac";
	}
	return rand_pick(@SPECIAL) if $k < 0.45;
	return $sign . float_text() if $k < 0.70;
	if ($k < 0.80)
	{
		my $m = rand() < 0.5 ? digits(rand_int(1, 6)) . '.' . digits(rand_int(0, 6)) : digits(rand_int(1, 3));
		my $k2 = rand();
		my $e = $k2 < 0.75 ? rand_int(0, 45) : $k2 < 0.93 ? rand_int(0, 400) : digits(rand_int(1, 25));
		return $sign . $m . rand_pick('e', 'E') . rand_pick('', '+', '-') . $e;
	}
	if ($k < 0.88)
	{
		# long digit strings: strtof only
		my $n = rand_int(9, rand() < 0.9 ? 60 : 800);
		my $d = digits($n);
		substr($d, rand_int(0, $n), 0) = '.' if rand() < 0.7;
		return "$sign$d";
	}
	if ($k < 0.95)
	{
		my @h = (0 .. 9, 'a' .. 'f', 'A' .. 'F');
		my $m = join('', map { rand_pick(@h) } 1 .. rand_int(0, 8));
		$m .= '.' . join('', map { rand_pick(@h) } 1 .. rand_int(0, 8)) if rand() < 0.5;
		my $p = rand() < 0.7 ? rand_pick('p', 'P') . rand_pick('', '+', '-') . rand_int(0, 160) : '';
		return $sign . rand_pick('0x', '0X') . $m . $p;
	}
	return $sign . rand_pick(0, 1, 2, 9) . 'e-' . rand_int(36, 47);
}

sub vector_text
{
	my ($dim) = @_;
	my $s = ws() . '[' . ws();
	for my $i (1 .. $dim)
	{
		$s .= ws() . ',' . ws() if $i > 1;
		$s .= token();
	}
	return $s . ws() . ']' . ws();
}

sub rand_dim
{
	my $k = rand();
	return rand_int(1, 4) if $k < 0.5;
	return rand_int(5, 40) if $k < 0.97;
	return rand_int(41, 300) if $k < 0.995;
	return rand_pick(15999, 16000, 16001);
}

# a cheap vector of $n short elements (for the dimension limit)
sub long_vector
{
	my ($n, $last) = @_;
	return '[' . join(',', map { $_ % 10 } 1 .. $n - 1) . ",$last]";
}

sub mutate
{
	my ($s) = @_;
	for (1 .. rand_int(1, 4))
	{
		my $len = length $s;
		my $p = rand_int(0, $len);
		my $k = rand();
		if ($k < 0.25) { substr($s, $p, 0) = rand_pick(@MUTCHARS); }
		elsif ($k < 0.40) { substr($s, $p, 1) = '' if $p < $len; }
		elsif ($k < 0.55) { substr($s, $p, 1) = rand_pick(@MUTCHARS) if $p < $len; }
		elsif ($k < 0.62) { substr($s, $p, 0) = substr($s, rand_int(0, $len), rand_int(1, 6)); }
		elsif ($k < 0.70) { substr($s, $p, rand_int(1, 6)) = '' if $p < $len; }
		elsif ($k < 0.78)
		{
			substr($s, $p, 2) = reverse substr($s, $p, 2) if $p + 1 < $len;
		}
		elsif ($k < 0.88) { substr($s, $p, 0) = rand_pick(@SPECIAL); }
		elsif ($k < 0.94) { $s = substr($s, 0, $p); }
		else { $s .= rand_pick(@MUTCHARS, @SPECIAL, ']', ',', ' ', ',]'); }
	}
	return $s;
}

# the fixed corpus: every run starts with these
sub corpus
{
	my @c = (
		'', ' ', '[', ']', '[]', '[ ]', "[\t\n]", '[,]', '[1,]', '[,1]', '[1,,2]', '[1 2]',
		'[1;2]', '(1,2)', '{1,2}', '[1,2]]', '[[1,2]]', '[1,2', '1,2]', '[1,2] x', "[1,2]\t\n",
		" \t[1,2]", "[ 1 , 2 ]", "\x0b[\x0c1\r,\n2\t]\x0b", '[1,2]a', '[1,2],', '[1e5.5]',
		'[-]', '[+]', '[.]', '[e]', '[1e]', '[1e+]', '[0x]', '[0x1p]', '[nan(]', '[infinit]',
		'[nan x]', '[inf x]', '[1e99 x]', '[1e-50x]', '[1e-50 x]', '[1e99x]', '[0x1p-150]',
		"[\x{ff11}]", "[1\x{a0}]", "[\x{2212}1]", '[1' . "\x{2003}" . ']', '["1"]', "['1']",
		long_vector(16000, 7), long_vector(16001, 7), long_vector(16000, 'x'),
		long_vector(16001, 'x'), long_vector(16000, '1e99'), long_vector(16000, '7]x'),
		'[' . ('9' x 2000) . ']', '[0.' . ('0' x 60) . '1]', '[1' . ('0' x 38) . ']',
		'[1' . ('0' x 39) . ']', '[' . ('1,' x 100) . '1]');
	push @c, map { "[$_]" } @SPECIAL;
	push @c, map { "[ $_ , $_ ]" } @SPECIAL;
	return map { [ $_, -1 ] } @c;
}

# Phase 1 of the text oracle: the elements (as strtof would cut them) and
# how the text ends if every element is a good float: [tokens, state, why]
sub text_structure
{
	my ($s) = @_;
	my @tok;
	pos($s) = 0;
	$s =~ /\G$SP*/gc;
	return (\@tok, '22P02', 'syntax') unless $s =~ /\G\[/gc;
	$s =~ /\G$SP*/gc;
	return (\@tok, '22000', 'empty') if $s =~ /\G\]/gc;
	while (1)
	{
		return (\@tok, '54000', 'toolong') if @tok == 16000;
		$s =~ /\G$SP*/gc;
		return (\@tok, '22P02', 'syntax') unless $s =~ /\G($TOKEN)/gc;
		push @tok, $1;
		$s =~ /\G$SP*/gc;
		next if $s =~ /\G,/gc;
		last if $s =~ /\G\]/gc;
		return (\@tok, '22P02', 'syntax');
	}
	$s =~ /\G$SP*/gc;
	return (\@tok, '22P02', 'junk') if pos($s) != length($s);
	return (\@tok, '00000', 'ok');
}

# Phase 2: the expected result given float4in's verdict on each token.
# Returns (state, why, bits-hex or offending token).
sub text_expect
{
	my ($case, $f4) = @_;
	my ($s, $tm) = @$case;
	my ($tok, $state, $why) = text_structure($s);
	my @bits;
	for my $t (@$tok)
	{
		my $r = $f4->{$t} // die "no float4in result for $t";
		if ($r->[0] eq '00000')
		{
			my $u = hex($r->[1]);
			return ('22000', ($u & 0x7fffff) ? 'nan' : 'inf', $t) if (($u >> 23) & 0xff) == 0xff;
			push @bits, $r->[1];
		}
		elsif ($r->[0] eq '22003')
		{
			# float4in refuses underflow to zero as well as overflow; the
			# vector reads underflow as a (signed) zero, as documented
			my $d = POSIX::strtod($t);
			return ('22003', 'range', $t) if abs($d) >= 1;
			push @bits, $t =~ /^-/ ? '80000000' : '00000000';
		}
		else
		{
			return ($r->[0], 'float4in', $t);
		}
	}
	return ($state, $why, '') if $state ne '00000';
	my $n = scalar @$tok;
	return ('22000', 'typmod', '') if $tm != -1 && $tm != $n;
	return ('00000', 'ok', sprintf('%04x0000', $n) . join('', @bits));
}

my %MSG = (
	syntax => qr/^invalid input syntax for type vector: "/,
	junk => qr/^invalid input syntax for type vector: "/,
	float4in => qr/^invalid input syntax for type vector: "/,
	empty => qr/^vector must have at least 1 dimension$/,
	range => qr/ is out of range for type vector$/,
	toolong => qr/^vector cannot have more than 16000 dimensions$/,
	nan => qr/^NaN not allowed in vector$/,
	inf => qr/^infinite value not allowed in vector$/,
	typmod => qr/^expected \d+ dimensions, not \d+$/,
	short => qr/^insufficient data left in message$/,
	trailing => qr/^incorrect binary data format/,
	dims => qr/^vector must have at least 1 dimension$/,
	unused => qr/^expected unused to be 0, not -?\d+$/,);

sub hexstr { return unpack('H*', encode_utf8($_[0])); }

sub show
{
	my ($s) = @_;
	$s = substr($s, 0, 120) . '...(' . length($s) . ' chars)' if length($s) > 160;
	$s =~ s/([^\x20-\x7e])/sprintf('\\x{%x}', ord($1))/ge;
	return $s;
}

sub parse_rows
{
	my ($out, $ncols) = @_;
	my %r;
	for my $line (split /\n/, $out)
	{
		my @c = split /\|/, $line, -1;
		die "unexpected result line: $line" unless @c == $ncols;
		$r{ $c[0] } = \@c;
	}
	return \%r;
}

my (@text_bad, %text_seen, $text_n);

sub run_text_batch
{
	my ($cases) = @_;
	my $first = $text_n // 0;
	my %tokens;
	for my $c (@$cases)
	{
		my ($tok) = text_structure($c->[0]);
		$tokens{$_} = 1 for @$tok;
	}
	my $sql = "TRUNCATE fz_cases, fz_tokens;\n";
	my @rows = map { sprintf("(%d,convert_from('\\x%s','UTF8'),%d)", $first + $_, hexstr($cases->[$_][0]), $cases->[$_][1]) } 0 .. $#$cases;
	$sql .= 'INSERT INTO fz_cases VALUES ' . join(",\n", @rows) . ";\n";
	$sql .= 'INSERT INTO fz_tokens VALUES ' . join(',', map { '(' . sql_quote($_) . ')' } sort keys %tokens) . ";\n"
	  if %tokens;
	$sql .= 'SELECT t, st, bits FROM fz_tokens, fz_f4(t);';
	my $r = $session->query($sql);
	die 'float4in batch failed: ' . HnswFuzz::Session::describe($r) unless $r->{ok};
	my %f4;
	for my $line (split /\n/, $r->{out})
	{
		my ($t, $st, $bits) = split /\|/, $line, -1;
		$f4{$t} = [ $st, $bits ];
	}
	$r = $session->query(
		q{SELECT id, st, coalesce(bits, ''), coalesce(rt, ''), encode(convert_to(coalesce(msg, ''), 'UTF8'), 'hex')
		  FROM fz_cases, fz_vec(s, tm) ORDER BY id});
	die 'vector_in batch failed: ' . HnswFuzz::Session::describe($r) unless $r->{ok};
	my $res = parse_rows($r->{out}, 5);
	for my $i (0 .. $#$cases)
	{
		my $c = $cases->[$i];
		my ($est, $why, $ebits) = text_expect($c, \%f4);
		my $a = $res->{ $first + $i } // die "no result for case $i";
		my (undef, $ast, $abits, $rt, $msghex) = @$a;
		my $msg = Encode::decode_utf8(pack('H*', $msghex));
		$text_seen{$est}++;
		my $problem;
		if ($ast ne $est)
		{
			$problem = "expected $est ($why" . ($why =~ /^(range|nan|inf|float4in)$/ ? " at '$ebits'" : '') . "), got $ast" . ($msg ne '' ? " ($msg)" : '');
		}
		elsif ($est eq '00000')
		{
			$problem = "accepted with bits $abits, float4in gives $ebits" if $abits ne $ebits;
			$problem = "round trip: $rt" if !$problem && $rt ne 'ok';
		}
		else
		{
			$problem = "message '$msg' does not match $MSG{$why}" if $msg !~ $MSG{$why};
			$problem = "message '$msg' does not quote exactly '$ebits'"
			  if !$problem && $why eq 'range' && $msg !~ /^"\Q$ebits\E" is out of range for type vector$/;
		}
		push @text_bad, sprintf('text %s typmod %d: %s', show($c->[0]), $c->[1], $problem) if $problem;
	}
	$text_n = $first + @$cases;
	return;
}

sub text_cases
{
	my ($n) = @_;
	my @c;
	while (@c < $n)
	{
		my $dim = rand_dim();
		my $s;
		my $k = rand();
		if ($dim > 300) { $s = rand() < 0.5 ? long_vector($dim, token()) : vector_text($dim); }
		elsif ($k < 0.45) { $s = vector_text($dim); }
		else { $s = mutate(vector_text($dim < 40 ? $dim : 3)); }
		my $tm = -1;
		$tm = rand_pick($dim, $dim + 1, $dim - 1, rand_int(1, 5), 16000) if rand() < 0.15;
		$tm = -1 if $tm < 1;
		push @c, [ $s, $tm ];
	}
	return \@c;
}

# ---------------------------------------------------------------------
# Binary cases
# ---------------------------------------------------------------------
my @FBITS = (
	0x00000000, 0x80000000, 0x00000001, 0x80000001, 0x007fffff, 0x00800000, 0x7f7fffff, 0xff7fffff,
	0x3f800000, 0xbf800000, 0x34000000, 0x4b800000, 0x4b800001);
my @BAD_FBITS = (0x7f800000, 0xff800000, 0x7fc00000, 0xffc00000, 0x7f800001, 0x7fbfffff, 0xffffffff);

sub float_bits
{
	my $k = rand();
	return int(rand(2**32)) if $k < 0.3;    # NaN or inf one time in 256
	return rand_pick(@FBITS) if $k < 0.5;
	return rand_pick(@BAD_FBITS) if $k < 0.505;
	return unpack('N', pack('f>', sprintf('%.*f', rand_int(0, 4), rand(200) - 100)));
}

sub binary_case
{
	my $dim = rand() < 0.01 ? rand_pick(15999, 16000) : rand_int(1, 24);
	my $b = pack('s>s>', $dim, 0) . pack('N*', map { float_bits() } 1 .. $dim);
	if (rand() < 0.45)
	{
		my $k = rand();
		if ($k < 0.25)
		{
			substr($b, 0, 2) = pack('s>', rand_pick(0, -1, -32768, 16001, 32767, $dim + 1, $dim - 1, rand_int(-32768, 32767)));
		}
		elsif ($k < 0.35) { substr($b, 2, 2) = pack('s>', rand_pick(1, -1, 256, rand_int(-32768, 32767))); }
		elsif ($k < 0.55) { $b = substr($b, 0, rand_int(0, length($b) - 1)); }
		elsif ($k < 0.70) { $b .= join('', map { chr(int(rand(256))) } 1 .. rand_int(1, 8)); }
		elsif ($k < 0.85)
		{
			my $i = rand_int(0, $dim - 1);
			substr($b, 4 + 4 * $i, 4) = pack('N', rand_pick(@BAD_FBITS));
		}
		else
		{
			my $p = rand_int(0, length($b) - 1);
			substr($b, $p, 1) = chr(ord(substr($b, $p, 1)) ^ (1 << rand_int(0, 7)));
		}
	}
	my $tm = -1;
	$tm = rand_pick(@TYPMODS) if rand() < 0.2;
	return [ $b, $tm ];
}

sub binary_expect
{
	my ($b, $tm) = @_;
	my $len = length $b;
	return ('08P01', 'short') if $len < 4;
	my ($dim, $unused) = unpack('s>s>', $b);
	return ('22000', 'dims') if $dim < 1;
	return ('54000', 'toolong') if $dim > 16000;
	return ('22000', 'typmod') if $tm != -1 && $tm != $dim;
	return ('22000', 'unused') if $unused != 0;
	for my $i (0 .. $dim - 1)
	{
		return ('08P01', 'short') if 4 + 4 * ($i + 1) > $len;
		my $u = unpack('N', substr($b, 4 + 4 * $i, 4));
		return ('22000', ($u & 0x7fffff) ? 'nan' : 'inf') if (($u >> 23) & 0xff) == 0xff;
	}
	return ('22P03', 'trailing') if 4 + 4 * $dim < $len;
	return ('00000', 'ok');
}

my (@bin_bad, %bin_seen, $bin_n);

sub run_binary_batch
{
	my ($cases) = @_;
	my $first = $bin_n // 0;
	my @rows;
	for my $i (0 .. $#$cases)
	{
		my $path = "$bindir/case" . ($first + $i) . '.bin';
		open(my $fh, '>:raw', $path) or die "open $path: $!";
		# COPY BINARY: signature, flags, header extension length, one
		# tuple of one field, trailer
		print $fh "PGCOPY\n\xff\r\n\0", pack('NN', 0, 0), pack('n', 1),
		  pack('N', length $cases->[$i][0]), $cases->[$i][0], pack('n', 0xffff);
		close $fh;
		push @rows, sprintf('(%d,%s,%d)', $first + $i, sql_quote($path), $cases->[$i][1]);
	}
	my $r = $session->query(
		"TRUNCATE fz_bin_cases; INSERT INTO fz_bin_cases VALUES " . join(',', @rows) . ";\n"
		  . q{SELECT id, st, coalesce(bits, ''), coalesce(rt, ''), encode(convert_to(coalesce(msg, ''), 'UTF8'), 'hex')
		  FROM fz_bin_cases, fz_bin(path, tm) ORDER BY id});
	die 'binary batch failed: ' . HnswFuzz::Session::describe($r) unless $r->{ok};
	my $res = parse_rows($r->{out}, 5);
	for my $i (0 .. $#$cases)
	{
		my ($b, $tm) = @{ $cases->[$i] };
		my ($est, $why) = binary_expect($b, $tm);
		my (undef, $ast, $abits, $rt, $msghex) = @{ $res->{ $first + $i } // die "no result for binary case $i" };
		my $msg = Encode::decode_utf8(pack('H*', $msghex));
		$bin_seen{$est}++;
		my $problem;
		if ($ast ne $est) { $problem = "expected $est ($why), got $ast" . ($msg ne '' ? " ($msg)" : ''); }
		elsif ($est eq '00000')
		{
			$problem = "vector_send gives $abits" if $abits ne unpack('H*', $b);
			$problem = "round trip: $rt" if !$problem && $rt ne 'ok';
		}
		elsif ($msg !~ $MSG{$why}) { $problem = "message '$msg' does not match $MSG{$why}"; }
		my $hex = unpack('H*', $b);
		$hex = substr($hex, 0, 80) . '...' if length $hex > 80;
		push @bin_bad, sprintf('binary %s (%d bytes) typmod %d: %s', $hex, length $b, $tm, $problem) if $problem;
		unlink "$bindir/case" . ($first + $i) . '.bin';
	}
	$bin_n = $first + @$cases;
	return;
}

# ---------------------------------------------------------------------
# The run
# ---------------------------------------------------------------------
my @corpus = corpus();
# the binary corpus: every kind of fault once
my @bcorpus = map { [ $_, -1 ] } (
	'', "\0", "\0\1", "\0\1\0", pack('s>s>', 1, 0), pack('s>s>f>', 1, 0, 1.5),
	pack('s>s>f>', 0, 0, 1.5), pack('s>s>f>', -1, 0, 1.5), pack('s>s>f>', 1, 1, 1.5),
	pack('s>s>f>C', 1, 0, 1.5, 0), pack('s>s>N', 1, 0, 0x7fc00000), pack('s>s>N', 1, 0, 0xff800000),
	pack('s>s>N', 1, 0, 0x80000000), pack('s>s>N', 1, 0, 1), pack('s>s>N*', 16001, 0, (0) x 16001),
	pack('s>s>N*', 16000, 0, (0x3f800000) x 16000));
push @bcorpus, [ pack('s>s>f>f>', 2, 0, 1, 2), 2 ], [ pack('s>s>f>f>', 2, 0, 1, 2), 3 ];
run_text_batch(\@corpus);
run_binary_batch(\@bcorpus);
my $batches = 1;
while (fuzz_time_left($f) > 0)
{
	run_text_batch(text_cases(300));
	run_binary_batch([ map { binary_case() } 1 .. 150 ]);
	$batches++;
}
$session->close;

note(sprintf('%d batches in %.0f s: %d text cases (%s), %d binary cases (%s)',
	$batches, Time::HiRes::time() - $f->{t0}, $text_n,
	join(', ', map { "$_: $text_seen{$_}" } sort keys %text_seen), $bin_n,
	join(', ', map { "$_: $bin_seen{$_}" } sort keys %bin_seen)));
diag(sprintf('fuzz input: %d text and %d binary cases', $text_n, $bin_n));

is(scalar(@text_bad), 0, "text input: all $text_n cases as the grammar and float4in predict, round trips exact")
  or diag(join("\n", grep { defined } @text_bad[ 0 .. 19 ]));
is(scalar(@bin_bad), 0, "binary input: all $bin_n cases as the layout predicts, round trips exact")
  or diag(join("\n", grep { defined } @bin_bad[ 0 .. 19 ]));
for my $st (qw(00000 22P02 22003 22000 54000))
{
	ok($text_seen{$st}, "text cases with expected result $st were generated");
}
for my $st (qw(00000 08P01 22P03 22000 54000))
{
	ok($bin_seen{$st}, "binary cases with expected result $st were generated");
}
my @p = server_problems($node, $mark);
is(scalar(@p), 0, 'no backend crashed, no sanitizer report') or diag(join("\n", @p));

$node->stop;
done_testing();
