-- vector_l1_ops (<+>, taxicab distance): with ef_search >= rows the index
-- scan returns exactly the order of a sequential scan and sort.
-- 300 vectors from sin/cos of the id (200 at CREATE INDEX, 100 inserted
-- after it), and three queries.
-- (enable_seqscan = off inflates plan costs past jit_above_cost)
SET jit = off;
CREATE TABLE x_l1 (id int, v vector(3));
INSERT INTO x_l1 SELECT i, ARRAY[sin(i), cos(i * 1.7), sin(i * 0.3) + cos(i * 2.1)]
FROM generate_series(1, 200) i;
CREATE INDEX x_l1_idx ON x_l1 USING hnsw (v vector_l1_ops);
INSERT INTO x_l1 SELECT i, ARRAY[sin(i), cos(i * 1.7), sin(i * 0.3) + cos(i * 2.1)]
FROM generate_series(201, 300) i;
CREATE TABLE x_l1_q (qid int, q vector(3));
INSERT INTO x_l1_q VALUES (1, '[0.3,-0.2,0.5]'), (2, '[1,1,1]'), (3, '[-0.7,0.1,-1.2]');

-- no two distances from a query are within 1e-6 of each other, so the
-- exact order is unambiguous
SELECT qid, count(*), min(d - pd) > 1e-6 AS no_ties
FROM (SELECT qid, d, lag(d) OVER (PARTITION BY qid ORDER BY d) AS pd
      FROM (SELECT qid, v <+> q AS d FROM x_l1, x_l1_q) a) b
GROUP BY qid ORDER BY qid;

-- the exact order, without the index
SET enable_indexscan = off;
EXPLAIN (COSTS OFF) SELECT id FROM x_l1 ORDER BY v <+> '[0.3,-0.2,0.5]' LIMIT 5;
CREATE TABLE x_l1_exact AS
SELECT qid, (SELECT array_agg(id) FROM (SELECT id FROM x_l1 ORDER BY v <+> q) s) AS ids
FROM x_l1_q;
SELECT qid, cardinality(ids) FROM x_l1_exact ORDER BY qid;
RESET enable_indexscan;

-- the same through the index
SET enable_seqscan = off;
SET hnsw.ef_search = 300;
EXPLAIN (COSTS OFF) SELECT id FROM x_l1 ORDER BY v <+> '[0.3,-0.2,0.5]' LIMIT 5;
-- (computed independently of PostgreSQL)
SELECT id FROM x_l1 ORDER BY v <+> '[0.3,-0.2,0.5]' LIMIT 5;
EXPLAIN (COSTS OFF)
SELECT qid, (SELECT array_agg(id) FROM (SELECT id FROM x_l1 ORDER BY v <+> q) s) FROM x_l1_q;
SELECT e.qid,
       (SELECT array_agg(id) FROM (SELECT id FROM x_l1 ORDER BY v <+> q.q) s) = e.ids AS all_rows,
       (SELECT array_agg(id) FROM (SELECT id FROM x_l1 ORDER BY v <+> q.q LIMIT 10) s) = e.ids[1:10] AS top10,
       (SELECT array_agg(id) FROM (SELECT id FROM x_l1 ORDER BY v <+> q.q LIMIT 1) s) = e.ids[1:1] AS top1
FROM x_l1_q q JOIN x_l1_exact e USING (qid) ORDER BY e.qid;
-- and with the first round alone (iterative scan off)
SET hnsw.iterative_scan = off;
SELECT e.qid,
       (SELECT array_agg(id) FROM (SELECT id FROM x_l1 ORDER BY v <+> q.q) s) = e.ids AS all_rows
FROM x_l1_q q JOIN x_l1_exact e USING (qid) ORDER BY e.qid;
RESET hnsw.iterative_scan;
-- after REINDEX (all 300 rows now in the in-memory build)
REINDEX INDEX x_l1_idx;
SELECT e.qid,
       (SELECT array_agg(id) FROM (SELECT id FROM x_l1 ORDER BY v <+> q.q) s) = e.ids AS all_rows
FROM x_l1_q q JOIN x_l1_exact e USING (qid) ORDER BY e.qid;

-- a small hand-checked case: distances from [0,0] are 0, 7, 2, 2.5
CREATE TABLE x_l1_small (id int, v vector(2));
CREATE INDEX ON x_l1_small USING hnsw (v vector_l1_ops);
INSERT INTO x_l1_small VALUES (1, '[0,0]'), (2, '[3,4]'), (3, '[1,1]'), (4, '[-2,0.5]');
SELECT id, v <+> '[0,0]' AS d FROM x_l1_small ORDER BY v <+> '[0,0]' LIMIT 10;
DROP TABLE x_l1_small;

RESET hnsw.ef_search;
RESET enable_seqscan;
DROP TABLE x_l1, x_l1_q, x_l1_exact;
