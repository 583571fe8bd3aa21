-- vector_l1_ops (<+>, taxicab distance): the checks every operator class gets
-- (sql/include/hnsw_opclass.sql), then this class's own.
\set opclass vector_l1_ops
\set op '<+>'
\set tbl x_l1
\getenv abs_srcdir PG_ABS_SRCDIR
\set opclass_checks :abs_srcdir '/sql/include/hnsw_opclass.sql'
\i :opclass_checks

-- a small hand-checked case: distances from [0,0] are 0, 7, 2, 2.5
CREATE TABLE x_l1_small (id int, v vector(2));
CREATE INDEX ON x_l1_small USING hnsw (v vector_l1_ops);
INSERT INTO x_l1_small VALUES (1, '[0,0]'), (2, '[3,4]'), (3, '[1,1]'), (4, '[-2,0.5]');
SELECT id, v <+> '[0,0]' AS d FROM x_l1_small ORDER BY v <+> '[0,0]' LIMIT 10;
DROP TABLE x_l1_small;

RESET hnsw.ef_search;
RESET enable_seqscan;
DROP TABLE x_l1, x_l1_q, x_l1_exact;
