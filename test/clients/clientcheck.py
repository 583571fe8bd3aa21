"""What the Python client programs (test/clients/*_client.py) share: one line
per check (`ok - NAME` or `not ok - NAME: detail`), the summary line
`N checks, N failed` and the exit status, bit-for-bit comparison of float4
vectors, and exact nearest neighbours computed with numpy for each operator.
"""
import sys

import numpy as np

checks = 0
failed = 0


def check(name, cond, detail=''):
    """Prints one check's line; returns cond."""
    global checks, failed
    checks += 1
    if cond:
        print(f'ok - {name}', flush=True)
    else:
        failed += 1
        print(f'not ok - {name}: {detail}', flush=True)
    return cond


def finish():
    """Prints the summary line and exits, 1 if any check failed."""
    print(f'{checks} checks, {failed} failed')
    sys.exit(1 if failed else 0)


def same_bits(a, b):
    """a is a float32 numpy array with exactly b's float4 values."""
    return (isinstance(a, np.ndarray) and a.dtype == np.float32 and a.shape == np.shape(b)
            and a.astype('>f4').tobytes() == np.asarray(b, dtype='>f4').tobytes())


def exact_top(got, ids, d_exact, k, mask=None):
    """Whether the ids in got are the exact top k by d_exact (numpy's
    distances, in the order of ids), up to ties within float4 rounding:
    k distinct ids, none farther than the k-th nearest (the server computes
    in float4, numpy in float8, so the order of near-equal neighbours may
    differ; the server's order is checked on its own distances)."""
    pos = {rid: i for i, rid in enumerate(ids)}
    cand = np.arange(len(ids)) if mask is None else np.flatnonzero(mask)
    kth = np.sort(d_exact[cand])[k - 1]
    return (len(got) == k and len(set(got)) == k and all(r in pos for r in got)
            and all(pos[r] in set(cand.tolist()) and d_exact[pos[r]] <= kth + 1e-6 * max(1.0, abs(kth)) for r in got))


def distances(op, m, q):
    """The distance operator op ('<->', '<#>', '<=>', '<+>') from q to each row of m, in float8."""
    m = m.astype(np.float64)
    q = q.astype(np.float64)
    if op == '<->':
        return np.sqrt(((m - q) ** 2).sum(axis=1))
    if op == '<#>':
        return -(m @ q)
    if op == '<=>':
        return 1 - (m @ q) / (np.linalg.norm(m, axis=1) * np.linalg.norm(q))
    if op == '<+>':
        return np.abs(m - q).sum(axis=1)
    raise ValueError(op)
