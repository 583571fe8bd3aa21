-- Scans of five hnsw indexes interleaved in one query.  A backend keeps,
-- for four indexes, where their blocks lie in shared buffers and which
-- blocks each running scan holds pinned; the fifth index takes the place
-- of the first while its scan is suspended, and every index's scan must
-- still read its own pages and release exactly the pins it took.
-- (enable_seqscan = off inflates plan costs past jit_above_cost)
SET jit = off;

-- rows on a line: v = [i, 0, ...], a different dimension per table
CREATE FUNCTION mi_vec(x float8, d int) RETURNS vector
	LANGUAGE sql IMMUTABLE AS $$ SELECT ('[' || x || repeat(',0', d - 1) || ']')::vector $$;
CREATE TABLE mi1 (id int, v vector(3));
CREATE TABLE mi2 (id int, v vector(4));
CREATE TABLE mi3 (id int, v vector(5));
CREATE TABLE mi4 (id int, v vector(6));
CREATE TABLE mi5 (id int, v vector(7));
INSERT INTO mi1 SELECT i, mi_vec(i, 3) FROM generate_series(1, 600) i;
INSERT INTO mi2 SELECT i, mi_vec(i, 4) FROM generate_series(1, 600) i;
INSERT INTO mi3 SELECT i, mi_vec(i, 5) FROM generate_series(1, 600) i;
INSERT INTO mi4 SELECT i, mi_vec(i, 6) FROM generate_series(1, 600) i;
INSERT INTO mi5 SELECT i, mi_vec(i, 7) FROM generate_series(1, 600) i;
CREATE INDEX ON mi1 USING hnsw (v vector_l2_ops);
CREATE INDEX ON mi2 USING hnsw (v vector_l2_ops);
CREATE INDEX ON mi3 USING hnsw (v vector_l2_ops);
CREATE INDEX ON mi4 USING hnsw (v vector_l2_ops);
CREATE INDEX ON mi5 USING hnsw (v vector_l2_ops);
-- grown by INSERT as well, so that its rows spread over many pages
INSERT INTO mi1 SELECT i, mi_vec(i, 3) FROM generate_series(601, 1200) i;
ANALYZE mi1, mi2, mi3, mi4, mi5;

SET enable_seqscan = off;
-- rounds of 10 rows: the outer scan searches again after each 10 outer rows
SET hnsw.ef_search = 10;

CREATE VIEW mi_join AS
SELECT a, b, c, d, e
FROM (SELECT id AS a FROM mi1 ORDER BY v <-> mi_vec(0, 3) LIMIT 300) x,
	LATERAL (SELECT id AS b FROM mi2 ORDER BY v <-> mi_vec(a + 0.25, 4) LIMIT 1) y,
	LATERAL (SELECT id AS c FROM mi3 ORDER BY v <-> mi_vec(a + 0.25, 5) LIMIT 1) z,
	LATERAL (SELECT id AS d FROM mi4 ORDER BY v <-> mi_vec(a + 0.25, 6) LIMIT 1) w,
	LATERAL (SELECT id AS e FROM mi5 ORDER BY v <-> mi_vec(a + 0.25, 7) LIMIT 1) u;

-- five index scans, the four inner ones rescanned per outer row
EXPLAIN (COSTS OFF) SELECT * FROM mi_join;

-- the outer scan returns 1..300 in order, each inner one its nearest row
SELECT count(*) AS rows,
	   count(*) FILTER (WHERE a = rn) AS outer_in_order,
	   count(*) FILTER (WHERE b = a AND c = b AND d = b AND e = b) AS inner_exact
FROM (SELECT *, row_number() OVER () AS rn FROM mi_join) j;

-- the same, suspended between fetches (a pin left behind or released
-- twice would be reported at COMMIT or fail the release)
BEGIN;
DECLARE mc CURSOR FOR SELECT a, b, c, d, e FROM mi_join;
FETCH 3 FROM mc;
-- another scan of the outer index between fetches
SELECT id FROM mi1 ORDER BY v <-> mi_vec(900.1, 3) LIMIT 3;
FETCH 2 FROM mc;
MOVE 290 FROM mc;
FETCH 5 FROM mc;
COMMIT;

DROP VIEW mi_join;
DROP TABLE mi1, mi2, mi3, mi4, mi5;
DROP FUNCTION mi_vec;
