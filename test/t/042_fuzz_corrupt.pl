# Fuzzing with damaged index pages: every operation must succeed or fail
# with a clean ERROR, and REINDEX must repair.
#
# Four tables (one per operator class) of 600 to 1,200 random vectors get an
# hnsw index each (built on the rows, or created empty and filled by
# INSERTs, with random m, ef_construction and storage).  Then, for HNSW_FUZZ_SECONDS
# (default 40, at least two rounds), each round stops the server, damages
# every index file on disk at random and starts the server again:
#   flip     random bits anywhere in a random page
#   bytes    random bytes at random places of a page
#   garbage  a run of random bytes (4 to 512) at a random place of a page
#   zero     a run of zero bytes, or the whole page zeroed
#   copy     another page of the index copied over the page
#   element  one field of an element tuple: type, level, flags, neighbour
#            tuple id, a heap TID, a vector element (NaN, inf, huge, random)
#   neighbor one field of a neighbour tuple: type, level, an edge's id (past
#            the end, offset 0, beyond the page's items, itself, random) or
#            distance (NaN, inf, negative, huge)
#   lp       a line pointer: offset, length or flags
#   header   pd_lower, pd_upper or pd_special, within PostgreSQL's own page
#            checks or not
#   special  the special space
#   truncate the file cut to fewer blocks
#   extend   pages of zeros, garbage or copies appended
#   lp255    (class lp255) a page claiming more than 255 line pointers
#   meta     (class meta) a metapage field: magic, version, dim, m,
#            ef_construction, max_level, entry, entry_level, insert_page
# Blocks are chosen at random among all graph pages (block 0 only for meta).
# Then, on each index: hnsw_index_check (through check_sql), hnsw_index_info,
# ordered scans (small and large ef_search, strict, relaxed, off, a filter,
# a full scan with large bounds), INSERT (new vectors and copies of existing
# ones), UPDATE (new vector, same vector), DELETE, VACUUM twice, the check
# again, and REINDEX.  Every statement before REINDEX may succeed or raise an
# ERROR; none may end its backend (crash, sanitizer report), restart the
# postmaster or run into statement_timeout.  REINDEX must succeed, and after
# it the check must pass and the index must hold every row (a separate
# assertion).  Class small_graph (m 2, ef_construction 8 among the
# choices) can be turned off with HNSW_FUZZ_SKIP (see HnswFuzz).
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

my $BLCKSZ = 8192;
my $f = fuzz_start('corrupt', 40);
my $node = fuzz_node('fuzz_corrupt', conf => [ 'statement_timeout = 60s' ]);
my @OC = OPCLASSES;

# ---------------------------------------------------------------------
# the tables
# ---------------------------------------------------------------------
my @T;
for my $oc (@OC)
{
	my ($name, $opclass, $op, $norm) = @$oc;
	my $t = {
		name => $name, opclass => $opclass, op => $op, norm => $norm,
		tbl => "c_$name", idx => "c_${name}_idx",
		dim => rand_pick(3, 8, 16, 24),
		n => rand_int(600, 1200),
		m => fuzz_class('small_graph') ? rand_pick(2, 4, 8, 16) : rand_pick(4, 8, 16),
		storage => rand_pick('float4', 'half', 'sq8', 'sq4'),
	};
	$t->{efc} = max(2 * $t->{m}, fuzz_class('small_graph') ? rand_pick(8, 32, 64) : rand_pick(32, 64));
	my $vec = "(SELECT array_agg(round((random() * 2 - 1)::numeric, 4)) FROM generate_series(1, $t->{dim}) WHERE i > 0)::vector";
	my $ddl = "CREATE INDEX $t->{idx} ON $t->{tbl} USING hnsw (v $opclass) "
	  . "WITH (m = $t->{m}, ef_construction = $t->{efc}, storage = $t->{storage})";
	my $build = rand() < 0.5;
	$node->safe_psql(
		'postgres', "SELECT setseed(" . rand() . ");
		CREATE TABLE $t->{tbl} (id serial PRIMARY KEY, v vector($t->{dim}));"
		  . ($build ? '' : "$ddl;")
		  . "INSERT INTO $t->{tbl} (v) SELECT $vec FROM generate_series(1, $t->{n}) i;"
		  . ($build ? "$ddl;" : ''));
	$t->{desc} = sprintf('%s: %d x %d-d, m %d, ef_construction %d, storage %s, %s', $name, $t->{n},
		$t->{dim}, $t->{m}, $t->{efc}, $t->{storage}, $build ? 'built' : 'filled by INSERT');
	push @T, $t;
}

# the SQL count of rows the index must hold
sub held { my ($t) = @_; return $t->{norm} ? 'v IS NOT NULL AND vector_norm(v) > 0' : 'v IS NOT NULL'; }

# after a repair: the check passes and the index holds each row once
sub sound_sql
{
	my ($t) = @_;
	return "SELECT c.active, i.count_indexed, (SELECT count(*) FROM $t->{tbl} WHERE ${\ held($t)})
		FROM " . check_sql($node, $t->{idx}) . " c, hnsw_index_info('$t->{idx}') i";
}

for my $t (@T)
{
	# (not safe_psql: an index that fails its check before any damage is a
	# failure of this test, but the damage rounds go on)
	my ($out, $err) = ('', '');
	$node->psql('postgres', sound_sql($t), stdout => \$out, stderr => \$err);
	my ($active, $indexed, $rows) = split /\|/, $out;
	ok(defined $rows && $indexed == $rows, "$t->{desc}: the index checks clean and holds all rows")
	  or diag("before any damage: " . ($err || "the index holds $indexed of $rows rows"));
}

# ---------------------------------------------------------------------
# damage
# ---------------------------------------------------------------------

# the page's line pointers: [offset number, lp_off, flags, lp_len]
sub items
{
	my ($p) = @_;
	my $lower = unpack('v', substr($p, 12, 2));
	my @it;
	for (my ($lp, $n) = (24, 1); $lp + 4 <= min($lower, $BLCKSZ); $lp += 4, $n++)
	{
		my $w = unpack('V', substr($p, $lp, 4));
		push @it, [ $n, $w & 0x7fff, ($w >> 15) & 3, $w >> 17 ];
	}
	return @it;
}

# normal items of tuple type $type (1 element, 2 neighbours) that lie on
# the page
sub tuples
{
	my ($p, $type) = @_;
	return grep {
		$_->[2] == 1 && $_->[1] >= 24 && $_->[1] + $_->[3] <= $BLCKSZ && $_->[3] >= 8
		  && ord(substr($p, $_->[1], 1)) == $type
	} items($p);
}

sub rand_bytes { return join '', map { chr(int(rand(256))) } 1 .. $_[0]; }

my @BAD_FLOATS = (
	pack('V', 0x7fc00000), pack('V', 0x7f800000), pack('V', 0xff800000), pack('f<', -1),
	pack('f<', 3.4e38), pack('f<', -3.4e38), pack('f<', 1e-45), pack('V', int(rand(2**32))));

# a random id that points somewhere it should not
sub bad_id
{
	my ($nblocks, $blk, $p) = @_;
	my @it = items($p);
	my $k = rand();
	return int(rand(2**32)) if $k < 0.2;
	return (rand_int($nblocks, $nblocks + 100) << 8) | rand_int(1, 20) if $k < 0.35;
	return ($blk << 8) if $k < 0.45;                                     # offset 0
	return ($blk << 8) | min(255, scalar(@it) + rand_int(1, 20)) if $k < 0.55;
	return (0 << 8) | 1 if $k < 0.62;                                    # the metapage
	return ($blk << 8) | rand_int(1, max(1, scalar @it)) if $k < 0.85;   # another item here
	return (rand_int(1, max(1, $nblocks - 1)) << 8) | rand_int(1, 40);
}

# Damages page $p (a string ref) of block $blk in place; returns what it did.
sub damage_page
{
	my ($p, $blk, $nblocks, $kind, $pages) = @_;
	if ($kind eq 'flip')
	{
		my @at = map { rand_int(0, $BLCKSZ - 1) } 1 .. rand_int(1, 8);
		substr($$p, $_, 1) = chr(ord(substr($$p, $_, 1)) ^ (1 << rand_int(0, 7))) for @at;
		return "bits flipped at " . join(',', @at);
	}
	if ($kind eq 'bytes')
	{
		my @at = map { rand_int(0, $BLCKSZ - 1) } 1 .. rand_int(1, 8);
		substr($$p, $_, 1) = chr(int(rand(256))) for @at;
		return "bytes set at " . join(',', @at);
	}
	if ($kind eq 'garbage')
	{
		my $len = rand_int(4, 512);
		my $at = rand_int(0, $BLCKSZ - $len);
		substr($$p, $at, $len) = rand_bytes($len);
		return "$len random bytes at $at";
	}
	if ($kind eq 'zero')
	{
		if (rand() < 0.4) { $$p = "\0" x $BLCKSZ; return 'page zeroed'; }
		my $len = rand_int(4, 1024);
		my $at = rand_int(0, $BLCKSZ - $len);
		substr($$p, $at, $len) = "\0" x $len;
		return "$len zero bytes at $at";
	}
	if ($kind eq 'copy')
	{
		my $from = rand_int(0, $nblocks - 1);
		$$p = $pages->[$from];
		return "copy of block $from";
	}
	if ($kind eq 'element')
	{
		my @e = tuples($$p, 1);
		return damage_page($p, $blk, $nblocks, 'neighbor', $pages) unless @e;
		my $it = rand_pick(@e);
		my $o = $it->[1];
		my $field = rand_pick(qw(type level flags nbrs heaptid vec));
		if ($field eq 'type') { substr($$p, $o, 1) = chr(rand_pick(0, 2, 3, 4, 255)); }
		elsif ($field eq 'level') { substr($$p, $o + 1, 1) = chr(rand_pick(ord(substr($$p, $o + 1, 1)) + 1, 31, 32, 255)); }
		elsif ($field eq 'flags') { substr($$p, $o + 2, 1) = chr(rand_pick(1, 2, 4, 6, 7, 8, 255)); }
		elsif ($field eq 'nbrs') { substr($$p, $o + 4, 4) = pack('V', bad_id($nblocks, $blk, $$p)); }
		elsif ($field eq 'heaptid')
		{
			my $at = $o + 8 + 6 * rand_int(0, 7);
			substr($$p, $at, 6) = rand_pick(pack('vvv', 0, rand_int(0, 60000), rand_int(1, 300)), pack('vvv', 0xffff, 0xffff, 0xffff),
				pack('vvv', 0, 0, 0), pack('vvv', 0, 1, 0), rand_bytes(6));
		}
		else
		{
			my $nvec = int(($it->[3] - 56) / 4);
			return "element ($blk,$it->[0]) has no vector room" if $nvec < 1;
			substr($$p, $o + 56 + 4 * rand_int(0, $nvec - 1), 4) = rand_pick(@BAD_FLOATS);
		}
		return "element ($blk,$it->[0]): $field";
	}
	if ($kind eq 'neighbor')
	{
		my @nt = tuples($$p, 2);
		return damage_page($p, $blk, $nblocks, 'garbage', $pages) unless @nt;
		my $it = rand_pick(@nt);
		my $o = $it->[1];
		my $nedges = int(($it->[3] - 4) / 8);
		my $field = rand_pick(qw(type level id id id dist dist all));
		if ($field eq 'type') { substr($$p, $o, 1) = chr(rand_pick(0, 1, 3, 4, 255)); }
		elsif ($field eq 'level') { substr($$p, $o + 1, 1) = chr(rand_pick(ord(substr($$p, $o + 1, 1)) + 1, 0, 31, 255)); }
		elsif ($nedges < 1) { return "neighbour tuple ($blk,$it->[0]) has no edges"; }
		elsif ($field eq 'id') { substr($$p, $o + 4 + 8 * rand_int(0, $nedges - 1), 4) = pack('V', bad_id($nblocks, $blk, $$p)); }
		elsif ($field eq 'dist') { substr($$p, $o + 8 + 8 * rand_int(0, $nedges - 1), 4) = rand_pick(@BAD_FLOATS); }
		else
		{
			my $id = bad_id($nblocks, $blk, $$p);
			substr($$p, $o + 4 + 8 * $_, 8) = pack('Vf<', $id, 0.5) for 0 .. $nedges - 1;
		}
		return "neighbour tuple ($blk,$it->[0]): $field";
	}
	if ($kind eq 'lp')
	{
		my @it = items($$p);
		return damage_page($p, $blk, $nblocks, 'flip', $pages) unless @it;
		my $it = rand_pick(@it);
		my ($off, $flags, $len) = @$it[ 1 .. 3 ];
		my $field = rand_pick(qw(off len flags));
		$off = rand_pick(0, 1, 23, 8190, rand_int(0, 0x7fff)) if $field eq 'off';
		$len = rand_pick(0, 1, 4, 8192, rand_int(0, 0x7fff)) if $field eq 'len';
		$flags = rand_pick(0, 2, 3) if $field eq 'flags';
		substr($$p, 24 + 4 * ($it->[0] - 1), 4) = pack('V', ($off & 0x7fff) | ($flags << 15) | (($len & 0x7fff) << 17));
		return "line pointer $it->[0]: $field";
	}
	if ($kind eq 'header')
	{
		my ($lower, $upper, $special) = unpack('v3', substr($$p, 12, 6));
		my $field = rand_pick(qw(lower lower upper upper special));
		if ($field eq 'lower') { $lower = rand_pick(24, $lower - 4 * rand_int(1, 5), $lower + 4 * rand_int(1, 5), $upper, rand_int(0, 0xffff)); }
		elsif ($field eq 'upper') { $upper = rand_pick($lower, $upper - 8 * rand_int(1, 20), $upper + 8 * rand_int(1, 20), $special, rand_int(0, 0xffff)); }
		else { $special = rand_pick($special - 8, $special + 8, $BLCKSZ, $special - 1); }
		substr($$p, 12, 6) = pack('v3', map { $_ & 0xffff } $lower, $upper, $special);
		return "header: pd_$field";
	}
	if ($kind eq 'special')
	{
		my $special = unpack('v', substr($$p, 16, 2));
		$special = $BLCKSZ - 8 if $special > $BLCKSZ - 8;
		my $at = rand_int($special, $BLCKSZ - 1);
		substr($$p, $at, 1) = chr(int(rand(256)));
		return "special space byte " . ($at - $special);
	}
	if ($kind eq 'lp255')
	{
		# more line pointers than an hnsw page may have (its ids hold 8 bits
		# of offset): pd_lower moved past 255 of them, over the tuples; the
		# new pointers are what the tuples held, or copies of the pointer
		# to an element beyond them (so that they all look sound)
		my $n = rand_int(256, 600);
		my $lower = 24 + 4 * $n;
		my $upper = max($lower, unpack('v', substr($$p, 14, 2)));
		my $old = scalar items($$p);
		substr($$p, 12, 4) = pack('vv', $lower, $upper);
		my ($e) = sort { $b->[1] <=> $a->[1] } grep { $_->[1] >= $lower } tuples($$p, 1);
		if ($e && rand() < 0.6)
		{
			my $lp = substr($$p, 24 + 4 * ($e->[0] - 1), 4);
			substr($$p, 24 + 4 * $_, 4) = $lp for $old .. $n - 1;
			return "pd_lower claims $n line pointers, the new ones copies of element $e->[0]'s";
		}
		return "pd_lower claims $n line pointers";
	}
	die "unknown damage $kind";
}

my %META = (
	magic => [ 24, 'V', sub { int(rand(2**32)) } ],
	version => [ 28, 'V', sub { rand_pick(0, 1, 3, 255) } ],
	dim => [ 32, 'v', sub { rand_pick(0, 1, 2000, 2001, 65535, rand_int(1, 64)) } ],
	m => [ 34, 'v', sub { rand_pick(0, 1, 2, 3, 100, 101, 65535) } ],
	ef_construction => [ 36, 'v', sub { rand_pick(0, 1, 4, 1000, 65535) } ],
	max_level => [ 39, 'C', sub { rand_pick(0, 1, 31, 32, 255) } ],
	entry => [ 40, 'V', sub { rand_pick(0, int(rand(2**32)), (1 << 8) | rand_int(1, 60), (rand_int(1, 200) << 8) | 1, 1) } ],
	entry_level => [ 44, 'l<', sub { rand_pick(-1, -2, 0, 1, 31, 32, 1000, 2**31 - 1) } ],
	insert_page => [ 48, 'V', sub { rand_pick(0, 1, 5000, 0xffffffff, int(rand(2**32))) } ],);

# Damages the index file $file in place; returns a description.
sub damage_file
{
	my ($file) = @_;
	my $data = slurp_file($file);
	my $nblocks = length($data) / $BLCKSZ;
	my @pages = map { substr($data, $_ * $BLCKSZ, $BLCKSZ) } 0 .. $nblocks - 1;
	my @what;
	for (1 .. (rand() < 0.25 ? rand_int(2, 3) : 1))
	{
		my %w = (flip => 15, bytes => 10, garbage => 8, zero => 6, copy => 5, element => 15,
			neighbor => 15, lp => 8, header => 6, special => 3, truncate => 2, extend => 2);
		$w{lp255} = 3 if fuzz_class('lp255');
		$w{meta} = 8 if fuzz_class('meta');
		my $kind = rand_weighted(\%w);
		# (an earlier cut may have left only the metapage)
		$kind = 'extend' if $nblocks < 2 && $kind ne 'meta';
		if ($kind eq 'meta')
		{
			my $field = rand_pick(sort keys %META);
			my ($at, $fmt, $val) = @{ $META{$field} };
			my $v = $val->();
			substr($pages[0], $at, length(pack($fmt, 0))) = pack($fmt, $v);
			push @what, "metapage $field = $v";
		}
		elsif ($kind eq 'truncate')
		{
			my $keep = rand_int(1, $nblocks - 1);
			splice(@pages, $keep);
			push @what, "file cut from $nblocks to $keep blocks";
			$nblocks = $keep;
		}
		elsif ($kind eq 'extend')
		{
			my $n = rand_int(1, 2);
			my $how = rand_pick('zero', 'garbage', 'copy');
			push @pages, $how eq 'zero' ? "\0" x $BLCKSZ : $how eq 'garbage' ? rand_bytes($BLCKSZ) : $pages[ rand_int(0, $nblocks - 1) ]
			  for 1 .. $n;
			push @what, "$n $how pages appended";
			$nblocks += $n;
		}
		else
		{
			my $blk = rand_int(1, $nblocks - 1);
			my $d = damage_page(\$pages[$blk], $blk, $nblocks, $kind, \@pages);
			push @what, "block $blk: $kind: $d";
		}
	}
	open(my $fh, '>:raw', $file) or die "open $file: $!";
	print $fh @pages;
	close $fh;
	return join('; ', @what);
}

# ---------------------------------------------------------------------
# the operations
# ---------------------------------------------------------------------
sub ops
{
	my ($t) = @_;
	my ($tbl, $op) = ($t->{tbl}, $t->{op});
	my $q = "(SELECT v FROM $tbl WHERE id = " . rand_int(1, $t->{n}) . ')';
	my $scan = sub {
		my ($settings, $query) = @_;
		return "BEGIN;\nSET LOCAL enable_seqscan = off;\n$settings\n$query;\nCOMMIT";
	};
	my $newvec = sub { return '[' . join(',', map { sprintf('%.4f', rand() * 2 - 1) } 1 .. $t->{dim}) . ']'; };
	my $r = rand_int(0, 29);
	return (
		[ check => 'SELECT * FROM ' . check_sql($node, $t->{idx}) ],
		[ info => "SELECT * FROM hnsw_index_info('$t->{idx}')" ],
		[ knn => $scan->('', "SELECT id FROM $tbl ORDER BY v $op $q LIMIT 10") ],
		[ knn_wide => $scan->('SET LOCAL hnsw.ef_search = 1000;', "SELECT id FROM $tbl ORDER BY v $op $q LIMIT 500") ],
		[ knn_off => $scan->("SET LOCAL hnsw.iterative_scan = off;\nSET LOCAL hnsw.ef_search = 200;", "SELECT id FROM $tbl ORDER BY v $op $q LIMIT 50") ],
		[ filtered => $scan->('SET LOCAL hnsw.iterative_scan = relaxed_order;', "SELECT id FROM $tbl WHERE id % 7 = 3 ORDER BY v $op $q LIMIT 20") ],
		[
			full => $scan->(
				"SET LOCAL hnsw.iterative_scan = relaxed_order;\nSET LOCAL hnsw.ef_search = 1000;\n"
				  . "SET LOCAL hnsw.max_scan_tuples = 2147483647;\nSET LOCAL hnsw.scan_mem_multiplier = 1000;",
				"SELECT count(*) FROM (SELECT id FROM $tbl ORDER BY v $op $q LIMIT 100000000) s")
		],
		[ insert => "INSERT INTO $tbl (v) VALUES " . join(',', map { "('" . $newvec->() . "')" } 1 .. 20) ],
		[ insert_copies => "INSERT INTO $tbl (v) SELECT v FROM $tbl WHERE id % 97 = " . rand_int(0, 96) ],
		[ update => "UPDATE $tbl SET v = '" . $newvec->() . "' WHERE id % 50 = " . rand_int(0, 49) ],
		[ update_same => "UPDATE $tbl SET v = v WHERE id % 40 = " . rand_int(0, 39) ],
		[ delete => "DELETE FROM $tbl WHERE id % 30 = $r" ],
		[ vacuum => "VACUUM $tbl" ],
		[ vacuum_again => "VACUUM (INDEX_CLEANUP ON) $tbl" ],
		[ check_again => 'SELECT * FROM ' . check_sql($node, $t->{idx}) ],
	);
}

# ---------------------------------------------------------------------
# the rounds
# ---------------------------------------------------------------------
my (@failures, @unrepaired, %outcome, %internal);
my ($rounds, $statements) = (0, 0);
my $s = HnswFuzz::Session->new($node);
fuzz_clock_start($f);

# waits until the server takes connections again (after a crash, it
# restarts: restart_after_crash)
sub wait_for_server
{
	$s->close;
	$node->poll_query_until('postgres', 'SELECT true') or die 'the server did not come back';
	$s = HnswFuzz::Session->new($node);
	return;
}

while ($rounds < 2 || fuzz_time_left($f) > 0)
{
	$rounds++;
	my %file = map { $_->{name} => $node->data_dir . '/' . $node->safe_psql('postgres', "SELECT pg_relation_filepath('$_->{idx}')") } @T;
	$s->close;
	$node->safe_psql('postgres', 'CHECKPOINT');
	$node->stop;
	my %damage = map { $_->{name} => damage_file($file{ $_->{name} }) } @T;
	$node->start;
	my $mark = server_mark($node);
	$s = HnswFuzz::Session->new($node);
	for my $t (@T)
	{
		my $what = "round $rounds, $t->{desc}, damage: $damage{$t->{name}}";
		for my $o (ops($t))
		{
			my ($name, $sql) = @$o;
			my $r = $s->query($sql);
			$statements++;
			my $out = $r->{ok} ? 'ok' : $r->{lost} ? 'crash' : $r->{timeout} ? 'hang' : $r->{state};
			$outcome{$name}{$out}++;
			if ($r->{lost} || $r->{timeout})
			{
				push @failures, "$what\n  $name: $sql\n  -> " . HnswFuzz::Session::describe($r);
				wait_for_server();
			}
			elsif (!$r->{ok})
			{
				$internal{"$name: $r->{msg} ($r->{where})"}++
				  if $r->{state} !~ /^XX00[12]$/;
				if ($r->{state} eq '57014')
				{
					push @failures, "$what\n  $name ran into statement_timeout: $sql";
				}
			}
		}
		# REINDEX repairs
		my $r = $s->query("REINDEX INDEX $t->{idx}");
		$statements++;
		if (!$r->{ok})
		{
			push @unrepaired, "$what\n  REINDEX failed: " . HnswFuzz::Session::describe($r);
			wait_for_server() if $r->{lost} || $r->{timeout};
			next;
		}
		$r = $s->query(sound_sql($t));
		my ($active, $indexed, $rows) = split /\|/, $r->{out} // '';
		push @unrepaired, "$what\n  after REINDEX: " . ($r->{ok} ? "the index holds $indexed of $rows rows" : HnswFuzz::Session::describe($r))
		  if !$r->{ok} || $indexed != $rows;
		wait_for_server() if $r->{lost} || $r->{timeout};
	}
	my @p = server_problems($node, $mark);
	push @failures, "round $rounds: " . join("\n", @p) if @p;
	note("round $rounds: $damage{$_->{name}}") for @T;
}
$s->close;

for my $name (sort keys %outcome)
{
	note(sprintf('%-14s %s', $name, join(', ', map { "$_ $outcome{$name}{$_}" } sort keys %{ $outcome{$name} })));
}
diag(sprintf('fuzz corrupt: %d rounds (%d damaged indexes), %d statements in %.0f s; %d failures, %d unrepaired',
	$rounds, 4 * $rounds, $statements, Time::HiRes::time() - $f->{t0}, scalar @failures, scalar @unrepaired));
if (%internal)
{
	# clean ERRORs all the same, but without the corruption SQLSTATE: listed
	# to see which checks are missing
	diag("ERRORs other than XX001/XX002:\n" . join("\n", map { "  $internal{$_} x $_" } sort keys %internal));
}
is(scalar(@failures), 0, 'every statement on a damaged index succeeded or raised a clean ERROR: no crash, no hang')
  or diag(failure_summary(2, @failures));
is(scalar(@unrepaired), 0, 'REINDEX repaired every damaged index: the check passes, every row is indexed')
  or diag(failure_summary(2, @unrepaired));

$node->stop;
done_testing();
