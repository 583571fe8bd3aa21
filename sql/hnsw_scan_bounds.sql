-- hnsw.max_scan_tuples bounds how far a scan continues past its first
-- round; the first round (ef_search results) is never cut short.

-- (enable_seqscan = off inflates plan costs past jit_above_cost)
SET jit = off;
CREATE TABLE sb (id int, v vector(2));
INSERT INTO sb SELECT i, ARRAY[i * sin(i), i * cos(i)] FROM generate_series(1, 300) i;
CREATE INDEX sb_idx ON sb USING hnsw (v vector_l2_ops) WITH (m = 8, ef_construction = 32);
SET enable_seqscan = off;
SET hnsw.ef_search = 10;
-- unbounded: the scan continues through the whole graph
SELECT count(*) FROM (SELECT id FROM sb ORDER BY v <-> '[10.5,-20.25]') x;
-- bounded: at least the first round's ef_search rows, but not the table
SET hnsw.max_scan_tuples = 50;
SELECT count(*) >= 10 AS first_round, count(*) < 300 AS stopped
FROM (SELECT id FROM sb ORDER BY v <-> '[10.5,-20.25]') x;
SET hnsw.max_scan_tuples = 1;
SELECT count(*) >= 10 AS first_round, count(*) < 300 AS stopped
FROM (SELECT id FROM sb ORDER BY v <-> '[10.5,-20.25]') x;
SELECT count(*) FROM (SELECT id FROM sb ORDER BY v <-> '[10.5,-20.25]' LIMIT 10) x;
SET hnsw.iterative_scan = relaxed_order;
SELECT count(*) >= 10 AS first_round, count(*) < 300 AS stopped
FROM (SELECT id FROM sb ORDER BY v <-> '[10.5,-20.25]') x;
RESET hnsw.iterative_scan;
RESET hnsw.max_scan_tuples;
RESET hnsw.ef_search;
RESET enable_seqscan;
DROP TABLE sb;
