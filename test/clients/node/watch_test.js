'use strict';
// mantis's change feed from node-postgres: the feature-flag client of
// mantis_flags.js against a real server, and mantis_wait() through
// PgBouncer in transaction mode.
//
// The connection comes from APP_HOST, APP_PORT, BOUNCER_PORT, APP_DB,
// APP_USER and APP_PASSWORD (set by test/clients/run.sh); the role has
// only `GRANT mantis_writer, mantis_monitor TO app`.  Every wait for the
// client to see something is a wait for that event with a deadline, never
// a sleep.  Output: one "ok N - ..." or "not ok N - ..." line per check,
// then a count; the exit status is 1 when any check failed.

const assert = require('node:assert/strict');
const pg = require('pg');
const { MantisFlags } = require('./mantis_flags');

const ENV = process.env;
const P = 'nodeflags.';           // the flags this test follows
const APP_NAME = 'mantis-flags-node';
const DEADLINE_MS = 15000;        // to wait for an event before failing

const config = {
  host: ENV.APP_HOST, port: Number(ENV.APP_PORT), database: ENV.APP_DB,
  user: ENV.APP_USER, password: ENV.APP_PASSWORD,
};
const bouncerConfig = { ...config, port: Number(ENV.BOUNCER_PORT) };

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

async function connected(cfg) {
  const c = new pg.Client(cfg);
  await c.connect();
  return c;
}

// p, or a failure after ms
function within(p, ms, what) {
  let timer;
  const late = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms);
  });
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

// poll cond() against a deadline (for the server's state, not the client's)
async function until(cond, what) {
  const end = Date.now() + DEADLINE_MS;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`${what}: not after ${DEADLINE_MS} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

// the flag client's map satisfies pred, now or at one of its events
function sees(flags, pred, what) {
  return within(new Promise((resolve) => {
    const test = () => {
      if (!pred(flags.flags)) return;
      flags.off('change', test);
      flags.off('load', test);
      resolve();
    };
    flags.on('change', test);
    flags.on('load', test);
    test();
  }), DEADLINE_MS, `the client did not see ${what}`);
}

async function main() {
  const w = await connected(config);   // the application's writes
  const one = async (sql, params = [], c = w) =>
    (await c.query({ text: sql, values: params, rowMode: 'array' })).rows[0][0];
  const put = (key, value, c = w) => one('SELECT mantis_set($1, $2)', [key, value], c);
  const registers = async (prefix) => new Map((await w.query(
    'SELECT key, value FROM mantis_registers($1) ORDER BY key', [prefix])).rows.map((r) => [r.key, r.value]));
  const sorted = (m) => [...m.entries()].sort();

  // The flag client's connections pass a gate: closed, a reconnection
  // waits at it, so that the test can write while it is disconnected.
  let gate = null;        // null: open; else { opened: Promise, open(), reached: Promise, reach() }
  const closeGate = () => {
    const g = {};
    g.opened = new Promise((r) => { g.open = r; });
    g.reached = new Promise((r) => { g.reach = r; });
    gate = g;
  };
  const openGate = () => { const g = gate; gate = null; g.open(); };
  const flagsConnect = async () => {
    if (gate) { gate.reach(); await gate.opened; }
    return connected({ ...config, application_name: APP_NAME });
  };
  // the flag client's sessions asleep in mantis_wait
  const waiting = async () => Number(await one(`SELECT count(*) FROM pg_stat_activity
    WHERE application_name = $1 AND wait_event_type = 'Extension'`, [APP_NAME]));
  const disconnect = async () => {
    await until(async () => (await waiting()) === 1, "the client's mantis_wait sleeping");
    closeGate();
    const pid = await one(`SELECT pid FROM pg_stat_activity
      WHERE application_name = $1 AND wait_event_type = 'Extension'`, [APP_NAME]);
    assert.equal(await one('SELECT pg_terminate_backend($1)', [pid]), true, 'pg_terminate_backend');
    await within(gate.reached, DEADLINE_MS, 'the client trying to reconnect');
  };

  const events = [];      // every [key, value] the client applied, in order
  const flags = new MantisFlags({ connect: flagsConnect, prefix: P, wait: '20 seconds' });
  flags.on('change', (key, value) => events.push([key, value]));

  await check('the flag client loads every flag under its prefix once, nothing else', async () => {
    await put(P + 'a', '1');
    await put(P + 'b', '2');
    await put('nodeother.a', 'not a flag');
    await flags.start({ timeoutMs: DEADLINE_MS });
    assert.deepEqual(sorted(flags.flags), [[P + 'a', '1'], [P + 'b', '2']], 'the flags loaded');
    assert.equal(flags.loads, 1, 'loads');
    assert.match(flags.cursor, /^mc1-/);
  });

  await check('an empty prefix loads nothing, then follows from the cursor taken before it', async () => {
    const empty = new MantisFlags({ connect: () => connected(config), prefix: P + 'empty.' });
    await empty.start({ timeoutMs: DEADLINE_MS });
    try {
      assert.equal(empty.flags.size, 0, 'loaded');
      await put(P + 'empty.x', '1');
      await sees(empty, (f) => f.get(P + 'empty.x') === '1', 'the first flag under an empty prefix');
    } finally {
      await empty.close();
    }
  });

  await check('a set and an update reach the map', async () => {
    await put(P + 'c', 'on');
    await put(P + 'a', '11');
    await sees(flags, (f) => f.get(P + 'c') === 'on' && f.get(P + 'a') === '11', 'c = on, a = 11');
  });

  await check('a delete removes the key', async () => {
    assert.equal(await one('SELECT mantis_delete($1)', [P + 'b']), true, 'mantis_delete');
    await sees(flags, (f) => !f.has(P + 'b'), 'b deleted');
    assert.ok(events.some(([k, v]) => k === P + 'b' && v === null), 'a removal event of b');
  });

  await check('an expiry removes the key (a TTL of 1 s)', async () => {
    await one("SELECT mantis_set($1, $2, interval '1 second')", [P + 'ttl', 'short']);
    await sees(flags, (f) => f.get(P + 'ttl') === 'short', 'ttl set');
    await sees(flags, (f) => !f.has(P + 'ttl'), 'ttl expired');
    assert.equal((await registers(P + 'ttl')).size, 0, 'mantis_registers after the expiry');
  });

  const tx = await connected(config);
  await check('a transactional write arrives only after COMMIT', async () => {
    await tx.query('BEGIN');
    try {
      await put(P + 'tx', 'committed', tx);
      await put(P + 'marker1', '1');       // another connection, at once
      await sees(flags, (f) => f.has(P + 'marker1'), 'marker1');
      assert.ok(!flags.flags.has(P + 'tx'), 'tx seen before its COMMIT');
      await tx.query('COMMIT');
    } catch (e) {
      await tx.query('ROLLBACK');
      throw e;
    }
    await sees(flags, (f) => f.get(P + 'tx') === 'committed', 'tx after COMMIT');
  });

  await check('a rolled-back write never arrives', async () => {
    await tx.query('BEGIN');
    await put(P + 'rolled_back', 'x', tx);
    await tx.query('ROLLBACK');
    await put(P + 'marker2', '2');         // the feed is in order: after the rollback
    await sees(flags, (f) => f.has(P + 'marker2'), 'marker2');
    assert.deepEqual(events.filter(([k]) => k === P + 'rolled_back'), [], 'events of the rolled-back key');
  });
  await tx.end();

  await check('a lost connection: it reconnects and resumes from its cursor, missing nothing', async () => {
    await disconnect();
    await put(P + 'offline', 'written while disconnected');
    await one('SELECT mantis_delete($1)', [P + 'c']);
    openGate();
    await sees(flags, (f) => f.get(P + 'offline') === 'written while disconnected' && !f.has(P + 'c'),
      'the set and the delete made while it was disconnected');
    assert.equal(flags.loads, 1, 'loads (a resume is not a reload)');
    assert.deepEqual(sorted(flags.flags), sorted(await registers(P)), 'the map against mantis_registers');
  });

  await check('a cursor the server cannot answer (SQLSTATE MT001): it loads everything again', async () => {
    await disconnect();
    const parts = flags.cursor.split('-');
    parts[1] = (BigInt('0x' + parts[1]) ^ 0xffn).toString(16).padStart(16, '0');  // no peer's
    const foreign = parts.join('-');
    await assert.rejects(w.query('SELECT * FROM mantis_changes($1, $2)', [foreign, P]),
      (e) => e.code === 'MT001', 'mantis_changes from a foreign cursor: SQLSTATE MT001');
    flags.cursor = foreign;                 // as if it had been following another cluster
    await one('SELECT mantis_delete($1)', [P + 'a']);
    await put(P + 'reloaded', 'yes');
    openGate();
    await sees(flags, (f) => flags.loads === 2 && f.get(P + 'reloaded') === 'yes', 'a second load');
    assert.deepEqual(sorted(flags.flags), sorted(await registers(P)), 'the map against mantis_registers');
    await put(P + 'after_reload', '1');
    await sees(flags, (f) => f.has(P + 'after_reload'), 'a write after the reload');
  });

  await check('close() ends the follower at once, in the middle of a wait', async () => {
    await until(async () => (await waiting()) === 1, "the client's mantis_wait sleeping");
    const t0 = Date.now();
    await within(flags.close(), 5000, 'close()');
    assert.ok(Date.now() - t0 < 5000, `close() took ${Date.now() - t0} ms`);
  });

  // ---- mantis_wait through PgBouncer in transaction mode ----
  const WAIT_SQL = 'SELECT /* node-bouncer-wait */ key, value, deleted, cursor FROM mantis_wait($1, $2, $3)';
  const waiter = await connected(bouncerConfig);
  const writer = await connected(bouncerConfig);

  await check('through PgBouncer: mantis_wait wakes on a write made by another connection', async () => {
    const since = await one('SELECT mantis_cursor()', [], waiter);
    const t0 = Date.now();
    const waited = waiter.query(WAIT_SQL, [since, 'pgb.node.', '20 seconds'])
      .then((r) => ({ rows: r.rows, took: Date.now() - t0 }));
    waited.catch(() => {});   // awaited below
    await until(async () => Number(await one(`SELECT count(*) FROM pg_stat_activity
      WHERE wait_event_type = 'Extension' AND query LIKE $1`, ['%node-bouncer-wait%'])) === 1,
    'the waiter asleep in mantis_wait');
    await put('pgb.node.k', 'v', writer);
    const { rows, took } = await within(waited, DEADLINE_MS, 'mantis_wait returning');
    assert.deepEqual(rows.map((r) => [r.key, r.value, r.deleted]), [['pgb.node.k', 'v', false]]);
    assert.ok(took < 15000, `it returned after ${took} ms, not at the write`);
    assert.notEqual(rows[0].cursor, since, 'a new cursor');
    assert.equal(await one('SELECT mantis_get($1)', ['pgb.node.k'], waiter), 'v', 'the connection afterwards');
  });

  await check('through PgBouncer: mantis_wait times out with no rows', async () => {
    const since = await one('SELECT mantis_cursor()', [], waiter);
    const t0 = Date.now();
    const r = await waiter.query(WAIT_SQL, [since, 'pgb.node.none.', '1 second']);
    const took = Date.now() - t0;
    assert.equal(r.rows.length, 0, 'rows');
    assert.ok(took >= 900 && took < 10000, `it took ${took} ms for a 1 s timeout`);
  });
  await waiter.end();
  await writer.end();

  await check('through PgBouncer: the flag client loads and follows', async () => {
    await put('pgb.nodeflags.a', '1');
    const via = new MantisFlags({ connect: () => connected(bouncerConfig), prefix: 'pgb.nodeflags.' });
    await via.start({ timeoutMs: DEADLINE_MS });
    try {
      assert.deepEqual(sorted(via.flags), [['pgb.nodeflags.a', '1']], 'loaded');
      await put('pgb.nodeflags.b', '2');
      await sees(via, (f) => f.get('pgb.nodeflags.b') === '2', 'b, followed');
    } finally {
      await via.close();
    }
  });

  await w.end();
}

main().catch((e) => {
  failed.push('the program');
  console.log(`not ok - the program stopped: ${e && e.stack || e}`);
}).finally(() => {
  console.log(`# ${count} checks, ${failed.length} failed`);
  for (const f of failed) console.log(`#   failed: ${f}`);
  process.exitCode = failed.length || count === 0 ? 1 : 0;
});
