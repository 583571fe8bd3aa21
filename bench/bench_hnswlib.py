"""hnswlib's side: build, the ef sweep, the incremental add; one thread."""

import os
import tempfile

import numpy as np

import datasets as D
from bench_common import HNSWLIB_SPACE, best_of, log, now


def hnswlib_pass(index, queries, k, warmup=0):
    """hnswlib's queries one at a time, one thread, after warmup of them
    untimed: (seconds, per-query latencies, labels)."""
    nq = len(queries)
    for i in range(min(warmup, nq)):
        index.knn_query(queries[i:i + 1], k=k, num_threads=1)
    lat = np.empty(nq)
    labels = np.empty((nq, k), dtype=np.int64)
    t0 = now()
    for i in range(nq):
        t1 = now()
        lab, _ = index.knn_query(queries[i:i + 1], k=k, num_threads=1)
        lat[i] = now() - t1
        labels[i] = lab[0]
    return now() - t0, lat, labels


def hnswlib_empty(ds, opts, max_elements):
    """An empty hnswlib index with the run's M and ef_construction, one thread."""
    import hnswlib
    index = hnswlib.Index(space=HNSWLIB_SPACE[ds.metric], dim=ds.dim)
    index.init_index(max_elements=max_elements, M=opts.m, ef_construction=opts.ef_construction,
                     random_seed=100)
    index.set_num_threads(1)
    return index


def hnswlib_insert(ds, opts):
    """hnswlib's side of the incremental insert, on the SQL protocol: an
    empty index, the first insert_n rows added insert_batch at a time, one
    thread.  Returns the index and the seconds taken."""
    index = hnswlib_empty(ds, opts, ds.insert_n)
    bs = opts.insert_batch
    t0 = now()
    for s in range(0, ds.insert_n, bs):
        e = min(s + bs, ds.insert_n)
        index.add_items(ds.base[s:e], np.arange(s, e), num_threads=1)
    return index, now() - t0


def run_hnswlib(ds, opts):
    """Build, sweep ef, then the incremental add.  Returns the results (the
    JSON's "hnswlib") and the built index, which the SQL sweep times again
    beside each of its passes."""
    import hnswlib
    res = {"version": getattr(hnswlib, "__version__", None)}
    k = opts.k

    log("  hnswlib: build (add_items, 1 thread) ...")
    index = hnswlib_empty(ds, opts, ds.n)
    t0 = now()
    index.add_items(ds.base, np.arange(ds.n), num_threads=1)
    res["build_s"] = now() - t0
    res["build_rows_per_s"] = ds.n / res["build_s"]
    log("  hnswlib: build %.2fs (%.0f rows/s)" % (res["build_s"], res["build_rows_per_s"]))

    with tempfile.TemporaryDirectory() as td:
        fn = os.path.join(td, "idx.bin")
        index.save_index(fn)
        res["index_bytes"] = os.path.getsize(fn)

    res["ef"] = {}
    queries = ds.queries
    nq = len(queries)
    for ef in opts.ef_search:
        index.set_ef(max(ef, k))
        for i in range(min(20, nq)):  # warm-up
            index.knn_query(queries[i:i + 1], k=k, num_threads=1)

        def loop():
            return hnswlib_pass(index, queries, k)

        def batch():
            t0 = now()
            blab, _ = index.knn_query(queries, k=k, num_threads=1)
            return now() - t0, None, blab

        loop_s, lat, labels, passes = best_of(opts, loop)
        batch_s, _, blab, _ = best_of(opts, batch)
        rec = D.recall(ds.base, queries, ds.gt_dist, labels, k, metric=ds.metric)
        brec = D.recall(ds.base, queries, ds.gt_dist, blab, k, metric=ds.metric)
        e = {"recall": rec, "qps": nq / loop_s, "ms_per_query": 1e3 * loop_s / nq,
             "p50_ms": 1e3 * float(np.percentile(lat, 50)),
             "p99_ms": 1e3 * float(np.percentile(lat, 99)),
             "batch_ms_per_query": 1e3 * batch_s / nq, "batch_recall": brec,
             "passes": passes}
        res["ef"][ef] = e
        log("  hnswlib: ef=%-4d recall %.4f  %.0f q/s  %.4f ms/q (batched %.4f ms/q)"
            % (ef, rec, e["qps"], e["ms_per_query"], e["batch_ms_per_query"]))
    built = index

    if ds.insert_n > 0:
        index, res["insert_s"] = hnswlib_insert(ds, opts)
        res["insert_n"] = ds.insert_n
        res["insert_rows_per_s"] = ds.insert_n / res["insert_s"]
        index.set_ef(max(opts.insert_ef, k))
        labels = np.array([index.knn_query(queries[i:i + 1], k=k, num_threads=1)[0][0]
                           for i in range(nq)])
        res["insert_recall"] = D.recall(ds.base[:ds.insert_n], queries, ds.ins_gt_dist, labels, k,
                                        metric=ds.metric)
        log("  hnswlib: incremental add of %d rows in batches of %d: %.0f rows/s, recall@ef=%d %.4f"
            % (ds.insert_n, opts.insert_batch, res["insert_rows_per_s"], opts.insert_ef,
               res["insert_recall"]))
        del index
    return res, built
