"""The SQL side: the bench table, the floor, exact search, CREATE INDEX, the
hnsw.ef_search sweep and the incremental insert; the helpers the
maintenance phases share (recall of the index at some ef, WAL, sizes)."""

import re
from dataclasses import dataclass

import numpy as np
import psycopg

import datasets as D
from bench_common import TABLE, TABLE_INS, best_of, fmt, log, now, recall_efs
from bench_data import base_texts
from bench_hnswlib import hnswlib_empty, hnswlib_pass


def sql_connect():
    return psycopg.connect(autocommit=True)


def first_line(err):
    """The first line of a database error, for the output."""
    return str(err).strip().splitlines()[0]


def scalar(conn, sql, params=None):
    cur = conn.execute(sql, params)
    row = cur.fetchone()
    return row[0] if row else None


def backend_cpu(conn):
    """Seconds of CPU the connection's server process has used so far (the
    first field of /proc/PID/schedstat), or None where the bench cannot
    read it (a server on another machine, another user's process)."""
    try:
        with open("/proc/%d/schedstat" % conn.info.backend_pid) as f:
            return int(f.read().split()[0]) / 1e9
    except (OSError, ValueError, IndexError):
        return None


def timed_loop(conn, sql, param_list, warmup=0, cpu=None):
    """One statement per round trip, prepared server-side.  Returns
    (total seconds, per-query latencies, list of first-column results).
    With a dict cpu, sets cpu["s"] to the server process's CPU seconds over
    the timed statements (None where unreadable): unlike the wall clock,
    it leaves out the client's share of this 2-core machine and the
    scheduling between the two."""
    cur = conn.cursor()
    for params in param_list[:warmup]:
        cur.execute(sql, params, prepare=True)
        cur.fetchall()
    lat = np.empty(len(param_list))
    res = []
    c0 = backend_cpu(conn) if cpu is not None else None
    t0 = now()
    for i, params in enumerate(param_list):
        t1 = now()
        cur.execute(sql, params, prepare=True)
        rows = cur.fetchall()
        lat[i] = now() - t1
        res.append([row[0] for row in rows])
    total = now() - t0
    if cpu is not None:
        c1 = backend_cpu(conn)
        cpu["s"] = c1 - c0 if c0 is not None and c1 is not None else None
    cur.close()
    return total, lat, res


def create_table(conn, table, dim, storage):
    """The bench table; with storage "plain" (--storage, and a vector that
    fits a heap page) its vectors stay in the row instead of TOAST."""
    conn.execute("DROP TABLE IF EXISTS %s" % table)
    conn.execute("CREATE TABLE %s (id int PRIMARY KEY, embedding vector(%d))" % (table, dim))
    if storage == "plain" and 8 + 4 * dim <= 7000:
        conn.execute("ALTER TABLE %s ALTER COLUMN embedding SET STORAGE PLAIN" % table)


def load_table(conn, table, texts, storage):
    create_table(conn, table, texts_dim(texts), storage)
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


def load_table_binary(conn, table, base, storage, rows_per_write=2000):
    """load_table from the float32 array base (row i is id i) in COPY's
    binary format: the same rows, without formatting and parsing text."""
    create_table(conn, table, base.shape[1], storage)
    with conn.cursor() as cur:
        t0 = now()
        with conn.transaction():
            with cur.copy("COPY %s (id, embedding) FROM STDIN (FORMAT binary)" % table) as cp:
                cp.write(D.COPY_BINARY_HEADER)
                for s in range(0, base.shape[0], rows_per_write):
                    cp.write(D.copy_binary(base[s:s + rows_per_write], s))
                cp.write(D.COPY_BINARY_TRAILER)
        copy_s = now() - t0
        cur.execute("VACUUM (ANALYZE) %s" % table)
    return copy_s


def texts_dim(texts):
    return texts[0].count(",") + 1


def wal_lsn(conn):
    """The current WAL position, or None where the server cannot say."""
    try:
        return scalar(conn, "SELECT pg_current_wal_lsn()::text")
    except psycopg.Error:
        return None


def wal_since(conn, lsn):
    """WAL bytes written (by everyone) since wal_lsn() returned lsn."""
    if lsn is None:
        return None
    try:
        return int(scalar(conn, "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), %t::pg_lsn)",
                          (lsn,)))
    except psycopg.Error:
        return None


def explain(conn, sql, params):
    cur = conn.execute("EXPLAIN " + sql, params)
    return "\n".join(re.sub(r"'\[[^\]]{40,}\]'", "'[...]'", r[0]) for r in cur.fetchall())


def plan_of(conn, ds, knn_sql):
    """EXPLAIN of knn_sql for the first query (as a literal, not prepared)."""
    return explain(conn, knn_sql.replace("%t::vector", "%s::vector"), (ds.query_texts[0],))


def index_bytes(conn, idx):
    return scalar(conn, "SELECT pg_relation_size(%t::regclass)", (idx,))


def knn_sql_for(table, k, op="<->"):
    return "SELECT id FROM %s ORDER BY embedding %s %%t::vector LIMIT %d" % (table, op, k)


def drop_table(conn, table):
    conn.execute("DROP TABLE IF EXISTS %s" % table)


def floor_sql_for(k):
    """The floor: k rows by primary key, the round trip, executor, heap
    fetches and client-side row handling a k-NN query also pays (the client
    library is pure Python here, a few microseconds per row), without the
    vector search.  Before, it returned one row, which left about 0.03 ms
    of the k-row handling in the index-side times."""
    return "SELECT id FROM %s WHERE id >= %%t::int ORDER BY id LIMIT %d" % (TABLE, k)


def floor_params(ds):
    """The floor's starting ids: one random id per query (seeded), with
    rows enough after it for any k up to 1,000."""
    rng = np.random.default_rng(1)
    hi = max(1, ds.n - 1000)
    return [(str(int(i)),) for i in rng.integers(0, hi, size=len(ds.queries))]


def misordered(ds, res, k):
    """How many queries' results are not in ascending exact distance, with
    a tolerance for the server's float arithmetic: 1e-5 relative, and for
    cosine 1e-6 absolute besides (1 - a.b summed in float over unit vectors
    errs by about 1e-7 whatever the distance, 1e-5 of a distance of 0.01:
    two rows the operator itself ties came out 1.4e-7 apart in numpy's
    double sums on the 1,536-d set)."""
    bad = 0
    atol = 1e-6 if ds.metric == "cosine" else 1e-9
    for qi, ids in enumerate(res):
        ids = np.asarray(ids[:k], dtype=np.int64)
        if len(ids) < 2 or ids.min() < 0 or ids.max() >= ds.n:
            continue
        d = D.exact_dist(ds.base, ds.queries[qi], ids, ds.metric)
        if np.any(d[:-1] > d[1:] * (1 + 1e-5) + atol):
            bad += 1
    return bad


@dataclass
class SweepQueries:
    """The statements and parameters each pass of the SQL sweep times."""
    knn_sql: str       # the k-NN query, one vector parameter
    knn_params: list   # one tuple per query
    floor_sql: str     # k rows by primary key (the floor)
    floor_params: list


def sql_sweep_point(conn, ds, opts, ef, sweep, hl_index):
    """One ef of the SQL sweep.  Each pass times, back to back, the hnswlib
    index (if given) on the same queries at the same ef, the floor (k rows
    by primary key) and the SQL queries, so that the ratio and the floor
    subtracted come from the same seconds of this shared machine;
    the fastest pass of each is kept (up to opts.repeat passes, fewer when a
    SQL pass exceeds opts.repeat_budget)."""
    k = opts.k
    queries = ds.queries
    nq = len(queries)
    best = None
    floor_s = None
    hl_s = None
    cpu = {"floor": [], "knn": []}
    passes = 0
    if hl_index is not None:
        hl_index.set_ef(max(ef, k))
    for _ in range(max(1, opts.repeat)):
        if hl_index is not None:
            t = hnswlib_pass(hl_index, queries, k, warmup=20)[0]
            hl_s = t if hl_s is None else min(hl_s, t)
        c = {}
        t = timed_loop(conn, sweep.floor_sql, sweep.floor_params, warmup=50, cpu=c)[0]
        floor_s = t if floor_s is None else min(floor_s, t)
        cpu["floor"].append(c["s"])
        c = {}
        got = timed_loop(conn, sweep.knn_sql, sweep.knn_params, warmup=min(20, nq), cpu=c)
        cpu["knn"].append(c["s"])
        passes += 1
        if best is None or got[0] < best[0]:
            best = got
        if got[0] > opts.repeat_budget:
            break
    tot, lat, res = best
    ms = 1e3 * tot / nq
    e = {"recall": D.recall(ds.base, ds.queries, ds.gt_dist, res, k, metric=ds.metric),
         "qps": nq / tot, "ms_per_query": ms,
         "floor_ms": 1e3 * floor_s / len(sweep.floor_params),
         "p50_ms": 1e3 * float(np.percentile(lat, 50)),
         "p99_ms": 1e3 * float(np.percentile(lat, 99)),
         "short_results": int(sum(1 for x in res if len(x) < k)),
         "misordered": misordered(ds, res, k),
         "passes": passes}
    e["index_ms_per_query"] = ms - e["floor_ms"]
    # the server's CPU: the least of the passes, the floor's likewise
    if None not in cpu["floor"] + cpu["knn"]:
        e["cpu_ms_per_query"] = 1e3 * min(cpu["knn"]) / nq
        e["floor_cpu_ms"] = 1e3 * min(cpu["floor"]) / len(sweep.floor_params)
        e["index_cpu_ms_per_query"] = e["cpu_ms_per_query"] - e["floor_cpu_ms"]
    if hl_s is not None:
        e["hnswlib_ms_beside"] = 1e3 * hl_s / nq
    return e


def log_sweep_point(label, ef, e):
    """One line of a sweep's output."""
    log("  %-8s ef=%-4d recall %.4f  %.0f q/s  %.4f ms/q (index-side %.4f; floor %.4f%s%s)%s%s"
        % (label, ef, e["recall"], e["qps"], e["ms_per_query"], e["index_ms_per_query"],
           e["floor_ms"], "; hnswlib beside it %.4f" % e["hnswlib_ms_beside"]
           if "hnswlib_ms_beside" in e else "",
           "; server CPU index-side %.4f" % e["index_cpu_ms_per_query"]
           if "index_cpu_ms_per_query" in e else "",
           "  [%d queries returned < k rows]" % e["short_results"]
           if e["short_results"] else "",
           "  [%d queries' rows out of distance order]" % e["misordered"]
           if e["misordered"] else ""))


def run_sql(conn, ds, run, hl_index):
    """COPY, the floor, exact search, CREATE INDEX (serial), the ef sweep
    (hl_index, hnswlib's built index or None, timed beside each pass) and
    the incremental insert.  Returns the results (the JSON's "sql"); when
    the index cannot be built, without the index parts (and TABLE dropped
    unless --keep-tables), else with TABLE and its index left for the
    maintenance phases."""
    opts = run.opts
    res = {"hnsw_available": False}
    k = opts.k
    nq = len(ds.queries)
    qparams = [(t,) for t in ds.query_texts]
    knn_sql = knn_sql_for(TABLE, k, ds.op)

    if ds.copy_binary:
        texts = base_texts(ds, ds.insert_n)    # only the incremental insert's rows
        log("  SQL: COPY %d rows (binary) ..." % ds.n)
        res["copy_s"] = load_table_binary(conn, TABLE, ds.base, opts.storage)
        res["copy_format"] = "binary"
    else:
        texts = base_texts(ds)
        log("  SQL: COPY %d rows ..." % ds.n)
        res["copy_s"] = load_table(conn, TABLE, texts, opts.storage)
    res["heap_bytes"] = scalar(conn, "SELECT pg_relation_size(%t::regclass)", (TABLE,))
    res["table_bytes"] = scalar(conn, "SELECT pg_table_size(%t::regclass)", (TABLE,))
    log("  SQL: COPY %.1fs; heap %.1f MB, table incl. TOAST %.1f MB"
        % (res["copy_s"], res["heap_bytes"] / 2**20, res["table_bytes"] / 2**20))

    # floor: k rows by primary key, same client and loop
    ids = floor_params(ds)
    floor_sql = floor_sql_for(k)
    tot, lat, _, _ = best_of(opts, lambda: timed_loop(conn, floor_sql, ids, warmup=50))
    res["floor_ms"] = 1e3 * tot / nq
    res["floor_p50_ms"] = 1e3 * float(np.percentile(lat, 50))
    # floor plus sending and parsing one query vector (informational)
    ids_vec = [(i[0], ds.query_texts[j]) for j, i in enumerate(ids)]
    tot, _, _, _ = best_of(opts, lambda: timed_loop(
        conn, floor_sql.replace(" ORDER BY", " AND %t::vector IS NOT NULL ORDER BY"),
        ids_vec, warmup=50))
    res["floor_vec_ms"] = 1e3 * tot / nq
    log("  SQL: floor (prepared, %d rows by primary key) %.4f ms/q (p50 %.4f); "
        "with a %d-dim vector param %.4f ms/q"
        % (k, res["floor_ms"], res["floor_p50_ms"], ds.dim, res["floor_vec_ms"]))

    # exact search, no index on the table yet
    ne = opts.exact_queries
    plan = plan_of(conn, ds, knn_sql)
    if "Seq Scan" not in plan:
        run.warn("exact search plan is not a seq scan:\n" + plan)
    tot, lat, found = timed_loop(conn, knn_sql, qparams[:ne], warmup=2)
    res["exact"] = {"queries": ne, "qps": ne / tot, "ms_per_query": 1e3 * tot / ne,
                    "recall": D.recall(ds.base, ds.queries[:ne], ds.gt_dist[:ne], found, k,
                                       metric=ds.metric)}
    log("  SQL: exact (seq scan) %d queries: %.2f q/s, %.2f ms/q, recall %.4f"
        % (ne, res["exact"]["qps"], res["exact"]["ms_per_query"], res["exact"]["recall"]))
    if res["exact"]["recall"] < 0.999:
        run.warn("exact SQL search recall %.4f < 1: the %s operator disagrees with numpy's %s"
                 % (res["exact"]["recall"], ds.op, ds.metric))

    # index build (serial)
    conn.execute("SET max_parallel_maintenance_workers = 0")
    conn.execute("SET maintenance_work_mem = '%s'" % opts.maintenance_work_mem)
    idx = TABLE + "_hnsw"
    log("  SQL: CREATE INDEX ... USING hnsw (m=%d, ef_construction=%d), serial ..."
        % (opts.m, opts.ef_construction))
    lsn0 = wal_lsn(conn)
    t0 = now()
    try:
        conn.execute("CREATE INDEX %s ON %s USING hnsw (embedding %s) "
                     "WITH (m = %d, ef_construction = %d)"
                     % (idx, TABLE, ds.opclass, opts.m, opts.ef_construction))
    except psycopg.Error as e:
        msg = first_line(e)
        log("  hnsw: not available (%s)" % msg)
        res["hnsw_error"] = msg
        if opts.storages:
            # the storage comparison (bench_storage) builds its own indexes
            # on the table: e.g. the float4 storage refuses > 2,000 dimensions
            log("  hnsw: the default (float4) index is left out; the storage comparison follows")
            res["table_kept"] = True
            return res
        run.warn("%s: hnsw index not available: %s" % (ds.name, msg))
        if not opts.keep_tables:
            drop_table(conn, TABLE)
        return res
    res["hnsw_available"] = True
    res["build_s"] = now() - t0
    res["build_wal_bytes"] = wal_since(conn, lsn0)
    res["index_bytes"] = index_bytes(conn, idx)
    log("  SQL: CREATE INDEX %.2fs; index %.1f MB (%.0f bytes/vector)"
        % (res["build_s"], res["index_bytes"] / 2**20, res["index_bytes"] / ds.n))

    sb = scalar(conn, "SELECT setting::bigint * 8192 FROM pg_settings WHERE name = 'shared_buffers'")
    if sb and res["index_bytes"] + res["table_bytes"] > sb:
        run.warn("%s: index + table (%.0f MB) exceed shared_buffers (%.0f MB): query times "
                 "include buffer misses served from the OS page cache" % (
                     ds.name, (res["index_bytes"] + res["table_bytes"]) / 2**20, sb / 2**20))
    res["shared_buffers_bytes"] = sb

    # make sure the queries use the index
    conn.execute("SET hnsw.ef_search = %d" % max(opts.ef_search))
    plan = plan_of(conn, ds, knn_sql)
    res["plan"] = plan
    if idx not in plan:
        run.warn("%s: planner does not use the hnsw index; setting enable_seqscan = off\n%s"
                 % (ds.name, plan))
        conn.execute("SET enable_seqscan = off")
        plan = plan_of(conn, ds, knn_sql)
        res["plan_forced"] = plan
        if idx not in plan:
            run.warn("%s: hnsw index still not used:\n%s" % (ds.name, plan))
    conn.execute(knn_sql.replace("%t::vector", "%s::vector"), (ds.query_texts[0],)).fetchall()
    if not scalar(conn, "SELECT count(*) FROM pg_settings WHERE name = 'hnsw.ef_search'"):
        run.warn("hnsw.ef_search is not a defined setting after the library was loaded; "
                 "SET hnsw.ef_search may have no effect")

    res["ef"] = {}
    sweep = SweepQueries(knn_sql=knn_sql, knn_params=qparams, floor_sql=floor_sql,
                         floor_params=ids)
    for ef in opts.ef_search:
        conn.execute("SET hnsw.ef_search = %d" % ef)
        e = sql_sweep_point(conn, ds, opts, ef, sweep, hl_index)
        res["ef"][ef] = e
        log_sweep_point("hnsw:", ef, e)
    conn.execute("RESET hnsw.ef_search")
    conn.execute("RESET enable_seqscan")

    # incremental insert into an index created on an empty table
    if ds.insert_n > 0:
        res["insert"] = run_sql_insert(conn, ds, run, texts)
    return res


def sql_insert_round(conn, ds, opts, texts, idx, hl_index=None):
    """One SQL incremental insert: a fresh table with an hnsw index built
    empty, insert_n rows in prepared insert_batch-row INSERTs, one
    transaction each.  With hl_index (an empty hnswlib index), each batch
    is first added there too, timed apart: both sides then run the same
    batches in the same seconds of this shared machine.  Returns (SQL
    seconds, hnswlib seconds or None), or an error text."""
    n = ds.insert_n
    bs = opts.insert_batch
    create_table(conn, TABLE_INS, ds.dim, opts.storage)
    try:
        conn.execute("CREATE INDEX %s ON %s USING hnsw (embedding %s) "
                     "WITH (m = %d, ef_construction = %d)"
                     % (idx, TABLE_INS, ds.opclass, opts.m, opts.ef_construction))
    except psycopg.Error as e:
        return first_line(e)

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


def insert_recall_curve(conn, ds, run, idx, hl_index):
    """Recall@k (and q/s) of the incrementally built index at every ef of
    the grid and at --insert-ef, and of hnswlib's index built from the same
    batches (hl_index, or None)."""
    opts = run.opts
    n, k = ds.insert_n, opts.k
    efs = sorted(set(recall_efs(opts)) | {opts.insert_ef})
    curve = maint_recall(conn, ds, run, idx, efs, ds.base[:n],
                         ds.ins_gt_dist, None, table=TABLE_INS)
    for ef, e in curve.items():
        if hl_index is not None:
            hl_index.set_ef(max(ef, k))
            labels, _ = hl_index.knn_query(ds.queries, k=k)
            e["hnswlib_recall"] = D.recall(ds.base[:n], ds.queries, ds.ins_gt_dist, labels, k,
                                           metric=ds.metric)
    log("  SQL: recall@%d of the incrementally built index by ef: %s"
        % (k, "  ".join("%d:%.3f" % (ef, e["recall"]) for ef, e in curve.items())))
    if hl_index is not None:
        log("  hnswlib on the same batches:                        %s"
            % "  ".join("%d:%.3f" % (ef, e["hnswlib_recall"]) for ef, e in curve.items()))
    return curve


def run_sql_insert(conn, ds, run, texts):
    """The incremental insert, in rounds.  In each, every batch goes to an
    empty hnswlib index and then to SQL, each side timed apart, so a slow
    spell of this shared machine slows both alike; the headline ratio is
    the median of the rounds' ratios, and every round's figures are kept."""
    opts = run.opts
    res = {"rounds": []}
    n = ds.insert_n
    idx = TABLE_INS + "_hnsw"
    rounds = max(1, opts.insert_rounds)
    log("  SQL: incremental INSERT of %d rows, %d rows/statement, one transaction each, "
        "%d round(s), each batch also added to hnswlib just before ..."
        % (n, opts.insert_batch, rounds))
    for i in range(rounds):
        hl_index = None if opts.no_hnswlib else hnswlib_empty(ds, opts, n)
        got = sql_insert_round(conn, ds, opts, texts, idx, hl_index)
        last_hl_index = hl_index
        del hl_index
        if isinstance(got, str):
            res["error"] = got
            run.warn("%s: CREATE INDEX on empty table failed: %s" % (ds.name, got))
            return res
        sql_s, hl_s = got
        rr = {"sql_rows_per_s": n / sql_s,
              "hnswlib_rows_per_s": n / hl_s if hl_s else None}
        rr["ratio"] = rr["sql_rows_per_s"] / rr["hnswlib_rows_per_s"] if hl_s else None
        res["rounds"].append(rr)
        log("  SQL: insert round %d: %.0f rows/s; hnswlib on the same batches %s rows/s; ratio %s"
            % (i + 1, rr["sql_rows_per_s"], fmt(rr["hnswlib_rows_per_s"], ".0f"),
               fmt(rr["ratio"], ".3f")))
        if i + 1 < rounds:
            conn.execute("DROP TABLE %s" % TABLE_INS)
    # the round with the median ratio speaks for the run
    mid = sorted(res["rounds"], key=lambda x: x["ratio"] or 0)[len(res["rounds"]) // 2]
    res["n"] = n
    res["rows_per_s"] = mid["sql_rows_per_s"]
    res["seconds"] = n / res["rows_per_s"]
    res["best_rows_per_s"] = max(x["sql_rows_per_s"] for x in res["rounds"])
    if not opts.no_hnswlib:
        res["hnswlib_rows_per_s"] = mid["hnswlib_rows_per_s"]
        res["round_ratios"] = [x["ratio"] for x in res["rounds"]]
    res["index_bytes"] = index_bytes(conn, idx)

    res["ef_recall"] = insert_recall_curve(conn, ds, run, idx, last_hl_index)
    res["recall"] = res["ef_recall"][opts.insert_ef]["recall"]
    res["ef_search"] = opts.insert_ef
    res["qps"] = res["ef_recall"][opts.insert_ef]["qps"]
    log("  SQL: insert %.0f rows/s (median round; best %.0f); index %.1f MB; recall@ef=%d %.4f "
        "(%.0f q/s)" % (res["rows_per_s"], res["best_rows_per_s"], res["index_bytes"] / 2**20,
                        opts.insert_ef, res["recall"], res["qps"]))
    if not opts.keep_tables:
        drop_table(conn, TABLE_INS)
    return res


def use_index(conn, run, ds, idx, knn_sql):
    """Make the k-NN query use idx (enable_seqscan = off if the planner
    prefers a seq scan).  Returns True if the setting was changed."""
    plan = plan_of(conn, ds, knn_sql)
    if idx in plan:
        return False
    conn.execute("SET enable_seqscan = off")
    plan = plan_of(conn, ds, knn_sql)
    if idx not in plan:
        run.warn("%s: maintenance: hnsw index not used even with enable_seqscan = off:\n%s"
                 % (ds.name, plan))
    return True


def maint_recall(conn, ds, run, idx, efs, vecs, gt_dist, present, table=TABLE):
    """One timed pass of all queries per ef against table.  vecs[id] is the
    vector the row with that id holds, present the mask of ids in the table
    (None: all), gt_dist the exact top-k over the present rows."""
    k = run.opts.k
    nq = len(ds.queries)
    knn_sql = knn_sql_for(table, k, ds.op)
    forced = use_index(conn, run, ds, idx, knn_sql)
    qparams = [(t,) for t in ds.query_texts]
    out = {}
    try:
        for ef in efs:
            conn.execute("SET hnsw.ef_search = %d" % ef)
            tot, _, found = timed_loop(conn, knn_sql, qparams, warmup=min(20, nq))
            absent = 0
            if present is not None:
                absent = sum(1 for x in found for i in x[:k]
                             if not (0 <= i < len(present) and present[i]))
            out[ef] = {"recall": D.recall(vecs, ds.queries, gt_dist, found, k, valid=present,
                                          metric=ds.metric),
                       "qps": nq / tot, "ms_per_query": 1e3 * tot / nq,
                       "short_results": int(sum(1 for x in found if len(x) < k)),
                       "absent_results": int(absent)}
            if absent:
                run.warn("%s: %d results at ef=%d name ids that are not in the table (deleted "
                         "rows returned?)" % (ds.name, absent, ef))
    finally:
        conn.execute("RESET hnsw.ef_search")
        if forced:
            conn.execute("RESET enable_seqscan")
    return out


def server_info(conn, storage):
    """The settings the "server:" line and the JSON's "server" report."""
    info = {"version": scalar(conn, "SHOW server_version")}
    for g in ("shared_buffers", "fsync", "synchronous_commit", "max_parallel_workers_per_gather",
              "jit", "work_mem"):
        try:
            info[g] = scalar(conn, "SHOW %s" % g)
        except psycopg.Error:
            pass
    try:
        info["extversion"] = scalar(
            conn, "SELECT extversion FROM pg_extension WHERE extname = 'hnswsearch'")
    except psycopg.Error:
        pass
    info["huge_pages"] = huge_pages_in_use(conn)
    info["vector_storage"] = storage
    return info


def huge_pages_in_use(conn):
    """'on' if the server's shared memory is in 2 MB pages (huge_pages =
    try succeeded: pages of the pool are reserved or used), else 'off';
    'unknown' if the setting or /proc/meminfo cannot be read."""
    try:
        setting = scalar(conn, "SHOW huge_pages")
        mem = {}
        with open("/proc/meminfo") as f:
            for line in f:
                key, _, val = line.partition(":")
                mem[key] = int(val.split()[0])
        used = mem.get("HugePages_Total", 0) - mem.get("HugePages_Free", 0) + mem.get("HugePages_Rsvd", 0)
        return "on" if setting != "off" and used > 0 else "off"
    except (psycopg.Error, OSError, ValueError, IndexError):
        return "unknown"
