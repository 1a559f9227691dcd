// PROTOCOL.md §2, the close codes that limits and shutdown cause: 1009
// (frame too big), 4008 (rate limited beyond tolerance), 4009 (too slow a
// reader), 1001 (server going away). 4001 and 4003 are in the opening
// section, 1008 in the errors section.
import { spawn } from 'node:child_process';
import { check, eventOf, fail, isObject, show } from '../lib/check.mjs';
import { bodyOf, sleep } from '../lib/client.mjs';
import { Skip } from '../lib/runner.mjs';

const MiB = 1024 * 1024;
const mib = (n) => `${(n / MiB).toFixed(1)} MiB`;

/** A ping request padded with an unknown field to exactly `bytes` bytes. */
function paddedPing(id, bytes) {
  const base = JSON.stringify({ id, type: 'ping', pad: '' });
  if (bytes < base.length) throw new Error(`a frame of ${bytes} bytes cannot hold a request`);
  return JSON.stringify({ id, type: 'ping', pad: 'p'.repeat(bytes - base.length) });
}

/**
 * Makes a connection read at about `bytesPerSecond` (the kernel's buffers
 * fill behind it); returns a function that restores full speed.
 */
function throttleReading(conn, bytesPerSecond) {
  const sock = conn.socket;
  let allowed = 0;
  let got = 0;
  const onData = (chunk) => {
    got += chunk.length;
    if (got >= allowed) sock.pause();
  };
  sock.pause();
  sock.on('data', onData);
  const timer = setInterval(() => {
    allowed += bytesPerSecond / 20;
    if (got < allowed) sock.resume();
  }, 50);
  return () => {
    clearInterval(timer);
    sock.off('data', onData);
    sock.resume();
  };
}

const cases = [
  {
    key: '1009',
    title: 'a frame at the size limit is read; one byte more closes with 1009',
    async run(ctx) {
      const max = ctx.opts.maxFrameBytes;
      const u = await ctx.user();
      const conn = await ctx.connect(u);
      const id = 1000;
      const at = conn.waitFor((f) => isObject(f) && f.re === id, `an answer to a frame of ${max} bytes`, { timeoutMs: ctx.timeout, from: conn.frames.length });
      conn.send(paddedPing(id, max));
      const a = await at;
      // An unknown field may be ignored (pong) or refused (error): either way it was read.
      check(a.type === 'pong' || a.type === 'error', `a frame of ${max} bytes answered ${show(a)}`);
      conn.send(paddedPing(id + 1, max + 1));
      const c = await conn.waitClose(ctx.timeout, `close 1009 after a frame of ${max + 1} bytes`);
      if (c.code !== 1009) fail(`expected close 1009 after a frame of ${max + 1} bytes, got ${c.code} ${show(c.reason)}`);
      if (conn.frames.some((f) => isObject(f) && f.re === id + 1)) fail('the frame over the limit was answered');
    },
  },
  {
    key: '4008',
    title: 'a client that keeps sending at many times the send rate is closed with 4008',
    exclusive: true,
    timeoutMs: 60000,
    async run(ctx) {
      const { sendRate, abuseFactor } = ctx.opts;
      const [a, b] = await ctx.users(2);
      const d = await ctx.dm(a, b);
      const conn = await ctx.connect(a, { bulk: true });
      // Twice the tolerance for up to 8 s, in ticks of 50 ms that catch up
      // when a tick comes late, so the rate holds on a busy machine.
      const perSecond = 2 * sendRate * abuseFactor;
      const started = Date.now();
      let n = 0;
      const timer = setInterval(() => {
        const elapsed = Date.now() - started;
        if (!conn.isOpen || elapsed > 8000) return clearInterval(timer);
        while (n < (perSecond * elapsed) / 1000) conn.send({ id: 100000 + n, type: 'send', conv: d.id, client_msg_id: `kit-flood-${n++}`, body: 'f' });
      }, 50);
      try {
        const c = await conn.waitClose(15000, `close 4008 while sending ${perSecond}/s`);
        if (c.code !== 4008) fail(`expected close 4008 while sending ${perSecond}/s, got ${c.code} ${show(c.reason)}`);
        const limited = conn.matching((f) => isObject(f) && f.type === 'error' && f.code === 'rate_limited').length;
        check(limited > 0, 'closed with 4008 before any send was rate_limited');
        ctx.note(`closed after ${Date.now() - started} ms and ${n} sends at ${perSecond}/s; ${limited} rate_limited`);
      } finally {
        clearInterval(timer);
      }
      // The peer of the flooder is not affected.
      await (await ctx.connect(b)).alive('the flooder\'s peer');
    },
  },
  {
    key: '4009',
    title: 'a reader that falls behind by more than the queue bound is closed with 4009, and only it',
    exclusive: true,
    timeoutMs: 180000,
    async run(ctx) {
      const { maxBodyBytes, maxQueueBytes, floodBytes, sendBurst } = ctx.opts;
      const per = Math.max(1, sendBurst - 10);
      const total = Math.ceil(floodBytes / maxBodyBytes);
      const slow = await ctx.user();
      const senders = await ctx.users(Math.ceil(total / per));
      const dms = await Promise.all(senders.map((s) => ctx.dm(s, slow)));
      const reader = await ctx.connect(slow);
      const flooders = await Promise.all(senders.map((s) => ctx.connect(s, { bulk: true })));
      // The slow reader is heard (a ping every half heartbeat) but reads
      // only a trickle, a quarter of the queue bound per second: the
      // server's queue for it grows, while a write the server started
      // still drains, so the close frame behind it goes out soon after the
      // server decides (a server may not wait long for a reader that does
      // not read its close).
      const heard = setInterval(() => reader.isOpen && reader.ws.ping(), reader.welcome.heartbeat_ms / 2);
      const fullSpeed = throttleReading(reader, Math.max(256 * 1024, maxQueueBytes / 4));
      const body = bodyOf(maxBodyBytes, 'flood ');
      const started = Date.now();
      let stored = 0;
      try {
        await Promise.all(
          flooders.map(async (conn, k) => {
            const n = Math.min(per, total - k * per);
            const answers = await conn.pipeline(n, (i) => ({ type: 'send', conv: dms[k].id, client_msg_id: `kit-slow-${k}-${i}`, body }), { timeoutMs: 120000 });
            const bad = answers.find((x) => x.type !== 'sent');
            if (bad) fail(`a flooder's send was answered ${show(bad)}`);
            stored += n;
          }),
        );
      } finally {
        fullSpeed();
        clearInterval(heard);
      }
      const flooded = Date.now() - started;
      // Now read at full speed: what the server kept, then its close.
      const isFlood = (f) => f.body === body;
      const readAll = reader.waitForMessages(isFlood, stored, 'flood messages', { timeoutMs: 60000 }).then(
        () => fail(`the reader got all ${stored} messages (${mib(stored * maxBodyBytes)}) and was not closed: raise --flood-bytes above what the server and the kernel buffer`),
        () => new Promise(() => {}), // closed first: the race is decided by waitClose
      );
      const c = await Promise.race([reader.waitClose(60000, 'close 4009'), readAll]);
      if (c.code !== 4009) fail(`expected close 4009, got ${c.code} ${show(c.reason)} after ${reader.matching(eventOf('message', isFlood)).length} of ${stored} messages`);
      for (const [i, conn] of flooders.entries()) await conn.alive(`flooder ${i}`);
      ctx.note(`${mib(stored * maxBodyBytes)} sent in ${flooded} ms; the reader got ${reader.matching(eventOf('message', isFlood)).length} of ${stored} messages before 4009`);
    },
  },
  {
    key: '1001',
    title: 'a server that stops closes its connections with 1001',
    last: true,
    timeoutMs: 60000,
    async run(ctx) {
      const cmd = ctx.opts.stopCommand;
      if (!cmd) throw new Skip('needs --stop-command (the command that stops the server); run last, it stops the server');
      const [a, b] = await ctx.users(2);
      const conns = await Promise.all([ctx.connect(a), ctx.connect(a), ctx.connect(b)]);
      const child = spawn('sh', ['-c', cmd], { stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (d) => (stderr += d));
      const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
      const closes = await Promise.all(conns.map((c, i) => c.waitClose(30000, `close 1001 on connection ${i} after the stop command`)));
      const codes = closes.map((c) => c.code);
      if (!codes.every((c) => c === 1001)) fail(`expected close 1001 on every connection, got ${show(codes)}`);
      const ex = await Promise.race([exited, sleep(30000).then(() => null)]);
      if (ex && ex.code !== 0) fail(`the stop command exited with ${ex.code ?? ex.signal}: ${stderr.trim().slice(0, 200)}`);
    },
  },
];

export default { key: 'ws-close', title: '§2 WebSocket: close codes of limits and shutdown', protocol: '1.0', cases };
