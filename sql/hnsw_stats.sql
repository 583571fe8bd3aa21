-- pg_stat_user_indexes for hnsw indexes: idx_scan counts every scan that
-- starts (a rescan, as in a nested loop, is a new scan), as PostgreSQL's
-- own index access methods count, ordered and unordered alike; idx_tup_read
-- counts the heap TIDs the scans returned.
-- Counts reach the shared statistics asynchronously: after
-- pg_stat_force_next_flush() this backend flushes what it has counted when
-- the statement ends, and the next statement, in a transaction of its own,
-- reads them anew (the stats snapshot lasts one transaction).
SET jit = off;
CREATE TABLE st (id int, v vector(3)) WITH (autovacuum_enabled = off);
INSERT INTO st SELECT i, ARRAY[i, i % 7, -i] FROM generate_series(1, 50) i;
CREATE INDEX st_idx ON st USING hnsw (v vector_l2_ops);
ANALYZE st;
SET enable_seqscan = off;

-- nothing scanned yet (building and ANALYZE do not count)
SELECT pg_stat_force_next_flush();
SELECT idx_scan, idx_tup_read FROM pg_stat_user_indexes
	WHERE indexrelid = 'st_idx'::regclass;

-- three ordered scans, of 2, 3 and 1 rows
SELECT id FROM st ORDER BY v <-> '[1,1,-1]' LIMIT 2;
SELECT id FROM st ORDER BY v <-> '[10.2,3,-10]' LIMIT 3;
SELECT id FROM st ORDER BY v <-> '[50,0,-50]' LIMIT 1;
-- EXPLAIN without ANALYZE runs no scan
EXPLAIN (COSTS OFF) SELECT id FROM st ORDER BY v <-> '[1,1,-1]' LIMIT 2;
SELECT pg_stat_force_next_flush();
SELECT idx_scan, idx_tup_read FROM pg_stat_user_indexes
	WHERE indexrelid = 'st_idx'::regclass;

-- a nested loop rescans the index once per outer row: 4 scans of 1 row
EXPLAIN (COSTS OFF)
SELECT q.n, x.id FROM (VALUES (1), (2), (3), (4)) q(n),
	LATERAL (SELECT id FROM st ORDER BY v <-> ARRAY[q.n, q.n % 7, -q.n]::vector LIMIT 1) x;
SELECT q.n, x.id FROM (VALUES (1), (2), (3), (4)) q(n),
	LATERAL (SELECT id FROM st ORDER BY v <-> ARRAY[q.n, q.n % 7, -q.n]::vector LIMIT 1) x
	ORDER BY q.n;
SELECT pg_stat_force_next_flush();
SELECT idx_scan, idx_tup_read FROM pg_stat_user_indexes
	WHERE indexrelid = 'st_idx'::regclass;

-- an unordered scan (NULL query vector, generic plan) returning all 50 rows
SET plan_cache_mode = force_generic_plan;
PREPARE knn(vector) AS SELECT count(*) FROM (SELECT id FROM st ORDER BY v <-> $1 LIMIT 1000) x;
EXPLAIN (COSTS OFF) EXECUTE knn(NULL);
EXECUTE knn(NULL);
DEALLOCATE knn;
RESET plan_cache_mode;
SELECT pg_stat_force_next_flush();
SELECT idx_scan, idx_tup_read FROM pg_stat_user_indexes
	WHERE indexrelid = 'st_idx'::regclass;

-- a scan of an empty index counts too, as nbtree's does
TRUNCATE st;
SELECT id FROM st ORDER BY v <-> '[1,1,-1]' LIMIT 2;
SELECT pg_stat_force_next_flush();
SELECT idx_scan, idx_tup_read FROM pg_stat_user_indexes
	WHERE indexrelid = 'st_idx'::regclass;

RESET enable_seqscan;
DROP TABLE st;
