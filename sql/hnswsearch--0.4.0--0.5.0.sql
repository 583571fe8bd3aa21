\echo Use "ALTER EXTENSION hnswsearch UPDATE TO '0.5.0'" to load this file. \quit

-- sq8 and sq4 indexes train centroids at build, and hnsw_index_info gains
-- the OUT column centroids.  OUT columns cannot be added in place, so the
-- function is dropped and created again; nothing in the extension depends
-- on it.

DROP FUNCTION hnsw_index_info(regclass);

-- count_*: table rows (heap TIDs), as the original service counted
-- documents; elements*: index elements, each holding up to 8 identical rows;
-- storage: the index's storage option, bytes_per_vector what an element's
-- vector (or code) takes; centroids: the centroids an sq8 or sq4 index
-- trained at build (0: none)
CREATE FUNCTION hnsw_index_info(index regclass,
	OUT count_indexed bigint, OUT count_deleted bigint, OUT count_active bigint,
	OUT elements bigint, OUT elements_deleted bigint, OUT elements_active bigint,
	OUT dimensions integer, OUT m integer,
	OUT ef_construction integer, OUT max_level integer, OUT pages bigint,
	OUT bytes bigint, OUT format_version integer,
	OUT storage text, OUT bytes_per_vector integer, OUT centroids integer)
	AS 'MODULE_PATHNAME' LANGUAGE C STRICT VOLATILE PARALLEL SAFE;
