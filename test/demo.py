#!/usr/bin/python3
"""hnswsearch end-to-end demo: load embedding-like vectors, then run top-k searches.

The vectors are clustered by default (a Gaussian mixture: 50 topics, each
varying along a few directions of its own, as embeddings of a corpus do), and
the queries are new draws from the same mixture; --data random gives uniform
random vectors instead, the hardest case for any graph index and one no real
data has.

Connects with the libpq environment (PGHOST, PGPORT, PGUSER, PGDATABASE);
`make demo` starts a throwaway cluster and sets them.  Vectors travel as text
literals '[x,y,...]'::vector.

By default an hnsw index is created before loading, so the progress line
measures indexing, the indexed count comes from hnsw_index_info() (the
original service's /status), and 1,000 top-100 searches run on the index;
a sample of them is checked against exact search for recall.  With --exact
there is no index and 100 exact searches run.
"""
import argparse
import sys
import time

import numpy as np
import psycopg


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=10_000)
    p.add_argument("--dim", type=int, default=512)
    p.add_argument("--batch", type=int, default=100, help="rows per INSERT")
    p.add_argument("--queries", type=int, help="default: 1000, or 100 with --exact")
    p.add_argument("-k", type=int, default=100, help="neighbours per search")
    p.add_argument("--exact", action="store_true", help="no index: exact searches")
    p.add_argument("--ef-search", type=int, default=200, help="hnsw.ef_search")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--data", choices=("clustered", "random"), default="clustered",
                   help="clustered: a Gaussian mixture (default); random: uniform in [0,1)")
    args = p.parse_args()
    args.index = not args.exact
    if args.queries is None:
        args.queries = 1000 if args.index else 100
    return args


class Data:
    """Draws rows and queries: from a fixed Gaussian mixture, or uniformly.

    Mixture: 50 centres on the unit sphere; around each, most of the spread
    lies in a few (48) directions of its own, with decaying variance, plus a
    little noise in all of them: real embeddings vary along far fewer
    directions than they have coordinates.  Queries are fresh draws, not rows.
    """

    def __init__(self, rng, args, clusters=50, directions=48):
        self.rng, self.kind, self.dim = rng, args.data, args.dim
        if self.kind == "clustered":
            c = rng.standard_normal((clusters, args.dim))
            self.centres = c / np.linalg.norm(c, axis=1, keepdims=True)
            basis = rng.standard_normal((clusters, directions, args.dim)) / np.sqrt(args.dim)
            scale = 0.5 * 0.95 ** np.arange(directions)
            self.basis = basis * scale[None, :, None]
            self.noise = 0.05 / np.sqrt(args.dim)

    def draw(self, n):
        if self.kind == "random":
            return self.rng.random((n, self.dim), dtype=np.float32)
        which = self.rng.integers(0, len(self.centres), n)
        z = self.rng.standard_normal((n, self.basis.shape[1]))
        rows = self.centres[which] + np.einsum("nk,nkd->nd", z, self.basis[which])
        rows += self.rng.standard_normal((n, self.dim)) * self.noise
        return rows.astype(np.float32)


def literal(v):
    """numpy row -> pgvector text literal."""
    return "[" + ",".join(f"{x:.7g}" for x in v.tolist()) + "]"


class Progress:
    """One-line progress: redrawn in place on a terminal, every 10% otherwise."""

    def __init__(self, label, total):
        self.label, self.total = label, total
        self.tty = sys.stdout.isatty()
        self.next_pct = 10

    def update(self, done):
        if self.tty:
            filled = 30 * done // self.total
            bar = "#" * filled + "." * (30 - filled)
            end = "\n" if done == self.total else ""
            print(f"\r[{bar}] {self.label} {done}/{self.total}", end=end, flush=True)
        elif 100 * done >= self.next_pct * self.total:
            print(f"{self.label} {done}/{self.total}", flush=True)
            self.next_pct = 100 * done // self.total + 10


def setup_schema(conn, args):
    conn.execute("CREATE EXTENSION IF NOT EXISTS hnswsearch")
    conn.execute("DROP TABLE IF EXISTS items")
    conn.execute(f"CREATE TABLE items (id bigserial PRIMARY KEY, embedding vector({args.dim}))")
    if args.index:
        conn.execute("CREATE INDEX items_embedding_idx ON items USING hnsw (embedding vector_l2_ops)")


def load(conn, data, args):
    progress = Progress("indexed" if args.index else "inserted", args.rows)
    start = time.perf_counter()
    with conn.cursor() as cur:
        for lo in range(0, args.rows, args.batch):
            n = min(args.batch, args.rows - lo)
            rows = data.draw(n)
            values = ",".join(["(%s::vector)"] * n)
            cur.execute(f"INSERT INTO items (embedding) VALUES {values}",
                        [literal(r) for r in rows])
            conn.commit()
            progress.update(lo + n)
    elapsed = time.perf_counter() - start
    print(f"loaded {args.rows} {args.data} vectors of dim {args.dim} in {elapsed:.2f} s "
          f"({args.rows / elapsed:.0f} rows/s)")


def recall(conn, queries, args):
    """Share of the exact top-k the index returned, over a few queries."""
    sql = "SELECT id FROM items ORDER BY embedding <-> %s::vector LIMIT %s"
    hits = 0
    for q in queries:
        got = {r[0] for r in conn.execute(sql, (literal(q), args.k))}
        conn.execute("SET enable_indexscan = off")
        exact = {r[0] for r in conn.execute(sql, (literal(q), args.k))}
        conn.execute("RESET enable_indexscan")
        hits += len(got & exact)
    return hits / (len(queries) * args.k)


def search(conn, data, args):
    queries = data.draw(args.queries)
    sql = "SELECT id FROM items ORDER BY embedding <-> %s::vector LIMIT %s"
    if args.index:
        conn.execute(f"SET hnsw.ef_search = {args.ef_search}")
    with conn.cursor() as cur:  # show whether the planner picks the index
        cur.execute("EXPLAIN (COSTS OFF) " + sql, (literal(queries[0]), args.k))
        nodes = [r[0].strip(" ->") for r in cur.fetchall() if ":" not in r[0]]
    print("plan:", " / ".join(nodes))
    kind = "index" if any(n.startswith("Index Scan") for n in nodes) else "exact"
    start = time.perf_counter()
    with conn.cursor() as cur:
        for q in queries:
            cur.execute(sql, (literal(q), args.k))
            found = cur.fetchall()
            if len(found) != min(args.k, args.rows):
                sys.exit(f"search returned {len(found)} rows, expected {args.k}")
    elapsed = time.perf_counter() - start
    print(f"{args.queries} {kind} top-{args.k} searches: {elapsed:.3f} s total, "
          f"{1000 * elapsed / args.queries:.2f} ms/query")
    if args.index:
        print(f"recall@{args.k} against exact search (20 queries, "
              f"ef_search={args.ef_search}, {args.data} data): "
              f"{recall(conn, queries[:20], args):.3f}")


def main():
    args = parse_args()
    data = Data(np.random.default_rng(args.seed), args)
    with psycopg.connect() as conn:  # libpq reads PG* from the environment
        setup_schema(conn, args)
        conn.commit()
        load(conn, data, args)
        if args.index:
            count = conn.execute("SELECT count_active FROM "
                                 "hnsw_index_info('items_embedding_idx')").fetchone()[0]
            print(f"Indexed {count} documents (hnsw_index_info)")
        else:
            count = conn.execute("SELECT count(*) FROM items").fetchone()[0]
            print(f"count(*) = {count}")
        if count != args.rows:
            sys.exit(f"expected {args.rows} rows")
        search(conn, data, args)


if __name__ == "__main__":
    main()
