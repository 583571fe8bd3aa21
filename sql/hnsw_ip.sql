-- vector_ip_ops (<#>, negative inner product): with ef_search >= rows the index
-- scan returns exactly the order of a sequential scan and sort.
-- 300 vectors from sin/cos of the id (200 at CREATE INDEX, 100 inserted
-- after it), and three queries.
-- (enable_seqscan = off inflates plan costs past jit_above_cost)
SET jit = off;
CREATE TABLE x_ip (id int, v vector(3));
INSERT INTO x_ip SELECT i, ARRAY[sin(i), cos(i * 1.7), sin(i * 0.3) + cos(i * 2.1)]
FROM generate_series(1, 200) i;
CREATE INDEX x_ip_idx ON x_ip USING hnsw (v vector_ip_ops);
INSERT INTO x_ip SELECT i, ARRAY[sin(i), cos(i * 1.7), sin(i * 0.3) + cos(i * 2.1)]
FROM generate_series(201, 300) i;
CREATE TABLE x_ip_q (qid int, q vector(3));
INSERT INTO x_ip_q VALUES (1, '[0.3,-0.2,0.5]'), (2, '[1,1,1]'), (3, '[-0.7,0.1,-1.2]');

-- no two distances from a query are within 1e-6 of each other, so the
-- exact order is unambiguous
SELECT qid, count(*), min(d - pd) > 1e-6 AS no_ties
FROM (SELECT qid, d, lag(d) OVER (PARTITION BY qid ORDER BY d) AS pd
      FROM (SELECT qid, v <#> q AS d FROM x_ip, x_ip_q) a) b
GROUP BY qid ORDER BY qid;

-- the exact order, without the index
SET enable_indexscan = off;
EXPLAIN (COSTS OFF) SELECT id FROM x_ip ORDER BY v <#> '[0.3,-0.2,0.5]' LIMIT 5;
CREATE TABLE x_ip_exact AS
SELECT qid, (SELECT array_agg(id) FROM (SELECT id FROM x_ip ORDER BY v <#> q) s) AS ids
FROM x_ip_q;
SELECT qid, cardinality(ids) FROM x_ip_exact ORDER BY qid;
RESET enable_indexscan;

-- the same through the index
SET enable_seqscan = off;
SET hnsw.ef_search = 300;
EXPLAIN (COSTS OFF) SELECT id FROM x_ip ORDER BY v <#> '[0.3,-0.2,0.5]' LIMIT 5;
-- (computed independently of PostgreSQL)
SELECT id FROM x_ip ORDER BY v <#> '[0.3,-0.2,0.5]' LIMIT 5;
EXPLAIN (COSTS OFF)
SELECT qid, (SELECT array_agg(id) FROM (SELECT id FROM x_ip ORDER BY v <#> q) s) FROM x_ip_q;
SELECT e.qid,
       (SELECT array_agg(id) FROM (SELECT id FROM x_ip ORDER BY v <#> q.q) s) = e.ids AS all_rows,
       (SELECT array_agg(id) FROM (SELECT id FROM x_ip ORDER BY v <#> q.q LIMIT 10) s) = e.ids[1:10] AS top10,
       (SELECT array_agg(id) FROM (SELECT id FROM x_ip ORDER BY v <#> q.q LIMIT 1) s) = e.ids[1:1] AS top1
FROM x_ip_q q JOIN x_ip_exact e USING (qid) ORDER BY e.qid;
-- and with the first round alone (iterative scan off)
SET hnsw.iterative_scan = off;
SELECT e.qid,
       (SELECT array_agg(id) FROM (SELECT id FROM x_ip ORDER BY v <#> q.q) s) = e.ids AS all_rows
FROM x_ip_q q JOIN x_ip_exact e USING (qid) ORDER BY e.qid;
RESET hnsw.iterative_scan;
-- after REINDEX (all 300 rows now in the in-memory build)
REINDEX INDEX x_ip_idx;
SELECT e.qid,
       (SELECT array_agg(id) FROM (SELECT id FROM x_ip ORDER BY v <#> q.q) s) = e.ids AS all_rows
FROM x_ip_q q JOIN x_ip_exact e USING (qid) ORDER BY e.qid;

-- a small hand-checked case: <#> from [1,1] is -1, -2, -6, 2
CREATE TABLE x_ip_small (id int, v vector(2));
CREATE INDEX ON x_ip_small USING hnsw (v vector_ip_ops);
INSERT INTO x_ip_small VALUES (1, '[1,0]'), (2, '[0,2]'), (3, '[3,3]'), (4, '[-1,-1]');
SELECT id, v <#> '[1,1]' AS d FROM x_ip_small ORDER BY v <#> '[1,1]' LIMIT 10;
DROP TABLE x_ip_small;

RESET hnsw.ef_search;
RESET enable_seqscan;
DROP TABLE x_ip, x_ip_q, x_ip_exact;
