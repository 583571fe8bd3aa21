-- vector_cosine_ops (<=>, cosine distance): with ef_search >= rows the index
-- scan returns exactly the order of a sequential scan and sort.
-- 300 vectors from sin/cos of the id (200 at CREATE INDEX, 100 inserted
-- after it), and three queries.
-- (enable_seqscan = off inflates plan costs past jit_above_cost)
SET jit = off;
CREATE TABLE x_cosine (id int, v vector(3));
INSERT INTO x_cosine SELECT i, ARRAY[sin(i), cos(i * 1.7), sin(i * 0.3) + cos(i * 2.1)]
FROM generate_series(1, 200) i;
CREATE INDEX x_cosine_idx ON x_cosine USING hnsw (v vector_cosine_ops);
INSERT INTO x_cosine SELECT i, ARRAY[sin(i), cos(i * 1.7), sin(i * 0.3) + cos(i * 2.1)]
FROM generate_series(201, 300) i;
CREATE TABLE x_cosine_q (qid int, q vector(3));
INSERT INTO x_cosine_q VALUES (1, '[0.3,-0.2,0.5]'), (2, '[1,1,1]'), (3, '[-0.7,0.1,-1.2]');

-- no two distances from a query are within 1e-6 of each other, so the
-- exact order is unambiguous
SELECT qid, count(*), min(d - pd) > 1e-6 AS no_ties
FROM (SELECT qid, d, lag(d) OVER (PARTITION BY qid ORDER BY d) AS pd
      FROM (SELECT qid, v <=> q AS d FROM x_cosine, x_cosine_q) a) b
GROUP BY qid ORDER BY qid;

-- the exact order, without the index
SET enable_indexscan = off;
EXPLAIN (COSTS OFF) SELECT id FROM x_cosine ORDER BY v <=> '[0.3,-0.2,0.5]' LIMIT 5;
CREATE TABLE x_cosine_exact AS
SELECT qid, (SELECT array_agg(id) FROM (SELECT id FROM x_cosine ORDER BY v <=> q) s) AS ids
FROM x_cosine_q;
SELECT qid, cardinality(ids) FROM x_cosine_exact ORDER BY qid;
RESET enable_indexscan;

-- the same through the index
SET enable_seqscan = off;
SET hnsw.ef_search = 300;
EXPLAIN (COSTS OFF) SELECT id FROM x_cosine ORDER BY v <=> '[0.3,-0.2,0.5]' LIMIT 5;
-- (computed independently of PostgreSQL)
SELECT id FROM x_cosine ORDER BY v <=> '[0.3,-0.2,0.5]' LIMIT 5;
EXPLAIN (COSTS OFF)
SELECT qid, (SELECT array_agg(id) FROM (SELECT id FROM x_cosine ORDER BY v <=> q) s) FROM x_cosine_q;
SELECT e.qid,
       (SELECT array_agg(id) FROM (SELECT id FROM x_cosine ORDER BY v <=> q.q) s) = e.ids AS all_rows,
       (SELECT array_agg(id) FROM (SELECT id FROM x_cosine ORDER BY v <=> q.q LIMIT 10) s) = e.ids[1:10] AS top10,
       (SELECT array_agg(id) FROM (SELECT id FROM x_cosine ORDER BY v <=> q.q LIMIT 1) s) = e.ids[1:1] AS top1
FROM x_cosine_q q JOIN x_cosine_exact e USING (qid) ORDER BY e.qid;
-- and with the first round alone (iterative scan off)
SET hnsw.iterative_scan = off;
SELECT e.qid,
       (SELECT array_agg(id) FROM (SELECT id FROM x_cosine ORDER BY v <=> q.q) s) = e.ids AS all_rows
FROM x_cosine_q q JOIN x_cosine_exact e USING (qid) ORDER BY e.qid;
RESET hnsw.iterative_scan;
-- after REINDEX (all 300 rows now in the in-memory build)
REINDEX INDEX x_cosine_idx;
SELECT e.qid,
       (SELECT array_agg(id) FROM (SELECT id FROM x_cosine ORDER BY v <=> q.q) s) = e.ids AS all_rows
FROM x_cosine_q q JOIN x_cosine_exact e USING (qid) ORDER BY e.qid;

-- zero vectors are not indexed under cosine
INSERT INTO x_cosine VALUES (301, '[0,0,0]');
SELECT count(*) FROM (SELECT id FROM x_cosine ORDER BY v <=> '[1,1,1]') x;
SELECT count(*) FILTER (WHERE id = 301) FROM (SELECT id FROM x_cosine ORDER BY v <=> '[1,1,1]') x;
SELECT array_agg(id) = (SELECT ids FROM x_cosine_exact WHERE qid = 2) AS all_rows
FROM (SELECT id FROM x_cosine ORDER BY v <=> '[1,1,1]') x;
-- a zero query vector has no direction: every indexed row, in no order
SELECT count(*), count(DISTINCT id) FROM (SELECT id FROM x_cosine ORDER BY v <=> '[0,0,0]') x;
SET enable_seqscan = on;
SET enable_indexscan = off;
SELECT count(*) FROM (SELECT id FROM x_cosine ORDER BY v <=> '[1,1,1]') x;
RESET enable_indexscan;
SET enable_seqscan = off;

-- a small hand-checked case: vectors that differ only by a positive scale
-- are at distance 0; from [1,2,3]: 0, 0, 2, 1 - 10/14 = 0.2857
CREATE TABLE x_cosine_small (id int, v vector(3));
CREATE INDEX ON x_cosine_small USING hnsw (v vector_cosine_ops);
INSERT INTO x_cosine_small VALUES
  (1, '[1,2,3]'), (2, '[2,4,6]'), (3, '[-1,-2,-3]'), (4, '[3,2,1]'), (5, '[0,0,0]');
WITH r AS (
  SELECT id, row_number() OVER () AS pos
  FROM (SELECT id FROM x_cosine_small ORDER BY v <=> '[1,2,3]' LIMIT 10) x
)
SELECT (SELECT array_agg(id ORDER BY id) FROM r WHERE pos <= 2) AS nearest,
       (SELECT array_agg(id ORDER BY pos) FROM r WHERE pos > 2) AS rest;
SELECT id, round((v <=> '[1,2,3]')::numeric, 4) AS d
FROM x_cosine_small WHERE id > 2 ORDER BY v <=> '[1,2,3]' LIMIT 10;
DROP TABLE x_cosine_small;

RESET hnsw.ef_search;
RESET enable_seqscan;
DROP TABLE x_cosine, x_cosine_q, x_cosine_exact;
