-- COPY round trips in text and binary format, and vector_recv's checks.
-- psql's \copy writes the files as the client, into pg_regress's results/.

CREATE TABLE vc (id int, v vector(3), w vector);
INSERT INTO vc VALUES
	(1, '[1,2,3]', '[4]'),
	(2, '[-0.5,0.1,3.4028235e38]', '[1e-45,-1.1754944e-38,123456789]'),
	(3, '[0,-0,1]', NULL),
	(4, NULL, '[0.33333334,2.7182817,3.1415927,6.0221409e+23,-1e-07]');

-- text
\copy vc TO 'results/vector_copy.txt'
CREATE TABLE vc_text (LIKE vc);
\copy vc_text FROM 'results/vector_copy.txt'
SELECT * FROM vc_text ORDER BY id;
SELECT count(*) AS same_rows FROM vc JOIN vc_text USING (id)
WHERE vc.v IS NOT DISTINCT FROM vc_text.v AND vc.w IS NOT DISTINCT FROM vc_text.w;

-- binary: vector_send writes, vector_recv reads, bit for bit
\copy vc TO 'results/vector_copy.bin' WITH (FORMAT binary)
CREATE TABLE vc_bin (LIKE vc);
\copy vc_bin FROM 'results/vector_copy.bin' WITH (FORMAT binary)
SELECT * FROM vc_bin ORDER BY id;
SELECT count(*) AS same_rows FROM vc JOIN vc_bin USING (id)
WHERE vc.v IS NOT DISTINCT FROM vc_bin.v AND vc.w IS NOT DISTINCT FROM vc_bin.w
  AND vector_send(vc.v) IS NOT DISTINCT FROM vector_send(vc_bin.v)
  AND vector_send(vc.w) IS NOT DISTINCT FROM vector_send(vc_bin.w);
-- -0 survives the binary trip (= cannot tell it from 0, the bytes can)
SELECT vector_send(v) FROM vc_bin WHERE id = 3;

-- the binary typmod check: a 3-dimensional column read into vector(2)
CREATE TABLE vc_two (id int, v vector(2), w vector);
\copy vc_two FROM 'results/vector_copy.bin' WITH (FORMAT binary)

-- Hand-made binary fields.  In a binary COPY file a bytea field carries its
-- bytes as they are, so a one-column bytea table copied out in binary reads
-- back into a one-column vector table as exactly those bytes.
CREATE TABLE vc_raw (b bytea);
CREATE TABLE vc_one (v vector);
-- a good one first: dim 2, unused 0, 1.0, -2.0
INSERT INTO vc_raw VALUES ('\x000200003f800000c0000000');
\copy vc_raw TO 'results/vector_raw.bin' WITH (FORMAT binary)
\copy vc_one FROM 'results/vector_raw.bin' WITH (FORMAT binary)
SELECT v FROM vc_one;
-- unused field not zero
TRUNCATE vc_raw;
INSERT INTO vc_raw VALUES ('\x000200073f800000c0000000');
\copy vc_raw TO 'results/vector_raw.bin' WITH (FORMAT binary)
\copy vc_one FROM 'results/vector_raw.bin' WITH (FORMAT binary)
-- zero dimensions
TRUNCATE vc_raw;
INSERT INTO vc_raw VALUES ('\x00000000');
\copy vc_raw TO 'results/vector_raw.bin' WITH (FORMAT binary)
\copy vc_one FROM 'results/vector_raw.bin' WITH (FORMAT binary)
-- negative dimensions (0xffff)
TRUNCATE vc_raw;
INSERT INTO vc_raw VALUES ('\xffff0000');
\copy vc_raw TO 'results/vector_raw.bin' WITH (FORMAT binary)
\copy vc_one FROM 'results/vector_raw.bin' WITH (FORMAT binary)
-- 16001 dimensions (0x3e81)
TRUNCATE vc_raw;
INSERT INTO vc_raw VALUES ('\x3e810000');
\copy vc_raw TO 'results/vector_raw.bin' WITH (FORMAT binary)
\copy vc_one FROM 'results/vector_raw.bin' WITH (FORMAT binary)
-- NaN (0x7fc00000) and +Infinity (0x7f800000) elements
TRUNCATE vc_raw;
INSERT INTO vc_raw VALUES ('\x000200003f8000007fc00000');
\copy vc_raw TO 'results/vector_raw.bin' WITH (FORMAT binary)
\copy vc_one FROM 'results/vector_raw.bin' WITH (FORMAT binary)
TRUNCATE vc_raw;
INSERT INTO vc_raw VALUES ('\x000100007f800000');
\copy vc_raw TO 'results/vector_raw.bin' WITH (FORMAT binary)
\copy vc_one FROM 'results/vector_raw.bin' WITH (FORMAT binary)
-- fewer elements than dim says
TRUNCATE vc_raw;
INSERT INTO vc_raw VALUES ('\x000300003f800000');
\copy vc_raw TO 'results/vector_raw.bin' WITH (FORMAT binary)
\copy vc_one FROM 'results/vector_raw.bin' WITH (FORMAT binary)
-- more bytes than dim says
TRUNCATE vc_raw;
INSERT INTO vc_raw VALUES ('\x000100003f8000003f800000');
\copy vc_raw TO 'results/vector_raw.bin' WITH (FORMAT binary)
\copy vc_one FROM 'results/vector_raw.bin' WITH (FORMAT binary)
-- only the good vector made it in
SELECT v FROM vc_one;

DROP TABLE vc, vc_text, vc_bin, vc_two, vc_raw, vc_one;
