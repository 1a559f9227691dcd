import WebSocket from 'ws';
import { ParleyClient } from '../../../web/sdk/parley.js';

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Polls until fn() is truthy (or throws with the message; `what` may be a function, called then). */
export async function until(fn, what = 'condition', timeoutMs = 10000) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      last = await fn();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${typeof what === 'function' ? what() : what} (last: ${last instanceof Error ? last.message : JSON.stringify(last)})`);
    await sleep(25);
  }
}

let counter = 0;
export function uname(prefix = 'u') {
  counter += 1;
  return `${prefix}${process.pid % 10000}${Date.now() % 100000}${counter}`.slice(0, 32);
}

export const PASSWORD = 'correct horse battery';

/**
 * A WebSocket class for the SDK that lets a test misbehave: drop the
 * connection after a chosen client frame, swallow server frames, and so on.
 */
export function flakyWebSocket(ctl = {}) {
  ctl.sockets ??= new Set();
  return class FlakyWebSocket {
    constructor(url) {
      const real = new WebSocket(url);
      this.real = real;
      this.deaf = false;
      ctl.sockets.add(this);
      real.on('open', () => this.onopen?.({}));
      real.on('message', (data, isBinary) => {
        if (this.deaf) return;
        const text = isBinary ? data : data.toString();
        if (ctl.onReceive && ctl.onReceive(this, JSON.parse(text)) === false) return;
        this.onmessage?.({ data: text });
      });
      real.on('close', (code, reason) => {
        ctl.sockets.delete(this);
        this.onclose?.({ code, reason: reason.toString() });
      });
      real.on('error', (e) => this.onerror?.(e));
    }
    send(s) {
      this.real.send(s);
      ctl.onSend?.(this, JSON.parse(s));
    }
    close(code, reason) {
      try {
        this.real.close(code, reason);
      } catch {
        this.real.terminate();
      }
    }
    /** A network failure: the socket dies without a close handshake. */
    kill() {
      this.real.terminate();
    }
  };
}

/** A client for `server`, registered as a new user (or logged in). */
export async function newClient(server, { name, register = true, WebSocketImpl = WebSocket, ...opts } = {}) {
  const client = new ParleyClient({ baseUrl: server.url, WebSocket: WebSocketImpl, backoffMinMs: 50, backoffMaxMs: 400, ...opts });
  const username = name ?? uname();
  if (register) await client.register(username, PASSWORD);
  else await client.login(username, PASSWORD);
  client.username = username;
  return client;
}

/** Records every event of a client. */
export function record(client) {
  const log = { message: [], presence: [], typing: [], read: [], member: [], gap: [], state: [], error: [], session: [] };
  for (const k of Object.keys(log)) client.on(k, (...a) => log[k].push(a.length > 1 ? a : a[0]));
  return log;
}

export async function connected(client) {
  client.connect();
  await until(() => client.state === 'connected', `${client.username} connected`);
}
