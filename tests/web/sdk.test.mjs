// The JavaScript SDK (web/sdk/parley.js) against a real parleyd, in Node
// with the `ws` package: delivery, dropped connections mid-send, server
// restarts and crashes, gap filling, token refresh, membership events.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Server, speaksRich } from './lib/server.mjs';
import { Forwarder } from './lib/proxy.mjs';
import { newClient, record, connected, until, sleep, flakyWebSocket, uname, PASSWORD } from './lib/util.mjs';
import { ParleyClient } from '../../web/sdk/parley.js';
import WebSocket, { WebSocketServer } from 'ws';

let server;
let rich = false; // the server speaks protocol 1.1 §5
const clients = [];
const track = (c) => (clients.push(c), c);
const NOT_RICH = 'the server speaks protocol 1.0: no edit, delete, react or reply';

before(async () => {
  server = await new Server(['--limits.resume_limit', '5', '--limits.heartbeat_ms', '1000']).start();
  rich = await speaksRich(server);
});
after(async () => {
  for (const c of clients) c.close();
  await server?.dispose();
});

async function history(client, conv) {
  const r = await client.http('GET', `/v1/conversations/${conv}/messages?limit=500`);
  return r.messages;
}

function assertGapless(msgs, from = 1) {
  msgs.forEach((m, i) => assert.equal(m.seq, from + i, `seq ${from + i} at position ${i}`));
}

test('messages, typing, read and presence flow between two users', async () => {
  const a = track(await newClient(server));
  const b = track(await newClient(server));
  const la = record(a);
  const lb = record(b);
  await connected(a);
  await connected(b);
  const dm = await a.dm(b.username);
  assert.equal(dm.kind, 'dm');
  await a.send(dm.id, 'hello b');
  // b did not know the DM: the SDK learns it from the message.
  await until(() => lb.message.length === 1 && b.conversations.has(dm.id), 'b receives the first message');
  assert.equal(lb.message[0].body, 'hello b');
  assert.equal(b.conversations.get(dm.id).unread, 1);
  // b answers; a's ack and the event agree.
  const ack = await b.send(dm.id, 'hello a');
  assert.equal(ack.seq, 2);
  await until(() => la.message.length === 2, 'a receives the answer');
  assert.deepEqual(la.message.map((m) => m.seq), [1, 2]);
  // typing reaches the other side only.
  b.typing(dm.id);
  await until(() => la.typing.length === 1, 'typing event');
  assert.equal(la.typing[0].user, b.user.id);
  assert.equal(lb.typing.length, 0);
  // read marker: a reads seq 2; b sees the read event, a's badge clears.
  assert.equal(a.conversations.get(dm.id).unread, 1);
  a.markRead(dm.id, 2);
  assert.equal(a.conversations.get(dm.id).unread, 0);
  await until(() => lb.read.some((r) => r.user === a.user.id && r.seq === 2), 'read event');
  // presence: b goes away, a sees offline with last_seen.
  b.close();
  await until(() => la.presence.some((p) => p.user === b.user.id && p.online === false && p.last_seen), 'offline presence');
  assert.equal(a.users.get(b.user.id).online, false);
  await connected(b);
  await until(() => a.users.get(b.user.id).online === true, 'online again');
});

test('a connection dropped mid-send: every message is stored once, in order', async () => {
  const ctl = {};
  const a = track(await newClient(server, { WebSocketImpl: flakyWebSocket(ctl) }));
  const b = track(await newClient(server));
  const lb = record(b);
  await connected(a);
  await connected(b);
  const g = await a.createGroup('drops', [b.username]);
  let sends = 0;
  // After the 4th and 11th send frame, stop listening (the `sent` is lost)
  // and kill the socket, so the server stored a message the client never saw acknowledged.
  ctl.onSend = (ws, f) => {
    if (f.type !== 'send') return;
    sends += 1;
    if (sends === 4 || sends === 11) {
      ws.deaf = true;
      setTimeout(() => ws.kill(), 30);
    }
  };
  const N = 16;
  const acks = await Promise.all(Array.from({ length: N }, (_, i) => a.send(g.id, `m${i}`)));
  assert.deepEqual(acks.map((x) => x.seq), Array.from({ length: N }, (_, i) => i + 1));
  assert.ok(sends > N, `some sends were retried (${sends} send frames for ${N} messages)`);
  const stored = await history(a, g.id);
  assert.deepEqual(stored.map((m) => m.body), Array.from({ length: N }, (_, i) => `m${i}`));
  assertGapless(stored);
  await until(() => lb.message.length === N, 'b gets all');
  assert.deepEqual(lb.message.map((m) => m.body), stored.map((m) => m.body));
  assert.equal(a.outbox.length, 0);
});

test('network cut through a forwarder: sends queue, then go once on reconnect', async () => {
  const fwd = await new Forwarder(server.port).listen();
  try {
    const a = track(await newClient(server, { baseUrl: fwd.url }));
    const b = track(await newClient(server));
    const la = record(a);
    const lb = record(b);
    await connected(a);
    await connected(b);
    const dm = await a.dm(b.username);
    await a.send(dm.id, 'before');
    fwd.cut();
    await until(() => a.state !== 'connected', 'a notices the cut');
    const p = [a.send(dm.id, 'during 1'), a.send(dm.id, 'during 2')];
    await b.send(dm.id, 'from b while a is away');
    await until(() => a.state === 'offline', 'state goes offline after failed attempts', 8000);
    assert.equal(a.outbox.length, 2);
    fwd.restore();
    await until(() => a.state === 'connected', 'a reconnects', 8000);
    await Promise.all(p);
    await until(() => la.message.length === 4 && lb.message.length === 4, 'everyone has 4');
    assert.deepEqual(la.message.map((m) => m.seq), [1, 2, 3, 4]);
    assert.deepEqual(lb.message.map((m) => m.seq), [1, 2, 3, 4]);
    assert.deepEqual(lb.message.map((m) => m.body), ['before', 'from b while a is away', 'during 1', 'during 2']);
    const states = la.state.map((s) => s[0]);
    assert.ok(states.includes('reconnecting') && states.includes('offline'), states.join(','));
  } finally {
    await fwd.close();
  }
});

test('server restart and crash: clients reconnect, resume, and nothing is lost or doubled', async () => {
  const own = await new Server().start();
  try {
    const a = track(await newClient(own));
    const b = track(await newClient(own));
    const lb = record(b);
    await connected(a);
    await connected(b);
    const g = await a.createGroup('restarts', [b.username]);
    await a.send(g.id, 'one');
    await own.restart('SIGTERM');
    await until(() => a.state === 'connected' && b.state === 'connected', 'both back after a restart', 10000);
    await a.send(g.id, 'two');
    // Crash while a burst of sends is in flight.
    const burst = Array.from({ length: 30 }, (_, i) => a.send(g.id, `burst ${i}`));
    await sleep(5);
    await own.restart('SIGKILL');
    await Promise.all(burst);
    const stored = await history(a, g.id);
    assert.deepEqual(stored.map((m) => m.body), ['one', 'two', ...Array.from({ length: 30 }, (_, i) => `burst ${i}`)]);
    assertGapless(stored);
    await until(() => lb.message.length === 32, 'b resumes every message');
    assert.deepEqual(lb.message.map((m) => m.seq), stored.map((m) => m.seq));
  } finally {
    await own.dispose();
  }
});

test('resume past resume_limit: the gap event is filled with history', async () => {
  const a = track(await newClient(server));
  const b = track(await newClient(server));
  const lb = record(b);
  await connected(a);
  await connected(b);
  const g = await a.createGroup('gap', [b.username]);
  await a.send(g.id, 'seen');
  await until(() => lb.message.length === 1, 'b sees the first');
  b.close();
  const N = 40;
  for (let i = 0; i < N; i += 1) a.send(g.id, `missed ${i}`);
  await until(() => a.outbox.length === 0, 'a sent all');
  b.connect();
  await until(() => lb.message.length === N + 1, 'b has everything');
  assert.equal(lb.gap.length, 1, 'one gap event (resume_limit is 5)');
  assert.deepEqual(lb.gap[0], { conv: g.id, from_seq: 2, to_seq: N + 1 - 5 });
  assertGapless(lb.message);
  assert.equal(b.lastSeq(g.id), N + 1);
});

test('a lost live event is detected as a seq gap and filled', async () => {
  const ctl = {};
  const a = track(await newClient(server));
  const b = track(await newClient(server, { WebSocketImpl: flakyWebSocket(ctl) }));
  const lb = record(b);
  await connected(a);
  await connected(b);
  const g = await a.createGroup('lossy', [b.username]);
  // b's network loses the events of seq 2 and 3, and one event arrives twice.
  ctl.onReceive = (ws, f) => {
    if (f.type === 'message' && (f.seq === 2 || f.seq === 3)) return false;
    if (f.type === 'message' && f.seq === 4) setTimeout(() => ws.onmessage?.({ data: JSON.stringify(f) }), 10);
    return true;
  };
  for (let i = 1; i <= 5; i += 1) await a.send(g.id, `n${i}`);
  await until(() => lb.message.length === 5, 'b filled the gap');
  await sleep(50);
  assert.deepEqual(lb.message.map((m) => m.seq), [1, 2, 3, 4, 5]);
  assert.deepEqual(lb.message.map((m) => m.body), ['n1', 'n2', 'n3', 'n4', 'n5']);
});

test('access tokens are refreshed before they expire, and a refused token is rotated', async () => {
  const own = await new Server(['--auth.access_ttl_s', '3']).start();
  try {
    const a = track(await newClient(own));
    const b = track(await newClient(own));
    const la = record(a);
    const lb = record(b);
    await connected(a);
    await connected(b);
    const first = a.session.access_token;
    await until(() => a.session.access_token !== first, 'a refreshes on its own', 6000);
    // The rotated refresh token is single-use: the old one is refused.
    await sleep(3500); // the first access token is now expired
    const me = await a.http('GET', '/v1/me');
    assert.equal(me.username, a.username);
    // A reconnect after expiry works: the SDK holds a fresh token.
    const dm = await a.dm(b.username);
    a.reconnectNow();
    await until(() => a.state === 'connected', 'reconnected with a fresh token');
    await a.send(dm.id, 'still here');
    await until(() => lb.message.length === 1, 'b gets it');
    assert.equal(la.error.length, 0);

    // A client holding an expired access token: hello is refused with 4003,
    // the SDK rotates the tokens and gets in.
    const login = await fetch(`${own.url}/v1/auth/login`, {
      method: 'POST',
      body: JSON.stringify({ username: b.username, password: PASSWORD }),
    }).then((r) => r.json());
    const stale = { ...login, expires_at: Date.now() + 60000 }; // the client believes it is fresh
    await sleep(3200);
    const c = track(new ParleyClient({ baseUrl: own.url, WebSocket, session: stale, backoffMinMs: 50, backoffMaxMs: 200 }));
    c.connect();
    await until(() => c.state === 'connected', 'connected after a 4003 and a refresh', 8000);
    assert.notEqual(c.session.access_token, stale.access_token);
    // The old refresh token was consumed.
    await assert.rejects(c.http('POST', '/v1/auth/refresh', { refresh_token: stale.refresh_token }, { auth: false }), (e) => e.status === 401);
  } finally {
    await own.dispose();
  }
});

test('membership: added, removed and left users; unknown conversations are learnt', async () => {
  const a = track(await newClient(server));
  const b = track(await newClient(server));
  const c = track(await newClient(server));
  const lb = record(b);
  const lc = record(c);
  await connected(a);
  await connected(b);
  await connected(c);
  const g = await a.createGroup('team', [b.username]);
  await until(() => b.conversations.has(g.id), 'b learns the group from its member event');
  assert.equal(b.conversations.get(g.id).title, 'team');
  await a.send(g.id, 'welcome b');
  await a.addMember(g.id, c.username);
  await until(() => c.conversations.has(g.id), 'c added');
  assert.equal(c.conversations.get(g.id).member_count, 3);
  await until(() => b.conversations.get(g.id).member_count === 3, 'b sees c join');
  await a.send(g.id, 'welcome c');
  await until(() => lc.message.length === 1 && lb.message.length === 2, 'messages after the join');
  // c can page the history from before it joined.
  const older = await c.history(g.id, { before: 2 });
  assert.deepEqual(older.map((m) => m.body), ['welcome b']);
  await a.removeMember(g.id, c.username);
  // Removed by someone else: kept, marked removed (the app shows it read-only), until dismissed.
  await until(() => c.conversations.get(g.id)?.removed === 'removed', 'c removed');
  assert.ok(!c.conversations.get(g.id).members.some((m) => m.id === c.user.id));
  c.dismiss(g.id);
  assert.ok(!c.conversations.has(g.id));
  await b.leave(g.id);
  assert.ok(!b.conversations.has(g.id));
  await until(() => a.conversations.get(g.id).member_count === 1, 'a sees both go');
  assert.ok(lb.member.some((m) => m.action === 'added' && m.user === b.user.id));
  // A send to a conversation one is not in is refused for good.
  await assert.rejects(c.send(g.id, 'not a member'), (e) => e.code === 'forbidden');
  assert.equal(c.outbox[0].status, 'failed');
  c.discard(c.outbox[0].client_msg_id);
  assert.equal(c.outbox.length, 0);
});

test('the outbox survives a restart of the client (same client_msg_id, stored once)', async () => {
  const { memoryStore } = await import('../../web/sdk/parley.js');
  const store = memoryStore();
  const name = uname();
  const a = track(await newClient(server, { name, store }));
  const b = track(await newClient(server));
  await connected(a);
  const dm = await a.dm(b.username);
  a.close();
  // Queued while closed, persisted in the store, then the "page" goes away.
  a.send(dm.id, 'written offline');
  const id = a.outbox[0].client_msg_id;
  const a2 = track(new ParleyClient({ baseUrl: server.url, WebSocket, store, backoffMinMs: 50 }));
  assert.equal(a2.outbox.length, 1);
  assert.equal(a2.outbox[0].client_msg_id, id);
  await connected(a2);
  await until(() => a2.outbox.length === 0, 'sent after the restart');
  // The first instance wakes up too and retries the same id: still one message.
  await connected(a);
  await until(() => a.outbox.length === 0, 'first instance done');
  const stored = await history(a2, dm.id);
  assert.deepEqual(stored.map((m) => m.body), ['written offline']);
  assert.equal(stored[0].client_msg_id, id);
  assert.equal(PASSWORD.length > 8, true);
});

// A server that welcomes every hello and then closes the connection after
// `closeAfterMs` with 4009, as a server that cannot deliver a resume does.
// Returns the times at which connections opened.
async function welcomeThenClose(closeAfterMs) {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise((r) => wss.once('listening', r));
  const opened = [];
  wss.on('connection', (ws) => {
    opened.push(Date.now());
    ws.on('message', (data) => {
      const f = JSON.parse(data.toString());
      if (f.type !== 'hello') return;
      const user = { id: '1', username: 'slow', display_name: 'slow', online: true, last_seen: null };
      ws.send(JSON.stringify({ re: f.id, type: 'welcome', user, session: 'fake-1', heartbeat_ms: 25000, conversations: [] }));
      setTimeout(() => ws.close(4009, 'too slow a reader'), closeAfterMs);
    });
  });
  const session = { user: { id: '1', username: 'slow' }, access_token: 'token', refresh_token: 'refresh', expires_in: 3600 };
  return { wss, opened, url: `http://127.0.0.1:${wss.address().port}`, session };
}

// The reconnect delays the client chose (its `state` events say them), not
// wall-clock gaps: on a loaded machine timers slip, the choice does not.
function reconnectDelays(c) {
  const delays = [];
  c.on('state', (state, info) => {
    if (info && info.retryInMs !== undefined) delays.push(info.retryInMs);
  });
  return delays;
}

test('a connection closed soon after welcome does not reset the backoff: the delays grow', async () => {
  const fake = await welcomeThenClose(0);
  const c = track(new ParleyClient({ baseUrl: fake.url, WebSocket, session: fake.session, backoffMinMs: 50, backoffMaxMs: 5000, healthyAfterMs: 2000 }));
  const delays = reconnectDelays(c);
  try {
    c.connect();
    await until(() => fake.opened.length >= 6 && delays.length >= 5, 'six connections', 15000);
    // Attempt k waits between half and all of 50 ms * 2^k ("equal jitter"):
    // a backoff reset on every welcome would keep each under 50 ms.
    delays.slice(0, 5).forEach((d, k) =>
      assert.ok(d >= 25 * 2 ** k && d <= 50 * 2 ** k, `delay ${k} is ${d} ms, not in [${25 * 2 ** k}, ${50 * 2 ** k}]: ${delays.join(', ')}`));
  } finally {
    c.close();
    fake.wss.close();
  }
});

test('a connection that stayed healthy resets the backoff', async () => {
  const fake = await welcomeThenClose(300);
  const c = track(new ParleyClient({ baseUrl: fake.url, WebSocket, session: fake.session, backoffMinMs: 50, backoffMaxMs: 5000, healthyAfterMs: 100 }));
  const delays = reconnectDelays(c);
  try {
    c.connect();
    await until(() => fake.opened.length >= 6 && delays.length >= 5, 'six connections', 15000);
    // Each connection lived 300 ms, past healthyAfterMs: every reconnect is
    // a first attempt again (25..50 ms), where a growing backoff would wait
    // at least 200 ms by the fourth and 400 ms by the fifth.
    delays.slice(0, 5).forEach((d, k) => assert.ok(d >= 25 && d <= 50, `delay ${k} is ${d} ms, not a first attempt's: ${delays.join(', ')}`));
  } finally {
    c.close();
    fake.wss.close();
  }
});

// ------------------------------------------------------------------ protocol 1.1 §5

/** Two new users, connected (a's WebSocket class may be given). */
async function connectedPair(aOpts = {}) {
  const a = track(await newClient(server, aOpts));
  const b = track(await newClient(server));
  await connected(a);
  await connected(b);
  return [a, b];
}

const view = (m) => ({ seq: m.seq, body: m.body, deleted: m.deleted, edited: m.edited_ts != null, reply_to: m.reply_to, reactions: m.reactions, mentions: m.mentions, state_seq: m.state_seq });

test('§5: edit, delete, react and reply reach both users folded the same; history agrees', async (t) => {
  if (!rich) return t.skip(NOT_RICH);
  const [a, b] = await connectedPair();
  const g = await a.createGroup('rich', [b.username]);
  await until(() => b.conversations.has(g.id), 'b learns the group');
  const first = await b.send(g.id, `hi @${a.username.toUpperCase()}, lunch?`);
  const reply = await a.send(g.id, 'yes, noon', { replyTo: first.seq });
  await a.react(g.id, first.seq, '👍');
  await b.react(g.id, first.seq, '👍');
  await b.react(g.id, first.seq, '🎉');
  await a.edit(g.id, reply.seq, 'yes, 12:30');
  const doomed = await b.send(g.id, 'wrong chat');
  await b.delete(g.id, doomed.seq);
  await b.react(g.id, first.seq, '🎉', 'remove');
  const last = await a.react(g.id, reply.seq, '❤️');
  await until(() => a.lastSeq(g.id) === last.seq && b.lastSeq(g.id) === last.seq, 'both have every entry');

  const m1a = a.message(g.id, first.seq);
  assert.deepEqual(m1a.reactions, [{ emoji: '👍', count: 2, me: true }]);
  assert.deepEqual(m1a.mentions, [a.user.id], 'the mention is matched without regard to case');
  assert.deepEqual(a.message(g.id, reply.seq).reply_to, first.seq);
  assert.equal(a.message(g.id, reply.seq).body, 'yes, 12:30');
  assert.ok(a.message(g.id, reply.seq).edited_ts);
  assert.equal(b.message(g.id, doomed.seq).deleted, true);
  assert.equal(b.message(g.id, doomed.seq).body, '');
  // Both users fold to the same state, but for `me`; and a fresh client's
  // history (the server's folding, with `me` for that reader) agrees.
  const forReader = (msgs, withMe) => msgs.map((m) => ({ ...view(m), reactions: m.reactions.map((r) => ({ ...r, me: withMe ? r.me : undefined })) }));
  assert.deepEqual(forReader(a.messages(g.id), false), forReader(b.messages(g.id), false));
  const a2 = track(await newClient(server, { name: a.username, register: false }));
  const page = await a2.history(g.id, { after: 0 });
  assert.deepEqual(page.map((m) => m.kind), ['text', 'text', 'reaction', 'reaction', 'reaction', 'edit', 'text', 'delete', 'reaction', 'reaction']);
  assert.deepEqual(a2.messages(g.id).map(view), a.messages(g.id).map(view));
  const b2 = track(await newClient(server, { name: b.username, register: false }));
  await b2.history(g.id, { after: 0 });
  assert.deepEqual(b2.messages(g.id).map(view), b.messages(g.id).map(view));
});

test('§5: changes dropped mid-flight are stored once each; refusals are clear', async (t) => {
  if (!rich) return t.skip(NOT_RICH);
  const ctl = {};
  const [a, b] = await connectedPair({ WebSocketImpl: flakyWebSocket(ctl) });
  const g = await a.createGroup('drops §5', [b.username]);
  const theirs = await b.send(g.id, 'not yours to edit');
  const mine = await a.send(g.id, 'draft');
  // The first try of each change loses its answer and the connection.
  const seen = new Set();
  ctl.onSend = (ws, f) => {
    if (!['edit', 'react', 'delete'].includes(f.type) || seen.has(f.client_msg_id)) return;
    seen.add(f.client_msg_id);
    ws.deaf = true;
    setTimeout(() => ws.kill(), 30);
  };
  const acks = await Promise.all([a.edit(g.id, mine.seq, 'final'), a.react(g.id, theirs.seq, '👀'), a.react(g.id, mine.seq, '✅')]);
  ctl.onSend = null;
  const stored = (await a.http('GET', `/v1/conversations/${g.id}/messages?after=${mine.seq}`)).messages;
  assert.deepEqual(stored.map((m) => m.seq), acks.map((x) => x.seq), 'one entry per change');
  assert.deepEqual(stored.map((m) => m.kind), ['edit', 'reaction', 'reaction']);
  await assert.rejects(a.edit(g.id, theirs.seq, 'mine now'), (e) => e.code === 'forbidden');
  await assert.rejects(a.react(g.id, 9999, '👍'), (e) => e.code === 'not_found');
  await assert.rejects(a.send(g.id, 'answer', { replyTo: acks[1].seq }), (e) => e.code === 'not_found'); // a change entry is no target
  await a.delete(g.id, mine.seq);
  await assert.rejects(a.edit(g.id, mine.seq, 'again'), (e) => e.code === 'bad_request');
  assert.equal(a.outbox.length, 1, 'only the refused send stays, marked failed');
  assert.equal(a.outbox[0].status, 'failed');
});

test('§5: unread and mentions_unread follow the server', async (t) => {
  if (!rich) return t.skip(NOT_RICH);
  const [a, b] = await connectedPair();
  const g = await b.createGroup('counts', [a.username]);
  await until(() => a.conversations.has(g.id), 'a learns the group');
  const x = await b.send(g.id, `@${a.username} look`);
  await b.send(g.id, 'and this');
  await b.react(g.id, x.seq, '👍');
  const y = await b.send(g.id, 'gone soon');
  await b.delete(g.id, y.seq);
  await until(() => a.lastSeq(g.id) === y.seq + 1, 'a has every entry');
  const c = a.conversations.get(g.id);
  assert.deepEqual([c.unread, c.mentions_unread], [2, 1]);
  const fromServer = (await a.http('GET', '/v1/conversations')).conversations.find((z) => z.id === g.id);
  assert.deepEqual([fromServer.unread, fromServer.mentions_unread], [2, 1]);
  await b.edit(g.id, x.seq, 'never mind');
  await until(() => a.conversations.get(g.id).mentions_unread === 0, 'the edit took the mention away');
  a.markRead(g.id, x.seq);
  assert.equal(a.conversations.get(g.id).unread, 1);
});

test('§7: roles, group settings, bans, invites and blocks through the SDK', async () => {
  const a = track(await newClient(server));
  const b = track(await newClient(server));
  const c = track(await newClient(server));
  const lb = record(b);
  const lc = record(c);
  await connected(a);
  await connected(b);
  await connected(c);
  const g = await a.createGroup('crew', [b.username, c.username]);
  await until(() => b.conversations.has(g.id) && c.conversations.has(g.id), 'b and c learn the group');

  // A role change reaches the members' lists.
  await a.setRole(g.id, b.username, 'admin');
  const roleOf = (client, user) => client.conversations.get(g.id).members.find((m) => m.id === user.user.id)?.role;
  await until(() => roleOf(c, b) === 'admin', 'c sees b as admin');
  await assert.rejects(c.setRole(g.id, c.username, 'admin'), (e) => e.code === 'forbidden');

  // The admin sets the topic; everyone's conversation follows.
  await b.updateGroup(g.id, { topic: 'launch day' });
  await until(() => c.conversations.get(g.id).topic === 'launch day', 'c sees the topic');
  assert.equal(c.conversations.get(g.id).title, 'crew');

  // The admin bans c: c keeps the group read-only, marked banned; adding c back is refused.
  await b.ban(g.id, c.username);
  await until(() => c.conversations.get(g.id)?.removed === 'banned', 'c is told of the ban');
  assert.ok(lc.member.some((m) => m.action === 'banned' && m.user === c.user.id));
  await assert.rejects(a.addMember(g.id, c.username), (e) => e.code === 'forbidden');
  await b.unban(g.id, c.username);

  // An invite brings c back, once.
  const invite = await a.createInvite(g.id, { maxUses: 1, expiresInS: 600 });
  assert.equal(invite.max_uses, 1);
  const joined = await c.joinInvite(invite.code);
  assert.equal(joined.id, g.id);
  await until(() => c.conversations.get(g.id)?.removed === undefined, 'c is a member again');
  await assert.rejects(b.joinInvite(invite.code), (e) => e.code === 'not_found');

  // Ownership moves to b, the old owner becomes an admin.
  await a.transfer(g.id, b.username);
  await until(() => roleOf(c, b) === 'owner' && roleOf(c, a) === 'admin', 'c sees the new owner');
  // b's own connection hears it on its own time: c's view says nothing of it.
  await until(() => lb.member.some((m) => m.action === 'role' && m.role === 'owner' && m.user === b.user.id),
    'b hears it is the owner');

  // Blocks: listed for the blocker only; the blocked user cannot open a DM.
  await a.block(c.username);
  assert.deepEqual((await a.blocks()).map((u) => u.username), [c.username]);
  assert.deepEqual(await c.blocks(), []);
  await assert.rejects(c.dm(a.username), (e) => e.code === 'forbidden');
  await a.unblock(c.username);
  assert.equal((await c.dm(a.username)).kind, 'dm');
});

test('§7: updateMe sets the display name; the DM peer gets user_updated', async () => {
  const a = track(await newClient(server));
  const b = track(await newClient(server));
  const seen = [];
  b.on('user_updated', (u) => seen.push(u));
  await connected(a);
  await connected(b);
  await a.dm(b.username);
  const u = await a.updateMe({ displayName: 'Ann the First' });
  assert.equal(u.display_name, 'Ann the First');
  assert.equal(a.user.display_name, 'Ann the First');
  await until(() => seen.some((e) => e.user === a.user.id && e.display_name === 'Ann the First'), 'user_updated at the peer');
  assert.equal(seen.find((e) => e.user === a.user.id && e.display_name === 'Ann the First').username, a.username);
  assert.equal(b.users.get(a.user.id).display_name, 'Ann the First');
  await assert.rejects(a.updateMe({ displayName: '' }), (e) => e.code === 'bad_request');
});

test('§6: search finds entries newest first, pages with next, and refuses a malformed q', async () => {
  const a = track(await newClient(server));
  const b = track(await newClient(server));
  await connected(a);
  const g = await a.createGroup('s', [b.username]);
  for (const body of ['deploy one', 'lunch', 'deploy two', 'Deploying three']) await a.send(g.id, body);
  const first = await b.search('deploy*', { limit: 2 });
  assert.deepEqual(first.results.map((m) => m.body), ['Deploying three', 'deploy two']);
  assert.equal(first.results[0].kind, 'text');
  assert.equal(first.results[0].conv, g.id);
  assert.ok(first.next);
  const rest = await b.search('deploy*', { limit: 2, cursor: first.next });
  assert.deepEqual(rest.results.map((m) => m.body), ['deploy one']);
  assert.equal(rest.next, null);
  assert.deepEqual((await b.search('"deploy two"', { conv: g.id })).results.map((m) => m.seq), [3]);
  await assert.rejects(b.search('"unclosed'), (e) => e.code === 'bad_request');
  const c = track(await newClient(server));
  await assert.rejects(c.search('deploy', { conv: g.id }), (e) => e.code === 'forbidden');
  assert.deepEqual((await c.search('deploy')).results, []);
});

test('§7 administration and §8 bots through the SDK', async () => {
  const adminName = uname();
  const own = await new Server(['--admin.users', adminName]).start();
  try {
    const admin = await newClient(own, { name: adminName });
    const a = await newClient(own);
    const b = await newClient(own);
    await connected(a);
    await connected(b);
    const g = await a.createGroup('ops', [b.username]);
    const sent = await a.send(g.id, 'to be removed');
    await until(() => b.conversations.has(g.id), 'b learns the group');

    const page = await admin.adminUsers({ limit: 2 });
    assert.equal(page.users.length, 2);
    assert.ok(page.next);
    assert.equal(typeof page.users[0].disabled, 'boolean');
    const stats = await admin.adminStats();
    assert.equal(stats.users, 3);
    await assert.rejects(a.adminStats(), (e) => e.code === 'forbidden');

    await admin.adminDeleteMessage(g.id, sent.seq);
    const history = await b.history(g.id);
    assert.equal(history.find((m) => m.seq === sent.seq)?.deleted, true);

    await admin.adminDisable(b.username);
    await assert.rejects(b.login(b.username, PASSWORD), (e) => e.code === 'forbidden');
    await admin.adminEnable(b.username);
    await b.login(b.username, PASSWORD);

    const made = await a.createBot(`${a.username}_bot`.slice(0, 32), { displayName: 'Ops bot' });
    assert.match(made.token, /^pbot_/);
    assert.equal(made.bot.bot, true);
    assert.deepEqual((await a.bots()).map((u) => u.display_name), ['Ops bot']);
    await a.deleteBot(made.bot.username);
    assert.deepEqual(await a.bots(), []);
    for (const c of [admin, a, b]) c.close();
  } finally {
    await own.stop();
  }
});
