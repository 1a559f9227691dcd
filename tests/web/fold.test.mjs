// The SDK's folding of §5 change entries (web/sdk/parley.js, MessageLog),
// with no server: a reference model of the server's rules makes a random
// conversation, and the client is fed its entries (text entries as served
// at random moments, change entries as stored) in shuffled orders. Whatever
// the order, the client must end in the server's final state.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MessageLog, foldText, mentionSpans, mentionedNames, normalizeEntry } from '../../web/sdk/parley.js';

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

  send(sender, body, replyTo = null) {
    const e = this._entry('text', sender, { body });
    this.texts.set(e.seq, { seq: e.seq, id: e.id, sender, ts: e.ts, client_msg_id: e.client_msg_id, body, edited_ts: null, deleted: false, reactions: [], reply_to: replyTo, mentions: mentionIds(body), state_seq: e.seq });
    this._snap(e.seq);
    return e;
  }

  edit(target, body) {
    const t = this.texts.get(target);
    const e = this._entry('edit', t.sender, { target, body });
    Object.assign(t, { body, edited_ts: e.ts, mentions: mentionIds(body), state_seq: e.seq });
    this._snap(target);
  }

  delete(target, by) {
    const t = this.texts.get(target);
    this._entry('delete', by, { target });
    Object.assign(t, { body: '', deleted: true, reactions: [], mentions: [], state_seq: this.entries.length });
    this._snap(target);
  }

  react(target, user, emoji, op) {
    const t = this.texts.get(target);
    this._entry('reaction', user, { target, emoji, op });
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
