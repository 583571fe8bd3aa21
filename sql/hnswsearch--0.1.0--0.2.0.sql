\echo Use "ALTER EXTENSION hnswsearch UPDATE TO '0.2.0'" to load this file. \quit

-- hnsw_index_info: count_indexed, count_deleted and count_active now count
-- table rows (heap TIDs) rather than index elements; the element counts
-- move to elements, elements_deleted and elements_active, and heap_tids
-- (the same figure as the new count_active) goes.  OUT columns cannot be
-- changed in place, so the function is dropped and created again; nothing
-- in the extension depends on it.

DROP FUNCTION hnsw_index_info(regclass);

-- count_*: table rows (heap TIDs), as the original service counted
-- documents; elements*: index elements, each holding up to 8 identical rows
CREATE FUNCTION hnsw_index_info(index regclass,
	OUT count_indexed bigint, OUT count_deleted bigint, OUT count_active bigint,
	OUT elements bigint, OUT elements_deleted bigint, OUT elements_active bigint,
	OUT dimensions integer, OUT m integer,
	OUT ef_construction integer, OUT max_level integer, OUT pages bigint,
	OUT bytes bigint, OUT format_version integer)
	AS 'MODULE_PATHNAME' LANGUAGE C STRICT VOLATILE PARALLEL SAFE;
