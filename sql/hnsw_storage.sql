-- hnsw storage option: WITH (storage = 'float4' | 'half' | 'sq8' | 'sq4').
--
-- float4 keeps each vector as it is; half keeps it as IEEE half precision,
-- sq8 and sq4 as an 8-bit or 4-bit code with a per-vector offset and step.
-- A half, sq8 or sq4 index re-ranks its candidates by the table's vectors
-- (an index on an expression reports lower bounds for the executor to
-- recheck instead: hnsw_storage_expr), so an ORDER BY through it returns
-- rows in exact distance order.
-- With hnsw.ef_search (1000) above the rows of a table, the scan reaches
-- every row, so it must return exactly what a sequential scan and sort
-- return: the same distances in the same order, from distinct rows (rows at
-- equal distances may come in any order, which is why ids are not compared).
--
-- One case per table (st_cases): storage x operator class x data.  Each case
-- fills two thirds of its rows, builds the index, inserts the rest (the
-- insert path), and is compared with the sequential scan; then 10% of its
-- rows are deleted and the table vacuumed, then reindexed, and compared
-- again each time.  The data (st_vec) is deterministic, with NULLs,
-- duplicate vectors, zero vectors (which a cosine index does not hold), and,
-- for kind 'huge', coordinates beyond half's range (1e20, 1e4 times the
-- usual) and near its smallest (1e-7 times).  Cases of 2000 to 16000
-- dimensions (a dozen rows each) check the storages' limits from inside.
-- For each case hnsw_index_info gives the storage, bytes_per_vector
-- (float4 4 * dim, half 2 * dim + 16, sq8 dim + 16, sq4 (dim + 1) / 2 + 16)
-- and format_version (2 for float4, else 3), and hnsw_index_check passes
-- with the table pass.
--
-- Then: ALTER INDEX ... SET (storage) (kept by the pages until REINDEX);
-- hand-checked orders that half's rounding alone would get wrong; rows
-- with coordinates beyond half's range under each operator class; the
-- option's bad values; the dimension limits, errors and their hints.
-- (enable_seqscan = off inflates plan costs past jit_above_cost)
SET jit = off;
SET hnsw.ef_search = 1000;

-- row i of a table of n rows: the last n/15 rows repeat the first ones,
-- every 37th is NULL, rows 13, 74, 135, ... are zero vectors
CREATE FUNCTION st_vec(i int, dim int, n int, kind text) RETURNS vector
LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE
    WHEN i % 37 = 0 THEN NULL
    WHEN i % 61 = 13 THEN array_fill(0::real, ARRAY[dim])::vector
    ELSE (SELECT array_agg(CASE
            WHEN kind = 'huge' AND b % 11 = 4 AND j = 1 + b % dim
              THEN (1 - 2 * (b % 2)) * 1e20
            WHEN kind = 'huge' AND b % 11 = 2 THEN x * 1e4
            WHEN kind = 'huge' AND b % 11 = 9 THEN x * 1e-7
            ELSE x END ORDER BY j)::vector
          FROM (SELECT j, sin(b * j * 0.7071 + b * 0.37 + j) * (1 + j % 3)
                          * (1 + b % 5 * 0.5) AS x
                FROM generate_series(1, dim) j) s)
  END
  FROM (SELECT (i - 1) % (n - n / 15) + 1 AS b) bb
$$;

-- query qid (1 to 6) for a table made by st_vec: three unlike the rows, the
-- vector of row 5, a far one, and a small one (for kind 'huge', one with a
-- 1e20 coordinate)
CREATE FUNCTION st_query(qid int, dim int, n int, kind text) RETURNS vector
LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE
    WHEN qid = 4 THEN st_vec(5, dim, n, kind)
    ELSE (SELECT array_agg(CASE
            WHEN qid = 5 THEN 40 * cos(j * 1.9 + 1) * 1.5
            WHEN qid = 6 AND kind = 'huge' AND j = 1 THEN -1e20
            WHEN qid = 6 THEN 0.001 * cos(j * 3.8 + 2) * 1.5
            ELSE cos(j * 1.9 * qid + qid) * 1.5 END ORDER BY j)::vector
          FROM generate_series(1, dim) j)
  END
$$;

CREATE TABLE st_cases (name text PRIMARY KEY, ord int, storage text,
  opclass text, op text, dim int, n int, kind text, after_insert text,
  after_vacuum text, after_reindex text);
INSERT INTO st_cases (name, ord, storage, opclass, op, dim, n, kind)
SELECT format('st_%s_%s_%s%s', s.storage, o.short, d.dim,
              CASE WHEN d.kind = 'huge' THEN '_huge' ELSE '' END),
       row_number() OVER (ORDER BY d.ord, s.ord, o.ord),
       s.storage, o.opclass, o.op, d.dim, d.n, d.kind
FROM (VALUES (1, 'float4'), (2, 'half'), (3, 'sq8'), (4, 'sq4')) s(ord, storage),
     (VALUES (1, 'l2', 'vector_l2_ops', '<->'), (2, 'ip', 'vector_ip_ops', '<#>'),
             (3, 'cos', 'vector_cosine_ops', '<=>'), (4, 'l1', 'vector_l1_ops', '<+>'))
       o(ord, short, opclass, op),
     (VALUES (1, 8, 300, 'plain'), (2, 24, 200, 'plain'), (3, 8, 150, 'huge')) d(ord, dim, n, kind)
WHERE d.kind = 'plain' OR s.storage <> 'float4';
-- more dimensions than a float4 index holds (2000), a handful of rows
INSERT INTO st_cases (name, ord, storage, opclass, op, dim, n, kind)
SELECT format('st_%s_%s_%s', storage, short, dim), 100 + ord, storage, opclass, op, dim, 12, 'plain'
FROM (VALUES (1, 'float4', 'l2', 'vector_l2_ops', '<->', 2000),
             (2, 'half', 'l2', 'vector_l2_ops', '<->', 2001),
             (3, 'half', 'cos', 'vector_cosine_ops', '<=>', 3072),
             (4, 'half', 'ip', 'vector_ip_ops', '<#>', 4000),
             (5, 'sq8', 'l1', 'vector_l1_ops', '<+>', 2001),
             (6, 'sq8', 'ip', 'vector_ip_ops', '<#>', 3072),
             (7, 'sq8', 'l2', 'vector_l2_ops', '<->', 4001),
             (8, 'sq8', 'cos', 'vector_cosine_ops', '<=>', 8000),
             (9, 'sq4', 'ip', 'vector_ip_ops', '<#>', 2001),
             (10, 'sq4', 'l2', 'vector_l2_ops', '<->', 8001),
             (11, 'sq4', 'cos', 'vector_cosine_ops', '<=>', 16000))
  c(ord, storage, short, opclass, op, dim);
SELECT count(*), count(DISTINCT storage), count(DISTINCT opclass) FROM st_cases;

-- creates a case's table, fills two thirds of it, builds its index, inserts
-- the rest; returns the number of rows
CREATE FUNCTION st_build(c st_cases) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
  n bigint;
BEGIN
  EXECUTE format('CREATE TABLE %I (id int, v vector(%s)) WITH (autovacuum_enabled = off)',
                 c.name, c.dim);
  EXECUTE format('INSERT INTO %I SELECT i, st_vec(i, %s, %s, %L) FROM generate_series(1, %s) i',
                 c.name, c.dim, c.n, c.kind, c.n * 2 / 3);
  EXECUTE format('CREATE INDEX %I ON %I USING hnsw (v %s) WITH (storage = %L)',
                 c.name || '_idx', c.name, c.opclass, c.storage);
  EXECUTE format('INSERT INTO %I SELECT i, st_vec(i, %s, %s, %L) FROM generate_series(%s, %s) i',
                 c.name, c.dim, c.n, c.kind, c.n * 2 / 3 + 1, c.n);
  EXECUTE format('SELECT count(*) FROM %I', c.name) INTO n;
  RETURN n;
END $$;

-- compares a case's index scans with the sequential scan:
--   'index' if the query plan uses the case's index,
--   then the number of (query, LIMIT) pairs, of the six queries at LIMIT 10
--   and 50, where the index returns the distances of the sequential scan,
--   in its order, from distinct rows (a NOTICE shows any other),
--   then the number of queries that at ef_search = 10 (several scan rounds,
--   strict_order) and LIMIT 50 return distinct rows in non-decreasing
--   distance, and that under relaxed_order return distinct rows.
CREATE FUNCTION st_compare(c st_cases) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
  q vector;
  k int;
  ids int[];
  d float8[];
  ed float8[];
  good int := 0;
  total int := 0;
  ordered int := 0;
  line text;
  used bool := false;
  skip text := CASE WHEN c.op = '<=>' THEN ' AND vector_norm(v) > 0' ELSE '' END;
  ixq text := format('SELECT array_agg(id), array_agg(d) FROM (SELECT id, v %s $1 AS d FROM %I ORDER BY v %s $1 LIMIT $2) s',
                     c.op, c.name, c.op);
BEGIN
  PERFORM set_config('enable_seqscan', 'off', true);
  FOR line IN EXECUTE format('EXPLAIN (COSTS OFF) SELECT id FROM %I ORDER BY v %s $1 LIMIT 10',
                             c.name, c.op) USING st_query(1, c.dim, c.n, c.kind) LOOP
    used := used OR line LIKE format('%%Index Scan using %s_idx on %s%%', c.name, c.name);
  END LOOP;
  FOR qid IN 1..6 LOOP
    q := st_query(qid, c.dim, c.n, c.kind);
    FOREACH k IN ARRAY ARRAY[10, 50] LOOP
      PERFORM set_config('enable_seqscan', 'off', true);
      PERFORM set_config('enable_indexscan', 'on', true);
      EXECUTE ixq INTO ids, d USING q, k;
      PERFORM set_config('enable_seqscan', 'on', true);
      PERFORM set_config('enable_indexscan', 'off', true);
      PERFORM set_config('enable_bitmapscan', 'off', true);
      EXECUTE format('SELECT array_agg(d) FROM (SELECT v %s $1 AS d FROM %I WHERE v IS NOT NULL%s ORDER BY v %s $1 LIMIT $2) s',
                     c.op, c.name, skip, c.op) INTO ed USING q, k;
      total := total + 1;
      IF d IS NOT DISTINCT FROM ed
         AND (SELECT count(DISTINCT x) FROM unnest(ids) x) = cardinality(ids) THEN
        good := good + 1;
      ELSE
        RAISE NOTICE '% query % LIMIT %: index returned ids % distances %, exact distances %',
          c.name, qid, k, ids, d, ed;
      END IF;
    END LOOP;
    -- a narrow beam: several rounds, rows still in exact order
    PERFORM set_config('enable_seqscan', 'off', true);
    PERFORM set_config('enable_indexscan', 'on', true);
    PERFORM set_config('hnsw.ef_search', '10', true);
    EXECUTE ixq INTO ids, d USING q, 50;
    IF (SELECT count(DISTINCT x) FROM unnest(ids) x) = cardinality(ids)
       AND d = (SELECT array_agg(x ORDER BY x) FROM unnest(d) x) THEN
      ordered := ordered + 1;
    ELSE
      RAISE NOTICE '% query % ef_search 10: ids % distances %', c.name, qid, ids, d;
    END IF;
    PERFORM set_config('hnsw.iterative_scan', 'relaxed_order', true);
    EXECUTE ixq INTO ids, d USING q, 50;
    IF (SELECT count(DISTINCT x) FROM unnest(ids) x) <> cardinality(ids) THEN
      RAISE NOTICE '% query % relaxed_order: ids %', c.name, qid, ids;
    END IF;
    PERFORM set_config('hnsw.iterative_scan', 'strict_order', true);
    PERFORM set_config('hnsw.ef_search', '1000', true);
  END LOOP;
  RETURN format('%s %s/%s %s/6', CASE WHEN used THEN 'index' ELSE 'NO INDEX' END,
                good, total, ordered);
END $$;

-- runs cmd for each case, its table's name for %I; returns how many
CREATE FUNCTION st_each(cmd text) RETURNS int LANGUAGE plpgsql AS $$
DECLARE
  t text;
  n int := 0;
BEGIN
  FOR t IN SELECT name FROM st_cases ORDER BY ord LOOP
    EXECUTE replace(cmd, '%I', quote_ident(t));
    n := n + 1;
  END LOOP;
  RETURN n;
END $$;

SELECT count(*) AS built FROM st_cases c WHERE st_build(c) = c.n;
UPDATE st_cases c SET after_insert = st_compare(c);

-- the plans
SET enable_seqscan = off;
EXPLAIN (COSTS OFF)
SELECT id FROM st_half_l2_8 ORDER BY v <-> st_query(1, 8, 300, 'plain') LIMIT 10;
EXPLAIN (COSTS OFF)
SELECT id FROM st_sq8_cos_24 ORDER BY v <=> '[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24]' LIMIT 10;
RESET enable_seqscan;

-- DELETE and VACUUM, then REINDEX
SELECT st_each('DELETE FROM %I WHERE id % 10 = 3');
SELECT 'VACUUM ' || string_agg(quote_ident(name), ', ' ORDER BY ord) FROM st_cases \gexec
UPDATE st_cases c SET after_vacuum = st_compare(c);
SELECT st_each('REINDEX INDEX %I_idx');
UPDATE st_cases c SET after_reindex = st_compare(c);

-- each case: the comparisons, what hnsw_index_info says of the storage,
-- and hnsw_index_check with the table pass (the rows the index must hold)
SELECT c.name, c.after_insert, c.after_vacuum = c.after_insert AS vacuum_same,
       c.after_reindex = c.after_insert AS reindex_same,
       i.storage, i.bytes_per_vector, i.format_version, i.dimensions,
       k.table_rows
FROM st_cases c,
     LATERAL hnsw_index_info((c.name || '_idx')::regclass) i,
     LATERAL hnsw_index_check((c.name || '_idx')::regclass, true) k
ORDER BY c.ord;
SELECT name, after_vacuum, after_reindex FROM st_cases
WHERE after_vacuum <> after_insert OR after_reindex <> after_insert ORDER BY ord;

-- the option is kept in the index definition
SELECT pg_get_indexdef('st_half_l2_8_idx'::regclass);
SELECT c.relname, c.reloptions FROM pg_class c
WHERE c.relname IN ('st_float4_l2_8_idx', 'st_half_l2_8_idx', 'st_sq8_l2_8_idx',
                    'st_sq4_l2_8_idx')
ORDER BY c.relname;

SELECT st_each('DROP TABLE %I');
TRUNCATE st_cases;

-- ---------------------------------------------------------------------
-- ALTER INDEX ... SET (storage): the pages keep the storage they were
-- built with, so the index still answers exactly; REINDEX rebuilds it with
-- the new one
-- ---------------------------------------------------------------------
INSERT INTO st_cases (name, ord, storage, opclass, op, dim, n, kind)
VALUES ('st_alt', 1, 'half', 'vector_l2_ops', '<->', 24, 90, 'plain');
SELECT st_build(c) FROM st_cases c;
ALTER INDEX st_alt_idx SET (storage = 'foo');
ALTER INDEX st_alt_idx SET (storage = 'sq4');
SELECT reloptions FROM pg_class WHERE relname = 'st_alt_idx';
SELECT storage, bytes_per_vector, format_version FROM hnsw_index_info('st_alt_idx');
SELECT st_compare(c) FROM st_cases c;
INSERT INTO st_alt SELECT i, st_vec(i, 24, 150, 'plain') FROM generate_series(91, 120) i;
SELECT st_compare(c) FROM st_cases c;
SELECT elements = active AS all_active, table_rows FROM hnsw_index_check('st_alt_idx', true);
REINDEX INDEX st_alt_idx;
SELECT storage, bytes_per_vector, format_version FROM hnsw_index_info('st_alt_idx');
SELECT st_compare(c) FROM st_cases c;
ALTER INDEX st_alt_idx RESET (storage);
REINDEX INDEX st_alt_idx;
SELECT reloptions FROM pg_class WHERE relname = 'st_alt_idx';
SELECT storage, bytes_per_vector, format_version FROM hnsw_index_info('st_alt_idx');
SELECT st_compare(c) FROM st_cases c;
SELECT elements = active AS all_active, table_rows FROM hnsw_index_check('st_alt_idx', true);
DROP TABLE st_alt;
DROP FUNCTION st_compare(st_cases), st_build(st_cases), st_each(text);
DROP TABLE st_cases;

-- ---------------------------------------------------------------------
-- a hand-checked case: the first three rows are equal in half precision
-- (its step near 1 is 2^-10), and in sq8 and sq4 (steps 2/255 and 2/15);
-- from [1.00011,0,2] the distances are 0.00001, 0.00009, 0.00011 and
-- 0.00089, and come out in that order under every storage
-- ---------------------------------------------------------------------
CREATE TABLE st_small (id int, v vector(3));
INSERT INTO st_small VALUES (1, '[1.0001,0,2]'), (2, '[1.0002,0,2]'), (3, '[1,0,2]'),
  (4, '[1.001,0,2]');
SET enable_seqscan = off;
CREATE INDEX st_small_idx ON st_small USING hnsw (v vector_l2_ops) WITH (storage = 'half');
EXPLAIN (COSTS OFF) SELECT id FROM st_small ORDER BY v <-> '[1.00011,0,2]' LIMIT 10;
SELECT id, round((v <-> '[1.00011,0,2]')::numeric, 5) AS d
FROM st_small ORDER BY v <-> '[1.00011,0,2]' LIMIT 10;
DROP INDEX st_small_idx;
CREATE INDEX st_small_idx ON st_small USING hnsw (v vector_l2_ops) WITH (storage = 'sq8');
SELECT id, round((v <-> '[1.00011,0,2]')::numeric, 5) AS d
FROM st_small ORDER BY v <-> '[1.00011,0,2]' LIMIT 10;
DROP INDEX st_small_idx;
CREATE INDEX st_small_idx ON st_small USING hnsw (v vector_l2_ops) WITH (storage = 'sq4');
SELECT id, round((v <-> '[1.00011,0,2]')::numeric, 5) AS d
FROM st_small ORDER BY v <-> '[1.00011,0,2]' LIMIT 10;
DROP INDEX st_small_idx;
-- and LIMIT 2 cuts between the two nearest and the rest
CREATE INDEX st_small_idx ON st_small USING hnsw (v vector_l2_ops) WITH (storage = 'half');
SELECT id FROM st_small ORDER BY v <-> '[1.00011,0,2]' LIMIT 2;
RESET enable_seqscan;
DROP TABLE st_small;

-- ---------------------------------------------------------------------
-- coordinates beyond half's range (65504) are clamped in the index; the
-- rows are still found, in exact order (which half alone could not tell:
-- rows 1, 4 and 6 all become [65504,...]).  From [1e20,0]: row 1 at 0,
-- row 4 (200000 nearer on the first axis) before row 2 (1e20), then row 3
-- (2.0025e20); from [0,0]: 2, 4, 1, 3.
-- ---------------------------------------------------------------------
CREATE TABLE st_huge (id int, v vector(2));
INSERT INTO st_huge VALUES (1, '[1e20,0]'), (2, '[0,0]'), (3, '[-1e20,1e19]'), (4, '[200000,200000]');
SET enable_seqscan = off;
CREATE INDEX st_huge_l2 ON st_huge USING hnsw (v vector_l2_ops) WITH (storage = 'half');
SELECT id FROM st_huge ORDER BY v <-> '[1e20,0]' LIMIT 10;
SELECT id FROM st_huge ORDER BY v <-> '[0,0]' LIMIT 10;
-- rows 5 and 6 inserted into the index: 1, 4, 6, 2, 3, 5 from [1e20,0];
-- 6, 2, 4, 1, 3, 5 from [65000,-65000]
INSERT INTO st_huge VALUES (5, '[-70000,-2e20]'), (6, '[65504,-65504]');
SELECT id FROM st_huge ORDER BY v <-> '[1e20,0]' LIMIT 10;
SELECT id FROM st_huge ORDER BY v <-> '[65000,-65000]' LIMIT 10;
SELECT elements, active, table_rows FROM hnsw_index_check('st_huge_l2', true);
DROP INDEX st_huge_l2;
-- built over them, each operator class: L2 as above; L1 from [0,0]:
-- 2, 6, 4, 1, 3, 5; inner product with [1,0]: 1, 4, 6, 2, 5, 3; cosine
-- from [1,0.0001]: 1, 4, 6, 5, 3 (row 2, a zero vector, is not indexed)
CREATE INDEX st_huge_l2 ON st_huge USING hnsw (v vector_l2_ops) WITH (storage = 'half');
SELECT id FROM st_huge ORDER BY v <-> '[1e20,0]' LIMIT 10;
SELECT elements, active, table_rows FROM hnsw_index_check('st_huge_l2', true);
DROP INDEX st_huge_l2;
CREATE INDEX st_huge_l1 ON st_huge USING hnsw (v vector_l1_ops) WITH (storage = 'half');
SELECT id FROM st_huge ORDER BY v <+> '[0,0]' LIMIT 10;
DROP INDEX st_huge_l1;
CREATE INDEX st_huge_ip ON st_huge USING hnsw (v vector_ip_ops) WITH (storage = 'half');
SELECT id FROM st_huge ORDER BY v <#> '[1,0]' LIMIT 10;
DROP INDEX st_huge_ip;
CREATE INDEX st_huge_cos ON st_huge USING hnsw (v vector_cosine_ops) WITH (storage = 'half');
SELECT id FROM st_huge ORDER BY v <=> '[1,0.0001]' LIMIT 10;
SELECT elements, active, table_rows FROM hnsw_index_check('st_huge_cos', true);
-- a zero query has no direction: every indexed row, in no order
SELECT count(*), count(DISTINCT id) FROM (SELECT id FROM st_huge ORDER BY v <=> '[0,0]') x;
DROP INDEX st_huge_cos;
-- sq8 and a query far beyond float4's products: by -(x - y) * 1e30, rows
-- 5 (-2e50), 1 (-1e50), 6 (-1.3e35), then 2 and 4 (0), 3
CREATE INDEX st_huge_ip ON st_huge USING hnsw (v vector_ip_ops) WITH (storage = 'sq8');
SELECT id FROM st_huge ORDER BY v <#> '[1e30,-1e30]' LIMIT 3;
SELECT count(*) FROM (SELECT id FROM st_huge ORDER BY v <#> '[1e30,-1e30]') x;
DROP INDEX st_huge_ip;
-- sq4, L1 from [0,0] as above: 2, 6, 4, 1, 3, 5
CREATE INDEX st_huge_l1 ON st_huge USING hnsw (v vector_l1_ops) WITH (storage = 'sq4');
SELECT id FROM st_huge ORDER BY v <+> '[0,0]' LIMIT 10;
SELECT elements, active, table_rows FROM hnsw_index_check('st_huge_l1', true);
DROP INDEX st_huge_l1;
RESET enable_seqscan;
DROP TABLE st_huge;

-- sq8 re-ranking scans under inner product and cosine take integer
-- products against the query quantised to 16 bits, except where its
-- largest value is below 2^-111 (subnormal queries) or its sum leaves
-- float's range; and a scan of an inner-product index searches by -q.x,
-- not by the lists' 1 - q.x, which tied every product below about 6e-8
-- (a float4 index returned the 1e-30 query's rows out of order, an sq8
-- one the wrong rows).  The 20 nearest in the sequential scan's order for
-- queries from 1e-45 to 3e37 times a pattern of small integers (300 rows,
-- 8 centroids), sq8 and float4.  (At 3e37 the products lie beyond float's
-- range: an sq8 scan summed the compressed product of the residual and that
-- of the centroid, searched rows at such made-up distances and missed the
-- 19th.)
CREATE TABLE st_q16 (id int, v vector(16));
INSERT INTO st_q16 SELECT i, st_vec(i, 16, 300, 'plain') FROM generate_series(1, 300) i;
CREATE TABLE st_q16_q AS
SELECT f, (SELECT array_agg((round(cos(j * 1.9 + 1) * 8) * f)::real ORDER BY j)::vector
           FROM generate_series(1, 16) j) AS q
FROM unnest(ARRAY[1e-45, 1e-40, 1e-36, 1e-30, 1, 1e30, 3e37]::float8[]) f;
CREATE INDEX st_q16_ip ON st_q16 USING hnsw (v vector_ip_ops) WITH (storage = 'sq8');
CREATE INDEX st_q16_cos ON st_q16 USING hnsw (v vector_cosine_ops) WITH (storage = 'sq8');
SELECT centroids FROM hnsw_index_info('st_q16_ip');
CREATE TABLE st_q16_idx (storage text, f float8, ip float8[], cos float8[]);
SET enable_seqscan = off;
INSERT INTO st_q16_idx
SELECT 'sq8', f, ARRAY(SELECT v <#> q FROM st_q16 ORDER BY v <#> q LIMIT 20),
       ARRAY(SELECT v <=> q FROM st_q16 ORDER BY v <=> q LIMIT 20)
FROM st_q16_q;
DROP INDEX st_q16_ip, st_q16_cos;
CREATE INDEX st_q16_ip ON st_q16 USING hnsw (v vector_ip_ops);
CREATE INDEX st_q16_cos ON st_q16 USING hnsw (v vector_cosine_ops);
INSERT INTO st_q16_idx
SELECT 'float4', f, ARRAY(SELECT v <#> q FROM st_q16 ORDER BY v <#> q LIMIT 20),
       ARRAY(SELECT v <=> q FROM st_q16 ORDER BY v <=> q LIMIT 20)
FROM st_q16_q;
EXPLAIN (COSTS OFF) SELECT id FROM st_q16 ORDER BY v <#> '[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16]' LIMIT 20;
RESET enable_seqscan;
SET enable_indexscan = off;
SET enable_bitmapscan = off;
SELECT i.storage, i.f,
       i.ip = ARRAY(SELECT v <#> q.q FROM st_q16 ORDER BY v <#> q.q LIMIT 20) AS ip_same,
       i.cos = ARRAY(SELECT v <=> q.q FROM st_q16 ORDER BY v <=> q.q LIMIT 20) AS cos_same,
       cardinality(i.ip) AS n
FROM st_q16_idx i JOIN st_q16_q q USING (f) ORDER BY i.storage DESC, i.f;
RESET enable_indexscan;
RESET enable_bitmapscan;
DROP TABLE st_q16, st_q16_q, st_q16_idx;

-- rows of about 1e-20 against queries of 1e-25 to 1e20: products and
-- squares below float's normal range (1.2e-38).  Before session 18 a
-- float4 inner-product index returned rows out of order at 1e-25 (the
-- kernel's sums of subnormal products), half returned inner products in
-- no order at every scale (its codes of such rows are all zero), and the
-- coded expression indexes, whose scans report lower bounds for the
-- executor's recheck, failed with "index returned tuples in wrong order".
-- ef_search covers the table: the order must be the sequential scan's.
CREATE TABLE st_tiny (id int, v vector(16));
INSERT INTO st_tiny
SELECT i, (SELECT array_agg((x * 1e-20)::real)
           FROM unnest(st_vec(i, 16, 300, 'plain')::real[]) x)::vector
FROM generate_series(1, 300) i;
CREATE TABLE st_tiny_q AS
SELECT f, (SELECT array_agg((round(cos(j * 1.9 + 1) * 8) * f)::real ORDER BY j)::vector
           FROM generate_series(1, 16) j) AS q
FROM unnest(ARRAY[1e-25, 1e-23, 1e-20, 1, 1e20]::float8[]) f;
CREATE TABLE st_tiny_idx (storage text, f float8, ip float8[], l2 float8[], l1 float8[]);
-- returns whether the three scans took their index
CREATE FUNCTION st_tiny_scan(storage text, e text) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
  plan text := '';
  line text;
BEGIN
  EXECUTE format('CREATE INDEX st_tiny_ip ON st_tiny USING hnsw ((%s) vector_ip_ops) WITH (storage = %I)', e, storage);
  EXECUTE format('CREATE INDEX st_tiny_l2 ON st_tiny USING hnsw ((%s) vector_l2_ops) WITH (storage = %I)', e, storage);
  EXECUTE format('CREATE INDEX st_tiny_l1 ON st_tiny USING hnsw ((%s) vector_l1_ops) WITH (storage = %I)', e, storage);
  EXECUTE format('INSERT INTO st_tiny_idx SELECT %L, f,
      ARRAY(SELECT (%s) <#> q FROM st_tiny ORDER BY (%s) <#> q LIMIT 20),
      ARRAY(SELECT (%s) <-> q FROM st_tiny ORDER BY (%s) <-> q LIMIT 20),
      ARRAY(SELECT (%s) <+> q FROM st_tiny ORDER BY (%s) <+> q LIMIT 20)
    FROM st_tiny_q', storage || CASE WHEN e = 'v' THEN '' ELSE ' expr' END, e, e, e, e, e, e);
  FOR line IN EXECUTE format('EXPLAIN (COSTS OFF) SELECT
      ARRAY(SELECT (%s) <#> q FROM st_tiny ORDER BY (%s) <#> q LIMIT 20),
      ARRAY(SELECT (%s) <-> q FROM st_tiny ORDER BY (%s) <-> q LIMIT 20),
      ARRAY(SELECT (%s) <+> q FROM st_tiny ORDER BY (%s) <+> q LIMIT 20)
    FROM st_tiny_q', e, e, e, e, e, e) LOOP
    plan := plan || line;
  END LOOP;
  DROP INDEX st_tiny_ip, st_tiny_l2, st_tiny_l1;
  RETURN plan LIKE '%Index Scan using st_tiny_ip%Index Scan using st_tiny_l2%Index Scan using st_tiny_l1%';
END $$;
SET enable_seqscan = off;
SELECT s AS storage, e = 'v' AS plain, st_tiny_scan(s, e) AS indexed
FROM unnest(ARRAY['float4', 'half', 'sq8', 'sq4']) s,
     unnest(ARRAY['v', 'v + array_fill(0::real, ARRAY[16])::vector']) e;
RESET enable_seqscan;
SET enable_indexscan = off;
SET enable_bitmapscan = off;
SELECT i.storage, i.f,
       i.ip = ARRAY(SELECT v <#> q.q FROM st_tiny ORDER BY v <#> q.q LIMIT 20) AS ip_same,
       i.l2 = ARRAY(SELECT v <-> q.q FROM st_tiny ORDER BY v <-> q.q LIMIT 20) AS l2_same,
       i.l1 = ARRAY(SELECT v <+> q.q FROM st_tiny ORDER BY v <+> q.q LIMIT 20) AS l1_same,
       cardinality(i.ip) AS n
FROM st_tiny_idx i JOIN st_tiny_q q USING (f) ORDER BY i.storage, i.f;
RESET enable_indexscan;
RESET enable_bitmapscan;
DROP TABLE st_tiny, st_tiny_q, st_tiny_idx;
DROP FUNCTION st_tiny_scan(text, text);

-- a backend keeps a copy of the centroids of each coded index it used;
-- those of dropped indexes are freed (before session 18 a backend that
-- made and dropped coded indexes kept them all: 64 kB each here)
CREATE TABLE st_cc_src AS SELECT i, st_vec(i, 256, 200, 'plain') AS v
FROM generate_series(1, 200) i;
SET enable_seqscan = off;
DO $$
BEGIN
  FOR k IN 1..12 LOOP
    CREATE TABLE st_cc AS SELECT * FROM st_cc_src;
    CREATE INDEX st_cc_idx ON st_cc USING hnsw (v vector_l2_ops) WITH (storage = sq8);
    PERFORM (SELECT i FROM st_cc ORDER BY v <-> st_vec(7, 256, 200, 'plain') LIMIT 1);
    DROP TABLE st_cc;
  END LOOP;
END $$;
RESET enable_seqscan;
SELECT count(*) AS contexts, sum(total_bytes) < 200000 AS at_most_two_copies
FROM pg_backend_memory_contexts WHERE name = 'hnsw centroids';
DROP TABLE st_cc_src;

-- ---------------------------------------------------------------------
-- the option's values
-- ---------------------------------------------------------------------
CREATE TABLE st_opt (id int, v vector(24));
INSERT INTO st_opt SELECT i, st_vec(i, 24, 40, 'plain') FROM generate_series(1, 40) i;
CREATE INDEX st_opt_idx ON st_opt USING hnsw (v vector_l2_ops) WITH (storage = 'foo');
CREATE INDEX st_opt_idx ON st_opt USING hnsw (v vector_l2_ops) WITH (storage = '');
CREATE INDEX st_opt_idx ON st_opt USING hnsw (v vector_l2_ops) WITH (storage = 'float8');
CREATE INDEX st_opt_idx ON st_opt USING hnsw (v vector_l2_ops) WITH (storage = 4);
\set VERBOSITY sqlstate
CREATE INDEX st_opt_idx ON st_opt USING hnsw (v vector_l2_ops) WITH (storage = 'foo');
\set VERBOSITY default
SELECT count(*) FROM pg_indexes WHERE tablename = 'st_opt';
-- with the other options; the default is float4
CREATE INDEX st_opt_default ON st_opt USING hnsw (v vector_l2_ops);
CREATE INDEX st_opt_float4 ON st_opt USING hnsw (v vector_l2_ops) WITH (storage = 'float4');
CREATE INDEX st_opt_half ON st_opt USING hnsw (v vector_ip_ops)
  WITH (m = 8, storage = 'half', ef_construction = 40);
CREATE INDEX st_opt_sq8 ON st_opt USING hnsw (v vector_cosine_ops)
  WITH (storage = sq8, m = 4);
CREATE INDEX st_opt_sq4 ON st_opt USING hnsw (v vector_l1_ops)
  WITH (storage = 'sq4', ef_construction = 40);
SELECT c.relname, c.reloptions, i.storage, i.bytes_per_vector, i.format_version,
       i.dimensions, i.m, i.ef_construction, i.count_indexed
FROM pg_class c, LATERAL hnsw_index_info(c.oid) i
WHERE c.relname LIKE 'st_opt\_%' AND c.relkind = 'i'
ORDER BY c.relname;
DROP TABLE st_opt;

-- ---------------------------------------------------------------------
-- dimensions: float4 holds 2000, half 4000, sq8 8000, sq4 16000 (the
-- type's own limit)
-- ---------------------------------------------------------------------
CREATE TABLE st_d2001 (v vector(2001));
CREATE INDEX ON st_d2001 USING hnsw (v vector_l2_ops);
CREATE INDEX ON st_d2001 USING hnsw (v vector_l2_ops) WITH (storage = 'float4');
CREATE TABLE st_d4001 (v vector(4001));
CREATE INDEX ON st_d4001 USING hnsw (v vector_l2_ops) WITH (storage = 'half');
CREATE TABLE st_d8001 (v vector(8001));
CREATE INDEX ON st_d8001 USING hnsw (v vector_l2_ops);
CREATE INDEX ON st_d8001 USING hnsw (v vector_l2_ops) WITH (storage = 'half');
CREATE INDEX ON st_d8001 USING hnsw (v vector_cosine_ops) WITH (storage = 'sq8');
\set VERBOSITY sqlstate
CREATE INDEX ON st_d2001 USING hnsw (v vector_l2_ops);
CREATE INDEX ON st_d8001 USING hnsw (v vector_cosine_ops) WITH (storage = 'sq8');
\set VERBOSITY default
SELECT count(*) FROM pg_indexes WHERE tablename IN ('st_d2001', 'st_d4001', 'st_d8001');
-- the same columns take the storage that holds them
CREATE INDEX st_d2001_half ON st_d2001 USING hnsw (v vector_l2_ops) WITH (storage = 'half');
CREATE INDEX st_d2001_sq8 ON st_d2001 USING hnsw (v vector_l2_ops) WITH (storage = 'sq8');
CREATE INDEX st_d4001_sq8 ON st_d4001 USING hnsw (v vector_l1_ops) WITH (storage = 'sq8');
CREATE INDEX st_d8001_sq4 ON st_d8001 USING hnsw (v vector_cosine_ops) WITH (storage = 'sq4');
SELECT dimensions, storage, bytes_per_vector FROM hnsw_index_info('st_d2001_half');
SELECT dimensions, storage, bytes_per_vector FROM hnsw_index_info('st_d4001_sq8');
SELECT dimensions, storage, bytes_per_vector FROM hnsw_index_info('st_d8001_sq4');
DROP TABLE st_d2001, st_d4001, st_d8001;

-- without a typmod, the first vector is checked against the storage's limit
CREATE TABLE st_any (id int, v vector);
CREATE INDEX st_any_float4 ON st_any USING hnsw (v vector_l2_ops);
INSERT INTO st_any SELECT 1, array_fill(1, ARRAY[2001])::vector;
DROP INDEX st_any_float4;
CREATE INDEX st_any_half ON st_any USING hnsw (v vector_l2_ops) WITH (storage = 'half');
INSERT INTO st_any SELECT 1, array_fill(1, ARRAY[4001])::vector;
INSERT INTO st_any SELECT 1, array_fill(1, ARRAY[4000])::vector;
INSERT INTO st_any SELECT 2, array_fill(0.5, ARRAY[4000])::vector;
SELECT dimensions, storage, bytes_per_vector, count_indexed FROM hnsw_index_info('st_any_half');
DROP INDEX st_any_half;
TRUNCATE st_any;
CREATE INDEX st_any_sq8 ON st_any USING hnsw (v vector_l2_ops) WITH (storage = 'sq8');
INSERT INTO st_any SELECT 1, array_fill(1, ARRAY[8001])::vector;
INSERT INTO st_any SELECT 1, array_fill(1, ARRAY[8000])::vector;
INSERT INTO st_any SELECT 2, array_fill(0.5, ARRAY[8000])::vector;
SET enable_seqscan = off;
SELECT id, vector_dims(v) FROM st_any ORDER BY v <-> array_fill(0.6, ARRAY[8000])::vector LIMIT 5;
RESET enable_seqscan;
SELECT dimensions, storage, bytes_per_vector, count_indexed FROM hnsw_index_info('st_any_sq8');
SELECT elements, active, table_rows FROM hnsw_index_check('st_any_sq8', true);
-- and CREATE INDEX checks the rows already there
CREATE INDEX ON st_any USING hnsw (v vector_l2_ops) WITH (storage = 'half');
CREATE INDEX ON st_any USING hnsw (v vector_l2_ops);
DROP INDEX st_any_sq8;
TRUNCATE st_any;
-- sq4 takes what the type takes
CREATE INDEX st_any_sq4 ON st_any USING hnsw (v vector_l2_ops) WITH (storage = 'sq4');
INSERT INTO st_any SELECT 1, array_fill(1, ARRAY[16001])::vector;
INSERT INTO st_any SELECT 1, array_fill(1, ARRAY[16000])::vector;
INSERT INTO st_any SELECT 2, array_fill(0.5, ARRAY[16000])::vector;
SET enable_seqscan = off;
SELECT id, vector_dims(v) FROM st_any ORDER BY v <-> array_fill(0.6, ARRAY[16000])::vector LIMIT 5;
RESET enable_seqscan;
SELECT dimensions, storage, bytes_per_vector, count_indexed FROM hnsw_index_info('st_any_sq4');
SELECT elements, active, table_rows FROM hnsw_index_check('st_any_sq4', true);
DROP TABLE st_any;

DROP FUNCTION st_vec(int, int, int, text), st_query(int, int, int, text);
RESET hnsw.ef_search;
