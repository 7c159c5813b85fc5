#!/usr/bin/env node
// Development-only stand-in for the mom backend, in memory. It implements the public contract the
// panel codes against (REST on one port, the socket.io `/user` namespace on another, the built
// panel with /config.json on a third), so the panel and its end-to-end test can run without
// RabbitMQ, PostgreSQL or Redis. It is not part of the product.
//
//   node web/dev/fake-backend.mjs            # then open http://127.0.0.1:9190
//
// Environment:
//   FAKE_HOST        listen address                 (127.0.0.1)
//   FAKE_PANEL_PORT  panel: dist/ + /config.json     (9190)
//   FAKE_API_PORT    REST API                        (7170)
//   FAKE_SOCKET_PORT socket.io gateway               (7180)
//   FAKE_DIST        folder served as the panel      (../dist next to this file)
//   FAKE_STEP_MS     time a math step takes          (700)
//   FAKE_TOKEN_TTL_MS token lifetime                 (360000)
//
// Behaviour worth knowing:
//   - a math step whose numbers contain 666 fails after its delay (to see failed jobs);
//   - POST /__fake/drop-sockets closes every socket's transport (clients reconnect by themselves);
//   - POST /__fake/unavailable?on=1|0 makes every API route answer 503 (to see the banner).

import { randomBytes } from 'node:crypto';
import { createReadStream, existsSync, statSync } from 'node:fs';
import { createServer } from 'node:http';
import { extname, join, normalize, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Server } from 'socket.io';

const here = fileURLToPath(new URL('.', import.meta.url));
const HOST = process.env.FAKE_HOST || '127.0.0.1';
const PANEL_PORT = Number(process.env.FAKE_PANEL_PORT || 9190);
const API_PORT = Number(process.env.FAKE_API_PORT || 7170);
const SOCKET_PORT = Number(process.env.FAKE_SOCKET_PORT || 7180);
const DIST = resolve(process.env.FAKE_DIST || join(here, '..', 'dist'));
const STEP_MS = Number(process.env.FAKE_STEP_MS || 700);
const TOKEN_TTL_MS = Number(process.env.FAKE_TOKEN_TTL_MS || 360000);
const U64_MAX = 18446744073709551615n;
const METHODS = ['add', 'subtract', 'multiply', 'divide', 'factors'];

// ---------------------------------------------------------------- state

const users = new Map(); // id -> {id, firstName, lastName, email, password, createdAt, updatedAt}
const tokens = new Map(); // token -> {userId, iat, exp}
const jobs = new Map(); // id -> job (without owner)
let nextUserId = 1;
let nextJobId = 1;
let unavailable = false;

const stats = {
  queues: {
    'mom.db': { ready: 0, unacked: 0, consumers: 2, published: 0, delivered: 0, dead: 0 },
    'mom.math': { ready: 0, unacked: 0, consumers: 4, published: 0, delivered: 0, dead: 0 },
    'mom.math.retry': { ready: 0, unacked: 0, consumers: 0, published: 0, delivered: 0, dead: 0 },
    'mom.dead-letter': { ready: 0, unacked: 0, consumers: 0, published: 0, delivered: 0, dead: 0 },
  },
  samples: [], // [{t, published: {q: n}, delivered: {q: n}}]
};

function publish(q) {
  stats.queues[q].published++;
  stats.queues[q].ready++;
}
function deliver(q) {
  const s = stats.queues[q];
  s.delivered++;
  s.ready = Math.max(0, s.ready - 1);
  s.unacked++;
}
function ack(q) {
  const s = stats.queues[q];
  s.unacked = Math.max(0, s.unacked - 1);
}

function sample() {
  const snap = { t: Date.now(), published: {}, delivered: {} };
  for (const [name, s] of Object.entries(stats.queues)) {
    snap.published[name] = s.published;
    snap.delivered[name] = s.delivered;
  }
  stats.samples.push(snap);
  while (stats.samples.length > 6) stats.samples.shift();
}
setInterval(sample, 1000).unref();
sample();

const now = () => new Date().toISOString();
const safeUser = (u) => ({ id: u.id, firstName: u.firstName, lastName: u.lastName, email: u.email, createdAt: u.createdAt, updatedAt: u.updatedAt });

// ---------------------------------------------------------------- http helpers

function send(res, status, body, headers = {}) {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  res.writeHead(status, {
    'Content-Type': typeof body === 'string' ? 'text/html; charset=utf-8' : 'application/json; charset=utf-8',
    'Access-Control-Allow-Origin': '*',
    'Content-Length': Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

function readJson(req) {
  return new Promise((resolveBody, reject) => {
    let data = '';
    req.setEncoding('utf8');
    req.on('data', (c) => {
      data += c;
      if (data.length > 1e6) reject(new Error('too large'));
    });
    req.on('end', () => {
      if (!data) return resolveBody({});
      try {
        resolveBody(JSON.parse(data));
      } catch {
        reject(new Error('bad json'));
      }
    });
    req.on('error', reject);
  });
}

const badRequest = (errors) => ({ statusCode: 400, error: 'Bad Request', message: errors });
const unauthorized = (message) => (message ? { statusCode: 401, error: 'Unauthorized', message } : { statusCode: 401, error: 'Unauthorized' });

function vErr(property, value, constraints) {
  const e = { property, children: [], constraints };
  if (value !== undefined) e.value = value;
  return e;
}

function requireString(body, prop, errors) {
  const v = body[prop];
  if (typeof v !== 'string' || v === '') {
    errors.push(vErr(prop, v, { isNotEmpty: `${prop} should not be empty`, isString: `${prop} must be a string` }));
    return false;
  }
  return true;
}

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

// ---------------------------------------------------------------- auth

function issueToken(user) {
  const iat = Date.now();
  const exp = iat + TOKEN_TTL_MS;
  const accessToken = `fake.${randomBytes(24).toString('hex')}`;
  tokens.set(accessToken, { userId: user.id, iat, exp });
  // Every fake user is an admin, so the System page can be tried.
  return { ...safeUser(user), iat, exp, accessToken, role: 'admin' };
}

/** -> {user, token} or {reason} with a socket-style reason */
function checkToken(token) {
  if (!token) return { reason: 'wrong-token', message: { name: 'JsonWebTokenError', message: 'jwt must be provided' } };
  const t = tokens.get(token);
  if (!t) return { reason: 'old-token', message: { message: 'Old Token' } };
  if (Date.now() >= t.exp) return { reason: 'token-expired', message: { name: 'TokenExpiredError', message: 'jwt expired', expiredAt: new Date(t.exp).toISOString() } };
  const user = users.get(t.userId);
  if (!user) return { reason: 'no-user', message: { message: 'No user' } };
  return { user, token: t };
}

function authUser(req) {
  let h = req.headers.authorization || '';
  if (h.startsWith('Bearer ')) h = h.slice(7);
  return checkToken(h);
}

// ---------------------------------------------------------------- math

function parseNumbers(s) {
  return s.split(',').map((x) => x.trim());
}

function validateDetails(details) {
  const errors = [];
  if (!Array.isArray(details) || details.length === 0) {
    errors.push(vErr('details', details, { arrayNotEmpty: 'details should not be empty' }));
    return errors;
  }
  details.forEach((d, i) => {
    if (!d || typeof d !== 'object') {
      errors.push(vErr(`details.${i}`, d, { isObject: 'each step must be an object' }));
      return;
    }
    if (!METHODS.includes(d.method)) {
      errors.push(vErr(`details.${i}.method`, d.method, { isIn: `method must be one of the following values: ${METHODS.join(', ')}` }));
    }
    if (typeof d.numbers !== 'string' || d.numbers.trim() === '') {
      errors.push(vErr(`details.${i}.numbers`, d.numbers, { isNotEmpty: 'numbers should not be empty' }));
      return;
    }
    const nums = parseNumbers(d.numbers);
    if (nums.length > 100) errors.push(vErr(`details.${i}.numbers`, d.numbers, { maxNumbers: 'numbers must contain at most 100 numbers' }));
    else if (d.method === 'factors') {
      if (!nums.every((n) => /^\d+$/.test(n) && BigInt(n) <= U64_MAX))
        errors.push(vErr(`details.${i}.numbers`, d.numbers, { isUnsignedIntegerList: 'numbers must be non-negative integers up to 18446744073709551615 for factors' }));
    } else if (!nums.every((n) => /^-?\d+(\.\d+)?$/.test(n))) {
      errors.push(vErr(`details.${i}.numbers`, d.numbers, { isNumberList: 'numbers must be a comma-separated list of numbers' }));
    } else if (d.method === 'divide' && nums.slice(1).some((n) => Number(n) === 0)) {
      errors.push(vErr(`details.${i}.numbers`, d.numbers, { noDivisionByZero: 'numbers must not divide by zero' }));
    }
  });
  return errors;
}

function primeFactors(nStr) {
  let n = BigInt(nStr);
  const out = [];
  if (n < 2n) return out;
  for (let p = 2n; p * p <= n; p += p === 2n ? 1n : 2n) {
    if (n % p === 0n) {
      out.push(Number(p));
      while (n % p === 0n) n /= p;
    }
  }
  if (n > 1n) out.push(Number(n));
  return out;
}

function compute(method, numbers) {
  const parts = parseNumbers(numbers);
  if (method === 'factors') return parts.map(primeFactors);
  const ns = parts.map(Number);
  switch (method) {
    case 'add':
      return ns.reduce((a, b) => a + b, 0);
    case 'subtract':
      return ns.slice(1).reduce((a, b) => a - b, ns[0]);
    case 'multiply':
      return ns.reduce((a, b) => a * b, 1);
    case 'divide':
      return ns.slice(1).reduce((a, b) => a / b, ns[0]);
    default:
      throw new Error(`unknown method ${method}`);
  }
}

// ---------------------------------------------------------------- jobs

function withOwner(job) {
  const u = users.get(job.ownerId);
  const { ownerId, ...rest } = job;
  return u ? { ...rest, owner: safeUser(u) } : rest;
}
function plain(job) {
  const { ownerId, ...rest } = job;
  return structuredClone(rest);
}

function touch(job) {
  job.updatedAt = now();
  job.version++;
}

function runJob(job) {
  publish('mom.math');
  const step = () => {
    if (job.status === 'cancelled') return;
    const i = job.stepsDone;
    const d = job.details[i];
    deliver('mom.math');
    job.status = 'running';
    touch(job);
    setTimeout(() => {
      ack('mom.math');
      // Cancelled while the step waited: nothing more happens to the job.
      if (job.status === 'cancelled') return;
      publish('mom.db');
      deliver('mom.db');
      ack('mom.db');
      if (parseNumbers(d.numbers).includes('666')) {
        stats.queues['mom.math.retry'].published += 2;
        stats.queues['mom.dead-letter'].published++;
        stats.queues['mom.dead-letter'].ready++;
        stats.queues['mom.math'].dead++;
        job.status = 'failed';
        job.error = `Step ${i + 1} (${d.method}) failed: the math service did not answer after 3 attempts.`;
        job.finishedAt = now();
        touch(job);
        emitToOwner(job, 'job:failed', plain(job));
        return;
      }
      d.result = compute(d.method, d.numbers);
      job.stepsDone++;
      touch(job);
      if (job.stepsDone >= job.stepsTotal) {
        job.status = 'done';
        job.done = true;
        job.finishedAt = now();
        touch(job);
        emitToOwner(job, 'job:done', { ...withOwner(structuredClone(job)), results: job.details.map((x) => x.result) });
      } else {
        emitToOwner(job, 'job:progress', plain(job));
        publish('mom.math');
        setTimeout(step, 60);
      }
    }, STEP_MS);
  };
  setTimeout(step, Math.min(STEP_MS, 300));
}

// ---------------------------------------------------------------- REST API

async function api(req, res) {
  const url = new URL(req.url, `http://${req.headers.host || 'localhost'}`);
  const path = url.pathname.replace(/\/+$/, '') || '/';
  if (req.method === 'OPTIONS') {
    res.writeHead(204, {
      'Access-Control-Allow-Origin': '*',
      'Access-Control-Allow-Methods': 'GET,POST,PUT,DELETE,OPTIONS',
      'Access-Control-Allow-Headers': req.headers['access-control-request-headers'] || 'Authorization, Content-Type',
      'Access-Control-Max-Age': '600',
    });
    return res.end();
  }
  if (path === '/__fake/drop-sockets' && req.method === 'POST') {
    let n = 0;
    for (const s of userNs.sockets.values()) {
      s.conn.close();
      n++;
    }
    return send(res, 200, { dropped: n });
  }
  if (path === '/__fake/unavailable' && req.method === 'POST') {
    unavailable = url.searchParams.get('on') !== '0';
    return send(res, 200, { unavailable });
  }
  if (unavailable) return send(res, 503, { statusCode: 503, error: 'Service Unavailable', message: 'No answer from the database worker.' });

  const route = `${req.method} ${path}`;
  let body = {};
  if (req.method === 'POST') {
    try {
      body = await readJson(req);
    } catch {
      return send(res, 400, { statusCode: 400, error: 'Bad Request', message: 'Malformed JSON' });
    }
  }

  switch (route) {
    case 'GET /':
      return send(res, 200, 'Welcome to API of MOM based architecture POC (fake)');

    case 'POST /register': {
      const errors = [];
      for (const f of ['firstName', 'lastName', 'email', 'password']) requireString(body, f, errors);
      if (typeof body.email === 'string' && body.email && !EMAIL.test(body.email)) errors.push(vErr('email', body.email, { isEmail: 'email must be an email' }));
      if (errors.length) return send(res, 400, badRequest(errors));
      const email = body.email.toLowerCase();
      if ([...users.values()].some((u) => u.email.toLowerCase() === email)) return send(res, 409, { statusCode: 409, error: 'Conflict', message: 'Email is already used.' });
      const t = now();
      const user = { id: nextUserId++, firstName: body.firstName, lastName: body.lastName, email: body.email, password: body.password, createdAt: t, updatedAt: t };
      users.set(user.id, user);
      publish('mom.db');
      deliver('mom.db');
      ack('mom.db');
      return send(res, 201, safeUser(user));
    }

    case 'POST /login': {
      const errors = [];
      requireString(body, 'email', errors);
      requireString(body, 'password', errors);
      if (typeof body.email === 'string' && body.email && !EMAIL.test(body.email)) errors.push(vErr('email', body.email, { isEmail: 'email must be an email' }));
      if (errors.length) return send(res, 400, badRequest(errors));
      const user = [...users.values()].find((u) => u.email.toLowerCase() === body.email.toLowerCase());
      if (!user || user.password !== body.password) return send(res, 401, unauthorized());
      return send(res, 201, issueToken(user));
    }
  }

  const auth = authUser(req);
  const cancel = /^\/job\/(\d+)\/cancel$/.exec(path);
  if (cancel && req.method === 'POST') {
    if (!auth.user) return send(res, 401, unauthorized(auth.message));
    const job = jobs.get(Number(cancel[1]));
    if (!job || job.ownerId !== auth.user.id) return send(res, 404, { statusCode: 404, error: 'Not Found', message: 'job not found' });
    if (job.status !== 'queued' && job.status !== 'running') {
      return send(res, 409, { statusCode: 409, error: 'Conflict', message: `job ${job.id} has already ended: it is ${job.status}`, status: job.status });
    }
    job.status = 'cancelled';
    job.error = 'cancelled by its owner';
    job.finishedAt = now();
    touch(job);
    emitToOwner(job, 'job:cancelled', plain(job));
    return send(res, 200, plain(job));
  }
  const needsAuth = ['GET /renew-token', 'GET /logout', 'GET /auth-test', 'POST /job', 'GET /job/my', 'GET /system/queues', 'GET /system/history', 'GET /user', 'GET /admin/dead-letters', 'GET /admin/dead-letters/counts', 'POST /admin/dead-letters/replay', 'POST /admin/dead-letters/discard'];
  if (!needsAuth.includes(route)) return send(res, 404, { statusCode: 404, error: 'Not Found', message: `Cannot ${req.method} ${path}` });
  if (!auth.user) return send(res, 401, unauthorized(auth.message));
  const user = auth.user;
  const token = (req.headers.authorization || '').replace(/^Bearer /, '');

  switch (route) {
    case 'GET /auth-test':
      return send(res, 200, ['Authorized user!', safeUser(user)]);
    case 'GET /user':
      return send(res, 200, [...users.values()].map(safeUser));
    case 'GET /renew-token':
      tokens.delete(token);
      return send(res, 200, issueToken(user));
    case 'GET /logout':
      tokens.delete(token);
      for (const s of userNs.sockets.values()) if (s.data.token === token) s.leave(room(user.id));
      return send(res, 200, { success: true });
    case 'POST /job': {
      const errors = [];
      if (typeof body.type !== 'string' || !body.type) errors.push(vErr('type', body.type, { isNotEmpty: 'type should not be empty', isString: 'type must be a string' }));
      else if (body.type !== 'math') errors.push(vErr('type', body.type, { isIn: 'type must be one of the following values: math' }));
      errors.push(...validateDetails(body.details));
      if (errors.length) return send(res, 400, badRequest(errors));
      const t = now();
      const job = {
        id: nextJobId++,
        type: 'math',
        done: false,
        status: 'queued',
        details: body.details.map((d) => ({ method: d.method, numbers: d.numbers })),
        stepsDone: 0,
        stepsTotal: body.details.length,
        error: null,
        createdAt: t,
        updatedAt: t,
        finishedAt: null,
        version: 1,
        ownerId: user.id,
      };
      jobs.set(job.id, job);
      publish('mom.db');
      deliver('mom.db');
      ack('mom.db');
      runJob(job);
      return send(res, 201, withOwner(structuredClone(job)));
    }
    case 'GET /job/my':
      return send(
        res,
        200,
        [...jobs.values()].filter((j) => j.ownerId === user.id).sort((a, b) => b.id - a.id).map(plain),
      );
    case 'GET /system/queues': {
      const first = stats.samples[0];
      const last = stats.samples[stats.samples.length - 1];
      const secs = Math.max(1, (last.t - first.t) / 1000);
      const queues = Object.entries(stats.queues).map(([name, s]) => ({
        name,
        messages: s.ready + s.unacked,
        messagesReady: s.ready,
        messagesUnacked: s.unacked,
        consumers: s.consumers,
        publishRate: Math.round(((last.published[name] - first.published[name]) / secs) * 10) / 10,
        deliverRate: Math.round(((last.delivered[name] - first.delivered[name]) / secs) * 10) / 10,
        deadLetters: s.dead,
      }));
      return send(res, 200, { source: 'management', queues });
    }
    // The fake's steps never fail for good, so it keeps no dead letters.
    case 'GET /admin/dead-letters':
      return send(res, 200, []);
    case 'GET /admin/dead-letters/counts':
      return send(res, 200, { total: 0, queues: Object.keys(stats.queues).map((queue) => ({ queue, count: 0 })) });
    case 'POST /admin/dead-letters/replay':
      return send(res, 200, { replayed: 0, notReplayable: 0 });
    case 'POST /admin/dead-letters/discard':
      return send(res, 200, { discarded: 0 });
    case 'GET /system/history': {
      // The last hour per minute, from the jobs in memory, shaped as mom's API answers it.
      const start = Math.floor(Date.now() / 60000) * 60000 - 59 * 60000;
      const minutes = Array.from({ length: 60 }, (_, i) => ({ at: start + i * 60000, created: 0, finished: {}, seconds: [] }));
      const bucket = (iso) => minutes[Math.floor((Date.parse(iso) - start) / 60000)];
      for (const job of jobs.values()) {
        const created = bucket(job.createdAt);
        if (created) created.created += 1;
        const ended = job.finishedAt && bucket(job.finishedAt);
        if (ended) {
          ended.finished[job.status] = (ended.finished[job.status] ?? 0) + 1;
          ended.seconds.push((Date.parse(job.finishedAt) - Date.parse(job.createdAt)) / 1000);
        }
      }
      const pct = (xs, p) => (xs.length ? [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))] : null);
      return send(res, 200, {
        minutes: minutes.map((m) => ({
          minute: new Date(m.at).toISOString(),
          created: m.created,
          finished: m.finished,
          p50Seconds: pct(m.seconds, 0.5),
          p95Seconds: pct(m.seconds, 0.95),
          p99Seconds: pct(m.seconds, 0.99),
        })),
      });
    }
  }
  return send(res, 404, { statusCode: 404, error: 'Not Found', message: `Cannot ${req.method} ${path}` });
}

// ---------------------------------------------------------------- socket.io

const room = (id) => `user-private-room-${id}`;
const socketHttp = createServer((req, res) => send(res, 404, { statusCode: 404, error: 'Not Found' }));
const io = new Server(socketHttp, { cors: { origin: '*' } });
io.of('/').on('connection', () => {});
const userNs = io.of('/user');

userNs.on('connection', (socket) => {
  socket.on('authenticate', (login) => {
    if (!login || typeof login !== 'object') return;
    const r = checkToken(login.accessToken);
    if (!r.user) return socket.emit('auth-error', r.reason === 'old-token' && !tokens.has(login.accessToken) ? 'old-token' : r.reason);
    if (login.id !== r.user.id) return socket.emit('auth-error', 'not-token-of-user');
    socket.data.userId = r.user.id;
    socket.data.token = login.accessToken;
    socket.join(room(r.user.id));
    socket.emit('authenticated');
  });
  socket.on('deauthenticate', (ack) => {
    if (socket.data.userId) socket.leave(room(socket.data.userId));
    socket.data.userId = undefined;
    socket.data.token = undefined;
    socket.emit('deauthenticated');
    if (typeof ack === 'function') ack();
  });
});

function emitToOwner(job, event, payload) {
  for (const s of userNs.sockets.values()) {
    if (s.data.userId !== job.ownerId) continue;
    const r = checkToken(s.data.token);
    if (!r.user) {
      s.leave(room(job.ownerId));
      s.data.userId = undefined;
      s.emit('auth-error', r.reason);
      continue;
    }
    s.emit(event, payload);
  }
}

// ---------------------------------------------------------------- panel (static dist + config.json)

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
};

function panel(req, res) {
  const url = new URL(req.url, `http://${req.headers.host || 'localhost'}`);
  if (url.pathname === '/config.json') {
    const host = (req.headers.host || `${HOST}:${PANEL_PORT}`).replace(/:\d+$/, '');
    return send(res, 200, { apiUrl: `http://${host}:${API_PORT}`, socketUrl: `http://${host}:${SOCKET_PORT}` }, { 'Cache-Control': 'no-store' });
  }
  let file = normalize(join(DIST, decodeURIComponent(url.pathname)));
  if (!file.startsWith(DIST + sep) && file !== DIST) return send(res, 403, { statusCode: 403, error: 'Forbidden' });
  if (!existsSync(file) || statSync(file).isDirectory()) file = join(DIST, 'index.html');
  if (!existsSync(file)) return send(res, 500, `No panel build in ${DIST}: run npm run build in web/ first.`);
  res.writeHead(200, {
    'Content-Type': TYPES[extname(file)] || 'application/octet-stream',
    'Cache-Control': file.includes(`${sep}assets${sep}`) ? 'public, max-age=31536000, immutable' : 'no-cache',
  });
  createReadStream(file).pipe(res);
}

// ---------------------------------------------------------------- start

const apiServer = createServer((req, res) => {
  api(req, res).catch((e) => {
    console.error(e);
    if (!res.headersSent) send(res, 500, { statusCode: 500, message: 'Internal server error' });
  });
});
const panelServer = createServer(panel);

function listen(server, port, what) {
  return new Promise((ok, fail) => {
    server.once('error', fail);
    server.listen(port, HOST, () => {
      console.log(`fake ${what} listening on http://${HOST}:${port}`);
      ok();
    });
  });
}

await listen(apiServer, API_PORT, 'api   ');
await listen(socketHttp, SOCKET_PORT, 'socket');
await listen(panelServer, PANEL_PORT, 'panel ');
console.log(`serving ${DIST}; step ${STEP_MS} ms, token lifetime ${TOKEN_TTL_MS} ms`);

function shutdown() {
  io.close();
  apiServer.close();
  panelServer.close();
  process.exit(0);
}
process.on('SIGINT', shutdown);
process.on('SIGTERM', shutdown);
