// The SDK (web/sdk/parley.js) with no parleyd.
// - Folding of §5 change entries (MessageLog): a reference model of the
//   server's rules makes a random conversation, and the client is fed its
//   entries (text entries as served at random moments, change entries as
//   stored) in shuffled orders. Whatever the order, the client must end in
//   the server's final state.
// - Its edit/delete/react/reply requests against a scripted WebSocket
//   server built on the same model: frames, retries with the same
//   client_msg_id, refusals, unread and mentions_unread.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket, { WebSocketServer } from 'ws';
import { MessageLog, ParleyClient, foldText, memoryStore, mentionSpans, mentionedNames, normalizeEntry } from '../../web/sdk/parley.js';
import { until } from './lib/util.mjs';

const CONV = '7';
const USERS = [
  { id: '1', username: 'meg' },
  { id: '2', username: 'bob' },
  { id: '3', username: 'cyd.x' },
];
const ME = '1';
const EMOJI = ['👍', '❤️', '😂', '🎉'];

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

const mentionIds = (body) => {
  const names = new Set(mentionedNames(body));
  return USERS.filter((u) => names.has(u.username)).map((u) => u.id);
};

// The server's rules of §5, written independently of the SDK: per text
// entry the set of users holding each emoji, in first-added order.
class Model {
  constructor() {
    this.entries = [];
    this.texts = new Map();
    this.snapshots = new Map(); // text seq -> [served states, oldest first]
  }

  _entry(kind, sender, fields) {
    const e = { conv: CONV, seq: this.entries.length + 1, id: `e${this.entries.length + 1}`, sender, ts: 1000 + this.entries.length, client_msg_id: `c${this.entries.length + 1}`, kind, body: '', ...fields };
    this.entries.push(e);
    return e;
  }

  send(sender, body, replyTo = null, extra = {}) {
    const e = this._entry('text', sender, { body, ...extra });
    this.texts.set(e.seq, { seq: e.seq, id: e.id, sender, ts: e.ts, client_msg_id: e.client_msg_id, body, edited_ts: null, deleted: false, reactions: [], reply_to: replyTo, mentions: mentionIds(body), state_seq: e.seq });
    this._snap(e.seq);
    return e;
  }

  edit(target, body, extra = {}) {
    const t = this.texts.get(target);
    const e = this._entry('edit', t.sender, { target, body, ...extra });
    Object.assign(t, { body, edited_ts: e.ts, mentions: mentionIds(body), state_seq: e.seq });
    this._snap(target);
  }

  delete(target, by, extra = {}) {
    const t = this.texts.get(target);
    this._entry('delete', by, { target, ...extra });
    Object.assign(t, { body: '', deleted: true, reactions: [], mentions: [], state_seq: this.entries.length });
    this._snap(target);
  }

  react(target, user, emoji, op, extra = {}) {
    const t = this.texts.get(target);
    this._entry('reaction', user, { target, emoji, op, ...extra });
    let r = t.reactions.find((x) => x.emoji === emoji);
    if (op === 'add' && !r) t.reactions.push((r = { emoji, users: new Set() }));
    if (op === 'add') r.users.add(user);
    else if (r) {
      r.users.delete(user);
      if (!r.users.size) t.reactions = t.reactions.filter((x) => x !== r);
    }
    t.state_seq = this.entries.length;
    this._snap(target);
  }

  holds(target, user, emoji) {
    return !!this.texts.get(target).reactions.find((x) => x.emoji === emoji)?.users.has(user);
  }

  /** A text entry as served to `reader` (history, resume). */
  served(t, reader = ME) {
    return {
      conv: CONV, kind: 'text', seq: t.seq, id: t.id, sender: t.sender, ts: t.ts, client_msg_id: t.client_msg_id, body: t.body,
      edited_ts: t.edited_ts, deleted: t.deleted, reply_to: t.reply_to, mentions: [...t.mentions], attachments: [], state_seq: t.state_seq,
      reactions: t.reactions.map((r) => ({ emoji: r.emoji, count: r.users.size, me: r.users.has(reader) })),
    };
  }

  _snap(seq) {
    if (!this.snapshots.has(seq)) this.snapshots.set(seq, []);
    this.snapshots.get(seq).push(this.served(this.texts.get(seq)));
  }
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

// ------------------------------------------------------------------ requests against a scripted server

/**
 * A WebSocket server speaking the parts of protocol 1.1 the SDK uses, for
 * one conversation (CONV, members USERS) and the user ME, on a Model.
 * `ctl.onRequest(frame, ws)` may return 'drop' (store, then kill the socket
 * before answering: a lost `sent`) or an error {code, message} to refuse.
 */
async function scriptedServer(ctl = {}) {
  const model = new Model();
  const frames = [];
  const acks = new Map(); // client_msg_id -> sent answer (exactly-once)
  const sockets = new Set();
  let read_seq = 0;
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise((r) => wss.once('listening', r));
  const conversation = () => {
    const others = [...model.texts.values()].filter((t) => t.seq > read_seq && t.sender !== ME && !t.deleted);
    return {
      id: CONV, kind: 'group', title: 'team', member_count: USERS.length, last_seq: model.entries.length, read_seq,
      members: USERS.map((u, i) => ({ ...u, role: i === 0 ? 'owner' : 'member' })),
      unread: others.length, mentions_unread: others.filter((t) => t.mentions.includes(ME)).length,
    };
  };
  const asEvent = (e) => (e.kind === 'text' ? { type: 'message', ...model.served(model.texts.get(e.seq), null) } : { type: 'message', ...e });
  const broadcast = (e) => {
    for (const ws of sockets) ws.send(JSON.stringify(asEvent(e)));
  };
  const apply = (f, sender) => {
    const extra = { client_msg_id: f.client_msg_id };
    const t = f.seq != null ? model.texts.get(f.seq) : null;
    if (f.type !== 'send' && !t) return { code: 'not_found', message: 'no such message' };
    if (f.type === 'edit' && t.sender !== sender) return { code: 'forbidden', message: 'not your message' };
    if ((f.type === 'edit' || f.type === 'react') && t.deleted) return { code: 'bad_request', message: 'deleted' };
    if (f.type === 'send') model.send(sender, f.body, f.reply_to ?? null, extra);
    if (f.type === 'edit') model.edit(f.seq, f.body, extra);
    if (f.type === 'delete') model.delete(f.seq, sender, extra);
    if (f.type === 'react') model.react(f.seq, sender, f.emoji, f.op, extra);
    const e = model.entries.at(-1);
    if (sender === ME) read_seq = e.seq;
    return e;
  };
  wss.on('connection', (ws) => {
    ws.on('message', (data) => {
      const f = JSON.parse(data.toString());
      frames.push(f);
      const answer = (x) => ws.send(JSON.stringify({ re: f.id, ...x }));
      if (f.type === 'hello') {
        sockets.add(ws);
        answer({ type: 'welcome', user: { ...USERS[0], online: true, last_seen: null }, session: 's', heartbeat_ms: 25000, conversations: [conversation()] });
        const from = f.last_seq?.[CONV] ?? model.entries.length;
        for (const e of model.entries.slice(from)) ws.send(JSON.stringify(asEvent(e)));
        return;
      }
      if (['send', 'edit', 'delete', 'react'].includes(f.type)) {
        if (acks.has(f.client_msg_id)) return answer(acks.get(f.client_msg_id));
        const verdict = ctl.onRequest?.(f, ws);
        if (verdict && verdict !== 'drop') return answer({ type: 'error', ...verdict });
        const e = apply(f, ME);
        if (e.code) return answer({ type: 'error', ...e });
        const sent = { type: 'sent', conv: CONV, seq: e.seq, id: e.id, ts: e.ts };
        acks.set(f.client_msg_id, sent);
        if (verdict === 'drop') {
          // Stored, but this connection dies before its event or answer goes out.
          sockets.delete(ws);
          ws.terminate();
        }
        broadcast(e);
        if (verdict !== 'drop') answer(sent);
        return;
      }
      if (f.type === 'history') {
        const lo = f.after ?? 0;
        const hi = f.before ?? Infinity;
        const page = model.entries.filter((e) => e.seq > lo && e.seq < hi);
        const msgs = (f.after == null ? page.slice(-(f.limit ?? 50)) : page.slice(0, f.limit ?? 50)).map((e) => (e.kind === 'text' ? model.served(model.texts.get(e.seq)) : e));
        return answer({ type: 'history', conv: CONV, messages: msgs });
      }
      if (f.type === 'read') {
        read_seq = Math.max(read_seq, f.seq);
        return answer({ type: 'ok' });
      }
      if (f.type === 'presence') return answer({ type: 'presence', users: [] });
      if (f.type === 'ping') return answer({ type: 'pong', ts: Date.now() });
    });
    ws.on('close', () => sockets.delete(ws));
  });
  return {
    model,
    frames,
    /** Another member makes an entry; every connection gets its event. */
    by(sender, f) {
      const e = apply(f, sender);
      broadcast(e);
      return e;
    },
    client(opts = {}) {
      const session = { user: USERS[0], access_token: 't', refresh_token: 'r', expires_in: 3600 };
      return new ParleyClient({ baseUrl: `http://127.0.0.1:${wss.address().port}`, WebSocket, session, backoffMinMs: 20, backoffMaxMs: 100, ...opts });
    },
    close: () => new Promise((r) => wss.close(r)),
  };
}

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
