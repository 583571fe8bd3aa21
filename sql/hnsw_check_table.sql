-- hnsw_index_check's table pass (heapallindexed) on sound indexes: the
-- exact number of table rows it verifies (table_rows) through HOT and
-- non-HOT updates, deletes before and after VACUUM, rows sharing an
-- element, NULL vectors, zero vectors under cosine, partial and expression
-- indexes, and rows the checking transaction inserted itself.  Then the
-- refusals: no privilege, a partitioned index, an index of another access
-- method, not an index.
-- Every table has autovacuum off so that only the VACUUMs here change it.
SET jit = off;

CREATE TABLE ct (id int PRIMARY KEY, note text, v vector(3))
	WITH (autovacuum_enabled = off);
INSERT INTO ct SELECT i, 'x', ARRAY[i % 17, i % 5, -i]
	FROM generate_series(1, 500) i;
-- 20 rows of one vector: elements of 8, 8 and 4 rows
INSERT INTO ct SELECT 1000 + i, 'dup', '[9,9,9]' FROM generate_series(1, 20) i;
-- NULL vectors are not indexed
INSERT INTO ct SELECT 2000 + i, 'null', NULL FROM generate_series(1, 7) i;
CREATE INDEX ct_v_idx ON ct USING hnsw (v vector_l2_ops)
	WITH (m = 4, ef_construction = 16);
SELECT elements, active, deleted, table_rows
	FROM hnsw_index_check('ct_v_idx', heapallindexed => true);
-- without the table pass table_rows is NULL; the default is false
SELECT elements, table_rows IS NULL AS no_table_pass
	FROM hnsw_index_check('ct_v_idx');
SELECT elements, table_rows IS NULL AS no_table_pass
	FROM hnsw_index_check('ct_v_idx', false);
-- STRICT: a NULL argument gives a NULL row
SELECT table_rows IS NULL AS null_row FROM hnsw_index_check('ct_v_idx', NULL);

-- HOT updates keep the root TID, vector updates add a row, deletes leave
-- their rows in the index until VACUUM: 520 - 10 deleted
UPDATE ct SET note = 'hot' WHERE id <= 50;
UPDATE ct SET v = ARRAY[id, 1, 1] WHERE id BETWEEN 51 AND 60;
DELETE FROM ct WHERE id BETWEEN 61 AND 70;
UPDATE ct SET note = 'hot dup' WHERE id BETWEEN 1001 AND 1004;
SELECT table_rows FROM hnsw_index_check('ct_v_idx', true);
VACUUM ct;
SELECT table_rows, active <= elements AS ok FROM hnsw_index_check('ct_v_idx', true);
-- and again after slots were reused
INSERT INTO ct SELECT i, 'again', ARRAY[i, 2, 2] FROM generate_series(61, 70) i;
SELECT table_rows FROM hnsw_index_check('ct_v_idx', true);

-- the rows of the checking transaction's own inserts are in the index
BEGIN;
INSERT INTO ct VALUES (5000, 'tx', '[1,2,3]'), (5001, 'tx', NULL);
SELECT table_rows FROM hnsw_index_check('ct_v_idx', true);
ROLLBACK;

-- partial index: rows with id < 100 and a vector (10 deleted, 10 inserted)
CREATE INDEX ct_v_part ON ct USING hnsw (v vector_l2_ops) WHERE id < 100;
SELECT table_rows FROM hnsw_index_check('ct_v_part', true);
-- expression index: the index holds v + [1,1,1]
CREATE INDEX ct_v_expr ON ct USING hnsw ((v + '[1,1,1]') vector_l2_ops);
SELECT table_rows FROM hnsw_index_check('ct_v_expr', true);
SELECT count(*) FROM ct WHERE v IS NOT NULL;

-- cosine: the index stores normalised vectors, zero vectors not at all;
-- rows whose vectors normalise alike share elements
CREATE TABLE cc (id int, v vector(2)) WITH (autovacuum_enabled = off);
INSERT INTO cc SELECT i, ARRAY[i % 10, (i * 7) % 10] FROM generate_series(0, 99) i;
INSERT INTO cc VALUES (100, '[0,0]'), (101, NULL);
CREATE INDEX cc_v_idx ON cc USING hnsw (v vector_cosine_ops);
SELECT table_rows, elements <= table_rows AS shared
	FROM hnsw_index_check('cc_v_idx', true);
SELECT count(*) FROM cc WHERE v IS NOT NULL AND v <> '[0,0]';
-- inner product and L1 hold vectors as given
CREATE INDEX cc_v_ip ON cc USING hnsw (v vector_ip_ops);
CREATE INDEX cc_v_l1 ON cc USING hnsw (v vector_l1_ops);
SELECT table_rows FROM hnsw_index_check('cc_v_ip', true);
SELECT table_rows FROM hnsw_index_check('cc_v_l1', true);

-- an empty table and index
CREATE TABLE ce (v vector(4));
CREATE INDEX ce_v_idx ON ce USING hnsw (v vector_l2_ops);
SELECT elements, table_rows FROM hnsw_index_check('ce_v_idx', true);

-- ---------------------------------------------------------------------
-- refusals, decided before any lock
-- ---------------------------------------------------------------------
CREATE ROLE regress_hnsw_check_nosel;
SET ROLE regress_hnsw_check_nosel;
SELECT * FROM hnsw_index_check('ct_v_idx', true);
SELECT * FROM hnsw_index_check('ct_v_idx');
SELECT * FROM hnsw_index_info('ct_v_idx');
RESET ROLE;
DROP ROLE regress_hnsw_check_nosel;

CREATE TABLE cp (id int, v vector(2)) PARTITION BY RANGE (id);
CREATE TABLE cp1 PARTITION OF cp FOR VALUES FROM (0) TO (10);
CREATE TABLE cp2 PARTITION OF cp FOR VALUES FROM (10) TO (20);
INSERT INTO cp SELECT i, ARRAY[i, 1] FROM generate_series(0, 19) i;
CREATE INDEX cp_v_idx ON cp USING hnsw (v vector_l2_ops);
CREATE INDEX cp_id_idx ON cp (id);
SELECT * FROM hnsw_index_check('cp_v_idx', true);
SELECT * FROM hnsw_index_info('cp_v_idx');
SELECT * FROM hnsw_index_check('cp_id_idx');
-- the hint's query
SELECT p.relid, c.active, c.table_rows
	FROM pg_partition_tree('public.cp_v_idx') p,
		LATERAL hnsw_index_check(p.relid, true) c
	WHERE p.isleaf ORDER BY p.relid::text;

SELECT * FROM hnsw_index_check('ct_pkey', true);
SELECT * FROM hnsw_index_check('ct', true);
SELECT * FROM hnsw_index_check('cp', true);

DROP TABLE ct, cc, ce, cp;
