-- vector_in reads plain decimals itself (parse_decimal: an integer of up
-- to 19 significant digits times a power of ten, in double, then narrowed)
-- and leaves the rest to strtof.  Every element must be the float that
-- float4in (strtof) gives for the same text, whichever way it was read.
SELECT setseed(0.5);
CREATE TEMP TABLE pt (kind text, s text);
-- shortest float4 and float8 texts over float's normal range
INSERT INTO pt SELECT 'float4 text',
	((random() * 2 - 1) * 10 ^ (random() * 74 - 37))::float4::text
FROM generate_series(1, 20000);
INSERT INTO pt SELECT 'float8 text',
	((random() * 2 - 1) * 10 ^ (random() * 74 - 37))::float8::text
FROM generate_series(1, 20000);
-- plain decimals of 1 to 19 digits, with and without leading zeros
INSERT INTO pt SELECT 'plain',
	round(((random() * 2 - 1) * 10 ^ (i % 12 - 6))::numeric, i % 19)::text
FROM generate_series(1, 20000) i;
-- nine significant digits with an exponent, as '%.9g' prints
INSERT INTO pt SELECT '9 digits',
	btrim(to_char((random() * 2 - 1) * 10 ^ (random() * 60 - 30), '9.99999999EEEE'))
FROM generate_series(1, 20000);
-- halfway between two floats (a double holds it exactly), and the doubles
-- next to it: where rounding to double first could round the wrong way
CREATE TEMP TABLE mids AS
SELECT f + sign(f) * 2 ^ (floor(ln(abs(f)) / ln(2)) - 24) AS m
FROM (SELECT ((random() * 2 - 1) * 10 ^ (random() * 60 - 30))::float4::float8 AS f
	  FROM generate_series(1, 10000)) x;
INSERT INTO pt SELECT 'halfway', m::text FROM mids;
INSERT INTO pt SELECT 'halfway, 16 digits', btrim(to_char(m, '9.999999999999999EEEE')) FROM mids;
INSERT INTO pt SELECT 'halfway + ulp', (m * (1 + 2 ^ -52))::text FROM mids;
INSERT INTO pt SELECT 'halfway - ulp', (m * (1 - 2 ^ -53))::text FROM mids;
-- integers around 2^24, where floats are 2 apart
INSERT INTO pt SELECT 'near 2^24', (16777216 + i)::text FROM generate_series(-20, 20) i;
INSERT INTO pt SELECT 'near 2^24', (16777216 + i)::text || '.5' FROM generate_series(-20, 20) i;

SELECT kind, count(*) AS texts,
	   count(*) FILTER (WHERE v[1] IS DISTINCT FROM s::float4) AS differ
FROM (SELECT kind, s, (('[' || s || ']')::vector)::real[] AS v FROM pt) x
GROUP BY kind ORDER BY kind;
-- the same bits, zero's sign included
SELECT count(*) AS differ_in_text
FROM (SELECT s, (('[' || s || ']')::vector)::real[] AS v FROM pt) x
WHERE v[1]::text <> s::float4::text;

-- forms the fast path reads, and where it stops
SELECT '[1.5e3, -2.25E-2, +.5, 5., -0, 0e9, 1e22, 1e-22, 0.000001234]'::vector;
SELECT '[123456789012345678901234567890, 1e23, 1e-23, 3.4028235e38, 1.1754943e-38]'::vector;
SELECT '[1.5e]'::vector;
SELECT '[1.5e+]'::vector;
SELECT '[1e99999]'::vector;
SELECT '[.]'::vector;
