#!/usr/bin/python3
"""Calibration of the hnsw cost estimate against measured scan times.

For each table size N and dimension d (clustered Gaussian-mixture data from
datasets.py, the column in the type's default storage, i.e. out of line from
about 500 dimensions on), builds a table and an hnsw index (m 16,
ef_construction 64, L2) once, then for each hnsw.ef_search and LIMIT runs
`SELECT id FROM t ORDER BY v <-> '<query>' LIMIT k` for a set of queries:

* the planner's estimate of the query (Limit node total cost) with the
  index scan forced (enable_seqscan = off) and with the seq scan + sort
  forced (enable_indexscan = off), and which path it picks by itself;
* the execution time of both forced paths (EXPLAIN (ANALYZE, TIMING OFF):
  server-side execution only, no parse, plan or network), median over the
  queries after one warm-up query per path;
* for the index path, the layer-0 distances a scan computed, when the
  extension is built with the scan's DEBUG1 counter line ("hnswcal ...",
  a temporary instrumentation used for the calibration; absent otherwise).

Tables stay (named cal_<N>_<d>), so `--costs-only` re-reads just the
estimates (e.g. after changing the cost function) without timing anything.
Results are appended as JSON lines to --out.  Connects with the libpq
environment (PGHOST, PGPORT, ...).  Single client, as everything here.

  cost_calibrate.py --configs 1000x3,10000x1536 --efs 40,200 --limits 10,100
  cost_calibrate.py --costs-only --label new --configs ...
  cost_calibrate.py --report old,new     (a markdown table of the results)
"""

import argparse
import json
import os
import re
import struct
import sys
import time

import numpy as np
import psycopg

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import datasets as D  # noqa: E402


def log(msg):
    print(msg, flush=True)


def parse_args():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--configs", default="",
                   help="comma-separated NxD, e.g. 1000x3,100000x768")
    p.add_argument("--efs", default="40,200")
    p.add_argument("--limits", default="10,100")
    p.add_argument("--queries", type=int, default=15)
    p.add_argument("--storage", default="default", choices=["default", "plain"],
                   help="the column's storage: the type's (external, so out "
                   "of line from ~500 dimensions) or plain (in the row)")
    p.add_argument("--costs-only", action="store_true",
                   help="only the planner's estimates (tables must exist)")
    p.add_argument("--report", default=None, metavar="LABELS",
                   help="print a markdown table from --out: measured times "
                   "and, per comma-separated label, the planner's choices")
    p.add_argument("--label", default="",
                   help="stored with each result, e.g. which cost estimate")
    p.add_argument("--out", default=os.path.join(os.path.dirname(
        os.path.abspath(__file__)), "out", "cost_calibrate.jsonl"))
    return p.parse_args()


def binary_copy(conn, table, base):
    """COPY ... (FORMAT binary): the vector's binary form is int16 dim,
    int16 0, then dim big-endian float4 (vector_recv)."""
    n, dim = base.shape
    rec = np.dtype([("nf", ">i2"), ("l1", ">i4"), ("id", ">i4"), ("l2", ">i4"),
                    ("dim", ">i2"), ("unused", ">i2"), ("v", ">f4", (dim,))])
    with conn.cursor() as cur, conn.transaction():
        with cur.copy("COPY %s (id, v) FROM STDIN (FORMAT binary)" % table) as cp:
            cp.write(b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0))
            step = max(1, 20000000 // (4 * dim))
            for s in range(0, n, step):
                e = min(n, s + step)
                a = np.zeros(e - s, dtype=rec)
                a["nf"] = 2
                a["l1"] = 4
                a["id"] = np.arange(s, e)
                a["l2"] = 4 + 4 * dim
                a["dim"] = dim
                a["v"] = base[s:e]
                cp.write(a.tobytes())
            cp.write(struct.pack(">h", -1))


def ensure_table(conn, n, dim, nq, storage, create=True):
    """Creates and indexes cal_<n>_<dim>[_plain] unless it exists; returns
    the queries and the seconds the load and the index build took (None if
    the table was there)."""
    table = "cal_%d_%d%s" % (n, dim, "" if storage == "default" else "_" + storage)
    base, queries = D.make_clustered(n, dim, max(nq, 20))
    exists = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (table,)).fetchone()[0]
    if exists or not create:
        return (table if exists else None), queries[:nq], None, None
    conn.execute("CREATE TABLE %s (id int, v vector(%d))" % (table, dim))
    if storage == "plain":
        conn.execute("ALTER TABLE %s ALTER COLUMN v SET STORAGE PLAIN" % table)
    t0 = time.perf_counter()
    binary_copy(conn, table, base)
    load_s = time.perf_counter() - t0
    conn.execute("SET maintenance_work_mem = '4GB'")
    t0 = time.perf_counter()
    conn.execute("CREATE INDEX %s_idx ON %s USING hnsw (v vector_l2_ops) "
                 "WITH (m = 16, ef_construction = 64)" % (table, table))
    build_s = time.perf_counter() - t0
    conn.execute("VACUUM (ANALYZE) %s" % table)
    return table, queries[:nq], load_s, build_s


def qtext(q):
    return "[" + ",".join("%.4f" % x for x in q.tolist()) + "]"


def plan_of(conn, sql, analyze):
    opts = "ANALYZE, TIMING OFF, BUFFERS, FORMAT JSON" if analyze else "FORMAT JSON"
    row = conn.execute("EXPLAIN (%s) %s" % (opts, sql)).fetchone()[0]
    doc = row[0] if isinstance(row, list) else json.loads(row)[0]
    return doc


def node_types(node):
    out = [node["Node Type"]]
    for c in node.get("Plans", []):
        out += node_types(c)
    return out


def force(conn, path):
    conn.execute("SET enable_seqscan = %s" % ("off" if path == "index" else "on"))
    conn.execute("SET enable_indexscan = %s" % ("off" if path == "seq" else "on"))


def measure(conn, table, queries, ef, k, costs_only, counters, seq_cache):
    conn.execute("SET hnsw.ef_search = %d" % ef)
    sqls = ["SELECT id FROM %s ORDER BY v <-> '%s' LIMIT %d" % (table, qtext(q), k)
            for q in queries]
    r = {"ef": ef, "limit": k}
    force(conn, "default")
    p = plan_of(conn, sqls[0], False)["Plan"]
    r["chosen"] = "index" if "Index Scan" in node_types(p) else "seq"
    for path in ("index", "seq"):
        force(conn, path)
        p = plan_of(conn, sqls[0], False)["Plan"]
        r[path + "_cost"] = p["Total Cost"]
        r[path + "_startup"] = p["Startup Cost"]
        if costs_only:
            continue
        if path == "seq" and k in seq_cache:
            # the seq scan + sort does not depend on ef_search
            r.update(seq_cache[k])
            continue
        if path == "index":
            conn.execute("SET client_min_messages = debug1")
        plan_of(conn, sqls[0], True)    # warm-up
        times, dists, bufs = [], [], []
        for s in sqls:
            counters.clear()
            doc = plan_of(conn, s, True)
            times.append(doc["Execution Time"])
            bufs.append(doc["Plan"].get("Shared Hit Blocks", 0) +
                        doc["Plan"].get("Shared Read Blocks", 0))
            for c in counters:
                m = re.search(r"distances=(\d+)", c)
                if m:
                    dists.append(int(m.group(1)))
        conn.execute("SET client_min_messages = notice")
        r[path + "_ms"] = float(np.median(times))
        r[path + "_buffers"] = float(np.median(bufs))
        if dists:
            r[path + "_distances"] = float(np.median(dists))
        if path == "seq":
            seq_cache[k] = {"seq_ms": r["seq_ms"], "seq_buffers": r["seq_buffers"]}
    force(conn, "default")
    return r


def report(a):
    """One line per table: the seq scan's time (LIMIT 10), the index scan's
    time and the layer-0 distances for (ef_search, LIMIT) = (40, 10), (40,
    100), (200, 10), (200, 100), and per label the planner's choice in those
    four cases (I index, S seq scan; lower case where it is wrong: the seq
    scan although the index measured at least 2x faster, or the index
    although it measured slower)."""
    meas, est = {}, {}
    labels = a.report.split(",")
    for line in open(a.out):
        r = json.loads(line)
        key = (r["n"], r["dim"], r.get("storage", "default"))
        if "seq_ms" in r:
            meas.setdefault(key, {})[(r["ef"], r["limit"])] = r
        if r.get("label") in labels:
            est.setdefault((key, r["label"]), {})[(r["ef"], r["limit"])] = r
    cases = [(40, 10), (40, 100), (200, 10), (200, 100)]
    print("| N | dim | storage | seq ms | index ms | seq / index | distances | "
          + " | ".join(labels) + " |")
    print("|---:|---:|---|---:|---|---|---|" + "---|" * len(labels))
    wrong = {lb: 0 for lb in labels}
    for key in sorted(meas):
        m = meas[key]
        if not all(c in m for c in cases):
            continue
        cols = ["%d" % key[0], "%d" % key[1], key[2], "%.3f" % m[(40, 10)]["seq_ms"],
                " / ".join("%.3f" % m[c]["index_ms"] for c in cases),
                " / ".join("%.1f" % (m[c]["seq_ms"] / m[c]["index_ms"]) for c in cases),
                " / ".join("%d" % m[c].get("index_distances", 0) for c in cases)]
        for lb in labels:
            e = est.get((key, lb), {})
            out = ""
            for c in cases:
                if c not in e:
                    out += "?"
                    continue
                ratio = m[c]["seq_ms"] / m[c]["index_ms"]
                ch = e[c]["chosen"]
                bad = (ch == "seq" and ratio >= 2) or (ch == "index" and ratio < 1)
                wrong[lb] += bad
                out += ("I" if ch == "index" else "S").lower() if bad else \
                    ("I" if ch == "index" else "S")
            cols.append(out)
        print("| " + " | ".join(cols) + " |")
    print()
    print("wrong choices: " + ", ".join("%s %d" % (lb, wrong[lb]) for lb in labels))


def main():
    a = parse_args()
    if a.report:
        report(a)
        return
    os.makedirs(os.path.dirname(a.out), exist_ok=True)
    conn = psycopg.connect(autocommit=True)
    counters = []
    conn.add_notice_handler(lambda d: counters.append(d.message_primary or ""))
    conn.execute("SET max_parallel_workers_per_gather = 0")
    conn.execute("SET jit = off")
    for cfg in a.configs.split(","):
        n, dim = (int(x) for x in cfg.lower().split("x"))
        log("== N %d  dim %d" % (n, dim))
        table, queries, load_s, build_s = ensure_table(conn, n, dim, a.queries,
                                                       a.storage, not a.costs_only)
        if table is None:
            log("   no table (--costs-only builds nothing): skipped")
            continue
        if build_s is not None:
            log("   load %.1fs, index build %.1fs" % (load_s, build_s))
        info = conn.execute(
            "SELECT c.relpages, c.reltuples, i.relpages, "
            "pg_total_relation_size(c.oid) - pg_indexes_size(c.oid) "
            "FROM pg_class c, pg_class i WHERE c.relname = %s AND i.relname = %s",
            (table, table + "_idx")).fetchone()
        seq_cache = {}
        for ef in (int(x) for x in a.efs.split(",")):
            for k in (int(x) for x in a.limits.split(",")):
                r = measure(conn, table, queries, ef, k, a.costs_only, counters,
                            seq_cache)
                r.update({"n": n, "dim": dim, "storage": a.storage,
                          "heap_pages": info[0],
                          "index_pages": info[2], "table_bytes": info[3],
                          "build_s": build_s, "costs_only": a.costs_only,
                          "label": a.label,
                          "time": time.strftime("%Y-%m-%d %H:%M:%S")})
                log("   " + json.dumps(r))
                with open(a.out, "a") as f:
                    f.write(json.dumps(r) + "\n")


if __name__ == "__main__":
    main()
