'use strict';
// Shared adapter for the node-mysql2 and node-mysql adapters (contract: docs/adapters.md).
// Usage: node pool-adapter.js mysql2|mysql   — JSON lines on stdin/stdout, logs on stderr.
// The two libraries have the same callback API (createPool, getConnection, query, release,
// destroy, end, the pool 'connection' event), so one implementation serves both; what differs
// is the option table below.

const readline = require('readline');

const LIBRARIES = {
  mysql2: {
    pool: 'mysql2 Pool',
    missing:
      'missing mysql2: cannot require it; point NODE_PATH (repro: --node-path DIR) at a node_modules directory containing mysql2',
    options: {
      connectTimeout: ['int', 'ms before an initial connect fails with connect ETIMEDOUT (default: 10000)'],
      enableKeepAlive: ['bool', 'TCP keepalive on each socket (default: true)'],
      keepAliveInitialDelay: ['int', 'ms of idle before the first TCP keepalive probe; 0 keeps the OS setting (default: 0)'],
      maxIdle: ['int', 'idle connections kept; the 1 s idle sweep closes extra ones and runs only when maxIdle < connectionLimit (default: connectionLimit = poolSize)'],
      idleTimeout: ['int', 'ms a free connection may stay idle before the idle sweep closes it; needs maxIdle < poolSize (default: 60000)'],
      queueLimit: ['int', 'max getConnection calls waiting for a connection, 0 = unlimited (default: 0)'],
      waitForConnections: ['bool', "queue getConnection when every connection is busy; false fails with 'No connections available.' (default: true)"],
      resetOnRelease: ['bool', 'COM_RESET_CONNECTION on release; a failed reset removes the connection (default: false)'],
      gracefulEnd: ['bool', 'the idle sweep closes with COM_QUIT instead of destroying the socket (default: false)'],
    },
  },
  mysql: {
    pool: 'mysql Pool',
    missing:
      'missing mysql: cannot require it; install Debian node-mysql (apt-get install node-mysql) or point NODE_PATH at a node_modules containing mysql',
    options: {
      acquireTimeout: ['int', 'ms for the connect, or the ping the pool sends on every getConnection of a free connection (default: 10000)'],
      connectTimeout: ['int', 'ms before an initial connect fails with connect ETIMEDOUT (default: 10000)'],
      queueLimit: ['int', 'max getConnection calls waiting for a connection, 0 = unlimited (default: 0)'],
      waitForConnections: ['bool', "queue getConnection when every connection is busy; false fails with 'No connections available.' (default: true)"],
    },
  },
};

// Application-side options (the adapter's own, hence the `app.` prefix), same for both libraries.
const APP_OPTIONS = {
  'app.queryTimeout': ['int', "ms; passed as conn.query({sql, timeout}): the query fails with 'Query inactivity timeout' (default: none)"],
  'app.retryGetConnection': ['bool', 'when pool.getConnection itself fails (any error, phase acquire), call getConnection once more; a failed query is not retried (default: false)'],
  'app.retryQuery': ['bool', 'when the query fails with err.fatal === true, conn.destroy() and run borrow+query once more (default: false)'],
  'app.pingBeforeUse': ['bool', "conn.ping() after getConnection; when the ping fails, conn.destroy() and getConnection once more, as applications that 'validate before use' do (default: false)"],
  'app.followUp': ['sql', "SQL sent on the same connection right after a failed query, before it is released, as a transaction's ROLLBACK or an error handler's cleanup query does (default: none)"],
};

const libName = process.argv[2];
const spec = LIBRARIES[libName];
if (!spec) {
  process.stderr.write(`usage: pool-adapter.js ${Object.keys(LIBRARIES).join('|')}\n`);
  process.exit(2);
}

// The version from the package's own package.json, read as a file: mysql2 2.x's `exports` field
// forbids require('mysql2/package.json'). Walk up from the entry point to the folder that is the package.
function packageVersion(name) {
  const fs = require('fs');
  const path = require('path');
  let dir = path.dirname(require.resolve(name));
  for (let i = 0; i < 10; i++) {
    const file = path.join(dir, 'package.json');
    if (fs.existsSync(file)) {
      const meta = JSON.parse(fs.readFileSync(file, 'utf8'));
      if (meta.name === name) return meta.version;
    }
    const up = path.dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  throw new Error(`no package.json naming ${name} above ${require.resolve(name)}`);
}

let lib;
let libVersion;
try {
  lib = require(libName);
  libVersion = packageVersion(libName);
} catch (e) {
  process.stderr.write(`${spec.missing} (${e.message.split('\n')[0]})\n`);
  process.exit(1);
}

// stdout carries protocol lines only: keep any library console.log (e.g. debug output) off it.
console.log = console.error;

// Writes to a pipe are synchronous in Node on Linux, so each line goes out whole and at once.
function send(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n');
}
const emitEvent = (event) => send(event);

// The error as the caller saw it, fields copied verbatim from the object.
function errorObject(err, phase) {
  if (!(err instanceof Object)) {
    return { class: typeof err, code: null, errno: null, sqlState: null, message: String(err), fatal: null, phase };
  }
  const o = {
    class: err.constructor ? err.constructor.name : 'Object',
    code: err.code ?? null,
    errno: typeof err.errno === 'number' || typeof err.errno === 'string' ? err.errno : null,
    sqlState: err.sqlState ?? null,
    message: String(err.message),
    fatal: typeof err.fatal === 'boolean' ? err.fatal : null,
    phase,
  };
  if (err.cause !== undefined) o.cause = err.cause instanceof Error ? err.cause.message : String(err.cause);
  return o;
}

const usage = (message) => ({ usage: true, message });
const elapsed = (t0) => Math.round(Number(process.hrtime.bigint() - t0) / 1e3) / 1e3;

// --- pool state -----------------------------------------------------------------------------

let pool = null;
let poolSize = 0;
let queryTimeout = null; // app.queryTimeout
let retryGetConnection = false; // app.retryGetConnection
let retryQuery = false; // app.retryQuery
let followUp = null; // app.followUp
let pingBeforeUse = false; // app.pingBeforeUse
let armed = null; // the batch of `arm`: {results, done, waiting}
let held = null; // the connection kept by `hold`

function parseOptions(options) {
  const known = { ...spec.options, ...APP_OPTIONS };
  const parsed = {};
  for (const [key, raw] of Object.entries(options || {})) {
    const def = known[key];
    if (!def) {
      throw usage(`unknown option '${key}': known options are ${Object.keys(known).sort().join(', ')}`);
    }
    const value = String(raw).trim();
    if (def[0] === 'sql') {
      if (!value) throw usage(`option '${key}': give the SQL to send, e.g. ${key}=ROLLBACK`);
      parsed[key] = value;
    } else if (def[0] === 'int') {
      if (!/^\d+$/.test(value)) throw usage(`option '${key}': '${raw}' is not a whole number of milliseconds/count`);
      parsed[key] = Number(value);
    } else {
      if (value !== 'true' && value !== 'false') throw usage(`option '${key}': '${raw}' is not true or false`);
      parsed[key] = value === 'true';
    }
  }
  return parsed;
}

function open(req) {
  if (pool) throw usage('open: the pool is already open');
  if (!(Number.isInteger(req.poolSize) && req.poolSize >= 1)) throw usage(`open: poolSize must be a whole number >= 1, got ${req.poolSize}`);
  const opts = parseOptions(req.options);
  queryTimeout = opts['app.queryTimeout'] ?? null;
  retryGetConnection = opts['app.retryGetConnection'] ?? false;
  retryQuery = opts['app.retryQuery'] ?? false;
  followUp = opts['app.followUp'] ?? null;
  pingBeforeUse = opts['app.pingBeforeUse'] ?? false;
  const config = {
    host: req.host,
    port: req.port,
    user: req.user,
    password: req.password,
    connectionLimit: req.poolSize,
  };
  if (req.database != null) config.database = req.database;
  for (const key of Object.keys(spec.options)) if (key in opts) config[key] = opts[key];
  poolSize = req.poolSize;
  pool = lib.createPool(config); // lazy: neither library connects before getConnection
  const initSql = req.initSql || [];

  // Every new connection: watch its 'error'/'end' (the pool keeps its own listeners, registered
  // in the PoolConnection constructor, so eviction is unchanged), then queue initSql. Both
  // libraries run a connection's queries in order and emit 'connection' before handing the
  // connection to the getConnection callback, so initSql finishes before the app's first query.
  pool.on('connection', (conn) => {
    conn.on('error', (err) =>
      emitEvent({ event: 'connection-error', message: String(err && err.message), code: err?.code ?? null, fatal: typeof err?.fatal === 'boolean' ? err.fatal : null, threadId: conn.threadId }),
    );
    conn.on('end', (err) =>
      emitEvent({ event: 'connection-end', message: err ? String(err.message) : "'end' event without an error", code: err?.code ?? null, threadId: conn.threadId }),
    );
    for (const sql of initSql) {
      conn.query(sql, (err) => {
        if (err) emitEvent({ event: 'init-sql-error', message: String(err.message), code: err.code ?? null, sql, threadId: conn.threadId });
      });
    }
  });
  return {};
}

const querySpec = (sql) => (queryTimeout == null ? sql : { sql, timeout: queryTimeout });

// pool.getConnection as the application calls it. With app.retryGetConnection, the usual
// hand-written "destroy and retry once when getConnection fails": any error from getConnection
// is recorded under `handled` and getConnection is called once more (there is no connection to
// destroy: neither library passes one along with an error, but one would be destroyed).
function getConnection(handled, cb) {
  pool.getConnection((err, conn) => {
    if (!err || !retryGetConnection) return validated(handled, err, conn, cb);
    if (conn) conn.destroy();
    handled.push({ by: 'retry', error: errorObject(err, 'acquire') });
    pool.getConnection((err, conn) => validated(handled, err, conn, cb));
  });
}

// app.pingBeforeUse: the application pings what it borrowed; a failed ping destroys the connection (recorded
// under `handled`, by validation) and borrows once more, unchecked.
function validated(handled, err, conn, cb) {
  if (err || !pingBeforeUse) return cb(err, conn);
  try {
    conn.ping((pingErr) => {
      if (!pingErr) return cb(null, conn);
      handled.push({ by: 'validation', error: errorObject(pingErr, 'validate') });
      conn.destroy();
      pool.getConnection(cb);
    });
  } catch (e) {
    handled.push({ by: 'validation', error: errorObject(e, 'validate') });
    conn.destroy();
    pool.getConnection(cb);
  }
}

// app.followUp: after a failed query, one more command on the same connection (a ROLLBACK, a
// cleanup query), as applications do before they release it; `done` gets what became of it.
function sendFollowUp(conn, done) {
  try {
    conn.query(followUp, (err) => done(err ? { ok: false, error: errorObject(err, 'follow-up') } : { ok: true }));
  } catch (e) {
    done({ ok: false, error: errorObject(e, 'follow-up') });
  }
}

// One operation exactly as an application writes it: borrow, query, release in the callback
// whatever happened (the pool drops a broken connection itself on its 'error'/'end'). With
// app.retryQuery the application destroys the connection on a fatal error instead; with
// app.followUp it sends one more command on the connection first.
function borrowAndQuery(sql, handled, cb) {
  getConnection(handled, (err, conn) => {
    if (err) return cb(err, 'acquire');
    // The server thread of the connection that served it: the runner draws a lane per connection.
    const threadId = conn.threadId ?? null;
    conn.query(querySpec(sql), (err) => {
      const giveBack = (after) => {
        if (err && retryQuery && err.fatal === true) conn.destroy();
        else conn.release();
        cb(err, 'query', after, threadId);
      };
      if (err && followUp != null) sendFollowUp(conn, giveBack);
      else giveBack(undefined);
    });
  });
}

// A `run`-shaped result. app.retryGetConnection absorbs a getConnection error once per borrow;
// app.retryQuery absorbs the first fatal query error once per operation and borrows again.
function operation(sql, done) {
  const t0 = process.hrtime.bigint();
  const handled = [];
  const followUps = [];
  let threadId = null;
  const finish = (err, phase) => {
    const r = { ok: !err, ms: elapsed(t0) };
    if (threadId != null) r.threadId = threadId;
    if (err) r.error = errorObject(err, phase);
    if (handled.length) r.handled = handled;
    if (followUps.length) r.followUp = followUps[followUps.length - 1];
    done(r);
  };
  const attempt = (first) =>
    borrowAndQuery(sql, handled, (err, phase, after, served) => {
      if (after) followUps.push(after);
      if (served != null) threadId = served;
      if (err && retryQuery && first && phase === 'query' && err.fatal === true) {
        handled.push({ by: 'retry', error: errorObject(err, phase) });
        return attempt(false);
      }
      finish(err, phase);
    });
  try {
    attempt(true);
  } catch (e) {
    finish(e, null);
  }
}

function heldOperation(sql, done) {
  const t0 = process.hrtime.bigint();
  const finish = (err, after) => {
    const r = err ? { ok: false, ms: elapsed(t0), error: errorObject(err, 'query') } : { ok: true, ms: elapsed(t0) };
    if (held.threadId != null) r.threadId = held.threadId;
    if (after) r.followUp = after;
    done(r);
  };
  const failed = (err) => (followUp != null ? sendFollowUp(held, (after) => finish(err, after)) : finish(err));
  try {
    held.query(querySpec(sql), (err) => (err ? failed(err) : finish(null)));
  } catch (e) {
    failed(e);
  }
}

// `arm`: `count` operations one after another on the application's own timer (or at once), the
// next started in the callback of the previous, with no round trip to repro in between.
function runBatch(batch, sql, count) {
  const next = (i) => {
    if (i >= count) {
      batch.done = true;
      for (const reply of batch.waiting.splice(0)) reply({ results: batch.results });
      return;
    }
    operation(sql, (r) => {
      batch.results.push(r);
      next(i + 1);
    });
  };
  next(0);
}

// --- requests -------------------------------------------------------------------------------

function needPool() {
  if (!pool) throw usage('no pool: send open first');
}

const handlers = {
  hello: (req, reply) =>
    reply({
      protocol: 1,
      driver: libName,
      driverVersion: libVersion,
      pool: spec.pool,
      poolVersion: libVersion,
      runtime: 'node',
      runtimeVersion: process.versions.node,
      options: Object.fromEntries(Object.entries({ ...spec.options, ...APP_OPTIONS }).map(([k, v]) => [k, v[1]])),
    }),

  open: (req, reply) => reply(open(req)),

  // `count` connections checked out at once, SELECT CONNECTION_ID() on each, then all released.
  warm: (req, reply) => {
    needPool();
    const count = req.count;
    if (!(count >= 1 && count <= poolSize)) throw usage(`warm: count must be 1..poolSize (${poolSize}), got ${count}`);
    const conns = [];
    const threadIds = new Array(count);
    let firstError = null;
    let pending = count;
    const doneOne = () => {
      if (--pending > 0) return;
      for (const c of conns) c.release();
      reply(firstError ? { ok: false, error: firstError } : { threadIds });
    };
    for (let i = 0; i < count; i++) {
      pool.getConnection((err, conn) => {
        if (err) {
          firstError ??= errorObject(err, 'acquire');
          return doneOne();
        }
        conns.push(conn);
        conn.query('SELECT CONNECTION_ID() AS id', (err, rows) => {
          if (err) firstError ??= errorObject(err, 'query');
          else threadIds[i] = rows[0].id;
          doneOne();
        });
      });
    }
  },

  run: (req, reply) => {
    needPool();
    if (req.held) {
      if (!held) throw usage('run held: no held connection, send hold first');
      heldOperation(req.sql, (r) => reply(r));
    } else {
      operation(req.sql, (r) => reply(r));
    }
  },

  arm: (req, reply) => {
    needPool();
    if (armed) throw usage('arm: a batch is already armed; send collect first');
    if (!(Number.isInteger(req.count) && req.count >= 1)) throw usage(`arm: count must be a whole number >= 1, got ${req.count}`);
    const delay = req.delayMs ?? 0;
    if (!(typeof delay === 'number' && delay >= 0)) throw usage(`arm: delayMs must be a number >= 0, got ${req.delayMs}`);
    const batch = { results: [], done: false, waiting: [] };
    armed = batch;
    // The timer is set before the answer goes out: repro may stop the process the moment it reads it.
    if (delay > 0) {
      setTimeout(() => runBatch(batch, req.sql, req.count), delay);
      reply({});
    } else {
      reply({});
      runBatch(batch, req.sql, req.count);
    }
  },

  collect: (req, reply) => {
    needPool();
    if (!armed) throw usage('collect: nothing armed; send arm first');
    const batch = armed;
    const answer = (body) => {
      if (armed === batch) armed = null;
      reply(body);
    };
    if (batch.done) answer({ results: batch.results });
    else batch.waiting.push(answer);
  },

  // Borrows one connection and keeps it forever; held runs use the most recent one.
  hold: (req, reply) => {
    needPool();
    pool.getConnection((err, conn) => {
      if (err) return reply({ ok: false, error: errorObject(err, 'acquire') });
      held = conn;
      reply({ threadId: conn.threadId });
    });
  },

  busy: (req, reply) => {
    needPool();
    if (!(req.count >= 1)) throw usage(`busy: count must be >= 1, got ${req.count}`);
    const results = new Array(req.count);
    let pending = req.count;
    for (let i = 0; i < req.count; i++) {
      operation(req.sql, (r) => {
        results[i] = r;
        if (--pending === 0) reply({ results });
      });
    }
  },

  // pool.end() sends COM_QUIT on every connection; answer when it calls back, or after 2 s
  // (a blackholed connection never answers) with "endPending": true. An error from end()
  // is put out as a 'pool-end-error' event, not as a failed close.
  close: (req, reply) => {
    needPool();
    let answered = false;
    const timer = setTimeout(() => {
      answered = true;
      reply({ endPending: true });
    }, 2000);
    endPool((err) => {
      if (err) emitEvent({ event: 'pool-end-error', ...errorObject(err, null) });
      if (answered) return;
      clearTimeout(timer);
      reply({});
    });
  },
};

let poolEnded = false;
function endPool(cb) {
  if (poolEnded) return process.nextTick(cb);
  poolEnded = true;
  try {
    pool.end(cb);
  } catch (e) {
    process.nextTick(cb, e);
  }
}

function handle(line) {
  if (!line.trim()) return;
  let req;
  try {
    req = JSON.parse(line);
  } catch (e) {
    process.stderr.write(`ignoring a line that is not JSON: ${e.message}\n`);
    return;
  }
  if (typeof req !== 'object' || req === null) {
    process.stderr.write('ignoring a line that is not a JSON object\n');
    return;
  }
  const id = req.id;
  let answered = false;
  // Handlers answer with a bare success body, or a whole {ok:false,...}/{ok,ms,...} object.
  const reply = (body) => {
    if (answered) return;
    answered = true;
    send({ id, ...('ok' in body ? body : { ok: true, ...body }) });
  };
  const handler = handlers[req.op];
  try {
    if (!handler) throw usage(`unknown op '${req.op}': known ops are ${Object.keys(handlers).join(', ')}`);
    handler(req, reply);
  } catch (e) {
    reply({ ok: false, error: e && e.usage ? e : errorObject(e, null) });
  }
}

// A library's asynchronous throw (e.g. an 'error' event nobody listens to) would crash an
// application; here it becomes an event so the run goes on and the report shows it.
process.on('uncaughtException', (err) => emitEvent({ event: 'uncaught-exception', ...errorObject(err, null) }));

const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
rl.on('line', handle);
rl.on('close', () => {
  // stdin EOF: end the pool if there is one, and exit 0 within 1 s even if end() hangs.
  setTimeout(() => process.exit(0), 1000);
  if (pool) endPool(() => process.exit(0));
  else process.exit(0);
});
