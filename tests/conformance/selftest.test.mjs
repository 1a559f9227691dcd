// The conformance kit tested on both sides: against servers that are not
// Parley (fixtures/not-parley.mjs: an echo WebSocket with an HTTP server that
// answers 200 {} to everything, or bodies of the right shapes without any
// state) every case must fail, and against a fresh parleyd every case must
// pass, the 1001 case included (--stop-command stops it). And behind a
// proxy that breaks one rule (fixtures/mutating-proxy.mjs), the cases that
// check that rule fail, while the same cases pass behind a proxy that
// breaks nothing: they look at what they claim to.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Server } from '../web/lib/server.mjs';
import { mutations, startProxy } from './fixtures/mutating-proxy.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const kit = path.resolve(here, '..', '..', 'scripts', 'conformance');

// The kit's environment: no CONFORMANCE_* options from ours, no PARLEY_*.
const cleanEnv = () => Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('CONFORMANCE_') && !k.startsWith('PARLEY_')));

function runKit(args) {
  return new Promise((resolve) => {
    const child = spawn(kit, args, { env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('exit', (code) => resolve({ code, out, err, lines: out.trimEnd().split('\n') }));
  });
}

const caseCount = execFileSync(kit, ['--list'], { env: cleanEnv() }).toString().trim().split('\n').length;

for (const mode of ['plain', 'lookalike']) {
  test(`the kit fails every case against a server that is not Parley (${mode})`, { timeout: 300000 }, async () => {
    const args = [path.join(here, 'fixtures', 'not-parley.mjs'), ...(mode === 'lookalike' ? ['--lookalike'] : [])];
    const fake = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      const port = await new Promise((resolve, reject) => {
        fake.stdout.once('data', (d) => resolve(Number(String(d).trim())));
        fake.once('exit', (code) => reject(new Error(`the fake server exited (${code})`)));
      });
      const r = await runKit([`http://127.0.0.1:${port}`, '--stop-command', `kill ${fake.pid}`, '--jobs', '8', '--timeout-ms', '2000']);
      console.log(r.out);
      assert.equal(r.code, 1, `exit status (stderr: ${r.err})`);
      assert.equal(r.lines.at(-1), `0 passed, ${caseCount} failed`);
      const verdicts = r.lines.slice(1, -1);
      assert.equal(verdicts.length, caseCount, 'one line per case');
      for (const l of verdicts) assert.match(l, /^FAIL {2}\S+ {2}.+: .+/, 'every case fails, with a reason');
    } finally {
      fake.kill('SIGKILL');
    }
  });
}

test('the kit passes every case against a fresh parleyd', { timeout: 600000 }, async () => {
  // A short heartbeat keeps the presence case short; the kit reads it from welcome.
  const server = await new Server(['--limits.heartbeat_ms', '5000']).start();
  try {
    const r = await runKit([server.url, '--stop-command', `kill -TERM ${server.proc.pid}`]);
    console.log(r.out);
    if (r.code !== 0) console.log(server.log.slice(-4000));
    assert.equal(r.lines.at(-1), `${caseCount} passed, 0 failed`, `the summary (stderr: ${r.err})`);
    assert.equal(r.code, 0, 'exit status');
    const verdicts = r.lines.slice(1, -1);
    assert.equal(verdicts.filter((l) => l.startsWith('PASS  ')).length, caseCount, 'a PASS line per case');
  } finally {
    await server.dispose();
  }
});

// Each broken rule and the cases that must catch it.
const broken = {
  'drop-gap': ['ws-open.gap'],
  'swap-messages': ['ws-open.resume', 'guarantees.one-order'],
  'seq-as-string': ['ws-open.resume'],
  'close-1000': ['ws-open.4001-not-hello', 'ws-open.4003-bad-token', 'ws-errors.not-json-1008', 'ws-close.1009'],
  'error-without-re': ['ws-errors.forbidden', 'ws-errors.not-found', 'ws-errors.too-large'],
  'drop-offline': ['ws-events.presence'],
  'drop-read-events': ['ws-events.read'],
  'removed-as-left': ['ws-events.member'],
  'sent-ts-later': ['ws-requests.send', 'guarantees.one-order'],
  'forbidden-as-not-found': ['http.access', 'http.members'],
};
const control = 'ws-requests.ping';
const only = (ids) => `^(${ids.map((id) => id.replace(/[.]/g, '\\.')).join('|')})$`;

test('behind a proxy that breaks one rule, the cases of that rule fail', { timeout: 600000 }, async (t) => {
  const server = await new Server().start();
  try {
    const all = [...new Set(Object.values(broken).flat())];
    for (const [name, ids] of [['none', all], ...Object.entries(broken)]) {
      await t.test(name, async () => {
        const proxy = await startProxy(server.port, mutations[name]);
        try {
          // A control case the mutation does not touch must pass: the proxy works.
          const r = await runKit([proxy.url, '--only', only([...ids, control])]);
          const want = name === 'none' ? `${ids.length + 1} passed, 0 failed` : `1 passed, ${ids.length} failed`;
          assert.equal(r.lines.at(-1), want, `${name}:\n${r.out}${r.err}`);
          assert.ok(r.lines.some((l) => l.startsWith(`PASS  ${control}  `)), `${name}: the control case passes:\n${r.out}`);
        } finally {
          await proxy.close();
        }
      });
    }
  } finally {
    await server.dispose();
  }
});
