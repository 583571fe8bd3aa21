"""The maintenance phases, on TABLE and its index after the query sweep:
DELETE 10% + VACUUM + recall, then (clustered only) the churn rounds."""

import threading
import time

import numpy as np
import psycopg

import datasets as D
from bench_common import (DELETE_MOD, MAINT_EF, MATCH_RECALL, TABLE, log, lowest_ef_at, now,
                          recall_efs)
from bench_data import base_texts
from bench_report import fmt_check, fmt_info, fmt_phases
from bench_sql import (explain, first_line, index_bytes, maint_recall, scalar, sql_connect,
                       wal_lsn, wal_since)


def index_info(conn, idx):
    """hnsw_index_info(idx) as a dict, or {"error": ...}."""
    try:
        cur = conn.execute("SELECT * FROM hnsw_index_info(%t::regclass)", (idx,))
        row = cur.fetchone()
        return dict(zip([d.name for d in cur.description], row))
    except psycopg.Error as e:
        return {"error": first_line(e)}


def index_check(conn, idx):
    """hnsw_index_check(idx) as a dict (plus its run time), or {"error": ...}."""
    t0 = now()
    try:
        cur = conn.execute("SELECT * FROM hnsw_index_check(%t::regclass)", (idx,))
        row = cur.fetchone()
        d = dict(zip([c.name for c in cur.description], row))
    except psycopg.Error as e:
        d = {"error": first_line(e)}
    d["seconds"] = now() - t0
    return d


def exact_agrees(conn, ds, run, what, vecs, gt_dist, present, nq=3):
    """Checks the bookkeeping behind the ground truth (ids <-> vectors, which
    rows are present) against the table: row count, and a few exact
    (seq scan) queries must have recall 1 against gt_dist."""
    k = run.opts.k
    rows = scalar(conn, "SELECT count(*) FROM %s" % TABLE)
    ok = rows == int(present.sum())
    if not ok:
        run.warn("%s: %s: table has %d rows, the benchmark expects %d"
                 % (ds.name, what, rows, int(present.sum())))
    nq = min(nq, len(ds.queries))
    # not prepared: a cached plan ignores a later SET enable_indexscan
    sql = ("SELECT id /* exact */ FROM %s ORDER BY embedding %s %%t::vector LIMIT %d"
           % (TABLE, ds.op, k))
    conn.execute("SET enable_indexscan = off")
    try:
        plan = explain(conn, sql.replace("%t::vector", "%s::vector"), (ds.query_texts[0],))
        if "Seq Scan" not in plan:
            run.warn("%s: %s: exact check plan is not a seq scan:\n%s" % (ds.name, what, plan))
        found = [[row[0] for row in conn.execute(sql, (t,), prepare=False).fetchall()]
                 for t in ds.query_texts[:nq]]
    finally:
        conn.execute("RESET enable_indexscan")
    rec = D.recall(vecs, ds.queries[:nq], gt_dist[:nq], found, k, valid=present,
                   metric=ds.metric)
    if rec < 0.999:
        run.warn("%s: %s: exact SQL search has recall %.4f against the recomputed ground "
                 "truth: the benchmark's model of the table is wrong" % (ds.name, what, rec))
        ok = False
    return ok


class VacuumPhases:
    """Best effort: polls pg_stat_progress_vacuum from a second connection
    while a VACUUM runs and sums the seconds seen in each phase (resolution
    ~10 ms).  "vacuuming indexes" + "cleaning up indexes" is the time of the
    indexes (hnsw ambulkdelete/amvacuumcleanup plus the primary key btree's),
    the other phases are the heap's; phases of another relation (TOAST)
    are prefixed with its name.  A database error stops the polling; its
    first line is kept in .error."""

    def __init__(self, pid):
        self.pid = pid
        self.phases = {}
        self.error = None
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        try:
            conn = sql_connect()
        except psycopg.Error as e:
            self.error = first_line(e)
            return
        try:
            last_t, last_p = None, None
            while not self.stop.is_set():
                row = conn.execute(
                    "SELECT CASE WHEN relid = %s::regclass THEN phase "
                    "ELSE relid::regclass::text || ': ' || phase END "
                    "FROM pg_stat_progress_vacuum WHERE pid = %s", (TABLE, self.pid)).fetchone()
                t = now()
                if last_p is not None:
                    self.phases[last_p] = self.phases.get(last_p, 0.0) + (t - last_t)
                last_t, last_p = t, (row[0] if row else None)
                self.stop.wait(0.01)
        except psycopg.Error as e:
            self.error = first_line(e)
        finally:
            conn.close()

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


def run_maintenance(conn, ds, run, sql_res):
    """The maintenance phases after the query sweep: fills
    sql_res["maintenance"].  A database error ends them; what was measured
    stays, the error goes to its "error" (the report prints it) and the
    session's settings are reset for what follows."""
    maint = sql_res["maintenance"] = {}
    try:
        run_sql_maintenance(conn, ds, run, sql_res, maint)
    except psycopg.Error as e:
        msg = "%s: %s" % (type(e).__name__, str(e).strip())
        run.warn("%s: maintenance phase failed: %s" % (ds.name, msg))
        maint["error"] = msg
        for g in ("hnsw.ef_search", "enable_seqscan", "enable_indexscan"):
            try:
                conn.execute("RESET %s" % g)
            except psycopg.Error:
                pass


def run_sql_maintenance(conn, ds, run, sql_res, maint):
    """After the query phase: DELETE 10% of TABLE, VACUUM (timed, serial),
    recall against brute force over the remaining rows, hnsw_index_check;
    then (clustered only) the churn rounds.  Fills maint as it goes."""
    opts = run.opts
    k = opts.k
    n = ds.n
    idx = TABLE + "_hnsw"
    # no autovacuum between the DELETE and the timed VACUUM
    conn.execute("ALTER TABLE %s SET (autovacuum_enabled = false)" % TABLE)
    conn.execute("SET max_parallel_maintenance_workers = 0")
    conn.execute("SET maintenance_work_mem = '%s'" % opts.maintenance_work_mem)

    ef95 = lowest_ef_at({ef: sql_res["ef"][ef] for ef in recall_efs(opts)}, MATCH_RECALL)
    efs = sorted(set(recall_efs(opts)) | {MAINT_EF})
    key_efs = sorted({e for e in (ef95, MAINT_EF) if e is not None})
    maint["ef_match"] = ef95
    maint["ef_search"] = efs
    maint["key_ef_search"] = key_efs

    swept = sql_res["ef"]
    before = {ef: {"recall": swept[ef]["recall"], "qps": swept[ef]["qps"],
                   "ms_per_query": swept[ef]["ms_per_query"]} for ef in recall_efs(opts)}
    extra = [ef for ef in efs if ef not in before]
    if extra:
        log("  maintenance: recall before the delete at ef=%s (not in --ef-search), one pass ..."
            % ",".join(map(str, extra)))
        before.update(maint_recall(conn, ds, run, idx, extra, ds.base, ds.gt_dist, None))
    maint["recall_before"] = before
    maint["index_bytes_built"] = sql_res["index_bytes"]
    maint["info_built"] = index_info(conn, idx)
    log("  maintenance: index after CREATE INDEX %.1f MB; hnsw_index_info: %s"
        % (sql_res["index_bytes"] / 2**20, fmt_info(maint["info_built"])))

    # ---- 1. delete 10%, VACUUM
    present = np.ones(n, dtype=bool)
    present[::DELETE_MOD] = False           # ids are 0..n-1, id i holds ds.base[i]
    t0 = now()
    cur = conn.execute("DELETE FROM %s WHERE id %% %d = 0" % (TABLE, DELETE_MOD))
    maint["delete_s"] = now() - t0
    maint["deleted_rows"] = cur.rowcount
    maint["rows_after_delete"] = int(present.sum())
    if cur.rowcount != n - int(present.sum()):
        run.warn("%s: DELETE removed %d rows, expected %d" % (ds.name, cur.rowcount,
                                                              n - int(present.sum())))
    log("  maintenance: DELETE %d rows (id %% %d = 0) in %.2fs"
        % (cur.rowcount, DELETE_MOD, maint["delete_s"]))
    _, gt_dist = D.ground_truth_rows(ds.tag + "-del%d" % DELETE_MOD, ds.base,
                                     np.flatnonzero(present), ds.queries, k, ds.metric)
    # deleted but not yet vacuumed: scans stream past the dead rows
    maint["recall_deleted"] = maint_recall(conn, ds, run, idx, key_efs, ds.base, gt_dist, present)
    maint["info_deleted"] = index_info(conn, idx)
    log("  maintenance: deleted, before VACUUM: recall %s; hnsw_index_info: %s"
        % (", ".join("ef=%d %.4f" % (ef, e["recall"])
                     for ef, e in maint["recall_deleted"].items()),
           fmt_info(maint["info_deleted"])))

    log("  maintenance: VACUUM %s (serial) ..." % TABLE)
    maint["vacuum_phases"] = {}
    lsn0 = wal_lsn(conn)
    maint["vacuum_s"] = vacuum(conn, maint["vacuum_phases"])
    maint["vacuum_wal_bytes"] = wal_since(conn, lsn0)
    maint["vacuum_index_phases_s"] = (maint["vacuum_phases"].get("vacuuming indexes", 0.0)
                                      + maint["vacuum_phases"].get("cleaning up indexes", 0.0))
    maint["vacuum_ratio"] = maint["vacuum_s"] / sql_res["build_s"]
    maint["index_bytes_vacuumed"] = index_bytes(conn, idx)
    maint["info_vacuumed"] = index_info(conn, idx)
    log("  maintenance: VACUUM %.2fs = %.3f x CREATE INDEX (%.2fs); index %.1f MB; "
        "hnsw_index_info: %s" % (maint["vacuum_s"], maint["vacuum_ratio"], sql_res["build_s"],
                                 maint["index_bytes_vacuumed"] / 2**20,
                                 fmt_info(maint["info_vacuumed"])))
    log("  maintenance: VACUUM phases (pg_stat_progress_vacuum, ~10 ms resolution): %s"
        % fmt_phases(maint["vacuum_phases"]))
    iv = maint["info_vacuumed"]
    if "error" not in iv and iv["count_active"] != int(present.sum()):
        run.warn("%s: after DELETE + VACUUM the index counts %d active rows, the table has %d"
                 % (ds.name, iv["count_active"], int(present.sum())))
    maint["check_vacuumed"] = index_check(conn, idx)
    log("  maintenance: hnsw_index_check after VACUUM: %s" % fmt_check(maint["check_vacuumed"]))
    if "error" in maint["check_vacuumed"]:
        run.warn("%s: hnsw_index_check after DELETE + VACUUM: %s"
                 % (ds.name, maint["check_vacuumed"]["error"]))

    maint["recall_after"] = maint_recall(conn, ds, run, idx, efs, ds.base, gt_dist, present)
    for ef in efs:
        b, e = before[ef]["recall"], maint["recall_after"][ef]["recall"]
        log("  maintenance: ef=%-4d recall before %.4f, after DELETE + VACUUM %.4f (%+.4f)  %.0f q/s"
            % (ef, b, e, e - b, maint["recall_after"][ef]["qps"]))
    maint["exact_agrees"] = exact_agrees(conn, ds, run, "after DELETE", ds.base, gt_dist, present)

    # ---- 2. churn
    if opts.churn_rounds == 0:
        maint["churn"] = {"skipped": "--churn-rounds 0"}
    elif ds.name != "clustered":
        maint["churn"] = {"skipped": "clustered dataset only"}
    else:
        maint["churn"] = {}
        run_churn(conn, ds, run, sql_res, maint, present, idx, key_efs, maint["churn"])


def run_churn(conn, ds, run, sql_res, maint, present, idx, key_efs, churn):
    """Rounds of: re-insert the deleted 10% (same ids and vectors), UPDATE
    another share of the rows to new vectors from the same mixture, VACUUM.
    Rounds after the first first delete the id % 10 = 0 rows again and
    VACUUM.  Then size, counts, check and recall against brute force over
    the table's final content.  Fills churn."""
    opts = run.opts
    k = opts.k
    n = ds.n
    bs = opts.churn_batch
    churn.update({"rounds": [], "update_frac_requested": opts.churn_update_frac,
                  "budget_s": opts.churn_budget, "batch": bs})
    vecs = ds.base.copy()                   # vecs[id]: the vector row `id` holds now
    texts = list(base_texts(ds))
    present = present.copy()
    n_upd_req = int(round(opts.churn_update_frac * n))
    per_round = opts.churn_budget / opts.churn_rounds
    ins_sql = "INSERT INTO %s (id, embedding) VALUES (%%t::int, %%t::vector)" % TABLE
    upd_sql = "UPDATE %s SET embedding = %%t::vector WHERE id = %%t::int" % TABLE
    log("  churn: %d round(s): re-insert the deleted %d%%, update %d rows (%.1f%%) to new "
        "vectors, VACUUM; %d rows per transaction"
        % (opts.churn_rounds, 100 // DELETE_MOD, n_upd_req, 100.0 * n_upd_req / n, bs))
    t_churn = now()
    for rnd in range(1, opts.churn_rounds + 1):
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
            left = per_round - (now() - t_round) - 2 * maint["vacuum_s"]
            fit = int(max(0.0, left) * rate * 0.9)
            fit = max(fit, min(n_upd, max(100, n // 100)))  # at least 1% (100 rows)
            if fit < n_upd:
                rr["update_reduced_from"] = n_upd
                n_upd = fit
                run.warn("%s: churn round %d: update share reduced from %d to %d rows (%.1f%%) "
                         "to fit --churn-budget %.0fs (re-insert ran at %.0f rows/s)"
                         % (ds.name, rnd, rr["update_reduced_from"], n_upd, 100.0 * n_upd / n,
                            opts.churn_budget, rate))
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
        churn["rounds"].append(rr)
        log("  churn round %d: %sre-insert %d rows %.1fs (%.0f rows/s), update %d rows %.1fs "
            "(%.0f rows/s), VACUUM %.2fs; index %.1f MB; %s; round %.0fs"
            % (rnd, ("delete %d + VACUUM %.2fs, " % (rr["deleted_rows"], rr["delete_vacuum_s"]))
               if rnd > 1 else "", len(ids), rr["reinsert_s"], rr["reinsert_rows_per_s"] or 0,
               n_upd, rr["update_s"], rr["update_rows_per_s"] or 0, rr["vacuum_s"],
               rr["index_bytes"] / 2**20, fmt_info(rr["info"]), rr["seconds"]))
    churn["seconds"] = now() - t_churn
    churn["rows"] = int(present.sum())
    churn["index_bytes"] = churn["rounds"][-1]["index_bytes"]
    churn["size_ratio_vs_build"] = churn["index_bytes"] / sql_res["index_bytes"]
    churn["table_bytes"] = scalar(conn, "SELECT pg_table_size(%t::regclass)", (TABLE,))
    churn["info"] = churn["rounds"][-1]["info"]
    if "error" not in churn["info"]:
        churn["elements_per_row"] = churn["info"]["elements"] / churn["rows"]
    churn["update_frac_last_round"] = churn["rounds"][-1]["updated_rows"] / n
    churn["check"] = index_check(conn, idx)
    log("  churn: %.0fs; index %.1f MB = %.3f x after CREATE INDEX; %d rows; %s"
        % (churn["seconds"], churn["index_bytes"] / 2**20, churn["size_ratio_vs_build"],
           churn["rows"], fmt_info(churn["info"])))
    log("  churn: hnsw_index_check: %s" % fmt_check(churn["check"]))
    if "error" in churn["check"]:
        run.warn("%s: hnsw_index_check after churn: %s" % (ds.name, churn["check"]["error"]))
    _, gt_dist = D.ground_truth_rows(None, vecs, np.flatnonzero(present), ds.queries, k,
                                     ds.metric)
    efs = sorted(set(recall_efs(opts)) | set(key_efs))
    churn["recall"] = maint_recall(conn, ds, run, idx, efs, vecs, gt_dist, present)
    for ef, e in churn["recall"].items():
        log("  churn: ef=%-4d recall %.4f (before the delete %.4f, %+.4f)  %.0f q/s"
            % (ef, e["recall"], maint["recall_before"][ef]["recall"],
               e["recall"] - maint["recall_before"][ef]["recall"], e["qps"]))
    churn["exact_agrees"] = exact_agrees(conn, ds, run, "after churn", vecs, gt_dist, present)
    # the same rows in fresh builds: what the churned index is held to.  One
    # build's recall at low ef varies by about 0.01 with its random levels,
    # so the reference is the mean of several
    churn["rebuilds"] = []
    for r in range(opts.churn_rebuilds):
        t0 = now()
        conn.execute("REINDEX INDEX %s" % idx)
        rb = {"reindex_s": now() - t0,
              "recall": maint_recall(conn, ds, run, idx, efs, vecs, gt_dist, present)}
        churn["rebuilds"].append(rb)
        log("  churn: REINDEX %d/%d %.1fs; recall of the rebuilt index: %s"
            % (r + 1, opts.churn_rebuilds, rb["reindex_s"],
               ", ".join("ef=%d %.4f" % (ef, e["recall"]) for ef, e in rb["recall"].items())))
    churn["reindex_s"] = churn["rebuilds"][0]["reindex_s"]
    churn["recall_rebuilt"] = {
        ef: {"recall": float(np.mean([rb["recall"][ef]["recall"] for rb in churn["rebuilds"]])),
             "min": min(rb["recall"][ef]["recall"] for rb in churn["rebuilds"]),
             "max": max(rb["recall"][ef]["recall"] for rb in churn["rebuilds"])}
        for ef in efs}
