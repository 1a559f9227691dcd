// PROTOCOL.md §2, "Server events" and who gets them: message, read and
// member to every connection of every member (the actor's other
// connections included), typing to the other members only and at most once
// per interval, presence to presence contacts (one online per user, offline
// when the last connection closes).
import {
  check,
  checkMemberEvent,
  checkMessage,
  checkPresence,
  checkReadEvent,
  checkTypingEvent,
  eq,
  eventOf,
  same,
  show,
} from '../lib/check.mjs';
import { sleep } from '../lib/client.mjs';

const cases = [
  {
    key: 'message',
    title: 'message events reach every connection of every member, the sender\'s other connections included, and no one else',
    async run(ctx) {
      const [a, b, outsider] = await ctx.users(3);
      const g = await ctx.group(a, [b], 'events');
      const [a1, a2, b1, o1] = await Promise.all([ctx.connect(a), ctx.connect(a), ctx.connect(b), ctx.connect(outsider)]);
      const sent = await a1.sendMessage(g.id, 'to everyone', 'kit-event-1');
      for (const [conn, who] of [[a1, 'the sending connection'], [a2, 'the sender\'s other connection'], [b1, 'the other member']]) {
        const m = await conn.waitFor(eventOf('message', (f) => f.conv === g.id), `the message event at ${who}`, { timeoutMs: ctx.timeout });
        checkMessage(m, `message event at ${who}`);
        same([m.conv, m.seq, m.id, m.sender, m.body, m.ts, m.client_msg_id], [g.id, sent.seq, sent.id, a.id, 'to everyone', sent.ts, 'kit-event-1'], `message event at ${who}`);
      }
      await o1.alive('the outsider');
      await sleep(200);
      eq(o1.matching(eventOf('message')).length, 0, 'message events at a non-member');
    },
  },
  {
    key: 'presence',
    title: 'presence: online once per user, offline with last_seen when the last connection closes; to DM and small-group contacts only',
    async run(ctx) {
      const [a, b, c, stranger] = await ctx.users(4);
      await ctx.dm(a, b);
      await ctx.group(a, [c], 'small group');
      const a1 = await ctx.connect(a);
      const about = (u) => eventOf('presence', (f) => f.user === u.id);
      const b1 = await ctx.connect(b);
      checkPresence(await a1.waitFor(about(b), 'an online event for the DM contact', { timeoutMs: ctx.timeout }), b, true, 'presence (DM contact online)');
      const c1 = await ctx.connect(c);
      checkPresence(await a1.waitFor(about(c), 'an online event for the group contact', { timeoutMs: ctx.timeout }), c, true, 'presence (group contact online)');
      await ctx.connect(stranger);
      const b2 = await ctx.connect(b);
      b1.close();
      await b1.closed;
      await a1.alive('after b\'s second connection and first close');
      await sleep(500);
      same(a1.matching(about(b)).map((p) => p.online), [true], 'presence events for b while one connection stays');
      const closedAt = Date.now();
      b2.close();
      const off = await a1.waitFor((f) => about(b)(f) && f.online === false, 'an offline event after the last connection closed', { timeoutMs: ctx.timeout });
      checkPresence(off, b, false, 'presence (offline)');
      check(Math.abs(off.last_seen - closedAt) < 60000, `offline last_seen ${off.last_seen} is not near the close (${closedAt})`);
      c1.close();
      await a1.waitFor((f) => about(c)(f) && f.online === false, 'an offline event for the group contact', { timeoutMs: ctx.timeout });
      eq(a1.matching(about(stranger)).length, 0, 'presence events about a user who shares no conversation');
    },
  },
  {
    key: 'typing',
    title: 'typing reaches the other members only, at most once per interval',
    async run(ctx) {
      const [a, b] = await ctx.users(2);
      const g = await ctx.group(a, [b], 'typing');
      const [a1, a2, b1] = await Promise.all([ctx.connect(a), ctx.connect(a), ctx.connect(b)]);
      const isTyping = eventOf('typing', (f) => f.conv === g.id);
      const start = Date.now();
      a1.send({ type: 'typing', conv: g.id });
      checkTypingEvent(await b1.waitFor(isTyping, 'a typing event at the other member', { timeoutMs: ctx.timeout }), g.id, a, 'typing');
      a1.send({ type: 'typing', conv: g.id }); // within the interval: dropped
      await a1.alive('after typing');
      await a2.alive('the typist\'s other connection');
      await sleep(300);
      eq(b1.matching(isTyping).length, 1, 'typing events for two typings within the interval');
      eq(a1.matching(isTyping).length + a2.matching(isTyping).length, 0, 'typing events at the typist\'s own connections');
      await sleep(Math.max(0, ctx.opts.typingIntervalMs - (Date.now() - start)) + 300);
      a1.send({ type: 'typing', conv: g.id });
      await b1.waitForCount(isTyping, 2, 'typing events after the interval', { timeoutMs: ctx.timeout });
    },
  },
  {
    key: 'read',
    title: 'read events {conv, user, seq} reach every member, the reader\'s other connections included',
    async run(ctx) {
      const [a, b] = await ctx.users(2);
      const g = await ctx.group(a, [b], 'read events');
      const [a1, a2, b1] = await Promise.all([ctx.connect(a), ctx.connect(a), ctx.connect(b)]);
      await b1.sendMany(g.id, 3);
      await a1.expect({ type: 'read', conv: g.id, seq: 2 }, 'ok', 'read');
      const isRead = eventOf('read', (f) => f.conv === g.id && f.user === a.id);
      for (const [conn, who] of [[b1, 'the other member'], [a2, 'the reader\'s other connection']]) {
        checkReadEvent(await conn.waitFor(isRead, `a read event at ${who}`, { timeoutMs: ctx.timeout }), g.id, a, 2, `read event at ${who}`);
      }
    },
  },
  {
    key: 'member',
    title: 'member events: added, removed and left, to every member',
    async run(ctx) {
      const [a, b, c] = await ctx.users(3);
      const g = await ctx.group(a, [b], 'member events');
      const [a1, a2, b1, c1] = await Promise.all([ctx.connect(a), ctx.connect(a), ctx.connect(b), ctx.connect(c)]);
      const memberEvent = (u, action) => eventOf('member', (f) => f.conv === g.id && f.user === u.id && f.action === action);
      await a1.expect({ type: 'add_member', conv: g.id, username: c.username }, 'ok', 'add_member');
      for (const [conn, who] of [[b1, 'another member'], [a2, 'the actor\'s other connection'], [c1, 'the added user']]) {
        checkMemberEvent(await conn.waitFor(memberEvent(c, 'added'), `an added event at ${who}`, { timeoutMs: ctx.timeout }), g.id, c, 'added', `member event at ${who}`);
      }
      // The added user's connection follows the group now.
      const sent = await b1.sendMessage(g.id, 'hello c');
      const m = await c1.waitFor(eventOf('message', (f) => f.conv === g.id), 'the next message at the added user', { timeoutMs: ctx.timeout });
      eq(m.seq, sent.seq, 'the message the added user got');
      await a1.expect({ type: 'remove_member', conv: g.id, username: c.username }, 'ok', 'remove_member');
      for (const [conn, who] of [[b1, 'another member'], [a2, 'the actor\'s other connection']]) {
        checkMemberEvent(await conn.waitFor(memberEvent(c, 'removed'), `a removed event at ${who}`, { timeoutMs: ctx.timeout }), g.id, c, 'removed', `member event at ${who}`);
      }
      await b1.expect({ type: 'leave', conv: g.id }, 'ok', 'leave');
      for (const [conn, who] of [[a1, 'the owner'], [a2, 'the owner\'s other connection']]) {
        checkMemberEvent(await conn.waitFor(memberEvent(b, 'left'), `a left event at ${who}`, { timeoutMs: ctx.timeout }), g.id, b, 'left', `member event at ${who}`);
      }
      // Removed and left users get no more of the group's messages.
      await a1.sendMessage(g.id, 'after they went');
      await c1.alive('the removed user');
      await b1.alive('the user who left');
      await sleep(300);
      const late = [...c1.matching(eventOf('message', (f) => f.conv === g.id && f.seq > sent.seq)), ...b1.matching(eventOf('message', (f) => f.conv === g.id && f.seq > sent.seq))];
      eq(late.length, 0, `message events after removal or leaving (${show(late)})`);
    },
  },
];

export default { key: 'ws-events', title: '§2 WebSocket: server events and who gets them', protocol: '1.0', cases };
