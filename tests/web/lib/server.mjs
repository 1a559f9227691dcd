// Starts and stops a real parleyd for the tests: port 0 (or a given port),
// a fresh temp data dir, the web client from this repo's web/.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, existsSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
export const repoRoot = path.resolve(here, '..', '..', '..');
export const webRoot = path.join(repoRoot, 'web');

export function parleydPath() {
  const p = process.env.PARLEYD || path.join(repoRoot, 'build-web', 'apps', 'parleyd', 'parleyd');
  if (!existsSync(p)) throw new Error(`parleyd not found at ${p}; set PARLEYD`);
  return p;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export class Server {
  constructor(extraArgs = []) {
    this.dir = mkdtempSync(path.join(tmpdir(), 'parley-web-'));
    this.extraArgs = extraArgs;
    this.port = 0;
    this.proc = null;
    this.log = '';
  }

  get url() {
    return `http://127.0.0.1:${this.port}`;
  }

  async start() {
    const portFile = path.join(this.dir, 'port');
    if (existsSync(portFile)) unlinkSync(portFile);
    const args = [
      '--listen', `127.0.0.1:${this.port}`,
      '--data-dir', path.join(this.dir, 'data'),
      '--port-file', portFile,
      '--web-root', webRoot,
      '--auth.password_strength', 'min',
      ...this.extraArgs,
    ];
    // parleyd reads PARLEY_* variables as configuration: keep the tests' server clean.
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('PARLEY_')));
    const proc = spawn(parleydPath(), args, { stdio: ['ignore', 'pipe', 'pipe'], env });
    this.proc = proc;
    const keep = (d) => {
      this.log += d;
      if (this.log.length > 200000) this.log = this.log.slice(-100000);
    };
    proc.stdout.on('data', keep);
    proc.stderr.on('data', keep);
    let exited = null;
    proc.on('exit', (code, sig) => (exited = { code, sig }));
    const deadline = Date.now() + 20000;
    for (;;) {
      if (exited) throw new Error(`parleyd exited (${JSON.stringify(exited)}):\n${this.log}`);
      if (existsSync(portFile)) {
        const t = readFileSync(portFile, 'utf8').trim();
        if (t) {
          this.port = Number(t);
          break;
        }
      }
      if (Date.now() > deadline) throw new Error(`parleyd did not start:\n${this.log}`);
      await sleep(25);
    }
    // Ready when /readyz answers 200.
    for (;;) {
      try {
        const r = await fetch(`${this.url}/readyz`);
        if (r.ok) break;
      } catch {
        /* not yet */
      }
      if (Date.now() > deadline) throw new Error(`parleyd not ready:\n${this.log}`);
      await sleep(25);
    }
    return this;
  }

  /** Stops the process: SIGTERM (drain), or SIGKILL for a crash. */
  async stop(signal = 'SIGTERM') {
    const proc = this.proc;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    const done = new Promise((r) => proc.once('exit', r));
    proc.kill(signal);
    const t = setTimeout(() => proc.kill('SIGKILL'), 10000);
    await done;
    clearTimeout(t);
    this.proc = null;
  }

  async restart(signal = 'SIGTERM') {
    await this.stop(signal);
    await this.start(); // same port, same data dir
  }

  async dispose() {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * Whether a running server speaks protocol 1.1 §5 (richer messages): its
 * Conversation carries `mentions_unread`. The §5 suites skip, saying so,
 * against a 1.0 server.
 */
export async function speaksRich(server) {
  const u = `probe${process.pid % 10000}${Date.now() % 100000}`.slice(0, 32);
  const s = await (await fetch(`${server.url}/v1/auth/register`, { method: 'POST', body: JSON.stringify({ username: u, password: 'correct horse battery' }) })).json();
  const headers = { Authorization: `Bearer ${s.access_token}` };
  const made = await (await fetch(`${server.url}/v1/conversations`, { method: 'POST', headers, body: JSON.stringify({ kind: 'group', title: 'probe', members: [] }) })).json();
  const list = await (await fetch(`${server.url}/v1/conversations`, { headers })).json();
  return 'mentions_unread' in made || list.conversations.some((c) => 'mentions_unread' in c);
}
