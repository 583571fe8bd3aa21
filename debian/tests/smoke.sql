-- Smoke test of an installed hnswsearch: create the extension, build an hnsw
-- index on 100 rows and run one ordered query through it.  Fails (psql with
-- ON_ERROR_STOP) when the extension cannot be created, the planner does not
-- use the index, or the answer is wrong.  Run by debian/rules at build time
-- (pg_buildext psql) and by test/deb_test.sh against the installed package.
CREATE EXTENSION hnswsearch;
SELECT extversion FROM pg_extension WHERE extname = 'hnswsearch';
CREATE TABLE smoke_items (id int PRIMARY KEY, embedding vector(3));
INSERT INTO smoke_items
  SELECT i, format('[%s,%s,%s]', i, i % 7, i % 3)::vector FROM generate_series(1, 100) i;
CREATE INDEX smoke_items_hnsw ON smoke_items USING hnsw (embedding vector_l2_ops);
DO $$
DECLARE
  line text;
  plan text := '';
  got int[];
BEGIN
  SET LOCAL enable_seqscan = off;
  FOR line IN EXECUTE
    'EXPLAIN (COSTS OFF) SELECT id FROM smoke_items ORDER BY embedding <-> ''[50,1,2]'' LIMIT 3'
  LOOP
    plan := plan || line || E'\n';
  END LOOP;
  IF plan NOT LIKE '%Index Scan using smoke_items_hnsw%' THEN
    RAISE EXCEPTION 'the ordered query does not use the hnsw index:%', E'\n' || plan;
  END IF;
  -- [50,1,2] itself, then [49,0,1] at distance sqrt(3), then [51,2,0] at sqrt(6)
  SELECT array_agg(id) INTO got FROM
    (SELECT id FROM smoke_items ORDER BY embedding <-> '[50,1,2]' LIMIT 3) s;
  IF got IS DISTINCT FROM ARRAY[50, 49, 51] THEN
    RAISE EXCEPTION 'nearest 3 to [50,1,2] through the index: %, expected {50,49,51}', got;
  END IF;
  RAISE NOTICE 'hnswsearch smoke test passed: % through smoke_items_hnsw', got;
END
$$;
DROP TABLE smoke_items;
DROP EXTENSION hnswsearch;
