\echo Use "ALTER EXTENSION hnswsearch UPDATE TO '0.3.0'" to load this file. \quit

-- hnsw_index_check gains the argument heapallindexed (default false: the
-- checks of 0.2.0) and the OUT column table_rows: with heapallindexed, every
-- row of the table the index should hold is looked up in the index and its
-- vector compared, and table_rows counts them.  Arguments and OUT columns
-- cannot be changed in place, so the function is dropped and created
-- again; nothing in the extension depends on it.

DROP FUNCTION hnsw_index_check(regclass);

-- heapallindexed: also check that every row of the table the index should
-- hold is in it, with the same vector; table_rows counts them (NULL without)
CREATE FUNCTION hnsw_index_check(index regclass,
	heapallindexed boolean DEFAULT false,
	OUT elements bigint, OUT active bigint, OUT deleted bigint,
	OUT edges bigint, OUT reachable bigint, OUT pages bigint,
	OUT table_rows bigint)
	AS 'MODULE_PATHNAME' LANGUAGE C STRICT VOLATILE PARALLEL SAFE;
