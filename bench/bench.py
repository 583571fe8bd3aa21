#!/usr/bin/python3
"""hnswsearch benchmark: the `hnsw` index access method vs exact SQL search
vs hnswlib, on a clustered synthetic set and Fashion-MNIST (by default), and
on request on unit-length clustered sets of 1,536 and 3,072 dimensions
searched by cosine distance (--dataset cos1536,cos3072), and with one index
per index storage (--storages float4,half,sq8).

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
import subprocess
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_common import DATASETS, DELETE_MOD, Run, log, now  # noqa: E402
from bench_data import load_dataset  # noqa: E402
from bench_hnswlib import run_hnswlib  # noqa: E402
from bench_report import report  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
OUT_DIR = os.path.join(HERE, "out")


# --------------------------------------------------------------------------
# arguments
# --------------------------------------------------------------------------

def int_list(text):
    return [int(x) for x in text.split(",") if x.strip()]


def dataset_list(text):
    """--dataset: "all" (clustered and fashion-mnist) or a comma list."""
    if text == "all":
        return ["clustered", "fashion-mnist"]
    names = [x.strip() for x in text.split(",") if x.strip()]
    for x in names:
        if x not in DATASETS:
            raise argparse.ArgumentTypeError("unknown data set %r (one of %s, or all)"
                                             % (x, ", ".join(DATASETS)))
    if not names:
        raise argparse.ArgumentTypeError("no data set")
    return list(dict.fromkeys(names))


def n_spec(text):
    """--n: a number for every data set, or name=number pairs."""
    out = {}
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        name, sep, num = part.rpartition("=")
        if sep and name not in DATASETS:
            raise argparse.ArgumentTypeError("unknown data set %r in --n" % name)
        try:
            out[name if sep else "*"] = int(num)
        except ValueError:
            raise argparse.ArgumentTypeError("--n: %r is not a number" % num)
    return out


def storage_list(text):
    """--storages: index storages, e.g. float4,half,sq8 (passed to the
    server as the storage option; it says which it knows)."""
    names = [x.strip() for x in text.split(",") if x.strip()]
    for x in names:
        if not x.replace("_", "").isalnum():
            raise argparse.ArgumentTypeError("bad storage name %r" % x)
    # float4, the main index's (default) storage, is always the baseline
    return list(dict.fromkeys(["float4"] + names))


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", default=["clustered", "fashion-mnist"], type=dataset_list,
                   help="all (= clustered,fashion-mnist, the default) or a comma list of "
                        "clustered, fashion-mnist, cos1536 (unit-length clustered, 1,536 "
                        "dimensions, cosine), cos3072 (the same at 3,072)")
    p.add_argument("--n", type=n_spec, default=None,
                   help="base vectors: a number for every data set, or name=number pairs "
                        "(default clustered 100000, fashion-mnist 60000 = all, cos1536 100000, "
                        "cos3072 50000; --quick 5000)")
    p.add_argument("--dim", type=int, default=None, help="clustered only (default 128)")
    p.add_argument("--queries", type=int, default=None, help="default 1000")
    p.add_argument("--exact-queries", type=int, default=None,
                   help="queries timed for exact (unindexed) SQL search (default 50)")
    p.add_argument("--m", type=int, default=16)
    p.add_argument("--ef-construction", type=int, default=64)
    p.add_argument("--ef-search", type=int_list, default=None,
                   help="comma list (default 4,6,8,10,15,20,30,40,60,80,100,120,160,200,300,400; "
                        "--quick 10,20,40,80,120,200,400)")
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
    p.add_argument("--churn-rebuilds", type=int, default=3,
                   help="REINDEXes of the churned rows the churned index is compared with "
                        "(their mean recall per ef; one build's recall at ef 10-20 varies by "
                        "about 0.01 from one build to the next)")
    p.add_argument("--churn-batch", type=int, default=1000,
                   help="rows per transaction (one executemany) in the churn phase")
    p.add_argument("--storage", default="plain", choices=["plain", "external"],
                   help="the vector column's STORAGE in the bench tables: plain keeps each "
                        "row's vector in the heap page (if it fits), so the executor's "
                        "per-row distance reads no TOAST; external is the type's default")
    p.add_argument("--storages", type=storage_list, default=None,
                   help="comma list of index storages, e.g. float4,half,sq8: after the main "
                        "index's sweep, one index per storage (WITH (storage = ...)), its "
                        "build time, size and ef sweep, compared at equal recall with the "
                        "float4 index (always included) and hnswlib "
                        "(default: none)")
    p.add_argument("--storage-seed", type=int, default=1,
                   help="hnsw.level_seed for the storage indexes: every storage's index "
                        "(float4's too, built again instead of taking the main one) gets "
                        "the same levels, so that the storages are compared on one graph; "
                        "0: no seed, float4 is the main index (default: 1)")
    p.add_argument("--json", default=None, help="output path (default bench/out/results-<ts>.json)")
    opts = p.parse_args(argv)

    if opts.quick:
        opts.n = dict({"*": 5000}, **(opts.n or {}))
        dflt = dict(dim=32, queries=100, exact_queries=20, insert_n=2000,
                    ef_search=[10, 20, 40, 80, 120, 200, 400])
    else:
        dflt = dict(dim=128, queries=1000, exact_queries=50, insert_n=20000,
                    ef_search=[4, 6, 8, 10, 15, 20, 30, 40, 60, 80, 100, 120, 160, 200,
                               300, 400])
    for key, v in dflt.items():
        if getattr(opts, key) is None:
            setattr(opts, key, v)
    if opts.k < 1 or opts.queries < 1:
        p.error("--k and --queries must be >= 1")
    if opts.churn_rounds < 0 or not 0.0 <= opts.churn_update_frac <= 1.0 / DELETE_MOD:
        p.error("--churn-rounds must be >= 0 and --churn-update-frac in [0, 0.10]")
    if opts.churn_rebuilds < 1:
        p.error("--churn-rebuilds must be >= 1")
    if opts.churn_batch < 1:
        p.error("--churn-batch must be >= 1")
    opts.exact_queries = min(opts.exact_queries, opts.queries)
    return opts



# --------------------------------------------------------------------------
# main
# --------------------------------------------------------------------------

def git_rev():
    try:
        return subprocess.run(["git", "-C", HERE, "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, timeout=10).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def jsonable(obj):
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, (np.floating,)):
        return float(obj)
    return obj


def error_text(err):
    return str(err).strip().splitlines()[0] if str(err).strip() else repr(err)


def open_sql(run, results):
    """The bench's connection, with the extension created and the server's
    settings in results["server"]; or None, with the reason in
    results["sql_error"], when psycopg or the server is not there."""
    try:
        import psycopg
    except ImportError as e:
        reason = error_text(e)
    else:
        from bench_sql import server_info, sql_connect
        try:
            conn = sql_connect()
            conn.execute("CREATE EXTENSION IF NOT EXISTS hnswsearch")
            conn.execute("SET max_parallel_workers_per_gather = 0")
            results["server"] = server_info(conn, run.opts.storage)
            s = results["server"]
            log("server: PostgreSQL %s, shared_buffers %s, huge pages %s, fsync %s, "
                "synchronous_commit %s, hnswsearch %s; vector column STORAGE %s"
                % (s.get("version"), s.get("shared_buffers"), s.get("huge_pages"), s.get("fsync"),
                   s.get("synchronous_commit"), s.get("extversion"), s.get("vector_storage")))
            return conn
        except psycopg.Error as e:
            reason = error_text(e)
    run.warn("SQL not available: %s; running hnswlib only" % reason)
    results["sql_error"] = reason
    return None


def sql_phases(conn, ds, run, hl_index, hl_res):
    """The SQL side of one data set: the query phases (bench_sql.run_sql),
    the index storages (--storages, bench_storage), then the maintenance
    phases on the same table (unless --no-maintenance), then the table is
    dropped (unless --keep-tables)."""
    from bench_maintenance import run_maintenance
    from bench_sql import TABLE, drop_table, run_sql
    sql_res = run_sql(conn, ds, run, hl_index)
    if run.opts.storages and (sql_res["hnsw_available"] or sql_res.get("table_kept")):
        from bench_storage import run_storages
        run_storages(conn, ds, run, hl_index, hl_res, sql_res)
    if not sql_res["hnsw_available"]:
        if sql_res.get("table_kept") and not run.opts.keep_tables:
            drop_table(conn, TABLE)
        return sql_res
    if not run.opts.no_maintenance:
        run_maintenance(conn, ds, run, sql_res)
    if not run.opts.keep_tables:
        drop_table(conn, TABLE)
    return sql_res


def reconnect(conn):
    """After a failed SQL part: a fresh connection for the next data set, or
    None."""
    import psycopg
    from bench_sql import sql_connect
    try:
        conn.close()
    except psycopg.Error:
        pass
    try:
        conn = sql_connect()
        conn.execute("SET max_parallel_workers_per_gather = 0")
        return conn
    except psycopg.Error:
        return None


def bench_dataset(conn, name, run):
    """Load one data set, run hnswlib and SQL on it, print its report.
    Returns its entry of the JSON's "datasets" and the connection to go on
    with (None once SQL is lost)."""
    opts = run.opts
    log("")
    ds = load_dataset(name, run)
    hl_res, hl_index = (None, None) if opts.no_hnswlib else run_hnswlib(ds, opts)
    sql_res = None
    if conn is not None:
        import psycopg
        try:
            sql_res = sql_phases(conn, ds, run, hl_index, hl_res)
        except psycopg.Error as e:
            msg = "%s: %s" % (type(e).__name__, str(e).strip())
            run.warn("%s: SQL part failed: %s" % (name, msg))
            sql_res = {"hnsw_available": False, "error": msg}
            # leave a usable connection for the next dataset
            conn = reconnect(conn)
    del hl_index
    summary = report(ds, opts, hl_res, sql_res)
    if opts.storages:
        from bench_storage import report_storages
        summary["storages"] = report_storages(ds, opts, hl_res, sql_res)
    entry = {"n": ds.n, "dim": ds.dim, "queries": len(ds.queries), "desc": ds.desc,
             "insert_n": ds.insert_n, "hnswlib": hl_res, "sql": sql_res, "summary": summary}
    return entry, conn


def main(argv):
    run = Run(parse_args(argv))
    opts = run.opts
    t_start = now()
    names = opts.dataset
    results = {"started": datetime.datetime.now().isoformat(timespec="seconds"),
               "args": vars(opts), "host": platform.node(), "git": git_rev(),
               "cpu_count": os.cpu_count(), "datasets": {}}
    log("hnswsearch bench: datasets %s, k=%d, m=%d, ef_construction=%d, ef_search %s%s%s"
        % (",".join(names), opts.k, opts.m, opts.ef_construction,
           ",".join(map(str, opts.ef_search)), " (quick)" if opts.quick else "",
           ", storages %s" % ",".join(opts.storages) if opts.storages else ""))

    load0 = os.getloadavg()
    results["loadavg_start"] = load0
    log("load average at start: %.2f %.2f %.2f on %d CPUs" % (load0 + (os.cpu_count(),)))
    if load0[0] > 0.5 * (os.cpu_count() or 1):
        run.warn("machine is busy (1-min load %.2f on %d CPUs): timings will be noisy"
                 % (load0[0], os.cpu_count()))

    conn = None
    sql_failed = False
    if not opts.no_sql:
        conn = open_sql(run, results)
        sql_failed = conn is None

    for name in names:
        results["datasets"][name], conn = bench_dataset(conn, name, run)

    results["elapsed_s"] = now() - t_start
    results["loadavg_end"] = os.getloadavg()
    log("")
    log("load average at end: %.2f %.2f %.2f" % results["loadavg_end"])
    results["warnings"] = run.warnings
    os.makedirs(OUT_DIR, exist_ok=True)
    path = opts.json or os.path.join(
        OUT_DIR, "results-%s.json" % datetime.datetime.now().strftime("%Y%m%d-%H%M%S"))
    with open(path, "w") as f:
        json.dump(jsonable(results), f, indent=1)
    log("")
    log("results written to %s (%.0fs total)" % (os.path.relpath(path), results["elapsed_s"]))
    if run.warnings:
        log("%d warning(s):" % len(run.warnings))
        for w in run.warnings:
            log("  - " + w.splitlines()[0])
    if conn is not None:
        conn.close()
    return 1 if sql_failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
