// PROTOCOL.md §2, errors: {"re","type":"error","code","message"} with the
// codes bad_request, forbidden, not_found, too_large and rate_limited (with
// retry_after_ms); bad frames never close the connection, except frames
// that are not JSON three times in a row (close 1008), and never affect
// another connection. (`unavailable` cannot be provoked from outside.)
import { check, checkWsError, eq, fail, intField, isObject, show } from '../lib/check.mjs';
import { bodyOf, missingId } from '../lib/client.mjs';

const cases = [
  {
    key: 'bad-request',
    title: 'JSON that is not a valid request: error bad_request, with re when the id could be read',
    async run(ctx) {
      const [a, b] = await ctx.users(2);
      const d = await ctx.dm(a, b);
      const conn = await ctx.connect(a);
      await conn.refused({ type: 'no_such_request' }, 'bad_request', 'an unknown type');
      await conn.refused({}, 'bad_request', 'a frame without type');
      await conn.refused({ type: 'send', conv: d.id, body: 'no client_msg_id' }, 'bad_request', 'send without client_msg_id');
      await conn.refused({ type: 'send', conv: d.id, client_msg_id: 'kit-empty', body: '' }, 'bad_request', 'send with an empty body');
      await conn.refused({ type: 'read', conv: d.id, seq: 'three' }, 'bad_request', 'read with a string seq');
      await conn.refused({ type: 'history', conv: d.id, limit: 'ten' }, 'bad_request', 'history with a string limit');
      // JSON without an id to read: an error without re.
      const from = conn.frames.length;
      conn.send('[1,2,3]');
      const e = await conn.waitFor((f, i) => i >= from && isObject(f) && f.type === 'error', 'an error for a JSON array', { timeoutMs: ctx.timeout, from });
      checkWsError(e, 'bad_request', 'a JSON array');
      check(e.re === undefined || e.re === null, `an error to a frame without id carries re ${show(e.re)}`);
      await conn.alive('after the bad frames');
      const ok = await conn.sendMessage(d.id, 'still fine');
      eq(ok.seq, 1, 'the first stored seq after refused sends');
    },
  },
  {
    key: 'forbidden',
    title: 'a non-member\'s send, history and read, a member\'s add_member: error forbidden',
    async run(ctx) {
      const [a, b, c, d] = await ctx.users(4);
      const g = await ctx.group(a, [b], 'closed door');
      const cc = await ctx.connect(c);
      await cc.refused({ type: 'send', conv: g.id, client_msg_id: 'kit-forbidden', body: 'let me in' }, 'forbidden', 'send by a non-member');
      await cc.refused({ type: 'history', conv: g.id }, 'forbidden', 'history by a non-member');
      await cc.refused({ type: 'read', conv: g.id, seq: 0 }, 'forbidden', 'read by a non-member');
      await cc.refused({ type: 'add_member', conv: g.id, username: c.username }, 'forbidden', 'add_member by a non-member');
      const cb = await ctx.connect(b);
      await cb.refused({ type: 'add_member', conv: g.id, username: d.username }, 'forbidden', 'add_member by a plain member');
      await cc.alive('after the refusals');
    },
  },
  {
    key: 'not-found',
    title: 'a conversation or user that does not exist: error not_found',
    async run(ctx) {
      const [a, b] = await ctx.users(2);
      const g = await ctx.group(a, [b], 'real');
      const missing = missingId(g.id);
      const conn = await ctx.connect(a);
      await conn.refused({ type: 'send', conv: missing, client_msg_id: 'kit-nf', body: 'anyone?' }, 'not_found', `send to conversation ${missing}`);
      await conn.refused({ type: 'history', conv: missing }, 'not_found', `history of conversation ${missing}`);
      await conn.refused({ type: 'read', conv: missing, seq: 1 }, 'not_found', `read in conversation ${missing}`);
      await conn.refused({ type: 'create_group', title: 'ghosts', members: [ctx.username()] }, 'not_found', 'create_group naming an unknown user');
      await conn.alive('after the refusals');
    },
  },
  {
    key: 'too-large',
    title: 'a body over the limit: error too_large; at the limit (counted in bytes) it is stored',
    async run(ctx) {
      const max = ctx.opts.maxBodyBytes;
      const [a, b] = await ctx.users(2);
      const d = await ctx.dm(a, b);
      const conn = await ctx.connect(a);
      await conn.refused({ type: 'send', conv: d.id, client_msg_id: 'kit-big', body: bodyOf(max + 1) }, 'too_large', `a body of ${max + 1} bytes`);
      const twoByte = 'é'.repeat(Math.floor(max / 2));
      const ok = await conn.sendMessage(d.id, twoByte);
      eq(ok.seq, 1, `the seq of a body of ${Buffer.byteLength(twoByte)} bytes (${twoByte.length} characters)`);
      await conn.refused({ type: 'send', conv: d.id, client_msg_id: 'kit-big-2', body: `${twoByte}é` }, 'too_large', `a body of ${Buffer.byteLength(twoByte) + 2} bytes in ${twoByte.length + 1} characters`);
    },
  },
  {
    key: 'rate-limited',
    title: 'sends past the burst: error rate_limited with retry_after_ms; the connection stays open',
    timeoutMs: 60000,
    async run(ctx) {
      const { sendBurst: burst, sendRate: rate } = ctx.opts;
      const [a, b] = await ctx.users(2);
      const d = await ctx.dm(a, b);
      const conn = await ctx.connect(a);
      const n = burst + rate + 50;
      const started = Date.now();
      const answers = await conn.pipeline(n, (i) => ({ type: 'send', conv: d.id, client_msg_id: `kit-rate-${i}`, body: `r${i}` }), { timeoutMs: 30000 });
      const elapsed = (Date.now() - started) / 1000;
      const sent = answers.filter((x) => x.type === 'sent').length;
      const limited = answers.filter((x) => x.type === 'error' && x.code === 'rate_limited');
      const other = answers.filter((x) => x.type !== 'sent' && !(x.type === 'error' && x.code === 'rate_limited'));
      if (other.length) fail(`answers other than sent and rate_limited: ${show(other.slice(0, 2))}`);
      if (!limited.length) fail(`${n} sends in ${elapsed.toFixed(1)} s: none was rate_limited (burst ${burst}, ${rate}/s)`);
      limited.forEach((e, i) => {
        checkWsError(e, 'rate_limited', `rate_limited answer ${i}`);
        intField(e, 'retry_after_ms', 'rate_limited', { min: 0 });
      });
      check(sent >= burst, `only ${sent} of ${n} sends accepted: the burst is ${burst}`);
      check(sent <= burst + Math.ceil(rate * (elapsed + 1)), `${sent} sends accepted in ${elapsed.toFixed(1)} s: more than a burst of ${burst} and ${rate}/s`);
      await conn.alive('after rate_limited answers');
      const wait = Math.max(...limited.map((e) => e.retry_after_ms));
      await new Promise((r) => setTimeout(r, Math.min(wait, 5000) + 50));
      await conn.sendMessage(d.id, 'after waiting');
      ctx.note(`${sent} of ${n} accepted, ${limited.length} rate_limited`);
    },
  },
  {
    key: 'not-json-1008',
    title: 'frames that are not JSON: the connection stays up, until three in a row close it with 1008; other connections are unaffected',
    async run(ctx) {
      const u = await ctx.user();
      const [conn, other] = await Promise.all([ctx.connect(u), ctx.connect(u)]);
      conn.send('this is not json');
      conn.send('{"neither": ');
      await conn.alive('after two frames that are not JSON'); // a JSON frame resets the count
      conn.send('not json 1');
      conn.send('not json 2');
      conn.send('not json 3');
      const c = await conn.waitClose(ctx.timeout, 'close 1008 after three frames that are not JSON');
      if (c.code !== 1008) fail(`expected close 1008, got ${c.code} ${show(c.reason)}`);
      await other.alive('another connection of the same user');
    },
  },
];

export default { key: 'ws-errors', title: '§2 WebSocket: errors and bad frames', protocol: '1.0', cases };
