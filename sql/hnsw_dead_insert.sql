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
-- the same with one dead element only, the entry point: a search that
-- starts there finds nothing else, and must still link to it (the rows
-- below were left unreachable, 2 to 6 of 6; found by the operations fuzzer)
CREATE TABLE d1 (id int, v vector(3)) WITH (autovacuum_enabled = false);
CREATE INDEX d1_idx ON d1 USING hnsw (v vector_l1_ops) WITH (m = 4);
BEGIN;
INSERT INTO d1 VALUES (0, '[-1,-1,0]');
ROLLBACK;
SELECT count(*) FROM (SELECT id FROM d1 ORDER BY v <+> '[-1,-1,0]') s;
INSERT INTO d1 SELECT i, ARRAY[i, 2 * i, -i] FROM generate_series(1, 6) i;
SELECT active, reachable FROM hnsw_index_check('d1_idx');
SELECT id FROM d1 ORDER BY v <+> '[3.1,6.1,-3.1]';
VACUUM d1;
SELECT active, reachable FROM hnsw_index_check('d1_idx');
SELECT id FROM d1 ORDER BY v <+> '[3.1,6.1,-3.1]' LIMIT 2;
DROP TABLE d1;
