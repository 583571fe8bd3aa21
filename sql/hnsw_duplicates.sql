-- many identical vectors: a scan that may continue to the end of the graph
-- (the default strict_order, no LIMIT) returns every one of them.
-- (hnsw_scan has the basic case: 20 copies among other vectors.)

-- (enable_seqscan = off inflates plan costs past jit_above_cost)
SET jit = off;
SET enable_seqscan = off;

-- 50 copies under inner product, inserted one by one
CREATE TABLE dip (id int, v vector(2));
CREATE INDEX dip_idx ON dip USING hnsw (v vector_ip_ops);
INSERT INTO dip SELECT i, '[3,4]' FROM generate_series(1, 50) i;
SELECT count(*), count(DISTINCT id) FROM (SELECT id FROM dip ORDER BY v <#> '[1,1]') x;
SELECT count(*) FROM (SELECT id FROM dip ORDER BY v <#> '[1,1]' LIMIT 45) x;
-- the same rows from a fresh build
REINDEX INDEX dip_idx;
SELECT count(*), count(DISTINCT id) FROM (SELECT id FROM dip ORDER BY v <#> '[1,1]') x;
DROP TABLE dip;

-- 400 copies under L2 (several index elements hold their heap TIDs),
-- plus 20 other vectors, all farther from the query
CREATE TABLE dl2 (id int, v vector(2));
INSERT INTO dl2 SELECT i, '[1,1]' FROM generate_series(1, 200) i;
INSERT INTO dl2 SELECT i, ARRAY[i - 400, 0] FROM generate_series(401, 410) i;
CREATE INDEX dl2_idx ON dl2 USING hnsw (v vector_l2_ops);
INSERT INTO dl2 SELECT i, '[1,1]' FROM generate_series(201, 400) i;
INSERT INTO dl2 SELECT i, ARRAY[i - 400, 0] FROM generate_series(411, 420) i;
SELECT count(*), count(DISTINCT id) FROM (SELECT id FROM dl2 ORDER BY v <-> '[1.1,1]') x;
-- the 400 copies come first
SELECT count(*) FROM (SELECT id FROM dl2 ORDER BY v <-> '[1.1,1]' LIMIT 400) x WHERE id <= 400;
DROP TABLE dl2;

-- cosine: vectors of one direction are identical once normalised
CREATE TABLE dcos (id int, v vector(2));
CREATE INDEX dcos_idx ON dcos USING hnsw (v vector_cosine_ops);
INSERT INTO dcos SELECT i, ARRAY[i, i] FROM generate_series(1, 300) i;
SELECT count(*), count(DISTINCT id) FROM (SELECT id FROM dcos ORDER BY v <=> '[1,0]') x;
DROP TABLE dcos;

-- L1: zero vectors are ordinary vectors, 100 of them among 50 others
CREATE TABLE dl1 (id int, v vector(2));
CREATE INDEX dl1_idx ON dl1 USING hnsw (v vector_l1_ops);
INSERT INTO dl1 SELECT i, '[0,0]' FROM generate_series(1, 100) i;
INSERT INTO dl1 SELECT i, ARRAY[i, 1] FROM generate_series(101, 150) i;
SELECT count(*), count(DISTINCT id) FROM (SELECT id FROM dl1 ORDER BY v <+> '[1,0]') x;
-- distance 1 for the 100 zero vectors, 100 + 1 and more for the others
SELECT count(*) FROM (SELECT id FROM dl1 ORDER BY v <+> '[1,0]' LIMIT 100) x WHERE id <= 100;
DROP TABLE dl1;

RESET enable_seqscan;
