"""Datasets and exact ground truth for the hnswsearch benchmark.

Every dataset is a (base, queries) pair of float32 arrays plus, for each base
vector, its text form '[x,y,...]' exactly as it is sent to PostgreSQL.  The
float32 arrays are exactly the values the server stores: the clustered data is
quantised to 4 decimals before it is used anywhere, so that the text form
parses back (strtof) to the same float32 bit patterns; Fashion-MNIST pixels
are small integers and are exact anyway.

Generated/decoded arrays and ground truth are cached in bench/data/ (npy).
"""

import gzip
import os
import struct
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
DATA_DIR = os.path.join(HERE, "data")
FMNIST_DIR = "/usr/share/datasets/fashion-mnist"

CLUSTERED_SEED = 20240607


def _log(msg):
    print(msg, flush=True)


def _cache_path(name):
    os.makedirs(DATA_DIR, exist_ok=True)
    return os.path.join(DATA_DIR, name)


# --------------------------------------------------------------------------
# clustered synthetic Gaussian mixture
# --------------------------------------------------------------------------

def _cached_base_queries(fn):
    """A generated set's (base, queries) from the cache file fn, or None."""
    if not os.path.exists(fn):
        return None
    z = np.load(fn)
    return z["base"], z["queries"]


def _mixture_params(rng, n_clusters, dim):
    """The clustered sets' mixture: centres, isotropic stds and weights."""
    centers = rng.standard_normal((n_clusters, dim))
    stds = rng.uniform(0.1, 0.3, size=n_clusters)
    weights = rng.dirichlet(np.full(n_clusters, 0.7))
    return centers, stds, weights


def _mixture(rng, n, centers, stds, weights):
    """Draw n points from the mixture; returns float64 array."""
    dim = centers.shape[1]
    labels = rng.choice(len(weights), size=n, p=weights)
    noise = rng.standard_normal((n, dim))
    return centers[labels] + noise * stds[labels][:, None]


def make_clustered(n, dim, nq, n_clusters=100, seed=CLUSTERED_SEED):
    """Gaussian mixture: n_clusters centers ~ N(0, 1)^dim, per-cluster
    isotropic std uniform in [0.1, 0.3], cluster weights of varied size
    (Dirichlet(0.7) -> sizes range over roughly two orders of magnitude).
    Queries are fresh draws from the same mixture (not taken from the base
    set).  Values are quantised to 4 decimals (see module docstring)."""
    fn = _cache_path("clustered-n%d-d%d-q%d-c%d-s%d.npz"
                     % (n, dim, nq, n_clusters, seed))
    cached = _cached_base_queries(fn)
    if cached is not None:
        return cached
    rng = np.random.default_rng(seed)
    centers, stds, weights = _mixture_params(rng, n_clusters, dim)
    # separate streams for base and queries, so that changing --queries does
    # not change the base set, and changing --n does not change the queries
    rng_b = np.random.default_rng([seed, 1])
    rng_q = np.random.default_rng([seed, 2])
    base = _mixture(rng_b, n, centers, stds, weights)
    queries = _mixture(rng_q, nq, centers, stds, weights)
    base = np.round(base, 4).astype(np.float32)
    queries = np.round(queries, 4).astype(np.float32)
    np.savez(fn, base=base, queries=queries)
    return base, queries


def make_clustered_fresh(dim, count, stream, n_clusters=100, seed=CLUSTERED_SEED):
    """count further draws from the mixture of make_clustered(.., dim, ..,
    n_clusters, seed) (same centers, stds and weights), from an independent
    random stream (stream >= 3; 1 and 2 are the base and query streams).
    Used as the new vectors of the benchmark's UPDATE churn.  Quantised
    like the base set; deterministic for (dim, count, stream)."""
    if stream < 3:
        raise ValueError("streams 1 and 2 are the base and query sets")
    rng = np.random.default_rng(seed)
    centers, stds, weights = _mixture_params(rng, n_clusters, dim)
    out = _mixture(np.random.default_rng([seed, stream]), count, centers, stds, weights)
    return np.round(out, 4).astype(np.float32)


UNIT_CHUNK = 10000   # rows drawn per step by make_clustered_unit (fixes its streams)


def make_clustered_unit(n, dim, nq, n_clusters=100, seed=CLUSTERED_SEED):
    """The clustered mixture of make_clustered (same recipe: n_clusters
    centers ~ N(0, 1)^dim, std U(0.1, 0.3), Dirichlet(0.7) sizes) with every
    vector scaled to unit length: a stand-in for text embeddings searched by
    cosine distance (the issue's 1,536- and 3,072-dimension sets).  Not
    quantised to decimals: the float32 values are kept (their text form is
    '%.9g', which parses back to the same bits), so that half precision and
    8-bit codes meet the precision of real embeddings.  Drawn UNIT_CHUNK rows
    at a time (memory: a chunk in float64, the result in float32), labels and
    noise of each chunk from one stream, so the first rows do not depend on n
    beyond the last chunk.  Cached in data/."""
    fn = _cache_path("clustered-unit-n%d-d%d-q%d-c%d-s%d.npz"
                     % (n, dim, nq, n_clusters, seed))
    cached = _cached_base_queries(fn)
    if cached is not None:
        return cached
    rng = np.random.default_rng(seed)
    centers, stds, weights = _mixture_params(rng, n_clusters, dim)

    def draw(stream, count):
        r = np.random.default_rng([seed, stream])
        out = np.empty((count, dim), dtype=np.float32)
        for s in range(0, count, UNIT_CHUNK):
            e = min(s + UNIT_CHUNK, count)
            x = _mixture(r, e - s, centers, stds, weights)
            x /= np.linalg.norm(x, axis=1, keepdims=True)
            out[s:e] = x
        return out

    base = draw(1, n)
    queries = draw(2, nq)
    np.savez(fn, base=base, queries=queries)
    return base, queries


# --------------------------------------------------------------------------
# Fashion-MNIST
# --------------------------------------------------------------------------

def _read_idx_images(path):
    with gzip.open(path, "rb") as f:
        raw = f.read()
    magic, count, rows, cols = struct.unpack(">IIII", raw[:16])
    if magic != 2051:
        raise ValueError("%s: bad idx3 magic %d" % (path, magic))
    arr = np.frombuffer(raw, dtype=np.uint8, offset=16)
    return arr.reshape(count, rows * cols)


def load_fashion_mnist(n=60000, nq=1000):
    fn = _cache_path("fashion-mnist-u8.npz")
    if os.path.exists(fn):
        z = np.load(fn)
        train, test = z["train"], z["test"]
    else:
        train = _read_idx_images(os.path.join(FMNIST_DIR, "train-images-idx3-ubyte.gz"))
        test = _read_idx_images(os.path.join(FMNIST_DIR, "t10k-images-idx3-ubyte.gz"))
        np.savez(fn, train=train, test=test)
    if n > train.shape[0]:
        raise ValueError("fashion-mnist has only %d base vectors" % train.shape[0])
    if nq > test.shape[0]:
        raise ValueError("fashion-mnist has only %d query vectors" % test.shape[0])
    return (np.ascontiguousarray(train[:n], dtype=np.float32),
            np.ascontiguousarray(test[:nq], dtype=np.float32))


# --------------------------------------------------------------------------
# text form
# --------------------------------------------------------------------------

def vector_texts(arr, integral=False, float_fmt="%.4f"):
    """'[a,b,...]' for every row.  Clustered data: '%.4f' (exact for the
    quantised values, see module docstring); the unit-length sets '%.9g'
    (any float32 parses back to itself); Fashion-MNIST: integers."""
    out = []
    if integral:
        ai = arr.astype(np.int64)
        for row in ai.tolist():
            out.append("[" + ",".join(map(str, row)) + "]")
    elif float_fmt == "%.4f":
        fmt = "%.4f"
        for row in arr.tolist():
            out.append("[" + ",".join([fmt % v for v in row]) + "]")
    else:
        f = float_fmt.__mod__
        for row in arr.tolist():
            out.append("[" + ",".join(map(f, row)) + "]")
    return out


def copy_binary(arr, first_id=0):
    """COPY ... (FORMAT binary) data for rows (id int4, embedding vector):
    the header, one tuple per row of arr (ids first_id, first_id + 1, ...;
    the vector in its binary form: int16 dim, int16 0, dim big-endian
    float4) and the trailer.  Much cheaper than the text form for large
    float data sets, and exact."""
    n, dim = arr.shape
    rec = np.dtype([("nf", ">i2"), ("idlen", ">i4"), ("id", ">i4"), ("vlen", ">i4"),
                    ("dim", ">i2"), ("unused", ">i2"), ("x", ">f4", (dim,))])
    t = np.empty(n, dtype=rec)
    t["nf"] = 2
    t["idlen"] = 4
    t["id"] = np.arange(first_id, first_id + n)
    t["vlen"] = 4 + 4 * dim
    t["dim"] = dim
    t["unused"] = 0
    t["x"] = arr
    return t.tobytes()


COPY_BINARY_HEADER = b"PGCOPY\n\xff\r\n\x00" + b"\x00" * 8
COPY_BINARY_TRAILER = b"\xff\xff"


# --------------------------------------------------------------------------
# ground truth
# --------------------------------------------------------------------------

METRICS = ("l2", "cosine")


def exact_l2sq(base, q, ids):
    """Exact squared L2 (float64) between q and base[ids]."""
    d = base[ids].astype(np.float64) - q.astype(np.float64)
    return np.einsum("ij,ij->i", d, d)


def exact_cosine(base, q, ids):
    """Exact cosine distance (float64), 1 - x.q / (|x| |q|), between q and
    base[ids]."""
    x = base[ids].astype(np.float64)
    q = q.astype(np.float64)
    return 1.0 - (x @ q) / (np.sqrt(np.einsum("ij,ij->i", x, x)) * np.sqrt(q @ q))


def exact_dist(base, q, ids, metric="l2"):
    """The exact distance (float64) of metric between q and base[ids]:
    squared L2 (same order as L2) or cosine distance."""
    if metric == "l2":
        return exact_l2sq(base, q, ids)
    if metric == "cosine":
        return exact_cosine(base, q, ids)
    raise ValueError("unknown metric %r" % metric)


def brute_force_knn(base, queries, k, batch=256, margin=32, metric="l2",
                    budget_bytes=256 << 20):
    """Exact top-k by metric ("l2": squared L2; "cosine": cosine distance).
    Candidates come from float32 batched matrix products (l2:
    ||x||^2 - 2 x.q + ||q||^2; cosine: -x.q / ||x||), argpartition over
    k+margin, then are re-ranked with float64 distances computed directly,
    so float32 rounding in the products cannot reorder the result.  The
    base set is taken in chunks so that a batch's score matrix stays under
    budget_bytes (a chunk's candidates are merged with the batch's so far).
    Returns (ids int64 [nq,k], dist float64 [nq,k]), ascending, ties broken
    by id."""
    n = base.shape[0]
    kc = min(n, k + margin)
    bnorm = np.einsum("ij,ij->i", base, base, dtype=np.float64)
    if metric == "cosine":
        binv = (1.0 / np.sqrt(np.maximum(bnorm, 1e-300))).astype(np.float32)
    else:
        bnorm = bnorm.astype(np.float32)
    chunk = max(kc, min(n, budget_bytes // (4 * batch)))
    ids_out = np.empty((len(queries), k), dtype=np.int64)
    dist_out = np.empty((len(queries), k), dtype=np.float64)
    for s in range(0, len(queries), batch):
        qb = queries[s:s + batch]
        cand = None
        for c0 in range(0, n, chunk):
            c1 = min(n, c0 + chunk)
            prod = qb @ base[c0:c1].T
            if metric == "cosine":
                d = -(prod * binv[None, c0:c1])
            else:
                d = bnorm[None, c0:c1] - 2.0 * prod  # + ||q||^2, constant per row
            kk = min(kc, c1 - c0)
            part = np.argpartition(d, kk - 1, axis=1)[:, :kk]
            if cand is None and c1 == n:
                cand = part
                break
            part_d = np.take_along_axis(d, part, axis=1)
            part = part + c0
            if cand is None:
                cand, cand_d = part, part_d
            else:
                both = np.concatenate([cand, part], axis=1)
                both_d = np.concatenate([cand_d, part_d], axis=1)
                keep = np.argpartition(both_d, kc - 1, axis=1)[:, :kc]
                cand = np.take_along_axis(both, keep, axis=1)
                cand_d = np.take_along_axis(both_d, keep, axis=1)
        for i in range(len(qb)):
            c = cand[i]
            ex = exact_dist(base, qb[i], c, metric)
            order = np.lexsort((c, ex))[:k]
            ids_out[s + i] = c[order]
            dist_out[s + i] = ex[order]
    return ids_out, dist_out


def verify_ground_truth(base, queries, gt_ids, gt_dist, nverify=5, metric="l2", chunk=20000):
    """Full direct computation (no matrix trick) for a few queries, in
    chunks of the base set (memory: one chunk in float64)."""
    k = gt_ids.shape[1]
    rng = np.random.default_rng(0)
    for qi in rng.choice(len(queries), size=min(nverify, len(queries)), replace=False):
        if metric == "l2":
            d = np.empty(len(base))
            q = queries[qi].astype(np.float64)
            for c0 in range(0, len(base), chunk):
                diff = base[c0:c0 + chunk].astype(np.float64) - q
                d[c0:c0 + chunk] = np.einsum("ij,ij->i", diff, diff)
        else:
            d = np.concatenate([exact_dist(base, queries[qi], np.arange(c0, min(len(base), c0 + chunk)),
                                           metric) for c0 in range(0, len(base), chunk)])
        order = np.lexsort((np.arange(len(d)), d))[:k]
        if not np.allclose(d[order], gt_dist[qi], rtol=1e-12, atol=0):
            raise AssertionError("ground truth distances differ for query %d" % qi)
        # ids may legitimately differ only among exact ties
        if not np.array_equal(order, gt_ids[qi]):
            kth = d[order[-1]]
            if not (np.all(d[gt_ids[qi]] <= kth)):
                raise AssertionError("ground truth ids differ for query %d" % qi)


def ground_truth(tag, base, queries, k, metric="l2"):
    """Cached exact top-k; tag must identify (base, queries) uniquely (the
    metric is added to the cache key unless it is l2)."""
    fn = _cache_path("gt-%s%s-k%d.npz" % (tag, "" if metric == "l2" else "-" + metric, k))
    if os.path.exists(fn):
        z = np.load(fn)
        if z["ids"].shape == (len(queries), k):
            return z["ids"], z["dist"]
    t0 = time.perf_counter()
    ids, dist = brute_force_knn(base, queries, k, metric=metric)
    verify_ground_truth(base, queries, ids, dist, metric=metric)
    _log("  ground truth %s: %d queries x %d base in %.1fs (verified on 5 by direct computation)"
         % (tag, len(queries), len(base), time.perf_counter() - t0))
    np.savez(fn, ids=ids, dist=dist)
    return ids, dist


def ground_truth_rows(tag, base, rows, queries, k, metric="l2"):
    """Exact top-k over the rows present in a table: base[rows], where rows
    is the sorted array of ids present (base is indexed by id).  Returns
    (ids, dist) like ground_truth, with ids mapped back from positions in
    the subset to ids.  tag=None: computed, verified, not cached; otherwise
    tag must identify (base[rows], queries) uniquely."""
    rows = np.asarray(rows, dtype=np.int64)
    if len(rows) > 1 and not np.all(rows[1:] > rows[:-1]):
        raise ValueError("rows must be sorted and unique")
    sub = base[rows]
    if tag is None:
        t0 = time.perf_counter()
        ids, dist = brute_force_knn(sub, queries, k, metric=metric)
        verify_ground_truth(sub, queries, ids, dist, metric=metric)
        _log("  ground truth over %d present rows: %d queries in %.1fs (verified on 5)"
             % (len(rows), len(queries), time.perf_counter() - t0))
    else:
        ids, dist = ground_truth(tag, sub, queries, k, metric)
    return rows[ids], dist


def recall(base, queries, gt_dist, results, k, valid=None, metric="l2"):
    """Tie-aware recall@k: a returned id counts if its exact distance is <=
    the true k-th distance (plus a tiny relative tolerance).  Duplicates are
    counted once; results may be shorter than k.  Returns mean over queries.
    Ids index base (row i of base is the vector of id i).  valid: optional
    boolean mask over ids; a returned id outside it (a row that is not in
    the table, e.g. deleted) counts as a miss -- gt_dist must then be the
    ground truth over base[valid]."""
    total = 0
    for qi, res in enumerate(results):
        res = np.unique(np.asarray(res[:k], dtype=np.int64))
        if len(res) == 0:
            continue
        res = res[(res >= 0) & (res < len(base))]
        if valid is not None:
            res = res[valid[res]]
        kth = gt_dist[qi, k - 1]
        d = exact_dist(base, queries[qi], res, metric)
        total += min(k, int(np.count_nonzero(d <= kth * (1 + 1e-9) + 1e-12)))
    return total / (k * len(results))
