-- thousands of identical vectors (issue 9, item 1): every row stays
-- reachable, a scan with large bounds returns every row, the other rows are
-- still found by their own vector, and identical rows share elements
-- (up to 8 rows each) instead of each taking one.
-- (hnsw_duplicates has the small cases.)

SET jit = off;
SET enable_seqscan = off;
SET hnsw.ef_search = 1000;
SET hnsw.max_scan_tuples = 2147483647;
SET hnsw.scan_mem_multiplier = 1000;
SELECT setseed(0.5);

-- every row by an ordered scan with every bound at its maximum, every
-- element reachable, the distinct rows (id > ndup) found by their own
-- vector at ef_search 100 (all but at most 1%: the graph is approximate,
-- and about one build in 200 leaves one of the 100 rows of the m = 8 case
-- unfound at that ef; before the duplicate fixes, 117 to 307 of 2,000),
-- and elements at most twice the fewest possible
CREATE FUNCTION dup_report(ndup int, ndistinct int) RETURNS TABLE (
	all_rows_returned boolean, all_reachable boolean,
	distinct_found_99pct boolean, elements_bounded boolean)
LANGUAGE plpgsql AS $$
BEGIN
	SET LOCAL hnsw.ef_search = 100;
	RETURN QUERY SELECT
		(SELECT count(*) FROM (SELECT id FROM d ORDER BY v <-> '[1,1]') s) = ndup + ndistinct,
		c.reachable = c.elements,
		(SELECT count(*) FROM d WHERE id > ndup AND id NOT IN
			(SELECT s.id FROM (SELECT d2.id FROM d d2 ORDER BY d2.v <-> d.v LIMIT 1) s)) * 100
			<= ndistinct,
		c.elements <= 2 * ((ndup + 7) / 8 + ndistinct)
	FROM hnsw_index_check('d_idx') c;
END $$;

-- 3,000 copies of [1,1] and 100 other rows, built by CREATE INDEX (m = 16)
CREATE TABLE d (id int, v vector(2));
INSERT INTO d SELECT i, '[1,1]' FROM generate_series(1, 3000) i;
INSERT INTO d SELECT 3000 + i, ARRAY[random() * 10, random() * 10]
	FROM generate_series(1, 100) i;
CREATE INDEX d_idx ON d USING hnsw (v vector_l2_ops);
SELECT * FROM dup_report(3000, 100);
REINDEX INDEX d_idx;
SELECT * FROM dup_report(3000, 100);
DROP TABLE d;

-- 1,000 copies and 100 other rows inserted one by one (m = 8)
CREATE TABLE d (id int, v vector(2));
CREATE INDEX d_idx ON d USING hnsw (v vector_l2_ops) WITH (m = 8);
INSERT INTO d SELECT i, '[1,1]' FROM generate_series(1, 1000) i;
INSERT INTO d SELECT 1000 + i, ARRAY[random() * 10, random() * 10]
	FROM generate_series(1, 100) i;
SELECT * FROM dup_report(1000, 100);
DROP TABLE d;

-- 5,000 copies, then 2,000 random rows, inserted (m = 16): the random
-- rows must get into the copies' lists, or searches stay among the copies
CREATE TABLE d (id int, v vector(2));
CREATE INDEX d_idx ON d USING hnsw (v vector_l2_ops);
INSERT INTO d SELECT i, '[1,1]' FROM generate_series(1, 5000) i;
INSERT INTO d SELECT 5000 + i, ARRAY[random() * 10, random() * 10]
	FROM generate_series(1, 2000) i;
SELECT * FROM dup_report(5000, 2000);
REINDEX INDEX d_idx;
SELECT * FROM dup_report(5000, 2000);
DROP TABLE d;

DROP FUNCTION dup_report(int, int);
