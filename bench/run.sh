#!/bin/sh
# Benchmark driver, called by `make bench` with PGHOST, PGPORT, PGUSER and
# PGDATABASE exported for a running throwaway cluster that has hnswsearch
# installed.  Arguments are passed through to bench.py (see --help), e.g.
#   bench/run.sh --quick
#   bench/run.sh --dataset clustered --n 50000 --ef-search 20,40,80
# Uses Debian's python (numpy, psycopg 3, hnswlib), not the one on PATH.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
PYTHON=${BENCH_PYTHON:-/usr/bin/python3}
mkdir -p "$here/data" "$here/out"
exec "$PYTHON" "$here/bench.py" "$@"
