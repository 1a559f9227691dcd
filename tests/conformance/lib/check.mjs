// Checks for the conformance kit. Every check throws a CheckFailed that
// says what PROTOCOL.md asks for and what the server did, so a case's one
// output line explains its failure. The shape checks look at the exact
// fields and types of each value the contract names: a case passes only on
// positive evidence, never because nothing went wrong.

export class CheckFailed extends Error {
  constructor(message) {
    super(message);
    this.name = 'CheckFailed';
  }
}

/** A short, single-line rendering of a value for failure messages. */
export function show(v, max = 160) {
  let s;
  try {
    s = typeof v === 'string' ? JSON.stringify(v) : JSON.stringify(v, (k, x) => (typeof x === 'bigint' ? String(x) : x));
  } catch {
    s = String(v);
  }
  if (s === undefined) s = String(v);
  return s.length > max ? `${s.slice(0, max)}…` : s;
}

export function fail(message) {
  throw new CheckFailed(message);
}

export function check(cond, message) {
  if (!cond) fail(message);
}

export function eq(actual, expected, what) {
  if (actual !== expected) fail(`${what}: expected ${show(expected)}, got ${show(actual)}`);
}

/** Deep equality of JSON values. */
export function same(actual, expected, what) {
  if (show(actual, 1e9) !== show(expected, 1e9)) fail(`${what}: expected ${show(expected)}, got ${show(actual)}`);
}

export const isObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);
export const isInt = (v) => Number.isInteger(v);
export const isId = (v) => typeof v === 'string' && v.length > 0;

// Times are ms since the epoch: anything within a day of our clock is
// plausible; seconds, or a string, are not.
const DAY_MS = 86_400_000;
export function isTime(v) {
  return isInt(v) && Math.abs(v - Date.now()) < DAY_MS;
}

function field(obj, key, what) {
  if (!isObject(obj)) fail(`${what}: expected a JSON object, got ${show(obj)}`);
  if (!(key in obj)) fail(`${what}: field "${key}" is missing (got ${show(obj)})`);
  return obj[key];
}

export function idField(obj, key, what) {
  const v = field(obj, key, what);
  if (!isId(v)) fail(`${what}.${key}: ids are non-empty strings, got ${show(v)}`);
  return v;
}

export function intField(obj, key, what, { min = -Infinity } = {}) {
  const v = field(obj, key, what);
  if (!isInt(v) || v < min) fail(`${what}.${key}: expected an integer${min > -Infinity ? ` >= ${min}` : ''}, got ${show(v)}`);
  return v;
}

export function timeField(obj, key, what, { nullable = false } = {}) {
  const v = field(obj, key, what);
  if (nullable && v === null) return v;
  if (!isTime(v)) fail(`${what}.${key}: expected a time in ms since the epoch${nullable ? ' or null' : ''}, got ${show(v)}`);
  return v;
}

export function stringField(obj, key, what, { nullable = false } = {}) {
  const v = field(obj, key, what);
  if (nullable && v === null) return v;
  if (typeof v !== 'string') fail(`${what}.${key}: expected a string${nullable ? ' or null' : ''}, got ${show(v)}`);
  return v;
}

export function boolField(obj, key, what) {
  const v = field(obj, key, what);
  if (typeof v !== 'boolean') fail(`${what}.${key}: expected a bool, got ${show(v)}`);
  return v;
}

export function arrayField(obj, key, what) {
  const v = field(obj, key, what);
  if (!Array.isArray(v)) fail(`${what}.${key}: expected an array, got ${show(v)}`);
  return v;
}

export function oneOf(obj, key, values, what) {
  const v = field(obj, key, what);
  if (!values.includes(v)) fail(`${what}.${key}: expected one of ${values.map((x) => show(x)).join(', ')}, got ${show(v)}`);
  return v;
}

// ---- the values of PROTOCOL.md §1 ------------------------------------------

/** `User`: {"id","username","display_name","online": bool,"last_seen": time|null}. */
export function checkUser(u, what = 'User') {
  idField(u, 'id', what);
  stringField(u, 'username', what);
  stringField(u, 'display_name', what, { nullable: true });
  boolField(u, 'online', what);
  timeField(u, 'last_seen', what, { nullable: true });
  return u;
}

/** `Session`: {"user": User, "access_token", "refresh_token", "expires_in": seconds}. */
export function checkSession(s, what = 'Session') {
  checkUser(field(s, 'user', what), `${what}.user`);
  const access = stringField(s, 'access_token', what);
  // "The access token is a JWT": three base64url parts.
  check(/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/.test(access), `${what}.access_token: expected a JWT (three base64url parts), got ${show(access, 40)}`);
  const refresh = stringField(s, 'refresh_token', what);
  check(refresh.length > 0, `${what}.refresh_token: empty`);
  intField(s, 'expires_in', what, { min: 1 });
  return s;
}

/** A member: {"id","username","role":"owner"|"admin"|"member"}. */
export function checkMember(m, what = 'member') {
  idField(m, 'id', what);
  stringField(m, 'username', what);
  oneOf(m, 'role', ['owner', 'admin', 'member'], what);
  return m;
}

/** `Conversation`, with unread = last_seq - read_seq. */
export function checkConversation(c, what = 'Conversation') {
  idField(c, 'id', what);
  const kind = oneOf(c, 'kind', ['dm', 'group'], what);
  const title = stringField(c, 'title', what, { nullable: true });
  if (kind === 'dm' && title !== null) fail(`${what}.title: a DM's title is null, got ${show(title)}`);
  const count = intField(c, 'member_count', what, { min: 1 });
  const members = arrayField(c, 'members', what);
  members.forEach((m, i) => checkMember(m, `${what}.members[${i}]`));
  if (count <= 100) eq(members.length, count, `${what}.members holds every member when member_count <= 100`);
  else check(members.length <= 100, `${what}.members: at most 100, got ${members.length}`);
  const last = intField(c, 'last_seq', what, { min: 0 });
  const read = intField(c, 'read_seq', what, { min: 0 });
  const unread = intField(c, 'unread', what, { min: 0 });
  eq(unread, last - read, `${what}.unread = last_seq - read_seq`);
  return c;
}

/** `Message`: {"conv","seq","id","sender","body","ts","client_msg_id"}. */
export function checkMessage(m, what = 'Message') {
  idField(m, 'conv', what);
  intField(m, 'seq', what, { min: 1 });
  idField(m, 'id', what);
  idField(m, 'sender', what);
  stringField(m, 'body', what);
  timeField(m, 'ts', what);
  stringField(m, 'client_msg_id', what, { nullable: true });
  return m;
}

/** A list of messages: each a Message, ascending and gapless by seq. */
export function checkMessages(list, what) {
  if (!Array.isArray(list)) fail(`${what}: expected an array of Message, got ${show(list)}`);
  list.forEach((m, i) => checkMessage(m, `${what}[${i}]`));
  for (let i = 1; i < list.length; i += 1) {
    if (list[i].seq !== list[i - 1].seq + 1) fail(`${what}: seqs must ascend without gaps, got ${list[i - 1].seq} then ${list[i].seq}`);
  }
  return list;
}

/** Messages of one conversation with repeats of a seq dropped (delivery is at least once). */
export function distinct(list) {
  const seen = new Set();
  return list.filter((m) => !seen.has(m.seq) && seen.add(m.seq));
}

export function seqs(list) {
  return list.map((m) => m.seq);
}

export function range(from, to) {
  const out = [];
  for (let i = from; i <= to; i += 1) out.push(i);
  return out;
}

// ---- events of §2 -------------------------------------------------------------

/** A `presence` event or answer entry about `user`: {user, username, online, last_seen}. */
export function checkPresence(p, user, online, what) {
  eq(idField(p, 'user', what), user.id, `${what}.user`);
  eq(stringField(p, 'username', what), user.username, `${what}.username`);
  eq(boolField(p, 'online', what), online, `${what}.online`);
  // Offline comes with last_seen set; online may carry null or a time.
  timeField(p, 'last_seen', what, { nullable: online });
  return p;
}

/** A `read` event: {conv, user, seq}. */
export function checkReadEvent(f, conv, user, seq, what) {
  same([idField(f, 'conv', what), idField(f, 'user', what), intField(f, 'seq', what)], [conv, user.id, seq], `${what}: conv, user, seq`);
  return f;
}

/** A `typing` event: {conv, user}. */
export function checkTypingEvent(f, conv, user, what) {
  same([idField(f, 'conv', what), idField(f, 'user', what)], [conv, user.id], `${what}: conv, user`);
  return f;
}

/** A `member` event: {conv, user, action, conversation?}. */
export function checkMemberEvent(f, conv, user, action, what) {
  same([idField(f, 'conv', what), idField(f, 'user', what), oneOf(f, 'action', ['added', 'removed', 'left'], what)], [conv, user.id, action], `${what}: conv, user, action`);
  if (f.conversation !== undefined && f.conversation !== null) {
    checkConversation(f.conversation, `${what}.conversation`);
    eq(f.conversation.id, conv, `${what}.conversation.id`);
  }
  return f;
}

/** An event frame (no "re") of `type`, optionally with more conditions. */
export const eventOf = (type, more = () => true) => (f) => isObject(f) && f.type === type && f.re === undefined && more(f);

// ---- errors -----------------------------------------------------------------

export const STATUS_OF = {
  bad_request: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  too_large: 413,
  rate_limited: 429,
  unavailable: 503,
};

/** An HTTP error answer: the status and {"error":{"code","message"}}. */
export function checkHttpError(res, code, what) {
  const status = STATUS_OF[code];
  if (res.status !== status) fail(`${what}: expected ${status} ${code}, got ${res.status} ${show(res.text, 120)}`);
  const err = isObject(res.body) ? res.body.error : undefined;
  if (!isObject(err)) fail(`${what}: expected the body {"error":{"code","message"}}, got ${show(res.text, 120)}`);
  eq(err.code, code, `${what}: error.code`);
  stringField(err, 'message', `${what}: error`);
  return err;
}

/** A WebSocket error answer: {"re":N,"type":"error","code","message"}. */
export function checkWsError(frame, code, what, { re } = {}) {
  if (!isObject(frame)) fail(`${what}: expected an error frame, got ${show(frame)}`);
  if (frame.type !== 'error') fail(`${what}: expected {"type":"error","code":"${code}"}, got ${show(frame)}`);
  if (re !== undefined) eq(frame.re, re, `${what}: error.re`);
  eq(frame.code, code, `${what}: error.code`);
  stringField(frame, 'message', `${what}: error`);
  return frame;
}

/** An HTTP answer with the given status and a JSON body; returns the body. */
export function expectStatus(res, status, what) {
  if (res.status !== status) fail(`${what}: expected ${status}, got ${res.status} ${show(res.text, 160)}`);
  if (status !== 204 && res.body === undefined) fail(`${what}: expected a JSON body, got ${show(res.text, 120)}`);
  return res.body;
}
