-- hnsw maintenance: hnsw_index_info and hnsw_index_check on empty, small,
-- deleted-from and vacuumed indexes; deleted and updated rows are never
-- returned; UPDATEs that keep the vector attach their TID to the existing
-- element; TRUNCATE, REINDEX; the permission and index-kind checks.
--
-- Counts are printed exactly; max_level and edges are not (element levels
-- are random), nor pages except for indexes small enough to fit one page.
-- Every table has autovacuum off so that only the VACUUMs here change it.
-- (enable_seqscan = off inflates plan costs past jit_above_cost)
SET jit = off;

-- ---------------------------------------------------------------------
-- empty index
-- ---------------------------------------------------------------------
CREATE TABLE mt (id int PRIMARY KEY, tag int, v vector(3))
	WITH (autovacuum_enabled = off);
CREATE INDEX mt_v_idx ON mt USING hnsw (v vector_l2_ops)
	WITH (m = 4, ef_construction = 16);
SELECT * FROM hnsw_index_info('mt_v_idx');
SELECT * FROM hnsw_index_check('mt_v_idx');

-- ---------------------------------------------------------------------
-- small index: 10 rows, one graph page
-- ---------------------------------------------------------------------
INSERT INTO mt SELECT i, i, ARRAY[i, (i * i) % 11, i % 3]
	FROM generate_series(1, 10) i;
SELECT count_indexed, count_deleted, count_active, elements, elements_deleted,
	elements_active, dimensions, m,
	ef_construction, max_level >= 0 AS has_levels, pages, bytes, format_version,
	count_indexed = count_active + count_deleted AND
	elements = elements_active + elements_deleted AS sums
	FROM hnsw_index_info('mt_v_idx');
SELECT elements, active, deleted, edges > 0 AS has_edges, reachable, pages
	FROM hnsw_index_check('mt_v_idx');

-- the same from CREATE INDEX over the loaded rows, default options
CREATE INDEX mt_v_idx2 ON mt USING hnsw (v vector_l2_ops);
SELECT count_indexed, count_deleted, count_active, elements, elements_deleted,
	elements_active, dimensions, m,
	ef_construction, pages, format_version
	FROM hnsw_index_info('mt_v_idx2');
SELECT elements, active, deleted, reachable, pages
	FROM hnsw_index_check('mt_v_idx2');
DROP INDEX mt_v_idx2;

-- an index on an unconstrained vector column learns its dimensions from
-- the first row
CREATE TABLE mtu (v vector) WITH (autovacuum_enabled = off);
CREATE INDEX mtu_idx ON mtu USING hnsw (v vector_l2_ops);
SELECT count_indexed, elements, dimensions, pages FROM hnsw_index_info('mtu_idx');
INSERT INTO mtu VALUES ('[1,2,3,4,5]'), ('[5,4,3,2,1]'), (NULL);
SELECT count_indexed, count_active, elements, elements_active, dimensions
	FROM hnsw_index_info('mtu_idx');
SELECT elements, active, reachable FROM hnsw_index_check('mtu_idx');
DROP TABLE mtu;

-- ---------------------------------------------------------------------
-- DELETE: deleted rows are never returned, before and after VACUUM
-- ---------------------------------------------------------------------
SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT id FROM mt ORDER BY v <-> '[0,0,0]' LIMIT 3;
SELECT array_agg(id) FROM (SELECT id FROM mt ORDER BY v <-> '[0,0,0]') s;
DELETE FROM mt WHERE id IN (1, 2, 7);
-- a scan over the whole graph (no LIMIT) returns the 7 others, in order
SELECT array_agg(id) FROM (SELECT id FROM mt ORDER BY v <-> '[0,0,0]') s;
SELECT array_agg(id) FROM (SELECT id FROM mt ORDER BY v <-> '[0,0,0]' LIMIT 3) s;
SELECT array_agg(id) FROM (SELECT id FROM mt ORDER BY v <-> '[7.1,5,1]' LIMIT 1) s;
-- the elements stay until VACUUM (scans may hint them DEAD meanwhile)
SELECT count_indexed, count_deleted <= 3 AS deleted_le_3, elements,
	elements_deleted <= 3 AS elements_deleted_le_3,
	count_indexed = count_active + count_deleted AND
	elements = elements_active + elements_deleted AS sums
	FROM hnsw_index_info('mt_v_idx');
VACUUM mt;
-- VACUUM's count of index tuples: the live heap TIDs
SELECT reltuples FROM pg_class WHERE relname = 'mt_v_idx';
SELECT count_indexed, count_deleted, count_active, elements, elements_deleted,
	elements_active, pages,
	count_indexed = count_active + count_deleted AND
	elements = elements_active + elements_deleted AS sums
	FROM hnsw_index_info('mt_v_idx');
SELECT elements, active, deleted, reachable, pages
	FROM hnsw_index_check('mt_v_idx');
SELECT array_agg(id) FROM (SELECT id FROM mt ORDER BY v <-> '[0,0,0]') s;
SELECT array_agg(id) FROM (SELECT id FROM mt ORDER BY v <-> '[7.1,5,1]' LIMIT 2) s;
-- new rows take the 3 freed slots
INSERT INTO mt SELECT i, i, ARRAY[i, (i * i) % 11, i % 3]
	FROM generate_series(11, 13) i;
SELECT count_indexed, count_deleted, count_active, elements, elements_deleted,
	elements_active, pages
	FROM hnsw_index_info('mt_v_idx');
SELECT elements, active, deleted, reachable FROM hnsw_index_check('mt_v_idx');
SELECT array_agg(id) FROM (SELECT id FROM mt ORDER BY v <-> '[0,0,0]') s;
-- deleting every row, then VACUUM: an empty graph without entry point
DELETE FROM mt;
SELECT count(*) FROM (SELECT id FROM mt ORDER BY v <-> '[0,0,0]') s;
VACUUM mt;
SELECT count_indexed, count_deleted, count_active, elements, elements_deleted,
	elements_active, max_level
	FROM hnsw_index_info('mt_v_idx');
SELECT elements, active, deleted, reachable FROM hnsw_index_check('mt_v_idx');
SELECT count(*) FROM (SELECT id FROM mt ORDER BY v <-> '[0,0,0]') s;
-- and the graph starts again, in the freed slots (the first element too)
INSERT INTO mt VALUES (1, 1, '[1,1,1]'), (2, 2, '[2,2,2]');
SELECT count_indexed, count_deleted, count_active, elements, elements_deleted,
	elements_active
	FROM hnsw_index_info('mt_v_idx');
SELECT elements, active, deleted, reachable FROM hnsw_index_check('mt_v_idx');
SELECT array_agg(id) FROM (SELECT id FROM mt ORDER BY v <-> '[0,0,0]') s;

-- ---------------------------------------------------------------------
-- a larger graph: 1,000 points of a 2-d grid, a third deleted
-- ---------------------------------------------------------------------
CREATE TABLE mg (id int PRIMARY KEY, v vector(2))
	WITH (autovacuum_enabled = off);
INSERT INTO mg SELECT i, ARRAY[i % 40, i / 40 + (i % 7) * 0.01]
	FROM generate_series(0, 999) i;
CREATE INDEX mg_v_idx ON mg USING hnsw (v vector_l2_ops);
SELECT count_indexed, count_deleted, count_active, elements, elements_deleted,
	elements_active
	FROM hnsw_index_info('mg_v_idx');
SELECT elements, active, deleted, reachable FROM hnsw_index_check('mg_v_idx');
DELETE FROM mg WHERE id % 3 = 0;
-- full scans return exactly the live rows, before and after VACUUM
SELECT count(*), count(*) FILTER (WHERE id % 3 = 0) AS deleted_returned
	FROM (SELECT id FROM mg ORDER BY v <-> '[20,12]') s;
SELECT count(*) FILTER (WHERE id % 3 = 0) AS deleted_returned
	FROM (SELECT id FROM mg ORDER BY v <-> '[3,3]' LIMIT 50) s;
VACUUM mg;
SELECT reltuples FROM pg_class WHERE relname = 'mg_v_idx';
SELECT count_indexed, count_deleted, count_active, elements, elements_deleted,
	elements_active,
	count_indexed = count_active + count_deleted AND
	elements = elements_active + elements_deleted AS sums
	FROM hnsw_index_info('mg_v_idx');
SELECT elements, active, deleted, reachable FROM hnsw_index_check('mg_v_idx');
SELECT count(*), count(*) FILTER (WHERE id % 3 = 0) AS deleted_returned
	FROM (SELECT id FROM mg ORDER BY v <-> '[20,12]') s;
-- the top 10 through the index equal brute force, for a few queries
CREATE TEMP TABLE mgq AS
	SELECT q, ARRAY[q * 3.7 % 40, q * 1.9 % 25]::vector(2) AS v
	FROM generate_series(1, 20) q;
CREATE TEMP TABLE mg_exact AS
	SELECT q.q, (SELECT array_agg(id ORDER BY d, id) FROM
		(SELECT id, mg.v <-> q.v AS d FROM mg ORDER BY d, id LIMIT 10) s) AS ids
	FROM mgq q;
SELECT count(*) AS queries_differing FROM mgq q JOIN mg_exact e USING (q)
	WHERE (SELECT array_agg(id ORDER BY d, id) FROM
		(SELECT id, mg.v <-> q.v AS d FROM mg ORDER BY mg.v <-> q.v LIMIT 10) s)
		IS DISTINCT FROM e.ids;
-- new rows reuse the freed slots: at most a tenth of them need a new slot
-- (an element of a level no freed slot on a full page had cannot use one)
INSERT INTO mg SELECT i, ARRAY[i % 40 + 0.5, i / 40 + 0.5]
	FROM generate_series(0, 999) i WHERE i % 3 = 0;
SELECT elements <= 1000 + 33 AS slots_reused, count_indexed, count_active,
	elements_active
	FROM hnsw_index_info('mg_v_idx');
SELECT active, reachable FROM hnsw_index_check('mg_v_idx');
SELECT count(*) FROM (SELECT id FROM mg ORDER BY v <-> '[20,12]') s;
DROP TABLE mg;

-- ---------------------------------------------------------------------
-- UPDATE of vectors: the old vector is never found again
-- ---------------------------------------------------------------------
TRUNCATE mt;
SELECT count_indexed, count_deleted, count_active, elements, elements_deleted,
	elements_active, pages
	FROM hnsw_index_info('mt_v_idx');
SELECT elements, active, reachable, pages FROM hnsw_index_check('mt_v_idx');
INSERT INTO mt SELECT i, i, ARRAY[i, 0, 0] FROM generate_series(1, 10) i;
UPDATE mt SET v = ARRAY[100 + id, 0, 0] WHERE id <= 3;
-- near the old positions only rows 4.. ; near the new ones rows 1..3
SELECT array_agg(id) FROM (SELECT id FROM mt ORDER BY v <-> '[1,0,0]' LIMIT 3) s;
SELECT array_agg(id) FROM (SELECT id FROM mt ORDER BY v <-> '[101,0,0]' LIMIT 3) s;
SELECT array_agg(id) FROM (SELECT id FROM mt ORDER BY v <-> '[0,0,0]') s;
SELECT count_indexed, elements, count_indexed = count_active + count_deleted AND
	elements = elements_active + elements_deleted AS sums
	FROM hnsw_index_info('mt_v_idx');
VACUUM mt;
SELECT count_indexed, count_deleted, count_active, elements, elements_deleted,
	elements_active
	FROM hnsw_index_info('mt_v_idx');
SELECT elements, active, deleted, reachable FROM hnsw_index_check('mt_v_idx');
SELECT array_agg(id) FROM (SELECT id FROM mt ORDER BY v <-> '[0,0,0]') s;
-- an UPDATE back to a vector that a freed slot held
UPDATE mt SET v = ARRAY[id, 0, 0] WHERE id = 2;
SELECT array_agg(id) FROM (SELECT id FROM mt ORDER BY v <-> '[2,0,0]' LIMIT 3) s;
VACUUM mt;
SELECT count_indexed, count_deleted, count_active, elements, elements_deleted,
	elements_active
	FROM hnsw_index_info('mt_v_idx');
SELECT elements, active, deleted, reachable FROM hnsw_index_check('mt_v_idx');

-- ---------------------------------------------------------------------
-- UPDATE of another indexed column (not HOT): the new heap TID joins the
-- element, no new element
-- ---------------------------------------------------------------------
CREATE INDEX mt_tag_idx ON mt (tag);
UPDATE mt SET tag = tag + 100 WHERE id IN (4, 5, 6);
SELECT count_indexed, count_deleted, count_active, elements, elements_deleted,
	elements_active
	FROM hnsw_index_info('mt_v_idx');
SELECT array_agg(id) FROM (SELECT id FROM mt ORDER BY v <-> '[5.1,0,0]' LIMIT 3) s;
SELECT count(*) FROM (SELECT id FROM mt ORDER BY v <-> '[5,0,0]') s;
VACUUM mt;
SELECT count_indexed, count_deleted, count_active, elements, elements_deleted,
	elements_active
	FROM hnsw_index_info('mt_v_idx');
SELECT elements, active, deleted, reachable FROM hnsw_index_check('mt_v_idx');
-- 10 updates of one row: 8 TIDs fit one element, the rest need another
UPDATE mt SET tag = tag + 1 WHERE id = 8;
UPDATE mt SET tag = tag + 1 WHERE id = 8;
UPDATE mt SET tag = tag + 1 WHERE id = 8;
UPDATE mt SET tag = tag + 1 WHERE id = 8;
UPDATE mt SET tag = tag + 1 WHERE id = 8;
UPDATE mt SET tag = tag + 1 WHERE id = 8;
UPDATE mt SET tag = tag + 1 WHERE id = 8;
UPDATE mt SET tag = tag + 1 WHERE id = 8;
UPDATE mt SET tag = tag + 1 WHERE id = 8;
UPDATE mt SET tag = tag + 1 WHERE id = 8;
SELECT elements_active AS in_use, count_active
	FROM hnsw_index_info('mt_v_idx');
SELECT id, tag FROM mt ORDER BY v <-> '[8,0,0]' LIMIT 1;
SELECT count(*) FROM (SELECT id FROM mt ORDER BY v <-> '[8,0,0]') s;
VACUUM mt;
SELECT elements_active, count_active FROM hnsw_index_info('mt_v_idx');
SELECT active, reachable FROM hnsw_index_check('mt_v_idx');
SELECT id, tag FROM mt ORDER BY v <-> '[8,0,0]' LIMIT 1;
DROP INDEX mt_tag_idx;

-- ---------------------------------------------------------------------
-- REINDEX and REINDEX CONCURRENTLY: only live rows, nothing deleted
-- ---------------------------------------------------------------------
DELETE FROM mt WHERE id > 7;
REINDEX INDEX mt_v_idx;
SELECT count_indexed, count_deleted, count_active, elements, elements_deleted,
	elements_active, pages
	FROM hnsw_index_info('mt_v_idx');
SELECT elements, active, deleted, reachable FROM hnsw_index_check('mt_v_idx');
SELECT array_agg(id) FROM (SELECT id FROM mt ORDER BY v <-> '[0,0,0]') s;
VACUUM mt;
INSERT INTO mt VALUES (20, 20, '[20,0,0]');
REINDEX INDEX CONCURRENTLY mt_v_idx;
SELECT count_indexed, count_deleted, count_active, elements, elements_deleted,
	elements_active
	FROM hnsw_index_info('mt_v_idx');
SELECT elements, active, deleted, reachable FROM hnsw_index_check('mt_v_idx');
SELECT array_agg(id) FROM (SELECT id FROM mt ORDER BY v <-> '[0,0,0]') s;
RESET enable_seqscan;

-- ---------------------------------------------------------------------
-- who may look, and at what
-- ---------------------------------------------------------------------
CREATE ROLE regress_hnsw_maint_nosel;
SET ROLE regress_hnsw_maint_nosel;
SELECT * FROM hnsw_index_info('mt_v_idx');
SELECT * FROM hnsw_index_check('mt_v_idx');
RESET ROLE;
GRANT SELECT ON mt TO regress_hnsw_maint_nosel;
SET ROLE regress_hnsw_maint_nosel;
SELECT count_indexed FROM hnsw_index_info('mt_v_idx');
SELECT elements FROM hnsw_index_check('mt_v_idx');
RESET ROLE;
REVOKE SELECT ON mt FROM regress_hnsw_maint_nosel;
DROP ROLE regress_hnsw_maint_nosel;

-- not an hnsw index, not an index
SELECT * FROM hnsw_index_info('mt_pkey');
SELECT * FROM hnsw_index_check('mt_pkey');
SELECT * FROM hnsw_index_info('mt');
SELECT * FROM hnsw_index_check('mt');
-- an OID that names nothing: undefined_table, as for a dropped index
\set VERBOSITY sqlstate
SELECT * FROM hnsw_index_info(4294967295::oid::regclass);
\set VERBOSITY default
SELECT * FROM hnsw_index_info(4294967295::oid::regclass);
SELECT * FROM hnsw_index_info(NULL);

-- other opclasses: cosine and inner product, after deletes and VACUUM
CREATE TABLE mo (id int, v vector(2)) WITH (autovacuum_enabled = off);
INSERT INTO mo SELECT i, ARRAY[cos(i * 0.1) * (1 + i % 5), sin(i * 0.1) * (1 + i % 5)]
	FROM generate_series(1, 60) i;
CREATE INDEX mo_cos ON mo USING hnsw (v vector_cosine_ops);
CREATE INDEX mo_ip ON mo USING hnsw (v vector_ip_ops);
DELETE FROM mo WHERE id % 4 = 0;
VACUUM mo;
SELECT count_indexed, count_deleted, count_active, elements, elements_deleted,
	elements_active
	FROM hnsw_index_info('mo_cos');
SELECT count_indexed, count_deleted, count_active, elements, elements_deleted,
	elements_active
	FROM hnsw_index_info('mo_ip');
SELECT elements, active, deleted, reachable FROM hnsw_index_check('mo_cos');
SELECT elements, active, deleted FROM hnsw_index_check('mo_ip');
SET enable_seqscan = off;
SELECT count(*), count(*) FILTER (WHERE id % 4 = 0) AS deleted_returned
	FROM (SELECT id FROM mo ORDER BY v <=> '[1,0]') s;
SELECT count(*) FILTER (WHERE id % 4 = 0) AS deleted_returned
	FROM (SELECT id FROM mo ORDER BY v <#> '[1,0]' LIMIT 20) s;
RESET enable_seqscan;
DROP TABLE mo;

-- 2000 dimensions: an element fills most of a page, so its neighbour tuple
-- lives on another page; VACUUM's repairs of such lists are written one by
-- one instead of together with the page's others
CREATE TABLE mw (id int, v vector(2000)) WITH (autovacuum_enabled = off);
INSERT INTO mw SELECT i, array(SELECT sin(i * 0.37 + j * 0.011) * (1 + (i % 3))
	FROM generate_series(1, 2000) j)::vector FROM generate_series(1, 40) i;
CREATE INDEX mw_idx ON mw USING hnsw (v vector_l2_ops) WITH (m = 16, ef_construction = 32);
DELETE FROM mw WHERE id % 3 = 0;
VACUUM mw;
SELECT count_indexed, count_deleted, count_active, elements, elements_deleted,
	elements_active FROM hnsw_index_info('mw_idx');
SELECT elements, active, deleted, reachable FROM hnsw_index_check('mw_idx');
SET enable_seqscan = off;
SET hnsw.ef_search = 100;
-- as many rows as the table, in the exact order
SELECT array_agg(id) = (SELECT array_agg(id ORDER BY v <-> (SELECT v FROM mw WHERE id = 1), id) FROM mw)
	AS exact_order, count(*)
	FROM (SELECT id FROM mw ORDER BY v <-> (SELECT v FROM mw WHERE id = 1)) s;
RESET hnsw.ef_search;
RESET enable_seqscan;
DROP TABLE mw;

DROP TABLE mt;
