-- ALTER INDEX ... SET / RESET of the index options.  The graph's layout is
-- fixed when it is built, so a changed m (or ef_construction) must not
-- make the existing index unreadable: inserts and scans keep working.

-- (enable_seqscan = off inflates plan costs past jit_above_cost)
SET jit = off;
CREATE TABLE al (id int, v vector(2));
INSERT INTO al SELECT i, ARRAY[i, 0] FROM generate_series(1, 100) i;
CREATE INDEX al_idx ON al USING hnsw (v vector_l2_ops) WITH (m = 16);
SET enable_seqscan = off;
-- out-of-range values are rejected as at CREATE INDEX
ALTER INDEX al_idx SET (m = 1);
ALTER INDEX al_idx SET (ef_construction = 1001);
ALTER INDEX al_idx SET (lists = 5);
SELECT reloptions FROM pg_class WHERE relname = 'al_idx';
-- a smaller m
ALTER INDEX al_idx SET (m = 4);
SELECT reloptions FROM pg_class WHERE relname = 'al_idx';
INSERT INTO al SELECT i, ARRAY[i, 0] FROM generate_series(101, 150) i;
SELECT id FROM al ORDER BY v <-> '[120.2,0]' LIMIT 3;
SELECT count(*) FROM (SELECT id FROM al ORDER BY v <-> '[0,0]') x;
-- a larger m
ALTER INDEX al_idx SET (m = 32, ef_construction = 100);
INSERT INTO al SELECT i, ARRAY[i, 0] FROM generate_series(151, 200) i;
SELECT id FROM al ORDER BY v <-> '[160.4,0]' LIMIT 3;
SELECT count(*) FROM (SELECT id FROM al ORDER BY v <-> '[0,0]') x;
-- REINDEX builds with the new options
REINDEX INDEX al_idx;
SELECT id FROM al ORDER BY v <-> '[160.4,0]' LIMIT 3;
ALTER INDEX al_idx RESET (m, ef_construction);
SELECT reloptions FROM pg_class WHERE relname = 'al_idx';
INSERT INTO al VALUES (201, '[160.5,0]');
SELECT id FROM al ORDER BY v <-> '[160.4,0]' LIMIT 3;
SELECT count(*) FROM (SELECT id FROM al ORDER BY v <-> '[0,0]') x;
RESET enable_seqscan;
DROP TABLE al;
