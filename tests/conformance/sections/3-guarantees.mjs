// PROTOCOL.md §3, the guarantees that can be seen from outside: one seq
// order for every member, gapless, the ts of sent equal to the message's, no
// seq used up by a failed request, exactly-once storage per (sender,
// client_msg_id), and presence that converges when connections go away.
// (Durability across a crash needs the server's process: not checked here.)
import { check, checkPresence, distinct, eq, eventOf, fail, range, same, seqs, show } from '../lib/check.mjs';
import { sleep } from '../lib/client.mjs';

/** The message events of `conv` at `conn`, de-duplicated by seq as a client does. */
const distinctMessages = (conn, conv) => distinct(conn.matching(eventOf('message', (m) => m.conv === conv)));

const cases = [
  {
    key: 'one-order',
    title: 'concurrent senders: every member sees one gapless seq order, equal to history; sent.ts is the message\'s ts',
    async run(ctx) {
      const senders = await ctx.users(3);
      const readers = await ctx.users(2);
      const g = await ctx.group(senders[0], [...senders.slice(1), ...readers], 'order');
      const readerConns = await Promise.all([...readers, readers[0]].map((r) => ctx.connect(r)));
      const senderConns = await Promise.all(senders.map((s) => ctx.connect(s)));
      const per = 40;
      const acks = (await Promise.all(senderConns.map((c, k) => c.sendMany(g.id, per, (i) => `s${k} m${i}`)))).flat();
      const total = senders.length * per;
      same(acks.map((a) => a.seq).sort((x, y) => x - y), range(1, total), 'the seqs of every sent');
      const stored = await ctx.messages(readers[0], g.id, '?limit=500');
      same(seqs(stored), range(1, total), 'stored seqs');
      const bySeq = new Map(stored.map((m) => [m.seq, m]));
      for (const a of acks) {
        const m = bySeq.get(a.seq);
        same([m.id, m.ts], [a.id, a.ts], `seq ${a.seq}: sent's id and ts against the stored message`);
      }
      for (const [i, conn] of readerConns.entries()) {
        await conn.waitForMessages((m) => m.conv === g.id, total, `message events at reader connection ${i}`, { timeoutMs: 30000 });
        const got = distinctMessages(conn, g.id);
        same(seqs(got), range(1, total), `reader connection ${i}: seqs in arrival order, duplicates dropped`);
        got.forEach((m) => same([m.id, m.ts, m.body], [bySeq.get(m.seq).id, bySeq.get(m.seq).ts, bySeq.get(m.seq).body], `reader connection ${i}, seq ${m.seq}: id, ts, body`));
      }
    },
  },
  {
    key: 'failed-uses-no-seq',
    title: 'a failed request never uses up a seq',
    async run(ctx) {
      const [a, b, outsider] = await ctx.users(3);
      const g = await ctx.group(a, [b], 'no holes');
      const conn = await ctx.connect(a);
      const out = await ctx.connect(outsider);
      eq((await conn.sendMessage(g.id, 'one')).seq, 1, 'the first seq');
      const refusals = [
        [conn, { type: 'send', conv: g.id, client_msg_id: 'kit-hole-1', body: 'x'.repeat(ctx.opts.maxBodyBytes + 1) }, 'too_large'],
        [conn, { type: 'send', conv: g.id, client_msg_id: 'kit-hole-2', body: '' }, 'bad_request'],
        [out, { type: 'send', conv: g.id, client_msg_id: 'kit-hole-3', body: 'not a member' }, 'forbidden'],
      ];
      for (const [c, frame, code] of refusals) await c.refused(frame, code, `a send refused as ${code}`);
      eq((await conn.sendMessage(g.id, 'two')).seq, 2, 'the seq after three refused sends');
      same(seqs(await ctx.messages(b, g.id)), [1, 2], 'stored seqs');
    },
  },
  {
    key: 'exactly-once',
    title: 'the same client_msg_id sent at once on two connections is stored once; every answer is the same',
    async run(ctx) {
      const [a, b] = await ctx.users(2);
      const d = await ctx.dm(a, b);
      const [a1, a2, b1] = await Promise.all([ctx.connect(a), ctx.connect(a), ctx.connect(b)]);
      const frame = { type: 'send', conv: d.id, client_msg_id: 'kit-once', body: 'only once' };
      const answers = await Promise.all([a1, a2, a1, a2, a1].map((c) => c.request(frame)));
      answers.forEach((x, i) => check(x.type === 'sent', `answer ${i}: expected sent, got ${show(x)}`));
      const keys = new Set(answers.map((x) => `${x.seq}/${x.id}/${x.ts}`));
      eq(keys.size, 1, `distinct (seq, id, ts) among 5 answers (${[...keys].join(', ')})`);
      same(seqs(await ctx.messages(b, d.id)), [1], 'stored seqs');
      await b1.waitFor(eventOf('message', (m) => m.conv === d.id), 'the message event', { timeoutMs: ctx.timeout });
      await b1.alive('the receiver');
      await sleep(200);
      eq(distinctMessages(b1, d.id).length, 1, 'distinct messages the receiver saw');
    },
  },
  {
    key: 'presence-converges',
    title: 'a contact whose connection goes silent is shown offline within 2 heartbeats',
    timeoutMs: (opts) => Math.max(120000, opts.caseTimeoutMs),
    async run(ctx) {
      const [a, b] = await ctx.users(2);
      await ctx.dm(a, b);
      const a1 = await ctx.connect(a);
      const b1 = await ctx.connect(b);
      const hb = b1.welcome.heartbeat_ms;
      if (hb > 60000) fail(`heartbeat_ms ${hb}: over a minute, this case would take too long`);
      const about = (online) => eventOf('presence', (f) => f.user === b.id && f.online === online);
      await a1.waitFor(about(true), 'the online event', { timeoutMs: ctx.timeout });
      // b's device vanishes: no close, no more reads (so no pongs), no writes.
      const silentAt = Date.now();
      b1.socket.pause();
      const off = await a1.waitFor(about(false), `an offline event within 2 heartbeats (${2 * hb} ms)`, { timeoutMs: 3 * hb + ctx.timeout });
      const after = Date.now() - silentAt;
      checkPresence(off, b, false, 'presence (offline)');
      const bound = 2 * hb + 1000;
      check(after <= bound, `offline came ${after} ms after the connection went silent: over 2 heartbeats (${2 * hb} ms) and 1 s of slack`);
      ctx.note(`offline after ${after} ms (heartbeat ${hb} ms)`);
    },
  },
];

export default { key: 'guarantees', title: '§3 Guarantees', protocol: '1.0', cases };
