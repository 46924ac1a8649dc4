'use strict';
// mantis from node-postgres (pg), as an application uses it.
//
// The connection comes from APP_HOST, APP_PORT, APP_DB, APP_USER and
// APP_PASSWORD (set by test/clients/run.sh).  The role has only
// `GRANT mantis_writer, mantis_monitor TO app`.
//
// Output: one "ok N - ..." or "not ok N - ..." line per check, then a
// count; the exit status is 1 when any check failed.

const assert = require('node:assert/strict');
const pg = require('pg');

const ENV = process.env;
const PREFIX = 'node/';
const HLC = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z-[0-9a-f]{4}-[0-9a-f]{16}$/;
const K = (name) => PREFIX + name;

const config = {
  host: ENV.APP_HOST, port: Number(ENV.APP_PORT), database: ENV.APP_DB,
  user: ENV.APP_USER, password: ENV.APP_PASSWORD,
};

let count = 0;
const failed = [];

async function check(name, body) {
  count += 1;
  try {
    await body();
    console.log(`ok ${count} - ${name}`);
  } catch (e) {
    failed.push(name);
    console.log(`not ok ${count} - ${name}`);
    for (const line of String(e && e.stack || e).split('\n')) console.log(`#   ${line}`);
  }
}

// fn() rejects with a server error whose SQLSTATE (err.code) is `code`
async function rejects(code, fn, what) {
  let result;
  try {
    result = await fn();
  } catch (e) {
    assert.equal(e.code, code, `${what}: SQLSTATE ${e.code}, want ${code} (${e.message})`);
    return e;
  }
  assert.fail(`${what}: no error (returned ${JSON.stringify(result)}), want SQLSTATE ${code}`);
}

async function main() {
  const conn = new pg.Client(config);
  const other = new pg.Client(config);   // another connection: what others see
  await conn.connect();
  await other.connect();

  const one = async (sql, params = [], c = conn) => {
    const r = await c.query({ text: sql, values: params, rowMode: 'array' });
    return r.rows[0][0];
  };
  const get = (key, c = conn) => one('SELECT mantis_get($1)', [key], c);
  const put = (key, value, c = conn) => one('SELECT mantis_set($1, $2)', [key, value], c);

  await check('connected as app over TCP with a password; not a superuser', async () => {
    const r = await conn.query(`SELECT current_user::text AS u, inet_server_addr() IS NOT NULL AS tcp,
      (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) AS su`);
    assert.deepEqual(r.rows, [{ u: 'app', tcp: true, su: false }]);
    const wrong = new pg.Client({ ...config, password: 'not the password' });
    await rejects('28P01', () => wrong.connect(), 'a wrong password');
  });

  await check('text: set, then get the same text', async () => {
    await put(K('checkout.new_flow'), 'on');
    assert.equal(await get(K('checkout.new_flow')), 'on');
    assert.equal(await get(K('checkout.new_flow'), other), 'on', 'from another connection');
  });

  await check('integer: set 42, get its text, and a number back with a default cast to int', async () => {
    await put(K('limit'), 42);
    assert.equal(await get(K('limit')), '42');
    assert.equal(await one('SELECT mantis_get($1, $2::int)', [K('limit'), 100]), 42);
    await put(K('big_limit'), 100000);
    assert.equal(await one('SELECT mantis_get($1, $2::int)', [K('big_limit'), 100]), 100000);
  });

  await check('pitfall: an uncast default is untyped, so mantis_get($1, $2) returns text', async () => {
    // node-postgres sends every parameter untyped: mantis_get(text, text) is chosen
    assert.equal(await one('SELECT mantis_get($1, $2)', [K('limit'), 100]), '42');
    assert.equal(await one('SELECT mantis_get($1, $2)', [K('absent'), 100]), '100');
  });

  await check("boolean: set true stores 'true'; on, t and true read back as true with mantis_get_bool, no cast", async () => {
    await put(K('dark'), true);
    assert.equal(await get(K('dark')), 'true');
    assert.equal(await one('SELECT mantis_get_bool($1)', [K('dark')]), true);
    assert.equal(await one('SELECT mantis_get($1, $2::boolean)', [K('dark'), false]), true, 'mantis_get, default cast');
    for (const t of ['on', 't', 'true']) {
      await put(K('dark'), t);
      assert.equal(await one('SELECT mantis_get_bool($1, $2)', [K('dark'), false]), true, `stored ${t}`);
    }
    await put(K('dark'), 'off');
    assert.equal(await one('SELECT mantis_get_bool($1, $2)', [K('dark'), true]), false, 'stored off');
  });

  await check('typed readers: an absent flag is null or its default false; mantis_get_int is an int8: a string', async () => {
    assert.equal(await one('SELECT mantis_get_bool($1)', [K('absent')]), null);
    assert.equal(await one('SELECT mantis_get_bool($1, $2)', [K('absent'), false]), false);
    // node-postgres parses no int8 by default (2^63 does not fit a number)
    assert.equal(await one('SELECT mantis_get_int($1, $2)', [K('big_limit'), 100]), '100000');
    assert.equal(await one('SELECT mantis_get_int($1, $2)', [K('absent'), 100]), '100');
    assert.equal(await one('SELECT mantis_get_int($1, $2)::int', [K('big_limit'), 100]), 100000, 'cast to int');
  });

  await check('typed readers: with an int8 parser (BigInt, or parseInt) mantis_get_int and mantis_ttl_ms are numbers', async () => {
    // a parser for one client; pg.types.setTypeParser(20, ...) sets it for every client
    const types = new pg.TypeOverrides();
    types.setTypeParser(pg.types.builtins.INT8, BigInt);
    const c = new pg.Client({ ...config, types });
    await c.connect();
    try {
      assert.equal(await one('SELECT mantis_get_int($1, $2)', [K('big_limit'), 100], c), 100000n);
      types.setTypeParser(pg.types.builtins.INT8, (v) => parseInt(v, 10));
      assert.equal(await one('SELECT mantis_get_int($1, $2)', [K('absent'), 100], c), 100);
      await one('SELECT mantis_set($1, $2, $3)', [K('session'), 'token', '30 seconds'], c);
      const ms = await one('SELECT mantis_ttl_ms($1)', [K('session')], c);
      assert.ok(typeof ms === 'number' && ms > 25000 && ms <= 30000, `mantis_ttl_ms ${ms} (${typeof ms})`);
      assert.equal(await one('SELECT mantis_ttl_ms($1)', [K('dark')], c), null, 'a key without an expiry');
    } finally {
      await c.end();
    }
  });

  const CFG = { plan: 'pro', seats: 5, ratio: 0.25, tags: ['a', 'ü'], owner: null, nested: { on: true } };

  await check('jsonb: set from an object with $2::jsonb, get an object back with mantis_get_json', async () => {
    await one('SELECT mantis_set($1, $2::jsonb)', [K('cfg'), CFG]);
    assert.deepEqual(await one('SELECT mantis_get_json($1)', [K('cfg')]), CFG);
    assert.deepEqual(JSON.parse(await get(K('cfg'))), CFG, 'the stored text, parsed');
    await put(K('not_json'), '{oops');
    await rejects('22P02', () => one('SELECT mantis_get_json($1)', [K('not_json')]), "mantis_get_json of '{oops'");
  });

  await check('pitfall: a JS array parameter is a PostgreSQL array, not JSON: JSON.stringify it', async () => {
    await rejects('22P02', () => one('SELECT mantis_set($1, $2::jsonb)', [K('list'), ['a', 'b']]),
      'an array as a jsonb parameter');
    await one('SELECT mantis_set($1, $2::jsonb)', [K('list'), JSON.stringify(['a', 'b'])]);
    assert.deepEqual(await one('SELECT mantis_get_json($1)', [K('list')]), ['a', 'b']);
  });

  await check('null as the value is refused (22004), never a deletion; mantis_delete says whether it deleted', async () => {
    await put(K('gone'), 'here');
    assert.equal(await get(K('gone')), 'here');
    await rejects('22004', () => put(K('gone'), null), 'null as the value');
    assert.equal(await get(K('gone')), 'here', 'still set');
    await put(K('gone2'), 'here');
    assert.equal(await one('SELECT mantis_delete($1)', [K('gone2')]), true, 'delete of a live key');
    assert.equal(await get(K('gone2')), null);
    assert.equal(await one('SELECT mantis_delete($1)', [K('gone2')]), false, 'delete again');
  });

  const UKEY = K('ключ/設定/🔑'), UVALUE = 'Grüße, 世界 ✓ 🎉';
  await check('unicode key and value round trip, and list by prefix', async () => {
    await put(UKEY, UVALUE);
    assert.equal(await get(UKEY), UVALUE);
    const r = await conn.query('SELECT key, value FROM mantis_registers($1)', [K('ключ/')]);
    assert.deepEqual(r.rows, [{ key: UKEY, value: UVALUE }]);
  });

  let big = '';
  for (let i = 0; big.length < 100000; i++) big += (i * 7919 % 100003).toString(36);
  big = big.slice(0, 100000);
  await check('a 100 kB value round trips', async () => {
    await put(K('big'), big);
    const got = await get(K('big'));
    assert.equal(got.length, big.length, 'length');
    assert.ok(got === big, 'the value read back differs');
  });

  await check('batch read: mantis_get_many with an array, one row per key in order', async () => {
    await put(K('m.a'), '1');
    await put(K('m.b'), '2');
    const r = await conn.query('SELECT key, value FROM mantis_get_many($1)',
      [[K('m.b'), K('m.absent'), K('m.a'), K('m.b')]]);
    assert.deepEqual(r.rows, [{ key: K('m.b'), value: '2' }, { key: K('m.absent'), value: null },
      { key: K('m.a'), value: '1' }, { key: K('m.b'), value: '2' }]);
  });

  await check('absent key: null, or the typed default', async () => {
    assert.equal(await get(K('absent')), null);
    assert.equal(await one('SELECT mantis_get($1, $2::int)', [K('absent'), 7]), 7);
    assert.equal(await one('SELECT mantis_get($1, $2)', [K('absent'), 'fallback']), 'fallback');
    assert.equal(await one('SELECT mantis_get($1, $2::boolean)', [K('absent'), false]), false);
    assert.deepEqual(await one('SELECT mantis_get($1, $2::jsonb)', [K('absent'), { x: 1 }]), { x: 1 });
    assert.equal(await get(null), null, 'a null key');
  });

  await check('errors: empty key 22023, over-long key 54000, wrong type 22P02', async () => {
    await rejects('22023', () => get(''), 'empty key');
    await rejects('54000', () => get('k'.repeat(1025)), '1025-byte key');
    await put(K('word'), 'abc');
    await rejects('22P02', () => one('SELECT mantis_get($1, $2::int)', [K('word'), 0]), "'abc' read as an integer");
  });

  await check('errors: mantis_set in BEGIN READ ONLY is 25006', async () => {
    await conn.query('BEGIN READ ONLY');
    try {
      await rejects('25006', () => put(K('ro'), 'x'), 'set in BEGIN READ ONLY');
    } finally {
      await conn.query('ROLLBACK');
    }
    assert.equal(await get(K('ro')), null);
  });

  await check('errors: what mantis_writer does not grant is 42501', async () => {
    await rejects('42501', () => conn.query('SELECT * FROM mantis_decode($1)', [Buffer.alloc(0)]), 'mantis_decode');
    await rejects('42501', () => conn.query('SELECT count(*) FROM mantis_stores'), 'reading mantis_stores');
  });

  await check('BEGIN ... ROLLBACK: a write is its own until COMMIT, and ROLLBACK discards it', async () => {
    await put(K('tx.price'), '10');
    await conn.query('BEGIN');
    try {
      assert.equal(await put(K('tx.price'), '12'), null, "mantis_set's result when it waits for COMMIT");
      assert.equal(await get(K('tx.price')), '12', 'own write, in the transaction');
      assert.equal(await get(K('tx.price'), other), '10', 'another connection, before COMMIT');
    } finally {
      await conn.query('ROLLBACK');
    }
    assert.equal(await get(K('tx.price')), '10', 'after ROLLBACK');
    assert.equal(await get(K('tx.price'), other), '10', 'another connection, after ROLLBACK');
  });

  await check('BEGIN ... COMMIT: two writes applied together, under one HLC', async () => {
    await conn.query('BEGIN');
    await put(K('txc.a'), '1');
    await put(K('txc.b'), '2');
    assert.equal(await get(K('txc.a'), other), null, 'another connection, before COMMIT');
    await conn.query('COMMIT');
    const r = await other.query('SELECT key, value, hlc FROM mantis_registers($1) ORDER BY key', [K('txc.')]);
    assert.deepEqual(r.rows.map((x) => [x.key, x.value]), [[K('txc.a'), '1'], [K('txc.b'), '2']]);
    assert.equal(new Set(r.rows.map((x) => x.hlc)).size, 1, 'distinct HLCs of the two writes');
  });

  await check('ROLLBACK TO SAVEPOINT discards only the writes after it', async () => {
    await conn.query('BEGIN');
    await put(K('sp'), 'outer');
    await conn.query('SAVEPOINT s');
    await put(K('sp'), 'inner');
    await conn.query('ROLLBACK TO SAVEPOINT s');
    assert.equal(await get(K('sp')), 'outer', 'after ROLLBACK TO SAVEPOINT');
    await conn.query('COMMIT');
    assert.equal(await get(K('sp'), other), 'outer', 'after COMMIT, from another connection');
  });

  await check('SET LOCAL mantis.transactional = off: applied at once, returns the HLC', async () => {
    await conn.query('BEGIN');
    try {
      await conn.query('SET LOCAL mantis.transactional = off');
      const hlc = await put(K('now'), 'applied');
      assert.match(String(hlc), HLC, `mantis_set returned ${hlc}`);
      assert.equal(await get(K('now'), other), 'applied', 'another connection, before COMMIT');
    } finally {
      await conn.query('ROLLBACK');
    }
    assert.equal(await get(K('now')), 'applied', 'after ROLLBACK');
  });

  const t0 = Date.now();
  await put(K('flushed'), 'yes');
  const status = async () => {
    const flushed = await one('SELECT mantis_flush()');
    const r = await conn.query('SELECT keys, memory_used, last_flush FROM mantis_status');
    const live = await one('SELECT count(*) FROM mantis_registers()');
    return { flushed, ...r.rows[0], live };
  };

  await check('monitoring, as node-postgres has it: bigint counters are strings, last_flush a Date', async () => {
    const s = await status();
    assert.equal(typeof s.flushed, 'string', `mantis_flush() returned ${typeof s.flushed}`);
    assert.equal(typeof s.keys, 'string', `keys is a ${typeof s.keys}`);
    assert.equal(s.keys, s.live, 'keys = the live registers listed');
    assert.ok(s.last_flush instanceof Date, `last_flush ${s.last_flush}`);
    assert.ok(s.last_flush.getTime() >= t0 - 1000 && s.last_flush.getTime() <= Date.now() + 1000,
      `last_flush ${s.last_flush.toISOString()} is not since the test's last write`);
  });

  await check('monitoring with pg.types.setTypeParser(20, Number): numbers', async () => {
    pg.types.setTypeParser(pg.types.builtins.INT8, Number);
    const s = await status();
    assert.equal(typeof s.flushed, 'number', `mantis_flush() returned ${typeof s.flushed}`);
    assert.equal(typeof s.keys, 'number', `keys is a ${typeof s.keys}`);
    assert.equal(s.keys, s.live, 'keys = the live registers listed');
    assert.equal(typeof s.memory_used, 'number');
    assert.ok(s.memory_used >= big.length, `memory_used ${s.memory_used}`);
  });

  await check('through PgBouncer (transaction mode): unnamed queries work, a named query fails', async () => {
    // the pool "single" has one server connection: its clients share one backend
    const bouncer = { ...config, port: Number(ENV.BOUNCER_PORT), database: 'single' };
    const a = new pg.Client(bouncer), b = new pg.Client(bouncer);
    await a.connect();
    await b.connect();
    try {
      await a.query('SELECT mantis_set($1, $2)', [K('via.bouncer'), 'v']);
      assert.equal(await one('SELECT mantis_get($1)', [K('via.bouncer')], b), 'v');
      assert.equal(await one('SELECT mantis_get_bool($1, $2)', [K('via.bouncer.absent'), false], b), false,
        'mantis_get_bool through PgBouncer');
      const named = { name: 'mantis-get', text: 'SELECT mantis_get($1) AS v', values: [K('via.bouncer')] };
      assert.equal((await a.query(named)).rows[0].v, 'v');
      // b prepares "mantis-get" on the backend where a already did
      await rejects('42P05', () => b.query(named), 'the same named query from a second client');
    } finally {
      await a.end();
      await b.end();
    }
  });

  await conn.end();
  await other.end();
}

main().catch((e) => {
  failed.push('the program');
  console.log(`not ok - the program stopped: ${e && e.stack || e}`);
}).finally(() => {
  console.log(`# ${count} checks, ${failed.length} failed`);
  for (const f of failed) console.log(`#   failed: ${f}`);
  process.exitCode = failed.length || count === 0 ? 1 : 0;
});
