\echo Use "ALTER EXTENSION hnswsearch UPDATE TO '0.4.0'" to load this file. \quit

-- The hnsw index gains the storage option (float4, half, sq8, sq4), and
-- hnsw_index_info the OUT columns storage and bytes_per_vector.  OUT
-- columns cannot be added in place, so the function is dropped and created
-- again; nothing in the extension depends on it.

DROP FUNCTION hnsw_index_info(regclass);

-- count_*: table rows (heap TIDs), as the original service counted
-- documents; elements*: index elements, each holding up to 8 identical rows;
-- storage: the index's storage option, bytes_per_vector what an element's
-- vector (or code) takes
CREATE FUNCTION hnsw_index_info(index regclass,
	OUT count_indexed bigint, OUT count_deleted bigint, OUT count_active bigint,
	OUT elements bigint, OUT elements_deleted bigint, OUT elements_active bigint,
	OUT dimensions integer, OUT m integer,
	OUT ef_construction integer, OUT max_level integer, OUT pages bigint,
	OUT bytes bigint, OUT format_version integer,
	OUT storage text, OUT bytes_per_vector integer)
	AS 'MODULE_PATHNAME' LANGUAGE C STRICT VOLATILE PARALLEL SAFE;
