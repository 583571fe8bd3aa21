-- Reachability through tree edges after VACUUM (issue 9, the open finding
-- of the operations fuzzer).  VACUUM used to re-parent the children of a
-- removed element to their nearest neighbour, often one of their own
-- descendants, and its reconnect pass walked every edge: the cut-off
-- subtree stayed reachable by ordinary edges only, and later inserts
-- pruned those (the fuzzer then found elements of visible rows
-- unreached).  hnsw_index_check now also requires every live element to
-- be reached through tree edges alone; before the fix each check below
-- after a VACUUM failed with "... through tree edges".

SET jit = off;
SET enable_seqscan = off;
SET hnsw.ef_search = 1000;
SET hnsw.iterative_scan = relaxed_order;
SET hnsw.max_scan_tuples = 2147483647;
SET hnsw.scan_mem_multiplier = 1000;

\i sql/include/wait_horizon.psql

-- rows a full ordered scan returns, and rows it should
CREATE FUNCTION full_scan(tab regclass, q vector, op text) RETURNS TABLE (returned bigint, expected bigint)
LANGUAGE plpgsql AS $$
BEGIN
	RETURN QUERY EXECUTE format(
		'SELECT (SELECT count(*) FROM (SELECT id FROM %s ORDER BY v %s %L LIMIT 100000000) s),
		        (SELECT count(*) FROM %s WHERE v IS NOT NULL)', tab, op, q, tab);
END $$;

-- 40 points on a line, m = 2: every element's parent is its neighbour on
-- the line, so the tree is a path.  Removing a middle element cuts it in
-- two; the half away from the entry point must be tied back by a tree edge.
CREATE TABLE tl (id int PRIMARY KEY, v vector(1));
CREATE INDEX tl_idx ON tl USING hnsw (v vector_l2_ops) WITH (m = 2, ef_construction = 4);
INSERT INTO tl SELECT i, ARRAY[i]::vector FROM generate_series(1, 40) i;
DELETE FROM tl WHERE id = 20;
CALL wait_horizon();
VACUUM tl;
SELECT elements, active, reachable FROM hnsw_index_check('tl_idx', true);
-- several cuts at once, then inserts around them
DELETE FROM tl WHERE id IN (5, 10, 11, 30, 35);
CALL wait_horizon();
VACUUM tl;
SELECT elements, active, reachable FROM hnsw_index_check('tl_idx', true);
INSERT INTO tl SELECT 100 + i, ARRAY[19 + i / 100.0]::vector FROM generate_series(1, 200) i;
SELECT elements, active, reachable FROM hnsw_index_check('tl_idx', true);
-- every other row, repeatedly
DELETE FROM tl WHERE id % 2 = 0;
CALL wait_horizon();
VACUUM tl;
SELECT elements, active, reachable FROM hnsw_index_check('tl_idx', true);
SELECT * FROM full_scan('tl', '[0]', '<->');
DROP TABLE tl;

-- the same under L1 and inner product (points on a quarter circle: under
-- inner product the nearest are the largest, so the tree is no path)
CREATE TABLE t1 (id int PRIMARY KEY, v vector(2));
INSERT INTO t1 SELECT i, ARRAY[cos(i / 64.0), sin(i / 64.0)] FROM generate_series(1, 100) i;
CREATE INDEX t1_l1 ON t1 USING hnsw (v vector_l1_ops) WITH (m = 2, ef_construction = 4);
CREATE INDEX t1_ip ON t1 USING hnsw (v vector_ip_ops) WITH (m = 2, ef_construction = 4);
DELETE FROM t1 WHERE id % 10 = 5;
CALL wait_horizon();
VACUUM t1;
SELECT elements, active, reachable FROM hnsw_index_check('t1_l1', true);
SELECT elements, active, reachable FROM hnsw_index_check('t1_ip', true);
DELETE FROM t1 WHERE id % 3 = 0;
CALL wait_horizon();
VACUUM t1;
SELECT elements, active, reachable FROM hnsw_index_check('t1_l1', true);
SELECT elements, active, reachable FROM hnsw_index_check('t1_ip', true);
SELECT * FROM full_scan('t1', '[1,0]', '<+>');
DROP TABLE t1;

-- the fuzzer's case (inner product, m = 3): an element whose vector turned
-- zero is removed; the first rows were its children, and 171 copies of a
-- vector near float's limit then filled their lists with tree edges
CREATE TABLE tz (id serial PRIMARY KEY, v vector(8));
CREATE INDEX tz_idx ON tz USING hnsw (v vector_ip_ops) WITH (m = 3, ef_construction = 6);
INSERT INTO tz (v) VALUES
	('[-0.6148727,0.4796206,0.6366,-0.9285,-0.7724,0.8987975,-0.9597,0.1362]'),
	('[0.3573669,0.5586648,-1e-45,-1e-38,-0.9688671,-1e-45,0.6760978,-1e-38]'),
	('[-0.6019,0.3578,-0.8494,0.6162,-0.9232,-0.9251633,-0.3648,0.4805]'),
	('[-0.09837829,0.9637956,0.004685144,0.6607629,0.7968,-0.8031,0.1348495,-0.2336727]');
UPDATE tz SET v = '[0,0,0,0,0,0,0,0]' WHERE id = 1;
INSERT INTO tz (v) SELECT '[1e-45,-1e-45,-0.868,1e-38,1.17549435e-38,3.4028235e38,3e-39,0]'
	FROM generate_series(1, 171);
CALL wait_horizon();
VACUUM tz;
SELECT active = reachable AS all_reachable FROM hnsw_index_check('tz_idx', true);
UPDATE tz SET v = '[0.526112,-0.6882489,-0.5887,0.7464788,0.2456,0.6886,-0.6679,-0.6880269]' WHERE id % 3 = 2;
INSERT INTO tz (v) VALUES ('[0.1982,-0.1568637,0.288,-0.9515359,0.8645611,0.5194728,0.08416597,0.9456716]'),
	('[-2,2,-1,-2,-1,0,-1,1]');
SELECT active = reachable AS all_reachable FROM hnsw_index_check('tz_idx', true);
CALL wait_horizon();
VACUUM tz;
SELECT active = reachable AS all_reachable FROM hnsw_index_check('tz_idx', true);
DROP TABLE tz;
DROP FUNCTION full_scan;
