-- The planner's choice between the hnsw index and a seq scan + sort for
-- ORDER BY v <-> q LIMIT k, without enable_* settings (src/README.md,
-- section 10).  On these very tables the index scan measured 5-100x faster
-- in every case expecting it; the seq scan of 10 rows measured faster, and
-- that of 100 rows of 3 dimensions as fast as the index.
SET jit = off;

-- the plan of a query, with vector literals shortened
CREATE FUNCTION plan_of(q text) RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE
	line text;
BEGIN
	FOR line IN EXECUTE 'EXPLAIN (COSTS OFF) ' || q LOOP
		RETURN NEXT regexp_replace(line, '''\[[^]]*\]''', '''[...]''', 'g');
	END LOOP;
END
$$;

-- clustered rows: 20 centres, noise of +-0.1 around them
CREATE PROCEDURE fill(tab text, n int, dim int) LANGUAGE plpgsql AS $$
BEGIN
	PERFORM setseed(0.25);
	EXECUTE format('INSERT INTO %I SELECT i, (SELECT array_agg(sin((i %% 20) * 7 + j) + 0.2 * (random() - 0.5))::real[]
		FROM generate_series(1, %s) j) FROM generate_series(1, %s) i', tab, dim, n);
	EXECUTE format('CREATE INDEX ON %I USING hnsw (v vector_l2_ops)', tab);
	EXECUTE format('ANALYZE %I', tab);
END
$$;

CREATE TABLE p1536 (id int, v vector(1536));
CALL fill('p1536', 2000, 1536);
CREATE TABLE p128 (id int, v vector(128));
CALL fill('p128', 5000, 128);
CREATE TABLE p3 (id int, v vector(3));
CALL fill('p3', 1000, 3);
CREATE TABLE tiny3 (id int, v vector(3));
CALL fill('tiny3', 10, 3);
CREATE TABLE small3 (id int, v vector(3));
CALL fill('small3', 100, 3);
CREATE TABLE tiny1536 (id int, v vector(1536));
CALL fill('tiny1536', 10, 1536);

-- 2,000 x 1536 (out of line): the index at the default ef_search, LIMIT 10
-- and 100, and at ef_search 200
SELECT v AS q FROM p1536 WHERE id = 7 \gset
SELECT plan_of(format('SELECT id FROM p1536 ORDER BY v <-> %L LIMIT 10', :'q'));
SELECT plan_of(format('SELECT id FROM p1536 ORDER BY v <-> %L LIMIT 100', :'q'));
SET hnsw.ef_search = 200;
SELECT plan_of(format('SELECT id FROM p1536 ORDER BY v <-> %L LIMIT 10', :'q'));
RESET hnsw.ef_search;
-- ... and with a condition on the table
SELECT plan_of(format('SELECT id FROM p1536 WHERE id <= 1000 ORDER BY v <-> %L LIMIT 10', :'q'));

-- 5,000 x 128 (in the row) and 1,000 x 3
SELECT v AS q FROM p128 WHERE id = 7 \gset
SELECT plan_of(format('SELECT id FROM p128 ORDER BY v <-> %L LIMIT 10', :'q'));
SELECT plan_of(format('SELECT * FROM p128 ORDER BY v <-> %L LIMIT 10', :'q'));
SELECT plan_of('SELECT id FROM p3 ORDER BY v <-> ''[0.5,0.5,0.5]'' LIMIT 10');

-- tiny tables: the seq scan
SELECT plan_of('SELECT id FROM tiny3 ORDER BY v <-> ''[0.5,0.5,0.5]'' LIMIT 10');
SELECT plan_of('SELECT id FROM small3 ORDER BY v <-> ''[0.5,0.5,0.5]'' LIMIT 10');
SELECT v AS q FROM tiny1536 WHERE id = 7 \gset
SELECT plan_of(format('SELECT id FROM tiny1536 ORDER BY v <-> %L LIMIT 10', :'q'));

DROP TABLE p1536, p128, p3, tiny3, small3, tiny1536;
DROP FUNCTION plan_of(text);
DROP PROCEDURE fill(text, int, int);
