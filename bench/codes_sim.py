#!/usr/bin/python3
"""codes_sim.py [clustered|cos1536] [QUERIES]: recall of compact vector codes on hnswlib's graph.

For the design of compact codes in the index (issue 11): builds hnswlib (m 16,
ef_construction 64, one thread) on a bench data set, reads its graph back from
the save_index file (hnswlib 0.6's layout, as bench/hnswlib_visits.py), and
replays its search in Python with the distances computed from a code of each
vector instead of the vector: float16, or an 8-bit scalar code (per-dimension
minimum and step, trained on the data).  The search's ef candidates, ordered by
code distance, are then optionally re-ranked by exact float32 distance (the
best R of them) before the top 10 are taken.  Prints recall@10 against brute
force for each code, ef and R, beside float32's.

  clustered: the bench's clustered set, 100,000 x 128, L2
  cos1536:   20,000 x 1,536 clustered and normalised (cosine = L2 order)
"""
import os, sys, heapq
import numpy as np
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import datasets as D
from hnswlib_graph import HnswlibGraph

kind = sys.argv[1] if len(sys.argv) > 1 else "clustered"
Q = int(sys.argv[2]) if len(sys.argv) > 2 else 100
if kind == "clustered":
    base, queries = D.make_clustered(100000, 128, 1000)
else:
    base, queries = D.make_clustered(20000, 1536, 200)
    base = base / np.linalg.norm(base, axis=1, keepdims=True)
    queries = queries / np.linalg.norm(queries, axis=1, keepdims=True)
base = base.astype(np.float32); queries = queries.astype(np.float32)
dim = base.shape[1]
B64 = base.astype(np.float64)
gt = np.argsort((B64 ** 2).sum(1)[None, :] - 2 * queries[:Q].astype(np.float64) @ B64.T, axis=1)[:, :10]

G = HnswlibGraph(base)
n0, nb0, X, lab = G.n0, G.nb0, G.vec, G.lab

lo, hi = X.min(0), X.max(0)
step = (hi - lo) / 255.0
step[step == 0] = 1
sq8 = np.round((X - lo) / step).astype(np.uint8)
f16 = X.astype(np.float16)
codes = {
    "float32": lambda q, j: float(((X[j] - q) ** 2).sum()),
    "float16": lambda q, j: float(((f16[j].astype(np.float32) - q) ** 2).sum()),
    "sq8": lambda q, j: float(((sq8[j] * step + lo - q) ** 2).sum()),
}


def exact(q, i):
    d = X[i] - q
    return float(d @ d)


def search(q, ef, dist, rerank):
    cur, cd = G.descend(lambda j: dist(q, j))
    seen = {cur}
    cand = [(cd, cur)]
    top = [(-cd, cur)]
    while cand:
        d, c = heapq.heappop(cand)
        if d > -top[0][0] and len(top) >= ef:
            break
        for j in nb0[c][:n0[c]]:
            if j in seen:
                continue
            seen.add(j)
            dj = dist(q, j)
            if len(top) < ef or dj < -top[0][0]:
                heapq.heappush(cand, (dj, j))
                heapq.heappush(top, (-dj, j))
                if len(top) > ef:
                    heapq.heappop(top)
    found = sorted((-a, i) for a, i in top)
    if rerank:
        found = sorted((exact(q, i), i) for _, i in found[:rerank])
    return [int(lab[i]) for _, i in found[:10]]


print("%s: %d x %d, %d queries, hnswlib m 16 ef_construction 64" % (kind, len(base), dim, Q))
for name, dist in codes.items():
    for ef in (10, 20, 40, 100):
        for rr in ((0,) if name == "float32" else sorted({0, 20, ef})):
            if rr > ef:
                continue
            rec = sum(len(set(search(queries[qi], ef, dist, rr)) & set(int(x) for x in gt[qi])) / 10
                      for qi in range(Q)) / Q
            print("%-8s ef %3d  re-rank %3s: recall@10 %.3f" % (name, ef, rr or "-", rec), flush=True)
