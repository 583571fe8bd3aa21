-- Vectors at the ends of float4's range.  A distance between finite
-- vectors may lie beyond float4 (|1e20|^2), a norm below it (|1e-30|^2).
-- The SQL functions return the true values (double where float4 would
-- overflow or underflow); every index keeps finite, ordered neighbour lists
-- (hnsw_index_check) and returns such rows where a sort by the SQL distance
-- puts them.
-- (enable_seqscan = off inflates plan costs past jit_above_cost)
SET jit = off;

-- cosine: norms of 1e-30 underflow float4, of 1e20 overflow it; both are
-- 45 degrees from [1,1,0] (0.292893) or in its direction (0)
SELECT round(cosine_distance('[1e-30,0,0]', '[1,1,0]')::numeric, 6) AS tiny,
       round(cosine_distance('[1e20,1e20,0]', '[1,1,0]')::numeric, 6) AS huge,
       round(('[1e-45,0,0]'::vector <=> '[1,1,0]')::numeric, 6) AS subnormal,
       round(('[3.4e38,3.4e38,0]'::vector <=> '[1,0,0]')::numeric, 6) AS near_max;
SELECT round(('[3.4e38,-3.4e38]'::vector <=> '[-3.4e38,3.4e38]')::numeric, 6) AS opposite,
       round(('[1e-45,1e-45]'::vector <=> '[1e-45,-1e-45]')::numeric, 6) AS orthogonal,
       round(('[1e-30,2e-30,3e-30]'::vector <=> '[2e25,4e25,6e25]')::numeric, 6) AS same_direction,
       round(cosine_distance(array_fill(1e19::real, '{64}')::vector,
                             array_fill(-3e-30::real, '{64}')::vector)::numeric, 6) AS wide;
-- a zero vector has no direction, also beside a subnormal one
SELECT cosine_distance('[0,0,0]', '[1e-45,0,0]');

-- l2, inner product and l1 beyond float4's range, and below it (shown
-- as multiples of a power of ten)
SELECT round((l2_distance('[1e20,0]', '[0,0]') / 1e20)::numeric, 6) AS l2_1e20,
       round((('[3.4e38,-3.4e38]'::vector <-> '[-3.4e38,3.4e38]') / 1e38)::numeric, 6) AS l2_max,
       round((vector_l2_squared_distance('[1e20]', '[-1e20]') / 1e40)::numeric, 6) AS l2sq,
       round((l2_distance(array_fill(1e19::real, '{64}')::vector,
                          array_fill(-1e19::real, '{64}')::vector) / 1e20)::numeric, 6) AS l2_wide;
SELECT round((l2_distance('[1e-30]', '[0]') * 1e30)::numeric, 6) AS l2_tiny,
       round((('[1e-45,0]'::vector <-> '[0,1e-45]') * 1e45)::numeric, 6) AS l2_subnormal,
       round((l2_distance('[3e-30,4e-30]', '[0,0]') * 1e30)::numeric, 6) AS l2_345;
SELECT round((inner_product('[1e20,1e20]', '[1e20,1e20]') / 1e40)::numeric, 6) AS ip,
       round((('[1e20,1e20]'::vector <#> '[1e20,1e20]') / 1e40)::numeric, 6) AS neg_ip,
       inner_product('[3.4e38,-3.4e38]', '[3.4e38,3.4e38]') AS ip_cancel,
       round((inner_product('[1e-30,1e-30]', '[3e-30,1e-30]') * 1e60)::numeric, 6) AS ip_tiny;
SELECT round((l1_distance('[3e38,3e38]', '[-3e38,-3e38]') / 1e39)::numeric, 6) AS l1,
       round((('[-3.4e38]'::vector <+> '[3.4e38]') / 1e38)::numeric, 6) AS l1_max,
       round((l1_distance('[1e-45]', '[-1e-45]') * 1e45)::numeric, 6) AS l1_subnormal;
-- the spherical distance (an ivfflat support function) of orthogonal vectors
SELECT vector_spherical_distance('[3e38,-3e38]', '[3e38,3e38]') AS spherical;

-- norms and normalisation
SELECT vector_norm('[1e-30,0,0]') AS tiny, vector_norm('[1e-45]') AS subnormal,
       round((vector_norm('[3.4e38,3.4e38,3.4e38,3.4e38]') / 1e38)::numeric, 6) AS near_max;
SELECT l2_normalize('[1e-30,0,0]'), l2_normalize('[1e-45,1e-45]'),
       l2_normalize('[1e20,1e20,0]'), l2_normalize('[3.4e38,-3.4e38]');
SELECT round(vector_norm(l2_normalize('[1e-38,2e-38,2e-38]'))::numeric, 6) AS unit_tiny,
       round(vector_norm(l2_normalize(array_fill(3e38::real, '{2000}')::vector))::numeric, 6) AS unit_huge;

-- Index scans.  x_ext_order(table, operator, query) runs the query through
-- the index (enable_seqscan off, ef_search above the row count) and
-- compares the order it returns with the distances the operator gives:
--   used_index: the plan is an index scan
--   n: rows returned (each once)
--   sorted: the distances in the order returned never decrease (beyond
--           1e-4 relative, 1e-6 absolute: the index ranks by float4)
--   placed: each extreme row (id > 1000) is at a position that a sort by
--           the distance allows (ties within that tolerance either way)
CREATE FUNCTION x_ext_order(tbl regclass, op text, q vector,
	OUT used_index bool, OUT n bigint, OUT sorted bool, OUT placed bool)
LANGUAGE plpgsql AS $$
DECLARE
	plan text;
	ids int[];
BEGIN
	PERFORM set_config('enable_seqscan', 'off', true);
	EXECUTE format('EXPLAIN (COSTS OFF) SELECT id FROM %s ORDER BY v %s %L::vector',
				   tbl, op, q) INTO plan;
	used_index := plan LIKE 'Index Scan using %';
	EXECUTE format('SELECT array_agg(id) FROM (SELECT id FROM %s ORDER BY v %s $1) s',
				   tbl, op) INTO ids USING q;
	PERFORM set_config('enable_seqscan', 'on', true);
	EXECUTE format('CREATE TEMP TABLE x_ext_d ON COMMIT DROP AS SELECT id, v %s $1 AS d FROM %s',
				   op, tbl) USING q;
	CREATE TEMP TABLE x_ext_r ON COMMIT DROP AS
		SELECT u.id, u.pos, d.d, 1e-4 * abs(d.d) + 1e-6 AS tol
		FROM unnest(ids) WITH ORDINALITY u(id, pos) JOIN x_ext_d d USING (id);
	n := (SELECT count(DISTINCT id) FROM x_ext_r);
	IF n <> cardinality(ids) THEN
		n := -cardinality(ids);
	END IF;
	sorted := NOT EXISTS (
		SELECT FROM (SELECT d, lag(d) OVER (ORDER BY pos) AS pd,
							lag(tol) OVER (ORDER BY pos) AS ptol FROM x_ext_r) s
		WHERE d < pd - ptol OR d IS NULL OR d = 'NaN');
	placed := NOT EXISTS (
		SELECT FROM x_ext_r e
		WHERE e.id > 1000 AND e.pos NOT BETWEEN
			1 + (SELECT count(*) FROM x_ext_d x WHERE x.d < e.d - e.tol) AND
			(SELECT count(*) FROM x_ext_d x WHERE x.d <= e.d + e.tol));
	DROP TABLE x_ext_d, x_ext_r;
END
$$;

-- 300 ordinary rows (ids 1-300) and extreme ones (ids 1001-1009): huge,
-- near +-FLT_MAX, tiny, subnormal
CREATE TABLE x_ext_rows (id int, v vector(3));
INSERT INTO x_ext_rows SELECT i, ARRAY[sin(i), cos(i * 1.7), sin(i * 0.3) + cos(i * 2.1)]
FROM generate_series(1, 300) i;
INSERT INTO x_ext_rows VALUES
  (1001, '[1e20,0,0]'), (1002, '[-2e19,0,0]'), (1003, '[0,2e19,1e19]'),
  (1004, '[3.4e38,-3.4e38,0]'), (1005, '[-3.4e38,3.4e38,3.4e38]'),
  (1006, '[1e-30,0,0]'), (1007, '[1e-45,1e-45,0]'), (1008, '[1e20,1e20,0]'),
  (1009, '[0,-1e-38,3e-39]');
CREATE TABLE x_ext_q (qid int, q vector(3));
INSERT INTO x_ext_q VALUES (1, '[0.3,-0.2,0.5]'), (2, '[-0.7,0.1,-1.2]'),
  (3, '[1e20,0,0]'), (4, '[1e-30,-1e-30,0]'), (5, '[-3.4e38,3.4e38,3.4e38]');

SET hnsw.ef_search = 1000;

-- for each opclass: a table indexed after loading (CREATE INDEX), one
-- indexed before it (INSERT, the extreme rows in the middle), then the
-- second one rebuilt (REINDEX)
CREATE TABLE x_ext_l2b (LIKE x_ext_rows);
INSERT INTO x_ext_l2b SELECT * FROM x_ext_rows;
CREATE INDEX x_ext_l2b_idx ON x_ext_l2b USING hnsw (v vector_l2_ops);
CREATE TABLE x_ext_l2i (LIKE x_ext_rows);
CREATE INDEX x_ext_l2i_idx ON x_ext_l2i USING hnsw (v vector_l2_ops);
INSERT INTO x_ext_l2i SELECT * FROM x_ext_rows WHERE id <= 150;
INSERT INTO x_ext_l2i SELECT * FROM x_ext_rows WHERE id > 1000;
INSERT INTO x_ext_l2i SELECT * FROM x_ext_rows WHERE id > 150 AND id <= 300;
SELECT elements, active, reachable FROM hnsw_index_check('x_ext_l2b_idx');
SELECT elements, active, reachable FROM hnsw_index_check('x_ext_l2i_idx');
SELECT qid, (x_ext_order('x_ext_l2b', '<->', q)).* FROM x_ext_q ORDER BY qid;
SELECT qid, (x_ext_order('x_ext_l2i', '<->', q)).* FROM x_ext_q ORDER BY qid;
REINDEX INDEX x_ext_l2i_idx;
SELECT elements, active, reachable FROM hnsw_index_check('x_ext_l2i_idx');
SELECT qid, (x_ext_order('x_ext_l2i', '<->', q)).* FROM x_ext_q ORDER BY qid;

-- inner product (reachability is not an invariant there, but these rows
-- are all reached)
CREATE TABLE x_ext_ipb (LIKE x_ext_rows);
INSERT INTO x_ext_ipb SELECT * FROM x_ext_rows;
CREATE INDEX x_ext_ipb_idx ON x_ext_ipb USING hnsw (v vector_ip_ops);
CREATE TABLE x_ext_ipi (LIKE x_ext_rows);
CREATE INDEX x_ext_ipi_idx ON x_ext_ipi USING hnsw (v vector_ip_ops);
INSERT INTO x_ext_ipi SELECT * FROM x_ext_rows WHERE id <= 150;
INSERT INTO x_ext_ipi SELECT * FROM x_ext_rows WHERE id > 1000;
INSERT INTO x_ext_ipi SELECT * FROM x_ext_rows WHERE id > 150 AND id <= 300;
SELECT elements, active FROM hnsw_index_check('x_ext_ipb_idx');
SELECT elements, active FROM hnsw_index_check('x_ext_ipi_idx');
SELECT qid, (x_ext_order('x_ext_ipb', '<#>', q)).* FROM x_ext_q ORDER BY qid;
SELECT qid, (x_ext_order('x_ext_ipi', '<#>', q)).* FROM x_ext_q ORDER BY qid;
REINDEX INDEX x_ext_ipi_idx;
SELECT elements, active FROM hnsw_index_check('x_ext_ipi_idx');
SELECT qid, (x_ext_order('x_ext_ipi', '<#>', q)).* FROM x_ext_q ORDER BY qid;

-- cosine: the tiny and subnormal rows are not zero vectors, and the huge
-- ones keep their direction
CREATE TABLE x_ext_cosb (LIKE x_ext_rows);
INSERT INTO x_ext_cosb SELECT * FROM x_ext_rows;
CREATE INDEX x_ext_cosb_idx ON x_ext_cosb USING hnsw (v vector_cosine_ops);
CREATE TABLE x_ext_cosi (LIKE x_ext_rows);
CREATE INDEX x_ext_cosi_idx ON x_ext_cosi USING hnsw (v vector_cosine_ops);
INSERT INTO x_ext_cosi SELECT * FROM x_ext_rows WHERE id <= 150;
INSERT INTO x_ext_cosi SELECT * FROM x_ext_rows WHERE id > 1000;
INSERT INTO x_ext_cosi SELECT * FROM x_ext_rows WHERE id > 150 AND id <= 300;
SELECT elements, active, reachable FROM hnsw_index_check('x_ext_cosb_idx');
SELECT elements, active, reachable FROM hnsw_index_check('x_ext_cosi_idx');
SELECT qid, (x_ext_order('x_ext_cosb', '<=>', q)).* FROM x_ext_q ORDER BY qid;
SELECT qid, (x_ext_order('x_ext_cosi', '<=>', q)).* FROM x_ext_q ORDER BY qid;
REINDEX INDEX x_ext_cosi_idx;
SELECT elements, active, reachable FROM hnsw_index_check('x_ext_cosi_idx');
SELECT qid, (x_ext_order('x_ext_cosi', '<=>', q)).* FROM x_ext_q ORDER BY qid;
-- the nearest rows to a tiny query in the direction of [1,0,0]: the two
-- rows pointing there, whatever their length
SELECT array_agg(id ORDER BY id) FROM (
  SELECT id FROM x_ext_cosb ORDER BY v <=> '[1e-38,0,0]' LIMIT 2) s;

-- l1
CREATE TABLE x_ext_l1b (LIKE x_ext_rows);
INSERT INTO x_ext_l1b SELECT * FROM x_ext_rows;
CREATE INDEX x_ext_l1b_idx ON x_ext_l1b USING hnsw (v vector_l1_ops);
CREATE TABLE x_ext_l1i (LIKE x_ext_rows);
CREATE INDEX x_ext_l1i_idx ON x_ext_l1i USING hnsw (v vector_l1_ops);
INSERT INTO x_ext_l1i SELECT * FROM x_ext_rows WHERE id <= 150;
INSERT INTO x_ext_l1i SELECT * FROM x_ext_rows WHERE id > 1000;
INSERT INTO x_ext_l1i SELECT * FROM x_ext_rows WHERE id > 150 AND id <= 300;
SELECT elements, active, reachable FROM hnsw_index_check('x_ext_l1b_idx');
SELECT elements, active, reachable FROM hnsw_index_check('x_ext_l1i_idx');
SELECT qid, (x_ext_order('x_ext_l1b', '<+>', q)).* FROM x_ext_q ORDER BY qid;
SELECT qid, (x_ext_order('x_ext_l1i', '<+>', q)).* FROM x_ext_q ORDER BY qid;
REINDEX INDEX x_ext_l1i_idx;
SELECT elements, active, reachable FROM hnsw_index_check('x_ext_l1i_idx');
SELECT qid, (x_ext_order('x_ext_l1i', '<+>', q)).* FROM x_ext_q ORDER BY qid;

-- one dimension: [-2e19] and [2e19] are enough to overflow l2 and inner
-- product, [-3e38] and [3e38] l1
CREATE TABLE x_ext_one (id int, v vector(1));
INSERT INTO x_ext_one VALUES (1, '[1]'), (2, '[-3]'), (3, '[0.5]'),
  (1001, '[-2e19]'), (1002, '[2e19]'), (1003, '[3e38]'), (1004, '[-3e38]');
CREATE TABLE x_ext_one_q (qid int, q vector(1));
INSERT INTO x_ext_one_q VALUES (1, '[5e18]'), (2, '[-1]'), (3, '[3e38]');
CREATE INDEX x_ext_one_l2 ON x_ext_one USING hnsw (v vector_l2_ops);
CREATE INDEX x_ext_one_ip ON x_ext_one USING hnsw (v vector_ip_ops);
CREATE INDEX x_ext_one_cos ON x_ext_one USING hnsw (v vector_cosine_ops);
CREATE INDEX x_ext_one_l1 ON x_ext_one USING hnsw (v vector_l1_ops);
SELECT elements, active FROM hnsw_index_check('x_ext_one_l2');
SELECT elements, active FROM hnsw_index_check('x_ext_one_ip');
SELECT elements, active FROM hnsw_index_check('x_ext_one_cos');
SELECT elements, active FROM hnsw_index_check('x_ext_one_l1');
-- each operator through its own index (the others dropped meanwhile)
BEGIN;
DROP INDEX x_ext_one_ip, x_ext_one_cos, x_ext_one_l1;
SELECT qid, (x_ext_order('x_ext_one', '<->', q)).* FROM x_ext_one_q ORDER BY qid;
ROLLBACK;
BEGIN;
DROP INDEX x_ext_one_l2, x_ext_one_cos, x_ext_one_l1;
SELECT qid, (x_ext_order('x_ext_one', '<#>', q)).* FROM x_ext_one_q ORDER BY qid;
ROLLBACK;
BEGIN;
DROP INDEX x_ext_one_l2, x_ext_one_ip, x_ext_one_l1;
SELECT qid, (x_ext_order('x_ext_one', '<=>', q)).* FROM x_ext_one_q ORDER BY qid;
ROLLBACK;
BEGIN;
DROP INDEX x_ext_one_l2, x_ext_one_ip, x_ext_one_cos;
SELECT qid, (x_ext_order('x_ext_one', '<+>', q)).* FROM x_ext_one_q ORDER BY qid;
ROLLBACK;

-- 64 dimensions (the kernels' vectorised blocks): rows of 1e19 and of
-- -3e38 among 100 ordinary ones, inserted after CREATE INDEX
CREATE TABLE x_ext_wide (id int, v vector(64));
CREATE INDEX x_ext_wide_l2 ON x_ext_wide USING hnsw (v vector_l2_ops);
CREATE INDEX x_ext_wide_ip ON x_ext_wide USING hnsw (v vector_ip_ops);
INSERT INTO x_ext_wide SELECT i, (SELECT array_agg(sin(i * j)) FROM generate_series(1, 64) j)
FROM generate_series(1, 100) i;
INSERT INTO x_ext_wide VALUES
  (1001, array_fill(1e19::real, '{64}')), (1002, array_fill(-3e38::real, '{64}')),
  (1003, array_fill(2e19::real, '{64}'));
SELECT elements, active, reachable FROM hnsw_index_check('x_ext_wide_l2');
SELECT elements, active FROM hnsw_index_check('x_ext_wide_ip');
REINDEX TABLE x_ext_wide;
SELECT elements, active, reachable FROM hnsw_index_check('x_ext_wide_l2');
SELECT elements, active FROM hnsw_index_check('x_ext_wide_ip');
BEGIN;
DROP INDEX x_ext_wide_ip;
SELECT (x_ext_order('x_ext_wide', '<->', array_fill(0.1::real, '{64}')::vector)).*;
SELECT (x_ext_order('x_ext_wide', '<->', array_fill(1e19::real, '{64}')::vector)).*;
ROLLBACK;
BEGIN;
DROP INDEX x_ext_wide_l2;
SELECT (x_ext_order('x_ext_wide', '<#>', array_fill(0.1::real, '{64}')::vector)).*;
SELECT (x_ext_order('x_ext_wide', '<#>', array_fill(-1::real, '{64}')::vector)).*;
ROLLBACK;

RESET hnsw.ef_search;
DROP TABLE x_ext_rows, x_ext_q, x_ext_l2b, x_ext_l2i, x_ext_ipb, x_ext_ipi,
  x_ext_cosb, x_ext_cosi, x_ext_l1b, x_ext_l1i, x_ext_one, x_ext_one_q, x_ext_wide;
DROP FUNCTION x_ext_order;
