#!/usr/bin/python3
"""hnswlib_visits.py [QUERIES]: how many distance computations hnswlib's search makes.

Builds hnswlib (m 16, ef_construction 64, one thread) on the bench's clustered
100,000 x 128 set, reads the graph back from its save_index file, and replays
hnswlib's search (greedy descent, then the best-first layer-0 search) in Python
for the first QUERIES queries (default 50), counting distance computations and
recall@10 per ef.  The index's own count per query is in its DEBUG1 message
("hnsw scan: N distances, ..."; SET client_min_messages = debug1).  Compares
the work of the two graphs at equal recall, apart from what a visit costs.
The graph is read by hnswlib_graph.py.
"""
import os, sys, heapq
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import datasets as D
from hnswlib_graph import HnswlibGraph
base, queries = D.make_clustered(100000, 128, 1000)
Q = int(sys.argv[1]) if len(sys.argv) > 1 else 50
G = HnswlibGraph(base)
ep, maxlevel, n0, nb0, vec, lab, upper, maxM0 = G.ep, G.maxlevel, G.n0, G.nb0, G.vec, G.lab, G.upper, G.maxM0
print("avg level-0 degree %.2f (cap %d)" % (n0.mean(), maxM0))
gt = D.ground_truth("clustered-n100000-d128-q1000-s%d" % D.CLUSTERED_SEED, base, queries, 10)[0]
def dist(q, i): d = vec[i] - q; return float(d @ d)
def search(q, ef):
    nd = 0; cur = ep; cd = dist(q, cur); nd += 1
    for lev in range(maxlevel, 0, -1):
        ch = True
        while ch:
            ch = False; row = upper[cur][lev - 1]; k = row[0] & 0xffff
            for j in row[1:1 + k]:
                d = dist(q, j); nd += 1
                if d < cd: cd = d; cur = j; ch = True
    vis = {cur}; C = [(cd, cur)]; W = [(-cd, cur)]
    while C:
        d, c = heapq.heappop(C)
        if d > -W[0][0] and len(W) >= ef: break
        for j in nb0[c][:n0[c]]:
            if j in vis: continue
            vis.add(j); dj = dist(q, j); nd += 1
            if len(W) < ef or dj < -W[0][0]:
                heapq.heappush(C, (dj, j)); heapq.heappush(W, (-dj, j))
                if len(W) > ef: heapq.heappop(W)
    res = [lab[i] for _, i in sorted((-a, i) for a, i in W)[:10]]
    return nd, res
for ef in (10, 20, 40, 100, 400):
    tot = 0; rec = 0
    for qi in range(Q):
        nd, res = search(queries[qi], max(ef, 10)); tot += nd; rec += len(set(int(x) for x in res) & set(int(x) for x in gt[qi])) / 10
    print("hnswlib ef %d: %.0f distances/query, recall %.3f" % (ef, tot / Q, rec / Q))
