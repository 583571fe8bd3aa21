#!/usr/bin/python3
"""hnswsearch benchmark: the `hnsw` index access method vs exact SQL search
vs hnswlib, on a clustered synthetic set and Fashion-MNIST.

Connects with the libpq environment (PGHOST, PGPORT, PGUSER, PGDATABASE).
See `bench.py --help`.  Everything is single-threaded: serial index build,
max_parallel_workers_per_gather = 0, hnswlib with num_threads=1.

All SQL timings use one client, one statement per round trip, server-side
prepared statements (prepare=True) and text-format parameters (%t) with
explicit casts, so every timed statement is parsed and planned once.

Server set-up (test/run.sh bench): shared_buffers 2 GB in huge pages when
the kernel grants them (HNSW_BENCH_HUGE_PAGES=0 to compare without), and
the tables' vector column in STORAGE PLAIN (--storage external for the
type's default); the output's "server:" line says what was in effect.
"""

import argparse
import datetime
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import datasets as D  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
OUT_DIR = os.path.join(HERE, "out")

TABLE = "bench_items"
TABLE_INS = "bench_items_ins"

TARGET_QUERY = 1.6   # index-side query time <= 1.6x hnswlib at recall >= 0.95, 0.99
TARGET_BUILD = 1.2   # build time <= 1.2x hnswlib
TARGET_INSERT = 0.25  # insert rate >= 25% of hnswlib's
MATCH_RECALL = 0.95
MATCH_RECALLS = (0.95, 0.99)  # the matched-recall points of the summary
# the built hnswlib index of each dataset, between its sweep and the SQL one
HNSWLIB_INDEX = {}
TARGET_VACUUM = 0.25  # VACUUM after deleting 10% < 25% of the serial build time
TARGET_RECALL_DROP = 0.01  # recall@k after delete + VACUUM within 0.01 of before
MAINT_EF = 100        # maintenance recall is always measured at this ef too
DELETE_MOD = 10       # the delete phase removes the rows with id % 10 = 0

WARNINGS = []


def log(msg=""):
    print(msg, flush=True)


def warn(msg):
    WARNINGS.append(msg)
    log("WARNING: " + msg)


def now():
    return time.perf_counter()


# --------------------------------------------------------------------------
# arguments
# --------------------------------------------------------------------------

def int_list(s):
    return [int(x) for x in s.split(",") if x.strip()]


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", default="all", choices=["clustered", "fashion-mnist", "all"])
    p.add_argument("--n", type=int, default=None,
                   help="base vectors (default clustered 100000, fashion-mnist 60000 = all)")
    p.add_argument("--dim", type=int, default=None, help="clustered only (default 128)")
    p.add_argument("--queries", type=int, default=None, help="default 1000")
    p.add_argument("--exact-queries", type=int, default=None,
                   help="queries timed for exact (unindexed) SQL search (default 50)")
    p.add_argument("--m", type=int, default=16)
    p.add_argument("--ef-construction", type=int, default=64)
    p.add_argument("--ef-search", type=int_list, default=None,
                   help="comma list (default 10,20,40,80,120,200,400)")
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--insert-n", type=int, default=None,
                   help="rows inserted one batch at a time into an index created "
                        "on an empty table (default 20000, 0 = skip)")
    p.add_argument("--insert-batch", type=int, default=100, help="rows per INSERT statement")
    p.add_argument("--insert-rounds", type=int, default=3,
                   help="rounds of the incremental insert (SQL into a fresh table, each "
                        "batch also added to a fresh hnswlib index just before); the round "
                        "with the median ratio is reported")
    p.add_argument("--insert-ef", type=int, default=100,
                   help="ef_search for the recall of the incrementally built index")
    p.add_argument("--repeat", type=int, default=3,
                   help="timed passes per query measurement, best (fastest) pass is "
                        "reported; a pass taking > --repeat-budget s is not repeated")
    p.add_argument("--repeat-budget", type=float, default=4.0)
    p.add_argument("--quick", action="store_true",
                   help="smoke run: 5000 base, dim 32 (clustered), 100 queries")
    p.add_argument("--no-sql", action="store_true", help="hnswlib and ground truth only")
    p.add_argument("--no-hnswlib", action="store_true", help="skip hnswlib")
    p.add_argument("--keep-tables", action="store_true", help="do not drop the bench tables")
    p.add_argument("--maintenance-work-mem", default="2GB")
    p.add_argument("--no-maintenance", action="store_true",
                   help="skip the maintenance phases (delete 10%% + VACUUM + recall, churn)")
    p.add_argument("--churn-rounds", type=int, default=3,
                   help="clustered only: rounds of (re-insert the deleted 10%%, update "
                        "--churn-update-frac of the rows to new vectors, VACUUM); rounds after "
                        "the first delete the same 10%% again and VACUUM first (0 = no churn)")
    p.add_argument("--churn-update-frac", type=float, default=0.10,
                   help="share of the rows updated per churn round (at most 0.10)")
    p.add_argument("--churn-budget", type=float, default=180.0,
                   help="seconds for all churn rounds; a round's update share is reduced "
                        "(and the output says so) when it would not fit")
    p.add_argument("--churn-batch", type=int, default=1000,
                   help="rows per transaction (one executemany) in the churn phase")
    p.add_argument("--storage", default="plain", choices=["plain", "external"],
                   help="the vector column's STORAGE in the bench tables: plain keeps each "
                        "row's vector in the heap page (if it fits), so the executor's "
                        "per-row distance reads no TOAST; external is the type's default")
    p.add_argument("--json", default=None, help="output path (default bench/out/results-<ts>.json)")
    a = p.parse_args(argv)

    if a.quick:
        dflt = dict(n=5000, dim=32, queries=100, exact_queries=20, insert_n=2000,
                    ef_search=[10, 20, 40, 80, 120, 200, 400])
    else:
        dflt = dict(n=None, dim=128, queries=1000, exact_queries=50, insert_n=20000,
                    ef_search=[10, 15, 20, 30, 40, 60, 80, 100, 120, 160, 200, 300, 400])
    for key, v in dflt.items():
        if getattr(a, key) is None:
            setattr(a, key, v)
    if a.k < 1 or a.queries < 1:
        p.error("--k and --queries must be >= 1")
    if a.churn_rounds < 0 or not 0.0 <= a.churn_update_frac <= 1.0 / DELETE_MOD:
        p.error("--churn-rounds must be >= 0 and --churn-update-frac in [0, 0.10]")
    if a.churn_batch < 1:
        p.error("--churn-batch must be >= 1")
    a.exact_queries = min(a.exact_queries, a.queries)
    return a


# --------------------------------------------------------------------------
# dataset setup
# --------------------------------------------------------------------------

class Dataset:
    pass


def load_dataset(name, a):
    ds = Dataset()
    ds.name = name
    t0 = now()
    if name == "clustered":
        n = a.n if a.n is not None else 100000
        ds.base, ds.queries = D.make_clustered(n, a.dim, a.queries)
        ds.tag = "clustered-n%d-d%d-q%d-s%d" % (n, a.dim, a.queries, D.CLUSTERED_SEED)
        ds.integral = False
        ds.desc = ("Gaussian mixture, 100 clusters, centers N(0,1), std U(0.1,0.3), "
                   "Dirichlet(0.7) sizes, seed %d; queries fresh from the mixture"
                   % D.CLUSTERED_SEED)
    else:
        n = a.n if a.n is not None else 60000
        if n > 60000:
            warn("fashion-mnist has 60000 base vectors; --n %d capped" % n)
            n = 60000
        if a.dim not in (None, 128, 784) and not a.quick:
            warn("--dim ignored for fashion-mnist (784)")
        ds.base, ds.queries = D.load_fashion_mnist(n, a.queries)
        ds.tag = "fmnist-n%d-q%d" % (n, a.queries)
        ds.integral = True
        ds.desc = "Fashion-MNIST train[:%d] as base, t10k[:%d] as queries, raw pixels 0-255" % (
            n, a.queries)
    ds.n, ds.dim = ds.base.shape
    ds.query_texts = D.vector_texts(ds.queries, ds.integral)
    ds.base_texts = None  # made lazily (SQL only)
    log("[%s] %d x %d, %d queries (%s) loaded in %.1fs"
        % (name, ds.n, ds.dim, len(ds.queries), ds.desc, now() - t0))
    ds.gt_ids, ds.gt_dist = D.ground_truth(ds.tag, ds.base, ds.queries, a.k)
    ds.insert_n = min(a.insert_n, ds.n)
    if ds.insert_n > 0:
        if ds.insert_n == ds.n:
            ds.ins_gt_dist = ds.gt_dist
        else:
            ds.ins_gt_ids, ds.ins_gt_dist = D.ground_truth(
                ds.tag + "-first%d" % ds.insert_n, ds.base[:ds.insert_n], ds.queries, a.k)
    return ds


def base_texts(ds):
    if ds.base_texts is None:
        t0 = now()
        ds.base_texts = D.vector_texts(ds.base, ds.integral)
        log("  text form of %d base vectors in %.1fs" % (ds.n, now() - t0))
    return ds.base_texts


def best_of(a, fn):
    """Run fn() -> (seconds, latencies, results) up to a.repeat times (fewer
    if one pass exceeds a.repeat_budget seconds); return the fastest pass
    plus the number of passes."""
    best = None
    passes = 0
    for _ in range(max(1, a.repeat)):
        r = fn()
        passes += 1
        if best is None or r[0] < best[0]:
            best = r
        if r[0] > a.repeat_budget:
            break
    return best + (passes,)


# --------------------------------------------------------------------------
# hnswlib
# --------------------------------------------------------------------------

def hnswlib_pass(p, q, k, warmup=0):
    """hnswlib's queries q one at a time, one thread, after warmup of them
    untimed: (seconds, per-query latencies, labels)."""
    nq = len(q)
    for i in range(min(warmup, nq)):
        p.knn_query(q[i:i + 1], k=k, num_threads=1)
    lat = np.empty(nq)
    labels = np.empty((nq, k), dtype=np.int64)
    t0 = now()
    for i in range(nq):
        t1 = now()
        lab, _ = p.knn_query(q[i:i + 1], k=k, num_threads=1)
        lat[i] = now() - t1
        labels[i] = lab[0]
    return now() - t0, lat, labels


def hnswlib_empty(ds, a, max_elements):
    """An empty hnswlib index with the run's M and ef_construction, one thread."""
    import hnswlib
    p = hnswlib.Index(space="l2", dim=ds.dim)
    p.init_index(max_elements=max_elements, M=a.m, ef_construction=a.ef_construction,
                 random_seed=100)
    p.set_num_threads(1)
    return p


def hnswlib_insert(ds, a):
    """hnswlib's side of the incremental insert, on the SQL protocol: an
    empty index, the first insert_n rows added insert_batch at a time, one
    thread.  Returns the index and the seconds taken."""
    p = hnswlib_empty(ds, a, ds.insert_n)
    bs = a.insert_batch
    t0 = now()
    for s in range(0, ds.insert_n, bs):
        e = min(s + bs, ds.insert_n)
        p.add_items(ds.base[s:e], np.arange(s, e), num_threads=1)
    return p, now() - t0


def run_hnswlib(ds, a):
    import hnswlib
    r = {"version": getattr(hnswlib, "__version__", None)}
    k = a.k

    log("  hnswlib: build (add_items, 1 thread) ...")
    p = hnswlib_empty(ds, a, ds.n)
    t0 = now()
    p.add_items(ds.base, np.arange(ds.n), num_threads=1)
    r["build_s"] = now() - t0
    r["build_rows_per_s"] = ds.n / r["build_s"]
    log("  hnswlib: build %.2fs (%.0f rows/s)" % (r["build_s"], r["build_rows_per_s"]))

    with tempfile.TemporaryDirectory() as td:
        fn = os.path.join(td, "idx.bin")
        p.save_index(fn)
        r["index_bytes"] = os.path.getsize(fn)

    r["ef"] = {}
    q = ds.queries
    nq = len(q)
    for ef in a.ef_search:
        p.set_ef(max(ef, k))
        for i in range(min(20, nq)):  # warm-up
            p.knn_query(q[i:i + 1], k=k, num_threads=1)

        def loop():
            return hnswlib_pass(p, q, k)

        def batch():
            t0 = now()
            blab, _ = p.knn_query(q, k=k, num_threads=1)
            return now() - t0, None, blab

        loop_s, lat, labels, passes = best_of(a, loop)
        batch_s, _, blab, _ = best_of(a, batch)
        rec = D.recall(ds.base, q, ds.gt_dist, labels, k)
        brec = D.recall(ds.base, q, ds.gt_dist, blab, k)
        e = {"recall": rec, "qps": nq / loop_s, "ms_per_query": 1e3 * loop_s / nq,
             "p50_ms": 1e3 * float(np.percentile(lat, 50)),
             "p99_ms": 1e3 * float(np.percentile(lat, 99)),
             "batch_ms_per_query": 1e3 * batch_s / nq, "batch_recall": brec,
             "passes": passes}
        r["ef"][ef] = e
        log("  hnswlib: ef=%-4d recall %.4f  %.0f q/s  %.4f ms/q (batched %.4f ms/q)"
            % (ef, rec, e["qps"], e["ms_per_query"], e["batch_ms_per_query"]))
    # kept for the SQL sweep, which times it again beside each SQL pass
    HNSWLIB_INDEX[ds.name] = p
    del p

    if ds.insert_n > 0:
        p, r["insert_s"] = hnswlib_insert(ds, a)
        r["insert_n"] = ds.insert_n
        r["insert_rows_per_s"] = ds.insert_n / r["insert_s"]
        p.set_ef(max(a.insert_ef, k))
        labels = np.array([p.knn_query(q[i:i + 1], k=k, num_threads=1)[0][0] for i in range(nq)])
        r["insert_recall"] = D.recall(ds.base[:ds.insert_n], q, ds.ins_gt_dist, labels, k)
        log("  hnswlib: incremental add of %d rows in batches of %d: %.0f rows/s, recall@ef=%d %.4f"
            % (ds.insert_n, a.insert_batch, r["insert_rows_per_s"], a.insert_ef, r["insert_recall"]))
        del p
    return r


# --------------------------------------------------------------------------
# SQL
# --------------------------------------------------------------------------

def sql_connect():
    import psycopg
    conn = psycopg.connect(autocommit=True)
    return conn


def scalar(conn, sql, params=None):
    cur = conn.execute(sql, params)
    row = cur.fetchone()
    return row[0] if row else None


def timed_loop(conn, sql, param_list, warmup=0):
    """One statement per round trip, prepared server-side.  Returns
    (total seconds, per-query latencies, list of first-column results)."""
    cur = conn.cursor()
    for params in param_list[:warmup]:
        cur.execute(sql, params, prepare=True)
        cur.fetchall()
    lat = np.empty(len(param_list))
    res = []
    t0 = now()
    for i, params in enumerate(param_list):
        t1 = now()
        cur.execute(sql, params, prepare=True)
        rows = cur.fetchall()
        lat[i] = now() - t1
        res.append([row[0] for row in rows])
    total = now() - t0
    cur.close()
    return total, lat, res


def create_table(conn, table, dim):
    """The bench table; with --storage plain (and a vector that fits a heap
    page) its vectors stay in the row instead of TOAST."""
    conn.execute("DROP TABLE IF EXISTS %s" % table)
    conn.execute("CREATE TABLE %s (id int PRIMARY KEY, embedding vector(%d))" % (table, dim))
    if ARGS.storage == "plain" and 8 + 4 * dim <= 7000:
        conn.execute("ALTER TABLE %s ALTER COLUMN embedding SET STORAGE PLAIN" % table)


def load_table(conn, table, texts):
    create_table(conn, table, texts_dim(texts))
    with conn.cursor() as cur:
        t0 = now()
        with conn.transaction():
            with cur.copy("COPY %s (id, embedding) FROM STDIN" % table) as cp:
                chunk = []
                for i, t in enumerate(texts):
                    chunk.append("%d\t%s\n" % (i, t))
                    if len(chunk) >= 2000:
                        cp.write("".join(chunk))
                        chunk = []
                if chunk:
                    cp.write("".join(chunk))
        copy_s = now() - t0
        cur.execute("VACUUM (ANALYZE) %s" % table)
    return copy_s


def texts_dim(texts):
    return texts[0].count(",") + 1


def wal_lsn(conn):
    try:
        return scalar(conn, "SELECT pg_current_wal_lsn()::text")
    except Exception:
        return None


def wal_since(conn, lsn):
    """WAL bytes written (by everyone) since wal_lsn() returned lsn."""
    if lsn is None:
        return None
    try:
        return int(scalar(conn, "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), %t::pg_lsn)",
                          (lsn,)))
    except Exception:
        return None


def explain(conn, sql, params):
    cur = conn.execute("EXPLAIN " + sql, params)
    return "\n".join(re.sub(r"'\[[^\]]{40,}\]'", "'[...]'", r[0]) for r in cur.fetchall())


def sql_sweep_point(conn, ds, a, ef, knn_sql, qparams, floor_sql, ids, hlp):
    """One ef of the SQL sweep.  Each pass times, back to back, the hnswlib
    index (if given) on the same queries at the same ef, the floor (a
    prepared primary-key lookup) and the SQL queries, so that the ratio and
    the floor subtracted come from the same seconds of this shared machine;
    the fastest pass of each is kept (up to a.repeat passes, fewer when a
    SQL pass exceeds a.repeat_budget)."""
    k = a.k
    q = ds.queries
    nq = len(q)
    best = None
    floor_s = None
    hl_s = None
    passes = 0
    if hlp is not None:
        hlp.set_ef(max(ef, k))
    for _ in range(max(1, a.repeat)):
        if hlp is not None:
            t = hnswlib_pass(hlp, q, k, warmup=20)[0]
            hl_s = t if hl_s is None else min(hl_s, t)
        t = timed_loop(conn, floor_sql, ids, warmup=50)[0]
        floor_s = t if floor_s is None else min(floor_s, t)
        got = timed_loop(conn, knn_sql, qparams, warmup=min(20, nq))
        passes += 1
        if best is None or got[0] < best[0]:
            best = got
        if got[0] > a.repeat_budget:
            break
    tot, lat, res = best
    ms = 1e3 * tot / nq
    e = {"recall": D.recall(ds.base, ds.queries, ds.gt_dist, res, k),
         "qps": nq / tot, "ms_per_query": ms,
         "floor_ms": 1e3 * floor_s / len(ids),
         "p50_ms": 1e3 * float(np.percentile(lat, 50)),
         "p99_ms": 1e3 * float(np.percentile(lat, 99)),
         "short_results": int(sum(1 for x in res if len(x) < k)),
         "passes": passes}
    e["index_ms_per_query"] = ms - e["floor_ms"]
    if hl_s is not None:
        e["hnswlib_ms_beside"] = 1e3 * hl_s / nq
    return e


def run_sql(conn, ds, a, hl):
    import psycopg
    r = {"hnsw_available": False}
    k = a.k
    nq = len(ds.queries)
    qparams = [(t,) for t in ds.query_texts]
    knn_sql = "SELECT id FROM %s ORDER BY embedding <-> %%t::vector LIMIT %d" % (TABLE, k)

    texts = base_texts(ds)
    log("  SQL: COPY %d rows ..." % ds.n)
    r["copy_s"] = load_table(conn, TABLE, texts)
    r["heap_bytes"] = scalar(conn, "SELECT pg_relation_size(%t::regclass)", (TABLE,))
    r["table_bytes"] = scalar(conn, "SELECT pg_table_size(%t::regclass)", (TABLE,))
    log("  SQL: COPY %.1fs; heap %.1f MB, table incl. TOAST %.1f MB"
        % (r["copy_s"], r["heap_bytes"] / 2**20, r["table_bytes"] / 2**20))

    # floor: primary-key lookup, same client and loop
    rng = np.random.default_rng(1)
    ids = [(str(int(i)),) for i in rng.integers(0, ds.n, size=nq)]
    floor_sql = "SELECT id FROM %s WHERE id = %%t::int" % TABLE
    tot, lat, _, _ = best_of(a, lambda: timed_loop(conn, floor_sql, ids, warmup=50))
    r["floor_ms"] = 1e3 * tot / nq
    r["floor_p50_ms"] = 1e3 * float(np.percentile(lat, 50))
    # floor plus sending and parsing one query vector (informational)
    ids_vec = [(i[0], ds.query_texts[j]) for j, i in enumerate(ids)]
    tot, _, _, _ = best_of(a, lambda: timed_loop(
        conn, "SELECT id FROM %s WHERE id = %%t::int AND %%t::vector IS NOT NULL" % TABLE,
        ids_vec, warmup=50))
    r["floor_vec_ms"] = 1e3 * tot / nq
    log("  SQL: floor (prepared pk lookup) %.4f ms/q (p50 %.4f); with a %d-dim vector param %.4f ms/q"
        % (r["floor_ms"], r["floor_p50_ms"], ds.dim, r["floor_vec_ms"]))

    # exact search, no index on the table yet
    ne = a.exact_queries
    plan = explain(conn, knn_sql.replace("%t::vector", "%s::vector"), (ds.query_texts[0],))
    if "Seq Scan" not in plan:
        warn("exact search plan is not a seq scan:\n" + plan)
    tot, lat, res = timed_loop(conn, knn_sql, qparams[:ne], warmup=2)
    r["exact"] = {"queries": ne, "qps": ne / tot, "ms_per_query": 1e3 * tot / ne,
                  "recall": D.recall(ds.base, ds.queries[:ne], ds.gt_dist[:ne], res, k)}
    log("  SQL: exact (seq scan) %d queries: %.2f q/s, %.2f ms/q, recall %.4f"
        % (ne, r["exact"]["qps"], r["exact"]["ms_per_query"], r["exact"]["recall"]))
    if r["exact"]["recall"] < 0.999:
        warn("exact SQL search recall %.4f < 1: the <-> operator disagrees with numpy L2"
             % r["exact"]["recall"])

    # index build (serial)
    conn.execute("SET max_parallel_maintenance_workers = 0")
    conn.execute("SET maintenance_work_mem = '%s'" % a.maintenance_work_mem)
    idx = TABLE + "_hnsw"
    log("  SQL: CREATE INDEX ... USING hnsw (m=%d, ef_construction=%d), serial ..."
        % (a.m, a.ef_construction))
    lsn0 = wal_lsn(conn)
    t0 = now()
    try:
        conn.execute("CREATE INDEX %s ON %s USING hnsw (embedding vector_l2_ops) "
                     "WITH (m = %d, ef_construction = %d)" % (idx, TABLE, a.m, a.ef_construction))
    except psycopg.Error as e:
        msg = str(e).strip().splitlines()[0]
        log("  hnsw: not available (%s)" % msg)
        warn("%s: hnsw index not available: %s" % (ds.name, msg))
        r["hnsw_error"] = msg
        if not a.keep_tables:
            conn.execute("DROP TABLE IF EXISTS %s" % TABLE)
        return r
    r["hnsw_available"] = True
    r["build_s"] = now() - t0
    r["build_wal_bytes"] = wal_since(conn, lsn0)
    r["index_bytes"] = scalar(conn, "SELECT pg_relation_size(%t::regclass)", (idx,))
    log("  SQL: CREATE INDEX %.2fs; index %.1f MB (%.0f bytes/vector)"
        % (r["build_s"], r["index_bytes"] / 2**20, r["index_bytes"] / ds.n))

    sb = scalar(conn, "SELECT setting::bigint * 8192 FROM pg_settings WHERE name = 'shared_buffers'")
    if sb and r["index_bytes"] + r["table_bytes"] > sb:
        warn("%s: index + table (%.0f MB) exceed shared_buffers (%.0f MB): query times include "
             "buffer misses served from the OS page cache" % (
                 ds.name, (r["index_bytes"] + r["table_bytes"]) / 2**20, sb / 2**20))
    r["shared_buffers_bytes"] = sb

    # make sure the queries use the index
    conn.execute("SET hnsw.ef_search = %d" % max(a.ef_search))
    plan = explain(conn, knn_sql.replace("%t::vector", "%s::vector"), (ds.query_texts[0],))
    r["plan"] = plan
    if idx not in plan:
        warn("%s: planner does not use the hnsw index; setting enable_seqscan = off\n%s"
             % (ds.name, plan))
        conn.execute("SET enable_seqscan = off")
        plan = explain(conn, knn_sql.replace("%t::vector", "%s::vector"), (ds.query_texts[0],))
        r["plan_forced"] = plan
        if idx not in plan:
            warn("%s: hnsw index still not used:\n%s" % (ds.name, plan))
    conn.execute(knn_sql.replace("%t::vector", "%s::vector"), (ds.query_texts[0],)).fetchall()
    if not scalar(conn, "SELECT count(*) FROM pg_settings WHERE name = 'hnsw.ef_search'"):
        warn("hnsw.ef_search is not a defined setting after the library was loaded; "
             "SET hnsw.ef_search may have no effect")

    r["ef"] = {}
    hlp = HNSWLIB_INDEX.pop(ds.name, None)
    for ef in a.ef_search:
        conn.execute("SET hnsw.ef_search = %d" % ef)
        e = sql_sweep_point(conn, ds, a, ef, knn_sql, qparams, floor_sql, ids, hlp)
        r["ef"][ef] = e
        log("  hnsw:    ef=%-4d recall %.4f  %.0f q/s  %.4f ms/q (index-side %.4f; floor %.4f%s)%s"
            % (ef, e["recall"], e["qps"], e["ms_per_query"], e["index_ms_per_query"],
               e["floor_ms"], "; hnswlib beside it %.4f" % e["hnswlib_ms_beside"]
               if "hnswlib_ms_beside" in e else "",
               "  [%d queries returned < k rows]" % e["short_results"]
               if e["short_results"] else ""))
    del hlp
    conn.execute("RESET hnsw.ef_search")
    conn.execute("RESET enable_seqscan")

    # incremental insert into an index created on an empty table
    if ds.insert_n > 0:
        r["insert"] = run_sql_insert(conn, ds, a, texts)

    # maintenance: delete 10% + VACUUM + recall, churn (on TABLE and its index)
    if not a.no_maintenance:
        r["maintenance"] = {}
        try:
            run_sql_maintenance(conn, ds, a, r, r["maintenance"])
        except Exception as e:
            # keep what was measured; the report prints the error
            msg = "%s: %s" % (type(e).__name__, str(e).strip())
            warn("%s: maintenance phase failed: %s" % (ds.name, msg))
            r["maintenance"]["error"] = msg
            for g in ("hnsw.ef_search", "enable_seqscan", "enable_indexscan"):
                try:
                    conn.execute("RESET %s" % g)
                except Exception:
                    pass
    if not a.keep_tables:
        conn.execute("DROP TABLE IF EXISTS %s" % TABLE)
    return r


def sql_insert_round(conn, ds, a, texts, idx, hl_index=None):
    """One SQL incremental insert: a fresh table with an hnsw index built
    empty, insert_n rows in prepared insert_batch-row INSERTs, one
    transaction each.  With hl_index (an empty hnswlib index), each batch
    is first added there too, timed apart: both sides then run the same
    batches in the same seconds of this shared machine.  Returns (SQL
    seconds, hnswlib seconds or None), or an error text."""
    import psycopg
    n = ds.insert_n
    bs = a.insert_batch
    create_table(conn, TABLE_INS, ds.dim)
    try:
        conn.execute("CREATE INDEX %s ON %s USING hnsw (embedding vector_l2_ops) "
                     "WITH (m = %d, ef_construction = %d)" % (idx, TABLE_INS, a.m, a.ef_construction))
    except psycopg.Error as e:
        return str(e).strip().splitlines()[0]

    def stmt(rows):
        return ("INSERT INTO %s (id, embedding) VALUES " % TABLE_INS
                + ",".join(["(%t::int,%t::vector)"] * rows))

    full = stmt(bs)
    cur = conn.cursor()
    sql_s = 0.0
    hl_s = 0.0
    for s in range(0, n, bs):
        e = min(s + bs, n)
        if hl_index is not None:
            t0 = now()
            hl_index.add_items(ds.base[s:e], np.arange(s, e), num_threads=1)
            hl_s += now() - t0
        t0 = now()
        params = []
        for i in range(s, e):
            params.append(str(i))
            params.append(texts[i])
        cur.execute(full if e - s == bs else stmt(e - s), params, prepare=True)
        sql_s += now() - t0
    cur.close()
    return sql_s, (hl_s if hl_index is not None else None)


def insert_recall_curve(conn, ds, a, idx, p):
    """Recall@k (and q/s) of the incrementally built index at every ef of
    the grid and at --insert-ef, and of hnswlib's index built from the same
    batches (p, or None)."""
    n, k = ds.insert_n, a.k
    efs = sorted(set(a.ef_search) | {a.insert_ef})
    curve = maint_recall(conn, ds, a, idx, efs, ds.base[:n],
                         ds.ins_gt_dist, None, table=TABLE_INS)
    for ef, e in curve.items():
        if p is not None:
            p.set_ef(max(ef, k))
            labels, _ = p.knn_query(ds.queries, k=k)
            e["hnswlib_recall"] = D.recall(ds.base[:n], ds.queries, ds.ins_gt_dist, labels, k)
    log("  SQL: recall@%d of the incrementally built index by ef: %s"
        % (k, "  ".join("%d:%.3f" % (ef, e["recall"]) for ef, e in curve.items())))
    if p is not None:
        log("  hnswlib on the same batches:                        %s"
            % "  ".join("%d:%.3f" % (ef, e["hnswlib_recall"]) for ef, e in curve.items()))
    return curve


def run_sql_insert(conn, ds, a, texts):
    """The incremental insert, in rounds.  In each, every batch goes to an
    empty hnswlib index and then to SQL, each side timed apart, so a slow
    spell of this shared machine slows both alike; the headline ratio is
    the median of the rounds' ratios, and every round's figures are kept."""
    r = {"rounds": []}
    n = ds.insert_n
    idx = TABLE_INS + "_hnsw"
    rounds = max(1, a.insert_rounds)
    log("  SQL: incremental INSERT of %d rows, %d rows/statement, one transaction each, "
        "%d round(s), each batch also added to hnswlib just before ..."
        % (n, a.insert_batch, rounds))
    for i in range(rounds):
        p = None if a.no_hnswlib else hnswlib_empty(ds, a, n)
        got = sql_insert_round(conn, ds, a, texts, idx, p)
        last_p = p
        del p
        if isinstance(got, str):
            r["error"] = got
            warn("%s: CREATE INDEX on empty table failed: %s" % (ds.name, got))
            return r
        sql_s, hl_s = got
        rr = {"sql_rows_per_s": n / sql_s,
              "hnswlib_rows_per_s": n / hl_s if hl_s else None}
        rr["ratio"] = rr["sql_rows_per_s"] / rr["hnswlib_rows_per_s"] if hl_s else None
        r["rounds"].append(rr)
        log("  SQL: insert round %d: %.0f rows/s; hnswlib on the same batches %s rows/s; ratio %s"
            % (i + 1, rr["sql_rows_per_s"], fmt(rr["hnswlib_rows_per_s"], ".0f"),
               fmt(rr["ratio"], ".3f")))
        if i + 1 < rounds:
            conn.execute("DROP TABLE %s" % TABLE_INS)
    # the round with the median ratio speaks for the run
    mid = sorted(r["rounds"], key=lambda x: x["ratio"] or 0)[len(r["rounds"]) // 2]
    r["n"] = n
    r["rows_per_s"] = mid["sql_rows_per_s"]
    r["seconds"] = n / r["rows_per_s"]
    r["best_rows_per_s"] = max(x["sql_rows_per_s"] for x in r["rounds"])
    if not a.no_hnswlib:
        r["hnswlib_rows_per_s"] = mid["hnswlib_rows_per_s"]
        r["round_ratios"] = [x["ratio"] for x in r["rounds"]]
    r["index_bytes"] = scalar(conn, "SELECT pg_relation_size(%t::regclass)", (idx,))

    r["ef_recall"] = insert_recall_curve(conn, ds, a, idx, last_p)
    r["recall"] = r["ef_recall"][a.insert_ef]["recall"]
    r["ef_search"] = a.insert_ef
    r["qps"] = r["ef_recall"][a.insert_ef]["qps"]
    log("  SQL: insert %.0f rows/s (median round; best %.0f); index %.1f MB; recall@ef=%d %.4f "
        "(%.0f q/s)" % (r["rows_per_s"], r["best_rows_per_s"], r["index_bytes"] / 2**20,
                        a.insert_ef, r["recall"], r["qps"]))
    if not a.keep_tables:
        conn.execute("DROP TABLE IF EXISTS %s" % TABLE_INS)
    return r


# --------------------------------------------------------------------------
# maintenance: delete + VACUUM, churn
# --------------------------------------------------------------------------

def index_info(conn, idx):
    """hnsw_index_info(idx) as a dict, or {"error": ...}."""
    import psycopg
    try:
        cur = conn.execute("SELECT * FROM hnsw_index_info(%t::regclass)", (idx,))
        row = cur.fetchone()
        return dict(zip([d.name for d in cur.description], row))
    except psycopg.Error as e:
        return {"error": str(e).strip().splitlines()[0]}


def index_check(conn, idx):
    """hnsw_index_check(idx) as a dict (plus its run time), or {"error": ...}."""
    import psycopg
    t0 = now()
    try:
        cur = conn.execute("SELECT * FROM hnsw_index_check(%t::regclass)", (idx,))
        row = cur.fetchone()
        d = dict(zip([c.name for c in cur.description], row))
    except psycopg.Error as e:
        d = {"error": str(e).strip().splitlines()[0]}
    d["seconds"] = now() - t0
    return d


def fmt_info(d):
    if d is None:
        return "-"
    if "error" in d:
        return "ERROR: " + d["error"]
    return ("rows indexed %d, deleted %d, active %d; elements %d, deleted %d, active %d; "
            "pages %d" % (d["count_indexed"], d["count_deleted"], d["count_active"],
                          d["elements"], d["elements_deleted"], d["elements_active"],
                          d["pages"]))


def fmt_check(d):
    if "error" in d:
        return "ERROR: %s" % d["error"]
    return ("elements %d, active %d, deleted %d, edges %d, reachable %d, pages %d (%.2fs)"
            % (d["elements"], d["active"], d["deleted"], d["edges"], d["reachable"],
               d["pages"], d["seconds"]))


def fmt_phases(ph):
    if not ph:
        return "-"
    return ", ".join("%s %.2fs" % (k, v) if k != "error" else "error: %s" % v
                     for k, v in ph.items())


def index_bytes(conn, idx):
    return scalar(conn, "SELECT pg_relation_size(%t::regclass)", (idx,))


def knn_sql_for(table, k):
    return "SELECT id FROM %s ORDER BY embedding <-> %%t::vector LIMIT %d" % (table, k)


def use_index(conn, ds, idx, knn_sql):
    """Make the k-NN query use idx (enable_seqscan = off if the planner
    prefers a seq scan).  Returns True if the setting was changed."""
    plan = explain(conn, knn_sql.replace("%t::vector", "%s::vector"), (ds.query_texts[0],))
    if idx in plan:
        return False
    conn.execute("SET enable_seqscan = off")
    plan = explain(conn, knn_sql.replace("%t::vector", "%s::vector"), (ds.query_texts[0],))
    if idx not in plan:
        warn("%s: maintenance: hnsw index not used even with enable_seqscan = off:\n%s"
             % (ds.name, plan))
    return True


def maint_recall(conn, ds, a, idx, efs, vecs, gt_dist, present, table=TABLE):
    """One timed pass of all queries per ef against table.  vecs[id] is the
    vector the row with that id holds, present the mask of ids in the table
    (None: all), gt_dist the exact top-k over the present rows."""
    k = a.k
    nq = len(ds.queries)
    knn_sql = knn_sql_for(table, k)
    forced = use_index(conn, ds, idx, knn_sql)
    qparams = [(t,) for t in ds.query_texts]
    out = {}
    try:
        for ef in efs:
            conn.execute("SET hnsw.ef_search = %d" % ef)
            tot, _, res = timed_loop(conn, knn_sql, qparams, warmup=min(20, nq))
            absent = 0
            if present is not None:
                absent = sum(1 for x in res for i in x[:k]
                             if not (0 <= i < len(present) and present[i]))
            out[ef] = {"recall": D.recall(vecs, ds.queries, gt_dist, res, k, valid=present),
                       "qps": nq / tot, "ms_per_query": 1e3 * tot / nq,
                       "short_results": int(sum(1 for x in res if len(x) < k)),
                       "absent_results": int(absent)}
            if absent:
                warn("%s: %d results at ef=%d name ids that are not in the table (deleted rows "
                     "returned?)" % (ds.name, absent, ef))
    finally:
        conn.execute("RESET hnsw.ef_search")
        if forced:
            conn.execute("RESET enable_seqscan")
    return out


def exact_agrees(conn, ds, a, what, vecs, gt_dist, present, nq=3):
    """Checks the bookkeeping behind the ground truth (ids <-> vectors, which
    rows are present) against the table: row count, and a few exact
    (seq scan) queries must have recall 1 against gt_dist."""
    k = a.k
    rows = scalar(conn, "SELECT count(*) FROM %s" % TABLE)
    ok = rows == int(present.sum())
    if not ok:
        warn("%s: %s: table has %d rows, the benchmark expects %d"
             % (ds.name, what, rows, int(present.sum())))
    nq = min(nq, len(ds.queries))
    # not prepared: a cached plan ignores a later SET enable_indexscan
    sql = "SELECT id /* exact */ FROM %s ORDER BY embedding <-> %%t::vector LIMIT %d" % (TABLE, k)
    conn.execute("SET enable_indexscan = off")
    try:
        plan = explain(conn, sql.replace("%t::vector", "%s::vector"), (ds.query_texts[0],))
        if "Seq Scan" not in plan:
            warn("%s: %s: exact check plan is not a seq scan:\n%s" % (ds.name, what, plan))
        res = [[row[0] for row in conn.execute(sql, (t,), prepare=False).fetchall()]
               for t in ds.query_texts[:nq]]
    finally:
        conn.execute("RESET enable_indexscan")
    rec = D.recall(vecs, ds.queries[:nq], gt_dist[:nq], res, k, valid=present)
    if rec < 0.999:
        warn("%s: %s: exact SQL search has recall %.4f against the recomputed ground truth: "
             "the benchmark's model of the table is wrong" % (ds.name, what, rec))
        ok = False
    return ok


class VacuumPhases:
    """Best effort: polls pg_stat_progress_vacuum from a second connection
    while a VACUUM runs and sums the seconds seen in each phase (resolution
    ~10 ms).  "vacuuming indexes" + "cleaning up indexes" is the time of the
    indexes (hnsw ambulkdelete/amvacuumcleanup plus the primary key btree's),
    the other phases are the heap's; phases of another relation (TOAST)
    are prefixed with its name."""

    def __init__(self, pid):
        import threading
        self.pid = pid
        self.phases = {}
        self.error = None
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        try:
            c = sql_connect()
        except Exception as e:
            self.error = str(e).strip().splitlines()[0]
            return
        try:
            last_t, last_p = None, None
            while not self.stop.is_set():
                row = c.execute(
                    "SELECT CASE WHEN relid = %s::regclass THEN phase "
                    "ELSE relid::regclass::text || ': ' || phase END "
                    "FROM pg_stat_progress_vacuum WHERE pid = %s", (TABLE, self.pid)).fetchone()
                t = now()
                if last_p is not None:
                    self.phases[last_p] = self.phases.get(last_p, 0.0) + (t - last_t)
                last_t, last_p = t, (row[0] if row else None)
                self.stop.wait(0.01)
        except Exception as e:
            self.error = str(e).strip().splitlines()[0]
        finally:
            c.close()

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(timeout=10)
        return False


def vacuum(conn, phases=None):
    """Timed VACUUM TABLE.  phases: a dict to fill with the seconds per
    pg_stat_progress_vacuum phase (see VacuumPhases), if given."""
    if phases is None:
        t0 = now()
        conn.execute("VACUUM %s" % TABLE)
        return now() - t0
    with VacuumPhases(conn.info.backend_pid) as vp:
        time.sleep(0.05)  # let the poller connect first
        t0 = now()
        conn.execute("VACUUM %s" % TABLE)
        el = now() - t0
    phases.update(vp.phases)
    if vp.error:
        phases["error"] = vp.error
    return el


def executemany_batched(conn, sql, rows, batch):
    """executemany of `batch` rows per transaction."""
    with conn.cursor() as cur:
        for s in range(0, len(rows), batch):
            with conn.transaction():
                cur.executemany(sql, rows[s:s + batch])


def run_sql_maintenance(conn, ds, a, r, m):
    """After the query phase: DELETE 10% of TABLE, VACUUM (timed, serial),
    recall against brute force over the remaining rows, hnsw_index_check;
    then (clustered only) the churn rounds.  Fills m as it goes."""
    k = a.k
    n = ds.n
    idx = TABLE + "_hnsw"
    # no autovacuum between the DELETE and the timed VACUUM
    conn.execute("ALTER TABLE %s SET (autovacuum_enabled = false)" % TABLE)
    conn.execute("SET max_parallel_maintenance_workers = 0")
    conn.execute("SET maintenance_work_mem = '%s'" % a.maintenance_work_mem)

    ef95 = lowest_ef_at(r["ef"], MATCH_RECALL)
    efs = sorted(set(a.ef_search) | {MAINT_EF})
    key_efs = sorted({e for e in (ef95, MAINT_EF) if e is not None})
    m["ef_match"] = ef95
    m["ef_search"] = efs
    m["key_ef_search"] = key_efs

    before = {ef: {"recall": r["ef"][ef]["recall"], "qps": r["ef"][ef]["qps"],
                   "ms_per_query": r["ef"][ef]["ms_per_query"]} for ef in a.ef_search}
    extra = [ef for ef in efs if ef not in before]
    if extra:
        log("  maintenance: recall before the delete at ef=%s (not in --ef-search), one pass ..."
            % ",".join(map(str, extra)))
        before.update(maint_recall(conn, ds, a, idx, extra, ds.base, ds.gt_dist, None))
    m["recall_before"] = before
    m["index_bytes_built"] = r["index_bytes"]
    m["info_built"] = index_info(conn, idx)
    log("  maintenance: index after CREATE INDEX %.1f MB; hnsw_index_info: %s"
        % (r["index_bytes"] / 2**20, fmt_info(m["info_built"])))

    # ---- 1. delete 10%, VACUUM
    present = np.ones(n, dtype=bool)
    present[::DELETE_MOD] = False           # ids are 0..n-1, id i holds ds.base[i]
    t0 = now()
    cur = conn.execute("DELETE FROM %s WHERE id %% %d = 0" % (TABLE, DELETE_MOD))
    m["delete_s"] = now() - t0
    m["deleted_rows"] = cur.rowcount
    m["rows_after_delete"] = int(present.sum())
    if cur.rowcount != n - int(present.sum()):
        warn("%s: DELETE removed %d rows, expected %d" % (ds.name, cur.rowcount,
                                                          n - int(present.sum())))
    log("  maintenance: DELETE %d rows (id %% %d = 0) in %.2fs"
        % (cur.rowcount, DELETE_MOD, m["delete_s"]))
    _, gt_dist = D.ground_truth_rows(ds.tag + "-del%d" % DELETE_MOD, ds.base,
                                     np.flatnonzero(present), ds.queries, k)
    # deleted but not yet vacuumed: scans stream past the dead rows
    m["recall_deleted"] = maint_recall(conn, ds, a, idx, key_efs, ds.base, gt_dist, present)
    m["info_deleted"] = index_info(conn, idx)
    log("  maintenance: deleted, before VACUUM: recall %s; hnsw_index_info: %s"
        % (", ".join("ef=%d %.4f" % (ef, e["recall"]) for ef, e in m["recall_deleted"].items()),
           fmt_info(m["info_deleted"])))

    log("  maintenance: VACUUM %s (serial) ..." % TABLE)
    m["vacuum_phases"] = {}
    lsn0 = wal_lsn(conn)
    m["vacuum_s"] = vacuum(conn, m["vacuum_phases"])
    m["vacuum_wal_bytes"] = wal_since(conn, lsn0)
    m["vacuum_index_phases_s"] = (m["vacuum_phases"].get("vacuuming indexes", 0.0)
                                  + m["vacuum_phases"].get("cleaning up indexes", 0.0))
    m["vacuum_ratio"] = m["vacuum_s"] / r["build_s"]
    m["index_bytes_vacuumed"] = index_bytes(conn, idx)
    m["info_vacuumed"] = index_info(conn, idx)
    log("  maintenance: VACUUM %.2fs = %.3f x CREATE INDEX (%.2fs); index %.1f MB; "
        "hnsw_index_info: %s" % (m["vacuum_s"], m["vacuum_ratio"], r["build_s"],
                                 m["index_bytes_vacuumed"] / 2**20, fmt_info(m["info_vacuumed"])))
    log("  maintenance: VACUUM phases (pg_stat_progress_vacuum, ~10 ms resolution): %s"
        % fmt_phases(m["vacuum_phases"]))
    iv = m["info_vacuumed"]
    if "error" not in iv and iv["count_active"] != int(present.sum()):
        warn("%s: after DELETE + VACUUM the index counts %d active rows, the table has %d"
             % (ds.name, iv["count_active"], int(present.sum())))
    m["check_vacuumed"] = index_check(conn, idx)
    log("  maintenance: hnsw_index_check after VACUUM: %s" % fmt_check(m["check_vacuumed"]))
    if "error" in m["check_vacuumed"]:
        warn("%s: hnsw_index_check after DELETE + VACUUM: %s"
             % (ds.name, m["check_vacuumed"]["error"]))

    m["recall_after"] = maint_recall(conn, ds, a, idx, efs, ds.base, gt_dist, present)
    for ef in efs:
        b, e = before[ef]["recall"], m["recall_after"][ef]["recall"]
        log("  maintenance: ef=%-4d recall before %.4f, after DELETE + VACUUM %.4f (%+.4f)  %.0f q/s"
            % (ef, b, e, e - b, m["recall_after"][ef]["qps"]))
    m["exact_agrees"] = exact_agrees(conn, ds, a, "after DELETE", ds.base, gt_dist, present)

    # ---- 2. churn
    if a.churn_rounds == 0:
        m["churn"] = {"skipped": "--churn-rounds 0"}
    elif ds.name != "clustered":
        m["churn"] = {"skipped": "clustered dataset only"}
    else:
        m["churn"] = {}
        run_churn(conn, ds, a, r, m, present, idx, key_efs, m["churn"])


def run_churn(conn, ds, a, r, m, present, idx, key_efs, c):
    """Rounds of: re-insert the deleted 10% (same ids and vectors), UPDATE
    another share of the rows to new vectors from the same mixture, VACUUM.
    Rounds after the first first delete the id % 10 = 0 rows again and
    VACUUM.  Then size, counts, check and recall against brute force over
    the table's final content."""
    k = a.k
    n = ds.n
    bs = a.churn_batch
    c.update({"rounds": [], "update_frac_requested": a.churn_update_frac,
              "budget_s": a.churn_budget, "batch": bs})
    vecs = ds.base.copy()                   # vecs[id]: the vector row `id` holds now
    texts = list(base_texts(ds))
    present = present.copy()
    n_upd_req = int(round(a.churn_update_frac * n))
    per_round = a.churn_budget / a.churn_rounds
    ins_sql = "INSERT INTO %s (id, embedding) VALUES (%%t::int, %%t::vector)" % TABLE
    upd_sql = "UPDATE %s SET embedding = %%t::vector WHERE id = %%t::int" % TABLE
    log("  churn: %d round(s): re-insert the deleted %d%%, update %d rows (%.1f%%) to new "
        "vectors, VACUUM; %d rows per transaction"
        % (a.churn_rounds, 100 // DELETE_MOD, n_upd_req, 100.0 * n_upd_req / n, bs))
    t_churn = now()
    for rnd in range(1, a.churn_rounds + 1):
        rr = {"round": rnd}
        t_round = now()
        if rnd > 1:
            cur = conn.execute("DELETE FROM %s WHERE id %% %d = 0" % (TABLE, DELETE_MOD))
            present[::DELETE_MOD] = False
            rr["deleted_rows"] = cur.rowcount
            rr["delete_vacuum_s"] = vacuum(conn)

        ids = np.flatnonzero(~present)
        t0 = now()
        lsn0 = wal_lsn(conn)
        executemany_batched(conn, ins_sql, [(str(i), texts[i]) for i in ids], bs)
        rr["reinserted_rows"] = len(ids)
        rr["reinsert_s"] = now() - t0
        rr["reinsert_wal_bytes"] = wal_since(conn, lsn0)
        rr["reinsert_rows_per_s"] = len(ids) / rr["reinsert_s"] if len(ids) else None
        present[ids] = True

        # rows to update: a share of another residue class (1..9, by round)
        cls = (rnd - 1) % (DELETE_MOD - 1) + 1
        cand = np.arange(cls, n, DELETE_MOD)
        n_upd = min(n_upd_req, len(cand))
        rate = rr["reinsert_rows_per_s"]
        if rate and n_upd:
            # an UPDATE costs about an INSERT; the round's VACUUM measured up to
            # about twice the first one (n = 20000)
            left = per_round - (now() - t_round) - 2 * m["vacuum_s"]
            fit = int(max(0.0, left) * rate * 0.9)
            fit = max(fit, min(n_upd, max(100, n // 100)))  # at least 1% (100 rows)
            if fit < n_upd:
                rr["update_reduced_from"] = n_upd
                n_upd = fit
                warn("%s: churn round %d: update share reduced from %d to %d rows (%.1f%%) to "
                     "fit --churn-budget %.0fs (re-insert ran at %.0f rows/s)"
                     % (ds.name, rnd, rr["update_reduced_from"], n_upd, 100.0 * n_upd / n,
                        a.churn_budget, rate))
        new = D.make_clustered_fresh(ds.dim, len(cand), stream=2 + rnd)[:n_upd]
        upd = np.sort(np.random.default_rng([D.CLUSTERED_SEED, 100 + rnd])
                      .permutation(cand)[:n_upd])
        new_texts = D.vector_texts(new)
        t0 = now()
        lsn0 = wal_lsn(conn)
        executemany_batched(conn, upd_sql, [(new_texts[j], str(i)) for j, i in enumerate(upd)],
                            bs)
        rr["updated_rows"] = int(n_upd)
        rr["update_s"] = now() - t0
        rr["update_wal_bytes"] = wal_since(conn, lsn0)
        rr["update_rows_per_s"] = n_upd / rr["update_s"] if n_upd else None
        vecs[upd] = new
        for j, i in enumerate(upd):
            texts[i] = new_texts[j]

        rr["vacuum_phases"] = {}
        lsn0 = wal_lsn(conn)
        rr["vacuum_s"] = vacuum(conn, rr["vacuum_phases"])
        rr["vacuum_wal_bytes"] = wal_since(conn, lsn0)
        rr["index_bytes"] = index_bytes(conn, idx)
        rr["info"] = index_info(conn, idx)
        rr["seconds"] = now() - t_round
        c["rounds"].append(rr)
        log("  churn round %d: %sre-insert %d rows %.1fs (%.0f rows/s), update %d rows %.1fs "
            "(%.0f rows/s), VACUUM %.2fs; index %.1f MB; %s; round %.0fs"
            % (rnd, ("delete %d + VACUUM %.2fs, " % (rr["deleted_rows"], rr["delete_vacuum_s"]))
               if rnd > 1 else "", len(ids), rr["reinsert_s"], rr["reinsert_rows_per_s"] or 0,
               n_upd, rr["update_s"], rr["update_rows_per_s"] or 0, rr["vacuum_s"],
               rr["index_bytes"] / 2**20, fmt_info(rr["info"]), rr["seconds"]))
    c["seconds"] = now() - t_churn
    c["rows"] = int(present.sum())
    c["index_bytes"] = c["rounds"][-1]["index_bytes"]
    c["size_ratio_vs_build"] = c["index_bytes"] / r["index_bytes"]
    c["table_bytes"] = scalar(conn, "SELECT pg_table_size(%t::regclass)", (TABLE,))
    c["info"] = c["rounds"][-1]["info"]
    if "error" not in c["info"]:
        c["elements_per_row"] = c["info"]["elements"] / c["rows"]
    c["update_frac_last_round"] = c["rounds"][-1]["updated_rows"] / n
    c["check"] = index_check(conn, idx)
    log("  churn: %.0fs; index %.1f MB = %.3f x after CREATE INDEX; %d rows; %s"
        % (c["seconds"], c["index_bytes"] / 2**20, c["size_ratio_vs_build"], c["rows"],
           fmt_info(c["info"])))
    log("  churn: hnsw_index_check: %s" % fmt_check(c["check"]))
    if "error" in c["check"]:
        warn("%s: hnsw_index_check after churn: %s" % (ds.name, c["check"]["error"]))
    _, gt_dist = D.ground_truth_rows(None, vecs, np.flatnonzero(present), ds.queries, k)
    efs = sorted(set(a.ef_search) | set(key_efs))
    c["recall"] = maint_recall(conn, ds, a, idx, efs, vecs, gt_dist, present)
    for ef, e in c["recall"].items():
        log("  churn: ef=%-4d recall %.4f (before the delete %.4f, %+.4f)  %.0f q/s"
            % (ef, e["recall"], m["recall_before"][ef]["recall"],
               e["recall"] - m["recall_before"][ef]["recall"], e["qps"]))
    c["exact_agrees"] = exact_agrees(conn, ds, a, "after churn", vecs, gt_dist, present)
    # the same rows in a fresh build: what the churned index is held to
    t0 = now()
    conn.execute("REINDEX INDEX %s" % idx)
    c["reindex_s"] = now() - t0
    c["recall_rebuilt"] = maint_recall(conn, ds, a, idx, efs, vecs, gt_dist, present)
    log("  churn: REINDEX %.1fs; recall of the rebuilt index: %s"
        % (c["reindex_s"], ", ".join("ef=%d %.4f" % (ef, e["recall"])
                                     for ef, e in c["recall_rebuilt"].items())))


# --------------------------------------------------------------------------
# report
# --------------------------------------------------------------------------

def fmt(v, spec, none="-"):
    return none if v is None else format(v, spec)


def verdict(ratio, target, le=True):
    if ratio is None:
        return "n/a"
    ok = ratio <= target if le else ratio >= target
    return "PASS" if ok else "FAIL"


def lowest_ef_at(efs, recall):
    """Lowest ef (by ef value) whose recall >= recall, or None."""
    for ef in sorted(efs):
        if efs[ef]["recall"] >= recall:
            return ef
    return None


def hl_ms(hl, sq, ef):
    """hnswlib's ms per query at ef: as timed beside the SQL pass at that ef
    when there is one, else from its own sweep."""
    e = sq["ef"].get(ef, {}) if sq and sq.get("hnsw_available") else {}
    return e.get("hnswlib_ms_beside", hl["ef"][ef]["ms_per_query"])


def report(ds, a, hl, sq):
    k = a.k
    out = {}
    log("")
    log("=" * 100)
    log("%s: %d x %d, %d queries, k=%d, m=%d, ef_construction=%d"
        % (ds.name, ds.n, ds.dim, len(ds.queries), k, a.m, a.ef_construction))
    log("=" * 100)
    hdr = "%-22s %5s %9s %10s %9s %10s %10s %9s %9s" % (
        "method", "ef", "recall@%d" % k, "QPS", "ms/q", "idx ms/q", "batch ms/q", "p99 ms", "idx/hnswlib")
    log(hdr)
    log("-" * len(hdr))
    if sq and "exact" in sq:
        e = sq["exact"]
        log("%-22s %5s %9.4f %10.1f %9.3f %10.3f %10s %9s %9s" % (
            "exact SQL (%d q)" % e["queries"], "-", e["recall"], e["qps"], e["ms_per_query"],
            e["ms_per_query"] - sq["floor_ms"], "-", "-", "-"))
    if hl:
        for ef in a.ef_search:
            e = hl["ef"][ef]
            log("%-22s %5d %9.4f %10.0f %9.4f %10s %10.4f %9.4f %9s" % (
                "hnswlib (1 thread)", ef, e["recall"], e["qps"], e["ms_per_query"], "-",
                e["batch_ms_per_query"], e["p99_ms"], "-"))
    ratios = {}
    if sq and sq.get("hnsw_available"):
        for ef in a.ef_search:
            e = sq["ef"][ef]
            ratio = None
            if hl:
                ratio = e["index_ms_per_query"] / hl_ms(hl, sq, ef)
                ratios[ef] = ratio
            log("%-22s %5d %9.4f %10.0f %9.4f %10.4f %10s %9.4f %9s" % (
                "hnsw (SQL)", ef, e["recall"], e["qps"], e["ms_per_query"],
                e["index_ms_per_query"], "-", e["p99_ms"], fmt(ratio, ".2f")))
    elif sq is not None:
        log("%-22s  not available%s" % ("hnsw (SQL)",
                                        (" (" + sq["hnsw_error"] + ")") if sq.get("hnsw_error") else ""))
    else:
        log("%-22s  not run (no SQL connection / extension)" % "SQL")
    log("")
    if sq and "floor_ms" in sq:
        log("SQL floor: prepared pk lookup %.4f ms/q (%.0f q/s); with a %d-dim vector parameter %.4f ms/q"
            % (sq["floor_ms"], 1e3 / sq["floor_ms"], ds.dim, sq["floor_vec_ms"]))
        log("           index-side ms/q = ms/q - the floor timed beside it at each ef "
            "(above, once: %.4f ms)" % sq["floor_ms"])
        if any("hnswlib_ms_beside" in e for e in sq.get("ef", {}).values()):
            log("           idx/hnswlib: against hnswlib timed beside each SQL pass, same "
                "queries and ef")
    out["ratio_index_time_same_ef"] = ratios

    for target in MATCH_RECALLS:
        report_matched(sq, hl, target, out)
    return report_build_insert(ds, a, hl, sq, out, k)


def report_matched(sq, hl, target, out):
    """Index-side time against hnswlib's at the lowest ef where each first
    reaches recall >= target (equal recall, not equal ef)."""
    hl_ef = lowest_ef_at(hl["ef"], target) if hl else None
    sq_ef = lowest_ef_at(sq["ef"], target) if sq and sq.get("hnsw_available") else None
    match = None
    if hl:
        hl_s = ("hnswlib ef=%d %.4f ms (recall %.4f)" % (hl_ef, hl_ms(hl, sq, hl_ef),
                                                         hl["ef"][hl_ef]["recall"])
                if hl_ef is not None else "hnswlib never reaches it")
    else:
        hl_s = "hnswlib skipped"
    if sq and sq.get("hnsw_available"):
        sq_s = ("hnsw ef=%d %.4f ms index-side (recall %.4f)"
                % (sq_ef, sq["ef"][sq_ef]["index_ms_per_query"], sq["ef"][sq_ef]["recall"])
                if sq_ef is not None else "hnsw never reaches it")
    else:
        sq_s = "hnsw n/a"
    if hl_ef is not None and sq_ef is not None:
        match = sq["ef"][sq_ef]["index_ms_per_query"] / hl_ms(hl, sq, hl_ef)
    log("matched recall >= %.2f: %s vs %s" % (target, sq_s, hl_s))
    log("  query time ratio (index-side / hnswlib per-query)  %6s   target <= %.1f   %s"
        % (fmt(match, ".2f"), TARGET_QUERY, verdict(match, TARGET_QUERY)))
    key = "matched_recall" if target == MATCH_RECALL else "matched_recall_%d" % round(target * 100)
    out[key] = {"recall": target, "hnsw_ef": sq_ef, "hnswlib_ef": hl_ef,
                "ratio": match, "target": TARGET_QUERY}


def report_build_insert(ds, a, hl, sq, out, k):
    """The build and insert verdicts."""
    # build
    build = None
    if hl and sq and sq.get("hnsw_available"):
        build = sq["build_s"] / hl["build_s"]
    log("build: hnsw %ss vs hnswlib %ss   ratio %6s   target <= %.1f   %s" % (
        fmt(sq.get("build_s") if sq else None, ".2f"), fmt(hl["build_s"] if hl else None, ".2f"),
        fmt(build, ".2f"), TARGET_BUILD, verdict(build, TARGET_BUILD)))
    out["build_ratio"] = build

    # insert
    ins = None
    si = sq.get("insert") if sq else None
    hl_ins = None
    if si and si.get("hnswlib_rows_per_s"):
        hl_ins = si["hnswlib_rows_per_s"]
    elif hl and "insert_rows_per_s" in hl:
        hl_ins = hl["insert_rows_per_s"]
    if si and "rows_per_s" in si and hl_ins:
        ins = si["rows_per_s"] / hl_ins
    if ds.insert_n > 0:
        log("insert (%d rows into an index built empty, %d rows/stmt, 1 txn each; median of %d "
            "rounds, hnswlib on the same batches interleaved): hnsw %s rows/s vs hnswlib %s "
            "rows/s (full build %s rows/s)"
            % (ds.insert_n, a.insert_batch, len(si.get("rounds", [])) if si else 0,
               fmt(si.get("rows_per_s") if si else None, ".0f"), fmt(hl_ins, ".0f"),
               fmt(hl["build_rows_per_s"] if hl else None, ".0f")))
        log("  insert rate ratio (hnsw / hnswlib same rows+batches)  %6s   target >= %.2f   %s"
            % (fmt(ins, ".2f"), TARGET_INSERT, verdict(ins, TARGET_INSERT, le=False)))
        if si and si.get("round_ratios"):
            log("    per round (SQL rate / hnswlib rate on the same batches): %s"
                % ", ".join(fmt(x, ".2f") for x in si["round_ratios"]))
        ins_b = None
        if si and "rows_per_s" in si and hl:
            ins_b = si["rows_per_s"] / hl["build_rows_per_s"]
        log("  insert rate ratio (hnsw / hnswlib full-build rate)    %6s   target >= %.2f   %s"
            % (fmt(ins_b, ".2f"), TARGET_INSERT, verdict(ins_b, TARGET_INSERT, le=False)))
        out["insert_ratio_vs_build_rate"] = ins_b
        log("  recall@%d at ef=%d of the incrementally built index: hnsw %s, hnswlib %s"
            % (k, a.insert_ef, fmt(si.get("recall") if si else None, ".4f"),
               fmt(hl.get("insert_recall") if hl else None, ".4f")))
    out["insert_ratio"] = ins

    raw = ds.n * ds.dim * 4
    parts = ["raw float32 vectors %.1f MB" % (raw / 2**20)]
    if sq and "heap_bytes" in sq:
        parts.append("table heap %.1f MB (incl. TOAST %.1f MB)"
                     % (sq["heap_bytes"] / 2**20, sq["table_bytes"] / 2**20))
    if sq and sq.get("hnsw_available"):
        parts.append("hnsw index %.1f MB (%.0f B/vector)" % (sq["index_bytes"] / 2**20,
                                                              sq["index_bytes"] / ds.n))
    if hl:
        parts.append("hnswlib save_index %.1f MB (%.0f B/vector)" % (hl["index_bytes"] / 2**20,
                                                                      hl["index_bytes"] / ds.n))
    log("sizes: " + "; ".join(parts))
    report_maintenance(ds, a, sq, out)
    return out


def report_maintenance(ds, a, sq, out):
    """The "maintenance" block of the summary; fills out["maintenance"]."""
    if not sq or not sq.get("hnsw_available"):
        return
    mt = sq.get("maintenance")
    if mt is None:
        log("maintenance: skipped (--no-maintenance)")
        return
    log("")
    log("maintenance (%d rows; DELETE of id %% %d = 0, then VACUUM, serial, autovacuum off):"
        % (ds.n, DELETE_MOD))
    if "error" in mt and "exact_agrees" not in mt:   # failed before the churn
        log("  failed: %s" % mt["error"].splitlines()[0])
        log("  (what was measured before the failure is in the JSON output, sql.maintenance)")
        out["maintenance"] = {"error": mt["error"]}
        return
    s = {"vacuum_s": mt["vacuum_s"], "build_s": sq["build_s"], "vacuum_ratio": mt["vacuum_ratio"],
         "vacuum_target": TARGET_VACUUM, "recall_drop_target": TARGET_RECALL_DROP}
    log("  delete %d rows %.2fs; VACUUM %.2fs vs CREATE INDEX %.2fs   ratio %6.3f   "
        "target < %.2f   %s" % (mt["deleted_rows"], mt["delete_s"], mt["vacuum_s"], sq["build_s"],
                                mt["vacuum_ratio"], TARGET_VACUUM,
                                verdict(mt["vacuum_ratio"], TARGET_VACUUM)))
    ph = mt.get("vacuum_phases") or {}
    if ph and "error" not in ph:
        idx_s = mt["vacuum_index_phases_s"]
        s["vacuum_index_phases_s"] = idx_s
        log("  VACUUM phases: index vacuuming + cleanup %.2fs (hnsw and the primary key btree; "
            "%.3f x CREATE INDEX), heap%s %.2fs"
            % (idx_s, idx_s / sq["build_s"], " and TOAST" if ds.integral else "",
               mt["vacuum_s"] - idx_s))
        log("    (%s)" % fmt_phases(ph))
    else:
        log("  (VACUUM time includes the heap%s and the primary key index)"
            % (" and TOAST" if ds.integral else ""))
    if mt.get("vacuum_wal_bytes") is not None and sq.get("build_wal_bytes") is not None:
        s["vacuum_wal_bytes"] = mt["vacuum_wal_bytes"]
        log("  WAL: VACUUM %.1f MB (all relations) vs CREATE INDEX %.1f MB; index %.1f MB"
            % (mt["vacuum_wal_bytes"] / 2**20, sq["build_wal_bytes"] / 2**20,
               sq["index_bytes"] / 2**20))
    log("  recall@%d, before: over all %d rows; after: over the %d remaining rows (brute force)"
        % (a.k, ds.n, mt["rows_after_delete"]))
    hdr = "  %6s %9s %13s %12s %9s   %s" % ("ef", "before", "deleted,unvac", "after VACUUM",
                                            "diff", "target within %.2f" % TARGET_RECALL_DROP)
    log(hdr)
    drops = {}
    for ef in mt["ef_search"]:
        b = mt["recall_before"][ef]["recall"]
        e = mt["recall_after"][ef]["recall"]
        u = mt["recall_deleted"].get(ef)
        drops[ef] = b - e
        mark = ""
        if ef == mt["ef_match"]:
            mark += " (first ef >= %.2f before)" % MATCH_RECALL
        if ef == MAINT_EF:
            mark += " (ef %d)" % MAINT_EF
        log("  %6d %9.4f %13s %12.4f %+9.4f   %s%s"
            % (ef, b, fmt(u["recall"] if u else None, ".4f"), e, e - b,
               "PASS" if b - e <= TARGET_RECALL_DROP else "FAIL", mark))
    s["recall_drop"] = drops
    key_drop = max(drops[ef] for ef in mt["key_ef_search"])
    s["recall_drop_key_efs"] = key_drop
    log("  worst change at ef %s: %+.4f   target >= -%.2f   %s"
        % ("/".join(map(str, mt["key_ef_search"])), 0.0 - key_drop + 0.0, TARGET_RECALL_DROP,
           "PASS" if key_drop <= TARGET_RECALL_DROP else "FAIL"))
    log("  hnsw_index_check after VACUUM: %s" % fmt_check(mt["check_vacuumed"]))
    log("  hnsw_index_info: after CREATE INDEX %s" % fmt_info(mt["info_built"]))
    log("                   after DELETE       %s" % fmt_info(mt["info_deleted"]))
    log("                   after VACUUM       %s" % fmt_info(mt["info_vacuumed"]))
    log("  index size: after CREATE INDEX %.1f MB, after DELETE + VACUUM %.1f MB"
        % (mt["index_bytes_built"] / 2**20, mt["index_bytes_vacuumed"] / 2**20))
    s["check_ok"] = "error" not in mt["check_vacuumed"]
    ch = mt.get("churn") or {}
    if "skipped" in ch:
        log("  churn: skipped (%s)" % ch["skipped"])
    elif "error" in mt:
        log("  churn: failed: %s" % mt["error"].splitlines()[0])
        log("  (what was measured before the failure is in the JSON output, sql.maintenance.churn)")
        s["error"] = mt["error"]
    elif ch:
        rounds = ch["rounds"]
        upd = [rr["updated_rows"] for rr in rounds]
        log("  churn: %d round(s) of re-insert the deleted %d%% (same ids and vectors), update "
            "%s rows to new vectors, VACUUM; %.0fs"
            % (len(rounds), 100 // DELETE_MOD, "/".join(map(str, upd)), ch["seconds"]))
        reduced = [rr for rr in rounds if "update_reduced_from" in rr]
        if reduced:
            log("  churn: UPDATE SHARE REDUCED to fit --churn-budget %gs: %s"
                % (ch["budget_s"], ", ".join("round %d %d -> %d rows" % (
                    rr["round"], rr["update_reduced_from"], rr["updated_rows"]) for rr in reduced)))
        for rr in rounds:
            log("    round %d: %sre-insert %d rows at %.0f rows/s, update %d rows at %.0f rows/s, "
                "VACUUM %.2fs (%.3f x CREATE INDEX); index %.1f MB"
                % (rr["round"], ("delete + VACUUM %.2fs, " % rr["delete_vacuum_s"])
                   if "delete_vacuum_s" in rr else "", rr["reinserted_rows"],
                   rr["reinsert_rows_per_s"] or 0, rr["updated_rows"],
                   rr["update_rows_per_s"] or 0, rr["vacuum_s"], rr["vacuum_s"] / sq["build_s"],
                   rr["index_bytes"] / 2**20))
            if rr.get("vacuum_wal_bytes") is not None:
                log("             WAL: re-insert %.1f MB, update %.1f MB, VACUUM %.1f MB"
                    % ((rr["reinsert_wal_bytes"] or 0) / 2**20,
                       (rr["update_wal_bytes"] or 0) / 2**20, rr["vacuum_wal_bytes"] / 2**20))
        log("  index size after churn %.1f MB = %.3f x after CREATE INDEX"
            % (ch["index_bytes"] / 2**20, ch["size_ratio_vs_build"]))
        info = ch["info"]
        if "error" not in info:
            log("  counts after churn: %d rows (index: %d indexed, %d active); elements %d "
                "(%.3f x rows; with full slot reuse about %.3f: rows + the last round's old "
                "row versions, freed by its VACUUM), elements_deleted %d, elements_active %d"
                % (ch["rows"], info["count_indexed"], info["count_active"], info["elements"],
                   ch["elements_per_row"], 1 + ch["update_frac_last_round"] * ds.n / ch["rows"],
                   info["elements_deleted"], info["elements_active"]))
        else:
            log("  counts after churn: %s" % fmt_info(info))
        log("  hnsw_index_check after churn: %s" % fmt_check(ch["check"]))
        rb = ch.get("recall_rebuilt", {})
        log("  recall@%d after churn, against a REINDEX of the same rows (target: within %.2f "
            "at every ef)" % (a.k, TARGET_RECALL_DROP))
        log("  %6s %9s %9s %9s %9s" % ("ef", "churned", "rebuilt", "diff", "verdict"))
        gaps = {}
        for ef, e in ch["recall"].items():
            f = rb.get(ef, {}).get("recall")
            gaps[ef] = None if f is None else e["recall"] - f
            log("  %6d %9.4f %9s %9s %9s"
                % (ef, e["recall"], fmt(f, ".4f"), fmt(gaps[ef], "+.4f"),
                   "-" if f is None else
                   ("PASS" if gaps[ef] >= -TARGET_RECALL_DROP else "FAIL")))
        worst = min((g for g in gaps.values() if g is not None), default=None)
        if worst is not None:
            log("  worst churned - rebuilt: %+.4f   target >= -%.2f   %s"
                % (worst, TARGET_RECALL_DROP, verdict(-worst, TARGET_RECALL_DROP)))
        s["churn"] = {"rounds": len(rounds), "seconds": ch["seconds"], "updated_rows": upd,
                      "size_ratio_vs_build": ch["size_ratio_vs_build"],
                      "elements_per_row": ch.get("elements_per_row"),
                      "recall": {ef: e["recall"] for ef, e in ch["recall"].items()},
                      "recall_rebuilt": {ef: e["recall"] for ef, e in rb.items()},
                      "worst_gap_vs_rebuilt": worst,
                      "check_ok": "error" not in ch["check"]}
    out["maintenance"] = s


# --------------------------------------------------------------------------
# main
# --------------------------------------------------------------------------

def server_info(conn):
    info = {"version": scalar(conn, "SHOW server_version")}
    for g in ("shared_buffers", "fsync", "synchronous_commit", "max_parallel_workers_per_gather",
              "jit", "work_mem"):
        try:
            info[g] = scalar(conn, "SHOW %s" % g)
        except Exception:
            pass
    try:
        info["extversion"] = scalar(conn, "SELECT extversion FROM pg_extension WHERE extname = 'hnswsearch'")
    except Exception:
        pass
    info["huge_pages"] = huge_pages_in_use(conn)
    info["vector_storage"] = ARGS.storage
    return info


def huge_pages_in_use(conn):
    """'on' if the server's shared memory is in 2 MB pages (huge_pages =
    try succeeded: pages of the pool are reserved or used), else 'off'."""
    try:
        setting = scalar(conn, "SHOW huge_pages")
        mem = {}
        with open("/proc/meminfo") as f:
            for line in f:
                key, _, val = line.partition(":")
                mem[key] = int(val.split()[0])
        used = mem.get("HugePages_Total", 0) - mem.get("HugePages_Free", 0) + mem.get("HugePages_Rsvd", 0)
        return "on" if setting != "off" and used > 0 else "off"
    except Exception:
        return "unknown"


def git_rev():
    try:
        return subprocess.run(["git", "-C", HERE, "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, timeout=10).stdout.strip() or None
    except Exception:
        return None


def jsonable(o):
    if isinstance(o, dict):
        return {str(k): jsonable(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [jsonable(v) for v in o]
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, np.bool_):
        return bool(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    return o


ARGS = None  # the parsed arguments, for helpers far from main


def main(argv):
    global ARGS
    a = ARGS = parse_args(argv)
    t_start = now()
    names = ["clustered", "fashion-mnist"] if a.dataset == "all" else [a.dataset]
    results = {"started": datetime.datetime.now().isoformat(timespec="seconds"),
               "args": vars(a), "host": platform.node(), "git": git_rev(),
               "cpu_count": os.cpu_count(), "datasets": {}}
    log("hnswsearch bench: datasets %s, k=%d, m=%d, ef_construction=%d, ef_search %s%s"
        % (",".join(names), a.k, a.m, a.ef_construction, ",".join(map(str, a.ef_search)),
           " (quick)" if a.quick else ""))

    load0 = os.getloadavg()
    results["loadavg_start"] = load0
    log("load average at start: %.2f %.2f %.2f on %d CPUs" % (load0 + (os.cpu_count(),)))
    if load0[0] > 0.5 * (os.cpu_count() or 1):
        warn("machine is busy (1-min load %.2f on %d CPUs): timings will be noisy"
             % (load0[0], os.cpu_count()))

    conn = None
    sql_failed = None
    if not a.no_sql:
        try:
            conn = sql_connect()
            conn.execute("CREATE EXTENSION IF NOT EXISTS hnswsearch")
            conn.execute("SET max_parallel_workers_per_gather = 0")
            results["server"] = server_info(conn)
            s = results["server"]
            log("server: PostgreSQL %s, shared_buffers %s, huge pages %s, fsync %s, "
                "synchronous_commit %s, hnswsearch %s; vector column STORAGE %s"
                % (s.get("version"), s.get("shared_buffers"), s.get("huge_pages"), s.get("fsync"),
                   s.get("synchronous_commit"), s.get("extversion"), s.get("vector_storage")))
        except Exception as e:
            sql_failed = str(e).strip().splitlines()[0] if str(e).strip() else repr(e)
            warn("SQL not available: %s; running hnswlib only" % sql_failed)
            results["sql_error"] = sql_failed
            conn = None

    for name in names:
        log("")
        ds = load_dataset(name, a)
        hl = None if a.no_hnswlib else run_hnswlib(ds, a)
        sq = None
        if conn is not None:
            try:
                sq = run_sql(conn, ds, a, hl)
                HNSWLIB_INDEX.clear()
            except Exception as e:
                msg = "%s: %s" % (type(e).__name__, str(e).strip())
                warn("%s: SQL part failed: %s" % (name, msg))
                sq = {"hnsw_available": False, "error": msg}
                # leave a usable connection for the next dataset
                try:
                    conn.close()
                except Exception:
                    pass
                try:
                    conn = sql_connect()
                    conn.execute("SET max_parallel_workers_per_gather = 0")
                except Exception:
                    conn = None
        summary = report(ds, a, hl, sq)
        results["datasets"][name] = {
            "n": ds.n, "dim": ds.dim, "queries": len(ds.queries), "desc": ds.desc,
            "insert_n": ds.insert_n, "hnswlib": hl, "sql": sq, "summary": summary}

    results["elapsed_s"] = now() - t_start
    results["loadavg_end"] = os.getloadavg()
    log("")
    log("load average at end: %.2f %.2f %.2f" % results["loadavg_end"])
    results["warnings"] = WARNINGS
    os.makedirs(OUT_DIR, exist_ok=True)
    path = a.json or os.path.join(
        OUT_DIR, "results-%s.json" % datetime.datetime.now().strftime("%Y%m%d-%H%M%S"))
    with open(path, "w") as f:
        json.dump(jsonable(results), f, indent=1)
    log("")
    log("results written to %s (%.0fs total)" % (os.path.relpath(path), results["elapsed_s"]))
    if WARNINGS:
        log("%d warning(s):" % len(WARNINGS))
        for w in WARNINGS:
            log("  - " + w.splitlines()[0])
    if conn is not None:
        conn.close()
    if sql_failed is not None:
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
