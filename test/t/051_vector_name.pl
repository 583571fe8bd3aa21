# hnswsearch installed under pgvector's extension name (make
# install-as-vector): what frameworks and pgvector dumps do must work
# unchanged.  Skipped when the installation has no vector.control of
# hnswsearch's (test/run.sh installs it unless pgvector's is there).
#
#  1. CREATE EXTENSION IF NOT EXISTS vector, by a database owner who is not
#     a superuser (the extension is trusted): pg_extension shows "vector" at
#     the version the Makefile declares, hnswsearch's functions come with it,
#     and a second CREATE EXTENSION IF NOT EXISTS, ALTER EXTENSION UPDATE
#     and a check for extname = 'vector' behave as with pgvector.
#  2. The set-up statements of each framework, as they send them, each in a
#     fresh database owned by that role, followed by an insert and an
#     ordered search through the index they created.
#  3. A pgvector dump (test/compat/make_pgvector_dump.pl, plain format as
#     pg_dump writes it) restored with psql -v ON_ERROR_STOP=1
#     --single-transaction: exit 0, the rows, NULLs included, the four
#     indexes with their options, each used by its operator and returning
#     exactly the rows of an exact search (at ef_search 400 on 500 rows),
#     hnsw_index_check with its table pass clean.  Then that database dumped in custom format
#     and restored with pg_restore --single-transaction -e: exit 0, same rows.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../perl";
use HnswTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = hnsw_node('vector_name');
my $control = $node->config_data('--sharedir') . '/extension/vector.control';
if (!-f $control || slurp_file($control) !~ /hnswsearch installed under the name vector/)
{
	plan skip_all => "no vector.control of hnswsearch's in this installation "
	  . '(make install-as-vector; refused where pgvector is installed)';
}
my ($extversion) = slurp_file($control) =~ /default_version = '([^']+)'/;
my $bindir = $node->config_data('--bindir');

# a role that owns its databases but is not a superuser, as applications run
$node->safe_psql('postgres', 'CREATE ROLE app LOGIN');
my $dbn = 0;

# a fresh database owned by app; returns its name
sub app_db
{
	my $db = 'app' . ++$dbn;
	$node->safe_psql('postgres', "CREATE DATABASE $db OWNER app");
	return $db;
}

# runs $sql in $db as app; dies on error
sub as_app
{
	my ($db, $sql) = @_;
	return $node->safe_psql($db, "SET ROLE app;\n$sql");
}

# 1. the extension under its pgvector name
my $db = app_db();
as_app($db, 'CREATE EXTENSION IF NOT EXISTS vector');
is( $node->safe_psql($db,
		q{SELECT extname, extversion, extowner::regrole FROM pg_extension WHERE extname = 'vector'}),
	"vector|$extversion|app",
	"CREATE EXTENSION vector by a database owner: pg_extension shows vector $extversion");
is($node->safe_psql($db, q{SELECT count(*) FROM pg_extension WHERE extname = 'hnswsearch'}),
	'0', 'no extension named hnswsearch in that database');
like(as_app($db, 'CREATE EXTENSION IF NOT EXISTS vector'), qr/^$/,
	'a second CREATE EXTENSION IF NOT EXISTS vector succeeds');
my ($rc, $out, $err) = $node->psql($db, 'ALTER EXTENSION vector UPDATE');
is($rc, 0, 'ALTER EXTENSION vector UPDATE succeeds');
like($err, qr/version "\Q$extversion\E" of extension "vector" is already installed/,
	'... and says the installed version is the newest');
is( $node->safe_psql($db,
		q{SELECT '[1,2,3]'::vector <-> '[1,2,5]', hnswsearch_distance_variant() <> '',
		  (SELECT amname FROM pg_am WHERE amname = 'hnsw')}),
	'2|t|hnsw', 'the type, the operators, hnswsearch functions and the hnsw access method');
like(
	$node->safe_psql('postgres', q{SELECT comment FROM pg_available_extensions WHERE name = 'vector'}),
	qr/hnswsearch/, 'pg_available_extensions says it is hnswsearch');

# 2. the frameworks' set-up statements, as each sends them, then an insert
# and a search through the index the statements created (or one made here
# where a framework leaves index creation to the user)
my @frameworks = (
	[   'LangChain (Python, langchain-postgres / PGVector)',
		q{SELECT pg_advisory_xact_lock(1573678846307946496);
		  CREATE EXTENSION IF NOT EXISTS vector;
		  CREATE TABLE langchain_pg_collection (uuid UUID NOT NULL, name VARCHAR NOT NULL,
			cmetadata JSON, PRIMARY KEY (uuid), UNIQUE (name));
		  CREATE TABLE langchain_pg_embedding (id VARCHAR NOT NULL, collection_id UUID,
			embedding VECTOR(3), document VARCHAR, cmetadata JSONB, PRIMARY KEY (id),
			FOREIGN KEY(collection_id) REFERENCES langchain_pg_collection (uuid) ON DELETE CASCADE);
		  CREATE INDEX ix_cmetadata_gin ON langchain_pg_embedding USING gin (cmetadata jsonb_path_ops);
		  CREATE INDEX ON langchain_pg_embedding USING hnsw (embedding vector_cosine_ops);},
		q{INSERT INTO langchain_pg_embedding (id, embedding, document)
		  SELECT 'd' || i, ('[' || i || ',1,' || (i % 7) || ']')::vector, 'doc ' || i FROM generate_series(1, 300) i},
		q{SELECT id FROM langchain_pg_embedding ORDER BY embedding <=> '[5,1,5]' LIMIT 1},
		'd5' ],
	[   'LangChain (JavaScript)',
		q{SELECT pg_advisory_xact_lock(1573678846307946496); CREATE EXTENSION IF NOT EXISTS vector;
		  CREATE TABLE IF NOT EXISTS langchain_pg_collection (uuid UUID PRIMARY KEY,
			name VARCHAR NOT NULL UNIQUE, cmetadata JSON);
		  CREATE TABLE IF NOT EXISTS langchain_pg_embedding (id VARCHAR PRIMARY KEY,
			collection_id UUID REFERENCES langchain_pg_collection(uuid) ON DELETE CASCADE,
			embedding vector(3), document VARCHAR, cmetadata JSON);
		  CREATE INDEX ON langchain_pg_embedding USING hnsw (embedding vector_l2_ops);},
		q{INSERT INTO langchain_pg_embedding (id, embedding, document)
		  SELECT 'doc ' || i, ('[' || i || ',2,3]')::vector, 'text ' || i FROM generate_series(1, 300) i},
		q{SELECT id FROM langchain_pg_embedding ORDER BY embedding <-> '[42,2,3]' LIMIT 1},
		'doc 42' ],
	[   'Spring AI (PgVectorStore, initializeSchema)',
		q{CREATE EXTENSION IF NOT EXISTS vector;
		  CREATE EXTENSION IF NOT EXISTS hstore;
		  CREATE EXTENSION IF NOT EXISTS "uuid-ossp";
		  CREATE TABLE IF NOT EXISTS public.vector_store (id uuid DEFAULT uuid_generate_v4() PRIMARY KEY,
			content text, metadata json, embedding vector(3));
		  CREATE INDEX IF NOT EXISTS spring_ai_vector_index ON public.vector_store
			USING HNSW (embedding vector_cosine_ops);},
		q{INSERT INTO public.vector_store (content, embedding)
		  SELECT 'chunk ' || i, ('[' || cos(i / 100.0) || ',' || sin(i / 100.0) || ',0]')::vector
		  FROM generate_series(1, 300) i},
		q{SELECT content FROM public.vector_store ORDER BY embedding <=> '[-0.8011436,0.5984721,0]' LIMIT 1},
		'chunk 250' ],
	[   'LlamaIndex (PGVectorStore)',
		q{CREATE EXTENSION IF NOT EXISTS vector;
		  CREATE SCHEMA IF NOT EXISTS public;
		  CREATE TABLE public.data_items (id BIGSERIAL NOT NULL, text VARCHAR NOT NULL, metadata_ JSONB,
			node_id VARCHAR, embedding VECTOR(3), PRIMARY KEY (id));
		  CREATE INDEX data_items_embedding_idx ON public.data_items USING hnsw (embedding vector_cosine_ops)
			WITH (m = 16, ef_construction = 64);},
		q{INSERT INTO public.data_items (text, embedding)
		  SELECT 'node ' || i, ('[' || i || ',1,' || (i % 5) || ']')::vector FROM generate_series(1, 300) i},
		q{BEGIN; SET LOCAL hnsw.ef_search = 40;
		  SELECT text FROM public.data_items ORDER BY embedding <=> '[77,1,2]' LIMIT 1; COMMIT;},
		'node 77' ],
	[   'Django (pgvector.django: VectorExtension, HnswIndex)',
		q{CREATE EXTENSION IF NOT EXISTS "vector";
		  CREATE TABLE "app_item" ("id" bigint NOT NULL PRIMARY KEY GENERATED BY DEFAULT AS IDENTITY,
			"embedding" vector(3) NOT NULL);
		  CREATE INDEX "my_index" ON "app_item" USING hnsw ("embedding" vector_l2_ops)
			WITH (m = 16, ef_construction = 64);},
		q{INSERT INTO "app_item" ("embedding") SELECT ('[' || i || ',0,0]')::vector FROM generate_series(1, 300) i},
		q{SELECT "id" FROM "app_item" ORDER BY "embedding" <-> '[123,0,0]' LIMIT 1},
		'123' ],
	[   'Prisma (extensions = [vector], migration)',
		q{-- CreateExtension
		  CREATE EXTENSION IF NOT EXISTS "vector";
		  -- CreateTable
		  CREATE TABLE "Item" ("id" SERIAL NOT NULL, "embedding" vector(3),
			CONSTRAINT "Item_pkey" PRIMARY KEY ("id"));
		  CREATE INDEX "Item_embedding_idx" ON "Item" USING hnsw ("embedding" vector_l2_ops);},
		q{INSERT INTO "Item" ("embedding") SELECT ('[0,' || i || ',0]')::vector FROM generate_series(1, 300) i},
		q{SELECT "id" FROM "Item" ORDER BY "embedding" <-> '[0,200,0]' LIMIT 1;
		  SELECT e.extname || ' ' || e.extversion || ' ' || n.nspname FROM pg_extension e
			JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'vector'},
		"200\nvector $extversion public" ],
	[   'knex (createExtensionIfNotExists)',
		q{create extension if not exists "vector";
		  create table "items" ("id" serial primary key, "embedding" vector(3));
		  CREATE INDEX ON items USING hnsw (embedding vector_ip_ops);},
		q{insert into "items" ("embedding") select ('[' || i || ',1,1]')::vector from generate_series(1, 300) i},
		q{select "id" from "items" order by "embedding" <#> '[1,0,0]' limit 1},
		'300' ],
	[   'SQLAlchemy (text + create_all + Index(postgresql_using=hnsw))',
		q{CREATE EXTENSION IF NOT EXISTS vector;
		  CREATE TABLE items (id SERIAL NOT NULL, embedding VECTOR(3), PRIMARY KEY (id));
		  CREATE INDEX my_index ON items USING hnsw (embedding vector_l1_ops) WITH (m = 16, ef_construction = 64);},
		q{INSERT INTO items (embedding) SELECT ('[' || i || ',' || i || ',0]')::vector FROM generate_series(1, 300) i},
		q{SELECT id FROM items ORDER BY embedding <+> '[10,10,0]' LIMIT 1},
		'10' ],
	[   "pgvector's client test suites",
		q{CREATE EXTENSION IF NOT EXISTS vector;
		  DROP TABLE IF EXISTS items;
		  CREATE TABLE items (id bigserial PRIMARY KEY, embedding vector(3));
		  CREATE INDEX ON items USING hnsw (embedding vector_l2_ops);},
		q{INSERT INTO items (embedding) VALUES ('[1,1,1]'), ('[2,2,2]'), ('[1,1,2]')},
		q{SELECT id FROM items ORDER BY embedding <-> '[1,1,1]' LIMIT 5},
		"1\n3\n2" ],);

for my $f (@frameworks)
{
	my ($name, $setup, $load, $query, $expect) = @$f;
	my $fdb = app_db();
	($rc, $out, $err) = $node->psql($fdb, "SET ROLE app;\n$setup", on_error_stop => 1);
	is($rc, 0, "$name: set-up statements run") or diag($err);
	as_app($fdb, $load);
	is(as_app($fdb, "SET enable_seqscan = off;\n$query"), $expect,
		"$name: insert and ordered search through the index");
}

# 3. a pgvector dump, restored in one transaction, stopping at any error
my $tmp = PostgreSQL::Test::Utils::tempdir();
my $script = "$FindBin::Bin/../compat/make_pgvector_dump.pl";
system("perl '$script' 500 > '$tmp/pgvector.sql'") == 0 or die "make_pgvector_dump.pl failed";
$node->safe_psql('postgres', 'CREATE DATABASE restored');
my ($stdout, $stderr);
my $ok = IPC::Run::run(
	[   "$bindir/psql", '-X', '-q', '-v', 'ON_ERROR_STOP=1', '--single-transaction',
		'-d', $node->connstr('restored'), '-f', "$tmp/pgvector.sql" ],
	'>', \$stdout, '2>', \$stderr);
ok($ok, 'pgvector dump restores with psql ON_ERROR_STOP --single-transaction: exit 0')
  or diag($stderr);
is($stderr, '', '... with nothing on stderr');

is( $node->safe_psql('restored',
		q{SELECT count(*), count(embedding), count(small), max(id), sum(vector_dims(small))
		  FROM items}),
	'500|495|495|500|3960', 'restored rows: 500, NULL vectors where the dump has \N');
is( $node->safe_psql('restored',
		q{SELECT string_agg(c.relname || ':' || coalesce(array_to_string(c.reloptions, ','), ''), ' '
		  ORDER BY c.relname) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
		  JOIN pg_am a ON a.oid = c.relam WHERE a.amname = 'hnsw'}),
	'items_embedding_idx:m=16,ef_construction=64 items_embedding_idx1: '
	  . 'items_small_idx:m=8 items_small_idx1:ef_construction=40',
	'the four hnsw indexes with their options');
is( $node->safe_psql('restored',
		q{SELECT extname || ' ' || extversion || ' ' || obj_description(oid, 'pg_extension')
		  FROM pg_extension WHERE extname = 'vector'}),
	"vector $extversion vector data type and ivfflat and hnsw access methods",
	"extension vector with the dump's comment");

# each index: used by its operator, and the same rows as an exact search
my @ops = (
	[ 'items_embedding_idx',  'embedding', '<->', '[0.1,0.2,0.3]' ],
	[ 'items_embedding_idx1', 'embedding', '<=>', '[0.1,-0.2,0.3]' ],
	[ 'items_small_idx',      'small', '<#>', '[0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8]' ],
	[ 'items_small_idx1',     'small', '<+>', '[0.5,0,0,0,0,0,0,-0.5]' ],);
for my $o (@ops)
{
	my ($idx, $col, $op, $q) = @$o;
	my $sql = "SELECT id FROM items ORDER BY $col $op '$q' LIMIT 10";
	my $plan = $node->safe_psql('restored', "SET enable_seqscan = off; EXPLAIN (COSTS OFF) $sql");
	like($plan, qr/Index Scan using $idx /, "$idx serves ORDER BY $col $op");
	my $idxrows = $node->safe_psql('restored',
		"SET hnsw.ef_search = 400; SET enable_seqscan = off; "
		  . "SELECT id FROM items ORDER BY $col $op '$q' LIMIT 10");
	my $exact = $node->safe_psql('restored',
		"SET enable_indexscan = off; SELECT id FROM items WHERE $col IS NOT NULL "
		  . "ORDER BY $col $op '$q' LIMIT 10");
	is($idxrows, $exact, "$idx returns the exact top 10");
	is( $node->safe_psql('restored',
			"SELECT reachable = active, table_rows FROM hnsw_index_check('$idx', true)"),
		't|495', "$idx: hnsw_index_check with the table pass: every element reached, 495 rows");
}

# the restored database in custom format, restored again in one transaction
$ok = IPC::Run::run(
	[   "$bindir/pg_dump", '-Fc', '-f', "$tmp/restored.dump", '-d', $node->connstr('restored') ],
	'>', \$stdout, '2>', \$stderr);
ok($ok, 'pg_dump -Fc of the restored database') or diag($stderr);
$node->safe_psql('postgres', 'CREATE DATABASE again');
$ok = IPC::Run::run(
	[   "$bindir/pg_restore", '--single-transaction', '-e', '-d', $node->connstr('again'),
		"$tmp/restored.dump" ],
	'>', \$stdout, '2>', \$stderr);
ok($ok, 'pg_restore --single-transaction -e of it: exit 0') or diag($stderr);
is( $node->safe_psql('again',
		q{SELECT count(*), sum(id), (SELECT count(*) FROM pg_indexes WHERE indexdef LIKE '%USING hnsw%')
		  FROM items}),
	'500|125250|4', 'same rows and hnsw indexes after pg_restore');

$node->stop;
done_testing();
