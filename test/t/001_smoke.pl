# Smoke test: the TAP harness runs, and the extension loads in a fresh cluster.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('smoke');
$node->init;
$node->start;

$node->safe_psql('postgres', 'CREATE EXTENSION hnswsearch');
is($node->safe_psql('postgres', q{SELECT '[1,2,3]'::vector}),
	'[1,2,3]', 'vector text round trip');
is($node->safe_psql('postgres', q{SELECT '[1,2]'::vector <-> '[4,6]'}),
	'5', 'L2 distance');

$node->stop;
done_testing();
