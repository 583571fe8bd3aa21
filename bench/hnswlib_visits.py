#!/usr/bin/python3
"""hnswlib_visits.py [QUERIES]: how many distance computations hnswlib's search makes.

Builds hnswlib (m 16, ef_construction 64, one thread) on the bench's clustered
100,000 x 128 set, reads the graph back from its save_index file, and replays
hnswlib's search (greedy descent, then the best-first layer-0 search) in Python
for the first QUERIES queries (default 50), counting distance computations and
recall@10 per ef.  The index's own count per query is in its DEBUG1 message
("hnsw scan: N distances, ..."; SET client_min_messages = debug1).  Compares
the work of the two graphs at equal recall, apart from what a visit costs.
The file layout read is hnswlib 0.6's (python3-hnswlib in Debian 12).
"""
import os, sys, struct, heapq, numpy as np, hnswlib
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import datasets as D
base, queries = D.make_clustered(100000, 128, 1000)
Q = int(sys.argv[1]) if len(sys.argv) > 1 else 50
p = hnswlib.Index(space="l2", dim=128); p.init_index(max_elements=len(base), M=16, ef_construction=64, random_seed=100)
p.set_num_threads(1)
p.add_items(base, np.arange(len(base)))
path = os.path.join(os.environ.get("TMPDIR", "/tmp"), "hnswlib_visits.%d.bin" % os.getpid())
p.save_index(path)
b = open(path, "rb").read()
os.unlink(path)
off = 0
def rd(fmt):
    global off; v = struct.unpack_from(fmt, b, off); off += struct.calcsize(fmt); return v[0]
offL0 = rd("<Q"); maxel = rd("<Q"); cnt = rd("<Q"); sz = rd("<Q"); laboff = rd("<Q"); offdata = rd("<Q")
maxlevel = rd("<i"); ep = rd("<I"); maxM = rd("<Q"); maxM0 = rd("<Q"); M = rd("<Q"); mult = rd("<d"); efc = rd("<Q")
l0 = np.frombuffer(b, dtype=np.uint8, count=cnt * sz, offset=off).reshape(cnt, sz); off += cnt * sz
n0 = l0[:, 0:4].view(np.uint32)[:, 0] & 0xffff
nb0 = l0[:, 4:4 + 4 * maxM0].view(np.uint32)
vec = l0[:, offdata:offdata + 512].view(np.float32)
lab = l0[:, laboff:laboff + 8].view(np.uint64)[:, 0]
upper = {}
for i in range(cnt):
    ls = rd("<I")
    if ls:
        raw = np.frombuffer(b, dtype=np.uint32, count=ls // 4, offset=off); off += ls
        lv = ls // 4 // (maxM + 1); upper[i] = raw.reshape(lv, maxM + 1)
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
