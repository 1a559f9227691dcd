// Parley JavaScript SDK, wire protocol v1 (see docs/protocol.md).
//
// One ES module, no build step. It runs in browsers (global WebSocket and
// fetch) and in Node 18+ (pass the `ws` package as `WebSocket`).
//
// The reliable-delivery logic of every Parley client lives here:
// - `hello` with `last_seq` per conversation, so a reconnect resumes;
// - reconnect with exponential backoff and jitter;
// - an outbox of unacknowledged sends, retried with the same
//   `client_msg_id` after a reconnect (the server stores each once);
// - de-duplication of events by (conv, seq), and in-order delivery: a seq
//   gap or a `gap` event is filled with `history` before later messages;
// - access-token refresh before expiry (refresh tokens rotate);
// - events: message, update, presence, typing, read, member,
//   conversation(s), outbox, sent, state (connection), session, auth_lost,
//   user_updated (a display name, §7), error.
// - the account: updateProfile (PATCH /v1/me), changePassword, logoutAll,
//   deleteAccount, exportData (GET /v1/me/export), learnProfiles;
// - uploads (protocol 1.1 §6): upload(file, {onProgress, signal}) streams a file to
//   POST /v1/uploads and resolves with its Upload; send(conv, body,
//   {attachments}) attaches uploads, and messages carry `attachments`
//   (their signed `url` works in an <img src>), [] once deleted;
// - richer messages (protocol 1.1 §5): edit(), delete(), react() and
//   send(..., {replyTo}) go through the same outbox; every entry is folded
//   into the text entry it changes by the state_seq rule, in whatever order
//   pages and events arrive, and messages(conv) gives the folded messages
//   (`update` says when one changed); `unread` and `mentions_unread` follow
//   §5 (others' live text entries only).
//
// - read receipts: every member's read_seq, from `read` events, their own
//   entries (an entry reads up to itself, §5) and any member `read_seq`
//   a Conversation carries; readersOf(conv, seq) says who has read a message;
//
// - reconnect backoff that resets only once a connection proved healthy
//   (open for `healthyAfterMs` after `welcome`), so a server that welcomes
//   and then closes at once is not hammered;
//
// - integrations (protocol 1.1 §8): bots (createBot, bots, deleteBot), and a
//   bot's own client: useApiKey(key) signs in with its API key (bearer and
//   hello token; never refreshed, `auth_lost` once revoked); webhooks of a
//   conversation (createWebhook, webhooks, deleteWebhook); Web Push
//   (vapidPublicKey, subscribePush, unsubscribePush); notification levels
//   (setNotify, notifyLevel, and notifies(m): whether a message should
//   notify the user under the level of its conversation);
//
//   import { ParleyClient } from '/sdk/parley.js';
//   const client = new ParleyClient({ baseUrl: 'http://127.0.0.1:8080' });
//   await client.login('alice', 'correct horse');
//   client.on('message', (m) => console.log(m.conv, m.seq, m.body));
//   client.connect();
//   await client.send(convId, 'hello');   // resolves once stored
//   client.on('update', (m) => render(client.messages(m.conv)));
//   await client.react(convId, 12, '👍', 'add');

export const PROTOCOL_VERSION = 1;

/** An error answered by the server (HTTP or WebSocket) or raised locally. */
export class ParleyError extends Error {
  constructor(code, message, extra = {}) {
    super(message || code);
    this.name = 'ParleyError';
    this.code = code;
    Object.assign(this, extra);
  }
}

// Codes after which a send is retried (same client_msg_id) instead of failing.
const RETRYABLE = new Set(['disconnected', 'timeout', 'unavailable', 'internal', 'network', 'rate_limited']);

/** A store keeps small JSON values: the session and the outbox. */
export function memoryStore() {
  const m = new Map();
  return {
    get: (k) => (m.has(k) ? structuredClone(m.get(k)) : null),
    set: (k, v) => void m.set(k, structuredClone(v)),
    remove: (k) => void m.delete(k),
  };
}

/** A store on window.localStorage (survives reloads; shared by tabs). */
export function localStorageStore(prefix = 'parley:', storage = globalThis.localStorage) {
  return {
    get(k) {
      try {
        const v = storage.getItem(prefix + k);
        return v == null ? null : JSON.parse(v);
      } catch {
        return null;
      }
    },
    set(k, v) {
      try {
        storage.setItem(prefix + k, JSON.stringify(v));
      } catch {
        /* quota or privacy mode: keep going in memory */
      }
    },
    remove(k) {
      try {
        storage.removeItem(prefix + k);
      } catch {
        /* ignore */
      }
    },
  };
}

/** A client-side unique id (128 random bits, hex); works outside secure contexts. */
export function newClientMsgId() {
  const b = new Uint8Array(16);
  globalThis.crypto.getRandomValues(b);
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}

// ---------------------------------------------------------------- folding (protocol 1.1, §5)
//
// Every change to a message is an entry of the conversation's seq stream:
// `edit`, `delete` and `reaction` entries name a `target` text entry. The
// server serves each text entry folded, with `state_seq` = the last entry
// folded into it. A client applies a change to a text entry only when the
// change's seq is greater than that `state_seq`.
//
// MessageLog keeps, per text entry, the newest folded state the server
// served (the "base") and every change entry seen with a seq above the
// base's state_seq, and folds them in seq order. Folding from the base
// rather than applying each change as it arrives to the current state
// makes the result independent of arrival order: a history page holding
// an older change can arrive after a live event holding a newer one for
// the same message, and both still count (a reaction count would drop one
// otherwise).

/** Fills in the 1.1 fields a 1.0 server (or a change entry) leaves out. */
export function normalizeEntry(f) {
  const { type: _type, re: _re, ...m } = f;
  m.kind ??= 'text';
  if (m.kind === 'text') {
    m.state_seq ??= m.seq;
    m.reactions = (m.reactions ?? []).map((r) => ({ emoji: r.emoji, count: r.count, me: !!r.me }));
    m.mentions ??= [];
    m.attachments ??= [];
    m.reply_to ??= null;
    m.edited_ts ??= null;
    m.deleted = !!m.deleted;
  }
  return m;
}

const USERNAME_CHAR = /[a-z0-9_.-]/i;

/**
 * The usernames named as `@username` in a body, lower case, in order, each
 * once: the name ends at the first character that cannot be in a username,
 * and a trailing `.` or `-` is not part of it (§5).
 */
export function mentionedNames(body) {
  return [...new Set(mentionSpans(body).map((s) => s.username))];
}

/** Where `@username` mentions sit in a body: [{start, end, username}] (end exclusive). */
export function mentionSpans(body) {
  const out = [];
  const s = String(body ?? '');
  for (let i = s.indexOf('@'); i >= 0; i = s.indexOf('@', i + 1)) {
    let j = i + 1;
    while (j < s.length && USERNAME_CHAR.test(s[j])) j += 1;
    while (j > i + 1 && (s[j - 1] === '.' || s[j - 1] === '-')) j -= 1;
    const name = s.slice(i + 1, j).toLowerCase();
    if (name.length >= 3 && name.length <= 32) out.push({ start: i, end: j, username: name });
    i = Math.max(i, j - 1);
  }
  return out;
}

/**
 * Folds change entries (ascending seq, all above base.state_seq) into a
 * text entry. `userId` is the reader (for `me`); `mentionsOf(body)` gives
 * the mention ids of an edited body when the edit entry carries none.
 * Pure: returns a new object.
 */
export function foldText(base, changes, { userId = null, mentionsOf = () => [] } = {}) {
  const m = { ...base, reactions: base.reactions.map((r) => ({ ...r })) };
  // Who is known to hold each emoji, learnt from the changes folded here;
  // the base only says how many and whether the reader is one of them.
  const holders = new Map(); // emoji -> Map(user -> bool)
  for (const ch of changes) {
    if (ch.seq <= m.state_seq && !ch.pending) continue;
    if (ch.kind === 'delete') {
      m.deleted = true;
      m.body = '';
      m.attachments = [];
      m.reactions = [];
      m.mentions = [];
    } else if (ch.kind === 'edit' && !m.deleted) {
      m.body = ch.body;
      m.edited_ts = ch.ts ?? Date.now();
      m.mentions = Array.isArray(ch.mentions) ? ch.mentions : mentionsOf(ch.body);
    } else if (ch.kind === 'reaction' && !m.deleted) {
      applyReaction(m, holders, ch, userId);
    }
    if (ch.pending) m.pending = true;
    else m.state_seq = ch.seq;
  }
  return m;
}

function applyReaction(m, holders, ch, userId) {
  let r = m.reactions.find((x) => x.emoji === ch.emoji);
  if (!holders.has(ch.emoji)) holders.set(ch.emoji, new Map());
  const who = holders.get(ch.emoji);
  const mine = ch.sender === userId;
  let had = mine ? !!r?.me : who.get(ch.sender);
  if (had === undefined) {
    // Someone else whose state we never saw: a remove means they held it
    // if the count has holders not accounted for; an add means they did not.
    const known = [...who.values()].filter(Boolean).length + (r?.me ? 1 : 0);
    had = ch.op === 'remove' && !!r && r.count > known;
  }
  if (ch.op === 'add' && !had) {
    if (!r) m.reactions.push((r = { emoji: ch.emoji, count: 0, me: false }));
    r.count += 1;
    if (mine) r.me = true;
  } else if (ch.op === 'remove' && had && r) {
    r.count -= 1;
    if (mine) r.me = false;
    if (r.count <= 0) m.reactions = m.reactions.filter((x) => x !== r);
  }
  if (!mine) who.set(ch.sender, ch.op === 'add');
}

/**
 * The entries of one conversation a client holds, folded: text entries in
 * their current state, whatever order history pages and live events bring
 * their entries in. Owned by one ParleyClient (or a test); not shared.
 */
export class MessageLog {
  /** @param {{userId?: string, mentionsOf?: Function}} o */
  constructor({ userId = null, mentionsOf } = {}) {
    this.userId = userId;
    this.mentionsOf = mentionsOf ?? (() => []);
    this._bases = new Map(); // text seq -> newest served folded state
    this._changes = new Map(); // target seq -> Map(seq -> change entry above the base)
    this._folded = new Map(); // text seq -> folded state (cache)
    this._seqs = new Set(); // every seq held, text or change
  }

  /**
   * Takes one entry (normalized or not). Returns the folded text entry it
   * changed, or null when it changed nothing (a duplicate, an older
   * snapshot, a change to an entry not held yet).
   */
  add(entry) {
    const e = entry.kind && entry.state_seq !== undefined ? entry : normalizeEntry(entry);
    if (e.kind === 'text') {
      const cur = this._bases.get(e.seq);
      // A newer snapshot replaces the base; an equal one replaces a base the
      // client made up from a `sent` answer (the server's has the mentions).
      if (cur && (e.state_seq < cur.state_seq || (e.state_seq === cur.state_seq && !cur._local))) return null;
      this._seqs.add(e.seq);
      this._bases.set(e.seq, e);
      const ch = this._changes.get(e.seq);
      if (ch) for (const s of ch.keys()) if (s <= e.state_seq) ch.delete(s);
      return this._refold(e.seq);
    }
    if (this._seqs.has(e.seq)) return null;
    this._seqs.add(e.seq);
    const base = this._bases.get(e.target);
    if (base && e.seq <= base.state_seq) return null; // already folded into it
    if (!this._changes.has(e.target)) this._changes.set(e.target, new Map());
    this._changes.get(e.target).set(e.seq, e);
    return base ? this._refold(e.target) : null;
  }

  _refold(seq) {
    const base = this._bases.get(seq);
    const changes = [...(this._changes.get(seq)?.values() ?? [])].sort((a, b) => a.seq - b.seq);
    const m = changes.length ? foldText(base, changes, { userId: this.userId, mentionsOf: this.mentionsOf }) : base;
    this._folded.set(seq, m);
    return m;
  }

  /** The folded text entry at seq, or undefined. */
  get(seq) {
    return this._folded.get(seq);
  }

  /** Folded text entries, ascending by seq. */
  list() {
    return [...this._folded.values()].sort((a, b) => a.seq - b.seq);
  }

  /** The lowest seq held (text or change), or null. */
  oldest() {
    let min = null;
    for (const s of this._seqs) if (min === null || s < min) min = s;
    return min;
  }
}

class Emitter {
  #handlers = new Map();
  /** Subscribe; returns a function that unsubscribes. */
  on(type, fn) {
    if (!this.#handlers.has(type)) this.#handlers.set(type, new Set());
    this.#handlers.get(type).add(fn);
    return () => this.off(type, fn);
  }
  off(type, fn) {
    this.#handlers.get(type)?.delete(fn);
  }
  once(type, fn) {
    const off = this.on(type, (...a) => {
      off();
      fn(...a);
    });
    return off;
  }
  emit(type, ...args) {
    for (const fn of [...(this.#handlers.get(type) ?? [])]) {
      try {
        fn(...args);
      } catch (e) {
        // A listener's bug must not break delivery to the others.
        setTimeout(() => {
          throw e;
        });
      }
    }
  }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const aborted = () => new ParleyError('aborted', 'the upload was cancelled');

// POST with XMLHttpRequest, whose upload events report progress (fetch has
// none): resolves with {status, text}; an aborted `signal` cancels it.
function xhrPost(XHR, url, headers, body, total, onProgress, signal) {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(aborted());
    const xhr = new XHR();
    xhr.open('POST', url);
    for (const [k, v] of Object.entries(headers)) xhr.setRequestHeader(k, v);
    if (onProgress && xhr.upload) {
      xhr.upload.onprogress = (e) => onProgress({ loaded: e.loaded, total: e.lengthComputable ? e.total : total });
    }
    const stop = () => xhr.abort();
    signal?.addEventListener('abort', stop, { once: true });
    const settle = (f) => (signal?.removeEventListener('abort', stop), f());
    xhr.onload = () => settle(() => resolve({ status: xhr.status, text: xhr.responseText }));
    xhr.onerror = () => settle(() => reject(new ParleyError('network', 'cannot reach the server (the upload was cut)')));
    xhr.onabort = () => settle(() => reject(aborted()));
    xhr.send(body);
  });
}

export class ParleyClient extends Emitter {
  /**
   * @param {object} [o]
   * @param {string} [o.baseUrl]  http(s) origin of the server; the page's origin by default
   * @param {string} [o.wsUrl]    WebSocket URL; derived from baseUrl by default
   * @param {Function} [o.WebSocket] WebSocket constructor (the `ws` package in Node)
   * @param {Function} [o.fetch]
   * @param {Function} [o.XMLHttpRequest] for upload progress (the browser's by default; without it, fetch)
   * @param {object} [o.store]    {get,set,remove} for the session and outbox (memoryStore())
   * @param {object} [o.session]  a Session to start with (else the store's)
   * @param {number} [o.backoffMinMs=500]  first reconnect delay
   * @param {number} [o.backoffMaxMs=30000] largest reconnect delay
   * @param {number} [o.requestTimeoutMs=15000] a request without an answer drops the connection
   * @param {number} [o.offlineAfterAttempts=3] failed attempts before the state says 'offline'
   * @param {number} [o.healthyAfterMs=10000] a connection open this long after `welcome` resets the backoff
   * @param {number} [o.fillLimit=500] page size for gap filling
   */
  constructor(o = {}) {
    super();
    const loc = globalThis.location;
    this.baseUrl = (o.baseUrl ?? (loc ? loc.origin : '')).replace(/\/+$/, '');
    this.wsUrl = o.wsUrl ?? this.baseUrl.replace(/^http/, 'ws') + '/v1/ws';
    this.WebSocket = o.WebSocket ?? globalThis.WebSocket;
    this._fetch = o.fetch ?? ((...a) => globalThis.fetch(...a));
    this._XMLHttpRequest = o.XMLHttpRequest ?? globalThis.XMLHttpRequest ?? null;
    this.store = o.store ?? memoryStore();
    this.backoffMinMs = o.backoffMinMs ?? 500;
    this.backoffMaxMs = o.backoffMaxMs ?? 30000;
    this.requestTimeoutMs = o.requestTimeoutMs ?? 15000;
    this.offlineAfterAttempts = o.offlineAfterAttempts ?? 3;
    this.healthyAfterMs = o.healthyAfterMs ?? 10000;
    this.fillLimit = o.fillLimit ?? 500;
    this.typingIntervalMs = 3000;

    /** 'idle' | 'connecting' | 'connected' | 'reconnecting' | 'offline' | 'closed' */
    this.state = 'idle';
    this.session = null;
    this.user = null; // User of the session
    this.heartbeatMs = 25000;
    /** conv id -> Conversation (plus `last_message`) */
    this.conversations = new Map();
    /** user id -> {id, username, online, last_seen} */
    this.users = new Map();

    this._known = new Map(); // conv -> highest seq delivered, gapless
    this._buffer = new Map(); // conv -> Map(seq -> message) waiting for earlier seqs
    this._gapTo = new Map(); // conv -> to_seq announced by a `gap` event
    this._lastMessage = new Map(); // conv -> newest text entry delivered (folded)
    this._logs = new Map(); // conv -> MessageLog: every entry held, text entries folded
    this._reads = new Map(); // conv -> Map(user id -> highest read_seq known)
    this._filling = new Set();
    this._outbox = [];
    this._waiters = new Map(); // client_msg_id -> {resolve, reject}
    this._inflight = new Map(); // conv id -> token of the send in flight
    this._pending = new Map(); // request id -> {resolve, reject, timer}
    this._readWanted = new Map(); // conv -> seq to mark read
    this._readBusy = new Set();
    this._typingSent = new Map();
    this._nextId = 1;
    this._attempt = 0;
    this._wanted = false;
    this._ws = null;
    this._timers = {};
    this._refreshing = null;

    const s = o.session ?? this.store.get('session');
    if (s) this._adoptSession(s, { save: !!o.session });

    if (typeof globalThis.addEventListener === 'function' && typeof globalThis.document !== 'undefined') {
      // The network is back: try now rather than when the backoff says,
      // and drop a socket still trying (it may hang on the dead route);
      // a connection that looks open is checked with a ping.
      globalThis.addEventListener('online', () => {
        if (!this._wanted) return;
        if (this.state !== 'connected') return this.reconnectNow();
        const ws = this._ws;
        this.request({ type: 'ping' }, { timeoutMs: 3000 }).catch(() => this._ws === ws && this.reconnectNow());
      });
      globalThis.addEventListener('offline', () => {
        if (this.state !== 'connected' && this._wanted) this._setState('offline');
      });
      globalThis.document.addEventListener('visibilitychange', () => {
        if (globalThis.document.visibilityState === 'visible' && this._wanted && !this._ws) this.reconnectNow();
      });
    }
  }

  // ---------------------------------------------------------------- HTTP

  /** Calls the HTTP API; refreshes the token once on 401. */
  async http(method, path, body, { auth = true, retry = true } = {}) {
    if (auth) await this._ensureFreshToken();
    const headers = { Accept: 'application/json' };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    if (auth && this.session) headers.Authorization = `Bearer ${this.session.access_token}`;
    let res;
    try {
      res = await this._fetch(this.baseUrl + path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (e) {
      throw new ParleyError('network', `cannot reach the server (${e.message})`);
    }
    if (res.status === 401 && auth && retry && this.session && !this.session.api_key) {
      await this.refresh();
      return this.http(method, path, body, { auth, retry: false });
    }
    const text = await res.text();
    let data = null;
    try {
      data = text ? JSON.parse(text) : null;
    } catch {
      data = null;
    }
    if (!res.ok) {
      const err = data && data.error ? data.error : {};
      throw new ParleyError(err.code || `http_${res.status}`, err.message || res.statusText, { status: res.status });
    }
    return data;
  }

  // ---------------------------------------------------------------- auth

  async register(username, password, display_name) {
    const body = { username, password };
    if (display_name) body.display_name = display_name;
    const s = await this.http('POST', '/v1/auth/register', body, { auth: false });
    this._adoptSession(s, { fresh: true });
    return s;
  }

  async login(username, password) {
    const s = await this.http('POST', '/v1/auth/login', { username, password }, { auth: false });
    this._adoptSession(s, { fresh: true });
    return s;
  }

  /** Signs this device out: revokes its refresh token (best effort), forgets the session, closes the connection. */
  logout() {
    const refresh_token = this.session?.refresh_token;
    if (refresh_token) this.http('POST', '/v1/auth/logout', { refresh_token }, { auth: false }).catch(() => {});
    this._signOut();
  }

  _signOut() {
    this.close();
    this.store.remove('session');
    this.session = null;
    this.user = null;
    this._resetUserState();
    this.emit('session', null);
  }

  // ---------------------------------------------------------------- account (§1.7, §7)

  /** Sets the display name others see (PATCH /v1/me); resolves with the User. */
  async updateProfile({ display_name }) {
    const u = await this.http('PATCH', '/v1/me', { display_name });
    this._onUserUpdated({ user: u.id, username: u.username, display_name: u.display_name });
    return u;
  }

  /** updateProfile under the name of the account calls: `updateMe({displayName})`. */
  updateMe({ displayName } = {}) {
    return this.updateProfile({ display_name: displayName });
  }

  /** Changes the password; this device stays signed in with the new session, every other one is signed out. */
  async changePassword(old_password, new_password) {
    const s = await this.http('POST', '/v1/auth/password', { old_password, new_password });
    this._adoptSession(s);
    return s;
  }

  /** Signs out every device of the user, this one included (every token revoked). */
  async logoutAll() {
    await this.http('POST', '/v1/auth/logout', { all: true });
    this._signOut();
  }

  /** Deletes the account after checking the password, then signs out here. */
  async deleteAccount(password) {
    await this.http('DELETE', '/v1/me', { password });
    this._signOut();
  }

  /**
   * The user's data as the server exports it (GET /v1/me/export): resolves
   * with {blob, filename}, for a page to save.
   */
  async exportData() {
    await this._ensureFreshToken();
    let res;
    try {
      res = await this._fetch(this.baseUrl + '/v1/me/export', { headers: { Authorization: `Bearer ${this.session?.access_token}` } });
    } catch (e) {
      throw new ParleyError('network', `cannot reach the server (${e.message})`);
    }
    if (!res.ok) {
      let err = {};
      try {
        err = (await res.json()).error ?? {};
      } catch {
        /* not JSON */
      }
      throw new ParleyError(err.code || `http_${res.status}`, err.message || res.statusText, { status: res.status });
    }
    const named = /filename="?([^";]+)"?/.exec(res.headers.get('Content-Disposition') ?? '');
    const filename = named ? named[1] : `parley-export-${this.user?.username ?? 'me'}.json`;
    return { blob: await res.blob(), filename };
  }

  /**
   * Uploads a file (protocol 1.1 §6, POST /v1/uploads): the body streams to
   * the server, which answers once it is stored. Resolves with the Upload
   * {id, name, content_type, size, sha256}. `file` is a Blob or File (its
   * name and type are used unless `name` or `contentType` say otherwise) or
   * bytes (Uint8Array, ArrayBuffer; then `name` is needed).
   * `onProgress({loaded, total})` follows the bytes sent where the platform
   * reports them (XMLHttpRequest in browsers), and is called once more when
   * the upload is stored. Rejects with a ParleyError: too_large (over the
   * server's limit), bad_request (empty, bad name), network, or aborted
   * once `signal` (an AbortSignal) is aborted: nothing is kept then.
   */
  async upload(file, { name, contentType, onProgress, signal } = {}) {
    const fileName = name ?? file?.name;
    if (!fileName) throw new ParleyError('bad_request', 'an upload needs a file name');
    const type = contentType || file?.type || 'application/octet-stream';
    const total = file?.size ?? file?.byteLength ?? 0;
    const url = `${this.baseUrl}/v1/uploads?name=${encodeURIComponent(fileName)}`;
    const attempt = async () => {
      await this._ensureFreshToken();
      const headers = { Accept: 'application/json', 'Content-Type': type, Authorization: `Bearer ${this.session?.access_token}` };
      if (signal?.aborted) throw aborted();
      if (this._XMLHttpRequest) return xhrPost(this._XMLHttpRequest, url, headers, file, total, onProgress, signal);
      try {
        const res = await this._fetch(url, { method: 'POST', headers, body: file, signal });
        return { status: res.status, text: await res.text() };
      } catch (e) {
        if (signal?.aborted) throw aborted();
        throw new ParleyError('network', `cannot reach the server (${e.message})`);
      }
    };
    let answer = await attempt();
    if (answer.status === 401 && this.session) {
      await this.refresh();
      answer = await attempt();
    }
    let data = null;
    try {
      data = answer.text ? JSON.parse(answer.text) : null;
    } catch {
      data = null;
    }
    if (answer.status < 200 || answer.status >= 300 || !data?.upload) {
      const err = data?.error ?? {};
      throw new ParleyError(err.code || `http_${answer.status}`, err.message || 'upload failed', { status: answer.status });
    }
    onProgress?.({ loaded: data.upload.size, total: data.upload.size });
    return data.upload;
  }

  /**
   * Learns the display names of users (GET /v1/users/{username}, each once):
   * member lists carry only usernames. Emits `user_updated` for each.
   */
  async learnProfiles(ids) {
    this._profiled ??= new Set();
    const todo = [...new Set(ids)].filter((id) => this.users.get(id)?.username && !this._profiled.has(id));
    for (const id of todo) this._profiled.add(id);
    await Promise.all(
      todo.map(async (id) => {
        try {
          const u = await this.getUser(this.users.get(id).username);
          if (u?.id === id) this._onUserUpdated({ user: id, username: u.username, display_name: u.display_name ?? null });
        } catch (e) {
          if (e.code !== 'not_found') this._profiled.delete(id); // a network failure: ask again later
        }
      }),
    );
  }

  // §7 `user_updated`: a user's display name changed (also what learnProfiles and updateProfile learn).
  _onUserUpdated(f) {
    const u = this.users.get(f.user) ?? { id: f.user, online: false, last_seen: null };
    if (f.username) u.username = f.username;
    u.display_name = f.display_name ?? null;
    this.users.set(f.user, u);
    if (f.user === this.user?.id) {
      this.user = { ...this.user, display_name: u.display_name };
      if (this.session) {
        this.session = { ...this.session, user: { ...this.session.user, display_name: u.display_name } };
        this.store.set('session', this.session);
      }
    }
    this.emit('user_updated', { user: f.user, username: u.username, display_name: u.display_name });
  }

  /** Rotates the tokens. Concurrent callers share one request. */
  refresh() {
    if (!this._refreshing) {
      this._refreshing = this._doRefresh().finally(() => {
        this._refreshing = null;
      });
    }
    return this._refreshing;
  }

  async _doRefresh() {
    const cur = this.session;
    if (!cur) throw new ParleyError('unauthorized', 'not signed in');
    if (cur.api_key) {
      // An API key has nothing to rotate: refused means revoked.
      const e = new ParleyError('unauthorized', 'the API key was refused (revoked or deleted)', { status: 401 });
      this._authLost(e);
      throw e;
    }
    // Another tab sharing the store may have rotated the tokens already.
    const adoptStored = () => {
      const st = this.store.get('session');
      if (st && st.user?.id === cur.user.id && st.refresh_token !== cur.refresh_token && st.expires_at > Date.now() + 5000) {
        this._adoptSession(st, { save: false });
        return st;
      }
      return null;
    };
    const st = adoptStored();
    if (st) return st;
    try {
      const s = await this.http('POST', '/v1/auth/refresh', { refresh_token: cur.refresh_token }, { auth: false });
      this._adoptSession(s);
      return s;
    } catch (e) {
      if (e.status === 401) {
        // Another tab may be rotating the same token right now: give it a moment.
        let again = adoptStored();
        if (!again && this.store.get('session')) {
          await sleep(1500);
          again = adoptStored();
        }
        if (again) return again;
        this._authLost(e);
      }
      throw e;
    }
  }

  _adoptSession(s, { save = true, fresh = false } = {}) {
    if (!s.expires_at) s = { ...s, expires_at: Date.now() + (s.expires_in ?? 900) * 1000 };
    const changedUser = !this.session || this.session.user?.id !== s.user?.id;
    this.session = s;
    if (changedUser || fresh) {
      if (changedUser) this._resetUserState();
      this.user = s.user;
      this._loadReads();
      if (changedUser) this._loadRemoved();
      this._outbox = (this.store.get(`outbox:${s.user.id}`) ?? []).map((i) => ({ type: 'send', ...i, status: i.status === 'failed' ? 'failed' : 'pending' }));
    }
    if (save) this.store.set('session', s);
    this._scheduleRefresh();
    this.emit('session', s);
  }

  _scheduleRefresh() {
    clearTimeout(this._timers.refresh);
    if (!this.session || this.session.api_key) return;
    const ttl = (this.session.expires_in ?? 900) * 1000;
    const margin = Math.min(60000, ttl * 0.25);
    const delay = Math.max(500, this.session.expires_at - margin - Date.now());
    this._timers.refresh = setTimeout(() => {
      this.refresh().catch((e) => {
        // Network trouble: try again soon; a lost session was reported.
        if (e.code !== 'unauthorized' && this.session) {
          clearTimeout(this._timers.refresh);
          this._timers.refresh = setTimeout(() => this._scheduleRefresh(), 3000);
        }
      });
    }, delay);
    this._timers.refresh?.unref?.();
  }

  async _ensureFreshToken() {
    if (this.session && this.session.expires_at - Date.now() < 5000) await this.refresh();
  }

  _authLost(err) {
    this._wanted = false;
    clearTimeout(this._timers.refresh);
    this._closeSocket(1000, 'signed out');
    this.store.remove('session');
    this._setState('closed');
    this.emit('auth_lost', err);
  }

  _resetUserState() {
    this._profiled?.clear();
    this.conversations.clear();
    this.users.clear();
    this._known.clear();
    this._buffer.clear();
    this._gapTo.clear();
    this._lastMessage.clear();
    this._logs.clear();
    this._reads.clear();
    this._outbox = [];
    this._readWanted.clear();
  }

  // ---------------------------------------------------------------- connection

  /** Opens the WebSocket and keeps it open until close(). */
  connect() {
    if (!this.session) throw new ParleyError('unauthorized', 'sign in first');
    this._wanted = true;
    if (!this._ws && !this._timers.retry && !this._opening) this._open();
  }

  /** Closes the connection; no reconnect until connect(). Pending sends stay in the outbox. */
  close() {
    this._wanted = false;
    for (const k of Object.keys(this._timers)) {
      clearTimeout(this._timers[k]);
      clearInterval(this._timers[k]);
      delete this._timers[k];
    }
    this._closeSocket(1000, 'bye');
    this._setState('closed');
  }

  /** Skips the backoff wait (e.g. a "retry now" button, or the browser went online). */
  reconnectNow() {
    if (!this._wanted) return;
    clearTimeout(this._timers.retry);
    this._timers.retry = null;
    if (this._ws) this._closeSocket(4000, 'reconnect');
    this._attempt = 0;
    this._open();
  }

  async _open() {
    this._timers.retry = null;
    if (!this._wanted || this._ws || this._opening) return;
    this._opening = true;
    this._setState(this._everConnected ? 'reconnecting' : 'connecting', { attempt: this._attempt });
    try {
      await this._ensureFreshToken();
    } catch (e) {
      this._opening = false;
      if (e.code === 'unauthorized' || e.status === 401) return; // reported by _authLost
      return this._scheduleReconnect();
    }
    this._opening = false;
    if (!this._wanted || this._ws) return;
    let ws;
    try {
      ws = new this.WebSocket(this.wsUrl);
    } catch (e) {
      return this._scheduleReconnect();
    }
    this._ws = ws;
    this._welcomed = false;
    this._timers.hello = setTimeout(() => {
      if (this._ws === ws && !this._welcomed) this._drop(ws, 'no welcome');
    }, Math.max(10000, this.requestTimeoutMs));
    ws.onopen = () => {
      if (this._ws !== ws) return;
      const last_seq = {};
      for (const [c, s] of this._known) last_seq[c] = s;
      this._helloId = this._nextId++;
      ws.send(JSON.stringify({ id: this._helloId, type: 'hello', token: this.session.access_token, last_seq }));
    };
    ws.onmessage = (ev) => this._onFrame(ws, ev.data);
    ws.onerror = () => {};
    ws.onclose = (ev) => this._onClose(ws, ev.code, ev.reason);
  }

  _closeSocket(code, reason) {
    const ws = this._ws;
    if (!ws) return;
    this._ws = null;
    this._onDisconnected();
    try {
      ws.onopen = ws.onmessage = ws.onclose = null;
      ws.onerror = () => {};
      ws.close(code, reason);
    } catch {
      /* already closing */
    }
  }

  /** Drops a connection that looks dead and reconnects. */
  _drop(ws, why) {
    if (this._ws !== ws) return;
    this._closeSocket(4000, why);
    if (this._wanted) this._scheduleReconnect();
  }

  _onClose(ws, code) {
    if (this._ws !== ws) return;
    this._ws = null;
    this._onDisconnected();
    if (!this._wanted) return this._setState('closed');
    if (code === 4003) {
      // Token refused: rotate and come back at once.
      this.refresh().then(
        () => this._scheduleReconnect(0),
        (e) => {
          if (e.status !== 401 && e.code !== 'unauthorized') this._scheduleReconnect();
        },
      );
      return;
    }
    this._scheduleReconnect();
  }

  _onDisconnected() {
    clearTimeout(this._timers.hello);
    clearTimeout(this._timers.healthy);
    clearInterval(this._timers.heartbeat);
    this._welcomed = false;
    const err = new ParleyError('disconnected', 'the connection closed');
    for (const p of this._pending.values()) {
      clearTimeout(p.timer);
      p.reject(err);
    }
    this._pending.clear();
    this._inflight.clear();
    this._readBusy.clear();
  }

  _scheduleReconnect(delay) {
    if (!this._wanted) return;
    clearTimeout(this._timers.retry);
    const attempt = this._attempt++;
    if (delay === undefined) {
      const cap = Math.min(this.backoffMaxMs, this.backoffMinMs * 2 ** Math.min(attempt, 20));
      delay = cap / 2 + Math.random() * (cap / 2); // "equal jitter"
    }
    const navOffline = globalThis.navigator && globalThis.navigator.onLine === false;
    const state = navOffline || attempt + 1 >= this.offlineAfterAttempts ? 'offline' : 'reconnecting';
    this._setState(state, { attempt: attempt + 1, retryInMs: Math.round(delay), retryAt: Date.now() + delay });
    this._timers.retry = setTimeout(() => this._open(), delay);
  }

  _setState(state, info = {}) {
    const changed = state !== this.state;
    this.state = state;
    this.stateInfo = info;
    if (changed || info.retryInMs !== undefined) this.emit('state', state, info);
  }

  _startHeartbeat(ws) {
    clearInterval(this._timers.heartbeat);
    const every = Math.max(1000, this.heartbeatMs);
    this._lastRx = Date.now();
    this._timers.heartbeat = setInterval(() => {
      if (this._ws !== ws || !this._welcomed) return;
      if (Date.now() - this._lastRx < every) return;
      // Quiet for a while: make sure the other side is still there.
      this.request({ type: 'ping' }, { timeoutMs: Math.min(10000, 2 * every) }).catch(() => {});
    }, every);
  }

  // ---------------------------------------------------------------- frames

  _onFrame(ws, data) {
    if (this._ws !== ws) return;
    this._lastRx = Date.now();
    let f;
    try {
      f = JSON.parse(typeof data === 'string' ? data : String(data));
    } catch {
      return;
    }
    if (!f || typeof f !== 'object') return;
    if (f.re !== undefined && f.re !== null) {
      if (f.type === 'welcome') return this._onWelcome(ws, f);
      if (f.re === this._helloId && f.type === 'error' && !this._welcomed) {
        this.emit('error', new ParleyError(f.code, f.message));
        return;
      }
      const p = this._pending.get(f.re);
      if (p) {
        this._pending.delete(f.re);
        clearTimeout(p.timer);
        if (f.type === 'error') p.reject(new ParleyError(f.code, f.message, { retryAfterMs: f.retry_after_ms }));
        else p.resolve(f);
      }
      return;
    }
    switch (f.type) {
      case 'message':
        return this._onMessage(f);
      case 'gap':
        return this._onGap(f);
      case 'presence':
        return this._onPresence(f);
      case 'typing':
        if (f.user !== this.user?.id) this.emit('typing', { conv: f.conv, user: f.user });
        return;
      case 'read':
        return this._onRead(f);
      case 'member':
        return this._onMember(f);
      case 'group_updated':
        return this._onGroupUpdated(f);
      case 'user_updated':
        return this._onUserUpdated(f);
      case 'error':
        this.emit('error', new ParleyError(f.code, f.message));
        return;
      default:
        return; // unknown frame types are ignored (the protocol only grows)
    }
  }

  _onWelcome(ws, f) {
    clearTimeout(this._timers.hello);
    this._welcomed = true;
    this.user = f.user;
    this.heartbeatMs = f.heartbeat_ms || 25000;
    this.sessionId = f.session;
    this.users.set(f.user.id, { ...(this.users.get(f.user.id) ?? {}), ...f.user });
    const seen = new Set();
    for (const c of f.conversations ?? []) {
      seen.add(c.id);
      this._upsertConversation(c, { own: true });
    }
    // Gone from the server's list: forgotten, unless the user was removed
    // (kept, read-only, until dismiss()).
    for (const [id, c] of [...this.conversations]) if (!seen.has(id) && !c.removed) this._forget(id);
    // The backoff starts over only once this connection proved healthy:
    // `welcome` alone proves little, since the server may close right after
    // it (4009 during the resume, a crash loop), and resetting then would
    // reconnect every backoffMinMs forever. The end of the resume is not
    // marked on the wire, so time open is the measure.
    clearTimeout(this._timers.healthy);
    this._timers.healthy = setTimeout(() => {
      if (this._ws === ws && this._welcomed) this._attempt = 0;
    }, this.healthyAfterMs);
    this._timers.healthy.unref?.();
    this._everConnected = true;
    this._setState('connected');
    this._startHeartbeat(ws);
    this.emit('welcome', f);
    this.emit('conversations', this.listConversations());
    // Requests sent now are handled after the resume frames are queued.
    this._pumpOutbox();
    this._flushReads();
    for (const conv of this._buffer.keys()) this._fill(conv);
    this._queryPresence().catch(() => {});
  }

  // ---------------------------------------------------------------- messages

  _onMessage(f) {
    const m = normalizeEntry(f);
    if (m.seq <= (this._known.get(m.conv) ?? -1)) {
      // Delivered already (perhaps as made up from our own `sent`): the
      // server's copy may still carry a newer folded state.
      this._ingest(m);
      return;
    }
    if (!this.conversations.has(m.conv)) {
      // A conversation we have not heard of (a DM someone opened with us):
      // learn about it, and fetch whatever came before this message.
      if (!this._known.has(m.conv)) this._known.set(m.conv, 0);
      this._learnConversation(m.conv);
    }
    this._accept(m);
  }

  _accept(m) {
    const known = this._known.get(m.conv) ?? 0;
    if (m.seq <= known) return; // duplicate
    let buf = this._buffer.get(m.conv);
    if (!buf) this._buffer.set(m.conv, (buf = new Map()));
    buf.set(m.seq, m);
    this._drain(m.conv);
  }

  _drain(conv) {
    const buf = this._buffer.get(conv);
    if (!buf) return;
    let known = this._known.get(conv) ?? 0;
    while (buf.has(known + 1)) {
      const m = buf.get(known + 1);
      buf.delete(known + 1);
      known += 1;
      this._known.set(conv, known);
      this._deliver(m);
    }
    for (const s of buf.keys()) if (s <= known) buf.delete(s);
    if (buf.size === 0) this._buffer.delete(conv);
    if (buf.size > 0 || (this._gapTo.get(conv) ?? 0) > known) this._fill(conv);
    else this._gapTo.delete(conv);
  }

  _onGap(f) {
    const known = this._known.get(f.conv) ?? 0;
    if (f.to_seq <= known) return;
    if (!this._known.has(f.conv)) this._known.set(f.conv, Math.max(0, f.from_seq - 1));
    this._gapTo.set(f.conv, Math.max(this._gapTo.get(f.conv) ?? 0, f.to_seq));
    this.emit('gap', { conv: f.conv, from_seq: f.from_seq, to_seq: f.to_seq });
    this._fill(f.conv);
  }

  /** Fetches missing seqs with `history` until the conversation is gapless again. */
  async _fill(conv) {
    if (this._filling.has(conv) || !this.connected) return;
    this._filling.add(conv);
    try {
      for (;;) {
        const known = this._known.get(conv) ?? 0;
        const buf = this._buffer.get(conv);
        let upper = buf && buf.size ? Math.min(...buf.keys()) : Infinity; // first seq we hold
        const gapTo = this._gapTo.get(conv);
        if (gapTo !== undefined) {
          if (gapTo <= known) this._gapTo.delete(conv);
          else upper = Math.min(upper, gapTo + 1);
        }
        if (upper === Infinity) break; // nothing missing
        if (upper <= known + 1) {
          this._drain(conv);
          continue;
        }
        const limit = Math.min(this.fillLimit, upper - known - 1);
        const msgs = (await this._history(conv, { after: known, before: upper, limit })).map(normalizeEntry);
        if (!this.conversations.has(conv) && !this._known.has(conv)) break; // left meanwhile
        let b = this._buffer.get(conv);
        if (!b) this._buffer.set(conv, (b = new Map()));
        for (const m of msgs) if (m.seq > (this._known.get(conv) ?? 0)) b.set(m.seq, m);
        if (!msgs.some((m) => m.seq === known + 1)) {
          // The store has nothing there (should not happen): do not spin.
          this.emit('error', new ParleyError('gap_unfillable', `conv ${conv}: seq ${known + 1} is missing`));
          this._known.set(conv, Math.min(...b.keys(), upper) - 1);
        }
        this._drain(conv);
      }
    } catch (e) {
      // Disconnected: the next welcome retries. Refused: give up on it.
      if (e.code === 'forbidden' || e.code === 'not_found') {
        this._buffer.delete(conv);
        this._gapTo.delete(conv);
      }
    } finally {
      this._filling.delete(conv);
    }
  }

  _deliver(m) {
    const c = this.conversations.get(m.conv);
    const mine = m.sender === this.user?.id;
    const log = this._log(m.conv);
    const target = m.kind === 'text' ? m.seq : m.target;
    const before = c ? this._unreadWeight(c, log.get(target)) : null;
    const folded = this._ingest(m);
    if (c) {
      c.last_seq = Math.max(c.last_seq ?? 0, m.seq);
      // The server's counts already hold every entry up to _countedTo.
      if (m.seq > (c._countedTo ?? 0)) {
        const after = this._unreadWeight(c, log.get(target));
        c.unread = Math.max(0, (c.unread ?? 0) + after.unread - before.unread);
        c.mentions_unread = Math.max(0, (c.mentions_unread ?? 0) + after.mention - before.mention);
        c._countedTo = m.seq;
      }
      if (mine) this._moveRead(c, m.seq); // any entry a user makes reads up to it
      if (!folded) this._setLastMessage(m.conv, log.get(target));
    }
    if (mine && m.client_msg_id) this._completeSend(m.client_msg_id, { conv: m.conv, seq: m.seq, id: m.id, ts: m.ts });
    this.emit('message', m);
    if (c) this.emit('conversation', c);
  }

  _log(conv) {
    let log = this._logs.get(conv);
    if (!log) {
      log = new MessageLog({ userId: this.user?.id ?? null, mentionsOf: (body) => this._mentionIds(conv, body) });
      this._logs.set(conv, log);
    }
    return log;
  }

  // The ids of the conversation's members named in a body (for a body this
  // client made up or edited; the server's copy says so itself).
  _mentionIds(conv, body) {
    const names = new Set(mentionedNames(body));
    if (!names.size) return [];
    const members = this.conversations.get(conv)?.members ?? [];
    return members.filter((x) => names.has(String(x.username).toLowerCase())).map((x) => x.id).slice(0, 50);
  }

  /** Puts an entry into its conversation's log; emits `update` with the folded text entry it changed. */
  _ingest(m) {
    if (m.sender != null) this._noteRead(m.conv, m.sender, m.seq);
    const folded = this._log(m.conv).add(m);
    if (folded) {
      this._setLastMessage(m.conv, folded);
      this.emit('update', folded);
    }
    return folded;
  }

  _setLastMessage(conv, folded) {
    if (!folded) return;
    const cur = this._lastMessage.get(conv);
    if (cur && cur.seq > folded.seq) return;
    this._lastMessage.set(conv, folded);
    const c = this.conversations.get(conv);
    if (c) c.last_message = folded;
  }

  // How much one text entry counts in `unread` and `mentions_unread` (§5):
  // a text entry after read_seq, sent by someone else, not deleted.
  _unreadWeight(c, m) {
    const counts = !!m && m.kind === 'text' && !m.deleted && m.sender !== this.user?.id && m.seq > (c.read_seq ?? 0);
    return { unread: counts ? 1 : 0, mention: counts && m.mentions.includes(this.user?.id) ? 1 : 0 };
  }

  // Moves the caller's read_seq and takes what it passes over off the counts.
  _moveRead(c, seq) {
    const from = c.read_seq ?? 0;
    if (seq <= from) return;
    const log = this._logs.get(c.id);
    let unread = 0;
    let mention = 0;
    if (log && seq < (c.last_seq ?? 0)) {
      for (const m of log.list()) {
        if (m.seq <= from || m.seq > seq) continue;
        const w = this._unreadWeight(c, m);
        unread += w.unread;
        mention += w.mention;
      }
    }
    c.read_seq = seq;
    if (seq >= (c.last_seq ?? 0)) {
      c.unread = 0;
      c.mentions_unread = 0;
    } else {
      c.unread = Math.max(0, (c.unread ?? 0) - unread);
      c.mentions_unread = Math.max(0, (c.mentions_unread ?? 0) - mention);
    }
  }

  /** Folded text entries of a conversation held so far, ascending, with this client's unacknowledged changes shown. */
  messages(conv) {
    const log = this._logs.get(String(conv));
    if (!log) return [];
    const pending = this._pendingChanges(String(conv));
    const list = log.list();
    return pending.size ? list.map((m) => (pending.has(m.seq) ? this._overlay(m, pending.get(m.seq)) : m)) : list;
  }

  /** One folded text entry (with this client's unacknowledged changes), or undefined. */
  message(conv, seq) {
    const m = this._logs.get(String(conv))?.get(seq);
    if (!m) return undefined;
    const p = this._pendingChanges(String(conv)).get(seq);
    return p ? this._overlay(m, p) : m;
  }

  /** The lowest seq held for a conversation (text or change entry), or null. */
  oldestSeq(conv) {
    return this._logs.get(String(conv))?.oldest() ?? null;
  }

  _pendingChanges(conv) {
    const by = new Map();
    for (const i of this._outbox) {
      if (i.conv !== conv || i.type === 'send' || i.status === 'failed') continue;
      if (!by.has(i.seq)) by.set(i.seq, []);
      by.get(i.seq).push({ ...entryOf(i, { ts: i.created_at }, this.user?.id), pending: true });
    }
    return by;
  }

  _overlay(m, changes) {
    return foldText(m, changes, { userId: this.user?.id, mentionsOf: (body) => this._mentionIds(m.conv, body) });
  }

  /** The highest seq delivered for a conversation (what `hello` resumes from). */
  lastSeq(conv) {
    return this._known.get(conv) ?? 0;
  }

  // ---------------------------------------------------------------- sending

  /**
   * Queues a message. It is sent now if connected, else after the next
   * reconnect, always with the same client_msg_id, so it is stored once.
   * Returns a promise of the `sent` answer ({conv, seq, id, ts}), which also
   * carries `.clientMsgId`. It rejects only for a permanent refusal
   * (bad_request, too_large, forbidden, not_found). `replyTo` is the seq of
   * the text entry this one answers. `attachments` are uploads (the Upload
   * objects upload() resolves with, or their ids), at most 10; the body may
   * then be empty.
   */
  send(conv, body, { clientMsgId, replyTo, attachments } = {}) {
    if (replyTo != null && !isSeq(replyTo)) return refuse('replyTo must be a seq (a positive integer)');
    const ids = (attachments ?? []).map((a) => String(typeof a === 'object' && a !== null ? a.id : a));
    if (ids.length > 10) return refuse('at most 10 attachments per message');
    const fields = { type: 'send', conv, body: body ?? '', reply_to: replyTo ?? null };
    if (ids.length > 0) fields.attachments = ids;
    return this._enqueue(fields, clientMsgId);
  }

  /** Replaces the body of one of your messages; queued and retried like send(). */
  edit(conv, seq, body, { clientMsgId } = {}) {
    if (!isSeq(seq)) return refuse('seq must be a positive integer');
    if (typeof body !== 'string' || !body) return refuse('an edit needs a body');
    return this._enqueue({ type: 'edit', conv, seq, body }, clientMsgId);
  }

  /** Deletes a message (yours, or any as a group's owner or admin); queued and retried like send(). */
  delete(conv, seq, { clientMsgId } = {}) {
    if (!isSeq(seq)) return refuse('seq must be a positive integer');
    return this._enqueue({ type: 'delete', conv, seq }, clientMsgId);
  }

  /** Adds (op 'add') or removes (op 'remove') your reaction to a message; queued and retried like send(). */
  react(conv, seq, emoji, op = 'add', { clientMsgId } = {}) {
    if (!isSeq(seq)) return refuse('seq must be a positive integer');
    if (op !== 'add' && op !== 'remove') return refuse("op is 'add' or 'remove'");
    const bytes = typeof emoji === 'string' ? new TextEncoder().encode(emoji).length : 0;
    if (bytes < 1 || bytes > 32) return refuse('an emoji is 1 to 32 bytes of UTF-8');
    return this._enqueue({ type: 'react', conv, seq, emoji, op }, clientMsgId);
  }

  // Every request that makes an entry goes through the outbox: one
  // client_msg_id for all its tries, so the server stores it once.
  _enqueue(fields, clientMsgId) {
    const item = { ...fields, client_msg_id: clientMsgId ?? newClientMsgId(), conv: String(fields.conv), created_at: Date.now(), status: 'pending' };
    const p = new Promise((resolve, reject) => this._waiters.set(item.client_msg_id, { resolve, reject }));
    p.catch(() => {}); // a caller may ignore the promise
    p.clientMsgId = item.client_msg_id;
    this._outbox.push(item);
    if (item.type === 'send') this._typingSent.delete(item.conv); // typing after a send is news again
    this._saveOutbox();
    this.emit('outbox', this.outbox);
    if (item.type !== 'send') this._emitUpdate(item.conv, item.seq);
    this._pumpOutbox();
    return p;
  }

  // The folded view of a message changed without a new entry (a change of
  // ours queued, acknowledged or refused).
  _emitUpdate(conv, seq) {
    const m = this.message(conv, seq);
    if (m) this.emit('update', m);
  }

  /**
   * Unacknowledged requests, oldest first: {type: 'send'|'edit'|'delete'|'react',
   * client_msg_id, conv, created_at, status, and the request's fields: body,
   * reply_to, seq, emoji, op}.
   */
  get outbox() {
    return this._outbox.map((i) => ({ ...i }));
  }

  /** Sends a failed message again (same client_msg_id). */
  retry(clientMsgId) {
    const i = this._outbox.find((x) => x.client_msg_id === clientMsgId);
    if (!i) return;
    i.status = 'pending';
    delete i.error;
    this._saveOutbox();
    this.emit('outbox', this.outbox);
    this._pumpOutbox();
  }

  /** Drops a message from the outbox (it may still have been stored). */
  discard(clientMsgId) {
    this._outbox = this._outbox.filter((x) => x.client_msg_id !== clientMsgId);
    this._saveOutbox();
    this._waiters.get(clientMsgId)?.reject(new ParleyError('discarded', 'discarded'));
    this._waiters.delete(clientMsgId);
    this.emit('outbox', this.outbox);
  }

  _saveOutbox() {
    if (!this.user) return;
    const key = `outbox:${this.user.id}`;
    if (this._outbox.length) this.store.set(key, this._outbox.map(({ waitUntil: _w, error: _e, ...i }) => i));
    else this.store.remove(key);
  }

  // One send in flight per conversation keeps the order of a user's messages.
  _pumpOutbox() {
    if (this.state !== 'connected') return;
    const head = new Set();
    for (const item of this._outbox) {
      if (item.status === 'failed' || head.has(item.conv)) continue;
      head.add(item.conv); // only the oldest live item of each conversation may go
      if (item.status !== 'pending' || this._inflight.has(item.conv) || (item.waitUntil ?? 0) > Date.now()) continue;
      this._sendItem(item);
    }
  }

  async _sendItem(item) {
    const token = {};
    this._inflight.set(item.conv, token);
    const release = () => this._inflight.get(item.conv) === token && this._inflight.delete(item.conv);
    item.status = 'sending';
    let ack;
    try {
      ack = await this.request(frameOf(item));
    } catch (e) {
      release();
      if (!this._outbox.includes(item)) return this._pumpOutbox(); // completed by its message event
      item.status = 'pending';
      if (!RETRYABLE.has(e.code)) {
        // A refused message stays, marked failed, for the user to retry or
        // discard; a refused change goes (its promise says why).
        if (item.type === 'send') {
          item.status = 'failed';
          item.error = { code: e.code, message: e.message };
        } else {
          this._outbox.splice(this._outbox.indexOf(item), 1);
        }
        this._saveOutbox();
        this._waiters.get(item.client_msg_id)?.reject(e);
        this._waiters.delete(item.client_msg_id);
        this.emit('outbox', this.outbox);
        if (item.type !== 'send') this._emitUpdate(item.conv, item.seq);
        this._pumpOutbox();
      } else if (e.code === 'rate_limited' || e.code === 'unavailable' || e.code === 'internal') {
        const wait = e.retryAfterMs ?? 1000;
        item.waitUntil = Date.now() + wait;
        setTimeout(() => this._pumpOutbox(), wait);
      }
      return;
    }
    release();
    // Feed the acknowledged message through the ordered pipeline, as its
    // `message` event may have been lost: (conv, seq) de-duplicates.
    this._completeSend(item.client_msg_id, ack);
    const entry = entryOf(item, ack, this.user.id);
    if (entry.kind === 'text') entry.mentions = this._mentionIds(item.conv, item.body);
    this._accept(entry);
    this._pumpOutbox();
  }

  _completeSend(clientMsgId, ack) {
    const idx = this._outbox.findIndex((x) => x.client_msg_id === clientMsgId);
    if (idx < 0) return;
    const [item] = this._outbox.splice(idx, 1);
    this._saveOutbox();
    const w = this._waiters.get(clientMsgId);
    this._waiters.delete(clientMsgId);
    w?.resolve({ conv: ack.conv, seq: ack.seq, id: ack.id, ts: ack.ts, client_msg_id: clientMsgId });
    const target = item.type === 'send' ? undefined : item.seq;
    this.emit('sent', { ...item, target, seq: ack.seq, id: ack.id, ts: ack.ts });
    this.emit('outbox', this.outbox);
    if (target !== undefined) this._emitUpdate(item.conv, target);
  }

  // ---------------------------------------------------------------- requests

  /** Sends a request frame and resolves with its answer (rejects on `error`). */
  request(frame, { timeoutMs = this.requestTimeoutMs } = {}) {
    const ws = this._ws;
    if (!ws || !this._welcomed) return Promise.reject(new ParleyError('disconnected', 'not connected'));
    const id = this._nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this._pending.delete(id);
        reject(new ParleyError('timeout', `no answer to ${frame.type}`));
        this._drop(ws, 'request timeout'); // a silent connection is a dead one
      }, timeoutMs);
      this._pending.set(id, { resolve, reject, timer });
      try {
        ws.send(JSON.stringify({ ...frame, id }));
      } catch (e) {
        clearTimeout(timer);
        this._pending.delete(id);
        reject(new ParleyError('disconnected', e.message));
      }
    });
  }

  get connected() {
    return this.state === 'connected';
  }

  /**
   * Entries of a conversation, ascending (text entries folded, change
   * entries as stored). WebSocket when connected, else HTTP. The page also
   * goes into the conversation's folded messages (messages(conv)).
   */
  async history(conv, range = {}) {
    const page = (await this._history(conv, range)).map(normalizeEntry);
    for (const m of page) this._ingest(m);
    return page;
  }

  // A page as served; the gap filler feeds it through the ordered pipeline instead.
  async _history(conv, { before, after, limit } = {}) {
    if (this.connected) {
      const f = { type: 'history', conv };
      if (before != null) f.before = before;
      if (after != null) f.after = after;
      if (limit != null) f.limit = limit;
      try {
        return (await this.request(f)).messages;
      } catch (e) {
        if (e.code !== 'disconnected' && e.code !== 'timeout') throw e;
      }
    }
    const q = new URLSearchParams();
    if (before != null) q.set('before', before);
    if (after != null) q.set('after', after);
    if (limit != null) q.set('limit', limit);
    const r = await this.http('GET', `/v1/conversations/${encodeURIComponent(conv)}/messages?${q}`);
    return r.messages;
  }

  /**
   * Finds text entries by their current body (PROTOCOL.md §6), newest first:
   * `q` holds words that must all occur (case aside), "a phrase", prefix*.
   * Only the caller's conversations, or `conv`. Resolves to
   * `{ results: [Message], next }`; pass `next` back as `cursor` for the
   * next page (null: none). A malformed `q` rejects with `bad_request`.
   */
  async search(q, { conv, limit, cursor } = {}) {
    const p = new URLSearchParams({ q });
    if (conv != null) p.set('conv', conv);
    if (limit != null) p.set('limit', limit);
    if (cursor != null) p.set('cursor', cursor);
    const r = await this.http('GET', `/v1/search?${p}`);
    return { results: r.results.map(normalizeEntry), next: r.next ?? null };
  }

  /** Moves the read marker (coalesced; sent after a reconnect when offline). */
  markRead(conv, seq) {
    const c = this.conversations.get(conv);
    if (c && seq <= (c.read_seq ?? 0)) return;
    this._readWanted.set(conv, Math.max(seq, this._readWanted.get(conv) ?? 0));
    if (c) {
      // Optimistic: the badge clears at once.
      this._moveRead(c, Math.min(seq, c.last_seq ?? seq));
      this.emit('conversation', c);
    }
    this._flushReads();
  }

  _flushReads() {
    if (!this.connected) return;
    for (const [conv, seq] of this._readWanted) {
      if (this._readBusy.has(conv)) continue;
      this._readBusy.add(conv);
      this._readWanted.delete(conv);
      this.request({ type: 'read', conv, seq })
        .catch((e) => {
          if (e.code === 'disconnected' || e.code === 'timeout') this._readWanted.set(conv, Math.max(seq, this._readWanted.get(conv) ?? 0));
        })
        .finally(() => {
          this._readBusy.delete(conv);
          if (this._readWanted.has(conv)) this._flushReads();
        });
    }
  }

  /** Tells the other members you are typing (throttled to the server's 3 s). */
  typing(conv) {
    if (!this.connected) return;
    const now = Date.now();
    if (now - (this._typingSent.get(conv) ?? 0) < this.typingIntervalMs) return;
    this._typingSent.set(conv, now);
    try {
      this._ws.send(JSON.stringify({ type: 'typing', conv }));
    } catch {
      /* closing */
    }
  }

  /** Creates a group; resolves with its Conversation. */
  async createGroup(title, members = []) {
    let c;
    if (this.connected) c = (await this.request({ type: 'create_group', title, members })).conversation;
    else c = await this.http('POST', '/v1/conversations', { kind: 'group', title, members });
    return this._upsertConversation(c, { own: true, announce: true });
  }

  /** Opens (or finds) the DM with a user; resolves with its Conversation. */
  async dm(username) {
    let c;
    if (this.connected) c = (await this.request({ type: 'dm', username })).conversation;
    else c = await this.http('POST', '/v1/conversations/dm', { username });
    return this._upsertConversation(c, { own: true, announce: true });
  }

  async addMember(conv, username) {
    if (this.connected) await this.request({ type: 'add_member', conv, username });
    else await this.http('POST', `/v1/conversations/${encodeURIComponent(conv)}/members`, { username });
  }

  async removeMember(conv, username) {
    if (this.connected) await this.request({ type: 'remove_member', conv, username });
    else await this.http('DELETE', `/v1/conversations/${encodeURIComponent(conv)}/members/${encodeURIComponent(username)}`);
  }

  /** Drops a conversation the user was removed from off the list. */
  dismiss(conv) {
    if (this.conversations.get(conv)?.removed) this._forget(conv);
  }

  async leave(conv) {
    if (this.connected) await this.request({ type: 'leave', conv });
    else await this.http('DELETE', `/v1/conversations/${encodeURIComponent(conv)}/members/${encodeURIComponent(this.user.username)}`);
    this._forget(conv);
  }

  // §7: running a group (owner, admins), invites and blocks.

  /** Makes a member an admin or a plain member again (owner only); role: 'admin'|'member'. */
  async setRole(conv, username, role) {
    await this.request({ type: 'set_role', conv, username, role });
  }

  /** Hands the group to another member (owner only); the old owner becomes an admin. */
  async transfer(conv, username) {
    await this.request({ type: 'transfer', conv, username });
  }

  /** Removes a member and keeps them out until unbanned. */
  async ban(conv, username) {
    await this.request({ type: 'ban', conv, username });
  }

  async unban(conv, username) {
    await this.request({ type: 'unban', conv, username });
  }

  /** Sets a group's title and/or topic: updateGroup(conv, {title, topic}). */
  async updateGroup(conv, { title, topic } = {}) {
    const frame = { type: 'update_group', conv };
    if (title != null) frame.title = title;
    if (topic != null) frame.topic = topic;
    await this.request(frame);
  }

  /** Creates an invite link; resolves with {code, max_uses, uses, expires_at}. */
  async createInvite(conv, { maxUses = null, expiresInS } = {}) {
    const body = { max_uses: maxUses };
    if (expiresInS != null) body.expires_in_s = expiresInS;
    return (await this.http('POST', `/v1/conversations/${encodeURIComponent(conv)}/invites`, body)).invite;
  }

  async revokeInvite(conv, code) {
    await this.http('DELETE', `/v1/conversations/${encodeURIComponent(conv)}/invites/${encodeURIComponent(code)}`);
  }

  /** Joins a group by an invite code; resolves with its Conversation. */
  async joinInvite(code) {
    const c = await this.http('POST', `/v1/invites/${encodeURIComponent(code)}/join`);
    return this._upsertConversation(c, { own: true, announce: true });
  }

  async block(username) {
    await this.http('PUT', `/v1/blocks/${encodeURIComponent(username)}`);
  }

  async unblock(username) {
    await this.http('DELETE', `/v1/blocks/${encodeURIComponent(username)}`);
  }

  /** The users you block. */
  async blocks() {
    return (await this.http('GET', '/v1/blocks')).users;
  }

  // §7: server administration (the users named in the server's
  // admin.users; everyone else gets `forbidden`).

  /** A page of users, by id: `{users: [User + created_at, disabled], next}`. */
  async adminUsers({ after, limit } = {}) {
    const q = new URLSearchParams();
    if (after != null) q.set('after', after);
    if (limit != null) q.set('limit', limit);
    const qs = q.toString();
    return this.http('GET', `/v1/admin/users${qs ? `?${qs}` : ''}`);
  }

  /** Disables a user: no login, every token revoked, every socket closed. */
  async adminDisable(username) {
    await this.http('POST', `/v1/admin/users/${encodeURIComponent(username)}/disable`);
  }

  async adminEnable(username) {
    await this.http('POST', `/v1/admin/users/${encodeURIComponent(username)}/enable`);
  }

  /** Deletes any message, as its conversation's members see a delete entry. */
  async adminDeleteMessage(conv, seq) {
    await this.http('DELETE', `/v1/admin/conversations/${encodeURIComponent(conv)}/messages/${seq}`);
  }

  /** `{users, conversations, messages, connections, uptime_s}`. */
  async adminStats() {
    return this.http('GET', '/v1/admin/stats');
  }

  // §8: bots. A bot acts with its API key where a person uses an access
  // token (Authorization: Bearer, and the hello token).

  /** Makes a bot you own; resolves with `{bot: User, token}`: the key, shown only this once. */
  async createBot(username, { displayName } = {}) {
    const body = { username };
    if (displayName) body.display_name = displayName;
    return this.http('POST', '/v1/bots', body);
  }

  /** Your bots (Users with `bot: true`). */
  async bots() {
    return (await this.http('GET', '/v1/bots')).bots;
  }

  /** Deletes a bot of yours: its key stops working at once. */
  async deleteBot(username) {
    await this.http('DELETE', `/v1/bots/${encodeURIComponent(username)}`);
  }

  /**
   * Signs in as a bot with its API key, which is then the bearer token and
   * the `hello` token; resolves with the bot's User. The key is kept in
   * memory only (not in the store) and never refreshed: once it is refused
   * (revoked, the bot deleted) the client emits `auth_lost`.
   */
  async useApiKey(key) {
    if (typeof key !== 'string' || !key) throw new ParleyError('bad_request', 'an API key is a non-empty string');
    const before = this.session;
    // A session without a user, just for the one call that learns who the key is.
    this.session = { access_token: key, api_key: true, expires_at: Number.MAX_SAFE_INTEGER };
    let user;
    try {
      user = await this.http('GET', '/v1/me', undefined, { retry: false });
    } catch (e) {
      this.session = before;
      throw e;
    }
    this._adoptSession({ user, access_token: key, api_key: true, expires_at: Number.MAX_SAFE_INTEGER }, { save: false, fresh: true });
    return user;
  }

  // §8: outgoing webhooks of a conversation (its owner and admins).

  /** Adds a webhook; resolves with `{id, url, secret}`: the signing secret, shown only this once. */
  async createWebhook(conv, url) {
    if (!/^https?:\/\//i.test(String(url ?? ''))) throw new ParleyError('bad_request', 'a webhook URL starts with http:// or https://');
    return (await this.http('POST', `/v1/conversations/${encodeURIComponent(conv)}/webhooks`, { url })).webhook;
  }

  /** A conversation's webhooks: `[{id, url, failing_since}]` (no secrets). */
  async webhooks(conv) {
    return (await this.http('GET', `/v1/conversations/${encodeURIComponent(conv)}/webhooks`)).webhooks;
  }

  async deleteWebhook(conv, id) {
    await this.http('DELETE', `/v1/conversations/${encodeURIComponent(conv)}/webhooks/${encodeURIComponent(id)}`);
  }

  // §8: Web Push. The browser's PushManager makes the subscription (with
  // the server's VAPID key as applicationServerKey); the server pushes to it
  // while the user has no open socket.

  /** The server's VAPID public key (base64url), for pushManager.subscribe(). */
  async vapidPublicKey() {
    return (await this.http('GET', '/v1/push/vapid')).public_key;
  }

  /** Registers a PushSubscription (or its toJSON() form) with the server. */
  async subscribePush(subscription) {
    const s = typeof subscription?.toJSON === 'function' ? subscription.toJSON() : subscription;
    const { endpoint, keys } = s ?? {};
    if (typeof endpoint !== 'string' || !/^https?:\/\//i.test(endpoint)) throw new ParleyError('bad_request', 'a push subscription has an http(s) endpoint');
    if (typeof keys?.p256dh !== 'string' || typeof keys?.auth !== 'string') throw new ParleyError('bad_request', 'a push subscription has keys.p256dh and keys.auth');
    await this.http('POST', '/v1/push/subscriptions', { endpoint, keys: { p256dh: keys.p256dh, auth: keys.auth } });
  }

  /** Stops pushes to a subscription: its endpoint, or the subscription itself. */
  async unsubscribePush(endpoint) {
    const e = typeof endpoint === 'string' ? endpoint : endpoint?.endpoint;
    if (typeof e !== 'string' || !e) throw new ParleyError('bad_request', 'name the subscription’s endpoint');
    await this.http('DELETE', '/v1/push/subscriptions', { endpoint: e });
  }

  // §8: notification levels, per conversation and member.

  /** Sets your level for a conversation: 'all' | 'mentions' | 'none'. */
  async setNotify(conv, level) {
    if (!NOTIFY_LEVELS.includes(level)) throw new ParleyError('bad_request', `a level is one of ${NOTIFY_LEVELS.join(', ')}`);
    await this.request({ type: 'notify', conv, level });
    const c = this.conversations.get(conv);
    if (c) {
      c.notify = level;
      this.emit('conversation', c);
      this.emit('conversations', this.listConversations());
    }
  }

  /** Your level for a conversation: the server's `notify`, else §8's default (all in DMs, mentions in groups). */
  notifyLevel(conv) {
    const c = this.conversations.get(conv);
    if (!c) return null;
    return NOTIFY_LEVELS.includes(c.notify) ? c.notify : c.kind === 'dm' ? 'all' : 'mentions';
  }

  /** Whether a message should notify you: someone else's live text entry that your level lets through. */
  notifies(m) {
    if (!m || (m.kind ?? 'text') !== 'text' || m.deleted || m.sender === this.user?.id) return false;
    const level = this.notifyLevel(m.conv);
    if (level === 'all') return true;
    return level === 'mentions' && (m.mentions ?? this._mentionIds(m.conv, m.body)).includes(this.user?.id);
  }

  /** Asks for the presence of users (ids); updates `users` and emits `presence`. */
  async presence(userIds) {
    const ids = [...new Set(userIds)].slice(0, 500);
    if (!ids.length) return [];
    const r = await this.request({ type: 'presence', users: ids });
    for (const u of r.users) this._onPresence(u);
    return r.users;
  }

  async getUser(username) {
    return this.http('GET', `/v1/users/${encodeURIComponent(username)}`);
  }

  /** Reloads the conversation list over HTTP (e.g. after a message from an unknown one). */
  async refreshConversations() {
    const r = await this.http('GET', '/v1/conversations');
    for (const c of r.conversations) this._upsertConversation(c, { own: true });
    this.emit('conversations', this.listConversations());
    return this.listConversations();
  }

  /** Conversations, most recent activity first. */
  listConversations() {
    return [...this.conversations.values()].sort((a, b) => activity(b) - activity(a) || (a._order ?? 0) - (b._order ?? 0));
  }

  // ---------------------------------------------------------------- state

  _upsertConversation(c, { own = false, announce = false } = {}) {
    let cur = this.conversations.get(c.id);
    if (!cur) {
      cur = { ...c, _order: (this._orderSeq = (this._orderSeq ?? 0) + 1) };
      cur.mentions_unread ??= 0;
      cur._countedTo = c.last_seq ?? 0; // the server counted unread up to here
      if (this._lastMessage.has(c.id)) cur.last_message = this._lastMessage.get(c.id);
      this.conversations.set(c.id, cur);
      if (!this._known.has(c.id)) this._known.set(c.id, c.last_seq ?? 0);
      for (const m of c.members ?? []) this._learnUser(m);
      this._noteMemberReads(c, own);
      if (c.kind === 'dm' || (c.member_count ?? 0) <= 200) this._askPresence((c.members ?? []).map((m) => m.id));
    } else {
      cur.title = c.title;
      if (c.topic !== undefined) cur.topic = c.topic;
      cur.kind = c.kind;
      if (c.notify !== undefined) cur.notify = c.notify;
      if (c.members) cur.members = c.members;
      if (c.member_count != null) cur.member_count = c.member_count;
      if (own && c.unread != null && (c.last_seq ?? 0) >= (cur.last_seq ?? 0)) {
        // The server's counts are exact up to its last_seq (§5 counts only
        // others' live text entries, which the client cannot always know).
        cur.read_seq = c.read_seq ?? 0;
        cur.unread = c.unread;
        cur.mentions_unread = c.mentions_unread ?? 0;
        cur._countedTo = c.last_seq ?? 0;
        const wanted = this._readWanted.get(c.id);
        if (wanted) this._moveRead(cur, Math.min(wanted, c.last_seq ?? 0));
      } else if (own) {
        this._moveRead(cur, c.read_seq ?? 0);
      }
      cur.last_seq = Math.max(cur.last_seq ?? 0, c.last_seq ?? 0);
      for (const m of c.members ?? []) this._learnUser(m);
      this._noteMemberReads(c, own);
    }
    if (announce) {
      this.emit('conversation', cur);
      this.emit('conversations', this.listConversations());
    }
    return cur;
  }

  // Read markers of every member (§2 `read` events; a member's own entry
  // reads up to it, §5; a member object may carry `read_seq`): they only grow.
  _noteRead(conv, user, seq) {
    if (!isSeq(seq) || user == null) return;
    let r = this._reads.get(conv);
    if (!r) this._reads.set(conv, (r = new Map()));
    if (seq > (r.get(user) ?? 0)) {
      r.set(user, seq);
      this._saveReadsSoon();
    }
  }

  // The server repeats no one's read marker but the caller's (a `read`
  // event comes once), so what was learnt is kept in the store: a reload
  // still shows who has read what. Markers only grow, so an old copy is a
  // lower bound, never wrong.
  _loadReads() {
    this._reads.clear();
    const saved = this.user ? this.store.get(`reads:${this.user.id}`) : null;
    for (const [conv, byUser] of Object.entries(saved ?? {})) this._reads.set(conv, new Map(Object.entries(byUser)));
  }

  // Conversations the user was removed from stay listed (read-only) until
  // dismissed, across reloads too: the server's list no longer has them.
  _saveRemoved() {
    if (!this.user) return;
    const removed = [...this.conversations.values()].filter((c) => c.removed).map(({ _order: _o, ...c }) => c);
    if (removed.length) this.store.set(`removed:${this.user.id}`, removed);
    else this.store.remove(`removed:${this.user.id}`);
  }

  _loadRemoved() {
    for (const c of this.store.get(`removed:${this.user.id}`) ?? []) {
      if (this.conversations.has(c.id)) continue;
      this.conversations.set(c.id, { ...c, _order: (this._orderSeq = (this._orderSeq ?? 0) + 1) });
      if (c.last_message) this._lastMessage.set(c.id, c.last_message);
    }
  }

  _saveReadsSoon() {
    if (this._timers.reads || !this.user) return;
    const key = `reads:${this.user.id}`;
    this._timers.reads = setTimeout(() => {
      delete this._timers.reads;
      const out = {};
      for (const [conv, r] of this._reads) out[conv] = Object.fromEntries(r);
      this.store.set(key, out);
    }, 300);
    this._timers.reads.unref?.();
  }

  _noteMemberReads(c, own = true) {
    for (const m of c.members ?? []) if (m.read_seq != null) this._noteRead(c.id, m.id, m.read_seq);
    if (own && this.user) this._noteRead(c.id, this.user.id, c.read_seq);
  }

  /** The highest read_seq known for a member of a conversation (0 when none is known). */
  readSeqOf(conv, userId) {
    return this._reads.get(String(conv))?.get(userId) ?? 0;
  }

  /**
   * The ids of the conversation's current members, other than the signed-in
   * user, known to have read up to seq (read receipts).
   */
  readersOf(conv, seq) {
    const c = this.conversations.get(String(conv));
    const r = this._reads.get(String(conv));
    if (!c || !r) return [];
    return (c.members ?? []).filter((m) => m.id !== this.user?.id && (r.get(m.id) ?? 0) >= seq).map((m) => m.id);
  }

  _learnUser(m) {
    const u = this.users.get(m.id);
    if (!u) this.users.set(m.id, { id: m.id, username: m.username, display_name: m.display_name ?? null, online: false, last_seen: null });
    else if (!u.username) u.username = m.username;
    if (u && m.display_name !== undefined) u.display_name = m.display_name;
  }

  _forget(conv) {
    if (!this.conversations.has(conv)) return;
    this.conversations.delete(conv);
    this._known.delete(conv);
    this._buffer.delete(conv);
    this._gapTo.delete(conv);
    this._logs.delete(conv);
    this._reads.delete(conv);
    this._lastMessage.delete(conv);
    this._saveRemoved();
    this.emit('conversation_removed', conv);
    this.emit('conversations', this.listConversations());
  }

  async _learnConversation(conv) {
    if (this._learning) return this._learning;
    this._learning = this.refreshConversations()
      .catch(() => {})
      .finally(() => {
        this._learning = null;
      });
    return this._learning;
  }

  _onPresence(f) {
    const u = this.users.get(f.user) ?? { id: f.user };
    u.username = f.username ?? u.username;
    u.online = !!f.online;
    u.last_seen = f.last_seen ?? null;
    u.presenceKnown = true;
    this.users.set(f.user, u);
    this.emit('presence', { user: f.user, username: u.username, online: u.online, last_seen: u.last_seen });
  }

  // Presence of users we just learnt about (a new DM or group): the server
  // only pushes changes, so ask once for their current state.
  _askPresence(ids) {
    if (!this.connected) return; // the welcome asks for everyone
    this._presenceAsk ??= new Set();
    for (const id of ids) if (id !== this.user?.id && !this.users.get(id)?.presenceKnown) this._presenceAsk.add(id);
    if (!this._presenceAsk.size || this._presenceTimer) return;
    this._presenceTimer = setTimeout(() => {
      this._presenceTimer = null;
      const ids = [...this._presenceAsk];
      this._presenceAsk.clear();
      this.presence(ids).catch(() => {});
    }, 50);
  }

  async _queryPresence() {
    const ids = new Set();
    for (const c of this.conversations.values()) {
      if (c.kind !== 'dm' && (c.member_count ?? 0) > 200) continue;
      for (const m of c.members ?? []) if (m.id !== this.user.id) ids.add(m.id);
    }
    if (ids.size) await this.presence([...ids]);
  }

  _onRead(f) {
    this._noteRead(f.conv, f.user, f.seq);
    const c = this.conversations.get(f.conv);
    if (c && f.user === this.user?.id) {
      this._moveRead(c, f.seq);
      this.emit('conversation', c);
    }
    this.emit('read', { conv: f.conv, user: f.user, seq: f.seq });
  }

  _onGroupUpdated(f) {
    const c = this.conversations.get(f.conv);
    if (c) {
      c.title = f.title;
      c.topic = f.topic;
      this.emit('conversation', c);
    }
    this.emit('group_updated', f);
  }

  _onMember(f) {
    const me = this.user?.id;
    if (f.action === 'left' && f.user === me) {
      this.emit('member', f);
      this._forget(f.conv);
      return;
    }
    if ((f.action === 'removed' || f.action === 'banned') && f.user === me) {
      // Removed by someone else: the conversation stays, read-only, with
      // what was held, so the user is told rather than losing it silently.
      const c = this.conversations.get(f.conv);
      if (c) {
        c.removed = f.action;
        c.members = (c.members ?? []).filter((m) => m.id !== me);
        c.member_count = Math.max(0, (c.member_count ?? 1) - 1);
        this._outbox = this._outbox.filter((i) => i.conv !== f.conv || i.status === 'failed');
        this._saveOutbox();
        this._saveRemoved();
      }
      this.emit('member', f);
      if (c) this.emit('conversation', c);
      return;
    }
    if (f.action === 'role') {
      const c = this.conversations.get(f.conv);
      const m = (c?.members ?? []).find((x) => x.id === f.user);
      if (m && f.role) m.role = f.role;
      this.emit('member', f);
      if (c) this.emit('conversation', c);
      return;
    }
    if (f.action === 'added' && f.user === me && this.conversations.get(f.conv)?.removed) {
      delete this.conversations.get(f.conv).removed;
      this._saveRemoved();
    }
    if (f.conversation) {
      // For others' additions the embedded view is the new member's: keep our read_seq.
      this._upsertConversation(f.conversation, { own: f.user === me, announce: true });
    } else {
      const c = this.conversations.get(f.conv);
      if (c && (f.action === 'removed' || f.action === 'left' || f.action === 'banned')) {
        c.members = (c.members ?? []).filter((m) => m.id !== f.user);
        c.member_count = Math.max(0, (c.member_count ?? 1) - 1);
        this.emit('conversation', c);
      } else if (c && f.action === 'added') {
        if (!(c.members ?? []).some((m) => m.id === f.user)) {
          c.member_count = (c.member_count ?? 0) + 1;
          const known = this.users.get(f.user);
          if ((c.members ?? []).length < 100) c.members = [...(c.members ?? []), { id: f.user, username: known?.username ?? '', role: 'member' }];
          this.emit('conversation', c);
          if (!known?.username) this._learnConversation(f.conv); // fetch the new member's name
          if ((c.member_count ?? 0) <= 200) this._askPresence([f.user]);
        }
      } else if (!c) {
        this._learnConversation(f.conv);
      }
    }
    this.emit('member', f);
  }
}

function activity(c) {
  return c.last_message?.ts ?? c._activity ?? 0;
}

const isSeq = (x) => Number.isSafeInteger(x) && x > 0;

/** The notification levels of §8, loudest first. */
export const NOTIFY_LEVELS = ['all', 'mentions', 'none'];

function refuse(message) {
  const p = Promise.reject(new ParleyError('bad_request', message));
  p.catch(() => {});
  return p;
}

// The request frame of an outbox item.
function frameOf(item) {
  const f = { type: item.type, conv: item.conv, client_msg_id: item.client_msg_id };
  if (item.type === 'send') {
    f.body = item.body;
    if (item.reply_to != null) f.reply_to = item.reply_to;
    if (item.attachments?.length) f.attachments = item.attachments;
  } else {
    f.seq = item.seq;
    if (item.type === 'edit') f.body = item.body;
    if (item.type === 'react') Object.assign(f, { emoji: item.emoji, op: item.op });
  }
  return f;
}

const KIND_OF = { send: 'text', edit: 'edit', delete: 'delete', react: 'reaction' };

// The entry an outbox item makes, as the server stores it, from its `sent`
// answer (an acknowledged entry whose event was lost is still delivered).
function entryOf(item, ack, sender) {
  const e = normalizeEntry({
    kind: KIND_OF[item.type],
    conv: item.conv,
    seq: ack.seq,
    id: ack.id,
    sender,
    body: item.type === 'send' || item.type === 'edit' ? item.body : '',
    ts: ack.ts,
    client_msg_id: item.client_msg_id,
  });
  if (item.type === 'send') {
    e.reply_to = item.reply_to ?? null;
    e._local = true;
  } else {
    e.target = item.seq;
    if (item.type === 'react') Object.assign(e, { emoji: item.emoji, op: item.op });
  }
  return e;
}
