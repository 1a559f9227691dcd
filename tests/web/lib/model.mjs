// A reference model of protocol 1.1 §5 (the server's rules for edit,
// delete, react, reply and mentions), written independently of the SDK,
// and a scripted WebSocket server on it for one conversation, so the SDK
// and the web client can be exercised without parleyd.
import WebSocket, { WebSocketServer } from 'ws';
import http from 'node:http';
import path from 'node:path';
import { existsSync, readFileSync } from 'node:fs';
import { ParleyClient } from '../../../web/sdk/parley.js';
import { webRoot } from './server.mjs';

export const CONV = '7';
export const USERS = [
  { id: '1', username: 'meg' },
  { id: '2', username: 'bob' },
  { id: '3', username: 'cyd.x' },
];
export const ME = '1';
export const EMOJI = ['👍', '❤️', '😂', '🎉'];

/** The ids of USERS named as `@username` in a body, by §5's rule (its own reading, not the SDK's). */
export function mentionIds(body) {
  const names = new Set();
  for (const m of String(body).matchAll(/@([a-z0-9_.-]+)/gi)) {
    const name = m[1].replace(/[.-]+$/, '').toLowerCase();
    if (name.length >= 3 && name.length <= 32) names.add(name);
  }
  return USERS.filter((u) => names.has(u.username)).map((u) => u.id);
}

// The server's rules of §5, written independently of the SDK: per text
// entry the set of users holding each emoji, in first-added order.
export class Model {
  constructor(conv = CONV) {
    this.conv = conv;
    this.entries = [];
    this.texts = new Map();
    this.snapshots = new Map(); // text seq -> [served states, oldest first]
    this.now = () => 1000 + this.entries.length; // entry times: distinct, ascending
  }

  _entry(kind, sender, fields) {
    const e = { conv: this.conv, seq: this.entries.length + 1, id: `e${this.entries.length + 1}`, sender, ts: this.now(), client_msg_id: `c${this.entries.length + 1}`, kind, body: '', ...fields };
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
      conv: this.conv, kind: 'text', seq: t.seq, id: t.id, sender: t.sender, ts: t.ts, client_msg_id: t.client_msg_id, body: t.body,
      edited_ts: t.edited_ts, deleted: t.deleted, reply_to: t.reply_to, mentions: [...t.mentions], attachments: [], state_seq: t.state_seq,
      reactions: t.reactions.map((r) => ({ emoji: r.emoji, count: r.users.size, me: r.users.has(reader) })),
    };
  }

  _snap(seq) {
    if (!this.snapshots.has(seq)) this.snapshots.set(seq, []);
    this.snapshots.get(seq).push(this.served(this.texts.get(seq)));
  }
}

/** The DM between ME and bob that `scriptedServer({dm: true})` adds. */
export const DM = '8';
export const PASSWORD = 'correct horse battery';

/**
 * A server speaking the parts of protocol 1.1 the SDK and the web client
 * use, for the user ME: the group CONV (members USERS, ME its owner) and,
 * with `ctl.dm`, the DM with bob; each on its own Model. Over WebSocket:
 * hello/resume, entries, history, read (with `read` events), membership,
 * create_group, presence, ping. Over HTTP (`handle(req, res)`, for a test's
 * http.Server): login, register, refresh, logout, password, PATCH/GET/DELETE
 * /v1/me, /v1/me/export, /v1/users/{name}, /v1/conversations, /v1/blocks,
 * and §8's bots, webhooks, push subscriptions and the WS `notify` level.
 * With `ctl.memberFields` member objects carry `display_name` and `read_seq`.
 * `ctl.onRequest(frame, ws)` may return 'drop' (store, then kill the socket
 * before answering: a lost `sent`) or an error {code, message} to refuse.
 */
export async function scriptedServer(ctl = {}) {
  const users = new Map(USERS.map((u) => [u.id, { ...u, display_name: null, password: PASSWORD }]));
  const byName = (name) => [...users.values()].find((u) => u.username === String(name).toLowerCase() && !u.deleted);
  const convs = new Map();
  const addConv = (id, kind, title, memberIds) => {
    const c = { id, kind, title, model: new Model(id), members: memberIds.map((u, i) => ({ id: u, role: kind === 'group' && i === 0 ? 'owner' : 'member' })), reads: new Map() };
    convs.set(id, c);
    return c;
  };
  addConv(CONV, 'group', 'team', USERS.map((u) => u.id));
  if (ctl.dm) addConv(DM, 'dm', null, [ME, '2']);
  const model = convs.get(CONV).model;
  const frames = [];
  const httpCalls = []; // [{method, path, auth, body}]
  const blocks = new Set(); // ids of the users ME blocks
  const bots = new Map(); // username -> {user, token}: ME's bots (§8)
  const webhooks = new Map(); // webhook id -> {id, conv, url, secret, failing_since}
  const pushSubs = new Map(); // endpoint -> keys
  const VAPID = 'BPpQ5b3n7pC1_scripted-vapid-key';
  const acks = new Map(); // client_msg_id -> sent answer (exactly-once)
  const sockets = new Set();
  let token = 't';
  // On its own port, or at /v1/ws of a given http.Server (which serves the web client).
  const wss = ctl.server ? new WebSocketServer({ server: ctl.server, path: '/v1/ws' }) : new WebSocketServer({ host: '127.0.0.1', port: 0 });
  if (!ctl.server) await new Promise((r) => wss.once('listening', r));
  const isMember = (c, user) => c.members.some((m) => m.id === user);
  const readOf = (c, user) => c.reads.get(user) ?? 0;
  const conversation = (c, reader = ME) => {
    const others = [...c.model.texts.values()].filter((t) => t.seq > readOf(c, reader) && t.sender !== reader && !t.deleted);
    return {
      id: c.id, kind: c.kind, title: c.title, member_count: c.members.length, last_seq: c.model.entries.length, read_seq: readOf(c, reader),
      // ctl.memberFields: members carry the additive `display_name` and `read_seq`.
      members: c.members.map((m) => ({ id: m.id, username: users.get(m.id).username, role: m.role, ...(ctl.memberFields ? { display_name: users.get(m.id).display_name, read_seq: readOf(c, m.id) } : {}) })),
      unread: others.length, mentions_unread: others.filter((t) => t.mentions.includes(reader)).length,
      notify: c.notify ?? (c.kind === 'dm' ? 'all' : 'mentions'), // ME's level (§8)
    };
  };
  const mine = () => [...convs.values()].filter((c) => isMember(c, ME));
  const user = (u) => ({ id: u.id, username: u.username, display_name: u.display_name, online: false, last_seen: null });
  const push = (frame) => {
    for (const ws of sockets) ws.send(JSON.stringify(frame));
  };
  const asEvent = (c, e) => (e.kind === 'text' ? { type: 'message', ...c.model.served(c.model.texts.get(e.seq), null) } : { type: 'message', ...e });
  const apply = (f, sender) => {
    const c = convs.get(String(f.conv ?? CONV));
    if (!c) return { code: 'not_found', message: 'no such conversation' };
    if (!isMember(c, sender)) return { code: 'forbidden', message: 'not a member' };
    const m = c.model;
    const extra = { client_msg_id: f.client_msg_id };
    const t = f.seq != null ? m.texts.get(f.seq) : null;
    if (f.type !== 'send' && !t) return { code: 'not_found', message: 'no such message' };
    if (f.type === 'edit' && t.sender !== sender) return { code: 'forbidden', message: 'not your message' };
    if ((f.type === 'edit' || f.type === 'react') && t.deleted) return { code: 'bad_request', message: 'deleted' };
    if (f.type === 'send') m.send(sender, f.body, f.reply_to ?? null, extra);
    if (f.type === 'edit') m.edit(f.seq, f.body, extra);
    if (f.type === 'delete') m.delete(f.seq, sender, extra);
    if (f.type === 'react') m.react(f.seq, sender, f.emoji, f.op, extra);
    const e = m.entries.at(-1);
    c.reads.set(sender, e.seq); // any entry a user makes reads up to it
    return { c, e };
  };
  // A membership change, as its `member` event to every connection of ME
  // (like the server's, it names no actor).
  const member = (c, who, action, role) => {
    if (action === 'added') c.members.push({ id: who, role: 'member' });
    else if (action === 'role') c.members.find((m) => m.id === who).role = role;
    else c.members = c.members.filter((m) => m.id !== who);
    if (action === 'added') c.reads.set(who, c.model.entries.length);
    const frame = { type: 'member', conv: c.id, user: who, action };
    if (role) frame.role = role;
    if (action === 'added') frame.conversation = conversation(c, who);
    push(frame);
  };
  const requests = {
    history(f) {
      const c = convs.get(f.conv);
      if (!c) return { code: 'not_found', message: 'no such conversation' };
      if (!isMember(c, ME)) return { code: 'forbidden', message: 'not a member' };
      const lo = f.after ?? 0;
      const hi = f.before ?? Infinity;
      const page = c.model.entries.filter((e) => e.seq > lo && e.seq < hi);
      const msgs = (f.after == null ? page.slice(-(f.limit ?? 50)) : page.slice(0, f.limit ?? 50)).map((e) => (e.kind === 'text' ? c.model.served(c.model.texts.get(e.seq)) : e));
      return { type: 'history', conv: c.id, messages: msgs };
    },
    read(f) {
      const c = convs.get(f.conv);
      if (!c || !isMember(c, ME)) return { code: 'forbidden', message: 'not a member' };
      if (f.seq > readOf(c, ME)) {
        c.reads.set(ME, f.seq);
        push({ type: 'read', conv: c.id, user: ME, seq: f.seq });
      }
      return { type: 'ok' };
    },
    add_member(f) {
      const c = convs.get(f.conv);
      const u = byName(f.username);
      if (!u) return { code: 'not_found', message: 'no such user' };
      if (!isMember(c, u.id)) member(c, u.id, 'added');
      return { type: 'ok' };
    },
    remove_member(f) {
      const c = convs.get(f.conv);
      const u = byName(f.username);
      if (!u || !isMember(c, u.id)) return { code: 'not_found', message: 'not a member' };
      member(c, u.id, 'removed');
      return { type: 'ok' };
    },
    leave(f) {
      member(convs.get(f.conv), ME, 'left');
      return { type: 'ok' };
    },
    create_group(f) {
      const ids = [];
      for (const name of f.members ?? []) {
        const u = byName(name);
        if (!u) return { code: 'not_found', message: 'a member does not exist' };
        ids.push(u.id);
      }
      const c = addConv(String(100 + convs.size), 'group', f.title, [ME, ...ids.filter((x) => x !== ME)]);
      return { type: 'conversation', conversation: conversation(c) };
    },
    notify(f) {
      const c = convs.get(f.conv);
      if (!c || !isMember(c, ME)) return { code: 'not_found', message: 'no such conversation' };
      if (!['all', 'mentions', 'none'].includes(f.level)) return { code: 'bad_request', message: 'level is all, mentions or none' };
      c.notify = f.level;
      return { type: 'ok' };
    },
    presence: () => ({ type: 'presence', users: [] }),
    ping: () => ({ type: 'pong', ts: Date.now() }),
  };
  wss.on('connection', (ws) => {
    ws.on('message', (data) => {
      const f = JSON.parse(data.toString());
      frames.push(f);
      const answer = (x) => ws.send(JSON.stringify({ re: f.id, ...x }));
      if (f.type === 'hello') {
        if (f.token !== token) return ws.close(4003, 'bad token');
        sockets.add(ws);
        answer({ type: 'welcome', user: user(users.get(ME)), session: 's', heartbeat_ms: 25000, conversations: mine().map((c) => conversation(c)) });
        for (const c of mine()) {
          const from = f.last_seq?.[c.id] ?? c.model.entries.length;
          for (const e of c.model.entries.slice(from)) ws.send(JSON.stringify(asEvent(c, e)));
        }
        return;
      }
      if (['send', 'edit', 'delete', 'react'].includes(f.type)) {
        if (acks.has(f.client_msg_id)) return answer(acks.get(f.client_msg_id));
        const verdict = ctl.onRequest?.(f, ws);
        if (verdict && verdict !== 'drop') return answer({ type: 'error', ...verdict });
        const r = apply(f, ME);
        if (r.code) return answer({ type: 'error', ...r });
        const sent = { type: 'sent', conv: r.c.id, seq: r.e.seq, id: r.e.id, ts: r.e.ts };
        acks.set(f.client_msg_id, sent);
        if (verdict === 'drop') {
          // Stored, but this connection dies before its event or answer goes out.
          sockets.delete(ws);
          ws.terminate();
        }
        push(asEvent(r.c, r.e));
        if (verdict !== 'drop') answer(sent);
        return;
      }
      const verdict = ctl.onRequest?.(f, ws);
      if (verdict && verdict !== 'drop') return answer({ type: 'error', ...verdict });
      const x = requests[f.type]?.(f);
      if (x) answer(x.code ? { type: 'error', ...x } : x);
    });
    ws.on('close', () => sockets.delete(ws));
  });

  // ---- HTTP (the parts of §1, §1.7 and §7 the web client calls)
  const session = () => ({ user: user(users.get(ME)), access_token: token, refresh_token: `r${token}`, expires_in: 3600 });
  const routes = [
    ['POST', /^\/v1\/auth\/login$/, (b) => {
      const u = byName(b.username ?? '');
      // Unknown user and wrong password: one answer (§1).
      if (!u || u.password !== b.password || u.id !== ME) return [401, { error: { code: 'unauthorized', message: 'invalid username or password' } }];
      return [200, session()];
    }, false],
    ['POST', /^\/v1\/auth\/register$/, (b) => {
      if (byName(b.username ?? '')) return [409, { error: { code: 'conflict', message: 'username taken' } }];
      const u = users.get(ME);
      Object.assign(u, { username: b.username, password: b.password, display_name: b.display_name ?? null });
      return [201, session()];
    }, false],
    ['POST', /^\/v1\/auth\/refresh$/, () => [200, session()], false],
    ['GET', /^\/v1\/me$/, () => [200, user(users.get(ME))]],
    ['PATCH', /^\/v1\/me$/, (b) => {
      const n = new TextEncoder().encode(b.display_name ?? '').length;
      if (typeof b.display_name !== 'string' || n < 1 || n > 64) return [400, { error: { code: 'bad_request', message: 'display_name must be 1 to 64 bytes' } }];
      const u = users.get(ME);
      u.display_name = b.display_name;
      push({ type: 'user_updated', user: u.id, username: u.username, display_name: u.display_name });
      return [200, user(u)];
    }],
    ['GET', /^\/v1\/me\/export$/, () => [200, { user: user(users.get(ME)), conversations: mine().map((c) => ({ ...conversation(c), messages: [...c.model.texts.values()].filter((t) => t.sender === ME).map((t) => c.model.served(t)) })) }]],
    ['POST', /^\/v1\/auth\/password$/, (b) => {
      const u = users.get(ME);
      if (b.old_password !== u.password) return [403, { error: { code: 'forbidden', message: 'wrong password' } }];
      if (new TextEncoder().encode(b.new_password ?? '').length < 8) return [400, { error: { code: 'bad_request', message: 'password too short' } }];
      u.password = b.new_password;
      token = `${token}+`;
      return [200, session()];
    }],
    ['POST', /^\/v1\/auth\/logout$/, (b) => {
      if (b.all === true) token = `${token}-`; // every token of the user revoked
      return [204, null];
    }],
    ['DELETE', /^\/v1\/me$/, (b) => {
      const u = users.get(ME);
      if (b.password !== u.password) return [403, { error: { code: 'forbidden', message: 'wrong password' } }];
      u.deleted = true;
      token = `${token}-`;
      return [204, null];
    }],
    ['GET', /^\/v1\/users\/([^/]+)$/, (_b, m) => {
      const u = byName(decodeURIComponent(m[1]));
      return u ? [200, user(u)] : [404, { error: { code: 'not_found', message: 'no such user' } }];
    }],
    ['GET', /^\/v1\/conversations$/, () => [200, { conversations: mine().map((c) => conversation(c)) }]],
    // §7 blocks: the users ME blocks.
    ['GET', /^\/v1\/blocks$/, () => [200, { users: [...blocks].map((id) => user(users.get(id))) }]],
    ['PUT', /^\/v1\/blocks\/([^/]+)$/, (_b, m) => {
      const u = byName(decodeURIComponent(m[1]));
      if (!u) return [404, { error: { code: 'not_found', message: 'no such user' } }];
      if (u.id === ME) return [400, { error: { code: 'bad_request', message: 'you cannot block yourself' } }];
      blocks.add(u.id);
      return [204, null];
    }],
    ['DELETE', /^\/v1\/blocks\/([^/]+)$/, (_b, m) => {
      const u = byName(decodeURIComponent(m[1]));
      if (!u) return [404, { error: { code: 'not_found', message: 'no such user' } }];
      blocks.delete(u.id);
      return [204, null];
    }],
    // §8: bots, webhooks (owner and admins), push subscriptions.
    ['POST', /^\/v1\/bots$/, (b) => {
      if (byName(b.username ?? '') || bots.has(b.username)) return [409, { error: { code: 'conflict', message: 'username taken' } }];
      const u = { id: String(500 + bots.size), username: b.username, display_name: b.display_name ?? null, online: false, last_seen: null, bot: true };
      const t = `key-${b.username}`;
      bots.set(b.username, { user: u, token: t });
      return [201, { bot: u, token: t }];
    }],
    ['GET', /^\/v1\/bots$/, () => [200, { bots: [...bots.values()].map((x) => x.user) }]],
    ['DELETE', /^\/v1\/bots\/([^/]+)$/, (_b, m) => (bots.delete(decodeURIComponent(m[1])) ? [204, null] : [404, { error: { code: 'not_found', message: 'no such bot' } }])],
    ['POST', /^\/v1\/conversations\/([^/]+)\/webhooks$/, (b, m) => {
      const c = convs.get(decodeURIComponent(m[1]));
      if (!c) return [404, { error: { code: 'not_found', message: 'no such conversation' } }];
      if (!['owner', 'admin'].includes(c.members.find((x) => x.id === ME)?.role)) return [403, { error: { code: 'forbidden', message: 'owner and admins only' } }];
      if (!/^https?:\/\//.test(b.url ?? '')) return [400, { error: { code: 'bad_request', message: 'url must be http(s)' } }];
      const w = { id: `w${webhooks.size + 1}`, conv: c.id, url: b.url, secret: `s${webhooks.size + 1}`, failing_since: null };
      webhooks.set(w.id, w);
      return [201, { webhook: { id: w.id, url: w.url, secret: w.secret } }];
    }],
    ['GET', /^\/v1\/conversations\/([^/]+)\/webhooks$/, (_b, m) => [200, {
      webhooks: [...webhooks.values()].filter((w) => w.conv === decodeURIComponent(m[1])).map(({ id, url, failing_since }) => ({ id, url, failing_since })),
    }]],
    ['DELETE', /^\/v1\/conversations\/([^/]+)\/webhooks\/([^/]+)$/, (_b, m) => (webhooks.delete(decodeURIComponent(m[2])) ? [204, null] : [404, { error: { code: 'not_found', message: 'no such webhook' } }])],
    ['GET', /^\/v1\/push\/vapid$/, () => [200, { public_key: VAPID }]],
    ['POST', /^\/v1\/push\/subscriptions$/, (b) => {
      if (typeof b.endpoint !== 'string' || typeof b.keys?.p256dh !== 'string' || typeof b.keys?.auth !== 'string') return [400, { error: { code: 'bad_request', message: 'endpoint and keys' } }];
      pushSubs.set(b.endpoint, b.keys);
      return [201, null];
    }],
    ['DELETE', /^\/v1\/push\/subscriptions$/, (b) => (pushSubs.delete(b.endpoint), [204, null])],
    ['GET', /^\/v1\/conversations\/([^/]+)\/messages$/, (_b, m, q) => {
      const num = (k) => (q.get(k) ? Number(q.get(k)) : undefined);
      const r = requests.history({ conv: decodeURIComponent(m[1]), before: num('before'), after: num('after'), limit: num('limit') });
      if (r.code) return [r.code === 'forbidden' ? 403 : 404, { error: r }];
      return [200, { messages: r.messages }];
    }],
  ];
  /** Answers an HTTP API call; false when the path is not one of its routes. */
  async function handle(req, res) {
    const pathname = new URL(req.url, 'http://x').pathname;
    const route = routes.find(([method, re]) => method === req.method && re.test(pathname));
    if (!route) return false;
    let text = '';
    for await (const chunk of req) text += chunk;
    const body = text ? JSON.parse(text) : {};
    const auth = req.headers.authorization ?? null;
    httpCalls.push({ method: req.method, path: pathname, auth, body });
    let [status, out] = [401, { error: { code: 'unauthorized', message: 'token revoked' } }];
    const query = new URL(req.url, 'http://x').searchParams;
    const bot = [...bots.values()].find((x) => auth === `Bearer ${x.token}`);
    if (bot && pathname === '/v1/me' && req.method === 'GET') [status, out] = [200, bot.user];
    else if (route[3] === false || auth === `Bearer ${token}`) [status, out] = route[2](body, route[1].exec(pathname), query);
    const headers = { 'Content-Type': 'application/json' };
    res.writeHead(status, headers).end(out == null ? '' : JSON.stringify(out));
    return true;
  }

  return {
    model,
    models: new Map([...convs].map(([id, c]) => [id, c.model])),
    frames,
    /** The HTTP calls answered, oldest first: [{method, path, auth, body}]. */
    http: httpCalls,
    handle,
    users,
    get token() {
      return token;
    },
    bots,
    webhooks,
    pushSubs,
    VAPID,
    /** ME's notification level in a conversation as the server holds it (unset: undefined). */
    notifyOf: (conv = CONV) => convs.get(conv).notify,
    /** Revokes ME's token: every socket closes with 4003, as after an account change (§7). */
    revoke() {
      token = `${token}-`;
      for (const ws of sockets) ws.close(4003, 'revoked');
    },
    /** ME's read marker in a conversation, as the server holds it. */
    readSeq: (conv = CONV, who = ME) => readOf(convs.get(conv), who),
    /** Another member makes an entry (in f.conv, CONV by default); every connection gets its event. */
    by(sender, f) {
      const r = apply(f, sender);
      if (r.code) throw new Error(r.message);
      push(asEvent(r.c, r.e));
      return r.e;
    },
    /** Another member reads up to seq: their `read` event (none with `quiet`). */
    read(who, conv, seq, { quiet = false } = {}) {
      convs.get(conv).reads.set(who, seq);
      if (!quiet) push({ type: 'read', conv, user: who, seq });
    },
    /** A membership change made by someone else; `role` for action 'role'. */
    member(conv, who, action, role) {
      member(convs.get(conv), who, action, role);
    },
    /** Another user sets a display name (their `user_updated`). */
    rename(who, display_name) {
      const u = users.get(who);
      u.display_name = display_name;
      push({ type: 'user_updated', user: u.id, username: u.username, display_name });
    },
    typing(conv, who) {
      push({ type: 'typing', conv, user: who });
    },
    /** Closes every open connection (a network cut the client sees at once). */
    drop() {
      for (const ws of sockets) ws.terminate();
      sockets.clear();
    },
    client(opts = {}) {
      const session = { user: USERS[0], access_token: 't', refresh_token: 'r', expires_in: 3600 };
      return new ParleyClient({ baseUrl: `http://127.0.0.1:${(ctl.server ?? wss).address().port}`, WebSocket, session, backoffMinMs: 20, backoffMaxMs: 100, ...opts });
    },
    close: () => {
      for (const ws of wss.clients) ws.terminate(); // else close() waits for every client to go
      return new Promise((r) => wss.close(r));
    },
  };
}


const TYPES = { '.js': 'text/javascript', '.css': 'text/css', '.html': 'text/html', '.svg': 'image/svg+xml' };

/**
 * The web client's files and a scripted server (its HTTP API and /v1/ws)
 * on one loopback port, for a browser: the scripted server with `url`
 * (the page) and `stop()`.
 */
export async function scriptedWebServer(ctl = {}) {
  let srv;
  const httpServer = http.createServer(async (req, res) => {
    if (req.url.startsWith('/v1/') && (await srv.handle(req, res))) return;
    let p = new URL(req.url, 'http://x').pathname;
    if (p === '/') p = '/index.html';
    const f = path.join(webRoot, p);
    if (!f.startsWith(webRoot + path.sep) || !existsSync(f)) return res.writeHead(404).end();
    res.writeHead(200, { 'Content-Type': TYPES[path.extname(f)] ?? 'application/octet-stream' }).end(readFileSync(f));
  });
  await new Promise((r) => httpServer.listen(0, '127.0.0.1', r));
  srv = await scriptedServer({ ...ctl, server: httpServer });
  srv.url = `http://127.0.0.1:${httpServer.address().port}/`;
  srv.stop = async () => {
    await srv.close();
    httpServer.closeAllConnections();
    await new Promise((r) => httpServer.close(r));
  };
  return srv;
}
