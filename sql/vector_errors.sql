-- every way to get a bad vector is an error with a clear message
\set VERBOSITY default

-- malformed text
SELECT ''::vector;
SELECT '1,2,3'::vector;
SELECT '(1,2,3)'::vector;
SELECT '[1,2,3'::vector;
SELECT '[1,2,3,]'::vector;
SELECT '[,1]'::vector;
SELECT '[1,,2]'::vector;
SELECT '[1 2]'::vector;
SELECT '[a]'::vector;
SELECT '[1e]'::vector;
SELECT '[1,2]x'::vector;
SELECT '[1,2] [3]'::vector;
SELECT '[1,2]]'::vector;

-- no elements, too many elements
SELECT '[]'::vector;
SELECT '[  ]'::vector;
SELECT ('[' || repeat('1,', 16000) || '1]')::vector;

-- NaN, infinities, out of float4 range
SELECT '[NaN]'::vector;
SELECT '[1,nan]'::vector;
SELECT '[Infinity]'::vector;
SELECT '[1,-inf]'::vector;
SELECT '[1e39]'::vector;
SELECT '[1,-3.5e38]'::vector;
-- an underflow to zero is not an error (as in pgvector)
SELECT '[1e-50]'::vector;

-- type modifiers
SELECT '[1]'::vector(0);
SELECT '[1]'::vector(16001);
SELECT '[1]'::vector(2, 3);
CREATE TABLE ve (v vector(0));
SELECT '[1,2]'::vector(3);
SELECT '[1,2,3,4]'::vector(3);
SELECT '[1,2]'::vector::vector(3);

-- different dimensions in every binary function and operator
SELECT '[1,2,3]'::vector <-> '[1,2,3,4]';
SELECT '[1,2,3]'::vector <#> '[1,2,3,4]';
SELECT '[1,2,3]'::vector <=> '[1,2,3,4]';
SELECT '[1,2,3]'::vector <+> '[1,2,3,4]';
SELECT '[1,2,3]'::vector + '[1,2,3,4]';
SELECT '[1,2,3]'::vector - '[1,2,3,4]';
SELECT '[1,2,3]'::vector * '[1,2,3,4]';
SELECT l2_distance('[1,2,3,4]', '[1,2,3]');
SELECT vector_l2_squared_distance('[1,2,3]', '[1,2,3,4]');
SELECT inner_product('[1,2,3]', '[1,2,3,4]');
SELECT vector_negative_inner_product('[1,2,3]', '[1,2,3,4]');
SELECT cosine_distance('[1,2,3]', '[1,2,3,4]');
SELECT l1_distance('[1,2,3]', '[1,2,3,4]');
SELECT vector_spherical_distance('[1,2,3]', '[1,2,3,4]');

-- arithmetic that leaves float4 range
SELECT '[3e38]'::vector + '[3e38]';
SELECT '[1,-3e38]'::vector - '[0,3e38]';
SELECT '[1e20]'::vector * '[1e20]';
SELECT '[1e-30]'::vector * '[1e-30]';		-- underflow to zero
SELECT '[1e-30]'::vector * '[0]';			-- a real zero is fine

-- subvector and concatenation
SELECT subvector('[1,2,3]', 1, 0);
SELECT subvector('[1,2,3]', 2, -1);
SELECT subvector('[1,2,3]', 4, 1);
SELECT subvector('[1,2,3]', -5, 3);
SELECT subvector('[1,2,3]', -2147483648, 2147483647);
SELECT array_fill(1, ARRAY[10000])::vector || array_fill(2, ARRAY[6001])::vector;

-- arrays
SELECT ARRAY[[1,2],[3,4]]::vector;
SELECT ARRAY[1,NULL,3]::vector;
SELECT ARRAY[NULL]::real[]::vector;
SELECT '{}'::int[]::vector;
SELECT array_fill(0, ARRAY[16001])::vector;
SELECT ARRAY[1,2]::vector(3);
SELECT ARRAY['NaN']::float8[]::vector;
SELECT ARRAY['NaN']::real[]::vector;
SELECT ARRAY['NaN']::numeric[]::vector;
SELECT ARRAY['Infinity']::real[]::vector;
SELECT ARRAY['-Infinity']::float8[]::vector;
SELECT ARRAY[1e39]::float8[]::vector;		-- beyond float4
SELECT ARRAY[1e39]::numeric[]::vector;

-- aggregates
SELECT sum(v) FROM (VALUES ('[3e38]'::vector), ('[3e38]')) t(v);
SELECT avg(v) FROM (VALUES ('[1,2]'::vector), ('[1,2,3]')) t(v);
SELECT sum(v) FROM (VALUES ('[1,2]'::vector), ('[1,2,3]')) t(v);
SELECT vector_combine('{1,1.5e308}', '{1,1.5e308}');
SELECT vector_combine('{1,1,2}', '{1,1,2,3}');
SELECT vector_avg('{1,1e300}');
SELECT vector_avg('{}');
SELECT vector_accum('{1,NULL}', '[1]');
SELECT vector_accum('{1,2}', '[1,2]');
-- every state is checked the same way by vector_accum, vector_combine and
-- vector_avg: the initial state {0} (no rows yet, no sums), or a count
-- followed by 1 to 16000 sums, as a vector has
SELECT vector_combine('{1}', '{0}');
SELECT vector_combine('{0}', '{1}');
SELECT vector_combine('{2}', '{3}');
SELECT vector_combine('{1,1}', '{1}');
SELECT vector_accum('{1}', '[1]');
SELECT vector_avg('{1}');
-- states of 16001 sums (too many) and of 16000 (the most a vector has);
-- array_length keeps a wrongly accepted state out of the output
CREATE TEMP TABLE vstates AS SELECT
	array_prepend(1::float8, array_fill(1::float8, ARRAY[16001])) AS big,
	array_prepend(0::float8, array_fill(1::float8, ARRAY[16001])) AS big0,
	array_prepend(1::float8, array_fill(1::float8, ARRAY[16000])) AS most;
SELECT array_length(vector_combine(big, '{0}'), 1) FROM vstates;
SELECT array_length(vector_combine('{0}', big), 1) FROM vstates;
SELECT array_length(vector_combine(big, big), 1) FROM vstates;
SELECT array_length(vector_combine(big0, '{0}'), 1) FROM vstates;
SELECT array_length(vector_combine(most, big), 1) FROM vstates;
SELECT array_length(vector_accum(big, '[1]'), 1) FROM vstates;
SELECT vector_dims(vector_avg(big)) FROM vstates;
SELECT array_length(vector_combine(most, most), 1),
	   vector_dims(vector_avg(vector_combine(most, most))) FROM vstates;
DROP TABLE vstates;
