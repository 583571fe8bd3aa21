"""A run's data set: base vectors, queries, their text forms and the ground
truth (datasets.py makes, loads and caches them)."""

from dataclasses import dataclass
from typing import Optional

import numpy as np

import datasets as D
from bench_common import log, now


@dataclass
class Dataset:
    name: str              # "clustered" or "fashion-mnist"
    base: np.ndarray       # n x dim float32; row i is the table's id i
    queries: np.ndarray
    tag: str               # the ground truth's cache key
    integral: bool         # whole numbers (text form without decimals)
    desc: str
    query_texts: list
    gt_ids: np.ndarray     # exact top k over all base rows
    gt_dist: np.ndarray
    insert_n: int          # rows of the incremental insert (the first ones)
    ins_gt_ids: Optional[np.ndarray] = None   # exact top k over the first insert_n
    ins_gt_dist: Optional[np.ndarray] = None
    base_texts: Optional[list] = None  # made lazily (SQL only): see base_texts()

    @property
    def n(self):
        return self.base.shape[0]

    @property
    def dim(self):
        return self.base.shape[1]


def load_dataset(name, run):
    opts = run.opts
    t0 = now()
    if name == "clustered":
        n = opts.n if opts.n is not None else 100000
        base, queries = D.make_clustered(n, opts.dim, opts.queries)
        tag = "clustered-n%d-d%d-q%d-s%d" % (n, opts.dim, opts.queries, D.CLUSTERED_SEED)
        integral = False
        desc = ("Gaussian mixture, 100 clusters, centers N(0,1), std U(0.1,0.3), "
                "Dirichlet(0.7) sizes, seed %d; queries fresh from the mixture"
                % D.CLUSTERED_SEED)
    else:
        n = opts.n if opts.n is not None else 60000
        if n > 60000:
            run.warn("fashion-mnist has 60000 base vectors; --n %d capped" % n)
            n = 60000
        if opts.dim not in (None, 128, 784) and not opts.quick:
            run.warn("--dim ignored for fashion-mnist (784)")
        base, queries = D.load_fashion_mnist(n, opts.queries)
        tag = "fmnist-n%d-q%d" % (n, opts.queries)
        integral = True
        desc = "Fashion-MNIST train[:%d] as base, t10k[:%d] as queries, raw pixels 0-255" % (
            n, opts.queries)
    query_texts = D.vector_texts(queries, integral)
    log("[%s] %d x %d, %d queries (%s) loaded in %.1fs"
        % (name, base.shape[0], base.shape[1], len(queries), desc, now() - t0))
    gt_ids, gt_dist = D.ground_truth(tag, base, queries, opts.k)
    ds = Dataset(name=name, base=base, queries=queries, tag=tag, integral=integral, desc=desc,
                 query_texts=query_texts, gt_ids=gt_ids, gt_dist=gt_dist,
                 insert_n=min(opts.insert_n, base.shape[0]))
    if ds.insert_n > 0:
        if ds.insert_n == ds.n:
            ds.ins_gt_dist = ds.gt_dist
        else:
            ds.ins_gt_ids, ds.ins_gt_dist = D.ground_truth(
                ds.tag + "-first%d" % ds.insert_n, ds.base[:ds.insert_n], ds.queries, opts.k)
    return ds


def base_texts(ds):
    if ds.base_texts is None:
        t0 = now()
        ds.base_texts = D.vector_texts(ds.base, ds.integral)
        log("  text form of %d base vectors in %.1fs" % (ds.n, now() - t0))
    return ds.base_texts
