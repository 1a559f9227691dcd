// The SDK (web/sdk/parley.js) with no parleyd.
// - Folding of §5 change entries (MessageLog): a reference model of the
//   server's rules makes a random conversation, and the client is fed its
//   entries (text entries as served at random moments, change entries as
//   stored) in shuffled orders. Whatever the order, the client must end in
//   the server's final state.
// - upload(): its request, progress and cancelling, with a stand-in XMLHttpRequest.
// - Its edit/delete/react/reply requests against a scripted WebSocket
//   server built on the same model: frames, retries with the same
//   client_msg_id, refusals, unread and mentions_unread.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MessageLog, ParleyClient, foldText, memoryStore, mentionSpans, mentionedNames, normalizeEntry } from '../../web/sdk/parley.js';
import { until } from './lib/util.mjs';
import { CONV, DM, USERS, ME, EMOJI, Model, mentionIds, scriptedServer, scriptedWebServer } from './lib/model.mjs';

// A small deterministic PRNG (mulberry32), so a failure names its seed.
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const pick = (r, xs) => xs[Math.floor(r() * xs.length)];
function shuffle(r, xs) {
  const a = [...xs];
  for (let i = a.length - 1; i > 0; i -= 1) {
    const j = Math.floor(r() * (i + 1));
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a;
}

/**
 * A random conversation. Others only make changes that change something
 * (as their clients do); the reader also repeats adds and removes, which
 * the server stores as entries that change nothing but state_seq.
 */
function scenario(seed, steps = 60) {
  const r = rng(seed);
  const m = new Model();
  for (let i = 0; i < steps; i += 1) {
    const live = [...m.texts.values()].filter((t) => !t.deleted);
    const op = live.length < 2 ? 0 : r();
    const user = pick(r, USERS).id;
    if (op < 0.25) {
      const who = pick(r, USERS.filter((u) => u.id !== user)).username;
      m.send(user, r() < 0.5 ? `hi @${who}. #${i}` : `plain ${i}`, live.length && r() < 0.3 ? pick(r, live).seq : null);
    } else if (op < 0.4) {
      const t = pick(r, live);
      m.edit(t.seq, r() < 0.5 ? `edited @${pick(r, USERS).username}- ${i}` : `edited ${i}`);
    } else if (op < 0.47) {
      const t = pick(r, live);
      m.delete(t.seq, r() < 0.8 ? t.sender : pick(r, USERS).id);
    } else {
      const t = pick(r, live);
      const emoji = pick(r, EMOJI);
      const has = m.holds(t.seq, user, emoji);
      const addOp = user === ME ? (r() < 0.6 ? 'add' : 'remove') : has ? 'remove' : 'add';
      m.react(t.seq, user, emoji, addOp);
    }
  }
  return m;
}

// What the client is given: every change entry as stored, and each text
// entry as served at one or two random moments (a history page, a resume).
function feed(m, r) {
  const items = m.entries.filter((e) => e.kind !== 'text').map((e) => ({ ...e }));
  for (const snaps of m.snapshots.values()) {
    items.push(structuredClone(pick(r, snaps)));
    if (r() < 0.3) items.push(structuredClone(pick(r, snaps)));
  }
  return shuffle(r, items);
}

const view = (x) => x && { seq: x.seq, body: x.body, deleted: x.deleted, edited_ts: x.edited_ts, reactions: x.reactions, mentions: x.mentions, reply_to: x.reply_to, state_seq: x.state_seq };

test('shuffled pages and events: every order ends in the server state', () => {
  for (let seed = 1; seed <= 150; seed += 1) {
    const m = scenario(seed);
    const want = new Map([...m.texts.values()].map((t) => [t.seq, view(m.served(t))]));
    for (let round = 0; round < 8; round += 1) {
      const r = rng(seed * 1000 + round);
      const log = new MessageLog({ userId: ME, mentionsOf: mentionIds });
      for (const e of feed(m, r)) log.add(e);
      for (const [seq, w] of want) assert.deepEqual(view(log.get(seq)), w, `seed ${seed} round ${round} seq ${seq}`);
      assert.deepEqual(log.list().map((x) => x.seq), [...want.keys()].sort((a, b) => a - b));
    }
  }
});

test('a change at or below the state_seq is not applied twice', () => {
  const m = new Model();
  m.send('2', 'hello');
  m.react(1, '3', '👍', 'add');
  m.react(1, ME, '👍', 'add');
  const log = new MessageLog({ userId: ME });
  log.add(m.served(m.texts.get(1))); // state_seq 3: both reactions folded
  for (const e of m.entries.slice(1)) assert.equal(log.add(e), null, `seq ${e.seq} is already folded`);
  assert.deepEqual(log.get(1).reactions, [{ emoji: '👍', count: 2, me: true }]);
  // A newer change applies; an older snapshot is ignored.
  m.react(1, '2', '👍', 'add');
  assert.equal(log.add(m.entries[3]).reactions[0].count, 3);
  assert.equal(log.add(m.snapshots.get(1)[0]), null);
  assert.equal(log.get(1).state_seq, 4);
});

test('changes held before their text entry arrives are folded into it', () => {
  const m = new Model();
  m.send('2', 'hi @meg');
  m.edit(1, 'hi again');
  m.react(1, '3', '🎉', 'add');
  const log = new MessageLog({ userId: ME, mentionsOf: mentionIds });
  assert.equal(log.add(m.entries[2]), null);
  assert.equal(log.add(m.entries[1]), null);
  const f = log.add(m.snapshots.get(1)[0]); // the original, state_seq 1
  assert.deepEqual(view(f), view(m.served(m.texts.get(1))));
  assert.equal(f.body, 'hi again');
  assert.deepEqual(f.mentions, []);
  assert.ok(f.edited_ts);
});

test('me: from the served state, and for live reaction entries from their sender', () => {
  const m = new Model();
  m.send('2', 'x');
  m.react(1, ME, '❤️', 'add');
  const log = new MessageLog({ userId: ME });
  log.add(m.served(m.texts.get(1)));
  assert.deepEqual(log.get(1).reactions, [{ emoji: '❤️', count: 1, me: true }]);
  m.react(1, '2', '❤️', 'add');
  m.react(1, ME, '❤️', 'add'); // already held: stored, changes nothing but state_seq
  m.react(1, ME, '❤️', 'remove');
  for (const e of m.entries.slice(2)) log.add(e);
  assert.deepEqual(log.get(1).reactions, [{ emoji: '❤️', count: 1, me: false }]);
  assert.equal(log.get(1).state_seq, 5);
  // Someone else's redundant add, seen from the start, changes nothing.
  m.react(1, '2', '❤️', 'add');
  log.add(m.entries[5]);
  assert.deepEqual(log.get(1).reactions, [{ emoji: '❤️', count: 1, me: false }]);
});

test('a delete clears body, reactions and mentions; later changes do not revive it', () => {
  const m = new Model();
  m.send(ME, 'bye @bob');
  m.react(1, '2', '👍', 'add');
  m.delete(1, ME);
  m.delete(1, ME); // deleting again is allowed and changes nothing
  const log = new MessageLog({ userId: ME, mentionsOf: mentionIds });
  for (const e of [m.entries[3], m.snapshots.get(1)[0], m.entries[1], m.entries[2]]) log.add(e);
  assert.deepEqual(view(log.get(1)), { seq: 1, body: '', deleted: true, edited_ts: null, reactions: [], mentions: [], reply_to: null, state_seq: 4 });
});

test('pending changes show on top of the folded state without moving state_seq', () => {
  const base = normalizeEntry({ conv: CONV, seq: 3, id: 'x', sender: ME, body: 'typo', ts: 1 });
  const f = foldText(base, [
    { kind: 'edit', body: 'fixed', sender: ME, pending: true },
    { kind: 'reaction', emoji: '👍', op: 'add', sender: ME, pending: true },
  ], { userId: ME });
  assert.equal(f.body, 'fixed');
  assert.equal(f.state_seq, 3);
  assert.equal(f.pending, true);
  assert.deepEqual(f.reactions, [{ emoji: '👍', count: 1, me: true }]);
  assert.equal(base.body, 'typo', 'the base is not modified');
});

test('mentions: case-folded, ending at a non-username character, trailing . and - dropped', () => {
  assert.deepEqual(mentionedNames('Hi @Bob, and @cyd.x. Mail a@b.c or @meg- @zz @BOB'), ['bob', 'cyd.x', 'b.c', 'meg']);
  assert.deepEqual(mentionSpans('(@alice)'), [{ start: 1, end: 7, username: 'alice' }]);
  assert.deepEqual(mentionSpans('@@bob'), [{ start: 1, end: 5, username: 'bob' }]);
});

const requestsOf = (frames, cmid) => frames.filter((f) => f.client_msg_id === cmid);

test('edit, delete, react and reply: their frames, exactly once across lost answers, folded for the app', async () => {
  const dropped = new Set();
  const srv = await scriptedServer({
    // The first try of every request is stored but its `sent` is lost with the connection.
    onRequest: (f) => (dropped.has(f.client_msg_id) ? undefined : (dropped.add(f.client_msg_id), 'drop')),
  });
  const c = srv.client();
  const updates = [];
  c.on('update', (m) => updates.push(m.seq));
  try {
    c.connect();
    await until(() => c.connected, 'connected');
    srv.by('2', { type: 'send', body: 'lunch @meg?' });
    await until(() => c.message(CONV, 1), 'the first message');
    const reply = c.send(CONV, 'yes, at noon', { replyTo: 1 });
    const react = c.react(CONV, 1, '👍');
    const edit = c.edit(CONV, 2, 'yes, at 12:30');
    const acks = await Promise.all([reply, react, edit]);
    assert.deepEqual(acks.map((a) => a.seq), [2, 3, 4]);
    const del = await c.delete(CONV, 2);
    assert.equal(del.seq, 5);
    // Each was sent twice (the lost answer), with one client_msg_id, and stored once.
    for (const p of [reply, react, edit]) assert.equal(requestsOf(srv.frames, p.clientMsgId).length, 2);
    assert.equal(srv.model.entries.length, 5);
    const f = (cmid) => requestsOf(srv.frames, cmid)[0];
    assert.deepEqual(
      [f(reply.clientMsgId), f(react.clientMsgId), f(edit.clientMsgId)].map(({ id: _id, ...x }) => x),
      [
        { type: 'send', conv: CONV, client_msg_id: reply.clientMsgId, body: 'yes, at noon', reply_to: 1 },
        { type: 'react', conv: CONV, client_msg_id: react.clientMsgId, seq: 1, emoji: '👍', op: 'add' },
        { type: 'edit', conv: CONV, client_msg_id: edit.clientMsgId, seq: 2, body: 'yes, at 12:30' },
      ],
    );
    await until(() => c.message(CONV, 2)?.deleted, 'the delete folded');
    assert.deepEqual(c.messages(CONV).map(view), [...srv.model.texts.values()].map((t) => view(srv.model.served(t))));
    assert.deepEqual(c.message(CONV, 1).reactions, [{ emoji: '👍', count: 1, me: true }], 'me from the live entry');
    assert.equal(c.outbox.length, 0);
    assert.ok(updates.includes(1) && updates.includes(2));
  } finally {
    c.close();
    await srv.close();
  }
});

test('changes queued offline show at once, go on reconnect, and survive a client restart', async () => {
  const srv = await scriptedServer();
  const store = memoryStore();
  const c = srv.client({ store });
  try {
    c.connect();
    await until(() => c.connected, 'connected');
    srv.by('2', { type: 'send', body: 'first' });
    srv.by(ME, { type: 'send', body: 'tpyo' });
    await until(() => c.message(CONV, 2), 'both messages');
    c.close();
    c.react(CONV, 1, '🎉');
    c.edit(CONV, 2, 'typo');
    // Shown before the server has them: pending, state_seq unmoved.
    assert.deepEqual(c.message(CONV, 1).reactions, [{ emoji: '🎉', count: 1, me: true }]);
    assert.equal(c.message(CONV, 2).body, 'typo');
    assert.equal(c.message(CONV, 2).pending, true);
    assert.equal(c.message(CONV, 2).state_seq, 2);
    assert.deepEqual(store.get(`outbox:${ME}`).map((i) => i.type), ['react', 'edit']);
    // A second client on the same store (a reloaded page) sends them, once.
    const c2 = srv.client({ store });
    c2.connect();
    await until(() => c2.outbox.length === 0 && c2.connected, 'sent after the restart');
    c.connect();
    await until(() => c.outbox.length === 0, 'the first instance is done too');
    assert.equal(srv.model.entries.length, 4);
    assert.equal(srv.model.served(srv.model.texts.get(2)).body, 'typo');
    await until(() => c.message(CONV, 2)?.state_seq === 4 && !c.message(CONV, 2).pending, 'confirmed');
    c2.close();
  } finally {
    c.close();
    await srv.close();
  }
});

test('a refused change rejects and leaves the outbox; bad arguments are refused locally', async () => {
  const srv = await scriptedServer();
  const c = srv.client();
  try {
    c.connect();
    await until(() => c.connected, 'connected');
    srv.by('2', { type: 'send', body: 'not yours' });
    await until(() => c.message(CONV, 1), 'message');
    await assert.rejects(c.edit(CONV, 1, 'mine now'), (e) => e.code === 'forbidden');
    assert.equal(c.outbox.length, 0);
    assert.equal(c.message(CONV, 1).body, 'not yours', 'the optimistic edit is gone');
    const sent = srv.frames.length;
    await assert.rejects(c.react(CONV, 1, '👍', 'toggle'), (e) => e.code === 'bad_request');
    await assert.rejects(c.react(CONV, 1, 'x'.repeat(33)), (e) => e.code === 'bad_request');
    await assert.rejects(c.edit(CONV, 0, 'x'), (e) => e.code === 'bad_request');
    await assert.rejects(c.send(CONV, 'x', { replyTo: 'one' }), (e) => e.code === 'bad_request');
    assert.equal(srv.frames.length, sent, 'nothing went out');
  } finally {
    c.close();
    await srv.close();
  }
});

test('unread and mentions_unread: others’ live text entries only, less deleted ones, cleared by reading', async () => {
  const srv = await scriptedServer();
  srv.model.send('2', 'before you came');
  const c = srv.client();
  try {
    c.connect();
    await until(() => c.connected, 'connected');
    const conv = () => c.conversations.get(CONV);
    assert.deepEqual([conv().unread, conv().mentions_unread], [1, 0], 'the server’s counts at welcome');
    srv.by('2', { type: 'send', body: 'hey @MEG.' });
    srv.by('3', { type: 'send', body: 'and @bob' });
    await until(() => conv().last_seq === 3, 'two more');
    assert.deepEqual([conv().unread, conv().mentions_unread], [3, 1]);
    srv.by('3', { type: 'react', seq: 2, emoji: '👍', op: 'add' });
    srv.by('2', { type: 'edit', seq: 2, body: 'hey all' });
    await until(() => conv().last_seq === 5, 'changes');
    assert.deepEqual([conv().unread, conv().mentions_unread], [3, 0], 'changes never count; the edit took the mention away');
    srv.by('3', { type: 'delete', seq: 3 });
    await until(() => conv().last_seq === 6, 'a delete');
    assert.deepEqual([conv().unread, conv().mentions_unread], [2, 0], 'a deleted message no longer counts');
    await c.history(CONV, { after: 0 });
    c.markRead(CONV, 1);
    assert.deepEqual([conv().unread, conv().mentions_unread], [1, 0]);
    await c.react(CONV, 2, '❤️'); // any entry of mine reads up to it
    assert.deepEqual([conv().unread, conv().read_seq], [0, 7]);
  } finally {
    c.close();
    await srv.close();
  }
});

test('read receipts: every member’s read_seq from read events and their own entries, kept across a restart', async () => {
  const srv = await scriptedServer();
  const store = memoryStore();
  const c = srv.client({ store });
  try {
    c.connect();
    await until(() => c.connected, 'connected');
    const mine = await c.send(CONV, 'who is in?');
    assert.deepEqual(c.readersOf(CONV, mine.seq), [], 'nobody yet');
    srv.read('2', CONV, mine.seq);
    await until(() => c.readersOf(CONV, mine.seq).length === 1, 'bob read it');
    assert.deepEqual(c.readersOf(CONV, mine.seq), ['2']);
    srv.read('2', CONV, 1); // markers never go back
    srv.by('3', { type: 'send', body: 'me' }); // writing reads up to it
    await until(() => c.readersOf(CONV, mine.seq).length === 2, 'cyd.x by writing');
    assert.equal(c.readSeqOf(CONV, '2'), mine.seq);
    assert.equal(c.readSeqOf(CONV, '3'), mine.seq + 1);
    assert.deepEqual(c.readersOf(CONV, mine.seq + 1), ['3']);
    await until(() => store.get(`reads:${ME}`)?.[CONV]?.['3'] === mine.seq + 1, 'saved');
    const again = srv.client({ store });
    assert.deepEqual(again.readSeqOf(CONV, '2'), mine.seq, 'a reloaded client knows what the first learnt');
    again.close();
  } finally {
    c.close();
    await srv.close();
  }
});

// §8 integrations: the SDK's calls and what it keeps of them.

test('webhooks: add shows the secret once, list has none, delete; a URL that is not http(s) is refused locally', async () => {
  const srv = await scriptedWebServer();
  const c = srv.client();
  try {
    const w = await c.createWebhook(CONV, 'https://hooks.example/parley');
    assert.deepEqual(w, { id: 'w1', url: 'https://hooks.example/parley', secret: 's1' });
    assert.deepEqual(await c.webhooks(CONV), [{ id: 'w1', url: 'https://hooks.example/parley', failing_since: null }]);
    const calls = srv.http.length;
    for (const bad of ['ftp://x.example/', 'hooks.example', '', null]) {
      await assert.rejects(c.createWebhook(CONV, bad), (e) => e.code === 'bad_request');
    }
    assert.equal(srv.http.length, calls, 'nothing went out');
    await c.deleteWebhook(CONV, w.id);
    assert.deepEqual(await c.webhooks(CONV), []);
    await assert.rejects(c.deleteWebhook(CONV, w.id), (e) => e.code === 'not_found' && e.status === 404);
    assert.deepEqual(
      srv.http.filter((x) => x.path.includes('/webhooks')).map((x) => [x.method, x.path, x.body]),
      [
        ['POST', `/v1/conversations/${CONV}/webhooks`, { url: 'https://hooks.example/parley' }],
        ['GET', `/v1/conversations/${CONV}/webhooks`, {}],
        ['DELETE', `/v1/conversations/${CONV}/webhooks/w1`, {}],
        ['GET', `/v1/conversations/${CONV}/webhooks`, {}],
        ['DELETE', `/v1/conversations/${CONV}/webhooks/w1`, {}],
      ],
    );
  } finally {
    c.close();
    await srv.stop();
  }
});

test('push: the VAPID key; a PushSubscription or its JSON is registered; unsubscribe by endpoint or subscription', async () => {
  const srv = await scriptedWebServer();
  const c = srv.client();
  try {
    assert.equal(await c.vapidPublicKey(), srv.VAPID);
    const json = { endpoint: 'https://push.example/a', expirationTime: null, keys: { p256dh: 'BKey', auth: 'Auth' } };
    // What a browser's PushSubscription looks like: its keys come out of toJSON().
    const browserSub = { endpoint: 'https://push.example/b', getKey: () => new ArrayBuffer(65), toJSON: () => ({ ...json, endpoint: 'https://push.example/b' }) };
    await c.subscribePush(json);
    await c.subscribePush(browserSub);
    assert.deepEqual([...srv.pushSubs.keys()], ['https://push.example/a', 'https://push.example/b']);
    assert.deepEqual(srv.http.filter((x) => x.method === 'POST').map((x) => x.body), [
      { endpoint: 'https://push.example/a', keys: { p256dh: 'BKey', auth: 'Auth' } },
      { endpoint: 'https://push.example/b', keys: { p256dh: 'BKey', auth: 'Auth' } },
    ], 'only endpoint and keys go to the server');
    const calls = srv.http.length;
    await assert.rejects(c.subscribePush({ endpoint: 'https://push.example/c', keys: { p256dh: 'x' } }), (e) => e.code === 'bad_request');
    await assert.rejects(c.subscribePush({ endpoint: 'mailto:x', keys: { p256dh: 'x', auth: 'y' } }), (e) => e.code === 'bad_request');
    await assert.rejects(c.subscribePush(null), (e) => e.code === 'bad_request');
    await assert.rejects(c.unsubscribePush(''), (e) => e.code === 'bad_request');
    assert.equal(srv.http.length, calls, 'nothing went out');
    await c.unsubscribePush('https://push.example/a');
    await c.unsubscribePush(browserSub);
    assert.equal(srv.pushSubs.size, 0);
    assert.deepEqual(srv.http.filter((x) => x.method === 'DELETE').map((x) => [x.path, x.body]), [
      ['/v1/push/subscriptions', { endpoint: 'https://push.example/a' }],
      ['/v1/push/subscriptions', { endpoint: 'https://push.example/b' }],
    ]);
  } finally {
    c.close();
    await srv.stop();
  }
});

test('notification levels: defaults, setNotify over the socket, kept across a reconnect; notifies() follows the level', async () => {
  const srv = await scriptedWebServer({ dm: true });
  const c = srv.client();
  const seen = [];
  c.on('conversation', (x) => seen.push([x.id, x.notify]));
  try {
    c.connect();
    await until(() => c.connected, 'connected');
    assert.equal(c.notifyLevel(CONV), 'mentions', 'groups: mentions by default');
    assert.equal(c.notifyLevel(DM), 'all', 'DMs: all by default');
    assert.equal(c.notifyLevel('nope'), null);
    const msg = (conv, sender, body, extra = {}) => ({ kind: 'text', conv, seq: 9, sender, body, mentions: body.includes('@meg') ? [ME] : [], ...extra });
    assert.equal(c.notifies(msg(CONV, '2', 'lunch?')), false, 'mentions: a plain group message stays quiet');
    assert.equal(c.notifies(msg(CONV, '2', 'lunch @meg?')), true);
    assert.equal(c.notifies(msg(DM, '2', 'hi')), true);
    assert.equal(c.notifies(msg(DM, ME, 'my own')), false, 'never your own');
    assert.equal(c.notifies({ kind: 'reaction', conv: DM, seq: 9, sender: '2', target: 1, emoji: '👍' }), false, 'changes never notify');
    assert.equal(c.notifies(msg(DM, '2', '', { deleted: true })), false);

    await c.setNotify(CONV, 'all');
    await c.setNotify(DM, 'none');
    const sent = srv.frames.filter((f) => f.type === 'notify').map(({ id: _id, ...f }) => f);
    assert.deepEqual(sent, [{ type: 'notify', conv: CONV, level: 'all' }, { type: 'notify', conv: DM, level: 'none' }]);
    assert.deepEqual([srv.notifyOf(CONV), srv.notifyOf(DM)], ['all', 'none']);
    assert.deepEqual(seen, [[CONV, 'all'], [DM, 'none']], 'each change announced');
    assert.equal(c.notifies(msg(CONV, '2', 'lunch?')), true);
    assert.equal(c.notifies(msg(DM, '2', 'hi @meg')), false, 'none: not even a mention');

    const before = srv.frames.length;
    await assert.rejects(c.setNotify(CONV, 'loud'), (e) => e.code === 'bad_request');
    assert.equal(srv.frames.length, before, 'a bad level is refused locally');
    await assert.rejects(c.setNotify('404', 'all'), (e) => e.code === 'not_found');

    // Whatever this client holds, the next welcome's notify wins (another device may have changed it).
    let welcomes = 0;
    c.on('welcome', () => (welcomes += 1));
    c.conversations.get(CONV).notify = 'stale';
    srv.drop();
    await until(() => welcomes === 1, 'back');
    assert.equal(c.notifyLevel(CONV), 'all', 'the welcome’s notify wins');
  } finally {
    c.close();
    await srv.stop();
  }
});

test('a bot: useApiKey signs in with the key (bearer and hello), never refreshes it, and reports it refused', async () => {
  const srv = await scriptedWebServer();
  const c = srv.client({ session: null, store: memoryStore() });
  const lost = [];
  c.on('auth_lost', (e) => lost.push(e.code));
  try {
    await assert.rejects(c.useApiKey('not-a-key'), (e) => e.status === 401);
    assert.equal(c.session, null, 'a refused key leaves no session');
    const me = await c.useApiKey(srv.token);
    assert.equal(me.id, ME);
    assert.equal(c.user.id, ME);
    assert.equal(c.store.get('session') ?? null, null, 'the key is not stored');
    c.connect();
    await until(() => c.connected, 'connected with the key');
    assert.equal(srv.frames.find((f) => f.type === 'hello').token, srv.token);
    assert.equal(srv.http.filter((x) => x.path === '/v1/auth/refresh').length, 0);
    srv.revoke();
    await until(() => lost.length === 1, 'auth_lost');
    assert.deepEqual(lost, ['unauthorized']);
    assert.equal(srv.http.filter((x) => x.path === '/v1/auth/refresh').length, 0, 'a key is never refreshed');
    assert.equal(c.state, 'closed');
  } finally {
    c.close();
    await srv.stop();
  }
});

test('upload: progress from XMLHttpRequest, the Upload on success, and an aborted signal cancels it', { timeout: 10000 }, async () => {
  const made = [];
  // A stand-in XMLHttpRequest: records what is sent; the test plays the server.
  class FakeXHR {
    constructor() {
      this.headers = {};
      this.upload = {};
      made.push(this);
    }
    open(method, url) {
      Object.assign(this, { method, url });
    }
    setRequestHeader(k, v) {
      this.headers[k] = v;
    }
    send(body) {
      this.body = body;
    }
    abort() {
      this.aborted = true;
      this.onabort?.();
    }
  }
  const session = { access_token: 'tok', refresh_token: 'r', expires_in: 3600, user: { id: 'u1', username: 'ann' } };
  const client = new ParleyClient({ baseUrl: 'http://parley.test', XMLHttpRequest: FakeXHR, session });
  const seen = [];
  const bytes = new Uint8Array(1000);
  const done = client.upload(bytes, { name: 'a b.txt', contentType: 'text/plain', onProgress: (p) => seen.push(p) });
  await until(() => made.length === 1, 'the request');
  const x = made[0];
  assert.equal(x.method, 'POST');
  assert.equal(x.url, 'http://parley.test/v1/uploads?name=a%20b.txt');
  assert.equal(x.headers.Authorization, 'Bearer tok');
  assert.equal(x.headers['Content-Type'], 'text/plain');
  x.upload.onprogress({ loaded: 400, total: 1000, lengthComputable: true });
  Object.assign(x, { status: 201, responseText: JSON.stringify({ upload: { id: 'up1', name: 'a b.txt', content_type: 'text/plain', size: 1000, sha256: 'ab' } }) });
  x.onload();
  assert.equal((await done).id, 'up1');
  assert.deepEqual(seen, [{ loaded: 400, total: 1000 }, { loaded: 1000, total: 1000 }]);

  // Aborted while sending: the request is aborted and the promise rejects with `aborted`.
  const ctl = new AbortController();
  const cut = client.upload(bytes, { name: 'b.bin', signal: ctl.signal });
  await until(() => made.length === 2, 'the second request');
  ctl.abort();
  await assert.rejects(cut, (e) => e.code === 'aborted');
  assert.equal(made[1].aborted, true);
  // Aborted before it starts: no request at all.
  await assert.rejects(client.upload(bytes, { name: 'c.bin', signal: ctl.signal }), (e) => e.code === 'aborted');
  assert.equal(made.length, 2);
  // A 413 is too_large, with the server's words.
  const big = client.upload(bytes, { name: 'd.bin' });
  await until(() => made.length === 3, 'the third request');
  Object.assign(made[2], { status: 413, responseText: JSON.stringify({ error: { code: 'too_large', message: 'uploads are at most 10 bytes' } }) });
  made[2].onload();
  await assert.rejects(big, (e) => e.code === 'too_large' && /at most 10 bytes/.test(e.message));
});
