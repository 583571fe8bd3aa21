-- vector functions and operators

-- L2: sqrt of the float4 sum of squares, returned as float8
SELECT l2_distance('[0,0]', '[3,4]'), '[0,0]'::vector <-> '[3,4]';
SELECT '[1,2,3]'::vector <-> '[1,2,3]';
SELECT '[1,1]'::vector <-> '[0,0]';						-- sqrt(2)
SELECT '[1.5,-2]'::vector <-> '[-0.5,1]';				-- sqrt(13)
SELECT vector_l2_squared_distance('[1.5,-2]', '[-0.5,1]');
SELECT '[0.1]'::vector <-> '[0]';	-- the float4 0.1 squared in float4, then widened

-- inner product and its negation (the <#> operator)
SELECT inner_product('[1,2,3]', '[4,5,-6]'), '[1,2,3]'::vector <#> '[4,5,-6]';
SELECT vector_negative_inner_product('[1,2]', '[3,4]');
SELECT inner_product('[0.5,0.25]', '[4,8]');

-- cosine distance: 1 - cos, clamped to [0, 2]; NaN for a zero vector
SELECT cosine_distance('[1,2]', '[2,4]'), '[1,2]'::vector <=> '[2,4]';
SELECT '[1,0]'::vector <=> '[0,1]', '[1,1]'::vector <=> '[-1,-1]';
SELECT '[1,2,3]'::vector <=> '[4,5,6]';		-- 1 - 32/sqrt(14*77)
SELECT '[3,4]'::vector <=> '[4,3]';			-- 1 - 24/25
SELECT '[0,0]'::vector <=> '[1,2]', '[0,0]'::vector <=> '[0,0]';

-- L1
SELECT l1_distance('[1,2,3]', '[4,0,3]'), '[1,2,3]'::vector <+> '[4,0,3]';
SELECT '[-1.5,2.25]'::vector <+> '[1.5,-2.25]';

-- the operators commute where they should
SELECT ('[1,2]'::vector <-> '[5,-1]') = ('[5,-1]'::vector <-> '[1,2]') AS l2,
	   ('[1,2]'::vector <#> '[5,-1]') = ('[5,-1]'::vector <#> '[1,2]') AS ip,
	   ('[1,2]'::vector <=> '[5,-1]') = ('[5,-1]'::vector <=> '[1,2]') AS cos,
	   ('[1,2]'::vector <+> '[5,-1]') = ('[5,-1]'::vector <+> '[1,2]') AS l1;
SELECT oprname, oprcom::regoperator, oprnegate::regoperator
FROM pg_operator WHERE oprleft = 'vector'::regtype ORDER BY oprname;

-- angular distance for unit vectors
SELECT vector_spherical_distance('[1,0]', '[0,1]'),
	   vector_spherical_distance('[1,0]', '[1,0]'),
	   vector_spherical_distance('[1,0]', '[-1,0]');

-- a longer vector: enough elements for the SIMD kernels' blocks and tail
-- (x = 1..100, y = 100..1; all sums are exact in float4)
WITH v AS (
	SELECT array_agg(i ORDER BY i)::vector AS x,
		   array_agg(101 - i ORDER BY i)::vector AS y
	FROM generate_series(1, 100) i
)
SELECT x <-> y AS l2, vector_l2_squared_distance(x, y) AS l2sq,
	   inner_product(x, y) AS ip, x <+> y AS l1, vector_norm(x) AS norm
FROM v;

-- norm and normalization
SELECT vector_norm('[3,4]'), vector_norm('[-2]'), vector_norm('[1,1,1,1]');
SELECT vector_norm('[0,0,0]');
SELECT l2_normalize('[3,4]'), l2_normalize('[0,-5,0]'), l2_normalize('[0,0]');
SELECT vector_norm(l2_normalize('[1,2,2]'));

-- dimensions, subvector, concatenation
SELECT vector_dims('[1,2,3,4,5]');
SELECT subvector('[1,2,3,4,5]', 2, 3);
SELECT subvector('[1,2,3,4,5]', 1, 5), subvector('[1,2,3,4,5]', 5, 1);
SELECT subvector('[1,2,3,4,5]', 4, 10);		-- clipped at the end
SELECT subvector('[1,2,3,4,5]', 0, 2);		-- position 0 counts, like substring
SELECT subvector('[1,2,3,4,5]', -1, 3);
SELECT subvector('[1,2,3,4,5]', 3, 2147483647);
SELECT '[1,2]'::vector || '[3]', '[1]'::vector || '[2]' || '[3,4]';

-- binary quantization: bit i set iff element i > 0
SELECT binary_quantize('[1,0,-1,2,0.5,-0.5,3,4,5]');
SELECT binary_quantize('[-1]'), binary_quantize('[0.001]');

-- element-wise arithmetic
SELECT '[1,2,3]'::vector + '[4,5,6]', '[1,2,3]'::vector - '[4,5,6]';
SELECT '[1,2,3]'::vector * '[4,5,-0.5]';
SELECT '[0.5,1e-20]'::vector + '[0.25,-1e-20]';
SELECT vector_add('[1]', '[2]'), vector_sub('[1]', '[2]'), vector_mul('[3]', '[2]');

-- comparison: element by element, then the shorter vector first
SELECT '[1,2,3]'::vector < '[1,2,4]', '[1,2,3]'::vector < '[1,2,3]',
	   '[1,2,3]'::vector <= '[1,2,3]', '[1,2,3]'::vector = '[1,2,3]',
	   '[1,2,3]'::vector <> '[1,2,3]', '[1,2,3]'::vector >= '[1,2,3]',
	   '[1,2,3]'::vector > '[1,2,3]';
SELECT '[1,2]'::vector < '[1,2,3]' AS prefix_first,
	   '[1,3]'::vector > '[1,2,3]' AS elements_first,
	   '[1,2]'::vector = '[1,2,0]' AS different_dims;
SELECT vector_cmp('[1,2]', '[1,3]'), vector_cmp('[1,3]', '[1,2]'),
	   vector_cmp('[1,2]', '[1,2]'), vector_cmp('[1,2]', '[1,2,-5]'),
	   vector_cmp('[2]', '[1,2,3]');
SELECT '[0]'::vector = '[-0]' AS zero_equals_minus_zero;

-- ORDER BY, DISTINCT, GROUP BY, UNIQUE through the default btree opclass
CREATE TABLE vf (id serial, v vector);
INSERT INTO vf (v) VALUES
	('[1,2,3]'), ('[1,2]'), ('[0,5]'), ('[1,2,3]'), ('[-1,100]'),
	('[1,2,2.5]'), ('[1,2]'), ('[1,2,3,0]'), (NULL);
SELECT v FROM vf ORDER BY v;
SELECT v FROM vf ORDER BY v DESC NULLS LAST;
SELECT DISTINCT v FROM vf ORDER BY v;
SELECT v, count(*) FROM vf GROUP BY v ORDER BY v;
SELECT count(DISTINCT v) FROM vf;

CREATE INDEX vf_v_idx ON vf (v);
SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT id FROM vf WHERE v = '[1,2,3]';
SELECT id FROM vf WHERE v = '[1,2,3]' ORDER BY id;
EXPLAIN (COSTS OFF) SELECT v FROM vf WHERE v < '[1,2,3]' ORDER BY v;
SELECT v FROM vf WHERE v < '[1,2,3]' ORDER BY v;
SELECT v FROM vf WHERE v > '[1,2,3]' ORDER BY v;
SELECT v FROM vf WHERE v BETWEEN '[1,2]' AND '[1,2,3]' ORDER BY v;
RESET enable_seqscan;

CREATE TABLE vu (v vector(2) UNIQUE);
INSERT INTO vu VALUES ('[1,2]'), ('[2,1]');
INSERT INTO vu VALUES ('[1,2]');			-- duplicate
INSERT INTO vu VALUES ('[1,-0]'), ('[1,0]');	-- -0 = 0 is a duplicate too
SELECT v FROM vu ORDER BY v;
DROP TABLE vu;

-- aggregates
SELECT avg(v), sum(v) FROM (VALUES ('[1,2,3]'::vector), ('[3,4,5]'), ('[2,0,-2]')) t(v);
SELECT avg(v), sum(v) FROM (VALUES ('[1,2]'::vector), (NULL), ('[2,5]')) t(v);
SELECT avg(v), sum(v) FROM (VALUES ('[1,2]'::vector)) t(v) WHERE false;
SELECT avg(v) FROM (VALUES ('[1]'::vector), ('[2]'), ('[2]')) t(v);		-- 5/3 in float4
SELECT avg(v) FROM (VALUES ('[3e38]'::vector), ('[3e38]')) t(v);	-- the state is float8
SELECT id % 2 AS parity, avg(v), sum(v)
FROM vf WHERE vector_dims(v) = 2 GROUP BY parity ORDER BY parity;
-- the state array: {count, sums...}
SELECT vector_accum('{0}', '[1,2]'), vector_accum('{1,1,2}', '[3,4]');
SELECT vector_combine('{1,1,2}', '{2,3,4}'), vector_combine('{0}', '{2,3,4}'),
	   vector_combine('{2,3,4}', '{0}');
SELECT vector_avg('{4,2,6}'), vector_avg('{0}');
-- two initial states (parallel workers that saw no rows) make the initial state
SELECT vector_combine('{0}', '{0}'), vector_avg(vector_combine('{0}', '{0}'));
DROP TABLE vf;

-- parallel aggregation: partial states merged by vector_combine
CREATE TABLE vp (v vector(3));
INSERT INTO vp SELECT ARRAY[i % 7, i % 3, -(i % 5)] FROM generate_series(1, 30000) i;
ANALYZE vp;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
EXPLAIN (COSTS OFF) SELECT avg(v), sum(v) FROM vp;
SELECT avg(v), sum(v) FROM vp;
-- parallel plans whose workers see no rows combine initial states {0}
CREATE TABLE vp_few (v vector(3));
EXPLAIN (COSTS OFF) SELECT avg(v), sum(v) FROM vp_few;
SELECT avg(v), sum(v) FROM vp_few;
INSERT INTO vp_few VALUES ('[1,2,3]');
SELECT avg(v), sum(v) FROM vp_few;
SELECT avg(v), sum(v) FROM vp WHERE false;
DROP TABLE vp_few;
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;
RESET max_parallel_workers_per_gather;
SET max_parallel_workers_per_gather = 0;
SELECT avg(v), sum(v) FROM vp;
RESET max_parallel_workers_per_gather;
DROP TABLE vp;

-- the distance kernels in use (depends on the CPU, so only check the name)
SELECT hnswsearch_distance_variant() IN ('avx512f', 'avx2+fma', 'generic') AS known_variant;
