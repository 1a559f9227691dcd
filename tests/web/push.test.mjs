// Web Push (PROTOCOL.md §8) against a real parleyd and a real local push
// endpoint: an HTTP receiver here that decrypts what it gets with the
// subscription's own keys through the npm package http_ece (an RFC 8188 /
// RFC 8291 implementation that shares nothing with the server's C++), and
// verifies the VAPID token (RFC 8292) with node:crypto.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import http from 'node:http';
import ece from 'http_ece';
import WebSocket from 'ws';
import { Server } from './lib/server.mjs';
import { until, sleep, uname, PASSWORD } from './lib/util.mjs';

let server; // push.allow_private_addresses true: the receiver is on loopback
let strict; // the defaults: https only, no private addresses
let receiver;
let origin;
const got = []; // every POST the receiver took: {path, headers, body, at}
const answers = new Map(); // path -> function(count) -> {status, headers} | null (never answer)
const hanging = [];

before(async () => {
  receiver = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const entry = { path: req.url, headers: req.headers, body: Buffer.concat(chunks), at: Date.now() };
      got.push(entry);
      const n = got.filter((g) => g.path === req.url).length;
      const answer = (answers.get(req.url) ?? (() => ({ status: 201 })))(n);
      if (!answer) {
        hanging.push(res);
        return;
      }
      res.writeHead(answer.status, answer.headers ?? {});
      res.end();
    });
  });
  await new Promise((r) => receiver.listen(0, '127.0.0.1', r));
  origin = `http://127.0.0.1:${receiver.address().port}`;
  server = await new Server(['--push.allow_private_addresses', 'true', '--push.timeout_ms', '1500', '--push.threads', '2']).start();
  strict = await new Server([]).start();
});

after(async () => {
  for (const res of hanging) res.destroy();
  receiver?.closeAllConnections?.();
  await new Promise((r) => receiver.close(r));
  await server?.dispose();
  await strict?.dispose();
});

async function api(srv, method, path, token, body) {
  const headers = { 'Content-Type': 'application/json' };
  if (token) headers.Authorization = `Bearer ${token}`;
  const r = await fetch(`${srv.url}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await r.text();
  return { status: r.status, body: text ? JSON.parse(text) : null };
}

async function user(srv, display) {
  const username = uname('p');
  const r = await api(srv, 'POST', '/v1/auth/register', null, { username, password: PASSWORD, display_name: display ?? username });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  return { token: r.body.access_token, id: r.body.user.id, username };
}

// A browser's subscription: its own P-256 key pair and auth secret.
function browserKeys() {
  const ecdh = crypto.createECDH('prime256v1');
  ecdh.generateKeys();
  return { ecdh, p256dh: ecdh.getPublicKey().toString('base64url'), auth: crypto.randomBytes(16).toString('base64url') };
}

async function subscribe(srv, u, path) {
  const keys = browserKeys();
  const endpoint = `${origin}${path}`;
  const r = await api(srv, 'POST', '/v1/push/subscriptions', u.token, { endpoint, keys: { p256dh: keys.p256dh, auth: keys.auth } });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  return { ...keys, endpoint, path };
}

function decrypt(entry, sub) {
  assert.equal(entry.headers['content-encoding'], 'aes128gcm');
  const plain = ece.decrypt(entry.body, { version: 'aes128gcm', privateKey: sub.ecdh, authSecret: sub.auth });
  return JSON.parse(plain.toString('utf8'));
}

// The VAPID token: ES256 by the key in `k`, which is the server's published
// key; aud the endpoint's origin; exp within 24 hours; sub the subject.
function checkVapid(entry, publicKey) {
  const m = /^vapid t=([\w-]+)\.([\w-]+)\.([\w-]+), k=([\w-]+)$/.exec(entry.headers.authorization ?? '');
  assert.ok(m, `Authorization: ${entry.headers.authorization}`);
  const [, h, c, s, k] = m;
  assert.equal(k, publicKey);
  const point = Buffer.from(k, 'base64url');
  assert.equal(point.length, 65);
  const key = crypto.createPublicKey({
    key: { kty: 'EC', crv: 'P-256', x: point.subarray(1, 33).toString('base64url'), y: point.subarray(33).toString('base64url') },
    format: 'jwk',
  });
  const ok = crypto.verify('sha256', Buffer.from(`${h}.${c}`), { key, dsaEncoding: 'ieee-p1363' }, Buffer.from(s, 'base64url'));
  assert.ok(ok, 'the VAPID signature verifies with the server key');
  assert.equal(JSON.parse(Buffer.from(h, 'base64url')).alg, 'ES256');
  const claims = JSON.parse(Buffer.from(c, 'base64url'));
  assert.equal(claims.aud, origin);
  assert.equal(claims.sub, 'mailto:admin@localhost');
  const now = Date.now() / 1000;
  assert.ok(claims.exp > now && claims.exp <= now + 12 * 3600 + 60, `exp ${claims.exp}`);
}

const to = (path) => got.filter((g) => g.path === path);

async function dm(a, b) {
  const r = await api(server, 'POST', '/v1/conversations/dm', a.token, { username: b.username });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body.id;
}

async function group(owner, members, title) {
  const r = await api(server, 'POST', '/v1/conversations', owner.token, { kind: 'group', title, members: members.map((m) => m.username) });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  return r.body.id;
}

async function send(u, conv, body) {
  const r = await api(server, 'POST', `/v1/conversations/${conv}/messages`, u.token, { client_msg_id: crypto.randomUUID(), body });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  return r.body.seq;
}

// A WebSocket after `welcome`: the user is online while it is open.
async function online(srv, u) {
  const ws = new WebSocket(`${srv.url.replace('http', 'ws')}/v1/ws`);
  const frames = [];
  ws.on('message', (d) => frames.push(JSON.parse(d)));
  await new Promise((r, j) => (ws.once('open', r), ws.once('error', j)));
  ws.send(JSON.stringify({ id: 1, type: 'hello', token: u.token }));
  await until(() => frames.find((f) => f.re === 1), 'welcome');
  assert.equal(frames.find((f) => f.re === 1).type, 'welcome');
  let next = 2;
  ws.call = async (frame) => {
    const id = next++;
    ws.send(JSON.stringify({ ...frame, id }));
    return until(() => frames.find((f) => f.re === id), `answer to ${frame.type}`);
  };
  ws.frames = frames;
  return ws;
}

async function closed(ws) {
  await new Promise((r) => (ws.once('close', r), ws.close()));
  await sleep(100);
}

test('the VAPID key is a 65-byte P-256 point, the same after a restart', async () => {
  const r = await api(server, 'GET', '/v1/push/vapid');
  assert.equal(r.status, 200);
  const point = Buffer.from(r.body.public_key, 'base64url');
  assert.equal(point.length, 65);
  assert.equal(point[0], 4);
  await server.restart();
  assert.equal((await api(server, 'GET', '/v1/push/vapid')).body.public_key, r.body.public_key);
});

async function planned(srv) {
  const text = await (await fetch(`${srv.url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith('parley_push_planned_total '));
  assert.ok(line, 'parley_push_planned_total is exported');
  return Number(line.split(' ')[1]);
}

test('an offline member gets the entry pushed, encrypted and signed', async () => {
  const alice = await user(server, 'Alice Liddell');
  const bob = await user(server);
  const conv = await dm(alice, bob);
  // No one has a subscription yet: entries are not even looked up.
  await send(alice, conv, 'before anyone subscribed');
  await sleep(200);
  assert.equal(await planned(server), 0, 'no store read per entry while no one can be pushed');
  // The first subscription turns the sender on at once, not at its next
  // look at the store (every 5 s).
  const sub = await subscribe(server, bob, '/bob');
  const long = 'é'.repeat(150) + '€'.repeat(100); // 250 characters, 550 bytes
  const sentAt = Date.now();
  const seq = await send(alice, conv, long);
  const [entry] = await until(() => to('/bob').length && to('/bob'), 'a push to bob');
  assert.ok(entry.at - sentAt < 1500, `pushed ${entry.at - sentAt} ms after the send`);
  assert.equal(await planned(server), 1);
  const payload = decrypt(entry, sub);
  assert.deepEqual(Object.keys(payload).sort(), ['body', 'conv', 'sender', 'seq', 'title']);
  assert.equal(payload.conv, conv);
  assert.equal(payload.seq, seq);
  assert.equal(payload.sender, alice.id);
  assert.equal(payload.title, 'Alice Liddell', "a DM's title is the sender's display name");
  assert.equal([...payload.body].length, 200);
  assert.equal(payload.body, 'é'.repeat(150) + '€'.repeat(49) + '…');
  assert.equal(entry.headers.ttl, '86400');
  assert.equal(entry.headers.urgency, 'high');
  checkVapid(entry, (await api(server, 'GET', '/v1/push/vapid')).body.public_key);
  await sleep(300);
  assert.equal(to('/bob').length, 1, 'one push per entry per subscription');
});

test('an online member gets no push; members at none get none; mentions-level only mentions', async () => {
  const alice = await user(server);
  const on = await user(server);
  const quiet = await user(server);
  const mentioned = await user(server);
  const loud = await user(server);
  const subs = {};
  for (const [name, u] of Object.entries({ on, quiet, mentioned, loud })) subs[name] = await subscribe(server, u, `/${name}-${u.id}`);
  const conv = await group(alice, [on, quiet, mentioned, loud], 'Ops room');

  // Levels are set over the WebSocket, then the socket closes (offline).
  for (const [u, level] of [[quiet, 'none'], [loud, 'all'], [on, 'all']]) {
    const ws = await online(server, u);
    const ok = await ws.call({ type: 'notify', conv, level });
    assert.equal(ok.type, 'ok', JSON.stringify(ok));
    const list = await api(server, 'GET', '/v1/conversations', u.token);
    assert.equal(list.body.conversations.find((c) => c.id === conv).notify, level);
    if (u !== on) await closed(ws);
    else on.ws = ws;
  }
  // mentioned keeps a group's default.
  const list = await api(server, 'GET', '/v1/conversations', mentioned.token);
  assert.equal(list.body.conversations.find((c) => c.id === conv).notify, 'mentions');

  const plain = await send(alice, conv, 'deploy at noon');
  const withMention = await send(alice, conv, `ping @${mentioned.username} and @${quiet.username}`);
  await until(() => to(subs.loud.path).length === 2, 'two pushes to the member at all');
  await until(() => to(subs.mentioned.path).length === 1, 'a push to the mentioned member');
  await sleep(500);
  assert.deepEqual(to(subs.loud.path).map((e) => decrypt(e, subs.loud).seq).sort(), [plain, withMention].sort());
  const m = decrypt(to(subs.mentioned.path)[0], subs.mentioned);
  assert.equal(m.seq, withMention);
  assert.equal(m.title, 'Ops room', "a group's title");
  assert.equal(to(subs.mentioned.path).length, 1, 'mentions-level: not the plain entry');
  assert.equal(to(subs.quiet.path).length, 0, 'none: not even a mention');
  assert.equal(to(subs.on.path).length, 0, 'an open WebSocket: no push');
  await closed(on.ws);
  // Offline now: the next entry reaches them.
  const later = await send(alice, conv, 'and now?');
  await until(() => to(subs.on.path).length === 1, 'a push once offline');
  assert.equal(decrypt(to(subs.on.path)[0], subs.on).seq, later);
});

test('notify: a bad level is a bad_request, a stranger is refused', async () => {
  const alice = await user(server);
  const stranger = await user(server);
  const conv = await group(alice, [], 'mine');
  const ws = await online(server, alice);
  const bad = await ws.call({ type: 'notify', conv, level: 'loud' });
  assert.equal(bad.type, 'error');
  assert.equal(bad.code, 'bad_request');
  await closed(ws);
  const other = await online(server, stranger);
  const refused = await other.call({ type: 'notify', conv, level: 'none' });
  assert.equal(refused.type, 'error');
  assert.equal(refused.code, 'forbidden');
  const missing = await other.call({ type: 'notify', conv: '987654321', level: 'none' });
  assert.equal(missing.code, 'not_found');
  await closed(other);
});

test('a 410 removes the subscription', async () => {
  const alice = await user(server);
  const gone = await user(server);
  const sub = await subscribe(server, gone, `/gone-${gone.id}`);
  answers.set(sub.path, () => ({ status: 410 }));
  const conv = await dm(alice, gone);
  await send(alice, conv, 'are you there?');
  await until(() => to(sub.path).length === 1, 'the push that meets 410');
  await until(async () => (await api(server, 'DELETE', '/v1/push/subscriptions', gone.token, { endpoint: sub.endpoint })).status === 404,
    'the subscription removed');
  await send(alice, conv, 'hello?');
  await sleep(500);
  assert.equal(to(sub.path).length, 1, 'nothing more is pushed to it');
});

test('a 429 with Retry-After holds the subscription back that long', async () => {
  const alice = await user(server);
  const busy = await user(server);
  const sub = await subscribe(server, busy, `/busy-${busy.id}`);
  answers.set(sub.path, (n) => (n === 1 ? { status: 429, headers: { 'Retry-After': '2' } } : { status: 201 }));
  const conv = await dm(alice, busy);
  const seq = await send(alice, conv, 'first');
  await until(() => to(sub.path).length === 2, 'the retry', 10000);
  const [first, second] = to(sub.path);
  assert.ok(second.at - first.at >= 1900, `retried after ${second.at - first.at} ms`);
  assert.equal(decrypt(second, sub).seq, seq);
});

test('a push service that never answers delays neither chat nor other pushes', async () => {
  const alice = await user(server);
  const stuck = await user(server);
  const fine = await user(server);
  const slow = await subscribe(server, stuck, `/hang-${stuck.id}`);
  answers.set(slow.path, () => null);
  const ok = await subscribe(server, fine, `/fine-${fine.id}`);
  const stuckConv = await dm(alice, stuck);
  const fineConv = await dm(alice, fine);
  await send(alice, stuckConv, 'one');
  await until(() => to(slow.path).length === 1, 'the hanging POST');
  const started = Date.now();
  for (let i = 0; i < 5; i += 1) await send(alice, stuckConv, `more ${i}`);
  assert.ok(Date.now() - started < 1000, `five sends took ${Date.now() - started} ms`);
  const seq = await send(alice, fineConv, 'still here');
  await until(() => to(ok.path).length === 1, 'the push to a working endpoint');
  assert.equal(decrypt(to(ok.path)[0], ok).seq, seq);
  // The later entries of the stuck DM coalesce into one pending push.
  await sleep(2500);
  assert.ok(to(slow.path).length <= 3, `${to(slow.path).length} POSTs to the hanging endpoint`);
});

test('bad subscriptions are refused, saying what is wrong', async () => {
  const u = await user(strict);
  const good = browserKeys();
  const bad = async (endpoint, p256dh, auth, word) => {
    const r = await api(strict, 'POST', '/v1/push/subscriptions', u.token, { endpoint, keys: { p256dh, auth } });
    assert.equal(r.status, 400, `${endpoint} ${JSON.stringify(r.body)}`);
    assert.match(r.body.error.message, word);
  };
  const https = 'https://push.example.net/sub/1';
  await bad(https, good.ecdh.getPublicKey().subarray(0, 33).toString('base64url'), good.auth, /p256dh/);
  const offCurve = Buffer.from(good.ecdh.getPublicKey());
  offCurve[64] ^= 1;
  await bad(https, offCurve.toString('base64url'), good.auth, /curve/);
  await bad(https, good.p256dh, crypto.randomBytes(15).toString('base64url'), /auth/);
  await bad(https, good.p256dh, crypto.randomBytes(17).toString('base64url'), /auth/);
  await bad('http://push.example.net/sub/1', good.p256dh, good.auth, /https/);
  await bad('https://127.0.0.1:9/sub', good.p256dh, good.auth, /private|loopback/);
  await bad('https://10.1.2.3/sub', good.p256dh, good.auth, /private|loopback/);
  await bad('https://[::1]/sub', good.p256dh, good.auth, /private|loopback/);
  await bad('https://localhost/sub', good.p256dh, good.auth, /private|loopback/);
  await bad('ftp://push.example.net/x', good.p256dh, good.auth, /http/);
  const ok = await api(strict, 'POST', '/v1/push/subscriptions', u.token, { endpoint: https, keys: { p256dh: good.p256dh, auth: good.auth } });
  assert.equal(ok.status, 201, JSON.stringify(ok.body));
  // The same endpoint again replaces its keys; a limit per user holds.
  const again = browserKeys();
  assert.equal((await api(strict, 'POST', '/v1/push/subscriptions', u.token, { endpoint: https, keys: { p256dh: again.p256dh, auth: again.auth } })).status, 201);
  for (let i = 2; i <= 20; i += 1) {
    const r = await api(strict, 'POST', '/v1/push/subscriptions', u.token, { endpoint: `https://push.example.net/sub/${i}`, keys: { p256dh: good.p256dh, auth: good.auth } });
    assert.equal(r.status, 201);
  }
  const over = await api(strict, 'POST', '/v1/push/subscriptions', u.token, { endpoint: 'https://push.example.net/sub/21', keys: { p256dh: good.p256dh, auth: good.auth } });
  assert.equal(over.status, 400);
  assert.match(over.body.error.message, /at most 20/);
  assert.equal((await api(strict, 'DELETE', '/v1/push/subscriptions', u.token, { endpoint: https })).status, 204);
  assert.equal((await api(strict, 'DELETE', '/v1/push/subscriptions', u.token, { endpoint: https })).status, 404);
  assert.equal((await api(strict, 'POST', '/v1/push/subscriptions', null, { endpoint: https, keys: { p256dh: good.p256dh, auth: good.auth } })).status, 401);
});
