#!/usr/bin/python3
"""residual_sim.py [N] [QUERIES]: would 8-bit codes of residuals be precise enough?

For issue 11 (compact codes): on N (default 20,000) unit 1,536-d vectors of
the bench's clustered generator (cosine, as the storage bench's cos1536 set),
ranks the rows of each query by the distance to their 8-bit code, as brute
force, then re-ranks the best R by the exact distance, and prints recall@10
for R = 10, 20, 30, 50 and the error of the code's distance.  Codes:

  sq8 per vector   what the index stores today (storage = sq8): each vector's
                   own minimum and step, 256 levels;
  residual k=K     a k-means centroid (K of them, 10 rounds of Lloyd on 5,000
                   rows) subtracted first, the residual coded as above, as a
                   trained quantizer would keep it (a centroid number per row).

Recall at small R is what a re-ranking scan's reads of table rows buy
(src/README.md section 11).  Numpy only; about a minute.
"""
import os, sys
import numpy as np
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import datasets as D

N = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
Q = int(sys.argv[2]) if len(sys.argv) > 2 else 300
base, queries = D.make_clustered_unit(N, 1536, 1000)
q = queries[:Q].astype(np.float64)
x = base.astype(np.float64)
exact = 1 - q @ x.T
truth = np.argsort(exact, 1)[:, :10]


def sq8(v):
    """Each row's own minimum and step, 256 levels, decoded."""
    lo = v.min(1, keepdims=True)
    step = (v.max(1, keepdims=True) - lo) / 255
    safe = np.where(step > 0, step, 1)
    return lo + step * np.round((v - lo) / safe)


def report(name, decoded):
    est = 1 - q @ decoded.T
    order = np.argsort(est, 1)
    out = ["%-16s" % name, "error std %.2e" % (est - exact).std()]
    for r in (10, 20, 30, 50):
        hits = 0
        for i in range(len(q)):
            cand = order[i, :r]
            top = cand[np.argsort(exact[i, cand])[:10]]
            hits += len(set(top.tolist()) & set(truth[i].tolist()))
        out.append("R=%d %.3f" % (r, hits / (10 * len(q))))
    print("  ".join(out))


report("sq8 per vector", sq8(x))
rng = np.random.default_rng(1)
for k in (16, 64, 256):
    sample = x[rng.choice(len(x), min(5000, len(x)), replace=False)]
    cent = sample[rng.choice(len(sample), k, replace=False)]
    for _ in range(10):
        near = np.argmax(sample @ cent.T - 0.5 * (cent * cent).sum(1), 1)
        for j in range(k):
            members = sample[near == j]
            if len(members):
                cent[j] = members.mean(0)
    near = np.argmax(x @ cent.T - 0.5 * (cent * cent).sum(1), 1)
    report("residual k=%d" % k, cent[near] + sq8(x - cent[near]))
