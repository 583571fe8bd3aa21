"""hnswlib's graph, read back from its save_index file, for the scripts that
replay its search (hnswlib_visits.py, codes_sim.py).  The layout read is
hnswlib 0.6's (python3-hnswlib in Debian 12)."""
import os
import struct

import hnswlib
import numpy as np


class HnswlibGraph:
    """Built with m 16, ef_construction 64, one thread, L2, on base:
    ep and maxlevel (the entry point), n0[i] and nb0[i] (element i's
    level-0 list), vec (the vectors as stored), lab (their labels: the rows
    of base), upper[i][level - 1] (a list above level 0: count, then ids)."""

    def __init__(self, base, m=16, ef_construction=64):
        dim = base.shape[1]
        p = hnswlib.Index(space="l2", dim=dim)
        p.init_index(max_elements=len(base), M=m, ef_construction=ef_construction, random_seed=100)
        p.set_num_threads(1)
        p.add_items(base, np.arange(len(base)))
        path = os.path.join(os.environ.get("TMPDIR", "/tmp"), "hnswlib_graph.%d.bin" % os.getpid())
        p.save_index(path)
        self._b = open(path, "rb").read()
        os.unlink(path)
        self._off = 0
        rd = self._rd
        rd("<Q"); rd("<Q")
        cnt = rd("<Q"); sz = rd("<Q"); laboff = rd("<Q"); offdata = rd("<Q")
        self.maxlevel = rd("<i"); self.ep = rd("<I")
        maxM = rd("<Q"); self.maxM0 = rd("<Q"); rd("<Q"); rd("<d"); rd("<Q")
        l0 = np.frombuffer(self._b, dtype=np.uint8, count=cnt * sz, offset=self._off).reshape(cnt, sz)
        self._off += cnt * sz
        self.n0 = l0[:, 0:4].view(np.uint32)[:, 0] & 0xffff
        self.nb0 = l0[:, 4:4 + 4 * self.maxM0].view(np.uint32)
        self.vec = np.ascontiguousarray(l0[:, offdata:offdata + 4 * dim]).view(np.float32)
        self.lab = l0[:, laboff:laboff + 8].view(np.uint64)[:, 0]
        self.upper = {}
        for i in range(cnt):
            ls = rd("<I")
            if ls:
                raw = np.frombuffer(self._b, dtype=np.uint32, count=ls // 4, offset=self._off)
                self._off += ls
                self.upper[i] = raw.reshape(ls // 4 // (maxM + 1), maxM + 1)
        del self._b

    def descend(self, dist):
        """hnswlib's greedy descent from the entry point to level 0, with
        dist(i) the distance to element i: (element, its distance)."""
        cur = self.ep
        cd = dist(cur)
        for lev in range(self.maxlevel, 0, -1):
            moved = True
            while moved:
                moved = False
                row = self.upper[cur][lev - 1]
                for j in row[1:1 + (row[0] & 0xffff)]:
                    d = dist(j)
                    if d < cd:
                        cd, cur, moved = d, j, True
        return cur, cd

    def _rd(self, fmt):
        v = struct.unpack_from(fmt, self._b, self._off)
        self._off += struct.calcsize(fmt)
        return v[0]
