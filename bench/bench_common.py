"""What every part of the bench shares: the output, the clock, the run's
options and warnings (Run), the table names and the project's targets."""

import argparse
import time
from dataclasses import dataclass, field

TABLE = "bench_items"
TABLE_INS = "bench_items_ins"

TARGET_QUERY = 1.6   # index-side query time <= 1.6x hnswlib at recall >= 0.95, 0.99
TARGET_BUILD = 1.2   # build time <= 1.2x hnswlib
TARGET_INSERT = 0.25  # insert rate >= 25% of hnswlib's
MATCH_RECALL = 0.95
MATCH_RECALLS = (0.95, 0.99)  # the matched-recall points of the summary
TARGET_VACUUM = 0.25  # VACUUM after deleting 10% < 25% of the serial build time
TARGET_RECALL_DROP = 0.01  # recall@k after delete + VACUUM within 0.01 of before
MAINT_EF = 100        # maintenance recall is always measured at this ef too
DELETE_MOD = 10       # the delete phase removes the rows with id % 10 = 0

# the data sets' distances: the operator class, the operator, hnswlib's space
OPCLASS = {"l2": "vector_l2_ops", "cosine": "vector_cosine_ops"}
OPERATOR = {"l2": "<->", "cosine": "<=>"}
HNSWLIB_SPACE = {"l2": "l2", "cosine": "cosine"}

# the data sets --dataset takes ("all" is the first two) and their default sizes
DATASETS = ("clustered", "fashion-mnist", "cos1536", "cos3072")
DEFAULT_N = {"clustered": 100000, "fashion-mnist": 60000, "cos1536": 100000, "cos3072": 50000}
UNIT_DIMS = {"cos1536": 1536, "cos3072": 3072}

# index storages (--storages): the server's limit on dimensions of each, for
# the output's note when a build is refused
STORAGE_MAX_DIM = {"float4": 2000, "half": 4000, "sq8": 8000, "sq4": 16000}
STORAGE_EF = 100      # the storage report's recall at this ef too (the target)
STORAGE_TARGET_RECALL = 0.95


def log(msg=""):
    print(msg, flush=True)


def now():
    return time.perf_counter()


@dataclass
class Run:
    """One bench run: the parsed command line (bench.py parse_args) and the
    warnings given so far, printed as they come and listed again at the end."""
    opts: argparse.Namespace
    warnings: list = field(default_factory=list)

    def warn(self, msg):
        self.warnings.append(msg)
        log("WARNING: " + msg)


def fmt(value, spec, none="-"):
    return none if value is None else format(value, spec)


def recall_efs(opts):
    """The ef grid of the recall comparisons (maintenance, churn, the
    incremental load): the sweep's ef from k up.  The sweep's ef below k
    serve only to find the index's time at equal recall where its ef k
    already passes the target (its scan still returns k rows)."""
    return [ef for ef in opts.ef_search if ef >= opts.k] or list(opts.ef_search)


def lowest_ef_at(efs, recall):
    """Lowest ef (by ef value) whose recall >= recall, or None."""
    for ef in sorted(efs):
        if efs[ef]["recall"] >= recall:
            return ef
    return None


def at_recall(points, target):
    """Index-side ms per query at recall target, linearly interpolated
    between the two points of the curve around it.  points: (ef, recall,
    ms) by ascending ef.  Returns {"ms", "ef_lo", "ef_hi", "kind",
    "crossing_ms"}: kind "interp", or "first" when the lowest ef already
    reaches the target (its time is then an upper bound); None when no ef
    reaches it.

    Where a point of higher ef reaches the target in less time than that,
    the cheapest such point is the time instead, kind "cheaper" (an upper
    bound too): a user after that recall sets that ef.  A curve need not
    rise with ef: below k an index scan needs several rounds, each as dear
    as one of a wider beam, so on Fashion-MNIST ef 6 and 8 cost more than
    ef 10, which finds more.  crossing_ms keeps the interpolated time."""
    prev = None
    res = None
    rest = []
    for i, (ef, r, ms) in enumerate(points):
        if r >= target:
            if prev is None:
                res = {"ms": ms, "ef_lo": None, "ef_hi": ef, "kind": "first"}
            else:
                pef, pr, pms = prev
                f = (target - pr) / (r - pr)
                res = {"ms": pms + f * (ms - pms), "ef_lo": pef, "ef_hi": ef, "kind": "interp"}
            rest = points[i + 1:]
            break
        prev = (ef, r, ms)
    if res is None:
        return None
    res["crossing_ms"] = res["ms"]
    for ef, r, ms in rest:
        if r >= target and ms < res["ms"]:
            res.update(ms=ms, ef_lo=None, ef_hi=ef, kind="cheaper")
    return res


def upper_bound(m):
    """True when at_recall's time is an upper bound of the time at the
    target rather than an interpolation around it."""
    return m is not None and m["kind"] in ("first", "cheaper")


def ratio(a, b):
    return None if a is None or b is None or b == 0 else a / b


def where(m):
    if m is None:
        return "never"
    if m["kind"] == "first":
        return "<= ef %d" % m["ef_hi"]
    if m["kind"] == "cheaper":
        return "ef %d, cheaper" % m["ef_hi"]
    return "ef %d-%d" % (m["ef_lo"], m["ef_hi"])


def best_of(opts, timed_pass):
    """Run timed_pass() -> (seconds, latencies, results) up to opts.repeat
    times (fewer if one pass exceeds opts.repeat_budget seconds); return the
    fastest pass plus the number of passes."""
    best = None
    passes = 0
    for _ in range(max(1, opts.repeat)):
        got = timed_pass()
        passes += 1
        if best is None or got[0] < best[0]:
            best = got
        if got[0] > opts.repeat_budget:
            break
    return best + (passes,)
