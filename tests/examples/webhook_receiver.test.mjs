// examples/webhook-receiver against a real parleyd: a webhook added over
// HTTP, an entry sent, the example (as its own process) accepts the signed
// delivery; a forged signature and a stale timestamp are refused.
import { spawn } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { createServer } from 'node:net';
import path from 'node:path';
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';

import { Server, repoRoot } from '../web/lib/server.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const receiverPath = path.join(repoRoot, 'examples', 'webhook-receiver', 'receiver.mjs');

const server = new Server(['--webhooks.allow_private_addresses', 'true', '--webhooks.retry_initial_ms', '100']);
let receiver;
let output = '';

async function freePort() {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

async function api(method, url, token, body) {
  const r = await fetch(`${server.url}${url}`, {
    method,
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await r.text();
  return { status: r.status, json: text ? JSON.parse(text) : null };
}

async function waitFor(pred, ms, what) {
  const deadline = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; receiver said:\n${output}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

before(async () => {
  await server.start();
});

after(async () => {
  receiver?.kill();
  await server.stop();
});

test('the example accepts a signed delivery and refuses forged and stale ones', async () => {
  const name = `hook${process.pid}`;
  const reg = await api('POST', '/v1/auth/register', null, { username: name, password: 'correct-horse-1' });
  assert.equal(reg.status, 201);
  const token = reg.json.access_token;
  const group = await api('POST', '/v1/conversations', token, { kind: 'group', title: 'hooked', members: [] });
  assert.equal(group.status, 201, JSON.stringify(group.json));
  const conv = group.json.id;

  const port = await freePort();
  const added = await api('POST', `/v1/conversations/${conv}/webhooks`, token, { url: `http://127.0.0.1:${port}/parley` });
  assert.equal(added.status, 201, JSON.stringify(added.json));
  const { secret } = added.json.webhook;

  receiver = spawn(process.execPath, [receiverPath], {
    env: { ...process.env, WEBHOOK_SECRET: secret, PORT: String(port) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  receiver.stdout.on('data', (d) => (output += d));
  let listening = false;
  receiver.stderr.on('data', (d) => {
    output += d;
    if (String(d).includes('listening')) listening = true;
  });
  await waitFor(() => listening, 10000, 'the receiver to listen');

  const sent = await api('POST', `/v1/conversations/${conv}/messages`, token, { client_msg_id: 'x1', body: 'hello hook' });
  assert.equal(sent.status, 201, JSON.stringify(sent.json));
  await waitFor(() => output.includes('"accepted"'), 15000, 'the signed delivery');
  const line = output.split('\n').find((l) => l.includes('"accepted"'));
  const accepted = JSON.parse(line);
  assert.equal(accepted.entry.body, 'hello hook');
  assert.equal(accepted.entry.seq, sent.json.seq);

  // Forged: signed with another key.
  const body = JSON.stringify({ webhook_id: '1', delivery_id: '1-99', entry: { seq: 99, body: 'forged' } });
  const now = String(Date.now());
  const forged = await fetch(`http://127.0.0.1:${port}/parley`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'x-parley-timestamp': now,
      'x-parley-signature': `sha256=${createHmac('sha256', 'not-the-secret').update(`${now}.${body}`).digest('hex')}`,
    },
    body,
  });
  assert.equal(forged.status, 401);
  // Stale: the right key, but six minutes old.
  const old = String(Date.now() - 6 * 60 * 1000);
  const stale = await fetch(`http://127.0.0.1:${port}/parley`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'x-parley-timestamp': old,
      'x-parley-signature': `sha256=${createHmac('sha256', secret).update(`${old}.${body}`).digest('hex')}`,
    },
    body,
  });
  assert.equal(stale.status, 401);
  await waitFor(() => (output.match(/"refused"/g) || []).length >= 2, 5000, 'two refusals');
  assert.ok(!output.includes('forged'), 'a refused delivery is not printed');
});
