"""The index storages (--storages float4,half,sq8): one hnsw index per
storage on the bench table, each built with the run's m and ef_construction
and WITH (storage = ...), timed, measured and swept over hnsw.ef_search like
the main index; and their report: sizes against float4's, recall per ef,
and index-side time at equal recall against the float4 index's and
hnswlib's, interpolated on the curves.

Each storage's index is built and swept inside a transaction that first
drops the main index and is rolled back at the end, so that the planner sees
only the index under test and the main index is back, untouched, for the
maintenance phases.  Every one is built under SET LOCAL hnsw.level_seed =
--storage-seed, so that all storages get the same levels and their recall
differs only by what their codes do (two builds drawing their own levels
differ by up to 0.01 at ef 10 by themselves); with --storage-seed 0 the
main index of bench_sql.run_sql (no storage option: float4) is the float4
entry and each index draws its own levels."""

import psycopg

import datasets as D
from bench_common import (MATCH_RECALLS, STORAGE_EF, STORAGE_MAX_DIM, STORAGE_TARGET_RECALL,
                          TABLE, at_recall, fmt, log, lowest_ef_at, now, ratio,
                          where)
from bench_maintenance import index_info
from bench_sql import (floor_sql_for, SweepQueries, first_line, floor_params, index_bytes,
                       knn_sql_for, log_sweep_point, plan_of, scalar, sql_sweep_point)

MAIN_INDEX = TABLE + "_hnsw"


def storage_efs(opts):
    """The sweep's ef grid, plus STORAGE_EF (the issue's recall target is at
    ef 100)."""
    efs = list(opts.ef_search)
    if STORAGE_EF not in efs:
        efs.append(STORAGE_EF)
    return sorted(efs)


def hnswlib_recall_at(ds, hl_index, ef, k):
    """hnswlib's recall at an ef outside the sweep's grid (one batched pass)."""
    hl_index.set_ef(max(ef, k))
    labels, _ = hl_index.knn_query(ds.queries, k=k, num_threads=1)
    return D.recall(ds.base, ds.queries, ds.gt_dist, labels, k, metric=ds.metric)


def run_storages(conn, ds, run, hl_index, hl_res, sql_res):
    """One index per --storages entry; fills sql_res["storages"] (storage ->
    its build, size, hnsw_index_info and ef sweep, or its error)."""
    opts = run.opts
    out = sql_res["storages"] = {}
    main_ok = bool(sql_res.get("hnsw_available"))
    efs = storage_efs(opts)
    sweep = SweepQueries(knn_sql=knn_sql_for(TABLE, opts.k, ds.op),
                         knn_params=[(t,) for t in ds.query_texts],
                         floor_sql=floor_sql_for(opts.k), floor_params=floor_params(ds))
    log("")
    log("  storages: %s, one index each (m=%d, ef_construction=%d), ef %s"
        % (",".join(opts.storages), opts.m, opts.ef_construction, ",".join(map(str, efs))))
    if hl_index is not None and hl_res is not None:
        for ef in efs:
            if ef not in hl_res["ef"]:
                hl_res.setdefault("extra_recall", {})[ef] = hnswlib_recall_at(
                    ds, hl_index, ef, opts.k)
    seed = opts.storage_seed
    if seed and not scalar(conn, "SELECT count(*) FROM pg_settings WHERE name = 'hnsw.level_seed'"):
        run.warn("%s: the server has no hnsw.level_seed: each storage's index draws its own "
                 "levels" % ds.name)
        seed = 0
    if seed:
        log("  every storage's index built with hnsw.level_seed = %d: the same levels" % seed)
    for st in opts.storages:
        res = out[st] = {"storage": st}
        if st == "float4" and main_ok and not seed:
            storage_from_main(conn, ds, run, hl_index, sweep, efs, sql_res, res)
            continue
        try:
            with conn.transaction(force_rollback=True):
                if seed:
                    conn.execute("SET LOCAL hnsw.level_seed = %d" % seed)
                storage_index(conn, ds, run, hl_index, sweep, efs, st,
                              MAIN_INDEX if main_ok else None, res)
        except psycopg.Error as e:
            msg = first_line(e)
            res["error"] = msg
            limit = STORAGE_MAX_DIM.get(st)
            if ("build_s" not in res and limit is not None and ds.dim > limit
                    and "dimension" in msg.lower()):
                log("  %s: refused at %d dimensions (its limit is %d): %s"
                    % (st, ds.dim, limit, msg))
                res["refused_dims"] = True
            else:
                run.warn("%s: storage %s failed: %s" % (ds.name, st, msg))
    return out


def storage_from_main(conn, ds, run, hl_index, sweep, efs, sql_res, res):
    """The float4 entry from the main index (built without the storage
    option, so with the default storage) and its sweep; a point at an ef
    outside the main sweep's grid (STORAGE_EF) is measured here."""
    res.update({"main_index": True, "build_s": sql_res["build_s"],
                "index_bytes": sql_res["index_bytes"], "ef": dict(sql_res["ef"])})
    res["info"] = index_info(conn, MAIN_INDEX)
    log("  float4: the main index (%.2fs, %.1f MB)%s"
        % (res["build_s"], res["index_bytes"] / 2**20, info_note(res["info"])))
    missing = [ef for ef in efs if ef not in res["ef"]]
    if missing:
        forced = False
        if MAIN_INDEX not in plan_of(conn, ds, sweep.knn_sql):
            conn.execute("SET enable_seqscan = off")
            forced = True
        try:
            for ef in missing:
                conn.execute("SET hnsw.ef_search = %d" % ef)
                e = sql_sweep_point(conn, ds, run.opts, ef, sweep, hl_index)
                res["ef"][ef] = e
                log_sweep_point("float4:", ef, e)
        finally:
            conn.execute("RESET hnsw.ef_search")
            if forced:
                conn.execute("RESET enable_seqscan")
    forced = MAIN_INDEX not in plan_of(conn, ds, sweep.knn_sql)
    if forced:
        conn.execute("SET enable_seqscan = off")
    res["table_reads_per_query"] = table_reads_per_query(conn, ds, sweep, STORAGE_EF)
    if forced:
        conn.execute("RESET enable_seqscan")


def table_reads_per_query(conn, ds, sweep, ef):
    """Table block reads per query at ef, in one pass of the queries: the
    table's blocks fetched in the transaction (pg_stat_get_xact_blocks_fetched,
    read back before it ends; a savepoint inside the storage's).  Each row
    the scan or the executor reads from the table (a returned row, a
    candidate re-ranked by its table vector, a row the executor rechecks)
    costs one, except a fetch on the block just read; the TOAST table's
    blocks are not counted.  About k for float4.  None on an error."""
    try:
        with conn.transaction():
            conn.execute("SET LOCAL hnsw.ef_search = %d" % ef)
            q = "SELECT pg_stat_get_xact_blocks_fetched(%t::regclass)"
            c0 = scalar(conn, q, (TABLE,))
            cur = conn.cursor()
            for params in sweep.knn_params:
                cur.execute(sweep.knn_sql, params, prepare=False)
                cur.fetchall()
            c1 = scalar(conn, q, (TABLE,))
            return (c1 - c0) / len(sweep.knn_params)
    except psycopg.Error:
        return None


def info_note(info):
    """hnsw_index_info's storage columns (extension 0.4.0), if it has them."""
    if not info or "error" in info:
        return "; hnsw_index_info: %s" % (info or {}).get("error", "-")
    parts = ["%s %s" % (c, info[c]) for c in ("storage", "bytes_per_vector") if c in info]
    return ("; hnsw_index_info: " + ", ".join(parts)) if parts else ""


def storage_index(conn, ds, run, hl_index, sweep, efs, st, main_idx, res):
    """Inside the caller's transaction (rolled back afterwards): drop the
    main index (main_idx, or None), build st's index, measure and sweep it.
    Fills res as it goes, so that what was measured before an error stays."""
    opts = run.opts
    idx = "%s_%s" % (MAIN_INDEX, st)
    main_bytes = 0
    if main_idx is not None:
        main_bytes = index_bytes(conn, main_idx)
        conn.execute("DROP INDEX %s" % main_idx)
    conn.execute("SET max_parallel_maintenance_workers = 0")
    conn.execute("SET maintenance_work_mem = '%s'" % opts.maintenance_work_mem)
    log("  %s: CREATE INDEX ... WITH (m = %d, ef_construction = %d, storage = '%s'), serial ..."
        % (st, opts.m, opts.ef_construction, st))
    t0 = now()
    conn.execute("CREATE INDEX %s ON %s USING hnsw (embedding %s) "
                 "WITH (m = %d, ef_construction = %d, storage = '%s')"
                 % (idx, TABLE, ds.opclass, opts.m, opts.ef_construction, st))
    res["build_s"] = now() - t0
    res["index_bytes"] = index_bytes(conn, idx)
    res["info"] = index_info(conn, idx)
    log("  %s: CREATE INDEX %.2fs; index %.1f MB (%.0f bytes/vector)%s"
        % (st, res["build_s"], res["index_bytes"] / 2**20, res["index_bytes"] / ds.n,
           info_note(res["info"])))
    sb = scalar(conn, "SELECT setting::bigint * 8192 FROM pg_settings WHERE name = 'shared_buffers'")
    table_bytes = scalar(conn, "SELECT pg_table_size(%t::regclass)", (TABLE,))
    held = res["index_bytes"] + table_bytes + main_bytes
    if sb and held > sb:
        run.warn("%s: %s: table, this index%s (%.0f MB) exceed shared_buffers (%.0f MB): its "
                 "query times may include buffer misses" % (
                     ds.name, st, " and the main index (dropped in the transaction but still "
                     "in the buffers)" if main_idx else "", held / 2**20, sb / 2**20))
    conn.execute("SET hnsw.ef_search = %d" % max(efs))
    plan = plan_of(conn, ds, sweep.knn_sql)
    if idx not in plan:
        run.warn("%s: %s: planner does not use the index; setting enable_seqscan = off\n%s"
                 % (ds.name, st, plan))
        conn.execute("SET enable_seqscan = off")
        plan = plan_of(conn, ds, sweep.knn_sql)
        if idx not in plan:
            run.warn("%s: %s: index still not used:\n%s" % (ds.name, st, plan))
    res["plan"] = plan
    res["ef"] = {}
    for ef in efs:
        conn.execute("SET hnsw.ef_search = %d" % ef)
        e = sql_sweep_point(conn, ds, opts, ef, sweep, hl_index)
        res["ef"][ef] = e
        log_sweep_point(st + ":", ef, e)
        if e["misordered"]:
            run.warn("%s: %s index, ef %d: %d queries' rows are not in ascending exact "
                     "distance" % (ds.name, st, ef, e["misordered"]))
    res["table_rows"] = scalar(conn, "SELECT count(*) FROM %s" % TABLE)
    res["table_reads_per_query"] = table_reads_per_query(conn, ds, sweep, STORAGE_EF)
    log("  %s: table block reads per query at ef %d: %s"
        % (st, STORAGE_EF, fmt(res["table_reads_per_query"], ".1f")))


# --------------------------------------------------------------------------
# report
# --------------------------------------------------------------------------

def storage_curve(res, key="index_ms_per_query"):
    """(ef, recall, ms) by ascending ef; key "index_cpu_ms_per_query" for
    the server's CPU (empty where the sweep could not read it)."""
    if any(key not in e for e in res["ef"].values()):
        return []
    return [(ef, e["recall"], e[key]) for ef, e in sorted(res["ef"].items())]


def hnswlib_curve(hl_res, res):
    """hnswlib's (ef, recall, ms) at the efs of its own sweep, its ms as
    timed beside this storage's sweep (the same seconds of the machine)."""
    pts = []
    for ef, e in sorted(res["ef"].items()):
        if ef in hl_res["ef"] and "hnswlib_ms_beside" in e:
            pts.append((ef, hl_res["ef"][ef]["recall"], e["hnswlib_ms_beside"]))
    return pts


def report_storages(ds, opts, hl_res, sql_res):
    """The storage block of the report; returns the JSON summary's
    "storages"."""
    sts = (sql_res or {}).get("storages")
    if not sts:
        return None
    out = {}
    ok = [st for st in opts.storages if "ef" in sts[st] and sts[st]["ef"]]
    f4 = sts.get("float4") if "float4" in ok else None
    log("")
    if not f4:
        base = "float4 not available here"
    elif f4.get("main_index"):
        base = "float4 = the main index above, each index with its own levels"
    else:
        base = "all with hnsw.level_seed = %d (the same levels)" % opts.storage_seed
    log("index storages: one index each on the same rows, m=%d, ef_construction=%d, serial "
        "build; %s" % (opts.m, opts.ef_construction, base))
    hdr = "  %-7s %9s %9s %9s %9s %9s %10s %9s  %s" % (
        "storage", "build s", "/hnswlib", "index MB", "B/vector", "/float4",
        "rec@ef%d" % STORAGE_EF, "tbl reads", "hnsw_index_info")
    log(hdr)
    for st in opts.storages:
        r = sts[st]
        s = out[st] = {}
        if "build_s" not in r:
            log("  %-7s %s" % (st, ("refused: " if r.get("refused_dims") else "ERROR: ")
                               + r.get("error", "?")))
            s["error"] = r.get("error")
            continue
        s["build_s"] = r["build_s"]
        s["build_ratio_hnswlib"] = ratio(r["build_s"], hl_res["build_s"]) if hl_res else None
        s["index_bytes"] = r["index_bytes"]
        s["size_ratio_float4"] = ratio(r["index_bytes"], f4["index_bytes"]) if f4 else None
        e100 = r.get("ef", {}).get(STORAGE_EF)
        s["recall_ef%d" % STORAGE_EF] = e100["recall"] if e100 else None
        info = r.get("info") or {}
        for c in ("storage", "bytes_per_vector"):
            if c in info:
                s["info_" + c] = info[c]
        s["table_reads_per_query"] = r.get("table_reads_per_query")
        log("  %-7s %9.2f %9s %9.1f %9.0f %9s %10s %9s  %s%s"
            % (st, r["build_s"], fmt(s["build_ratio_hnswlib"], ".2f"), r["index_bytes"] / 2**20,
               r["index_bytes"] / ds.n, fmt(s["size_ratio_float4"], ".3f"),
               fmt(s["recall_ef%d" % STORAGE_EF], ".4f"), fmt(s["table_reads_per_query"], ".1f"),
               info_note(info).replace("; hnsw_index_info: ", ""),
               "" if "error" not in r else "  [then ERROR: %s]" % r["error"]))
    if hl_res:
        log("  %-7s %9.2f %9s %9.1f %9.0f   (save_index)"
            % ("hnswlib", hl_res["build_s"], "1.00", hl_res["index_bytes"] / 2**20,
               hl_res["index_bytes"] / ds.n))
    log("  (tbl reads: the table's blocks read per query at ef %d, about the rows read from "
        "the table: k for float4, plus the candidates re-ranked by their table vectors)"
        % STORAGE_EF)
    if not ok:
        return out

    # recall and index-side time per ef
    efs = sorted(set().union(*[sts[st]["ef"].keys() for st in ok]))
    hl_rec = {}
    if hl_res:
        hl_rec = {ef: e["recall"] for ef, e in hl_res["ef"].items()}
        hl_rec.update(hl_res.get("extra_recall", {}))
    log("  recall@%d and index-side ms/query by ef_search (hnswlib: its own sweep's ms/q):"
        % opts.k)
    log("  %5s " % "ef" + " ".join("%17s" % st for st in ok)
        + ("  %17s" % "hnswlib" if hl_res else ""))
    for ef in efs:
        cells = []
        for st in ok:
            e = sts[st]["ef"].get(ef)
            cells.append("%17s" % ("-" if e is None else "%.4f %8.4f" % (
                e["recall"], e["index_ms_per_query"])))
        hl = ""
        if hl_res:
            hl = "  %17s" % ("%.4f %8s" % (hl_rec[ef], fmt(hl_res["ef"].get(ef, {}).get(
                "ms_per_query"), ".4f")) if ef in hl_rec else "-")
        log("  %5d " % ef + " ".join(cells) + hl)
    bad = {st: sum(e["misordered"] for e in sts[st]["ef"].values()) for st in ok}
    if any(bad.values()):
        log("  OUT OF ORDER: queries whose rows were not in ascending exact distance, summed "
            "over the ef grid: %s" % ", ".join("%s %d" % kv for kv in bad.items()))
    for st in ok:
        out[st]["misordered"] = bad[st]
        out[st]["recall"] = {ef: e["recall"] for ef, e in sts[st]["ef"].items()}
        out[st]["index_ms"] = {ef: e["index_ms_per_query"] for ef, e in sts[st]["ef"].items()}

    # equal recall
    log("  equal recall: index-side ms/query interpolated on each curve between the two ef "
        "around the target; hnswlib's from its recall curve and its time beside the same sweep;")
    log("  /float4 (hl-norm.) = the ratio of each one's time to hnswlib's beside it, divided: "
        "less sensitive to a slow spell between the two sweeps;")
    log("  /float4 CPU = the same ratio from the server process's CPU per query (less its "
        "floor's), which leaves out the client and the scheduling of this 2-core machine")
    for target in MATCH_RECALLS:
        log("  recall %.2f: %-7s %9s %-11s %8s %9s %9s %9s %9s  %-8s %s"
            % (target, "storage", "idx ms/q", "(where)", "/float4", "(hl-norm)",
               "hnswlib", "/hnswlib", "lowest-ef", "(ms)", "/float4 CPU"))
        f4m = f4hl = f4c = None
        if f4:
            f4m = at_recall(storage_curve(f4), target)
            f4hl = at_recall(hnswlib_curve(hl_res, f4), target) if hl_res else None
            f4c = at_recall(storage_curve(f4, "index_cpu_ms_per_query"), target)
        for st in ok:
            r = sts[st]
            m = at_recall(storage_curve(r), target)
            mc = at_recall(storage_curve(r, "index_cpu_ms_per_query"), target)
            rcpu = ratio(mc["ms"], f4c["ms"]) if (mc and f4c) else None
            hm = at_recall(hnswlib_curve(hl_res, r), target) if hl_res else None
            ms = m["ms"] if m else None
            hms = hm["ms"] if hm else None
            rf4 = ratio(ms, f4m["ms"]) if (m and f4m) else None
            norm = None
            if m and f4m and hm and f4hl:
                norm = ratio(ms / hms, f4m["ms"] / f4hl["ms"])
            low = lowest_ef_at(r["ef"], target)
            log("  %11s %-7s %9s %-11s %8s %9s %9s %9s %9s  %-8s %s"
                % ("", st, fmt(ms, ".4f"), where(m), fmt(rf4, ".2f"), fmt(norm, ".2f"),
                   fmt(hms, ".4f"), fmt(ratio(ms, hms), ".2f"),
                   "ef %d" % low if low is not None else "never",
                   fmt(r["ef"][low]["index_ms_per_query"] if low is not None else None, ".4f"),
                   fmt(rcpu, ".2f")))
            out[st]["recall_%d" % round(target * 100)] = {
                "index_ms": ms, "at": m, "vs_float4": rf4, "vs_float4_hnswlib_normalised": norm,
                "hnswlib_ms": hms, "hnswlib_at": hm, "vs_hnswlib": ratio(ms, hms),
                "lowest_ef": low, "index_cpu_ms": mc["ms"] if mc else None,
                "vs_float4_cpu": rcpu}
    for st in ok:
        rec = out[st]["recall_ef%d" % STORAGE_EF]
        if rec is not None:
            log("  %s: recall@%d at ef_search %d %.4f   target >= %.2f   %s"
                % (st, opts.k, STORAGE_EF, rec, STORAGE_TARGET_RECALL,
                   "PASS" if rec >= STORAGE_TARGET_RECALL else "FAIL"))
    return out
