-- hnsw index scans: which queries use the index, and what they return on
-- edge cases (empty, one row, duplicates, NULLs, unlogged, TRUNCATE), and
-- how a scan continues past ef_search.
-- (enable_seqscan = off inflates plan costs past jit_above_cost)
SET jit = off;

-- plans
CREATE TABLE s (id int, v vector(3));
INSERT INTO s SELECT i, ARRAY[sin(i), cos(i), sin(i * 0.5)] FROM generate_series(1, 100) i;
CREATE INDEX s_l2 ON s USING hnsw (v vector_l2_ops);
ANALYZE s;
SET enable_seqscan = off;

-- the shape the index serves: ORDER BY col <op> constant LIMIT k
EXPLAIN (COSTS OFF) SELECT id FROM s ORDER BY v <-> '[1,2,3]' LIMIT 5;
EXPLAIN (COSTS OFF) SELECT id FROM s ORDER BY v <-> '[1,2,3]';
EXPLAIN (COSTS OFF) SELECT id, v <-> '[1,2,3]' AS d FROM s ORDER BY d LIMIT 5;
EXPLAIN (COSTS OFF) SELECT id FROM s WHERE id > 10 ORDER BY v <-> '[1,2,3]' LIMIT 5;

-- with a parameter, in a generic plan
SET plan_cache_mode = force_generic_plan;
PREPARE knn(vector, int) AS SELECT id FROM s ORDER BY v <-> $1 LIMIT $2;
EXPLAIN (COSTS OFF) EXECUTE knn('[1,2,3]', 5);
-- squared distances from [1,0,0]: 83 -> 0.43850, 39 -> 0.43909, 14 -> 0.45042
EXECUTE knn('[1,0,0]', 3);
DEALLOCATE knn;
-- a NULL query vector: every indexed row, in no particular order
PREPARE knn(vector) AS SELECT count(*) FROM (SELECT id FROM s ORDER BY v <-> $1 LIMIT 1000) x;
EXPLAIN (COSTS OFF) EXECUTE knn(NULL);
EXECUTE knn(NULL);
-- (a zero vector is an ordinary query under L2)
EXECUTE knn('[0,0,0]');
DEALLOCATE knn;
RESET plan_cache_mode;

-- what the index cannot serve: it is not used even with enable_seqscan off
EXPLAIN (COSTS OFF) SELECT id FROM s;
EXPLAIN (COSTS OFF) SELECT id FROM s WHERE v = '[1,2,3]';
EXPLAIN (COSTS OFF) SELECT id FROM s ORDER BY v <#> '[1,2,3]' LIMIT 5;
EXPLAIN (COSTS OFF) SELECT id FROM s ORDER BY v <=> '[1,2,3]' LIMIT 5;
EXPLAIN (COSTS OFF) SELECT id FROM s ORDER BY v <+> '[1,2,3]' LIMIT 5;
EXPLAIN (COSTS OFF) SELECT id FROM s ORDER BY v <-> '[1,2,3]' DESC LIMIT 5;
EXPLAIN (COSTS OFF) SELECT id FROM s ORDER BY l2_distance(v, '[1,2,3]') LIMIT 5;
EXPLAIN (COSTS OFF) SELECT id FROM s ORDER BY v LIMIT 5;
-- DESC still returns the right rows, from a sort
SELECT id FROM s ORDER BY v <-> '[0,0,0]' DESC LIMIT 3;
SET enable_seqscan = on;
SET enable_indexscan = off;
SELECT id FROM s ORDER BY v <-> '[0,0,0]' DESC LIMIT 3;
RESET enable_indexscan;
SET enable_seqscan = off;

-- each opclass serves its own operator
CREATE INDEX s_ip ON s USING hnsw (v vector_ip_ops);
CREATE INDEX s_cos ON s USING hnsw (v vector_cosine_ops);
CREATE INDEX s_l1 ON s USING hnsw (v vector_l1_ops);
EXPLAIN (COSTS OFF) SELECT id FROM s ORDER BY v <-> '[1,2,3]' LIMIT 5;
EXPLAIN (COSTS OFF) SELECT id FROM s ORDER BY v <#> '[1,2,3]' LIMIT 5;
EXPLAIN (COSTS OFF) SELECT id FROM s ORDER BY v <=> '[1,2,3]' LIMIT 5;
EXPLAIN (COSTS OFF) SELECT id FROM s ORDER BY v <+> '[1,2,3]' LIMIT 5;

-- a rescan per outer row (the query vector comes from the outer query)
EXPLAIN (COSTS OFF)
SELECT q.id, (SELECT s.id FROM s ORDER BY s.v <-> q.v LIMIT 1) FROM s q WHERE q.id <= 3;
SELECT bool_and(nn = id) AS self_is_nearest, count(*)
FROM (SELECT q.id, (SELECT s.id FROM s ORDER BY s.v <-> q.v LIMIT 1) AS nn FROM s q) x;
DROP TABLE s;

-- an empty table, then rows
CREATE TABLE e (id int, v vector(2));
CREATE INDEX e_idx ON e USING hnsw (v vector_l2_ops);
SELECT id FROM e ORDER BY v <-> '[1,1]' LIMIT 5;
SELECT count(*) FROM (SELECT id FROM e ORDER BY v <-> '[1,1]') x;
INSERT INTO e VALUES (1, '[5,5]');
-- one row
SELECT id, v FROM e ORDER BY v <-> '[1,1]' LIMIT 5;
SELECT id, v FROM e ORDER BY v <-> '[5,5]' LIMIT 1;
INSERT INTO e VALUES (2, '[1,2]'), (3, '[3,3]'), (4, '[-1,-1]');
-- distances from [1.1,1]: sqrt(1.01), sqrt(7.61), sqrt(8.41), sqrt(31.21)
SELECT id, round((v <-> '[1.1,1]')::numeric, 4) AS d FROM e ORDER BY v <-> '[1.1,1]' LIMIT 5;
DROP TABLE e;

-- an index built on an empty table that only has NULLs
CREATE TABLE n (id int, v vector(2));
INSERT INTO n SELECT i, NULL FROM generate_series(1, 5) i;
CREATE INDEX n_idx ON n USING hnsw (v vector_l2_ops);
SELECT count(*) FROM (SELECT id FROM n ORDER BY v <-> '[1,1]') x;
-- NULLs are not indexed: the index scan returns only the rows with a vector
INSERT INTO n SELECT i, ARRAY[i, i] FROM generate_series(6, 15) i;
INSERT INTO n VALUES (16, NULL);
SELECT array_agg(id) FROM (SELECT id FROM n ORDER BY v <-> '[0,0]') x;
SELECT count(*) FROM (SELECT id FROM n ORDER BY v <-> '[0,0]' LIMIT 100) x;
SET enable_indexscan = off;
SET enable_seqscan = on;
SELECT count(*) FROM (SELECT id FROM n ORDER BY v <-> '[0,0]' LIMIT 100) x;
RESET enable_indexscan;
SET enable_seqscan = off;
UPDATE n SET v = '[0,1]' WHERE id = 1;
UPDATE n SET v = NULL WHERE id = 6;
SELECT array_agg(id) FROM (SELECT id FROM n ORDER BY v <-> '[0,0]') x;
DROP TABLE n;

-- duplicates: 20 copies of one vector (10 at build, 10 inserted after)
-- and 30 other vectors, all farther from the query
CREATE TABLE dup (id int, v vector(2));
INSERT INTO dup SELECT i, '[1,1]' FROM generate_series(1, 10) i;
INSERT INTO dup SELECT i, ARRAY[i - 19, 0] FROM generate_series(21, 35) i;
CREATE INDEX dup_idx ON dup USING hnsw (v vector_l2_ops);
INSERT INTO dup SELECT i, '[1,1]' FROM generate_series(11, 20) i;
INSERT INTO dup SELECT i, ARRAY[i - 19, 0] FROM generate_series(36, 50) i;
-- the 20 copies first (in any order), then ids 21..25 ([2,0] .. [6,0])
WITH r AS (
  SELECT id, row_number() OVER () AS pos
  FROM (SELECT id FROM dup ORDER BY v <-> '[1.1,1]' LIMIT 25) x
)
SELECT (SELECT array_agg(id ORDER BY id) FROM r WHERE pos <= 20) AS copies,
       (SELECT array_agg(id ORDER BY pos) FROM r WHERE pos > 20) AS rest;
SELECT count(*) FROM (SELECT id FROM dup ORDER BY v <-> '[1,1]') x;
SELECT count(*) FROM (SELECT id FROM dup ORDER BY v <-> '[1,1]' LIMIT 20) x
WHERE id <= 20;
DROP TABLE dup;

-- an unlogged table
CREATE UNLOGGED TABLE u (id int, v vector(2));
CREATE INDEX u_idx ON u USING hnsw (v vector_l2_ops);
SELECT relpersistence FROM pg_class WHERE relname = 'u_idx';
INSERT INTO u SELECT i, ARRAY[i, 0] FROM generate_series(1, 30) i;
EXPLAIN (COSTS OFF) SELECT id FROM u ORDER BY v <-> '[7.1,0]' LIMIT 3;
SELECT id FROM u ORDER BY v <-> '[7.1,0]' LIMIT 3;
CREATE INDEX u_idx2 ON u USING hnsw (v vector_l1_ops);
SELECT id FROM u ORDER BY v <+> '[12.6,0]' LIMIT 3;
-- TRUNCATE on an unlogged table resets the index from its init fork
TRUNCATE u;
SELECT id FROM u ORDER BY v <-> '[7.1,0]' LIMIT 3;
INSERT INTO u VALUES (100, '[1,1]'), (101, '[2,2]');
SELECT id FROM u ORDER BY v <-> '[2,2]' LIMIT 3;
DROP TABLE u;

-- TRUNCATE
CREATE TABLE tr (id int, v vector(2));
INSERT INTO tr SELECT i, ARRAY[i, 0] FROM generate_series(1, 40) i;
CREATE INDEX tr_idx ON tr USING hnsw (v vector_cosine_ops);
TRUNCATE tr;
SELECT id FROM tr ORDER BY v <=> '[1,1]' LIMIT 3;
SELECT count(*) FROM (SELECT id FROM tr ORDER BY v <=> '[1,1]') x;
-- cosine distance from [1,1]: 3 -> 0, 2 -> 0.051, 1 -> 0.293
INSERT INTO tr VALUES (1, '[1,0]'), (2, '[2,1]'), (3, '[5,5]');
SELECT id FROM tr ORDER BY v <=> '[1,1]' LIMIT 3;
DROP TABLE tr;

-- past ef_search: 300 distinct vectors without ties
CREATE TABLE big (id int, v vector(2));
INSERT INTO big SELECT i, ARRAY[i * sin(i), i * cos(i)] FROM generate_series(1, 300) i;
CREATE INDEX big_idx ON big USING hnsw (v vector_l2_ops) WITH (m = 8, ef_construction = 32);
-- no two distances from the query are within 1e-3 of each other
SELECT min(d - pd) > 1e-3 AS no_ties
FROM (SELECT d, lag(d) OVER (ORDER BY d) AS pd
      FROM (SELECT v <-> '[10.5,-20.25]' AS d FROM big) x) y;
CREATE TABLE big_exact AS
SELECT array_agg(id ORDER BY v <-> '[10.5,-20.25]') AS ids FROM big;
SET hnsw.ef_search = 10;
-- strict_order (the default) streams every row in the exact order
SELECT count(*) FROM (SELECT id FROM big ORDER BY v <-> '[10.5,-20.25]' LIMIT 150) x;
SELECT array_agg(id) = (SELECT ids[1:150] FROM big_exact) AS same
FROM (SELECT id FROM big ORDER BY v <-> '[10.5,-20.25]' LIMIT 150) x;
SELECT array_agg(id) = (SELECT ids FROM big_exact) AS same
FROM (SELECT id FROM big ORDER BY v <-> '[10.5,-20.25]') x;
-- and with a filter that removes most rows
SELECT array_agg(id) = (SELECT array_agg(i) FROM unnest((SELECT ids FROM big_exact)) i
                        WHERE i % 10 = 0) AS same
FROM (SELECT id FROM big WHERE id % 10 = 0 ORDER BY v <-> '[10.5,-20.25]' LIMIT 100) x;
-- relaxed_order streams every row, but the order is not promised
SET hnsw.iterative_scan = relaxed_order;
SELECT count(*), count(DISTINCT id) FROM (SELECT id FROM big ORDER BY v <-> '[10.5,-20.25]') x;
SELECT array_agg(id ORDER BY id) = (SELECT array_agg(id ORDER BY id) FROM big) AS same
FROM (SELECT id FROM big ORDER BY v <-> '[10.5,-20.25]') x;
-- off: at most ef_search rows
SET hnsw.iterative_scan = off;
SELECT count(*) FROM (SELECT id FROM big ORDER BY v <-> '[10.5,-20.25]') x;
SELECT count(*) FROM (SELECT id FROM big ORDER BY v <-> '[10.5,-20.25]' LIMIT 100) x;
SELECT count(*) FROM (SELECT id FROM big ORDER BY v <-> '[10.5,-20.25]' LIMIT 4) x;
SET hnsw.ef_search = 1;
SELECT count(*) FROM (SELECT id FROM big ORDER BY v <-> '[10.5,-20.25]') x;
SET hnsw.ef_search = 400;
SELECT array_agg(id) = (SELECT ids FROM big_exact) AS same
FROM (SELECT id FROM big ORDER BY v <-> '[10.5,-20.25]') x;
RESET hnsw.iterative_scan;
RESET hnsw.ef_search;
DROP TABLE big, big_exact;

RESET enable_seqscan;
