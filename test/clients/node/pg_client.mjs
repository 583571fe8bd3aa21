// node-postgres (`pg`) with the npm `pgvector` package against hnswsearch, as a
// pgvector user writes it (pgvector-node's README: registerTypes, toSql).
//
// Usage: node pg_client.mjs   (connects with the PG* environment)
// Install first: `npm ci` in this directory (package-lock.json pins the versions).
//
// Every check prints one line, `ok - NAME` or `not ok - NAME: detail`; the last
// line is `N checks, N failed` and the exit status is 1 if any check failed (or
// the program died).
import { createRequire } from 'node:module';
import pg from 'pg';
import pgvector from 'pgvector/pg';

const require = createRequire(import.meta.url);
const DIM = 16;
const ROWS = 500;
const BATCH = 100;
const K = 10;
const OPS = [
  ['<->', 'vector_l2_ops', 'l2'],
  ['<#>', 'vector_ip_ops', 'ip'],
  ['<=>', 'vector_cosine_ops', 'cosine'],
  ['<+>', 'vector_l1_ops', 'l1'],
];

let checks = 0;
let failed = 0;
function check(name, cond, detail = '') {
  checks++;
  if (cond) {
    console.log(`ok - ${name}`);
  } else {
    failed++;
    console.log(`not ok - ${name}: ${typeof detail === 'string' ? detail : JSON.stringify(detail)}`);
  }
  return cond;
}

// a small seeded generator, so that a failure repeats
let seed = 12345;
function rand() {
  seed = (seed * 1103515245 + 12345) % 2147483648;
  return seed / 2147483648;
}
function randomVector(dim) {
  // float32 values, as embeddings are
  return Array.from({ length: dim }, () => Math.fround(rand() * 2 - 1));
}
function f32bits(a) {
  return Buffer.from(new Float32Array(a).buffer).toString('hex');
}
function sameF32(got, want) {
  return Array.isArray(got) && got.length === want.length && f32bits(got) === f32bits(want);
}
function distance(op, a, b) {
  let s = 0, na = 0, nb = 0;
  for (let i = 0; i < a.length; i++) {
    if (op === '<->') s += (a[i] - b[i]) ** 2;
    else if (op === '<+>') s += Math.abs(a[i] - b[i]);
    else { s += a[i] * b[i]; na += a[i] * a[i]; nb += b[i] * b[i]; }
  }
  if (op === '<->') return Math.sqrt(s);
  if (op === '<+>') return s;
  if (op === '<#>') return -s;
  return 1 - s / Math.sqrt(na * nb);
}
function exactTop(op, rows, q, k, filter = () => true) {
  return rows
    .map((r) => ({ id: r.id, d: distance(op, r.v, q), r }))
    .filter((x) => filter(x.r))
    .sort((x, y) => x.d - y.d || x.id - y.id)
    .slice(0, k);
}
// Whether gotIds are the exact top k of rows (by distance computed here in
// float8), up to ties within float4 rounding: k distinct ids, none farther
// than the k-th nearest.  (The server computes in float4, so the order of
// near-equal neighbours may differ; its order is checked on its own distances.)
function isExactTop(gotIds, op, rows, q, k, filter = () => true) {
  const byId = new Map(rows.filter(filter).map((r) => [r.id, distance(op, r.v, q)]));
  const kth = [...byId.values()].sort((a, b) => a - b)[k - 1];
  return gotIds.length === k && new Set(gotIds).size === k &&
    gotIds.every((id) => byId.has(id) && byId.get(id) <= kth + 1e-6 * Math.max(1, Math.abs(kth)));
}
function ids(rows) {
  return rows.map((x) => Number(x.id));
}

async function expectError(client, name, sql, params, code, message) {
  try {
    await client.query(sql, params);
    check(name, false, 'no error');
  } catch (e) {
    check(name, e.code === code && e.message === message, `${e.code} ${JSON.stringify(e.message)}`);
  }
}

async function main() {
  const client = new pg.Client();
  await client.connect();
  const server = (await client.query('SHOW server_version')).rows[0].server_version;
  console.log(`pg ${require('pg/package.json').version}, pgvector ${require('pgvector/package.json').version}, ` +
    `node ${process.version}, server ${server}`);

  // -- registerTypes: looks the type up by name and sets a text parser on its oid
  await pgvector.registerTypes(client);
  const oid = (await client.query("SELECT 'vector'::regtype::oid AS oid")).rows[0].oid;
  let r = await client.query("SELECT '[1,2.5,-3]'::vector AS v");
  check('registerTypes: a vector result is parsed to an array of numbers, field type is the vector oid',
    r.fields[0].dataTypeID === oid && JSON.stringify(r.rows[0].v) === '[1,2.5,-3]', r.rows[0].v);

  // -- values: toSql out, the text parser back
  const special = [1e-38, 3.4e38, -3.4028234663852886e38, 1.401298464324817e-45, 0.1, 1 / 3, Math.PI, 16777217]
    .map(Math.fround);
  r = await client.query('SELECT $1::vector AS v, $1::vector::text AS t', [pgvector.toSql(special)]);
  check('toSql / parser round trip of float4 extremes (1e-38, 3.4e38, subnormal), exact as float32',
    sameF32(r.rows[0].v.map(Math.fround), special), r.rows[0].v);
  check('the server prints them as pgvector does',
    r.rows[0].t === '[1e-38,3.4e+38,-3.4028235e+38,1e-45,0.1,0.33333334,3.1415927,1.6777216e+07]', r.rows[0].t);
  r = await client.query("SELECT '[-0,0]'::vector AS v");
  check('-0 reads back as -0', Object.is(r.rows[0].v[0], -0) && Object.is(r.rows[0].v[1], 0), r.rows[0].v);
  r = await client.query('SELECT NULL::vector AS v');
  check('NULL reads back as null', r.rows[0].v === null, r.rows[0].v);
  const big = randomVector(16000);
  r = await client.query('SELECT $1::vector AS v', [pgvector.toSql(big)]);
  check('16000-dimension round trip', sameF32(r.rows[0].v.map(Math.fround), big), 'differs');
  // (No binary-format check here: pgvector-node parses text only, and pg 8
  // decodes binary result values as UTF-8 before handing them to a parser,
  // so a user cannot read vector_send's bytes through it anyway; the psycopg
  // client checks the binary format.)

  // -- table, four indexes, batched inserts (multi-row VALUES, a transaction per batch)
  await client.query('DROP TABLE IF EXISTS node_items');
  await client.query(`CREATE TABLE node_items (id bigserial PRIMARY KEY, category int, embedding vector(${DIM}))`);
  for (const [, opclass, short] of OPS) {
    await client.query(`CREATE INDEX node_items_${short}_idx ON node_items USING hnsw (embedding ${opclass}) ` +
      'WITH (m = 16, ef_construction = 64)');
  }
  r = await client.query("SELECT format_type(atttypid, atttypmod) AS t FROM pg_attribute " +
    "WHERE attrelid = 'node_items'::regclass AND attname = 'embedding'");
  check('column type shows as vector(16)', r.rows[0].t === `vector(${DIM})`, r.rows[0].t);
  r = await client.query('SELECT embedding FROM node_items');
  check('result field: the vector oid and type modifier 16 (the dimension count, as pgvector stores it)',
    r.fields[0].dataTypeID === oid && r.fields[0].dataTypeModifier === DIM, r.fields[0]);
  const data = [];
  for (let start = 0; start < ROWS; start += BATCH) {
    const values = [];
    const params = [];
    for (let i = start; i < start + BATCH; i++) {
      const v = randomVector(DIM);
      data.push({ v, category: i % 5 });
      params.push(i % 5, pgvector.toSql(v));
      values.push(`($${params.length - 1}, $${params.length})`);
    }
    await client.query('BEGIN');
    const ins = await client.query(`INSERT INTO node_items (category, embedding) VALUES ${values.join(', ')} RETURNING id`, params);
    await client.query('COMMIT');
    ins.rows.forEach((row, j) => { data[start + j].id = Number(row.id); });
  }
  r = await client.query('SELECT id, embedding FROM node_items ORDER BY id');
  check(`INSERT of ${ROWS} rows in batches of ${BATCH}, every vector reads back exact as float32`,
    r.rows.length === ROWS && r.rows.every((row, i) => Number(row.id) === data[i].id && sameF32(row.embedding.map(Math.fround), data[i].v)),
    `${r.rows.length} rows`);

  await expectError(client, 'wrong dimension count fails as pgvector: 22000 "expected 16 dimensions, not 3"',
    'INSERT INTO node_items (embedding) VALUES ($1)', [pgvector.toSql([1, 2, 3])], '22000', 'expected 16 dimensions, not 3');
  await expectError(client, 'an empty vector fails as pgvector: 22000 "vector must have at least 1 dimension"',
    'SELECT $1::vector', [pgvector.toSql([])], '22000', 'vector must have at least 1 dimension');

  r = await client.query('SELECT count_indexed, count_active, dimensions, m, ef_construction FROM hnsw_index_info($1)',
    ['node_items_l2_idx']);
  check(`hnsw_index_info after the load: ${ROWS} rows, dim 16, m 16, ef_construction 64`,
    JSON.stringify(r.rows[0]) === JSON.stringify({ count_indexed: String(ROWS), count_active: String(ROWS), dimensions: DIM, m: 16, ef_construction: 64 }),
    r.rows[0]);

  // -- searches, each operator through its index, against the exact answer
  await client.query('SET enable_seqscan = off');
  await client.query('SET hnsw.ef_search = 1000');
  const queries = Array.from({ length: 4 }, () => randomVector(DIM));
  for (const [op, , short] of OPS) {
    r = await client.query(`EXPLAIN (COSTS OFF) SELECT id FROM node_items ORDER BY embedding ${op} $1 LIMIT ${K}`,
      [pgvector.toSql(queries[0])]);
    const plan = r.rows.map((x) => x['QUERY PLAN']).join('\n');
    check(`ORDER BY embedding ${op} $1 uses index node_items_${short}_idx`, plan.includes(`Index Scan using node_items_${short}_idx`), plan);
    let exact = true, dists = true, detail = '';
    for (const q of queries) {
      r = await client.query(`SELECT id, embedding, embedding ${op} $1 AS d FROM node_items ORDER BY embedding ${op} $1 LIMIT ${K}`,
        [pgvector.toSql(q)]);
      const got = ids(r.rows);
      const ds = r.rows.map((x) => x.d);
      if (!isExactTop(got, op, data, q, K) || ds.some((d, j) => j > 0 && d < ds[j - 1])) {
        exact = false; detail = `${got} != ${exactTop(op, data, q, K).map((x) => x.id)}`;
      }
      r.rows.forEach((row) => {
        const w = data.find((x) => x.id === Number(row.id));
        const d = w && distance(op, w.v, q);
        if (!w || typeof row.d !== 'number' || Math.abs(row.d - d) > 1e-5 * Math.max(1, Math.abs(d)) ||
            !sameF32(row.embedding.map(Math.fround), w.v)) {
          dists = false; detail = `row ${row.id}: ${row.d} != ${d}`;
        }
      });
    }
    check(`${op} search: top-${K} rows of 4 queries are the exact ones, in order`, exact, detail);
    check(`${op} search: distances (numbers) and vectors match`, dists, detail);
  }
  r = await client.query(`SELECT id FROM node_items WHERE category = 1 ORDER BY embedding <=> $1 LIMIT ${K}`, [pgvector.toSql(queries[1])]);
  check('filtered search (WHERE category = 1 ORDER BY <=> LIMIT 10) returns the exact rows',
    isExactTop(ids(r.rows), '<=>', data, queries[1], K, (x) => x.category === 1), ids(r.rows));

  // a pool, with registerTypes on each new connection, concurrent searches.
  // pg-pool's onConnect is awaited before the connection is handed out (the
  // README's pool.on('connect', ...) is not: pg then warns that queries were
  // queued on a busy client)
  const pool = new pg.Pool({ max: 2, onConnect: (c) => pgvector.registerTypes(c) });
  const res = await Promise.all(queries.map((q) =>
    pool.query(`SELECT id, embedding FROM node_items ORDER BY embedding <-> $1 LIMIT ${K}`, [pgvector.toSql(q)])));
  check('pg.Pool with registerTypes in onConnect: concurrent searches return parsed vectors and the same ids',
    res.every((x, i) => Array.isArray(x.rows[0].embedding) &&
      isExactTop(ids(x.rows), '<->', data, queries[i], K)),
    res.map((x) => typeof x.rows[0].embedding));
  await pool.end();

  // -- update and delete
  const target = data[17];
  await client.query('UPDATE node_items SET embedding = $1 WHERE id = $2', [pgvector.toSql(queries[2]), target.id]);
  target.v = queries[2];
  for (const [op] of OPS) {
    r = await client.query(`SELECT id FROM node_items ORDER BY embedding ${op} $1 LIMIT 1`, [pgvector.toSql(queries[2])]);
    const w = exactTop(op, data, queries[2], 1)[0].id;
    check(`after UPDATE, ${op} search finds the right row first`, Number(r.rows[0].id) === w && (op === '<#>' || w === target.id),
      `${r.rows[0].id} != ${w}`);
  }
  const gone = data.slice(0, 50).map((x) => x.id);
  await client.query('DELETE FROM node_items WHERE id = ANY($1)', [gone]);
  const left = data.filter((x) => !gone.includes(x.id));
  const returned = new Set();
  for (const q of queries) {
    for (const [op] of OPS) {
      r = await client.query(`SELECT id FROM node_items ORDER BY embedding ${op} $1 LIMIT 100`, [pgvector.toSql(q)]);
      r.rows.forEach((x) => returned.add(Number(x.id)));
    }
  }
  check('after DELETE of 50 rows, no search returns them', gone.every((id) => !returned.has(id)), gone.filter((id) => returned.has(id)));
  r = await client.query(`SELECT id FROM node_items ORDER BY embedding <-> $1 LIMIT ${K}`, [pgvector.toSql(queries[0])]);
  check('after DELETE, a search returns the exact top 10 of the rows left',
    isExactTop(ids(r.rows), '<->', left, queries[0], K), ids(r.rows));

  await client.query('VACUUM node_items');
  for (const [, , short] of OPS) {
    r = await client.query('SELECT count_indexed, count_deleted, count_active FROM hnsw_index_info($1)', [`node_items_${short}_idx`]);
    const n = String(left.length);
    check(`hnsw_index_info(${short} index) after DELETE and VACUUM: ${n} rows`,
      r.rows[0].count_indexed === n && r.rows[0].count_deleted === '0' && r.rows[0].count_active === n, r.rows[0]);
  }
  await client.query('DROP TABLE node_items');
  await client.end();
}

try {
  await main();
} catch (e) {
  console.error(e);
  check('the program ran to its end', false, String(e));
}
console.log(`${checks} checks, ${failed} failed`);
// exit now: after an error, open connections would keep the process alive
// (stdout is synchronous for files and pipes on Linux, nothing is lost)
process.exit(failed ? 1 : 0);
