// examples/echo-bot (issue 15): a bot made on a real parleyd, the example
// run as its own process with the bot's API key, and its echoes checked:
// in a DM, on a mention in a group (not without one), as replies; deleting
// the bot stops it (its key refused).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { Server, repoRoot } from './lib/server.mjs';
import { uname, until, PASSWORD } from './lib/util.mjs';

let server;
before(async () => {
  server = await new Server().start();
});
after(async () => {
  await server?.dispose();
});

async function call(token, method, p, body) {
  const r = await fetch(`${server.url}${p}`, { method, headers: { Authorization: `Bearer ${token}` }, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await r.text();
  return { status: r.status, body: text ? JSON.parse(text) : null };
}

/** Runs the example; resolves once it says it is connected. */
async function runBot(key) {
  // Node 22 has WebSocket; Node 20 has it behind a flag (else the example would import `ws`).
  const flags = typeof WebSocket === 'function' ? [] : ['--experimental-websocket', '--no-warnings'];
  const proc = spawn(process.execPath, [...flags, path.join(repoRoot, 'examples', 'echo-bot', 'echo-bot.mjs')], {
    env: { ...process.env, PARLEY_URL: server.url, PARLEY_BOT_KEY: key },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  proc.out = '';
  proc.stdout.on('data', (d) => (proc.out += d));
  proc.stderr.on('data', (d) => (proc.out += d));
  proc.exited = new Promise((r) => proc.once('exit', (code) => r(code)));
  await until(() => proc.out.includes('connected') || proc.exitCode !== null, 'the bot connected', 15000);
  assert.match(proc.out, /echo bot @\S+ connected/, proc.out);
  return proc;
}

test('the echo bot answers DMs and mentions with the same text, as replies; deleting it stops it', async () => {
  const ann = uname('ann');
  const s = (await call('', 'POST', '/v1/auth/register', { username: ann, password: PASSWORD })).body;
  const botName = uname('echo');
  const made = await call(s.access_token, 'POST', '/v1/bots', { username: botName, display_name: 'Echo' });
  assert.equal(made.status, 201);
  const { bot, token } = made.body;
  const proc = await runBot(token);
  try {
    const history = async (conv) => (await call(s.access_token, 'GET', `/v1/conversations/${conv}/messages?limit=50`)).body.messages.filter((m) => (m.kind ?? 'text') === 'text');
    const say = async (conv, body) => {
      const r = await call(s.access_token, 'POST', `/v1/conversations/${conv}/messages`, { client_msg_id: uname('c'), body });
      assert.equal(r.status, 201);
      return r.body.seq;
    };
    const echoOf = async (conv, seq) => (await history(conv)).find((m) => m.sender === bot.id && m.reply_to === seq);

    // A DM: every message is echoed.
    const dm = (await call(s.access_token, 'POST', '/v1/conversations/dm', { username: botName })).body;
    const seq = await say(dm.id, 'hello, echo 🦜');
    const echo = await until(() => echoOf(dm.id, seq), 'the echo in the DM');
    assert.equal(echo.body, 'hello, echo 🦜');

    // A group: only a message that mentions it.
    const g = (await call(s.access_token, 'POST', '/v1/conversations', { kind: 'group', title: 'Echoes', members: [botName] })).body;
    const quiet = await say(g.id, 'nobody asked the bot');
    const asked = await say(g.id, `@${botName} repeat after me`);
    const groupEcho = await until(() => echoOf(g.id, asked), 'the echo of the mention');
    assert.equal(groupEcho.body, `@${botName} repeat after me`);
    assert.equal(await echoOf(g.id, quiet), undefined, 'no mention, no echo');
    assert.equal((await history(g.id)).filter((m) => m.sender === bot.id).length, 1, 'exactly one echo (not of its own echo)');

    // Deleted: its key is refused and the example stops.
    assert.equal((await call(s.access_token, 'DELETE', `/v1/bots/${botName}`)).status, 204);
    let timer;
    const late = new Promise((r) => (timer = setTimeout(() => r('still running'), 10000)));
    assert.equal(await Promise.race([proc.exited, late]), 1);
    clearTimeout(timer);
    assert.match(proc.out, /API key was refused/);
  } finally {
    if (proc.exitCode === null) proc.kill();
  }
});
