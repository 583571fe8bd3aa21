-- The checks every operator class of hnsw gets, included by its test
-- sql/hnsw_<class>.sql after it sets
--   opclass  the operator class (vector_l2_ops)
--   op       its distance operator ('<->')
--   tbl      the name of the test's table (x_l2); the others are named after it
-- With ef_search >= rows the index scan returns exactly the order of a
-- sequential scan and sort.
-- 300 vectors from sin/cos of the id (200 at CREATE INDEX, 100 inserted
-- after it), and three queries.
-- Leaves enable_seqscan = off, hnsw.ef_search = 300 and the tables :tbl,
-- :tbl_q and :tbl_exact for the including test's own checks; that test
-- resets the settings and drops the tables.
-- (enable_seqscan = off inflates plan costs past jit_above_cost)
\set tbl_idx :tbl '_idx'
\set tbl_q :tbl '_q'
\set tbl_exact :tbl '_exact'
SET jit = off;
CREATE TABLE :tbl (id int, v vector(3));
INSERT INTO :tbl SELECT i, ARRAY[sin(i), cos(i * 1.7), sin(i * 0.3) + cos(i * 2.1)]
FROM generate_series(1, 200) i;
CREATE INDEX :tbl_idx ON :tbl USING hnsw (v :opclass);
INSERT INTO :tbl SELECT i, ARRAY[sin(i), cos(i * 1.7), sin(i * 0.3) + cos(i * 2.1)]
FROM generate_series(201, 300) i;
CREATE TABLE :tbl_q (qid int, q vector(3));
INSERT INTO :tbl_q VALUES (1, '[0.3,-0.2,0.5]'), (2, '[1,1,1]'), (3, '[-0.7,0.1,-1.2]');

-- no two distances from a query are within 1e-6 of each other, so the
-- exact order is unambiguous
SELECT qid, count(*), min(d - pd) > 1e-6 AS no_ties
FROM (SELECT qid, d, lag(d) OVER (PARTITION BY qid ORDER BY d) AS pd
      FROM (SELECT qid, v :op q AS d FROM :tbl, :tbl_q) a) b
GROUP BY qid ORDER BY qid;

-- the exact order, without the index
SET enable_indexscan = off;
EXPLAIN (COSTS OFF) SELECT id FROM :tbl ORDER BY v :op '[0.3,-0.2,0.5]' LIMIT 5;
CREATE TABLE :tbl_exact AS
SELECT qid, (SELECT array_agg(id) FROM (SELECT id FROM :tbl ORDER BY v :op q) s) AS ids
FROM :tbl_q;
SELECT qid, cardinality(ids) FROM :tbl_exact ORDER BY qid;
RESET enable_indexscan;

-- the same through the index
SET enable_seqscan = off;
SET hnsw.ef_search = 300;
EXPLAIN (COSTS OFF) SELECT id FROM :tbl ORDER BY v :op '[0.3,-0.2,0.5]' LIMIT 5;
-- (computed independently of PostgreSQL)
SELECT id FROM :tbl ORDER BY v :op '[0.3,-0.2,0.5]' LIMIT 5;
EXPLAIN (COSTS OFF)
SELECT qid, (SELECT array_agg(id) FROM (SELECT id FROM :tbl ORDER BY v :op q) s) FROM :tbl_q;
SELECT e.qid,
       (SELECT array_agg(id) FROM (SELECT id FROM :tbl ORDER BY v :op q.q) s) = e.ids AS all_rows,
       (SELECT array_agg(id) FROM (SELECT id FROM :tbl ORDER BY v :op q.q LIMIT 10) s) = e.ids[1:10] AS top10,
       (SELECT array_agg(id) FROM (SELECT id FROM :tbl ORDER BY v :op q.q LIMIT 1) s) = e.ids[1:1] AS top1
FROM :tbl_q q JOIN :tbl_exact e USING (qid) ORDER BY e.qid;
-- and with the first round alone (iterative scan off)
SET hnsw.iterative_scan = off;
SELECT e.qid,
       (SELECT array_agg(id) FROM (SELECT id FROM :tbl ORDER BY v :op q.q) s) = e.ids AS all_rows
FROM :tbl_q q JOIN :tbl_exact e USING (qid) ORDER BY e.qid;
RESET hnsw.iterative_scan;
-- after REINDEX (all 300 rows now in the in-memory build)
REINDEX INDEX :tbl_idx;
SELECT e.qid,
       (SELECT array_agg(id) FROM (SELECT id FROM :tbl ORDER BY v :op q.q) s) = e.ids AS all_rows
FROM :tbl_q q JOIN :tbl_exact e USING (qid) ORDER BY e.qid;
