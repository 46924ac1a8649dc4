'use strict';
// mantis_flags.js: feature flags kept current in process, from mantis's
// change feed.  A worked example for applications (node-postgres):
//
//   const pg = require('pg');
//   const { MantisFlags } = require('./mantis_flags');
//
//   const flags = await new MantisFlags({
//     connect: async () => {
//       const c = new pg.Client({ host: 'db', user: 'app', database: 'app',
//         keepAlive: true, query_timeout: 45000 });  // longer than the wait
//       await c.connect();
//       return c;
//     },
//     prefix: 'flags.',
//   }).start();                                 // resolves once loaded
//   if (flags.get('flags.checkout.new_flow') === 'on') { ... }
//   flags.on('change', (key, value) => { ... }); // value null: removed
//   await flags.close();
//
// It loads every flag under the prefix once (mantis_changes(NULL, prefix)),
// then follows mantis_wait(cursor, prefix, '30 seconds') for ever and keeps
// the Map flags.flags current: a value sets its key, deleted = true (a
// deletion or an expiry) removes it.  A lost connection is retried with
// backoff and resumed from the last cursor, on this server or any other of
// the cluster, so no change is missed; SQLSTATE MT001 ("cannot answer this
// cursor exactly") makes it load everything again.  Delivery is at least
// once: a change may be applied twice, never missed, never one rolled back.
// Through PgBouncer in transaction mode it works as it is (no named
// statements).  Events: 'load' (flags) after each full load, 'change'
// (key, value) after each change applied, 'retry' (error, ms) before a
// reconnection, 'reload' (error) on MT001.

const { EventEmitter } = require('node:events');

const CURSOR_LOST = 'MT001';
const FIRST_BACKOFF_MS = 100;

class MantisFlags extends EventEmitter {
  constructor({ connect, prefix = '', wait = '30 seconds', maxBackoffMs = 10000 }) {
    super();
    Object.assign(this, { connect, prefix, wait, maxBackoffMs });
    this.flags = new Map();
    this.cursor = null;         // null: load everything first
    this.loads = 0;             // full loads so far
    this._client = null;
    this._stopped = false;
    this._backoffMs = FIRST_BACKOFF_MS;   // reset by every answer
    this._wake = null;
    this._done = null;
  }

  // Start following; resolve with this once the first load is done.
  async start({ timeoutMs = 30000 } = {}) {
    let timer;
    const loaded = new Promise((resolve, reject) => {
      this.once('load', resolve);
      timer = setTimeout(() => reject(new Error(`mantis flags not loaded after ${timeoutMs} ms`)),
        timeoutMs);
    });
    this._done = this._run();
    try {
      await loaded;
    } finally {
      clearTimeout(timer);
    }
    return this;
  }

  get(key, dflt = undefined) {
    return this.flags.has(key) ? this.flags.get(key) : dflt;
  }

  async close() {
    this._stopped = true;
    if (this._client) this._client.end().catch(() => {});  // ends a mantis_wait now
    if (this._wake) this._wake();
    await this._done;
  }

  async _run() {
    while (!this._stopped) {
      let client = null;
      try {
        client = await this.connect();
        // a lost connection fails the query running; this keeps it from
        // also being an unhandled 'error' event
        client.on('error', () => {});
        this._client = client;
        await this._follow(client);
      } catch (e) {
        if (this._stopped) break;
        this._emit('retry', e, this._backoffMs);
        await this._sleep(this._backoffMs);
        this._backoffMs = Math.min(this._backoffMs * 2, this.maxBackoffMs);
      } finally {
        this._client = null;
        if (client) client.end().catch(() => {});
      }
    }
  }

  async _follow(client) {
    while (!this._stopped) {
      if (this.cursor === null) {
        await this._load(client);
        continue;
      }
      let answer;
      try {
        answer = await client.query('SELECT key, value, deleted, cursor FROM mantis_wait($1, $2, $3)',
          [this.cursor, this.prefix, this.wait]);
        if (answer.rows.length === 0) {
          // nothing changed under the prefix: move the cursor past the
          // server's other changes, so that it stays recent
          this.cursor = (await client.query('SELECT mantis_cursor($1, $2) AS cursor',
            [this.cursor, this.prefix])).rows[0].cursor;
        }
      } catch (e) {
        if (e.code !== CURSOR_LOST) throw e;
        this._emit('reload', e);
        this.cursor = null;
        continue;
      }
      this._apply(answer.rows);
    }
  }

  async _load(client) {
    // a cursor taken before the snapshot: nothing after it is missed, also
    // when the snapshot is empty and brings no cursor of its own
    const before = (await client.query('SELECT mantis_cursor() AS cursor')).rows[0].cursor;
    const { rows } = await client.query(
      'SELECT key, value, deleted, cursor FROM mantis_changes(NULL, $1)', [this.prefix]);
    this.flags.clear();
    for (const r of rows) if (!r.deleted) this.flags.set(r.key, r.value);
    this.cursor = rows.length ? rows[0].cursor : before;
    this.loads += 1;
    this._backoffMs = FIRST_BACKOFF_MS;
    this._emit('load', this.flags);
  }

  _apply(rows) {
    for (const { key, value, deleted } of rows) {
      if (deleted) this.flags.delete(key);
      else this.flags.set(key, value);
    }
    if (rows.length) this.cursor = rows[0].cursor;   // every row carries the same one
    this._backoffMs = FIRST_BACKOFF_MS;
    for (const { key, value, deleted } of rows) this._emit('change', key, deleted ? null : value);
  }

  _emit(...args) {
    try {
      this.emit(...args);
    } catch (e) {   // the application's listener: never stop following
      console.error('mantis flags: a listener failed:', e);
    }
  }

  _sleep(ms) {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      this._wake = () => { clearTimeout(timer); resolve(); };
    });
  }
}

module.exports = { MantisFlags };
