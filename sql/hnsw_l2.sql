-- vector_l2_ops (<->, Euclidean distance): the checks every operator class gets
-- (sql/include/hnsw_opclass.sql), then this class's own.
\set opclass vector_l2_ops
\set op '<->'
\set tbl x_l2
\getenv abs_srcdir PG_ABS_SRCDIR
\set opclass_checks :abs_srcdir '/sql/include/hnsw_opclass.sql'
\i :opclass_checks

-- a small hand-checked case: distances from [0,0] are 0, 5, 1.4142, 2
CREATE TABLE x_l2_small (id int, v vector(2));
CREATE INDEX ON x_l2_small USING hnsw (v vector_l2_ops);
INSERT INTO x_l2_small VALUES (1, '[0,0]'), (2, '[3,4]'), (3, '[1,1]'), (4, '[-2,0]');
SELECT id, round((v <-> '[0,0]')::numeric, 4) AS d FROM x_l2_small ORDER BY v <-> '[0,0]' LIMIT 10;
DROP TABLE x_l2_small;

RESET hnsw.ef_search;
RESET enable_seqscan;
DROP TABLE x_l2, x_l2_q, x_l2_exact;
