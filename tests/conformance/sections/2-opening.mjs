// PROTOCOL.md §2, "Opening": hello and welcome, the resume of missed
// messages (last_seq, "all", gap over resume_limit), the presence events
// that follow it, and the opening's close codes 4001 and 4003.
import {
  check,
  checkMessage,
  checkMessages,
  checkPresence,
  distinct,
  eq,
  fail,
  idField,
  intField,
  isObject,
  range,
  same,
  seqs,
  show,
} from '../lib/check.mjs';
import { sleep, tamper } from '../lib/client.mjs';

const isMessage = (conv) => (f) => isObject(f) && f.type === 'message' && f.re === undefined && f.conv === conv;

/**
 * Waits for the messages of `conv` from..to as events, in order, each
 * checked. Delivery is at least once: a repeated (conv, seq) is dropped, as
 * a client does.
 */
async function resumed(conn, conv, from, to, what, timeoutMs) {
  await conn.waitForMessages((f) => f.conv === conv, to - from + 1, `${what}: message events`, { timeoutMs });
  const got = distinct(conn.matching(isMessage(conv)));
  got.forEach((m, i) => checkMessage(m, `${what}: message event ${i}`));
  same(seqs(got), range(from, to), `${what}: seqs of the message events, in arrival order`);
  return got;
}

/** A close with `code` and nothing but the close: no welcome, no answer. */
async function expectClose(conn, code, what, timeoutMs) {
  const c = await conn.waitClose(timeoutMs, `close ${code} (${what})`);
  if (c.code !== code) fail(`${what}: expected close ${code}, got ${c.code} ${show(c.reason)}`);
  const answered = conn.frames.find((f) => isObject(f) && (f.type === 'welcome' || f.type === 'pong'));
  if (answered) fail(`${what}: the server answered ${show(answered)} before closing`);
  return c;
}

const cases = [
  {
    key: 'welcome',
    title: 'hello is answered by welcome: re, user, session, heartbeat_ms, conversations',
    async run(ctx) {
      const [a, b] = await ctx.users(2);
      const d = await ctx.dm(a, b);
      const g = await ctx.group(a, [b], 'welcome');
      await (await ctx.connect(a)).sendMany(g.id, 2);
      const conn = await ctx.open();
      const w = await conn.hello(b); // checks re, type, user, session, heartbeat_ms and every Conversation
      const byId = Object.fromEntries(w.conversations.map((c) => [c.id, c]));
      same(Object.keys(byId).sort(), [d.id, g.id].sort(), 'welcome.conversations: ids');
      const wg = byId[g.id];
      same([wg.kind, wg.title, wg.member_count, wg.last_seq, wg.read_seq, wg.unread], ['group', 'welcome', 2, 2, 0, 2], 'the group in welcome: kind, title, member_count, last_seq, read_seq, unread');
      same([byId[d.id].kind, byId[d.id].last_seq], ['dm', 0], 'the DM in welcome: kind, last_seq');
      ctx.note(`heartbeat_ms ${w.heartbeat_ms}`);
    },
  },
  {
    key: 'resume',
    title: 'after welcome, the messages past hello\'s last_seq arrive as message events in seq order',
    async run(ctx) {
      const [a, b] = await ctx.users(2);
      const g = await ctx.group(a, [b], 'resume');
      const sent = await (await ctx.connect(a)).sendMany(g.id, 5, (i) => `missed ${i + 1}`);
      const conn = await ctx.open();
      await conn.hello(b, { lastSeq: { [g.id]: 2 } });
      const got = await resumed(conn, g.id, 3, 5, 'resume from last_seq 2', ctx.timeout);
      got.forEach((m, i) => same([m.body, m.id, m.ts, m.sender], [`missed ${i + 3}`, sent[i + 2].id, sent[i + 2].ts, a.id], `resumed seq ${i + 3}: body, id, ts, sender`));
      const welcomeAt = conn.frames.findIndex((f) => f.type === 'welcome');
      const firstAt = conn.frames.findIndex(isMessage(g.id));
      check(welcomeAt < firstAt, 'the missed messages came before welcome');
      await conn.alive('after the resume');
      const older = conn.matching((f) => isMessage(g.id)(f) && f.seq <= 2);
      eq(older.length, 0, 'message events at or below last_seq');
    },
  },
  {
    key: 'resume-all',
    title: 'last_seq "all" resumes every conversation from seq 1; unnamed ones get only their summary',
    async run(ctx) {
      const [a, b] = await ctx.users(2);
      const d = await ctx.dm(a, b);
      const g = await ctx.group(a, [b], 'all');
      const ca = await ctx.connect(a);
      await ca.sendMany(d.id, 2);
      await ca.sendMany(g.id, 3);
      const all = await ctx.open();
      await all.hello(b, { lastSeq: 'all' });
      await resumed(all, d.id, 1, 2, 'last_seq "all", the DM', ctx.timeout);
      await resumed(all, g.id, 1, 3, 'last_seq "all", the group', ctx.timeout);
      // Named with its last seq: nothing is missed there, nothing is sent.
      const some = await ctx.open();
      const w = await some.hello(b, { lastSeq: { [d.id]: 2 } });
      same(w.conversations.find((c) => c.id === g.id)?.last_seq, 3, 'the unnamed group\'s summary: last_seq');
      await some.alive('after the hello');
      await sleep(500);
      const extra = some.matching((f) => isObject(f) && f.type === 'message');
      eq(extra.length, 0, `message events for a hello naming only an up-to-date DM (${show(extra)})`);
    },
  },
  {
    key: 'gap',
    title: 'more than resume_limit missed: gap {conv, from_seq, to_seq} first, then the newest resume_limit; history fills the gap',
    timeoutMs: 180000,
    async run(ctx) {
      const limit = ctx.opts.resumeLimit;
      const total = limit + 3;
      const per = Math.max(1, ctx.opts.sendBurst - 10);
      const senders = await ctx.users(Math.ceil(total / per));
      const reader = await ctx.user();
      const g = await ctx.group(senders[0], [...senders.slice(1), reader], 'gap');
      const conns = await Promise.all(senders.map((s) => ctx.connect(s)));
      // Senders one after another, so seqs and bodies line up.
      let done = 0;
      for (const c of conns) {
        const n = Math.min(per, total - done);
        const from = done;
        await c.sendMany(g.id, n, (i) => `gap ${from + i + 1}`);
        done += n;
      }
      const conn = await ctx.open();
      await conn.hello(reader, { lastSeq: { [g.id]: 0 } });
      const gap = await conn.waitFor((f) => isObject(f) && f.type === 'gap', 'a gap event', { timeoutMs: ctx.timeout });
      idField(gap, 'conv', 'gap');
      same([gap.conv, intField(gap, 'from_seq', 'gap'), intField(gap, 'to_seq', 'gap')], [g.id, 1, total - limit], 'gap: conv, from_seq, to_seq');
      const got = await resumed(conn, g.id, total - limit + 1, total, `resume of ${total} missed`, 60000);
      eq(got.at(-1).body, `gap ${total}`, 'the last resumed body');
      const gapAt = conn.frames.indexOf(gap);
      const firstAt = conn.frames.findIndex(isMessage(g.id));
      check(gapAt < firstAt, 'the gap event came after the resumed messages');
      const h = await conn.expect({ type: 'history', conv: g.id, after: 0, before: total - limit + 1 }, 'history', 'history of the gap');
      same(seqs(checkMessages(h.messages, 'history of the gap')), range(1, total - limit), 'history of the gap: seqs');
      ctx.note(`${total} missed, resume_limit ${limit}`);
    },
  },
  {
    key: 'presence-after-resume',
    title: 'after the missed messages, one presence event for each online presence contact',
    async run(ctx) {
      const [a, b] = await ctx.users(2);
      const d = await ctx.dm(a, b);
      const ca = await ctx.connect(a);
      await ca.sendMany(d.id, 2);
      const conn = await ctx.open();
      await conn.hello(b, { lastSeq: { [d.id]: 0 } });
      await resumed(conn, d.id, 1, 2, 'resume', ctx.timeout);
      const p = await conn.waitFor((f) => isObject(f) && f.type === 'presence' && f.re === undefined && f.user === a.id, 'a presence event for the online contact', { timeoutMs: ctx.timeout });
      checkPresence(p, a, true, 'presence');
      check(conn.frames.indexOf(p) > conn.frames.findLastIndex(isMessage(d.id)), 'the presence event came before the missed messages');
      await conn.alive('after the resume');
      eq(conn.matching((f) => isObject(f) && f.type === 'presence' && f.user === a.id).length, 1, 'presence events for the one online contact');
    },
  },
  {
    key: '4001-no-hello',
    title: 'no hello within the hello timeout: close 4001; a hello just in time is welcomed',
    timeoutMs: (opts) => opts.helloTimeoutMs + 30000,
    async run(ctx) {
      const limit = ctx.opts.helloTimeoutMs;
      const u = await ctx.user();
      const [silent, late] = await Promise.all([ctx.open(), ctx.open()]);
      const opened = Date.now();
      const closed = silent.waitClose(limit + ctx.timeout + 5000, 'close 4001 after the hello timeout');
      await sleep(Math.max(0, limit - 1500));
      await late.hello(u); // fails unless welcomed
      const c = await closed;
      if (c.code !== 4001) fail(`expected close 4001, got ${c.code} ${show(c.reason)}`);
      const after = c.at - opened;
      check(after >= limit - 1000, `closed ${after} ms after opening: the client has the full ${limit} ms`);
      ctx.note(`closed after ${after} ms`);
    },
  },
  {
    key: '4001-not-hello',
    title: 'a first frame that is not hello: close 4001',
    async run(ctx) {
      const ping = await ctx.open();
      ping.send({ id: 1, type: 'ping' });
      await expectClose(ping, 4001, 'a ping as the first frame', ctx.timeout);
      const text = await ctx.open();
      text.send('hello');
      await expectClose(text, 4001, 'a first frame that is not JSON', ctx.timeout);
    },
  },
  {
    key: '4003-bad-token',
    title: 'hello with a bad or tampered token: close 4003',
    async run(ctx) {
      const u = await ctx.user();
      const junk = await ctx.open();
      junk.send({ id: 1, type: 'hello', token: 'not-a-token' });
      await expectClose(junk, 4003, 'hello with "not-a-token"', ctx.timeout);
      const tampered = await ctx.open();
      tampered.send({ id: 1, type: 'hello', token: tamper(u.token) });
      await expectClose(tampered, 4003, 'hello with a tampered signature', ctx.timeout);
      // The genuine token is welcomed: the refusals were about the token.
      await ctx.connect(u);
    },
  },
];

export default { key: 'ws-open', title: '§2 WebSocket: opening', protocol: '1.0', cases };
