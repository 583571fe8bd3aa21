#!/usr/bin/perl
# make_pgvector_dump.pl [ROWS]: prints, on stdout, a plain-format dump of a
# small pgvector database as pg_dump 15 writes one (its statements, order,
# quoting and schema qualification): extension "vector" with pgvector's
# comment, a table with a serial key, vector(3) and vector(8) columns, a
# text column and NULL vectors, its rows in COPY, and hnsw indexes with
# each operator class, options written as pg_dump writes reloptions.
#
# Written from SQL by this script (not a binary archive) so that the test
# reads what it restores; TAP test 051 restores it where hnswsearch is
# installed under the name vector (make install-as-vector).  The rows are
# deterministic (a fixed linear congruential sequence), so the expected
# results can be recomputed from the file.
use strict;
use warnings;

my $rows = shift // 500;
my $seed = 12345;

# next pseudo-random value in [-1, 1), rounded to 4 decimals as a client's
# float formatting might leave it
sub draw
{
	$seed = ($seed * 1103515245 + 12345) % 2147483648;
	return sprintf('%.4f', $seed / 1073741824 - 1) + 0;
}

sub vec_text
{
	my ($dim) = @_;
	return '[' . join(',', map { draw() } 1 .. $dim) . ']';
}

print <<'HEAD';
--
-- PostgreSQL database dump
--

-- Dumped from database version 15.8 (Debian 15.8-1.pgdg120+1)
-- Dumped by pg_dump version 15.8 (Debian 15.8-1.pgdg120+1)

SET statement_timeout = 0;
SET lock_timeout = 0;
SET idle_in_transaction_session_timeout = 0;
SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;
SELECT pg_catalog.set_config('search_path', '', false);
SET check_function_bodies = false;
SET xmloption = content;
SET client_min_messages = warning;
SET row_security = off;

--
-- Name: vector; Type: EXTENSION; Schema: -; Owner: -
--

CREATE EXTENSION IF NOT EXISTS vector WITH SCHEMA public;


--
-- Name: EXTENSION vector; Type: COMMENT; Schema: -; Owner: 
--

COMMENT ON EXTENSION vector IS 'vector data type and ivfflat and hnsw access methods';


SET default_tablespace = '';

SET default_table_access_method = heap;

--
-- Name: items; Type: TABLE; Schema: public; Owner: postgres
--

CREATE TABLE public.items (
    id bigint NOT NULL,
    embedding public.vector(3),
    small public.vector(8),
    content text
);


ALTER TABLE public.items OWNER TO postgres;

--
-- Name: items_id_seq; Type: SEQUENCE; Schema: public; Owner: postgres
--

CREATE SEQUENCE public.items_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


ALTER TABLE public.items_id_seq OWNER TO postgres;

--
-- Name: items_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: postgres
--

ALTER SEQUENCE public.items_id_seq OWNED BY public.items.id;


--
-- Name: items id; Type: DEFAULT; Schema: public; Owner: postgres
--

ALTER TABLE ONLY public.items ALTER COLUMN id SET DEFAULT nextval('public.items_id_seq'::regclass);


--
-- Data for Name: items; Type: TABLE DATA; Schema: public; Owner: postgres
--

COPY public.items (id, embedding, small, content) FROM stdin;
HEAD

for my $id (1 .. $rows)
{
	my $e = $id % 97 == 0 ? '\N' : vec_text(3);
	my $s = $id % 89 == 0 ? '\N' : vec_text(8);
	print "$id\t$e\t$s\tdocument $id\n";
}

print <<"TAIL";
\\.


--
-- Name: items_id_seq; Type: SEQUENCE SET; Schema: public; Owner: postgres
--

SELECT pg_catalog.setval('public.items_id_seq', $rows, true);


--
-- Name: items items_pkey; Type: CONSTRAINT; Schema: public; Owner: postgres
--

ALTER TABLE ONLY public.items
    ADD CONSTRAINT items_pkey PRIMARY KEY (id);


--
-- Name: items_embedding_idx; Type: INDEX; Schema: public; Owner: postgres
--

CREATE INDEX items_embedding_idx ON public.items USING hnsw (embedding public.vector_l2_ops) WITH (m='16', ef_construction='64');


--
-- Name: items_embedding_idx1; Type: INDEX; Schema: public; Owner: postgres
--

CREATE INDEX items_embedding_idx1 ON public.items USING hnsw (embedding public.vector_cosine_ops);


--
-- Name: items_small_idx; Type: INDEX; Schema: public; Owner: postgres
--

CREATE INDEX items_small_idx ON public.items USING hnsw (small public.vector_ip_ops) WITH (m='8');


--
-- Name: items_small_idx1; Type: INDEX; Schema: public; Owner: postgres
--

CREATE INDEX items_small_idx1 ON public.items USING hnsw (small public.vector_l1_ops) WITH (ef_construction='40');


--
-- PostgreSQL database dump complete
--

TAIL
