#!/usr/bin/python3
"""binary_sim.py [QUERIES [fmnist|cos1536 ...]]: could a 1-bit code with an error bound skip most 8-bit code reads?

For issue 11 (compact codes): a short binary code per vector, read first for
every neighbour of the layer-0 search, would let the search skip the 8-bit
code of a neighbour whose distance lower bound is already beyond the beam.
This measures, by simulation, how many 8-bit reads that skips and what it
costs in recall.  For each data set it builds hnswlib (m 16, ef_construction
64, one thread), reads the graph back (hnswlib_graph.py) and replays its
search in Python as hnswlib_visits.py and codes_sim.py do: greedy descent,
then the best-first layer-0 search with ef, on exact distances.  At every
layer-0 evaluation of a neighbour it notes the beam's threshold (the ef-th
best distance when the result set is full, else +inf), whether the neighbour
was admitted (d < threshold) or refused, and whether the binary code's lower
bound would have rejected it (lb >= threshold; a "false reject" if it was
in fact admitted).  Each configuration is then replayed again with the
rejectable neighbours skipped, so the beam evolves with the skips, and
recall@10 of both searches is taken against brute force (tie-aware,
datasets.recall).

The binary code is RaBitQ's (Gao & Long, SIGMOD 2024): a random orthogonal
P (QR of a Gaussian matrix, fixed seed), a centroid c (the data mean, or the
nearest of 64 k-means centroids: 8 rounds of Lloyd on 10,000 rows), the
residual r = P(x - c), its sign bits xbar = sign(r)/sqrt(d), and per vector
|x - c| and <xbar, o> with o = r/|r|.  The query is kept in floats (no 4-bit
query code).  With q' = P(q - c)/|q - c|:

  <o, q'>_est  = <xbar, q'> / <xbar, o>                       (unbiased)
  |error|     <= eps0 * sqrt((1 - <xbar,o>^2) / <xbar,o>^2) / sqrt(d - 1)
                 (Theorem 3.2; holds with probability >= 1 - 2 exp(-c0 eps0^2))
  d_est        = |q-c|^2 + |x-c|^2 - 2 |q-c| |x-c| <o, q'>_est
  lower bound  = d_est - 2 |q-c| |x-c| * error bound

for eps0 = 1.9 (the paper's default) and 3.  Data sets:

  fmnist:  Fashion-MNIST, 60,000 x 784, L2
  cos1536: make_clustered(20000, 1536, 200), normalised (cosine = L2 order)

Generated data and ground truth are cached in bench/out/binsim/data (not
bench/data); the table is printed and written to bench/out/binsim/result.txt.
Numpy and hnswlib only; about 5 minutes for both sets at 200 queries
(most of it the graphs, the rotations and the codes).
"""
import os, sys, heapq, time
import numpy as np
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import datasets as D
from hnswlib_graph import HnswlibGraph

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "out", "binsim")
D.DATA_DIR = os.path.join(OUT, "data")      # keep caches out of bench/data
Q = int(sys.argv[1]) if len(sys.argv) > 1 else 200
EFS = (10, 20, 40, 80)
EPS = (1.9, 3.0)
NCENT = 64
SEED = 20240611


def log(msg):
    print(msg, flush=True)


def load(kind):
    if kind == "fmnist":
        base, queries = D.load_fashion_mnist(60000, Q)
        return base, queries, "fmnist-n60000-q%d" % Q
    base, queries = D.make_clustered(20000, 1536, 200)
    base = (base / np.linalg.norm(base, axis=1, keepdims=True)).astype(np.float32)
    queries = (queries / np.linalg.norm(queries, axis=1, keepdims=True)).astype(np.float32)
    return base, queries[:Q], "binsim-cos1536-n20000-q%d" % Q


def rotation(dim, seed):
    """A random orthogonal matrix: QR of a Gaussian one, signs fixed (Haar)."""
    a = np.random.default_rng(seed).standard_normal((dim, dim))
    qm, rm = np.linalg.qr(a)
    return qm * np.sign(np.diag(rm))[None, :]


def kmeans(X, k, seed, sample=10000, rounds=8):
    rng = np.random.default_rng(seed)
    S = X[rng.choice(len(X), size=min(sample, len(X)), replace=False)].astype(np.float64)
    C = S[rng.choice(len(S), size=k, replace=False)].copy()
    for _ in range(rounds):
        a = np.argmin((C * C).sum(1)[None, :] - 2 * S @ C.T, axis=1)
        for j in range(k):
            m = a == j
            if m.any():
                C[j] = S[m].mean(0)
    return C


class BinaryCode:
    """RaBitQ 1-bit codes of X (internal order) against centroids C."""

    def __init__(self, X, PX, C, P):
        X64 = X.astype(np.float64)
        self.d = X.shape[1]
        self.C, self.P = C, P
        if len(C) == 1:
            self.kid = np.zeros(len(X), dtype=np.int64)
        else:
            cn = (C * C).sum(1)
            self.kid = np.concatenate([np.argmin(cn[None, :] - 2 * X64[s:s + 10000] @ C.T, axis=1)
                                       for s in range(0, len(X), 10000)])
        self.PC = C @ P.T                                            # rows: P c_k
        self.sign = np.empty(X.shape, dtype=np.int8)
        self.nx = np.empty(len(X))
        self.xo = np.empty(len(X))
        for s in range(0, len(X), 10000):
            r = PX[s:s + 10000] - self.PC[self.kid[s:s + 10000]]     # rows: P (x - c)
            sg = np.where(r >= 0, 1, -1).astype(np.int8)
            self.sign[s:s + 10000] = sg
            n = np.linalg.norm(r, axis=1)
            self.nx[s:s + 10000] = n
            # <xbar, o> = sum |r_i| / (sqrt(d) |r|)
            self.xo[s:s + 10000] = np.abs(r).sum(1) / (np.sqrt(self.d) * np.maximum(n, 1e-300))
        # <xbar, P c_k(x)> per vector, so that <xbar, P(q - c)> = <xbar, Pq> - spc
        self.spc = np.einsum("ij,ij->i", self.sign.astype(np.float64),
                             self.PC[self.kid]) / np.sqrt(self.d)
        xo = np.clip(self.xo, 1e-12, 1.0)
        # error unit: sqrt((1 - xo^2) / xo^2) / sqrt(d - 1) * |x - c|  (times |q - c| and eps0)
        self.eunit = np.sqrt(1 - xo ** 2) / xo / np.sqrt(self.d - 1) * self.nx

    def query(self, q):
        q = q.astype(np.float64)
        self.Pq = self.P @ q
        self.qn = np.linalg.norm(q[None, :] - self.C, axis=1)       # |q - c_k|

    def estimate(self, ids):
        """(d_est, err) for ids: the squared-L2 estimate and the bound's
        distance error for eps0 = 1 (lb = d_est - eps0 * err)."""
        proj = (self.sign[ids] @ self.Pq) / np.sqrt(self.d) - self.spc[ids]   # <xbar, P(q-c)>
        nx, nq = self.nx[ids], self.qn[self.kid[ids]]
        ip = proj * nx / np.maximum(self.xo[ids], 1e-12)                       # <q-c, x-c>_est
        return nq * nq + nx * nx - 2 * ip, 2 * nq * self.eunit[ids]


def run(kind):
    t0 = time.perf_counter()
    base, queries, tag = load(kind)
    dim = base.shape[1]
    gt_ids, gt_dist = D.ground_truth(tag, base, queries, 10)
    G = HnswlibGraph(base)
    n0, nb0, X, lab = G.n0, G.nb0, G.vec, G.lab
    log("%s: %d x %d, %d queries; graph built in %.0fs, avg level-0 degree %.1f"
        % (kind, len(X), dim, len(queries), time.perf_counter() - t0, n0.mean()))
    t1 = time.perf_counter()
    P = rotation(dim, SEED)
    PX = X.astype(np.float64) @ P.T                                  # rows: P x
    codes = {"mean": BinaryCode(X, PX, X.astype(np.float64).mean(0, keepdims=True), P),
             "km64": BinaryCode(X, PX, kmeans(X, NCENT, SEED), P)}
    del PX
    log("  codes in %.0fs; mean <xbar,o>: %s" % (time.perf_counter() - t1, ", ".join(
        "%s %.3f" % (m, c.xo.mean()) for m, c in codes.items())))
    cfgs = [(m, e) for m in codes for e in EPS]

    def descend(q):
        def dist(j):
            d = X[j] - q
            return float(d @ d)
        return G.descend(dist)

    def layer0(q, start, ef, skip=None, trace=None):
        """Best-first layer-0 search from start=(d, id).  skip=(mode, eps0):
        neighbours whose lower bound is >= the threshold are skipped.
        trace: dict of counters filled for every configuration.  Returns
        (labels of the best 10, evaluations, skipped)."""
        cd, cur = start
        seen = {cur}
        cand = [(cd, cur)]
        top = [(-cd, cur)]
        nev = nskip = 0
        while cand:
            d, c = heapq.heappop(cand)
            if d > -top[0][0] and len(top) >= ef:
                break
            nbr = [j for j in nb0[c][:n0[c]] if j not in seen]
            if not nbr:
                continue
            seen.update(nbr)
            ids = np.asarray(nbr, dtype=np.int64)
            diff = X[ids] - q
            dd = np.einsum("ij,ij->i", diff, diff).tolist()    # float32 as hnswlib
            if skip is not None:
                de, er = codes[skip[0]].estimate(ids)
                lbs = (de - skip[1] * er).tolist()
            elif trace is not None:
                lbl = []
                for m in codes:
                    de, er = codes[m].estimate(ids)
                    for e in EPS:
                        lbl.append(de - e * er)
                lbs = np.stack(lbl, 1)
                trace["viol"] += (lbs > np.asarray(dd)[:, None]).sum(0)
                lbs = lbs.tolist()
            for i, j in enumerate(nbr):
                thr = -top[0][0] if len(top) >= ef else float("inf")
                nev += 1
                dj = dd[i]
                if skip is not None and lbs[i] >= thr:
                    nskip += 1
                    continue
                adm = dj < thr
                if trace is not None:
                    lb = lbs[i]
                    trace["refused"] += not adm
                    for k in range(len(cfgs)):
                        if lb[k] >= thr:
                            trace["rej"][k] += 1
                            trace["frej"][k] += adm
                if adm:
                    heapq.heappush(cand, (dj, j))
                    heapq.heappush(top, (-dj, j))
                    if len(top) > ef:
                        heapq.heappop(top)
        res = [int(lab[i]) for _, i in sorted((-a, i) for a, i in top)[:10]]
        return res, nev, nskip

    rows = []
    starts = [descend(q) for q in queries]
    for ef in EFS:
        t2 = time.perf_counter()
        tr = {"refused": 0, "viol": np.zeros(len(cfgs), dtype=np.int64),
              "rej": [0] * len(cfgs), "frej": [0] * len(cfgs)}
        plain, nev = [], 0
        sk = {c: ([], [0, 0]) for c in cfgs}
        for qi, q in enumerate(queries):
            for c in codes.values():
                c.query(q)
            cur, cd = starts[qi]
            r, n, _ = layer0(q, (cd, cur), ef, trace=tr)
            plain.append(r)
            nev += n
            for c in cfgs:
                r, n, s = layer0(q, (cd, cur), ef, skip=c)
                sk[c][0].append(r)
                sk[c][1][0] += n
                sk[c][1][1] += s
        rec = D.recall(base, queries, gt_dist, plain, 10)
        for k, c in enumerate(cfgs):
            rs = D.recall(base, queries, gt_dist, sk[c][0], 10)
            rows.append((kind, c[0], c[1], ef, nev / len(queries), tr["refused"] / nev,
                         tr["rej"][k] / nev, tr["rej"][k] / max(tr["refused"], 1),
                         tr["frej"][k] / nev, tr["viol"][k] / nev, rec, rs,
                         sk[c][1][0] / len(queries), sk[c][1][1] / max(sk[c][1][0], 1)))
        log("  ef %d in %.0fs" % (ef, time.perf_counter() - t2))
    return rows


HEAD = ("%-7s %-4s %4s %3s | %7s %7s %7s %7s %8s %7s | %6s %6s | %7s %7s"
        % ("data", "cent", "eps0", "ef", "eval/q", "refused", "reject", "caught", "falserej",
           "bndfail", "rec", "rec_sk", "evalsk/q", "skipped"))


def fmt(r):
    return ("%-7s %-4s %4.1f %3d | %7.0f %6.1f%% %6.1f%% %6.1f%% %7.3f%% %6.2f%% | %6.3f %6.3f | %7.0f %6.1f%%"
            % (r[0], r[1], r[2], r[3], r[4], 100 * r[5], 100 * r[6], 100 * r[7], 100 * r[8],
               100 * r[9], r[10], r[11], r[12], 100 * r[13]))


LEGEND = """columns (layer-0 evaluations of neighbours, descent not counted):
  eval/q   evaluations per query of the plain search (each one an 8-bit code read today)
  refused  share of them refused by the beam (d >= threshold): the most a prefilter could skip
  reject   share whose binary lower bound is >= the threshold (would be skipped)
  caught   reject / refused
  falserej share rejectable but in fact admitted (d < threshold)
  bndfail  share where the true distance is below the lower bound (bound failed)
  rec      recall@10 of the plain search; rec_sk: with rejectable neighbours skipped
  evalsk/q evaluations per query of the skipping search; skipped: share of them skipped
bound: lb = |q-c|^2 + |x-c|^2 - 2|q-c||x-c|<xbar,q'>/<xbar,o>
            - 2|q-c||x-c| eps0 sqrt((1-<xbar,o>^2)/<xbar,o>^2)/sqrt(d-1)
cent: mean = one centroid (the data mean); km64 = nearest of 64 k-means centroids"""


if __name__ == "__main__":
    os.makedirs(D.DATA_DIR, exist_ok=True)
    kinds = [a for a in sys.argv[2:]] or ["fmnist", "cos1536"]
    rows = []
    for kind in kinds:
        rows += run(kind)
    lines = ["binary_sim.py: RaBitQ 1-bit prefilter on hnswlib's graph (m 16, ef_construction 64), %d queries" % Q,
             HEAD] + [fmt(r) for r in rows] + [LEGEND]
    text = "\n".join(lines)
    print(text)
    with open(os.path.join(OUT, "result.txt"), "w") as f:
        f.write(text + "\n")
