// PROTOCOL.md §2, "Client requests": each request and its answer, checked
// field by field, and that the request did what it says (a stored message,
// a moved read marker, a new member).
import {
  arrayField,
  check,
  checkConversation,
  checkMessages,
  checkPresence,
  eq,
  idField,
  intField,
  isTime,
  range,
  same,
  seqs,
  show,
} from '../lib/check.mjs';

const cases = [
  {
    key: 'send',
    title: 'send is answered {"re","type":"sent","conv","seq","id","ts"}; the message is stored',
    async run(ctx) {
      const [a, b] = await ctx.users(2);
      const g = await ctx.group(a, [b], 'send');
      const conn = await ctx.connect(a);
      const first = await conn.sendMessage(g.id, 'first', 'kit-send-1');
      const second = await conn.sendMessage(g.id, 'second ✓', 'kit-send-2');
      same([first.seq, second.seq], [1, 2], 'seqs of the first two messages');
      check(first.id !== second.id, `two messages with one id ${first.id}`);
      const stored = await ctx.messages(b, g.id);
      same(
        stored.map((m) => [m.conv, m.seq, m.id, m.sender, m.body, m.ts, m.client_msg_id]),
        [
          [g.id, 1, first.id, a.id, 'first', first.ts, 'kit-send-1'],
          [g.id, 2, second.id, a.id, 'second ✓', second.ts, 'kit-send-2'],
        ],
        'the stored messages (conv, seq, id, sender, body, ts, client_msg_id)',
      );
    },
  },
  {
    key: 'send-repeat',
    title: 'a send repeated with the same client_msg_id gets the first one\'s sent again, and stores nothing',
    async run(ctx) {
      const [a, b] = await ctx.users(2);
      const d = await ctx.dm(a, b);
      const conn = await ctx.connect(a);
      const first = await conn.sendMessage(d.id, 'once', 'kit-repeat');
      const again = await conn.sendMessage(d.id, 'once', 'kit-repeat');
      same([again.conv, again.seq, again.id, again.ts], [first.conv, first.seq, first.id, first.ts], 'the repeated sent: conv, seq, id, ts');
      const other = await ctx.connect(a); // after a reconnect too
      const third = await other.sendMessage(d.id, 'once', 'kit-repeat');
      same([third.seq, third.id, third.ts], [first.seq, first.id, first.ts], 'the repeat on a new connection: seq, id, ts');
      const next = await other.sendMessage(d.id, 'next');
      eq(next.seq, first.seq + 1, 'the next message\'s seq');
      same(seqs(await ctx.messages(b, d.id)), [1, 2], 'stored seqs');
    },
  },
  {
    key: 'history',
    title: 'history is answered {"re","type":"history","conv","messages"} with before, after and limit',
    async run(ctx) {
      const [a, b] = await ctx.users(2);
      const g = await ctx.group(a, [b], 'ws history');
      const ca = await ctx.connect(a);
      await ca.sendMany(g.id, 10, (i) => `h${i + 1}`);
      const cb = await ctx.connect(b);
      const ask = async (q, want) => {
        const h = await cb.expect({ type: 'history', conv: g.id, ...q }, 'history', `history ${show(q)}`);
        eq(idField(h, 'conv', 'history'), g.id, 'history.conv');
        const list = checkMessages(arrayField(h, 'messages', 'history'), `history ${show(q)}`);
        same(seqs(list), want, `history ${show(q)}: seqs`);
        return list;
      };
      const all = await ask({}, range(1, 10));
      same(all.map((m) => m.body), range(1, 10).map((i) => `h${i}`), 'history: bodies');
      await ask({ limit: 3 }, range(8, 10));
      await ask({ before: 5 }, range(1, 4));
      await ask({ before: 5, limit: 2 }, range(3, 4));
      await ask({ after: 7 }, range(8, 10));
      await ask({ after: 2, before: 6, limit: 2 }, range(3, 4));
    },
  },
  {
    key: 'read',
    title: 'read is answered {"re","type":"ok"} and moves the read marker',
    async run(ctx) {
      const [a, b] = await ctx.users(2);
      const d = await ctx.dm(a, b);
      await (await ctx.connect(a)).sendMany(d.id, 4);
      const cb = await ctx.connect(b);
      await cb.expect({ type: 'read', conv: d.id, seq: 3 }, 'ok', 'read');
      const c = await ctx.conversationOf(b, d.id);
      same([c?.read_seq, c?.unread], [3, 1], 'read_seq and unread after read');
    },
  },
  {
    key: 'create_group',
    title: 'create_group is answered {"re","type":"conversation","conversation":Conversation}',
    async run(ctx) {
      const [a, b, c] = await ctx.users(3);
      const conn = await ctx.connect(a);
      const ans = await conn.expect({ type: 'create_group', title: 'made over ws', members: [b.username, c.username] }, 'conversation', 'create_group');
      const g = checkConversation(ans.conversation, 'create_group.conversation');
      same([g.kind, g.title, g.member_count], ['group', 'made over ws', 3], 'kind, title, member_count');
      same(Object.fromEntries(g.members.map((m) => [m.id, m.role])), { [a.id]: 'owner', [b.id]: 'member', [c.id]: 'member' }, 'members and roles');
      eq((await ctx.conversationOf(c, g.id))?.title, 'made over ws', 'a member lists the new group');
    },
  },
  {
    key: 'dm',
    title: 'dm is answered {"re","type":"conversation","conversation":Conversation}, the pair\'s one DM',
    async run(ctx) {
      const [a, b] = await ctx.users(2);
      const conn = await ctx.connect(a);
      const ans = await conn.expect({ type: 'dm', username: b.username }, 'conversation', 'dm');
      const d = checkConversation(ans.conversation, 'dm.conversation');
      same([d.kind, d.title, d.member_count], ['dm', null, 2], 'kind, title, member_count');
      same(d.members.map((m) => m.id).sort(), [a.id, b.id].sort(), 'members');
      eq((await ctx.dm(b, a)).id, d.id, 'the DM over HTTP from the other side');
      const again = await conn.expect({ type: 'dm', username: b.username }, 'conversation', 'dm again');
      eq(again.conversation?.id, d.id, 'dm asked again');
    },
  },
  {
    key: 'add_member',
    title: 'add_member is answered {"re","type":"ok"}; the user is a member',
    async run(ctx) {
      const [a, b, c] = await ctx.users(3);
      const g = await ctx.group(a, [b], 'add');
      const conn = await ctx.connect(a);
      await conn.expect({ type: 'add_member', conv: g.id, username: c.username }, 'ok', 'add_member');
      const seen = await ctx.conversationOf(c, g.id);
      check(seen, 'the added user does not list the group');
      eq(seen.member_count, 3, 'member_count');
      eq(seen.members.find((m) => m.id === c.id)?.role, 'member', 'the new member\'s role');
    },
  },
  {
    key: 'remove_member',
    title: 'remove_member is answered {"re","type":"ok"}; the user is no member',
    async run(ctx) {
      const [a, b, c] = await ctx.users(3);
      const g = await ctx.group(a, [b, c], 'remove');
      const conn = await ctx.connect(a);
      await conn.expect({ type: 'remove_member', conv: g.id, username: c.username }, 'ok', 'remove_member');
      eq(await ctx.conversationOf(c, g.id), undefined, 'the removed user still lists the group');
      eq((await ctx.conversationOf(a, g.id))?.member_count, 2, 'member_count');
    },
  },
  {
    key: 'leave',
    title: 'leave is answered {"re","type":"ok"}; the user is no member',
    async run(ctx) {
      const [a, b] = await ctx.users(2);
      const g = await ctx.group(a, [b], 'leave');
      const conn = await ctx.connect(b);
      await conn.expect({ type: 'leave', conv: g.id }, 'ok', 'leave');
      eq(await ctx.conversationOf(b, g.id), undefined, 'the leaver still lists the group');
      eq((await ctx.conversationOf(a, g.id))?.member_count, 1, 'member_count');
    },
  },
  {
    key: 'presence',
    title: 'presence is answered {"re","type":"presence","users":[{user,username,online,last_seen}]}',
    async run(ctx) {
      const [a, b, c] = await ctx.users(3);
      // Online state is shown to those who share a conversation (1.1 §7).
      await ctx.dm(a, b);
      await ctx.dm(a, c);
      const ca = await ctx.connect(a);
      await ctx.connect(b);
      const ans = await ca.expect({ type: 'presence', users: [b.id, c.id] }, 'presence', 'presence');
      const users = arrayField(ans, 'users', 'presence');
      eq(users.length, 2, `presence.users: entries for 2 users (${show(users)})`);
      checkPresence(users.find((u) => u.user === b.id) ?? {}, b, true, 'presence of an online user');
      const off = users.find((u) => u.user === c.id) ?? {};
      // A user who never connected: offline, last_seen null or a time.
      eq(off.online, false, 'presence of a user who never connected: online');
      check(off.last_seen === null || isTime(off.last_seen), `presence.last_seen: expected null or a time, got ${show(off.last_seen)}`);
      eq(off.username, c.username, 'presence of an offline user: username');
    },
  },
  {
    key: 'ping',
    title: 'ping is answered {"re","type":"pong","ts"} with the server\'s time',
    async run(ctx) {
      const u = await ctx.user();
      const conn = await ctx.connect(u);
      const before = Date.now();
      const pong = await conn.expect({ type: 'ping' }, 'pong', 'ping');
      const ts = intField(pong, 'ts', 'pong');
      check(isTime(ts) && Math.abs(ts - before) < 60000, `pong.ts ${ts} is not the time now (${before})`);
    },
  },
];

export default { key: 'ws-requests', title: '§2 WebSocket: client requests', protocol: '1.0', cases };
