-- vector_ip_ops (<#>, negative inner product): the checks every operator class gets
-- (sql/include/hnsw_opclass.sql), then this class's own.
\set opclass vector_ip_ops
\set op '<#>'
\set tbl x_ip
\getenv abs_srcdir PG_ABS_SRCDIR
\set opclass_checks :abs_srcdir '/sql/include/hnsw_opclass.sql'
\i :opclass_checks

-- a small hand-checked case: <#> from [1,1] is -1, -2, -6, 2
CREATE TABLE x_ip_small (id int, v vector(2));
CREATE INDEX ON x_ip_small USING hnsw (v vector_ip_ops);
INSERT INTO x_ip_small VALUES (1, '[1,0]'), (2, '[0,2]'), (3, '[3,3]'), (4, '[-1,-1]');
SELECT id, v <#> '[1,1]' AS d FROM x_ip_small ORDER BY v <#> '[1,1]' LIMIT 10;
DROP TABLE x_ip_small;

RESET hnsw.ef_search;
RESET enable_seqscan;
DROP TABLE x_ip, x_ip_q, x_ip_exact;
