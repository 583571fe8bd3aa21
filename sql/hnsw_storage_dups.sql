-- hnsw storage option: an identical vector joins the element that holds it,
-- under every storage.  A second row with a vector already indexed (an
-- INSERT of a copy, or an UPDATE that keeps the vector and cannot be HOT)
-- takes a free heap TID slot of the existing element instead of a new
-- element, as a float4 index does: 200 distinct vectors inserted twice
-- make 200 elements, and 300 rows updated without changing their vector
-- keep 300 elements (each holding two TIDs until VACUUM).
SET jit = off;
CREATE TABLE sd_src AS
SELECT i AS id, ARRAY[sin(i), cos(i * 1.3), sin(i * 0.7), cos(i * 2.1),
                      sin(i * 3.3), cos(i * 0.4), sin(i * 1.9), cos(i * 2.7)]::vector(8) AS v
FROM generate_series(1, 300) i;

CREATE FUNCTION sd_run(storage text) RETURNS TABLE (copies bigint, updated bigint)
LANGUAGE plpgsql AS $$
BEGIN
  CREATE TABLE sd (id int PRIMARY KEY, tag int, v vector(8))
    WITH (fillfactor = 100, autovacuum_enabled = off);
  INSERT INTO sd SELECT id, 0, v FROM sd_src WHERE id <= 200;
  EXECUTE format('CREATE INDEX sd_idx ON sd USING hnsw (v vector_l2_ops) '
                 'WITH (m = 8, ef_construction = 32, storage = %L)', storage);
  INSERT INTO sd SELECT id + 1000, 0, v FROM sd_src WHERE id <= 200;
  SELECT elements INTO copies FROM hnsw_index_info('sd_idx');
  DROP TABLE sd;
  CREATE TABLE sd (id int PRIMARY KEY, tag int, v vector(8))
    WITH (fillfactor = 100, autovacuum_enabled = off);
  INSERT INTO sd SELECT id, 0, v FROM sd_src;
  EXECUTE format('CREATE INDEX sd_idx ON sd USING hnsw (v vector_l2_ops) '
                 'WITH (m = 8, ef_construction = 32, storage = %L)', storage);
  CREATE INDEX sd_tag ON sd (tag);
  UPDATE sd SET tag = 1;
  SELECT elements INTO updated FROM hnsw_index_info('sd_idx');
  DROP TABLE sd;
  RETURN NEXT;
END $$;

SELECT s.storage, r.copies, r.updated
FROM (VALUES (1, 'float4'), (2, 'half'), (3, 'sq8'), (4, 'sq4')) s(ord, storage),
     LATERAL sd_run(s.storage) r
ORDER BY s.ord;

DROP FUNCTION sd_run(text);
DROP TABLE sd_src;
