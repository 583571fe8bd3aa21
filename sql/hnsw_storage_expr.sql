-- Coded indexes on an expression (issue 11).  An index on an expression
-- has no table column its scan could read the vectors from, so it orders
-- by a lower bound of each row's exact distance and the executor
-- rechecks the order from the row (xs_recheckorderby): a bound above the
-- exact distance would make the executor fail with "index returned tuples
-- in wrong order".  Every storage x operator class, on data with
-- duplicates, zero vectors, and coordinates of 1e20 and 1e-7 times the
-- usual, must give exactly the sequential scan's distances in its order,
-- after the build, after inserts and after DELETE + VACUUM.
SET jit = off;
SET hnsw.ef_search = 1000;

CREATE FUNCTION se_vec(i int, dim int, huge bool) RETURNS vector
LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE
    WHEN i % 53 = 7 THEN array_fill(0::real, ARRAY[dim])::vector
    ELSE (SELECT array_agg(CASE
            WHEN huge AND b % 11 = 4 AND j = 1 + b % dim THEN (1 - 2 * (b % 2)) * 1e20
            WHEN huge AND b % 11 = 9 THEN x * 1e-7
            ELSE x END ORDER BY j)::vector
          FROM (SELECT j, sin((b % 17) * j * 0.9 + j) * 2
                          + 0.3 * sin(b * j * 0.7071 + b * 0.37) AS x
                FROM generate_series(1, dim) j) s)
  END
  FROM (SELECT (i - 1) % 180 + 1 AS b) bb   -- rows 181-200 repeat 1-20
$$;

-- true if, for 6 queries, the scan through the expression index returns
-- the sequential scan's distances in the same order
CREATE FUNCTION se_same(tab text, op text) RETURNS bool LANGUAGE plpgsql AS $$
DECLARE
  q vector;
  a float8[];
  b float8[];
  zero text := (SELECT array_fill(0::real, ARRAY[16])::vector::text);
BEGIN
  FOR k IN 1 .. 6 LOOP
    q := se_vec(k * 31, 16, k > 4);
    IF k = 6 THEN
      q := (SELECT array_agg(CASE WHEN j = 1 THEN -1e20 ELSE 0.5 END)::vector
            FROM generate_series(1, 16) j);
    END IF;
    SET LOCAL enable_seqscan = off;
    EXECUTE format('SELECT array_agg(d) FROM (SELECT (v + %L) %s $1 AS d FROM %I
                    ORDER BY (v + %L) %s $1 LIMIT 60) s', zero, op, tab, zero, op)
      INTO a USING q;
    SET LOCAL enable_seqscan = on;
    SET LOCAL enable_indexscan = off;
    EXECUTE format('SELECT array_agg(d) FROM (SELECT (v + %L) %s $1 AS d FROM %I
                    ORDER BY 1 LIMIT 60) s', zero, op, tab)
      INTO b USING q;
    SET LOCAL enable_indexscan = on;
    IF a IS DISTINCT FROM b THEN
      RAISE NOTICE '% %: index % seq %', tab, k, a, b;
      RETURN false;
    END IF;
  END LOOP;
  RETURN true;
END $$;

-- the cases; each runs at top level, statement by statement (\gexec),
-- since VACUUM cannot run in a function
CREATE TABLE se_cases AS
SELECT format('se_%s_%s%s', s, short, CASE WHEN h THEN '_huge' ELSE '' END) AS name,
       s AS storage, oc AS opclass, o AS op, h AS huge
FROM (VALUES ('half'), ('sq8'), ('sq4')) st(s),
     (VALUES ('l2', 'vector_l2_ops', '<->'), ('ip', 'vector_ip_ops', '<#>'),
             ('cos', 'vector_cosine_ops', '<=>'), ('l1', 'vector_l1_ops', '<+>')) op(short, oc, o),
     (VALUES (false), (true)) hh(h);
CREATE TABLE se_res (name text, step text, same bool);
CREATE FUNCTION se_uses_index(tab text, op text) RETURNS bool LANGUAGE plpgsql AS $$
DECLARE
  zero text := (SELECT array_fill(0::real, ARRAY[16])::vector::text);
  plan text := '';
  r record;
BEGIN
  SET LOCAL enable_seqscan = off;
  FOR r IN EXECUTE format('EXPLAIN (COSTS OFF) SELECT id FROM %I ORDER BY (v + %L) %s %L LIMIT 5',
                          tab, zero, op, zero) LOOP
    plan := plan || r."QUERY PLAN";
  END LOOP;
  RETURN plan LIKE '%' || tab || '_idx%';
END $$;

SELECT format('CREATE TABLE %I (id int, v vector(16)) WITH (autovacuum_enabled = off)', name),
       format('INSERT INTO %I SELECT i, se_vec(i, 16, %L) FROM generate_series(1, 140) i', name, huge),
       format('CREATE INDEX %I ON %I USING hnsw ((v + %L) %s) WITH (storage = %L)',
              name || '_idx', name, (SELECT array_fill(0::real, ARRAY[16])::vector::text),
              opclass, storage),
       format('INSERT INTO se_res SELECT %L, ''built'', se_same(%L, %L)', name, name, op),
       format('INSERT INTO %I SELECT i, se_vec(i, 16, %L) FROM generate_series(141, 200) i', name, huge),
       format('INSERT INTO se_res SELECT %L, ''inserted'', se_same(%L, %L)', name, name, op),
       format('DELETE FROM %I WHERE id %% 9 = 0', name),
       format('VACUUM %I', name),
       format('INSERT INTO se_res SELECT %L, ''vacuumed'', se_same(%L, %L)', name, name, op),
       format('INSERT INTO se_res SELECT %L, ''uses index'', se_uses_index(%L, %L)', name, name, op),
       format('DROP TABLE %I', name)
FROM se_cases ORDER BY name
\gexec

SELECT count(*) AS cases FROM se_cases;
-- every case, every step: the index was used and gave the seq scan's order
SELECT step, count(*) FILTER (WHERE same) AS same, count(*) AS cases
FROM se_res GROUP BY step ORDER BY step;
SELECT name, step FROM se_res WHERE NOT same ORDER BY 1, 2;
DROP TABLE se_cases, se_res;

-- The cosine bound is the tighter one of unit vectors,
-- (|q - x~| - err)^2 / 2 with |q - x~| known from the code distance, not
-- the inner product's est - err: near neighbours' bounds are much closer
-- to their distances, so the executor reads fewer rows before it can hand
-- one out.  sq8, 64-d clustered rows, LIMIT 10: about 20 table blocks per
-- query (before: about 110).
SELECT setseed(0.25);
CREATE TABLE lb (id int PRIMARY KEY, v vector(64)) WITH (autovacuum_enabled = off);
\i sql/include/clustered_rows.psql
INSERT INTO lb SELECT * FROM clustered_rows(6000, 64, 50, 0.3);
CREATE INDEX lb_idx ON lb USING hnsw ((v + array_fill(0::real, ARRAY[64])::vector) vector_cosine_ops)
  WITH (storage = sq8);
CREATE FUNCTION lb_reads() RETURNS numeric LANGUAGE plpgsql AS $$
DECLARE
  b0 bigint := pg_stat_get_xact_blocks_fetched('lb'::regclass);
  q record;
  n int := 0;
  x bigint;
BEGIN
  SET LOCAL hnsw.ef_search = 40;
  SET LOCAL enable_seqscan = off;
  FOR q IN SELECT v FROM lb WHERE id % 300 = 7 LOOP
    SELECT count(*) INTO x FROM (SELECT id FROM lb
      ORDER BY (v + array_fill(0::real, ARRAY[64])::vector) <=> q.v LIMIT 10) s;
    n := n + 1;
  END LOOP;
  RETURN (pg_stat_get_xact_blocks_fetched('lb'::regclass) - b0)::numeric / n;
END $$;
SELECT lb_reads() <= 60 AS few_reads;
DROP TABLE lb;
DROP FUNCTION lb_reads();
