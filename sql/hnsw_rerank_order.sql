-- A coded index's re-ranking scan keeps the distance order under every
-- hnsw.iterative_scan: rows go out as the stream of candidates passes
-- them, and the stream must reach every row before a farther one goes
-- out.  The search takes each code's distance less three of its own
-- spreads (hnsw_code_spread), below which its rows are not expected to lie.
--
-- clamped: row 0 is by far the nearest to the query under <#> (q.v =
-- 3.0e38 - 2.9e38 = 1e37), but half precision clamps both large
-- coordinates to 65504, so its code distance (q.code = 0) would place it
-- among the other 40.  Such a code estimates nothing (its spread,
-- hnsw_code_spread, is infinite), and the search takes its lower bound
-- instead: row 0 is read first and comes out first in every mode.
-- (Found by the fuzzer 041: with iterative_scan = off, row 0 came out
-- 23rd, after rows at distance -1e20 and above; strict_order dropped it,
-- even at ef_search 1000.)
--
-- mixed: row 0 has norm 1414 among rows of norm about 2: its half code
-- errs by 0.24 (q.v = 0.24, q.code = 0), a thousand times the others'
-- errors.  When the margin was the largest spread read so far, rows
-- between the two distances went out before row 0 was read: it came out
-- 23rd under off and relaxed_order and was dropped under strict_order.
-- With its own spread it comes out 18th, in order, in every mode.
SET client_min_messages = warning;
CREATE TABLE ro_clamped (id int PRIMARY KEY, v vector(8));
INSERT INTO ro_clamped SELECT i, ARRAY[sin(i), cos(i * 1.3), sin(i * 0.7),
	cos(i * 2.1), sin(i * 3.3), cos(i * 0.4), sin(i * 1.9),
	cos(i * 2.7)]::real[]::vector
	FROM generate_series(1, 40) i;
CREATE TABLE ro_mixed AS SELECT * FROM ro_clamped;
INSERT INTO ro_clamped VALUES (0, '[3.0e38,-2.9e38,0,0,0,0,0,0]');
INSERT INTO ro_mixed VALUES (0, '[1000,-999.76,0,0,0,0,0,0]');
CREATE INDEX ON ro_clamped USING hnsw (v vector_ip_ops) WITH (storage = half);
CREATE INDEX ON ro_mixed USING hnsw (v vector_ip_ops) WITH (storage = half);
SET enable_seqscan = off;

-- an index scan of LIMIT 41: rows, rows after a farther row, where row 0 is
CREATE FUNCTION ro_scan(tab text, mode text, OUT rows bigint,
	OUT misordered bigint, OUT row0_at bigint) AS $$
BEGIN
	PERFORM set_config('hnsw.iterative_scan', mode, true);
	EXECUTE format($q$
		SELECT count(*), count(*) FILTER (WHERE d < p),
			max(n) FILTER (WHERE id = 0)
		FROM (SELECT id, d, n, lag(d) OVER (ORDER BY n) AS p
			  FROM (SELECT id, d, row_number() OVER () AS n
					FROM (SELECT id, v <#> '[1,1,0,0,0,0,0,0]' AS d FROM %I
						  ORDER BY v <#> '[1,1,0,0,0,0,0,0]' LIMIT 41) s) s2) s3
		$q$, tab) INTO rows, misordered, row0_at;
END $$ LANGUAGE plpgsql;

-- the index is used
EXPLAIN (COSTS OFF)
SELECT id FROM ro_clamped ORDER BY v <#> '[1,1,0,0,0,0,0,0]' LIMIT 41;

SET hnsw.ef_search = 100;
SELECT tab, mode, (ro_scan(tab, mode)).* FROM
	(VALUES ('ro_clamped'), ('ro_mixed')) t(tab),
	(VALUES ('off'), ('strict_order')) m(mode) ORDER BY 1, 2;
-- relaxed_order too, in order
SELECT tab, (ro_scan(tab, 'relaxed_order')).rows,
	(ro_scan(tab, 'relaxed_order')).misordered > 0 AS late
	FROM (VALUES ('ro_clamped'), ('ro_mixed')) t(tab);

-- the whole table in the beam changes nothing
SET hnsw.ef_search = 1000;
SELECT tab, mode, (ro_scan(tab, mode)).* FROM
	(VALUES ('ro_clamped'), ('ro_mixed')) t(tab),
	(VALUES ('off'), ('strict_order'), ('relaxed_order')) m(mode) ORDER BY 1, 2;

DROP TABLE ro_clamped, ro_mixed;
DROP FUNCTION ro_scan;
