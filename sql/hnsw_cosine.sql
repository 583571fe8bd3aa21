-- vector_cosine_ops (<=>, cosine distance): the checks every operator class gets
-- (sql/include/hnsw_opclass.sql), then this class's own.
\set opclass vector_cosine_ops
\set op '<=>'
\set tbl x_cosine
\getenv abs_srcdir PG_ABS_SRCDIR
\set opclass_checks :abs_srcdir '/sql/include/hnsw_opclass.sql'
\i :opclass_checks

-- zero vectors are not indexed under cosine
INSERT INTO x_cosine VALUES (301, '[0,0,0]');
SELECT count(*) FROM (SELECT id FROM x_cosine ORDER BY v <=> '[1,1,1]') x;
SELECT count(*) FILTER (WHERE id = 301) FROM (SELECT id FROM x_cosine ORDER BY v <=> '[1,1,1]') x;
SELECT array_agg(id) = (SELECT ids FROM x_cosine_exact WHERE qid = 2) AS all_rows
FROM (SELECT id FROM x_cosine ORDER BY v <=> '[1,1,1]') x;
-- a zero query vector has no direction: every indexed row, in no order
SELECT count(*), count(DISTINCT id) FROM (SELECT id FROM x_cosine ORDER BY v <=> '[0,0,0]') x;
SET enable_seqscan = on;
SET enable_indexscan = off;
SELECT count(*) FROM (SELECT id FROM x_cosine ORDER BY v <=> '[1,1,1]') x;
RESET enable_indexscan;
SET enable_seqscan = off;

-- a small hand-checked case: vectors that differ only by a positive scale
-- are at distance 0; from [1,2,3]: 0, 0, 2, 1 - 10/14 = 0.2857
CREATE TABLE x_cosine_small (id int, v vector(3));
CREATE INDEX ON x_cosine_small USING hnsw (v vector_cosine_ops);
INSERT INTO x_cosine_small VALUES
  (1, '[1,2,3]'), (2, '[2,4,6]'), (3, '[-1,-2,-3]'), (4, '[3,2,1]'), (5, '[0,0,0]');
WITH r AS (
  SELECT id, row_number() OVER () AS pos
  FROM (SELECT id FROM x_cosine_small ORDER BY v <=> '[1,2,3]' LIMIT 10) x
)
SELECT (SELECT array_agg(id ORDER BY id) FROM r WHERE pos <= 2) AS nearest,
       (SELECT array_agg(id ORDER BY pos) FROM r WHERE pos > 2) AS rest;
SELECT id, round((v <=> '[1,2,3]')::numeric, 4) AS d
FROM x_cosine_small WHERE id > 2 ORDER BY v <=> '[1,2,3]' LIMIT 10;
DROP TABLE x_cosine_small;

RESET hnsw.ef_search;
RESET enable_seqscan;
DROP TABLE x_cosine, x_cosine_q, x_cosine_exact;
