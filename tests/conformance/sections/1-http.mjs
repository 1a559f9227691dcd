// PROTOCOL.md §1: the HTTP API. Each call's answer is checked field by
// field, and each error by its status, code and body shape.
import {
  arrayField,
  check,
  checkConversation,
  checkHttpError,
  checkMember,
  checkSession,
  checkUser,
  eq,
  expectStatus,
  fail,
  range,
  same,
  seqs,
  show,
} from '../lib/check.mjs';
import { PASSWORD, missingId, tamper } from '../lib/client.mjs';

const register = (ctx, body) => ctx.http('POST', '/v1/auth/register', { body });
const login = (ctx, username, password) => ctx.http('POST', '/v1/auth/login', { body: { username, password } });

const cases = [
  {
    key: 'register',
    title: 'POST /v1/auth/register answers 201 Session; the access token works',
    async run(ctx) {
      const username = ctx.username();
      const res = await register(ctx, { username, password: PASSWORD, display_name: 'Conformance Kit' });
      const s = checkSession(expectStatus(res, 201, 'register'), 'Session');
      eq(s.user.username, username, 'Session.user.username');
      eq(s.user.display_name, 'Conformance Kit', 'Session.user.display_name');
      const me = await ctx.http('GET', '/v1/me', { token: s.access_token });
      eq(checkUser(expectStatus(me, 200, 'GET /v1/me with the new token'), 'User').id, s.user.id, 'GET /v1/me: id');
    },
  },
  {
    key: 'register-folding',
    title: 'usernames fold upper case: ALICE is alice (409 on register, logs in as her)',
    async run(ctx) {
      const lower = ctx.username();
      const res = await register(ctx, { username: lower.toUpperCase(), password: PASSWORD });
      const s = checkSession(expectStatus(res, 201, `register ${lower.toUpperCase()}`), 'Session');
      eq(s.user.username, lower, 'Session.user.username (folded)');
      checkHttpError(await register(ctx, { username: lower, password: PASSWORD }), 'conflict', `register ${lower} again`);
      const again = await login(ctx, lower.toUpperCase(), PASSWORD);
      eq(checkSession(expectStatus(again, 200, 'login in upper case'), 'Session').user.id, s.user.id, 'login in upper case: user.id');
    },
  },
  {
    key: 'register-rules',
    title: 'usernames 3..32 of [a-z0-9_.-], passwords 8..1024 bytes: 400 bad_request outside',
    async run(ctx) {
      const bad = [
        [{ username: 'ab', password: PASSWORD }, 'a 2-character username'],
        [{ username: `${ctx.username()}${'x'.repeat(32)}`.slice(0, 33), password: PASSWORD }, 'a 33-character username'],
        [{ username: `${ctx.username()}!`, password: PASSWORD }, 'a username with "!"'],
        [{ username: `${ctx.username()} x`, password: PASSWORD }, 'a username with a space'],
        [{ username: ctx.username(), password: 'ééé' + 'a' }, 'a 7-byte password'],
        [{ username: ctx.username(), password: 'a'.repeat(1025) }, 'a 1025-byte password'],
        [{ username: ctx.username() }, 'no password'],
        [{ password: PASSWORD }, 'no username'],
      ];
      for (const [body, what] of bad) checkHttpError(await register(ctx, body), 'bad_request', `register with ${what}`);
      // The bounds themselves are accepted; passwords count bytes, not characters.
      const longest = `${ctx.username()}_`.padEnd(32, 'z');
      const good = [
        [{ username: longest, password: PASSWORD }, 'a 32-character username'],
        [{ username: ctx.username(), password: 'éééé' }, 'an 8-byte password of 4 characters'],
        [{ username: ctx.username(), password: 'p'.repeat(1024) }, 'a 1024-byte password'],
      ];
      for (const [body, what] of good) checkSession(expectStatus(await register(ctx, body), 201, `register with ${what}`), `register with ${what}`);
    },
  },
  {
    key: 'login',
    title: 'POST /v1/auth/login answers 200 Session; wrong password and unknown user: the same 401',
    async run(ctx) {
      const u = await ctx.user();
      const ok = checkSession(expectStatus(await login(ctx, u.username, PASSWORD), 200, 'login'), 'Session');
      eq(ok.user.id, u.id, 'login: Session.user.id');
      const wrong = checkHttpError(await login(ctx, u.username, `${PASSWORD}x`), 'unauthorized', 'login with a wrong password');
      const unknown = checkHttpError(await login(ctx, ctx.username(), PASSWORD), 'unauthorized', 'login as an unknown user');
      same(unknown, wrong, 'unknown user and wrong password: the same answer');
    },
  },
  {
    key: 'refresh',
    title: 'POST /v1/auth/refresh answers 200 Session; an unknown or used refresh token: 401',
    async run(ctx) {
      const u = await ctx.user();
      const res = await ctx.http('POST', '/v1/auth/refresh', { body: { refresh_token: u.refresh } });
      const s = checkSession(expectStatus(res, 200, 'refresh'), 'Session');
      eq(s.user.id, u.id, 'refresh: Session.user.id');
      const me = await ctx.http('GET', '/v1/me', { token: s.access_token });
      eq(checkUser(expectStatus(me, 200, 'GET /v1/me with the refreshed token'), 'User').id, u.id, 'GET /v1/me: id');
      // The used token cannot be used again; an unknown one never works.
      const used = await ctx.http('POST', '/v1/auth/refresh', { body: { refresh_token: u.refresh } });
      if (used.status === 200 && s.refresh_token === u.refresh) fail('refresh: the token did not change, so it is not single-use');
      checkHttpError(used, 'unauthorized', 'refresh with a used token');
      checkHttpError(await ctx.http('POST', '/v1/auth/refresh', { body: { refresh_token: `unknown-${u.refresh}` } }), 'unauthorized', 'refresh with an unknown token');
    },
  },
  {
    key: 'me',
    title: 'GET /v1/me answers 200 User; no token or a bad one: 401',
    async run(ctx) {
      const u = await ctx.user({ displayName: 'Me Myself' });
      const me = checkUser(expectStatus(await ctx.http('GET', '/v1/me', { token: u.token }), 200, 'GET /v1/me'), 'User');
      same([me.id, me.username, me.display_name], [u.id, u.username, 'Me Myself'], 'GET /v1/me: id, username, display_name');
      checkHttpError(await ctx.http('GET', '/v1/me'), 'unauthorized', 'GET /v1/me without a token');
      checkHttpError(await ctx.http('GET', '/v1/me', { token: 'not-a-token' }), 'unauthorized', 'GET /v1/me with a bad token');
      checkHttpError(await ctx.http('GET', '/v1/me', { token: tamper(u.token) }), 'unauthorized', 'GET /v1/me with a tampered token');
    },
  },
  {
    key: 'users',
    title: 'GET /v1/users/{username} answers 200 User; an unknown one: 404',
    async run(ctx) {
      const [a, b] = await ctx.users(2);
      const res = await ctx.http('GET', `/v1/users/${b.username}`, { token: a.token });
      const user = checkUser(expectStatus(res, 200, 'GET /v1/users/{username}'), 'User');
      same([user.id, user.username], [b.id, b.username], 'User: id, username');
      checkHttpError(await ctx.http('GET', `/v1/users/${ctx.username()}`, { token: a.token }), 'not_found', 'GET /v1/users/{unknown}');
    },
  },
  {
    key: 'group',
    title: 'POST /v1/conversations answers 201 Conversation, creator owner; an unknown member: 404',
    async run(ctx) {
      const [a, b, c] = await ctx.users(3);
      const res = await ctx.http('POST', '/v1/conversations', { token: a.token, body: { kind: 'group', title: 'Kit group', members: [b.username, c.username] } });
      const g = checkConversation(expectStatus(res, 201, 'POST /v1/conversations'), 'Conversation');
      same([g.kind, g.title, g.member_count, g.last_seq, g.read_seq, g.unread], ['group', 'Kit group', 3, 0, 0, 0], 'Conversation: kind, title, member_count, last_seq, read_seq, unread');
      const roles = Object.fromEntries(g.members.map((m) => [m.id, m.role]));
      same(roles, { [a.id]: 'owner', [b.id]: 'member', [c.id]: 'member' }, 'members and roles');
      for (const m of g.members) eq(m.username, { [a.id]: a.username, [b.id]: b.username, [c.id]: c.username }[m.id], `member ${m.id}: username`);
      const seen = await ctx.conversationOf(c, g.id);
      check(seen, `GET /v1/conversations of a member does not list the group ${g.id}`);
      checkHttpError(
        await ctx.http('POST', '/v1/conversations', { token: a.token, body: { kind: 'group', title: 'x', members: [b.username, ctx.username()] } }),
        'not_found',
        'a group naming an unknown user',
      );
    },
  },
  {
    key: 'dm',
    title: 'POST /v1/conversations/dm answers 200 Conversation, the same one every time for a pair',
    async run(ctx) {
      const [a, b] = await ctx.users(2);
      const res = await ctx.http('POST', '/v1/conversations/dm', { token: a.token, body: { username: b.username } });
      const d = checkConversation(expectStatus(res, 200, 'POST /v1/conversations/dm'), 'Conversation');
      same([d.kind, d.title, d.member_count], ['dm', null, 2], 'DM: kind, title, member_count');
      same(d.members.map((m) => m.id).sort(), [a.id, b.id].sort(), 'DM members');
      eq((await ctx.dm(a, b)).id, d.id, 'the DM asked for again');
      eq((await ctx.dm(b, a)).id, d.id, 'the DM asked for by the other user');
    },
  },
  {
    key: 'conversations',
    title: 'GET /v1/conversations answers {"conversations":[Conversation]} with every conversation',
    async run(ctx) {
      const [a, b, c] = await ctx.users(3);
      const d = await ctx.dm(a, b);
      const g = await ctx.group(a, [c], 'listed');
      const res = await ctx.http('GET', '/v1/conversations', { token: a.token });
      const list = arrayField(expectStatus(res, 200, 'GET /v1/conversations'), 'conversations', 'answer');
      list.forEach((x, i) => checkConversation(x, `conversations[${i}]`));
      same(list.map((x) => x.id).sort(), [d.id, g.id].sort(), 'conversation ids');
      const none = arrayField(expectStatus(await ctx.http('GET', '/v1/conversations', { token: (await ctx.user()).token }), 200, 'GET /v1/conversations'), 'conversations', 'a new user');
      eq(none.length, 0, 'a new user\'s conversations');
    },
  },
  {
    key: 'members',
    title: 'POST and DELETE .../members: owner adds (200 Conversation) and removes (204); a member may not add (403) but may leave',
    async run(ctx) {
      const [a, b, c, d] = await ctx.users(4);
      const g = await ctx.group(a, [b], 'members');
      const add = await ctx.http('POST', `/v1/conversations/${g.id}/members`, { token: a.token, body: { username: c.username } });
      const after = checkConversation(expectStatus(add, 200, 'owner adds a member'), 'Conversation');
      eq(after.member_count, 3, 'member_count after the add');
      const added = after.members.find((m) => m.id === c.id);
      check(added, `the added member ${c.id} is not in members ${show(after.members)}`);
      eq(added.role, 'member', 'the added member\'s role');
      checkHttpError(await ctx.http('POST', `/v1/conversations/${g.id}/members`, { token: b.token, body: { username: d.username } }), 'forbidden', 'a plain member adds someone');
      const del = await ctx.http('DELETE', `/v1/conversations/${g.id}/members/${c.username}`, { token: a.token });
      eq(del.status, 204, `owner removes a member: status (body ${show(del.text)})`);
      checkHttpError(await ctx.http('GET', `/v1/conversations/${g.id}/messages`, { token: c.token }), 'forbidden', 'the removed member reads history');
      const leave = await ctx.http('DELETE', `/v1/conversations/${g.id}/members/${b.username}`, { token: b.token });
      eq(leave.status, 204, `a member leaves: status (body ${show(leave.text)})`);
      const seen = await ctx.conversationOf(a, g.id);
      check(seen, 'the owner no longer lists the group');
      same([seen.member_count, seen.members.map((m) => m.id)], [1, [a.id]], 'the group after the removal and the leave');
    },
  },
  {
    key: 'dm-members',
    title: 'a DM\'s members never change: 400 bad_request',
    async run(ctx) {
      const [a, b, c] = await ctx.users(3);
      const d = await ctx.dm(a, b);
      checkHttpError(await ctx.http('POST', `/v1/conversations/${d.id}/members`, { token: a.token, body: { username: c.username } }), 'bad_request', 'adding to a DM');
      checkHttpError(await ctx.http('DELETE', `/v1/conversations/${d.id}/members/${b.username}`, { token: a.token }), 'bad_request', 'removing from a DM');
      eq((await ctx.conversationOf(b, d.id))?.member_count, 2, 'the DM\'s member_count');
    },
  },
  {
    key: 'access',
    title: 'only members read a conversation: 403 for others, 404 when it does not exist',
    async run(ctx) {
      const [a, b, c] = await ctx.users(3);
      const g = await ctx.group(a, [b], 'private');
      checkHttpError(await ctx.http('GET', `/v1/conversations/${g.id}/messages`, { token: c.token }), 'forbidden', 'a non-member reads messages');
      checkHttpError(await ctx.http('GET', `/v1/conversations/${g.id}/members`, { token: c.token }), 'forbidden', 'a non-member lists members');
      checkHttpError(await ctx.http('POST', `/v1/conversations/${g.id}/members`, { token: c.token, body: { username: c.username } }), 'forbidden', 'a non-member adds themselves');
      const missing = missingId(g.id);
      checkHttpError(await ctx.http('GET', `/v1/conversations/${missing}/messages`, { token: a.token }), 'not_found', `messages of a conversation that does not exist (${missing})`);
      // Positive evidence that the member's call is fine.
      eq((await ctx.messages(b, g.id)).length, 0, 'a member reads the empty history');
    },
  },
  {
    key: 'history',
    title: 'GET .../messages: before, after, both and limit, always ascending',
    async run(ctx) {
      const [a, b] = await ctx.users(2);
      const g = await ctx.group(a, [b], 'history');
      const conn = await ctx.connect(a);
      const sent = await conn.sendMany(g.id, 12, (i) => `history ${i + 1}`);
      same(sent.map((s) => s.seq), range(1, 12), 'seqs of 12 sends');
      const all = await ctx.messages(b, g.id);
      same(seqs(all), range(1, 12), 'no parameters: seqs');
      all.forEach((m, i) => {
        same([m.conv, m.body, m.sender, m.id, m.ts], [g.id, `history ${i + 1}`, a.id, sent[i].id, sent[i].ts], `message ${i + 1}: conv, body, sender, id, ts`);
      });
      const cases = [
        ['?limit=5', range(8, 12)],
        ['?before=6&limit=3', range(3, 5)],
        ['?before=6', range(1, 5)],
        ['?after=9', range(10, 12)],
        ['?after=9&limit=2', range(10, 11)],
        ['?after=2&before=7&limit=3', range(3, 5)],
        ['?after=2&before=5', range(3, 4)],
        ['?after=12', []],
      ];
      for (const [q, want] of cases) same(seqs(await ctx.messages(b, g.id, q)), want, `GET .../messages${q}: seqs`);
    },
  },
  {
    key: 'history-limits',
    title: 'GET .../messages: default limit 50, a limit over 500 is capped at 500',
    async run(ctx) {
      const [a, b] = await ctx.users(2);
      const g = await ctx.group(a, [b], 'many');
      const [ca, cb] = await Promise.all([ctx.connect(a), ctx.connect(b)]);
      // 501 messages from two users, each within the send burst.
      await Promise.all([ca.sendMany(g.id, 250), cb.sendMany(g.id, 251)]);
      same(seqs(await ctx.messages(a, g.id)), range(452, 501), 'no limit: the newest 50');
      same(seqs(await ctx.messages(a, g.id, '?limit=1000')), range(2, 501), 'limit=1000: the newest 500');
      same(seqs(await ctx.messages(a, g.id, '?after=0&limit=600')), range(1, 500), 'after=0&limit=600: the first 500');
    },
  },
  {
    key: 'new-member-history',
    title: 'a new member may read history from before they joined',
    async run(ctx) {
      const [a, b] = await ctx.users(2);
      const g = await ctx.group(a, [], 'before you came');
      const conn = await ctx.connect(a);
      await conn.sendMany(g.id, 3, (i) => `old ${i}`);
      expectStatus(await ctx.http('POST', `/v1/conversations/${g.id}/members`, { token: a.token, body: { username: b.username } }), 200, 'add b');
      const got = await ctx.messages(b, g.id);
      same(got.map((m) => m.body), ['old 0', 'old 1', 'old 2'], 'the new member reads the older messages');
    },
  },
  {
    key: 'unread',
    title: 'unread = last_seq - read_seq; sending moves the sender\'s read_seq',
    async run(ctx) {
      const [a, b] = await ctx.users(2);
      const d = await ctx.dm(a, b);
      const conn = await ctx.connect(a);
      await conn.sendMany(d.id, 3);
      const forB = await ctx.conversationOf(b, d.id);
      same([forB.last_seq, forB.read_seq, forB.unread], [3, 0, 3], 'the receiver: last_seq, read_seq, unread');
      const forA = await ctx.conversationOf(a, d.id);
      same([forA.last_seq, forA.read_seq, forA.unread], [3, 3, 0], 'the sender: last_seq, read_seq, unread');
      const cb = await ctx.connect(b);
      await cb.expect({ type: 'read', conv: d.id, seq: 2 }, 'ok', 'read');
      const later = await ctx.conversationOf(b, d.id);
      same([later.last_seq, later.read_seq, later.unread], [3, 2, 1], 'the receiver after reading seq 2');
    },
  },
  {
    key: 'members-page',
    title: 'GET .../members?after=&limit= pages through {"members","next"} to next null',
    async run(ctx) {
      const [a, ...rest] = await ctx.users(5);
      const g = await ctx.group(a, rest, 'paged');
      const first = expectStatus(await ctx.http('GET', `/v1/conversations/${g.id}/members`, { token: a.token }), 200, 'GET .../members');
      const all = arrayField(first, 'members', 'members page');
      all.forEach((m, i) => checkMember(m, `members[${i}]`));
      eq(first.next, null, 'next when every member fits');
      same(all.map((m) => m.id).sort(), [a, ...rest].map((u) => u.id).sort(), 'every member');
      const paged = [];
      let after = null;
      for (let page = 0; page < 4; page += 1) {
        const q = after === null ? '?limit=2' : `?limit=2&after=${encodeURIComponent(after)}`;
        const body = expectStatus(await ctx.http('GET', `/v1/conversations/${g.id}/members${q}`, { token: a.token }), 200, `GET .../members${q}`);
        const list = arrayField(body, 'members', `members${q}`);
        list.forEach((m, i) => checkMember(m, `members${q}[${i}]`));
        check(list.length <= 2, `members${q}: ${list.length} members over the limit 2`);
        paged.push(...list);
        if (!('next' in body)) fail(`members${q}: field "next" is missing`);
        if (body.next === null) break;
        after = body.next;
      }
      eq(paged.length, 5, 'members over every page');
      same(paged.map((m) => m.id).sort(), all.map((m) => m.id).sort(), 'the pages hold every member once');
    },
  },
  {
    key: 'operational',
    title: 'GET /healthz and /readyz answer 200; GET /metrics answers Prometheus text',
    async run(ctx) {
      for (const path of ['/healthz', '/readyz']) {
        const res = await ctx.http('GET', path);
        eq(res.status, 200, `GET ${path}: status`);
      }
      const res = await ctx.http('GET', '/metrics');
      eq(res.status, 200, 'GET /metrics: status');
      const lines = res.text.split('\n');
      check(lines.some((l) => /^# TYPE [a-zA-Z_:][a-zA-Z0-9_:]* (counter|gauge|histogram|summary|untyped)$/.test(l)), `GET /metrics: no "# TYPE name type" line in ${show(res.text, 120)}`);
      check(lines.some((l) => /^[a-zA-Z_:][a-zA-Z0-9_:]*(\{.*\})? ([-+0-9.eE]+|NaN|[-+]Inf)( [0-9]+)?$/.test(l)), `GET /metrics: no sample line in ${show(res.text, 120)}`);
    },
  },
];

export default { key: 'http', title: '§1 HTTP API', protocol: '1.0', cases };
