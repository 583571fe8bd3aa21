"""A run's data set: base vectors, queries, their text forms and the ground
truth (datasets.py makes, loads and caches them)."""

from dataclasses import dataclass
from typing import Optional

import numpy as np

import datasets as D
from bench_common import DEFAULT_N, OPCLASS, OPERATOR, UNIT_DIMS, log, now


@dataclass
class Dataset:
    name: str              # "clustered", "fashion-mnist", "cos1536" or "cos3072"
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
    metric: str = "l2"     # "l2" or "cosine": ground truth, recall, opclass, operator
    float_fmt: str = "%.4f"   # text form of non-integral values (D.vector_texts)
    copy_binary: bool = False  # COPY the base rows in binary (large float sets)

    @property
    def opclass(self):
        return OPCLASS[self.metric]

    @property
    def op(self):
        return OPERATOR[self.metric]

    @property
    def n(self):
        return self.base.shape[0]

    @property
    def dim(self):
        return self.base.shape[1]


def dataset_n(opts, name):
    """The base size of data set name: --n (a number for all, or
    name=number pairs), else its default."""
    n = opts.n.get(name, opts.n.get("*")) if opts.n else None
    return n if n is not None else DEFAULT_N[name]


def load_dataset(name, run):
    opts = run.opts
    t0 = now()
    n = dataset_n(opts, name)
    metric, float_fmt, binary = "l2", "%.4f", False
    if name == "clustered":
        base, queries = D.make_clustered(n, opts.dim, opts.queries)
        tag = "clustered-n%d-d%d-q%d-s%d" % (n, opts.dim, opts.queries, D.CLUSTERED_SEED)
        integral = False
        desc = ("Gaussian mixture, 100 clusters, centers N(0,1), std U(0.1,0.3), "
                "Dirichlet(0.7) sizes, seed %d; queries fresh from the mixture"
                % D.CLUSTERED_SEED)
    elif name in UNIT_DIMS:
        dim = UNIT_DIMS[name]
        base, queries = D.make_clustered_unit(n, dim, opts.queries)
        tag = "clustered-unit-n%d-d%d-q%d-s%d" % (n, dim, opts.queries, D.CLUSTERED_SEED)
        integral = False
        metric, float_fmt, binary = "cosine", "%.9g", True
        desc = ("the clustered Gaussian mixture at %d dimensions, every vector scaled to unit "
                "length, cosine distance, seed %d" % (dim, D.CLUSTERED_SEED))
    else:
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
    query_texts = D.vector_texts(queries, integral, float_fmt)
    log("[%s] %d x %d, %d queries (%s) loaded in %.1fs"
        % (name, base.shape[0], base.shape[1], len(queries), desc, now() - t0))
    gt_ids, gt_dist = D.ground_truth(tag, base, queries, opts.k, metric)
    ds = Dataset(name=name, base=base, queries=queries, tag=tag, integral=integral, desc=desc,
                 query_texts=query_texts, gt_ids=gt_ids, gt_dist=gt_dist,
                 insert_n=min(opts.insert_n, base.shape[0]), metric=metric,
                 float_fmt=float_fmt, copy_binary=binary)
    if ds.insert_n > 0:
        if ds.insert_n == ds.n:
            ds.ins_gt_dist = ds.gt_dist
        else:
            ds.ins_gt_ids, ds.ins_gt_dist = D.ground_truth(
                ds.tag + "-first%d" % ds.insert_n, ds.base[:ds.insert_n], ds.queries, opts.k,
                metric)
    return ds


def base_texts(ds, count=None):
    """The text forms of the first count base vectors (all by default),
    made on first use and kept."""
    count = ds.n if count is None else min(count, ds.n)
    have = 0 if ds.base_texts is None else len(ds.base_texts)
    if have < count:
        t0 = now()
        more = D.vector_texts(ds.base[have:count], ds.integral, ds.float_fmt)
        ds.base_texts = (ds.base_texts or []) + more
        log("  text form of %d base vectors in %.1fs" % (count - have, now() - t0))
    if count == 0:
        return []
    return ds.base_texts if count == len(ds.base_texts) else ds.base_texts[:count]
