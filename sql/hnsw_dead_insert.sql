-- rows inserted while every element of the index is dead (here: rows of a
-- rolled-back transaction, which a scan then marked DEAD) and VACUUM has
-- not run: the new elements link to the dead ones rather than to nothing,
-- so they are found at once (before, each new element was left without
-- edges, unreachable until VACUUM; found by the operations fuzzer)
SET jit = off;
SET enable_seqscan = off;
CREATE TABLE dd (id int, v vector(2)) WITH (autovacuum_enabled = false);
CREATE INDEX dd_idx ON dd USING hnsw (v vector_l2_ops);
BEGIN;
INSERT INTO dd SELECT i, ARRAY[i, i % 7] FROM generate_series(1, 200) i;
ROLLBACK;
-- this scan finds only dead rows, and marks their elements DEAD
SELECT count(*) FROM (SELECT id FROM dd ORDER BY v <-> '[0,0]') s;
SELECT active FROM hnsw_index_check('dd_idx');
INSERT INTO dd SELECT i, ARRAY[i, -i] FROM generate_series(1001, 1050) i;
SELECT count(*), min(id), max(id) FROM (SELECT id FROM dd ORDER BY v <-> '[1000,-1000]' LIMIT 100) s;
SELECT id FROM dd ORDER BY v <-> '[1025,-1025.2]' LIMIT 3;
SELECT active, reachable FROM hnsw_index_check('dd_idx');
VACUUM dd;
SELECT active, reachable FROM hnsw_index_check('dd_idx');
DROP TABLE dd;
