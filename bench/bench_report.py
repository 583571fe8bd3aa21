"""The report: the per-dataset table, the verdict lines against the
project's targets, the maintenance block; each fills the dataset's
"summary" in the JSON."""

from bench_common import (DELETE_MOD, MAINT_EF, MATCH_RECALL, MATCH_RECALLS, TARGET_BUILD,
                          TARGET_INSERT, TARGET_QUERY, TARGET_RECALL_DROP, TARGET_VACUUM, at_recall,
                          fmt, log, lowest_ef_at, ratio, upper_bound, where)


def fmt_info(info):
    if info is None:
        return "-"
    if "error" in info:
        return "ERROR: " + info["error"]
    return ("rows indexed %d, deleted %d, active %d; elements %d, deleted %d, active %d; "
            "pages %d" % (info["count_indexed"], info["count_deleted"], info["count_active"],
                          info["elements"], info["elements_deleted"], info["elements_active"],
                          info["pages"]))


def fmt_check(check):
    if "error" in check:
        return "ERROR: %s" % check["error"]
    return ("elements %d, active %d, deleted %d, edges %d, reachable %d, pages %d (%.2fs)"
            % (check["elements"], check["active"], check["deleted"], check["edges"],
               check["reachable"], check["pages"], check["seconds"]))


def fmt_phases(ph):
    if not ph:
        return "-"
    return ", ".join("%s %.2fs" % (k, v) if k != "error" else "error: %s" % v
                     for k, v in ph.items())


def verdict(ratio, target, le=True):
    if ratio is None:
        return "n/a"
    ok = ratio <= target if le else ratio >= target
    return "PASS" if ok else "FAIL"


def hl_ms(hnswlib_res, sql_res, ef):
    """hnswlib's ms per query at ef: as timed beside the SQL pass at that ef
    when there is one, else from its own sweep."""
    e = sql_res["ef"].get(ef, {}) if sql_res and sql_res.get("hnsw_available") else {}
    return e.get("hnswlib_ms_beside", hnswlib_res["ef"][ef]["ms_per_query"])


def report(ds, opts, hnswlib_res, sql_res):
    k = opts.k
    out = {}
    log("")
    log("=" * 100)
    log("%s: %d x %d, %d queries, k=%d, m=%d, ef_construction=%d"
        % (ds.name, ds.n, ds.dim, len(ds.queries), k, opts.m, opts.ef_construction))
    log("=" * 100)
    hdr = "%-22s %5s %9s %10s %9s %10s %10s %9s %9s" % (
        "method", "ef", "recall@%d" % k, "QPS", "ms/q", "idx ms/q", "batch ms/q", "p99 ms", "idx/hnswlib")
    log(hdr)
    log("-" * len(hdr))
    if sql_res and "exact" in sql_res:
        e = sql_res["exact"]
        log("%-22s %5s %9.4f %10.1f %9.3f %10.3f %10s %9s %9s" % (
            "exact SQL (%d q)" % e["queries"], "-", e["recall"], e["qps"], e["ms_per_query"],
            e["ms_per_query"] - sql_res["floor_ms"], "-", "-", "-"))
    if hnswlib_res:
        for ef in opts.ef_search:
            e = hnswlib_res["ef"][ef]
            log("%-22s %5d %9.4f %10.0f %9.4f %10s %10.4f %9.4f %9s" % (
                "hnswlib (1 thread)", ef, e["recall"], e["qps"], e["ms_per_query"], "-",
                e["batch_ms_per_query"], e["p99_ms"], "-"))
    ratios = {}
    if sql_res and sql_res.get("hnsw_available"):
        for ef in opts.ef_search:
            e = sql_res["ef"][ef]
            ratio = None
            if hnswlib_res:
                ratio = e["index_ms_per_query"] / hl_ms(hnswlib_res, sql_res, ef)
                ratios[ef] = ratio
            log("%-22s %5d %9.4f %10.0f %9.4f %10.4f %10s %9.4f %9s" % (
                "hnsw (SQL)", ef, e["recall"], e["qps"], e["ms_per_query"],
                e["index_ms_per_query"], "-", e["p99_ms"], fmt(ratio, ".2f")))
    elif sql_res is not None:
        log("%-22s  not available%s"
            % ("hnsw (SQL)", (" (" + sql_res["hnsw_error"] + ")")
               if sql_res.get("hnsw_error") else ""))
    else:
        log("%-22s  not run (no SQL connection / extension)" % "SQL")
    log("")
    if sql_res and "floor_ms" in sql_res:
        log("SQL floor: prepared, k rows by primary key %.4f ms/q (%.0f q/s); "
            "with a %d-dim vector parameter %.4f ms/q"
            % (sql_res["floor_ms"], 1e3 / sql_res["floor_ms"], ds.dim, sql_res["floor_vec_ms"]))
        log("           index-side ms/q = ms/q - the floor timed beside it at each ef "
            "(above, once: %.4f ms)" % sql_res["floor_ms"])
        if any("hnswlib_ms_beside" in e for e in sql_res.get("ef", {}).values()):
            log("           idx/hnswlib: against hnswlib timed beside each SQL pass, same "
                "queries and ef")
    out["ratio_index_time_same_ef"] = ratios

    for target in MATCH_RECALLS:
        report_matched(sql_res, hnswlib_res, target, out)
    return report_build_insert(ds, opts, hnswlib_res, sql_res, out, k)


def report_matched(sql_res, hnswlib_res, target, out):
    """Index-side time against hnswlib's at recall target (equal recall, not
    equal ef): each curve's time interpolated between the two ef around the
    target (bench_common.at_recall), which is the verdict; and, as before,
    each one's time at the lowest ef of the grid reaching it."""
    hl_ef = lowest_ef_at(hnswlib_res["ef"], target) if hnswlib_res else None
    ok = bool(sql_res and sql_res.get("hnsw_available"))
    sq_ef = lowest_ef_at(sql_res["ef"], target) if ok else None
    grid = None
    if hl_ef is not None and sq_ef is not None:
        grid = sql_res["ef"][sq_ef]["index_ms_per_query"] / hl_ms(hnswlib_res, sql_res, hl_ef)
    sq_at = hl_at = None
    if ok:
        sq_at = at_recall([(ef, e["recall"], e["index_ms_per_query"])
                           for ef, e in sorted(sql_res["ef"].items())], target)
    if hnswlib_res:
        efs = sorted(sql_res["ef"]) if ok else sorted(hnswlib_res["ef"])
        hl_at = at_recall([(ef, hnswlib_res["ef"][ef]["recall"], hl_ms(hnswlib_res, sql_res, ef))
                           for ef in efs if ef in hnswlib_res["ef"]], target)
    match = ratio(sq_at["ms"] if sq_at else None, hl_at["ms"] if hl_at else None)
    bound = ""
    if sq_at and hl_at and upper_bound(sq_at) and not upper_bound(hl_at):
        bound = " (at most: an ef of hnsw's at or above the target is timed, not its crossing)"
    elif sq_at and hl_at and upper_bound(hl_at) and not upper_bound(sq_at):
        bound = " (at least: an ef of hnswlib's at or above the target is timed, not its crossing)"
    log("matched recall %.2f, interpolated: hnsw %s ms index-side (%s) vs hnswlib %s ms (%s)"
        % (target, fmt(sq_at["ms"] if sq_at else None, ".4f"), where(sq_at),
           fmt(hl_at["ms"] if hl_at else None, ".4f"), where(hl_at)))
    for name, m in (("hnsw", sq_at), ("hnswlib", hl_at)):
        if m and m["kind"] == "cheaper":
            log("  (%s: a higher ef reaches %.2f cheaper than its crossing, "
                "interpolated at %.4f ms)" % (name, target, m["crossing_ms"]))
    v = verdict(match, TARGET_QUERY)
    if bound.startswith(" (at least") and v == "PASS":
        v = "n/a"               # a lower bound below the target says nothing
    log("  query time ratio (index-side / hnswlib per-query)  %6s   target <= %.1f   %s%s"
        % (fmt(match, ".2f"), TARGET_QUERY, v, bound))
    log("  at the lowest ef reaching it: hnsw %s vs hnswlib %s: ratio %s"
        % ("ef %d %.4f ms (recall %.4f)" % (sq_ef, sql_res["ef"][sq_ef]["index_ms_per_query"],
                                            sql_res["ef"][sq_ef]["recall"])
           if sq_ef is not None else "never",
           "ef %d %.4f ms (recall %.4f)" % (hl_ef, hl_ms(hnswlib_res, sql_res, hl_ef),
                                            hnswlib_res["ef"][hl_ef]["recall"])
           if hl_ef is not None else "never", fmt(grid, ".2f")))
    key = "matched_recall" if target == MATCH_RECALL else "matched_recall_%d" % round(target * 100)
    out[key] = {"recall": target, "hnsw_ef": sq_ef, "hnswlib_ef": hl_ef,
                "ratio": match, "ratio_lowest_ef": grid, "hnsw_at": sq_at, "hnswlib_at": hl_at,
                "target": TARGET_QUERY}


def report_build_insert(ds, opts, hnswlib_res, sql_res, out, k):
    """The build and insert verdicts."""
    # build
    build = None
    if hnswlib_res and sql_res and sql_res.get("hnsw_available"):
        build = sql_res["build_s"] / hnswlib_res["build_s"]
    log("build: hnsw %ss vs hnswlib %ss   ratio %6s   target <= %.1f   %s" % (
        fmt(sql_res.get("build_s") if sql_res else None, ".2f"),
        fmt(hnswlib_res["build_s"] if hnswlib_res else None, ".2f"),
        fmt(build, ".2f"), TARGET_BUILD, verdict(build, TARGET_BUILD)))
    out["build_ratio"] = build

    # insert
    ins = None
    si = sql_res.get("insert") if sql_res else None
    hl_ins = None
    if si and si.get("hnswlib_rows_per_s"):
        hl_ins = si["hnswlib_rows_per_s"]
    elif hnswlib_res and "insert_rows_per_s" in hnswlib_res:
        hl_ins = hnswlib_res["insert_rows_per_s"]
    if si and "rows_per_s" in si and hl_ins:
        ins = si["rows_per_s"] / hl_ins
    if ds.insert_n > 0:
        log("insert (%d rows into an index built empty, %d rows/stmt, 1 txn each; median of %d "
            "rounds, hnswlib on the same batches interleaved): hnsw %s rows/s vs hnswlib %s "
            "rows/s (full build %s rows/s)"
            % (ds.insert_n, opts.insert_batch, len(si.get("rounds", [])) if si else 0,
               fmt(si.get("rows_per_s") if si else None, ".0f"), fmt(hl_ins, ".0f"),
               fmt(hnswlib_res["build_rows_per_s"] if hnswlib_res else None, ".0f")))
        log("  insert rate ratio (hnsw / hnswlib same rows+batches)  %6s   target >= %.2f   %s"
            % (fmt(ins, ".2f"), TARGET_INSERT, verdict(ins, TARGET_INSERT, le=False)))
        if si and si.get("round_ratios"):
            log("    per round (SQL rate / hnswlib rate on the same batches): %s"
                % ", ".join(fmt(x, ".2f") for x in si["round_ratios"]))
        ins_b = None
        if si and "rows_per_s" in si and hnswlib_res:
            ins_b = si["rows_per_s"] / hnswlib_res["build_rows_per_s"]
        log("  insert rate ratio (hnsw / hnswlib full-build rate)    %6s   target >= %.2f   %s"
            % (fmt(ins_b, ".2f"), TARGET_INSERT, verdict(ins_b, TARGET_INSERT, le=False)))
        out["insert_ratio_vs_build_rate"] = ins_b
        log("  recall@%d at ef=%d of the incrementally built index: hnsw %s, hnswlib %s"
            % (k, opts.insert_ef, fmt(si.get("recall") if si else None, ".4f"),
               fmt(hnswlib_res.get("insert_recall") if hnswlib_res else None, ".4f")))
    out["insert_ratio"] = ins

    raw = ds.n * ds.dim * 4
    parts = ["raw float32 vectors %.1f MB" % (raw / 2**20)]
    if sql_res and "heap_bytes" in sql_res:
        parts.append("table heap %.1f MB (incl. TOAST %.1f MB)"
                     % (sql_res["heap_bytes"] / 2**20, sql_res["table_bytes"] / 2**20))
    if sql_res and sql_res.get("hnsw_available"):
        parts.append("hnsw index %.1f MB (%.0f B/vector)" % (sql_res["index_bytes"] / 2**20,
                                                              sql_res["index_bytes"] / ds.n))
    if hnswlib_res:
        parts.append("hnswlib save_index %.1f MB (%.0f B/vector)"
                     % (hnswlib_res["index_bytes"] / 2**20, hnswlib_res["index_bytes"] / ds.n))
    log("sizes: " + "; ".join(parts))
    report_maintenance(ds, opts, sql_res, out)
    return out


def report_maintenance(ds, opts, sql_res, out):
    """The "maintenance" block of the summary; fills out["maintenance"]."""
    if not sql_res or not sql_res.get("hnsw_available"):
        return
    mt = sql_res.get("maintenance")
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
    s = {"vacuum_s": mt["vacuum_s"], "build_s": sql_res["build_s"],
         "vacuum_ratio": mt["vacuum_ratio"],
         "vacuum_target": TARGET_VACUUM, "recall_drop_target": TARGET_RECALL_DROP}
    log("  delete %d rows %.2fs; VACUUM %.2fs vs CREATE INDEX %.2fs   ratio %6.3f   "
        "target < %.2f   %s" % (mt["deleted_rows"], mt["delete_s"], mt["vacuum_s"],
                                sql_res["build_s"], mt["vacuum_ratio"], TARGET_VACUUM,
                                verdict(mt["vacuum_ratio"], TARGET_VACUUM)))
    ph = mt.get("vacuum_phases") or {}
    if ph and "error" not in ph:
        idx_s = mt["vacuum_index_phases_s"]
        s["vacuum_index_phases_s"] = idx_s
        log("  VACUUM phases: index vacuuming + cleanup %.2fs (hnsw and the primary key btree; "
            "%.3f x CREATE INDEX), heap%s %.2fs"
            % (idx_s, idx_s / sql_res["build_s"], " and TOAST" if ds.integral else "",
               mt["vacuum_s"] - idx_s))
        log("    (%s)" % fmt_phases(ph))
    else:
        log("  (VACUUM time includes the heap%s and the primary key index)"
            % (" and TOAST" if ds.integral else ""))
    if mt.get("vacuum_wal_bytes") is not None and sql_res.get("build_wal_bytes") is not None:
        s["vacuum_wal_bytes"] = mt["vacuum_wal_bytes"]
        log("  WAL: VACUUM %.1f MB (all relations) vs CREATE INDEX %.1f MB; index %.1f MB"
            % (mt["vacuum_wal_bytes"] / 2**20, sql_res["build_wal_bytes"] / 2**20,
               sql_res["index_bytes"] / 2**20))
    log("  recall@%d, before: over all %d rows; after: over the %d remaining rows (brute force)"
        % (opts.k, ds.n, mt["rows_after_delete"]))
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
                   rr["update_rows_per_s"] or 0, rr["vacuum_s"],
                   rr["vacuum_s"] / sql_res["build_s"],
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
        nrb = len(ch.get("rebuilds", [])) or 1
        log("  recall@%d after churn, against the mean of %d REINDEX%s of the same rows "
            "(target: within %.2f at every ef)"
            % (opts.k, nrb, "es" if nrb > 1 else "", TARGET_RECALL_DROP))
        log("  %6s %9s %9s %15s %9s %9s"
            % ("ef", "churned", "rebuilt", "rebuilt range", "diff", "verdict"))
        gaps = {}
        for ef, e in ch["recall"].items():
            f = rb.get(ef, {}).get("recall")
            lo, hi = rb.get(ef, {}).get("min"), rb.get(ef, {}).get("max")
            gaps[ef] = None if f is None else e["recall"] - f
            log("  %6d %9.4f %9s %15s %9s %9s"
                % (ef, e["recall"], fmt(f, ".4f"),
                   "-" if lo is None else "%.4f-%.4f" % (lo, hi), fmt(gaps[ef], "+.4f"),
                   "-" if f is None else
                   ("PASS" if gaps[ef] >= -TARGET_RECALL_DROP else "FAIL")))
        worst = min((g for g in gaps.values() if g is not None), default=None)
        if worst is not None:
            log("  worst churned - rebuilt: %+.4f   target >= -%.2f   %s"
                % (worst, TARGET_RECALL_DROP, verdict(-worst, TARGET_RECALL_DROP)))
        # informational: the same against the best single rebuild at each ef
        worst_max = min((e["recall"] - rb[ef]["max"] for ef, e in ch["recall"].items()
                         if rb.get(ef, {}).get("max") is not None), default=None)
        if worst_max is not None and nrb > 1:
            log("  (worst churned - the best single rebuild at each ef: %+.4f)" % worst_max)
        s["churn"] = {"rounds": len(rounds), "seconds": ch["seconds"], "updated_rows": upd,
                      "size_ratio_vs_build": ch["size_ratio_vs_build"],
                      "elements_per_row": ch.get("elements_per_row"),
                      "recall": {ef: e["recall"] for ef, e in ch["recall"].items()},
                      "recall_rebuilt": {ef: e["recall"] for ef, e in rb.items()},
                      "worst_gap_vs_rebuilt": worst,
                      "worst_gap_vs_best_rebuild": worst_max,
                      "check_ok": "error" not in ch["check"]}
    out["maintenance"] = s

