-- hnsw index DDL: opclasses, options, settings, dimension limits,
-- REINDEX and CREATE INDEX CONCURRENTLY.
-- (enable_seqscan = off inflates plan costs past jit_above_cost)
SET jit = off;

CREATE TABLE t (id int, v vector(3));
INSERT INTO t VALUES (1, '[1,2,3]'), (2, '[4,5,6]'), (3, NULL);

-- one index per opclass, with and without options
CREATE INDEX t_l2 ON t USING hnsw (v vector_l2_ops);
CREATE INDEX t_ip ON t USING hnsw (v vector_ip_ops) WITH (m = 8);
CREATE INDEX t_cos ON t USING hnsw (v vector_cosine_ops) WITH (ef_construction = 100);
CREATE INDEX t_l1 ON t USING hnsw (v vector_l1_ops) WITH (m = 4, ef_construction = 8);
SELECT c.relname, a.amname, o.opcname, c.reloptions
FROM pg_index i
JOIN pg_class c ON c.oid = i.indexrelid
JOIN pg_am a ON a.oid = c.relam
JOIN pg_opclass o ON o.oid = i.indclass[0]
WHERE i.indrelid = 't'::regclass
ORDER BY c.relname;
\d t
SELECT p.name, pg_index_column_has_property('t_l2'::regclass, 1, p.name)
FROM unnest(ARRAY['orderable', 'returnable',
                  'search_array', 'search_nulls']) AS p(name);
DROP INDEX t_l2, t_ip, t_cos, t_l1;

-- the access method's properties
SELECT amname, amtype FROM pg_am WHERE amname = 'hnsw';
SELECT opcname FROM pg_opclass
WHERE opcmethod = (SELECT oid FROM pg_am WHERE amname = 'hnsw')
ORDER BY opcname;
SELECT p.name, pg_indexam_has_property(a.oid, p.name)
FROM pg_am a,
     unnest(ARRAY['can_order', 'can_unique', 'can_multi_col',
                  'can_include']) AS p(name)
WHERE a.amname = 'hnsw';

-- the option bounds (edges accepted, one past them rejected with the range)
CREATE INDEX t_opt ON t USING hnsw (v vector_l2_ops) WITH (m = 2, ef_construction = 4);
DROP INDEX t_opt;
CREATE INDEX t_opt ON t USING hnsw (v vector_l2_ops) WITH (m = 100, ef_construction = 1000);
DROP INDEX t_opt;
CREATE INDEX ON t USING hnsw (v vector_l2_ops) WITH (m = 1);
CREATE INDEX ON t USING hnsw (v vector_l2_ops) WITH (m = 101);
CREATE INDEX ON t USING hnsw (v vector_l2_ops) WITH (ef_construction = 3);
CREATE INDEX ON t USING hnsw (v vector_l2_ops) WITH (ef_construction = 1001);
CREATE INDEX ON t USING hnsw (v vector_l2_ops) WITH (m = 'many');
CREATE INDEX ON t USING hnsw (v vector_l2_ops) WITH (lists = 100);
-- ef_construction must be at least 2 * m (32 is accepted for m = 16)
CREATE INDEX ON t USING hnsw (v vector_l2_ops) WITH (m = 16, ef_construction = 31);
CREATE INDEX ON t USING hnsw (v vector_l2_ops) WITH (ef_construction = 31);
CREATE INDEX ON t USING hnsw (v vector_l2_ops) WITH (m = 33);
CREATE INDEX t_opt ON t USING hnsw (v vector_l2_ops) WITH (m = 16, ef_construction = 32);
DROP INDEX t_opt;

-- what the index cannot be
CREATE INDEX ON t USING hnsw (v);
CREATE INDEX ON t USING hnsw (id);
CREATE INDEX ON t USING hnsw (v vector_l2_ops, v vector_ip_ops);
CREATE UNIQUE INDEX ON t USING hnsw (v vector_l2_ops);
CREATE INDEX ON t USING hnsw (v vector_l2_ops) INCLUDE (id);
CREATE INDEX ON t USING hnsw (v vector_ops);
SELECT count(*) FROM pg_indexes WHERE tablename = 't';

-- settings: defaults, bounds, bad values
SHOW hnsw.ef_search;
SHOW hnsw.iterative_scan;
SHOW hnsw.max_scan_tuples;
SHOW hnsw.scan_mem_multiplier;
SET hnsw.ef_search = 1;
SET hnsw.ef_search = 1000;
SET hnsw.ef_search = 0;
SET hnsw.ef_search = 1001;
SET hnsw.ef_search = 'many';
SHOW hnsw.ef_search;
RESET hnsw.ef_search;
SET hnsw.iterative_scan = off;
SET hnsw.iterative_scan = relaxed_order;
SET hnsw.iterative_scan = strict_order;
SET hnsw.iterative_scan = on;
SET hnsw.iterative_scan = 'strict';
SHOW hnsw.iterative_scan;
RESET hnsw.iterative_scan;
SET hnsw.max_scan_tuples = 1;
SET hnsw.max_scan_tuples = 2147483647;
SET hnsw.max_scan_tuples = 0;
SET hnsw.max_scan_tuples = 2147483648;
SHOW hnsw.max_scan_tuples;
RESET hnsw.max_scan_tuples;
SET hnsw.scan_mem_multiplier = 1;
SET hnsw.scan_mem_multiplier = 1000;
SET hnsw.scan_mem_multiplier = 2.5;
SET hnsw.scan_mem_multiplier = 0.5;
SET hnsw.scan_mem_multiplier = 1001;
SHOW hnsw.scan_mem_multiplier;
RESET hnsw.scan_mem_multiplier;
-- the levels' seed: 0 (the index's file number) by default
SHOW hnsw.level_seed;
SET hnsw.level_seed = 2147483647;
SET hnsw.level_seed = -1;
RESET hnsw.level_seed;
-- the hnsw prefix is reserved
SET hnsw.no_such_setting = 1;

-- SET LOCAL lasts until the end of the transaction
BEGIN;
SET LOCAL hnsw.ef_search = 200;
SET LOCAL hnsw.iterative_scan = relaxed_order;
SHOW hnsw.ef_search;
SHOW hnsw.iterative_scan;
COMMIT;
SHOW hnsw.ef_search;
SHOW hnsw.iterative_scan;
BEGIN;
SET LOCAL hnsw.max_scan_tuples = 5;
SHOW hnsw.max_scan_tuples;
ROLLBACK;
SHOW hnsw.max_scan_tuples;
-- a bad value inside a transaction aborts it and changes nothing
SET hnsw.ef_search = 60;
BEGIN;
SET LOCAL hnsw.ef_search = 5000;
ROLLBACK;
SHOW hnsw.ef_search;
RESET hnsw.ef_search;

-- dimensions: a column with a typmod is checked at CREATE INDEX
CREATE TABLE dim2001 (v vector(2001));
CREATE INDEX ON dim2001 USING hnsw (v vector_l2_ops);
CREATE TABLE dim2000 (v vector(2000));
INSERT INTO dim2000 SELECT array_fill(0.5, ARRAY[2000])::vector;
CREATE INDEX dim2000_idx ON dim2000 USING hnsw (v vector_l2_ops);
INSERT INTO dim2000 SELECT array_fill(0.25, ARRAY[2000])::vector;
SET enable_seqscan = off;
SELECT vector_dims(v), vector_norm(v)
FROM dim2000 ORDER BY v <-> array_fill(0, ARRAY[2000])::vector LIMIT 5;
RESET enable_seqscan;
DROP TABLE dim2000, dim2001;

-- dimensions: without a typmod the first vector fixes them
CREATE TABLE anydim (id int, v vector);
CREATE INDEX anydim_idx ON anydim USING hnsw (v vector_l2_ops);
INSERT INTO anydim SELECT 1, array_fill(1, ARRAY[2001])::vector;
INSERT INTO anydim VALUES (2, '[1,2,3]');
INSERT INTO anydim VALUES (3, '[1,2,3,4]');
INSERT INTO anydim VALUES (4, '[1,2]');
INSERT INTO anydim VALUES (5, '[3,2,1]'), (6, NULL);
SELECT * FROM anydim ORDER BY id;
SET enable_seqscan = off;
SELECT id FROM anydim ORDER BY v <-> '[3,2,1]' LIMIT 5;
-- a query vector of other dimensions fails too
SELECT id FROM anydim ORDER BY v <-> '[3,2]' LIMIT 5;
RESET enable_seqscan;
DROP TABLE anydim;

-- and CREATE INDEX checks the vectors already in the table
CREATE TABLE anydim (v vector);
INSERT INTO anydim SELECT array_fill(1, ARRAY[2001])::vector;
CREATE INDEX ON anydim USING hnsw (v vector_l2_ops);
TRUNCATE anydim;
INSERT INTO anydim VALUES ('[1,2,3]'), ('[1,2]');
CREATE INDEX ON anydim USING hnsw (v vector_l2_ops);
DROP TABLE anydim;

-- a zero vector, which a cosine index does not hold, fixes them all the same
CREATE TABLE anydim (id int, v vector);
CREATE INDEX anydim_idx ON anydim USING hnsw (v vector_cosine_ops);
INSERT INTO anydim VALUES (1, '[0,0]');
SELECT dimensions, count_indexed FROM hnsw_index_info('anydim_idx');
INSERT INTO anydim VALUES (2, '[1,2,3]');
INSERT INTO anydim VALUES (3, '[1,2]');
REINDEX INDEX anydim_idx;
SELECT dimensions, count_indexed FROM hnsw_index_info('anydim_idx');
DROP TABLE anydim;

-- REINDEX and CREATE INDEX CONCURRENTLY
CREATE TABLE r (id int, v vector(2));
INSERT INTO r SELECT i, ARRAY[i, 0] FROM generate_series(1, 50) i;
CREATE INDEX r_idx ON r USING hnsw (v vector_l2_ops) WITH (m = 4, ef_construction = 16);
SET enable_seqscan = off;
SELECT id FROM r ORDER BY v <-> '[10.2,0]' LIMIT 3;
REINDEX INDEX r_idx;
SELECT id FROM r ORDER BY v <-> '[10.2,0]' LIMIT 3;
REINDEX TABLE r;
SELECT id FROM r ORDER BY v <-> '[20.8,0]' LIMIT 3;
REINDEX INDEX CONCURRENTLY r_idx;
SELECT id FROM r ORDER BY v <-> '[30.4,0]' LIMIT 3;
SELECT reloptions FROM pg_class WHERE relname = 'r_idx';
DROP INDEX r_idx;
CREATE INDEX CONCURRENTLY r_cidx ON r USING hnsw (v vector_l1_ops);
SELECT indisvalid, indisready FROM pg_index WHERE indexrelid = 'r_cidx'::regclass;
INSERT INTO r VALUES (51, '[40.9,0]');
EXPLAIN (COSTS OFF) SELECT id FROM r ORDER BY v <+> '[41.1,0]' LIMIT 3;
SELECT id FROM r ORDER BY v <+> '[41.1,0]' LIMIT 3;
DROP INDEX CONCURRENTLY r_cidx;
RESET enable_seqscan;
DROP TABLE r;

DROP TABLE t;
