#!/usr/bin/python3
"""psycopg 3 + numpy against hnswsearch, as a pgvector user writes it.

Usage: psycopg_client.py [CONNINFO]   (default: the PG* environment)

Debian 12 has no package of pgvector-python, so the adapter a user gets from
`pgvector.psycopg.register_vector(conn)` is written out below with the same
behaviour: the type is looked up by name (TypeInfo.fetch), numpy arrays are
dumped as text (`[1.0,2.0]`, str() of each element) or binary (uint16 dim,
uint16 unused = 0, dim big-endian float4), and loaded back, from text or
binary, as float32 numpy arrays.  Every check prints one line, `ok - NAME`
or `not ok - NAME: detail`; the last line is `N checks, N failed` and the
exit status is 1 if any check failed (or the program died).
"""

import struct
import sys

import numpy as np
import psycopg
from psycopg.adapt import Dumper, Loader
from psycopg.pq import Format
from psycopg.types import TypeInfo

from clientcheck import check, distances, exact_top, finish, same_bits

# ---------------------------------------------------------------- the adapter
# (pgvector-python's pgvector/psycopg, for numpy arrays)


def to_text(value):
    a = np.asarray(value, dtype='>f4')
    if a.ndim != 1:
        raise ValueError('expected ndim to be 1')
    return '[' + ','.join(str(float(v)) for v in a) + ']'


def to_binary(value):
    a = np.asarray(value, dtype='>f4')
    if a.ndim != 1:
        raise ValueError('expected ndim to be 1')
    return struct.pack('>HH', a.shape[0], 0) + a.tobytes()


def from_text(value):
    return np.array([float(v) for v in value[1:-1].split(',')], dtype=np.float32)


def from_binary(value):
    dim, unused = struct.unpack_from('>HH', value)
    if unused != 0:
        raise ValueError('expected unused to be 0')
    return np.frombuffer(value, dtype='>f4', count=dim, offset=4).astype(np.float32)


class VectorDumper(Dumper):
    format = Format.TEXT

    def dump(self, obj):
        return to_text(obj).encode('utf8')


class VectorBinaryDumper(VectorDumper):
    format = Format.BINARY

    def dump(self, obj):
        return to_binary(obj)


class VectorLoader(Loader):
    format = Format.TEXT

    def load(self, data):
        return from_text(bytes(data).decode('utf8'))


class VectorBinaryLoader(VectorLoader):
    format = Format.BINARY

    def load(self, data):
        return from_binary(bytes(data))


def register_vector(conn):
    info = TypeInfo.fetch(conn, 'vector')
    if info is None:
        raise psycopg.ProgrammingError('vector type not found in the database')
    info.register(conn)
    # the oid on the dumper classes, for copy.set_types(['vector'])
    text_dumper = type('', (VectorDumper,), {'oid': info.oid})
    binary_dumper = type('', (VectorBinaryDumper,), {'oid': info.oid})
    conn.adapters.register_dumper('numpy.ndarray', text_dumper)
    conn.adapters.register_dumper('numpy.ndarray', binary_dumper)
    conn.adapters.register_loader(info.oid, VectorLoader)
    conn.adapters.register_loader(info.oid, VectorBinaryLoader)
    return info


class RawBinaryLoader(Loader):
    """The bytes the server sent, for checks of the wire format itself."""
    format = Format.BINARY

    def load(self, data):
        return bytes(data)


# ---------------------------------------------------------------- checks

def expect_error(conn, name, stmt, params, exc_class, sqlstate, message):
    """The statement must fail with this exception class, SQLSTATE and message."""
    try:
        with conn.transaction():
            conn.execute(stmt, params)
    except psycopg.Error as e:
        got = (type(e).__name__, e.sqlstate, e.diag.message_primary)
        check(name, isinstance(e, exc_class) and e.sqlstate == sqlstate and e.diag.message_primary == message,
              f'got {got}, want ({exc_class.__name__}, {sqlstate}, {message!r})')
        return
    check(name, False, 'no error')


OPS = [('<->', 'vector_l2_ops', 'l2'), ('<#>', 'vector_ip_ops', 'ip'),
       ('<=>', 'vector_cosine_ops', 'cosine'), ('<+>', 'vector_l1_ops', 'l1')]
DIM = 16
ROWS = 600
BATCH = 100
K = 10


def main():
    conninfo = sys.argv[1] if len(sys.argv) > 1 else ''
    rng = np.random.default_rng(20240512)
    conn = psycopg.connect(conninfo, autocommit=True)
    print(f'psycopg {psycopg.__version__}, libpq {psycopg.pq.version()}, numpy {np.__version__}, '
          f'server {conn.info.server_version}', flush=True)

    # -- type lookup, as register_vector does it
    info = register_vector(conn)
    oid = conn.execute("SELECT 'vector'::regtype::oid").fetchone()[0]
    typarray = conn.execute("SELECT typarray FROM pg_type WHERE oid = %s", (oid,)).fetchone()[0]
    check('TypeInfo.fetch finds type vector with its oid and array oid',
          info.name == 'vector' and info.oid == oid and info.array_oid == typarray and typarray != 0,
          f'{info.name} {info.oid} {info.array_oid}, server {oid} {typarray}')

    # -- round trips, bit for bit
    special = np.array([1e-38, -0.0, 3.4e38, -3.4028235e38, 1.4e-45, 0.1, 1 / 3, np.pi,
                        -1.5, 0.0, 1.1754942e-38, 16777217.0], dtype=np.float32)
    for pfmt in ('t', 'b'):
        for binary in (False, True):
            cur = conn.cursor(binary=binary)
            got = cur.execute(f'SELECT %{pfmt}::vector', (special,)).fetchone()[0]
            check(f'numpy round trip, parameter {"text" if pfmt == "t" else "binary"}, '
                  f'result {"binary" if binary else "text"}: bit for bit', same_bits(got, special),
                  f'{got!r} != {special!r}')
    txt = conn.execute("SELECT %b::vector::text", (np.array([1e-38, -0.0, 3.4e38, 1.5, 0.1], dtype=np.float32),)).fetchone()[0]
    check('text output as pgvector prints it (shortest float4 spelling)',
          txt == '[1e-38,-0,3.4e+38,1.5,0.1]', txt)

    # the wire format itself
    cur = conn.cursor(binary=True)
    cur.adapters.register_loader(oid, RawBinaryLoader)
    raw = cur.execute("SELECT '[1,-0,3.4e38]'::vector").fetchone()[0]
    want = struct.pack('>HH', 3, 0) + np.array([1, -0.0, 3.4e38], dtype='>f4').tobytes()
    check('binary result layout: uint16 dim, uint16 0, big-endian float4s', raw == want, f'{raw.hex()} != {want.hex()}')
    sent = conn.execute('SELECT vector_send(%b::vector)', (special,)).fetchone()[0]
    check('vector_send gives the bytes the adapter sent', sent == to_binary(special), sent.hex())

    big = rng.standard_normal(16000).astype(np.float32)
    for pfmt, binary in (('b', True), ('t', False)):
        got = conn.cursor(binary=binary).execute(f'SELECT %{pfmt}::vector', (big,)).fetchone()[0]
        check(f'16000-dimension round trip ({"binary" if binary else "text"})', same_bits(got, big), 'differs')

    nulls = conn.execute('SELECT NULL::vector').fetchone()[0]
    check('NULL loads as None', nulls is None, repr(nulls))

    # -- errors, as the client sees them
    cur = conn.cursor()
    try:
        with conn.transaction():
            bad = struct.pack('>HH', 2, 1) + np.array([1, 2], dtype='>f4').tobytes()
            # raw bytes with the vector oid, in binary
            class RawDumper(Dumper):
                format = Format.BINARY
                oid = info.oid

                def dump(self, obj):
                    return obj
            cur.adapters.register_dumper(bytes, RawDumper)
            cur.execute('SELECT %b', (bad,))
        check('binary input with unused = 1 is rejected', False, 'no error')
    except psycopg.Error as e:
        check('binary input with unused = 1 is rejected as pgvector does (22000, same message)',
              isinstance(e, psycopg.errors.DataException) and e.sqlstate == '22000'
              and e.diag.message_primary == 'expected unused to be 0, not 1',
              f'{type(e).__name__} {e.sqlstate} {e.diag.message_primary!r}')

    # -- the table, the four indexes, inserts in batches
    conn.execute('DROP TABLE IF EXISTS psycopg_items')
    conn.execute(f'CREATE TABLE psycopg_items (id bigserial PRIMARY KEY, category int, embedding vector({DIM}))')
    for op, opclass, short in OPS:
        conn.execute(f'CREATE INDEX psycopg_items_{short}_idx ON psycopg_items USING hnsw (embedding {opclass}) '
                     'WITH (m = 16, ef_construction = 64)')
    fmt_type = conn.execute("SELECT format_type(atttypid, atttypmod) FROM pg_attribute "
                            "WHERE attrelid = 'psycopg_items'::regclass AND attname = 'embedding'").fetchone()[0]
    check('column type shows as vector(16)', fmt_type == f'vector({DIM})', fmt_type)

    cur = conn.execute('SELECT embedding FROM psycopg_items')
    check('result column: the vector oid and type modifier 16 (the dimension count, as pgvector stores it)',
          cur.description[0].type_code == oid and cur.pgresult.fmod(0) == DIM,
          f'{cur.description[0].type_code} {cur.pgresult.fmod(0)}')
    # arrays of vectors, through the array type that TypeInfo registered
    pair = [np.array([1, -0.0], dtype=np.float32), np.array([3.4e38, 1e-38], dtype=np.float32)]
    for binary in (False, True):
        got = conn.cursor(binary=binary).execute(
            "SELECT ARRAY['[1,-0]'::vector, '[3.4e38,1e-38]'], %s::vector[]", (pair,)).fetchone()
        check(f'vector[] results and a list-of-arrays parameter ({"binary" if binary else "text"})',
              all(len(g) == 2 and all(same_bits(a, b) for a, b in zip(g, pair)) for g in got), repr(got))
    data = rng.standard_normal((ROWS, DIM)).astype(np.float32)
    ids = []
    half = ROWS // 2
    # first half: executemany in batches, one transaction per batch; text
    # parameters in even batches, binary (the adapter's default) in odd ones
    with conn.cursor() as cur:
        for b, start in enumerate(range(0, half, BATCH)):
            ph = '%t' if b % 2 == 0 else '%s'
            with conn.transaction():
                cur.executemany(f'INSERT INTO psycopg_items (category, embedding) VALUES (%s, {ph}) RETURNING id',
                                [(i % 5, data[i]) for i in range(start, start + BATCH)], returning=True)
                while True:
                    ids.append(cur.fetchone()[0])
                    if not cur.nextset():
                        break
    check(f'executemany INSERT of {half} rows in batches of {BATCH} (text and binary parameters)',
          len(ids) == half and ids == sorted(ids), f'{len(ids)} ids')
    # second half: COPY FROM STDIN (FORMAT BINARY) with set_types(['vector'])
    with conn.cursor() as cur:
        for start in range(half, ROWS, BATCH):
            with conn.transaction():
                with cur.copy('COPY psycopg_items (category, embedding) FROM STDIN WITH (FORMAT BINARY)') as copy:
                    copy.set_types(['int4', 'vector'])
                    for i in range(start, start + BATCH):
                        copy.write_row([i % 5, data[i]])
    n = conn.execute('SELECT count(*) FROM psycopg_items').fetchone()[0]
    check(f'COPY FROM STDIN (FORMAT BINARY) with copy.set_types vector, {ROWS - half} rows', n == ROWS, f'{n} rows')
    ids = [r[0] for r in conn.execute('SELECT id FROM psycopg_items ORDER BY id')]

    stored = conn.cursor(binary=True).execute('SELECT embedding FROM psycopg_items ORDER BY id').fetchall()
    check('every stored vector reads back bit for bit (binary)',
          all(same_bits(r[0], data[i]) for i, r in enumerate(stored)), 'differs')
    stored = conn.execute('SELECT embedding FROM psycopg_items ORDER BY id').fetchall()
    check('every stored vector reads back bit for bit (text)',
          all(same_bits(r[0], data[i]) for i, r in enumerate(stored)), 'differs')

    # a hand-built binary COPY file: PGCOPY header, tuples of one vector field
    extra = np.array([[1e-38, -0.0] + [3.4e38] + [0.5] * (DIM - 3)], dtype=np.float32)
    body = b'PGCOPY\n\xff\r\n\x00' + struct.pack('>ii', 0, 0)
    for v in extra:
        field = struct.pack('>HH', DIM, 0) + v.astype('>f4').tobytes()
        body += struct.pack('>hi', 1, len(field)) + field
    body += struct.pack('>h', -1)
    conn.execute(f'CREATE TABLE psycopg_copy (id bigserial, embedding vector({DIM}))')
    with conn.cursor() as cur:
        with cur.copy('COPY psycopg_copy (embedding) FROM STDIN WITH (FORMAT BINARY)') as copy:
            copy.write(body)
        out = b''
        with cur.copy('COPY (SELECT embedding FROM psycopg_copy ORDER BY id) TO STDOUT WITH (FORMAT BINARY)') as copy:
            for chunk in copy:
                out += bytes(chunk)
    check('hand-written COPY BINARY file loads, and COPY TO STDOUT BINARY gives the same bytes',
          out == body, f'{out.hex()} != {body.hex()}')
    conn.execute('DROP TABLE psycopg_copy')

    expect_error(conn, 'wrong dimension count fails as pgvector: DataException 22000 "expected 16 dimensions, not 3"',
                 'INSERT INTO psycopg_items (embedding) VALUES (%s)', (np.array([1, 2, 3], dtype=np.float32),),
                 psycopg.errors.DataException, '22000', 'expected 16 dimensions, not 3')
    expect_error(conn, 'NaN fails as pgvector: DataException 22000 "NaN not allowed in vector"',
                 'SELECT %t::vector', (np.array([1, np.nan], dtype=np.float32),),
                 psycopg.errors.DataException, '22000', 'NaN not allowed in vector')

    # -- hnsw_index_info after the load
    info_sql = ('SELECT count_indexed, count_active, dimensions, m, ef_construction '
                'FROM hnsw_index_info(%s::regclass)')
    for op, opclass, short in OPS:
        r = conn.execute(info_sql, (f'psycopg_items_{short}_idx',)).fetchone()
        check(f'hnsw_index_info({short} index) after the load: {ROWS} rows, dim {DIM}, m 16, ef_construction 64',
              r == (ROWS, ROWS, DIM, 16, 64), repr(r))

    # -- searches: each operator through its index, against numpy's exact answer
    conn.execute('SET hnsw.ef_search = 1000')
    conn.execute('SET enable_seqscan = off')
    queries = rng.standard_normal((5, DIM)).astype(np.float32)
    for op, opclass, short in OPS:
        plan = '\n'.join(r[0] for r in conn.execute(
            f'EXPLAIN (COSTS OFF) SELECT id FROM psycopg_items ORDER BY embedding {op} %s LIMIT {K}', (queries[0],)))
        check(f'ORDER BY embedding {op} $1 uses index psycopg_items_{short}_idx',
              f'Index Scan using psycopg_items_{short}_idx' in plan, plan)
        exact_ok = dist_ok = order_ok = True
        detail = ''
        for qi, q in enumerate(queries):
            for binary in (False, True):
                rows = conn.cursor(binary=binary).execute(
                    f'SELECT id, embedding, embedding {op} %s AS d FROM psycopg_items ORDER BY embedding {op} %s LIMIT {K}',
                    (q, q)).fetchall()
                d_exact = distances(op, data, q)
                got = [r[0] for r in rows]
                if not exact_top(got, ids, d_exact, K):
                    exact_ok = False
                    detail = f'query {qi}: {got} != {[ids[i] for i in np.argsort(d_exact)[:K]]}'
                for rid, emb, d in rows:
                    i = ids.index(rid)
                    if not same_bits(emb, data[i]) or abs(d - d_exact[i]) > 1e-5 * max(1.0, abs(d_exact[i])):
                        dist_ok = False
                        detail = f'row {rid}: d {d} != {d_exact[i]}'
                ds = [r[2] for r in rows]
                if ds != sorted(ds):
                    order_ok = False
        check(f'{op} search: top-{K} rows of 5 queries are the exact ones (text and binary results)', exact_ok, detail)
        check(f'{op} search: distances match numpy and rows carry their vectors', dist_ok, detail)
        check(f'{op} search: distances non-decreasing', order_ok, detail)

    # filtered search, as users write it
    q = queries[1]
    rows = conn.execute(f'SELECT id FROM psycopg_items WHERE category = 3 ORDER BY embedding <-> %s LIMIT {K}', (q,)).fetchall()
    d_exact = distances('<->', data, q)
    got = [r[0] for r in rows]
    check('filtered search (WHERE category = 3 ORDER BY <-> LIMIT 10) returns the exact rows',
          exact_top(got, ids, d_exact, K, mask=np.arange(ROWS) % 5 == 3), got)

    # -- update: a row moved onto a query is found first, at distance 0
    target = ids[17]
    conn.execute('UPDATE psycopg_items SET embedding = %s WHERE id = %s', (queries[2], target))
    data[17] = queries[2]
    for op, opclass, short in OPS:
        r = conn.execute(f'SELECT id, embedding {op} %s FROM psycopg_items ORDER BY embedding {op} %s LIMIT 1',
                         (queries[2], queries[2])).fetchone()
        d_self = distances(op, queries[2][None, :], queries[2])[0]
        ok = r[0] == target and abs(r[1] - d_self) < 1e-5 * max(1.0, abs(d_self))
        if op == '<#>':  # the largest inner product need not be the vector itself
            d_all = distances(op, data, queries[2])
            ok = r[0] == ids[int(np.argmin(d_all))]
        check(f'after UPDATE, {op} search finds the updated row first', ok, repr(r))

    # -- delete: deleted rows are never returned
    gone = ids[:50]
    with conn.transaction():
        conn.execute('DELETE FROM psycopg_items WHERE id = ANY(%s)', (gone,))
    returned = set()
    for q in queries:
        for op, _, _ in OPS:
            returned |= {r[0] for r in conn.execute(
                f'SELECT id FROM psycopg_items ORDER BY embedding {op} %s LIMIT 100', (q,))}
    check('after DELETE of 50 rows, no search returns them', not (returned & set(gone)), sorted(returned & set(gone)))
    left = ROWS - len(gone)
    # beyond ef_search: pgvector's iterative scan (0.8), set explicitly since the defaults differ
    conn.execute("SET hnsw.iterative_scan = strict_order")
    rows = conn.execute(f'SELECT id FROM psycopg_items ORDER BY embedding <-> %s LIMIT {ROWS}', (queries[3],)).fetchall()
    conn.execute("RESET hnsw.iterative_scan")
    check(f'with hnsw.iterative_scan = strict_order, LIMIT {ROWS} returns all {left} remaining rows once',
          len(rows) == left and len({r[0] for r in rows}) == left, f'{len(rows)} rows')

    # -- hnsw_index_info after VACUUM: the deleted rows and the old version are gone
    conn.execute('VACUUM psycopg_items')
    for op, opclass, short in OPS:
        r = conn.execute('SELECT count_indexed, count_deleted, count_active FROM hnsw_index_info(%s::regclass)',
                         (f'psycopg_items_{short}_idx',)).fetchone()
        check(f'hnsw_index_info({short} index) after DELETE and VACUUM: {left} rows', r == (left, 0, left), repr(r))

    conn.execute('DROP TABLE psycopg_items')
    conn.close()


if __name__ == '__main__':
    try:
        main()
    except Exception as e:  # a crash is a failed check, with its trace
        import traceback
        traceback.print_exc()
        check('the program ran to its end', False, f'{type(e).__name__}: {e}')
    finish()
