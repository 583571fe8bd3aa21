# The sq8 and sq4 kernels' CPU variants against each other, outside the
# server (test/code_kernels.c): the AVX-512 kernels must give the AVX2
# ones' results bit for bit, and every variant must stay within float
# rounding of a double reference, for dimensions 1 to 16,000.  Skipped
# (by the program) on a CPU without AVX-512BW.
use strict;
use warnings;
use FindBin;
use File::Temp qw(tempdir);
use Test::More;

my $root = "$FindBin::Bin/../..";
my $pg_config = $ENV{PG_CONFIG} || 'pg_config';
chomp(my $inc = `$pg_config --includedir-server`);
ok($? == 0 && -d $inc, "server headers found: $inc");

# the flags the extension is built with: whether two variants agree bit for
# bit depends on them (at -O1 GCC contracts the AVX2 body differently)
chomp(my $cflags = `$pg_config --cflags`);
chomp(my $pgcc = `$pg_config --cc`);
my $dir = tempdir(CLEANUP => 1);
my $cc = $ENV{CC} || $pgcc || 'cc';
my $out = `$cc $cflags -Wextra -Wno-unused-parameter -Wno-sign-compare -Wno-missing-field-initializers -Werror -I$root/src -I$inc $root/test/code_kernels.c $root/src/distance.c -o $dir/code_kernels -lm 2>&1`;
is($?, 0, 'test/code_kernels.c builds') or diag($out);

$out = `$dir/code_kernels 2>&1`;
my $rc = $?;
diag($out);
is($rc, 0, 'the kernel variants agree');
like($out, qr/^(skip: no AVX-512BW|\d+ trials, 0 mismatches)$/m, 'the program reports its trials');
done_testing();
