#!/usr/bin/python3
"""SQLAlchemy (Debian's, 1.4) + psycopg2 + numpy against hnswsearch, as a pgvector user writes it.

Usage: sqlalchemy_client.py [CONNINFO]   (default: the PG* environment)

Debian 12 has no package of pgvector-python, so its SQLAlchemy type
(`from pgvector.sqlalchemy import Vector`) is written out below with the same
behaviour: a UserDefinedType whose column spec is VECTOR(n), bound as text
(`[1.0,2.0]`) with the dimension count checked client-side, loaded as a
float32 numpy array, with comparator methods l2_distance, max_inner_product,
cosine_distance and l1_distance (operators <->, <#>, <=>, <+>, returning
Float), and registered in the PostgreSQL dialect's ischema_names under
'vector' for reflection.  Every check prints one line, `ok - NAME` or
`not ok - NAME: detail`; the last line is `N checks, N failed` and the exit
status is 1 if any check failed (or the program died).
"""

import sys
import warnings

import numpy as np
import psycopg2
import sqlalchemy
from sqlalchemy import (BigInteger, Column, Float, Index, Integer, MetaData, Table, create_engine, delete,
                        exc, inspect, select, text)
from sqlalchemy.dialects.postgresql.base import ischema_names
from sqlalchemy.orm import Session, declarative_base
from sqlalchemy.types import NullType, UserDefinedType

from clientcheck import check, distances, exact_top, finish, same_bits

# ---------------------------------------------------------------- the type
# (pgvector-python's pgvector.sqlalchemy.Vector)


def to_db(value, dim=None):
    if value is None:
        return value
    a = np.asarray(value, dtype='>f4')
    if a.ndim != 1:
        raise ValueError('expected ndim to be 1')
    if dim is not None and a.shape[0] != dim:
        raise ValueError('expected %d dimensions, not %d' % (dim, a.shape[0]))
    return '[' + ','.join(str(float(v)) for v in a) + ']'


def from_db(value):
    if value is None or isinstance(value, np.ndarray):
        return value
    return np.array([float(v) for v in value[1:-1].split(',')], dtype=np.float32)


class Vector(UserDefinedType):
    cache_ok = True

    def __init__(self, dim=None):
        super(UserDefinedType, self).__init__()
        self.dim = dim

    def get_col_spec(self, **kw):
        return 'VECTOR' if self.dim is None else 'VECTOR(%d)' % self.dim

    def bind_processor(self, dialect):
        def process(value):
            return to_db(value, self.dim)
        return process

    def result_processor(self, dialect, coltype):
        def process(value):
            return from_db(value)
        return process

    class comparator_factory(UserDefinedType.Comparator):
        def l2_distance(self, other):
            return self.op('<->', return_type=Float)(other)

        def max_inner_product(self, other):
            return self.op('<#>', return_type=Float)(other)

        def cosine_distance(self, other):
            return self.op('<=>', return_type=Float)(other)

        def l1_distance(self, other):
            return self.op('<+>', return_type=Float)(other)


ischema_names['vector'] = Vector  # for reflection

# ---------------------------------------------------------------- checks

DIM = 16
ROWS = 400
BATCH = 100
K = 10
OPS = [('l2_distance', '<->', 'vector_l2_ops', 'l2'), ('max_inner_product', '<#>', 'vector_ip_ops', 'ip'),
       ('cosine_distance', '<=>', 'vector_cosine_ops', 'cosine'), ('l1_distance', '<+>', 'vector_l1_ops', 'l1')]

Base = declarative_base()


class Item(Base):
    __tablename__ = 'sa_items'
    id = Column(BigInteger, primary_key=True)
    category = Column(Integer)
    embedding = Column(Vector(DIM))
    __table_args__ = tuple(
        Index(f'sa_items_embedding_{short}_idx', 'embedding', postgresql_using='hnsw',
              postgresql_with={'m': 16, 'ef_construction': 64}, postgresql_ops={'embedding': opclass})
        for _, _, opclass, short in OPS)


class Doc(Base):  # an unconstrained vector column
    __tablename__ = 'sa_docs'
    id = Column(Integer, primary_key=True)
    embedding = Column(Vector())


def main():
    conninfo = sys.argv[1] if len(sys.argv) > 1 else ''
    rng = np.random.default_rng(7)
    ddl = []
    engine = create_engine('postgresql+psycopg2://', creator=lambda: psycopg2.connect(conninfo), future=True)
    sqlalchemy.event.listen(engine, 'before_cursor_execute',
                            lambda conn, cur, stmt, params, ctx, many: ddl.append(' '.join(stmt.split())))
    with engine.connect() as c:
        server = c.exec_driver_sql('SHOW server_version').scalar()
    print(f'SQLAlchemy {sqlalchemy.__version__}, psycopg2 {psycopg2.__version__.split()[0]}, '
          f'numpy {np.__version__}, server {server}', flush=True)

    # -- DDL: metadata.create_all
    Base.metadata.drop_all(engine)
    ddl.clear()
    Base.metadata.create_all(engine)
    created = [s for s in ddl if s.startswith('CREATE')]
    check('create_all emits embedding VECTOR(16) and an unconstrained VECTOR',
          any('embedding VECTOR(16)' in s for s in created) and any('embedding VECTOR,' in s or 'embedding VECTOR)' in s for s in created),
          created)
    want = 'CREATE INDEX sa_items_embedding_l2_idx ON sa_items USING hnsw (embedding vector_l2_ops) WITH (m = 16, ef_construction = 64)'
    check('create_all emits CREATE INDEX ... USING hnsw (embedding vector_l2_ops) WITH (m = 16, ef_construction = 64)',
          want in created, created)
    with engine.connect() as c:
        defs = dict(c.execute(text("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'sa_items'")).all())
    check('the four hnsw indexes exist with their operator classes and options',
          all(defs.get(f'sa_items_embedding_{short}_idx') ==
              f'CREATE INDEX sa_items_embedding_{short}_idx ON public.sa_items USING hnsw (embedding {opclass}) '
              "WITH (m='16', ef_construction='64')" for _, _, opclass, short in OPS), defs)

    # -- ORM inserts in batches, one commit per batch (numpy arrays and lists)
    data = rng.standard_normal((ROWS, DIM)).astype(np.float32)
    with Session(engine) as s:
        for start in range(0, ROWS, BATCH):
            s.add_all([Item(category=i % 4, embedding=data[i] if i % 2 else data[i].tolist())
                       for i in range(start, start + BATCH)])
            s.commit()
        ids = s.scalars(select(Item.id).order_by(Item.id)).all()
    check(f'ORM add_all of {ROWS} items in batches of {BATCH}', len(ids) == ROWS, f'{len(ids)} rows')

    with Session(engine) as s:
        items = s.scalars(select(Item).order_by(Item.id)).all()
        check('every embedding loads as a float32 numpy array, bit for bit',
              all(same_bits(it.embedding, data[i]) for i, it in enumerate(items)),
              repr(items[0].embedding))
        special = np.array([1e-38, -0.0, 3.4e38, 1.4e-45, 0.1, 1 / 3] + [1.0] * (DIM - 6), dtype=np.float32)
        d = Doc(id=1, embedding=special)
        s.add(d)
        s.commit()
        s.expire_all()
        got = s.get(Doc, 1).embedding
        check('extreme values (1e-38, -0.0, 3.4e38, subnormal) round trip bit for bit', same_bits(got, special), repr(got))
        raw = s.execute(text('SELECT embedding::text FROM sa_docs WHERE id = 1')).scalar()
        check('the server prints them as pgvector does',
              raw == '[1e-38,-0,3.4e+38,1e-45,0.1,0.33333334,' + ','.join(['1'] * (DIM - 6)) + ']', raw)
        s.add(Doc(id=2, embedding=[1, 2, 3]))
        s.commit()
        check('an unconstrained VECTOR column takes any dimension count',
              same_bits(s.get(Doc, 2).embedding, [1, 2, 3]), '')

    # -- errors
    with Session(engine) as s:
        try:
            s.add(Item(embedding=[1, 2, 3]))
            s.flush()
            check('a 3-d embedding for VECTOR(16) is rejected by the type', False, 'no error')
        except exc.StatementError as e:
            check('a 3-d embedding for VECTOR(16) is rejected by the type: "expected 16 dimensions, not 3"',
                  isinstance(e.orig, ValueError) and str(e.orig) == 'expected 16 dimensions, not 3', repr(e))
        s.rollback()
        try:
            s.execute(text('INSERT INTO sa_items (embedding) VALUES (:e)'), {'e': '[1,2,3]'})
            check('a 3-d text literal is rejected by the server', False, 'no error')
        except exc.DataError as e:
            check('a 3-d literal is rejected by the server as pgvector does: DataError, 22000, same message',
                  e.orig.pgcode == '22000' and e.orig.diag.message_primary == 'expected 16 dimensions, not 3',
                  f'{e.orig.pgcode} {e.orig.diag.message_primary!r}')
        s.rollback()

    # -- searches ordered by each comparator method
    queries = rng.standard_normal((4, DIM)).astype(np.float32)
    with Session(engine) as s:
        s.execute(text('SET enable_seqscan = off'))
        s.execute(text('SET hnsw.ef_search = 1000'))
        for meth, op, opclass, short in OPS:
            dist = getattr(Item.embedding, meth)
            stmt = select(Item.id).order_by(dist(queries[0])).limit(K)
            compiled = stmt.compile(dialect=engine.dialect)
            check(f'Item.embedding.{meth}(q) compiles to the {op} operator',
                  f'sa_items.embedding {op} %(embedding_1)s' in str(compiled), str(compiled))
            params = {k: to_db(v) if isinstance(v, np.ndarray) else v for k, v in compiled.params.items()}
            plan = '\n'.join(r[0] for r in s.connection().exec_driver_sql(f'EXPLAIN (COSTS OFF) {compiled}', params))
            check(f'order_by({meth}) uses index sa_items_embedding_{short}_idx',
                  f'Index Scan using sa_items_embedding_{short}_idx' in plan, plan)
            exact = True
            dist_ok = True
            detail = ''
            for qi, q in enumerate(queries):
                rows = s.execute(select(Item, dist(q).label('d')).order_by(dist(q)).limit(K)).all()
                d_exact = distances(op, data, q)
                got = [r.Item.id for r in rows]
                if not exact_top(got, ids, d_exact, K) or [r.d for r in rows] != sorted(r.d for r in rows):
                    exact = False
                    detail = f'query {qi}: {got} != {[ids[i] for i in np.argsort(d_exact)[:K]]}'
                for r in rows:
                    i = ids.index(r.Item.id)
                    if not (isinstance(r.d, float) and abs(r.d - d_exact[i]) <= 1e-5 * max(1.0, abs(d_exact[i]))
                            and same_bits(r.Item.embedding, data[i])):
                        dist_ok = False
                        detail = f'row {r.Item.id}: {r.d!r} != {d_exact[i]}'
            check(f'order_by(Item.embedding.{meth}(q)).limit({K}) returns the exact top {K} of 4 queries, in order', exact, detail)
            check(f'{meth} labelled column: a Python float equal to numpy\'s distance', dist_ok, detail)
        q = queries[1]
        got = s.scalars(select(Item.id).where(Item.category == 2).order_by(Item.embedding.l2_distance(q)).limit(K)).all()
        d_exact = distances('<->', data, q)
        check('filtered order_by (where category == 2) returns the exact rows',
              exact_top(got, ids, d_exact, K, mask=np.arange(ROWS) % 4 == 2), got)
        # also the generic spelling, without the comparator
        got2 = s.scalars(select(Item.id).order_by(Item.embedding.op('<->')(q)).limit(K)).all()
        check("Item.embedding.op('<->')(q) orders as l2_distance does",
              got2 == s.scalars(select(Item.id).order_by(Item.embedding.l2_distance(q)).limit(K)).all()
              and exact_top(got2, ids, d_exact, K), got2)

    # -- reflection
    insp = inspect(engine)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter('always')
        cols = {c['name']: c for c in insp.get_columns('sa_items')}
        dcols = {c['name']: c for c in insp.get_columns('sa_docs')}
    et = cols['embedding']['type']
    check('reflection with the type registered: Vector(16), unconstrained Vector(), no warning',
          isinstance(et, Vector) and et.dim == DIM and isinstance(dcols['embedding']['type'], Vector)
          and dcols['embedding']['type'].dim is None and not w, f'{et!r} {[str(x.message) for x in w]}')
    idx = {i['name']: i for i in insp.get_indexes('sa_items')}
    check('reflected indexes: four, on embedding, postgresql_using hnsw, postgresql_with m 16 ef_construction 64',
          len(idx) == 4 and all(i['column_names'] == ['embedding']
                                and i['dialect_options'].get('postgresql_using') == 'hnsw'
                                and i['dialect_options'].get('postgresql_with') == {'m': '16', 'ef_construction': '64'}
                                for i in idx.values()), idx)
    reflected = Table('sa_items', MetaData(), autoload_with=engine)
    with engine.connect() as c:
        row = c.execute(select(reflected).order_by(reflected.c.embedding.l2_distance(queries[2])).limit(1)).one()
    want_id = ids[int(np.argmin(distances('<->', data, queries[2])))]
    check('a reflected Table searches and loads numpy arrays', row.id == want_id and same_bits(row.embedding, data[ids.index(row.id)]),
          repr(row))
    # without the registration: the warning every SQLAlchemy user of an unknown type sees
    del ischema_names['vector']
    try:
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter('always')
            cols = {c['name']: c for c in inspect(engine).get_columns('sa_items')}
        msgs = [str(x.message) for x in w if issubclass(x.category, exc.SAWarning)]
        check("reflection without the type registered: NullType and \"Did not recognize type 'vector'\"",
              isinstance(cols['embedding']['type'], NullType)
              and msgs == ["Did not recognize type 'vector' of column 'embedding'"], msgs)
    finally:
        ischema_names['vector'] = Vector

    # -- update and delete through the ORM
    with Session(engine) as s:
        s.execute(text('SET enable_seqscan = off'))
        it = s.get(Item, ids[5])
        it.embedding = queries[3]
        s.commit()
        data[5] = queries[3]
        for meth, op, _, _ in OPS:
            first = s.scalars(select(Item).order_by(getattr(Item.embedding, meth)(queries[3])).limit(1)).one()
            want_id = ids[int(np.argmin(distances(op, data, queries[3])))]
            check(f'after an ORM update, order_by({meth}) finds the right row first',
                  first.id == want_id and (meth == 'max_inner_product' or first.id == ids[5]), f'{first.id}')
        gone = ids[:40]
        for i in gone[:10]:
            s.delete(s.get(Item, i))
        s.commit()
        s.execute(delete(Item).where(Item.id.in_(gone[10:])))
        s.commit()
        returned = set()
        for q in queries:
            for meth, _, _, _ in OPS:
                returned |= set(s.scalars(select(Item.id).order_by(getattr(Item.embedding, meth)(q)).limit(100)))
        check('after session.delete and a bulk delete() of 40 items, no search returns them',
              not (returned & set(gone)), sorted(returned & set(gone)))
        left = s.scalar(select(sqlalchemy.func.count()).select_from(Item))
        check(f'{ROWS - 40} items left', left == ROWS - 40, left)

    # -- hnsw_index_info, after VACUUM
    with engine.connect().execution_options(isolation_level='AUTOCOMMIT') as c:
        c.exec_driver_sql('VACUUM sa_items')
        for _, _, _, short in OPS:
            r = c.execute(text('SELECT count_indexed, count_deleted, count_active, dimensions, m, ef_construction '
                               'FROM hnsw_index_info(:idx)'), {'idx': f'sa_items_embedding_{short}_idx'}).one()
            check(f'hnsw_index_info({short} index) after VACUUM: {ROWS - 40} rows, dim 16, m 16, ef_construction 64',
                  tuple(r) == (ROWS - 40, 0, ROWS - 40, DIM, 16, 64), tuple(r))

    Base.metadata.drop_all(engine)
    with engine.connect() as c:
        n = c.execute(text("SELECT count(*) FROM pg_class WHERE relname LIKE 'sa\\_%'")).scalar()
    check('metadata.drop_all removes the tables and indexes', n == 0, n)
    engine.dispose()


if __name__ == '__main__':
    try:
        main()
    except Exception as e:
        import traceback
        traceback.print_exc()
        check('the program ran to its end', False, f'{type(e).__name__}: {e}')
    finish()
