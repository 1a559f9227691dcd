// A reference model of protocol 1.1 §5 (the server's rules for edit,
// delete, react, reply and mentions), written independently of the SDK,
// and a scripted WebSocket server on it for one conversation, so the SDK
// and the web client can be exercised without parleyd.
import WebSocket, { WebSocketServer } from 'ws';
import { ParleyClient } from '../../../web/sdk/parley.js';

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
  constructor() {
    this.entries = [];
    this.texts = new Map();
    this.snapshots = new Map(); // text seq -> [served states, oldest first]
    this.now = () => 1000 + this.entries.length; // entry times: distinct, ascending
  }

  _entry(kind, sender, fields) {
    const e = { conv: CONV, seq: this.entries.length + 1, id: `e${this.entries.length + 1}`, sender, ts: this.now(), client_msg_id: `c${this.entries.length + 1}`, kind, body: '', ...fields };
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
 * A WebSocket server speaking the parts of protocol 1.1 the SDK uses, for
 * one conversation (CONV, members USERS) and the user ME, on a Model.
 * `ctl.onRequest(frame, ws)` may return 'drop' (store, then kill the socket
 * before answering: a lost `sent`) or an error {code, message} to refuse.
 */
export async function scriptedServer(ctl = {}) {
  const model = new Model();
  const frames = [];
  const acks = new Map(); // client_msg_id -> sent answer (exactly-once)
  const sockets = new Set();
  let read_seq = 0;
  // On its own port, or at /v1/ws of a given http.Server (which serves the web client).
  const wss = ctl.server ? new WebSocketServer({ server: ctl.server, path: '/v1/ws' }) : new WebSocketServer({ host: '127.0.0.1', port: 0 });
  if (!ctl.server) await new Promise((r) => wss.once('listening', r));
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
      return new ParleyClient({ baseUrl: `http://127.0.0.1:${(ctl.server ?? wss).address().port}`, WebSocket, session, backoffMinMs: 20, backoffMaxMs: 100, ...opts });
    },
    close: () => new Promise((r) => wss.close(r)),
  };
}

