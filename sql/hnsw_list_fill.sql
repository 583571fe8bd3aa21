-- Neighbour lists are filled: after the selection heuristic, the room left
-- in a list holds the nearest candidates it pruned (marked as fillers), so
-- a level-0 list of 2m slots is mostly full on clustered data, whether the
-- graph was built by CREATE INDEX or grew by INSERT.  hnsw_index_check
-- counts the edges of every level (and checks order and marks).
SET jit = off;
SELECT setseed(0.5);
CREATE TABLE fill_c AS SELECT c, ARRAY(SELECT random() * 4 - 2 FROM generate_series(1, 8) WHERE c > 0)::float8[] AS cv
	FROM generate_series(1, 20) c;
CREATE TABLE fill (id int, v vector(8));
INSERT INTO fill SELECT i, (SELECT ARRAY(SELECT x + (random() - 0.5) * 0.4 FROM unnest(cv) x) FROM fill_c WHERE c = 1 + i % 20)::vector
	FROM generate_series(1, 3000) i;
CREATE INDEX fill_idx ON fill USING hnsw (v vector_l2_ops) WITH (m = 8, ef_construction = 32);
-- level-0 capacity is 16 edges; lists pruned but not filled held about 11
SELECT elements, active, edges::float8 / elements >= 13 AS filled, reachable = active AS all_reached
	FROM hnsw_index_check('fill_idx');
CREATE TABLE fill_ins (id int, v vector(8));
CREATE INDEX fill_ins_idx ON fill_ins USING hnsw (v vector_l2_ops) WITH (m = 8, ef_construction = 32);
INSERT INTO fill_ins SELECT * FROM fill;
SELECT elements, active, edges::float8 / elements >= 13 AS filled, reachable = active AS all_reached
	FROM hnsw_index_check('fill_ins_idx');
-- VACUUM's repairs do not fill (see src/README.md 7): lists stay mostly full
DELETE FROM fill_ins WHERE id % 5 = 0;
VACUUM fill_ins;
SELECT elements, active, edges::float8 / active >= 13 AS filled, reachable = active AS all_reached
	FROM hnsw_index_check('fill_ins_idx');
DROP TABLE fill, fill_c, fill_ins;
