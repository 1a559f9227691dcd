// A Parley webhook receiver (PROTOCOL.md §8) with nothing but Node's own
// http and crypto: it checks each delivery's signature and timestamp, drops
// repeats by delivery id, and prints every entry as one JSON line.
//
//   WEBHOOK_SECRET=<the secret shown when the webhook was added> PORT=8099 node receiver.mjs
//
// A delivery is signed as X-Parley-Signature: sha256=<hex HMAC-SHA256(secret,
// X-Parley-Timestamp + "." + body)>. One whose signature does not match, or
// whose timestamp is more than five minutes away from now (a replay), is
// refused with 401 and not printed. Any 2xx tells Parley the entry arrived;
// anything else makes it retry the same entry later, so an entry may come
// more than once: the delivery id says which one it is.
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer } from 'node:http';
import { pathToFileURL } from 'node:url';

export const MAX_SKEW_MS = 5 * 60 * 1000;
const MAX_BODY_BYTES = 1 << 20;

// Whether `headers` sign `body` (a Buffer) with `secret` at a time within
// MAX_SKEW_MS of `now`: {ok: true} or {ok: false, reason}.
export function verify(secret, headers, body, now = Date.now()) {
  const timestamp = headers['x-parley-timestamp'];
  const signature = headers['x-parley-signature'];
  if (typeof timestamp !== 'string' || !/^\d+$/.test(timestamp)) return { ok: false, reason: 'no timestamp' };
  if (typeof signature !== 'string' || !signature.startsWith('sha256=')) return { ok: false, reason: 'no signature' };
  if (Math.abs(now - Number(timestamp)) > MAX_SKEW_MS) return { ok: false, reason: 'timestamp too old or too new' };
  const expected = createHmac('sha256', secret).update(`${timestamp}.`).update(body).digest();
  const given = Buffer.from(signature.slice('sha256='.length), 'hex');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    return { ok: false, reason: 'bad signature' };
  }
  return { ok: true };
}

// An http.Server that takes deliveries for `secret` and calls
// onEntry(entry, delivery) once per delivery id and onRefused(reason) for
// each refusal.
export function createReceiver({ secret, onEntry, onRefused = () => {} }) {
  const seen = new Set();
  return createServer((req, res) => {
    const chunks = [];
    let size = 0;
    req.on('data', (c) => {
      size += c.length;
      if (size > MAX_BODY_BYTES) req.destroy();
      else chunks.push(c);
    });
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const check = req.method === 'POST' ? verify(secret, req.headers, body) : { ok: false, reason: 'not a POST' };
      if (!check.ok) {
        onRefused(check.reason);
        res.writeHead(401, { 'content-type': 'application/json' }).end(JSON.stringify({ error: check.reason }));
        return;
      }
      let delivery;
      try {
        delivery = JSON.parse(body.toString('utf8'));
      } catch {
        res.writeHead(400).end();
        return;
      }
      if (!seen.has(delivery.delivery_id)) {
        seen.add(delivery.delivery_id);
        if (seen.size > 10000) seen.delete(seen.values().next().value);
        onEntry(delivery.entry, delivery);
      }
      res.writeHead(204).end();
    });
  });
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  const secret = process.env.WEBHOOK_SECRET;
  if (!secret) {
    console.error('set WEBHOOK_SECRET to the secret shown when the webhook was added');
    process.exit(2);
  }
  const server = createReceiver({
    secret,
    onEntry: (entry, d) => console.log(JSON.stringify({ accepted: d.delivery_id, entry })),
    onRefused: (reason) => console.log(JSON.stringify({ refused: reason })),
  });
  server.listen(Number(process.env.PORT || 8099), process.env.HOST || '127.0.0.1', () => {
    console.error(`listening on ${server.address().address}:${server.address().port}`);
  });
}
