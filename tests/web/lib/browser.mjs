// Real Chromium (Debian's /usr/bin/chromium) through playwright-core; never
// downloads a browser.
import { chromium } from 'playwright-core';
import { existsSync } from 'node:fs';
import { until, PASSWORD } from './util.mjs';
import { USERS } from './model.mjs';

export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';

export async function launch() {
  if (!existsSync(CHROMIUM)) throw new Error(`no browser at ${CHROMIUM}`);
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage',
    ],
  });
}

/** The words no page may ever show (a value that leaked into the text, issue 17.2). */
export const BAD_WORDS = /\b(null|undefined|NaN)\b/;

// In the page: every text that goes into the document is checked as it
// arrives, so a word shown for a moment is caught too; a hit is a console
// error, which fails the test like any other (page.errors).
function watchText(bad) {
  const re = new RegExp(bad);
  const check = (text, node) => {
    const m = re.exec(text ?? '');
    const where = node?.parentElement?.closest('[class]')?.className ?? node?.className ?? '';
    if (m) console.error(`page text shows "${m[0]}" (in .${where}): ${String(text).slice(Math.max(0, m.index - 60), m.index + 40)}`);
  };
  const start = () =>
    new MutationObserver((records) => {
      for (const r of records) {
        if (r.type === 'characterData') check(r.target.data, r.target);
        for (const n of r.addedNodes) if (n.nodeType === 1 ? !['SCRIPT', 'STYLE'].includes(n.nodeName) : n.nodeType === 3) check(n.textContent, n);
      }
    }).observe(document, { subtree: true, childList: true, characterData: true });
  start(); // `document` exists before its first element does
}

/** Fails when the page's visible text holds "null", "undefined" or "NaN" now. */
export async function assertCleanText(page) {
  const text = await page.evaluate(() => document.body.innerText);
  const m = BAD_WORDS.exec(text);
  if (m) throw new Error(`the page shows "${m[0]}": …${text.slice(Math.max(0, m.index - 80), m.index + 40)}…`);
}

/**
 * A new context + page that records console errors and page errors, and
 * reports as an error any text put on the page holding "null",
 * "undefined" or "NaN".
 */
export async function newPage(browser, url, { viewport = { width: 1280, height: 800 }, ...ctxOpts } = {}) {
  const context = await browser.newContext({ viewport, ...ctxOpts });
  await context.addInitScript(watchText, BAD_WORDS.source);
  const page = await context.newPage();
  page.errors = [];
  page.on('console', (m) => {
    if (m.type() === 'error') page.errors.push(`console: ${m.text()}`);
  });
  page.on('pageerror', (e) => page.errors.push(`pageerror: ${e.message}`));
  if (url) await page.goto(url);
  return page;
}

/**
 * Starts a group from the sidebar's dialog and resolves with its id once it
 * is open; `beforeCreate` runs with the dialog filled in (a screenshot).
 */
export async function createGroup(page, title, members, { beforeCreate } = {}) {
  await page.getByTestId('new-group').click();
  await page.getByTestId('group-title').fill(title);
  await page.getByTestId('group-members').fill(members.join(', '));
  await beforeCreate?.();
  await page.getByTestId('group-create').click();
  await page.locator('.chat-title', { hasText: title }).waitFor({ timeout: 10000 });
  return page.locator('[data-testid="conversation-item"][aria-current="true"]').getAttribute('data-conv-id');
}

/** Writes a message in the open conversation and sends it with Enter (a desktop keyboard). */
export async function send(page, text) {
  await page.getByTestId('composer').fill(text);
  await page.getByTestId('composer').press('Enter');
}

/** Registers users on a real server over HTTP (quicker than the form, which other suites cover); resolves with their Sessions. */
export async function registered(server, ...names) {
  const sessions = [];
  for (const username of names) {
    const r = await fetch(`${server.url}/v1/auth/register`, { method: 'POST', body: JSON.stringify({ username, password: PASSWORD }) });
    if (r.status !== 201) throw new Error(`register ${username}: ${r.status}`);
    sessions.push(await r.json());
  }
  return sessions;
}

/** A page of a real server signed in as `username` through the form, connected. */
export async function signedIn(browser, server, username, opts) {
  const page = await newPage(browser, server.url, opts);
  await page.getByTestId('login-username').fill(username);
  await page.getByTestId('login-password').fill(PASSWORD);
  await page.getByTestId('login-submit').click();
  await page.getByTestId('conversation-list').waitFor({ timeout: 10000 });
  await until(async () => (await page.getByTestId('connection-state').getAttribute('data-state')) === 'connected', `${username} connected`);
  return page;
}

/**
 * A page of the scripted server (lib/model.mjs) signed in as its ME with
 * `conv` open (the session as the SDK stores it, seeded once: a reload
 * keeps what the page stored since), connected.
 */
export async function scriptedSignedIn(browser, srv, conv, opts) {
  const page = await newPage(browser, null, opts);
  const session = { user: { ...USERS[0] }, access_token: srv.token, refresh_token: 'r', expires_in: 3600, expires_at: Date.now() + 3600e3 };
  await page.context().addInitScript(
    ([s, c]) => {
      if (sessionStorage.getItem('seeded')) return;
      sessionStorage.setItem('seeded', '1');
      localStorage.setItem('parley:session', JSON.stringify(s));
      if (c) localStorage.setItem('parley:open:1', JSON.stringify(c));
    },
    [session, conv],
  );
  await page.goto(srv.url);
  await until(async () => (await page.getByTestId('connection-state').getAttribute('data-state')) === 'connected', 'connected');
  return page;
}
