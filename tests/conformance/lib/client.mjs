// The kit's own small protocol client: HTTP calls with fetch, WebSocket
// connections with the `ws` package (from tests/web/node_modules), fresh
// users. One Context per case: it owns the case's connections and closes
// them when the case ends, so cases cannot leak into each other.
import { createRequire } from 'node:module';
import { randomBytes } from 'node:crypto';
import {
  CheckFailed,
  arrayField,
  check,
  checkConversation,
  checkMessages,
  checkSession,
  checkUser,
  checkWsError,
  eq,
  expectStatus,
  fail,
  idField,
  intField,
  isObject,
  show,
  stringField,
} from './check.mjs';

// `ws` is installed once for the web tests; the kit shares it.
const require = createRequire(new URL('../../web/package.json', import.meta.url));
export const WebSocket = require('ws');

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Passwords the kit registers with: long and random, so a server that
// refuses weak passwords still accepts them.
export const PASSWORD = `Cf-${randomBytes(9).toString('base64url')}-9x`;

/** A conversation id that names no conversation, made from a real one. */
export function missingId(realId) {
  if (/^[0-9]+$/.test(realId)) return String(BigInt(realId) + 1_000_000_000_000n);
  const last = realId.at(-1);
  const swap = /[0-9]/.test(last) ? (last === '9' ? '0' : String(Number(last) + 1)) : last === 'a' ? 'b' : 'a';
  return realId.slice(0, -1) + swap;
}

/** A JWT with one character of its signature changed (the first: every bit of it counts). */
export function tamper(token) {
  const parts = token.split('.');
  const sig = parts.at(-1) ?? '';
  parts[parts.length - 1] = (sig[0] === 'A' ? 'B' : 'A') + sig.slice(1);
  return parts.join('.');
}

/** The body of a message of exactly `bytes` bytes of UTF-8 (ASCII). */
export function bodyOf(bytes, tag = '') {
  const head = tag.slice(0, bytes);
  return head + 'x'.repeat(bytes - head.length);
}

export class Context {
  /**
   * @param {object} run  shared by every case of a run: {baseUrl, wsUrl, options, prefix, counter}
   * @param {string} caseId
   */
  constructor(run, caseId) {
    this.run = run;
    this.caseId = caseId; // for a case that wants to name itself
    this.opts = run.options;
    this.conns = new Set();
    this.notes = [];
  }

  get timeout() {
    return this.opts.timeoutMs;
  }

  /** A short remark printed on the case's line (what was measured). */
  note(text) {
    this.notes.push(text);
  }

  /** Lines that say where each connection of the case stands (printed with --verbose). */
  describe() {
    return [...this.conns].map((c, i) => {
      const who = c.user ? `user ${c.user.username} (${c.user.id})` : 'no hello';
      const state = c.closeInfo ? `closed ${c.closeInfo.code} ${show(c.closeInfo.reason)}` : 'open';
      return `connection ${i + 1}, ${who}: ${state}, ${c.frames.length} frames received; last: ${show(c.frames.slice(-3), 400)}`;
    });
  }

  async dispose() {
    for (const c of this.conns) c.terminate();
    this.conns.clear();
  }

  // ---- HTTP -------------------------------------------------------------

  /** One HTTP call; the body is sent as JSON unless it is a string. */
  async http(method, path, { body, token, headers = {}, timeoutMs = this.timeout } = {}) {
    const h = { ...headers };
    if (body !== undefined) h['Content-Type'] = 'application/json';
    if (token) h.Authorization = `Bearer ${token}`;
    let res;
    let text;
    try {
      res = await fetch(this.run.baseUrl + path, {
        method,
        headers: h,
        body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
        signal: AbortSignal.timeout(timeoutMs),
        redirect: 'manual',
      });
      text = await res.text();
    } catch (e) {
      fail(`${method} ${path}: no answer (${e.cause?.code ?? e.name}: ${e.cause?.message ?? e.message})`);
    }
    let parsed;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      parsed = undefined;
    }
    return { status: res.status, text, body: parsed, headers: res.headers };
  }

  // ---- users and conversations -----------------------------------------

  /** A fresh username: the run's random prefix and a counter. */
  username() {
    this.run.counter += 1;
    return `${this.run.prefix}${this.run.counter}`;
  }

  /** Registers a fresh user; returns {id, username, token, refresh, session}. */
  async user({ displayName } = {}) {
    const username = this.username();
    const body = { username, password: PASSWORD };
    if (displayName !== undefined) body.display_name = displayName;
    const res = await this.http('POST', '/v1/auth/register', { body });
    const s = checkSession(expectStatus(res, 201, `POST /v1/auth/register ${username}`), 'register: Session');
    eq(s.user.username, username, 'register: Session.user.username');
    return { id: s.user.id, username, token: s.access_token, refresh: s.refresh_token, session: s };
  }

  async users(n) {
    return Promise.all(Array.from({ length: n }, () => this.user()));
  }

  /** Opens (or finds) the DM of a and b over HTTP; returns the Conversation. */
  async dm(a, b) {
    const res = await this.http('POST', '/v1/conversations/dm', { token: a.token, body: { username: b.username } });
    return checkConversation(expectStatus(res, 200, 'POST /v1/conversations/dm'), 'dm: Conversation');
  }

  /** Creates a group of owner and members over HTTP; returns the Conversation. */
  async group(owner, members, title = `group ${this.run.counter}`) {
    const res = await this.http('POST', '/v1/conversations', {
      token: owner.token,
      body: { kind: 'group', title, members: members.map((m) => m.username) },
    });
    return checkConversation(expectStatus(res, 201, 'POST /v1/conversations'), 'group: Conversation');
  }

  /** GET .../messages{query} as `user`: the messages, each checked, ascending and gapless. */
  async messages(user, conv, query = '') {
    const res = await this.http('GET', `/v1/conversations/${encodeURIComponent(conv)}/messages${query}`, { token: user.token });
    const body = expectStatus(res, 200, `GET .../messages${query}`);
    return checkMessages(arrayField(body, 'messages', `messages${query}`), `messages${query}`);
  }

  /** `conv` as GET /v1/conversations shows it to `user` (every entry checked), or undefined. */
  async conversationOf(user, conv) {
    const res = await this.http('GET', '/v1/conversations', { token: user.token });
    const list = arrayField(expectStatus(res, 200, 'GET /v1/conversations'), 'conversations', 'GET /v1/conversations');
    list.forEach((c, i) => checkConversation(c, `conversations[${i}]`));
    return list.find((c) => c.id === conv);
  }

  // ---- WebSocket --------------------------------------------------------

  /**
   * Opens a WebSocket to /v1/ws (no hello yet). A `bulk` connection masks
   * its frames with the key 0 (valid on the wire, and ws then skips the
   * XOR): a flood of masked 4 KiB frames would otherwise hold the event
   * loop for seconds, and with it every timer of the case.
   */
  async open({ bulk = false } = {}) {
    const conn = await Conn.open(this.run.wsUrl, this.timeout, { bulk });
    this.conns.add(conn);
    return conn;
  }

  /** Opens a WebSocket and says hello; the welcome is checked and kept in conn.welcome. */
  async connect(user, { lastSeq, bulk } = {}) {
    const conn = await this.open({ bulk });
    await conn.hello(user, { lastSeq });
    return conn;
  }
}

/** One WebSocket connection: every frame it received, and waits on them. */
export class Conn {
  static open(url, timeoutMs, { bulk = false } = {}) {
    return new Promise((resolve, reject) => {
      const options = { handshakeTimeout: timeoutMs, perMessageDeflate: false };
      if (bulk) options.generateMask = (mask) => mask.fill(0);
      const ws = new WebSocket(url, options);
      const conn = new Conn(ws, timeoutMs);
      const onError = (e) => reject(new CheckFailed(`WebSocket ${url}: cannot open (${e.message})`));
      ws.once('error', onError);
      ws.once('open', () => {
        ws.off('error', onError);
        ws.on('error', () => {}); // a reset after a close is normal; 'close' reports it
        resolve(conn);
      });
    });
  }

  constructor(ws, timeoutMs) {
    this.ws = ws;
    this.timeoutMs = timeoutMs; // the default wait for an answer or event
    this.frames = []; // parsed JSON frames; {raw} for text that is not JSON, {binary} for binary
    this.bytes = 0;
    this.nextId = 1;
    this.waiters = new Set(); // waitFor's, each tried on every frame
    this.answers = new Map(); // request id -> the waiter of its answer, found by "re" at once
    this.closeInfo = null;
    this.closed = new Promise((resolve) => {
      ws.on('close', (code, reason) => {
        this.closeInfo = { code, reason: reason.toString(), at: Date.now() };
        for (const w of [...this.waiters, ...this.answers.values()]) w.onClose();
        resolve(this.closeInfo);
      });
    });
    ws.on('message', (data, isBinary) => {
      this.bytes += data.length;
      let f;
      if (isBinary) f = { binary: data.length };
      else {
        const text = data.toString();
        try {
          f = JSON.parse(text);
        } catch {
          f = { raw: text };
        }
      }
      this.frames.push(f);
      const i = this.frames.length - 1;
      if (isObject(f) && f.re !== undefined) this.answers.get(f.re)?.onFrame(f, i);
      for (const w of this.waiters) w.onFrame(f, i);
    });
  }

  get isOpen() {
    return this.ws.readyState === WebSocket.OPEN;
  }

  /** The underlying TCP socket (the slow-reader case pauses it). */
  get socket() {
    return this.ws._socket;
  }

  send(frame) {
    this.ws.send(typeof frame === 'string' ? frame : JSON.stringify(frame));
  }

  sendBinary(buf) {
    this.ws.send(buf, { binary: true });
  }

  /** Sends a request with a fresh id; resolves with the frame whose "re" is that id. */
  request(frame, { timeoutMs = this.timeoutMs } = {}) {
    const id = this.nextId++;
    const p = this.waitFor(null, `answer to ${frame.type} (id ${id})`, { timeoutMs, from: this.frames.length, re: id });
    this.send({ id, ...frame });
    return p.then((f) => {
      f.__id = id;
      return f;
    });
  }

  /** A request whose answer must have `type`; an error answer fails with its code. */
  async expect(frame, type, what = frame.type, opts) {
    const a = await this.request(frame, opts);
    if (a.type !== type) fail(`${what}: expected {"re":${a.__id},"type":"${type}"}, got ${show(a)}`);
    return a;
  }

  /** A request that must be refused with the error `code`, re its id; returns the error. */
  async refused(frame, code, what = frame.type) {
    const a = await this.request(frame);
    return checkWsError(a, code, what, { re: a.__id });
  }

  /** `send` answered `sent` with its fields checked; returns the answer. */
  async sendMessage(conv, body, clientMsgId = randomBytes(8).toString('hex'), opts) {
    const a = await this.expect({ type: 'send', conv, client_msg_id: clientMsgId, body }, 'sent', 'send', opts);
    checkSent(a, conv, 'sent');
    return a;
  }

  /**
   * Sends n requests without waiting for answers (frameOf(i) builds the
   * i-th), yielding to the event loop every few frames so timers and reads
   * go on; resolves with the answers in the order sent.
   */
  async pipeline(n, frameOf, { timeoutMs = this.timeoutMs * 3 + n * 20 } = {}) {
    const answers = [];
    for (let i = 0; i < n; i += 1) {
      answers.push(this.request(frameOf(i), { timeoutMs }));
      if (i % 32 === 31) await new Promise(setImmediate);
    }
    return Promise.all(answers);
  }

  /** Sends n messages pipelined; resolves with their `sent` answers (checked) in the order sent. */
  async sendMany(conv, n, body = (i) => `message ${i}`) {
    const tag = randomBytes(6).toString('hex');
    const answers = await this.pipeline(n, (i) => ({ type: 'send', conv, client_msg_id: `${tag}-${i}`, body: body(i) }));
    answers.forEach((a, i) => {
      if (a.type !== 'sent') fail(`send ${i + 1} of ${n}: expected {"type":"sent"}, got ${show(a)}`);
      checkSent(a, conv, 'sent');
    });
    return answers;
  }

  /**
   * The first frame (from index `from` on, past frames included) that
   * matches; fails after timeoutMs, or when the connection closes first.
   * With `re`, the match is the answer to that request id (pred unused),
   * found without trying every waiter: floods keep hundreds in flight.
   */
  waitFor(pred, what, { timeoutMs = this.timeoutMs, from = 0, re } = {}) {
    if (re !== undefined) pred = (f) => isObject(f) && f.re === re;
    for (let i = from; i < this.frames.length; i += 1) if (pred(this.frames[i], i)) return Promise.resolve(this.frames[i]);
    if (this.closeInfo) return Promise.reject(new CheckFailed(`waiting for ${what}: the connection closed (${this.closeInfo.code}) first`));
    return new Promise((resolve, reject) => {
      const w = {
        onFrame: (f, i) => {
          if (i >= from && pred(f, i)) done(null, f);
        },
        onClose: () => done(new CheckFailed(`waiting for ${what}: the server closed the connection (code ${this.closeInfo.code}) first`)),
      };
      const timer = setTimeout(() => done(new CheckFailed(`${what}: none within ${timeoutMs} ms (last frames: ${show(this.frames.slice(-3))})`)), timeoutMs);
      const done = (err, f) => {
        clearTimeout(timer);
        if (re === undefined) this.waiters.delete(w);
        else this.answers.delete(re);
        if (err) reject(err);
        else resolve(f);
      };
      if (re === undefined) this.waiters.add(w);
      else this.answers.set(re, w);
    });
  }

  /** Waits for `count` frames matching pred (from index `from`); returns them. */
  async waitForCount(pred, count, what, { timeoutMs = this.timeoutMs, from = 0 } = {}) {
    let n = 0;
    try {
      await this.waitFor((f) => pred(f) && ++n >= count, what, { timeoutMs, from });
    } catch (e) {
      fail(`${what}: expected ${count}, got ${n} (${e.message})`);
    }
    return this.matching(pred, from);
  }

  /**
   * Waits for `count` distinct (conv, seq) among the message events that
   * match `pred` (delivery is at least once: repeats are not counted).
   */
  async waitForMessages(pred, count, what, { timeoutMs = this.timeoutMs } = {}) {
    const seen = new Set();
    const isNew = (f) => {
      if (!isObject(f) || f.type !== 'message' || f.re !== undefined || !pred(f)) return false;
      const key = `${f.conv}/${f.seq}`;
      if (seen.has(key)) return false;
      seen.add(key);
      return true;
    };
    await this.waitForCount(isNew, count, what, { timeoutMs });
  }

  /** Frames (from index `from` on) that match. */
  matching(pred, from = 0) {
    return this.frames.slice(from).filter(pred);
  }

  /** Waits for the server to close; fails after timeoutMs. */
  async waitClose(timeoutMs, what = 'the server to close the connection') {
    let timer;
    const t = new Promise((_, reject) => {
      timer = setTimeout(() => reject(new CheckFailed(`no close: waited ${timeoutMs} ms for ${what}`)), timeoutMs);
    });
    try {
      return await Promise.race([this.closed, t]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Asserts the connection is open and answers: ping gets pong. */
  async alive(what) {
    if (!this.isOpen) fail(`${what}: the connection was closed (${this.closeInfo?.code})`);
    const a = await this.request({ type: 'ping' });
    if (a.type !== 'pong') fail(`${what}: ping answered ${show(a)}`);
    return a;
  }

  /** Says hello and checks the welcome; keeps it in this.welcome. */
  async hello(user, { lastSeq } = {}) {
    const frame = { type: 'hello', token: user.token };
    if (lastSeq !== undefined) frame.last_seq = lastSeq;
    const a = await this.request(frame);
    if (a.type !== 'welcome') fail(`hello: expected {"re":${a.__id},"type":"welcome"}, got ${show(a)}`);
    checkWelcome(a, user);
    this.welcome = a;
    this.user = user;
    return a;
  }

  close(code = 1000) {
    try {
      this.ws.close(code);
    } catch {
      this.ws.terminate();
    }
  }

  terminate() {
    this.ws.terminate();
  }
}

export function checkWelcome(w, user) {
  checkUser(w.user, 'welcome.user');
  eq(w.user.id, user.id, 'welcome.user.id');
  eq(w.user.username, user.username, 'welcome.user.username');
  stringField(w, 'session', 'welcome');
  check(w.session.length > 0, 'welcome.session: empty');
  intField(w, 'heartbeat_ms', 'welcome', { min: 1 });
  if (!Array.isArray(w.conversations)) fail(`welcome.conversations: expected an array, got ${show(w.conversations)}`);
  w.conversations.forEach((c, i) => checkConversation(c, `welcome.conversations[${i}]`));
}

/** `sent`: {"re","type":"sent","conv","seq","id","ts"}. */
export function checkSent(a, conv, what) {
  eq(a.type, 'sent', `${what}.type`);
  eq(idField(a, 'conv', what), conv, `${what}.conv`);
  intField(a, 'seq', what, { min: 1 });
  idField(a, 'id', what);
  intField(a, 'ts', what, { min: 0 });
  return a;
}
