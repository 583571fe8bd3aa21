-- vector type: text I/O, typmod, casts, binary send

-- input forms: signs, exponents, whitespace around everything
SELECT '[1,2,3]'::vector;
SELECT '[1,2.5,-3e-2]'::vector;
SELECT '[+4, -0, 1.5e3, 1E-3, .5, 7.]'::vector;
SELECT '  [ 1 ,2 , 3 ]  '::vector;
SELECT E'\t[\n1\r,\f2 ]\n'::vector;
SELECT ('[1,' || chr(11) || '2]')::vector;		-- vertical tab
SELECT '[42]'::vector;

-- output is the shortest text that reads back as the same float4, exactly
-- as float4out prints it (compare with the real[] column)
SELECT v, v::real[] AS as_real
FROM (VALUES ('[0.1,0.33333334,1e-7,123456789,3.4028235e38,1.17549435e-38,1e-45,0.30000001]'::vector)) AS t(v);
-- values that are not float4 round to the nearest one
SELECT '[0.1000000001, 16777217, 1.00000006]'::vector;

-- text round trip is exact
SELECT v::text::vector = v AS round_trip
FROM (VALUES ('[0.1,-2.7182817,3.1415927,1e-30,6.0221409e+23]'::vector)) AS t(v);

-- the largest vector
SELECT vector_dims(array_fill(1.5, ARRAY[16000])::vector);
SELECT vector_dims(('[' || repeat('1,', 15999) || '1]')::vector);

-- typmod
SELECT '[1,2,3]'::vector(3);
SELECT '[1,2,3]'::vector::vector(3);
SELECT format_type('vector'::regtype, 3), format_type('vector'::regtype, -1);

CREATE TABLE vt (id int, v vector(3));
SELECT format_type(atttypid, atttypmod) FROM pg_attribute
WHERE attrelid = 'vt'::regclass AND attname = 'v';
INSERT INTO vt VALUES (1, '[1,2,3]');
INSERT INTO vt VALUES (2, '[1,2]');			-- wrong dimensions
INSERT INTO vt VALUES (2, '[1,2,3,4]');		-- wrong dimensions
INSERT INTO vt VALUES (2, '[1,2]'::vector);	-- checked by the typmod cast
INSERT INTO vt VALUES (2, ARRAY[4,5,6]);		-- assignment cast from integer[]
INSERT INTO vt VALUES (3, ARRAY[7,8]);			-- wrong dimensions
INSERT INTO vt VALUES (3, ARRAY[7.5,8.5,9.5]::real[]);
INSERT INTO vt VALUES (4, ARRAY[0.25,0.5,1]::float8[]);
INSERT INTO vt VALUES (5, ARRAY[1.25,-2,3]::numeric[]);
UPDATE vt SET v = '[1,2,3,4]' WHERE id = 1;	-- wrong dimensions
UPDATE vt SET v = v || '[1]' WHERE id = 1;	-- wrong dimensions
UPDATE vt SET v = v + '[1,1,1]' WHERE id = 1;
SELECT * FROM vt ORDER BY id;

-- ALTER TABLE ... TYPE re-checks every row
ALTER TABLE vt ALTER COLUMN v TYPE vector(4);	-- fails: rows have 3
ALTER TABLE vt ALTER COLUMN v TYPE vector;
INSERT INTO vt VALUES (6, '[1,2,3,4]');
ALTER TABLE vt ALTER COLUMN v TYPE vector(3);	-- fails: row 6 has 4
DELETE FROM vt WHERE id = 6;
ALTER TABLE vt ALTER COLUMN v TYPE vector(3);
SELECT format_type(atttypid, atttypmod) FROM pg_attribute
WHERE attrelid = 'vt'::regclass AND attname = 'v';
SELECT id, v FROM vt ORDER BY id;
-- to and from real[]
ALTER TABLE vt ALTER COLUMN v TYPE real[];
SELECT id, v FROM vt ORDER BY id;
ALTER TABLE vt ALTER COLUMN v TYPE vector(3) USING v::vector(3);
SELECT id, v FROM vt ORDER BY id;
DROP TABLE vt;

-- casts from arrays
SELECT ARRAY[1,2,3]::vector;
SELECT ARRAY[1.5,-2.25]::real[]::vector;
SELECT ARRAY[0.1,1e-3]::float8[]::vector;			-- rounded to float4
SELECT ARRAY[1.5,2,-3.125]::numeric[]::vector;
SELECT '{4,5,6}'::int[]::vector(3);
SELECT '{}'::real[]::vector(1);		-- fails
SELECT array_to_vector(ARRAY[1,2], 2, true);
-- cast to real[]: explicit, and implicit into a real[] parameter
SELECT '[1,2.5,-3]'::vector::real[];
CREATE FUNCTION vt_count_reals(real[]) RETURNS int
	LANGUAGE sql AS 'SELECT cardinality($1)';
SELECT vt_count_reals('[1,2,3,4]'::vector);
DROP FUNCTION vt_count_reals(real[]);
SELECT vector_to_float4('[7,8]', -1, false);

-- binary output: int16 dim, int16 zero, float4s, all big-endian
SELECT vector_send('[1,2,-0.5]');
SELECT vector_send('[1e-45]');
SELECT vector_dims('[1,2,3]'), vector_dims('[0]');

-- NULL in, NULL out (all functions are strict)
SELECT NULL::vector, vector_dims(NULL), l2_distance('[1]', NULL) IS NULL AS null_distance;

-- catalog properties the SQL surface promises
SELECT typname, typlen, typstorage, typalign FROM pg_type WHERE typname = 'vector';
SELECT castsource::regtype, casttarget::regtype, castcontext
FROM pg_cast WHERE castsource = 'vector'::regtype OR casttarget = 'vector'::regtype
ORDER BY castsource::regtype::text, casttarget::regtype::text;

-- every element parses to the float float4in gives the same text, whether
-- by the short-decimal path or by strtof (exponents, long or huge digits)
WITH t(s) AS (VALUES ('0'), ('-0'), ('0.1'), ('-0.1234'), ('.5'), ('7.'), ('+3.25'),
	('16777216'), ('16777217'), ('1677721.6'), ('0.16777216'), ('0.0000000001'),
	('0.00000000001'), ('123456789.123'), ('1e3'), ('-2.5E-3'), ('3.4028234e38'),
	('0.333333333333333333'), ('1e-45'), ('99999999'))
SELECT s, (('[' || s || ']')::vector::real[])[1] AS parsed, s::real AS float4in,
	float4send((('[' || s || ']')::vector::real[])[1]) = float4send(s::real) AS same_bits
FROM t;
SELECT '[ 0.25 , -1.,.125,42	,-7.5e1 ]'::vector = ARRAY[0.25, -1, 0.125, 42, -75]::real[]::vector AS same_vector;
