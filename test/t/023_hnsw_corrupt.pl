# A corrupt hnsw index page gives a clean ERROR, never a crash.
#
# A table of 2,000 random 16-dim vectors gets an hnsw index; with the server
# stopped, block 1 of the index file is damaged on disk in one of several
# ways, then the server is started and:
#   - hnsw_index_check raises an ERROR naming the damage,
#   - a search for the vector of an element on the damaged page, and a full
#     index scan, raise an ERROR (or, for damage no check can see, at least
#     return),
#   - the server stays up: the postmaster did not restart, no backend died,
#     and a new session runs queries.
# The damage:
#   header    garbage over the page header: PostgreSQL's own page
#             verification refuses the page ("invalid page in block 1")
#   special   garbage over the special space: the page is not an hnsw page
#   element   garbage over an element tuple's header (type, level, flags,
#             neighbour tuple id)
#   edges     random garbage over an element's layer-0 neighbour list
#   middle    random garbage over 256 bytes in the middle of the page (which
#             tuples it hits is chance, so only "no crash" is required)
#   pointer   the element's line pointer sent past the end of the page
# Between variants the original file is put back and must check clean.
# Last, INSERT and VACUUM against a damaged element must not crash either,
# and VACUUM against the line pointer past the page raises an ERROR naming
# it (rather than reading and writing wherever the pointer leads).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../perl";
use HnswTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $DIM = 16;
my $N = 2000;
my $BLCKSZ = 8192;
my $BLOCK = 1;

my $t0 = time;
my $node = hnsw_node('corrupt');
$node->safe_psql(
	'postgres', qq{
	SELECT setseed(0.23);
	CREATE TABLE t (id int PRIMARY KEY, v vector($DIM));
	INSERT INTO t SELECT i, ${\ random_vector_sql($DIM, 'i')}
		FROM generate_series(1, $N) i;
	CREATE INDEX t_v_idx ON t USING hnsw (v vector_l2_ops);
	ANALYZE t;
});
is($node->safe_psql('postgres',
		q{SELECT active, reachable FROM hnsw_index_check('t_v_idx')}),
	"$N|$N", 'the index checks clean');
my $relpath = $node->safe_psql('postgres', q{SELECT pg_relation_filepath('t_v_idx')});
my $file = $node->data_dir . "/$relpath";
$node->safe_psql('postgres', 'CHECKPOINT');
$node->stop;

my $original = slurp_file($file);
cmp_ok(length($original), '>', 2 * $BLCKSZ, 'index has more than one block');
my $page = substr($original, $BLOCK * $BLCKSZ, $BLCKSZ);

# the page's normal items: [offset number, lp_off, lp_len, first byte]
my ($pd_lower, $pd_upper, $pd_special) = unpack('v3', substr($page, 12, 6));
my @items;
for (my $lp = 24, my $n = 1; $lp < $pd_lower; $lp += 4, $n++)
{
	my $w = unpack('V', substr($page, $lp, 4));
	my ($off, $flags, $len) = ($w & 0x7fff, ($w >> 15) & 3, $w >> 17);
	push @items, [ $n, $off, $len, ord(substr($page, $off, 1)) ] if $flags == 1;
}
# an element tuple (type 1) whose neighbour tuple (type 2) is on this page
my ($victim, $nbrs);
for my $it (@items)
{
	next unless $it->[3] == 1;
	my $nid = unpack('V', substr($page, $it->[1] + 4, 4));
	my ($nblk, $noff) = ($nid >> 8, $nid & 0xff);
	next unless $nblk == $BLOCK;
	($nbrs) = grep { $_->[0] == $noff && $_->[3] == 2 } @items;
	next unless $nbrs;
	$victim = $it;
	last;
}
ok($victim, "block $BLOCK has an element with its neighbour tuple on the page");
die 'no usable element on block 1' unless $victim;
# the victim's first heap TID, as a ctid, names its row
my ($bi_hi, $bi_lo, $posid) = unpack('v3', substr($page, $victim->[1] + 8, 6));
my $ctid = sprintf('(%d,%d)', ($bi_hi << 16) | $bi_lo, $posid);
note("victim: element at ($BLOCK,$victim->[0]), neighbour tuple at ($BLOCK,$nbrs->[0]), row ctid $ctid");

$node->start;
my $victim_id = $node->safe_psql('postgres', "SELECT id FROM t WHERE ctid = '$ctid'");
like($victim_id, qr/^\d+$/, "the victim's row ($ctid) is id $victim_id");
$node->stop;

my $scan_settings = 'SET enable_seqscan = off;';
my $knn = "$scan_settings SELECT id FROM t ORDER BY v <-> (SELECT v FROM t WHERE id = $victim_id) LIMIT 1";
my $full = "$scan_settings SET hnsw.iterative_scan = relaxed_order;
	SET hnsw.max_scan_tuples = 100000000;
	SELECT count(*) FROM (SELECT id FROM t ORDER BY v <-> (SELECT v FROM t WHERE id = 1)
		LIMIT 100000000) s";

# writes the original file with $mutate applied to block 1's bytes
sub write_index
{
	my ($mutate) = @_;
	my $p = $page;
	$mutate->(\$p) if $mutate;
	my $data = $original;
	substr($data, $BLOCK * $BLCKSZ, $BLCKSZ) = $p;
	open(my $fh, '+<', $file) or die "open $file: $!";
	binmode $fh;
	sysseek($fh, 0, 0) or die "seek: $!";
	syswrite($fh, $data) == length($data) or die "write: $!";
	close $fh;
	return;
}

# garbage: a fixed pattern, or seeded pseudo-random bytes
sub pattern { return chr($_[1]) x $_[0]; }
sub garbage
{
	my ($len, $seed) = @_;
	srand($seed);
	return join('', map { chr(int(rand(256))) } 1 .. $len);
}

# Runs $sql; returns its ERROR text ('' if it succeeded).
sub error_of
{
	my ($sql) = @_;
	my ($rc, $out, $err) = $node->psql('postgres', $sql);
	return $rc == 0 ? '' : ($err =~ /ERROR:\s+(.*)/ ? $1 : $err);
}

# the server is still the same one, and answers
sub server_alive
{
	my ($what, $start_time, $log_offset) = @_;
	is($node->safe_psql('postgres', 'SELECT 1'), 1, "$what: a new session runs queries");
	is($node->safe_psql('postgres', 'SELECT pg_postmaster_start_time()'),
		$start_time, "$what: the postmaster did not restart");
	my $log = slurp_file($node->logfile, $log_offset);
	unlike($log, qr/terminated by signal|PANIC|server process .* (was terminated|exited)/,
		"$what: no backend crashed");
	return;
}

my $corrupt_re = qr/index "t_v_idx" is corrupted at block \d+, offset \d+: /;
my $invalid_re = qr/invalid page in block $BLOCK of relation/;
# (an edge to a block past the end of the index is damage too: it must be
# reported as such, not as a missing segment file)
my $scan_re = qr/$corrupt_re|$invalid_re/;
my @variants = (
	[
		'header', sub { substr(${ $_[0] }, 0, 24) = pattern(24, 0xA5) },
		$invalid_re, $invalid_re, 1
	],
	[
		'special',
		sub { substr(${ $_[0] }, $pd_special, $BLCKSZ - $pd_special) = pattern($BLCKSZ - $pd_special, 0x5A) },
		qr/${corrupt_re}page is not an hnsw graph page/,
		qr/${corrupt_re}page is not an hnsw graph page/, 1
	],
	[
		'element',
		sub { substr(${ $_[0] }, $victim->[1], 8) = pattern(8, 0xA5) },
		qr/index "t_v_idx" is corrupted at block $BLOCK, offset $victim->[0]: item of unknown type/,
		qr/${corrupt_re}item has the wrong type/, 1
	],
	[
		'edges',
		sub { substr(${ $_[0] }, $nbrs->[1] + 4, 256) = garbage(256, 23) },
		qr/${corrupt_re}(edge at level 0 to|neighbour list at level 0 not sorted)/,
		$scan_re, 1
	],
	[
		'middle',
		sub { substr(${ $_[0] }, 4096, 256) = garbage(256, 2323) },
		undef, undef, 0
	],
	[
		'pointer',
		sub {
			substr(${ $_[0] }, 24 + 4 * ($victim->[0] - 1), 4) =
			  pack('V', 0x7ff8 | (1 << 15) | ($victim->[2] << 17));
		},
		qr/index "t_v_idx" is corrupted at block $BLOCK, offset $victim->[0]: item is missing or too short/,
		$scan_re, 1
	],);

for my $v (@variants)
{
	my ($name, $mutate, $check_re, $knn_re, $must_fail) = @$v;
	write_index($mutate);
	my $log_offset = -s $node->logfile;
	$node->start;
	my $start_time = $node->safe_psql('postgres', 'SELECT pg_postmaster_start_time()');

	my $e = error_of(q{SELECT * FROM hnsw_index_check('t_v_idx')});
	if ($check_re)
	{
		like($e, $check_re, "$name: hnsw_index_check raises the expected ERROR");
	}
	note("$name: hnsw_index_check: " . ($e || 'passed'));

	my $ek = error_of($knn);
	if ($knn_re)
	{
		like($ek, $knn_re, "$name: a search for the damaged element's vector raises an ERROR");
	}
	note("$name: search: " . ($ek || 'returned'));

	my $ef = error_of($full);
	if ($must_fail)
	{
		like($ef, $scan_re, "$name: a full index scan raises an ERROR");
	}
	note("$name: full scan: " . ($ef || 'returned'));

	my $ei = error_of(q{SELECT count_indexed FROM hnsw_index_info('t_v_idx')});
	note("$name: hnsw_index_info: " . ($ei || 'returned'));
	for my $msg (grep { $_ ne '' } $e, $ek, $ef, $ei)
	{
		unlike($msg, qr/server closed the connection|terminat/,
			"$name: the session survived ($msg)");
	}
	server_alive($name, $start_time, $log_offset);
	$node->stop;
}

# the original file back: clean again
write_index(undef);
$node->start;
is($node->safe_psql('postgres',
		q{SELECT active, reachable FROM hnsw_index_check('t_v_idx')}),
	"$N|$N", 'the original file checks clean again');
is($node->safe_psql('postgres', $knn), $victim_id, "the victim's row is found again");
$node->stop;

# writes against a damaged element: errors allowed, crashes not
write_index($variants[2][1]);
my $log_offset = -s $node->logfile;
$node->start;
my $start_time = $node->safe_psql('postgres', 'SELECT pg_postmaster_start_time()');
my $ei = error_of(qq{BEGIN;
	INSERT INTO t SELECT 100000 + id, v FROM t WHERE id <= 200;
	ROLLBACK;});
note('element: INSERT: ' . ($ei || 'succeeded'));
my $ev = error_of('VACUUM t');
note('element: VACUUM: ' . ($ev || 'succeeded'));
like(error_of(q{SELECT * FROM hnsw_index_check('t_v_idx')}), $corrupt_re,
	'element: after INSERT and VACUUM the check still reports the damage');
server_alive('element, writes', $start_time, $log_offset);
is($node->safe_psql('postgres', 'REINDEX INDEX t_v_idx; SELECT active, reachable FROM hnsw_index_check(\'t_v_idx\')'),
	"$N|$N", 'REINDEX repairs the index');
$node->stop;

# VACUUM against the line pointer past the page (REINDEX gave the index a
# new file: damage that one)
$node->start;
$file = $node->data_dir . '/' . $node->safe_psql('postgres', q{SELECT pg_relation_filepath('t_v_idx')});
$node->safe_psql('postgres', 'CHECKPOINT');
$node->stop;
$original = slurp_file($file);
$page = substr($original, $BLOCK * $BLCKSZ, $BLCKSZ);
($pd_lower) = unpack('v', substr($page, 12, 2));
# the new block 1's first element: [offset number, lp_off, lp_len]
($victim) = grep { ord(substr($page, $_->[1], 1)) == 1 }
  map {
	my $w = unpack('V', substr($page, 24 + 4 * ($_ - 1), 4));
	[ $_, $w & 0x7fff, $w >> 17 ]
  } 1 .. ($pd_lower - 24) / 4;
write_index($variants[5][1]);
$log_offset = -s $node->logfile;
$node->start;
$start_time = $node->safe_psql('postgres', 'SELECT pg_postmaster_start_time()');
like(error_of('DELETE FROM t WHERE id % 10 = 0; VACUUM t'),
	qr/index "t_v_idx" is corrupted at block $BLOCK, offset $victim->[0]: item is missing or too short/,
	'pointer: VACUUM raises an ERROR naming the line pointer past the page');
server_alive('pointer, VACUUM', $start_time, $log_offset);
my $left = $N - int($N / 10);
is($node->safe_psql('postgres', 'REINDEX INDEX t_v_idx; SELECT active, reachable FROM hnsw_index_check(\'t_v_idx\')'),
	"$left|$left", 'REINDEX repairs the index again');

note sprintf('total %d s', time - $t0);
$node->stop;
done_testing();
