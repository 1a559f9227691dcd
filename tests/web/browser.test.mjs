// The web client (web/) in real Chromium against a real parleyd: two users
// in two browser contexts, reloads, an offline user, and a network cut made
// with a TCP forwarder between the page and the server.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, copyFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Server, repoRoot, speaksRich } from './lib/server.mjs';
import { Forwarder } from './lib/proxy.mjs';
import { launch, newPage, createGroup, send } from './lib/browser.mjs';
import { uname, until, newClient, connected } from './lib/util.mjs';
import WebSocket from 'ws';

const here = path.dirname(fileURLToPath(import.meta.url));
const artifacts = process.env.WEB_TEST_ARTIFACTS || path.join(here, 'artifacts');
mkdirSync(artifacts, { recursive: true });
const PASSWORD = 'correct horse battery';
const T = { timeout: 10000 };

let server;
let browser;
let rich = false; // the server speaks protocol 1.1 §5
const NOT_RICH = 'the server speaks protocol 1.0: no edit, delete, react or reply';
const pages = [];

before(async () => {
  server = await new Server(['--limits.heartbeat_ms', '1000']).start();
  browser = await launch();
  rich = await speaksRich(server);
});
after(async () => {
  await browser?.close();
  await server?.dispose();
});

async function open(url = server.url, opts) {
  const page = await newPage(browser, url, opts);
  pages.push(page);
  return page;
}

async function shot(page, name) {
  await page.screenshot({ path: path.join(artifacts, `${name}.png`) });
}

async function register(page, username) {
  await page.getByTestId('auth-switch').click(); // from "Sign in" to "Create account"
  await page.getByTestId('register-submit').waitFor(T);
  await page.getByTestId('login-username').fill(username);
  await page.getByTestId('login-password').fill(PASSWORD);
  await page.getByTestId('register-submit').click();
  await page.getByTestId('conversation-list').waitFor(T);
  await until(() => page.getByTestId('connection-state').getAttribute('data-state').then((s) => s === 'connected'), 'connected');
}

async function login(page, username) {
  await page.getByTestId('login-username').fill(username);
  await page.getByTestId('login-password').fill(PASSWORD);
  await page.getByTestId('login-submit').click();
  await page.getByTestId('conversation-list').waitFor(T);
}

const item = (page, conv) => page.locator(`[data-testid="conversation-item"][data-conv-id="${conv}"]`);
const itemNamed = (page, text) => page.getByTestId('conversation-item').filter({ hasText: text });
const messages = (page) => page.getByTestId('message-list').getByTestId('message');

async function openDm(page, username) {
  await page.getByTestId('dm-username').fill(username);
  await page.getByTestId('dm-open').click();
  await page.locator('.chat-title', { hasText: username }).waitFor(T);
  return page.locator('[data-testid="conversation-item"][aria-current="true"]').getAttribute('data-conv-id');
}

/** Bodies of the messages on screen, in order, and their states. */
async function shown(page) {
  return messages(page).evaluateAll((els) =>
    els.map((e) => ({ seq: e.dataset.seq ? Number(e.dataset.seq) : null, status: e.dataset.status, body: e.querySelector('.msg-body').textContent })),
  );
}

async function waitBodies(page, bodies, what) {
  await until(async () => {
    const s = await shown(page);
    return JSON.stringify(s.map((m) => m.body)) === JSON.stringify(bodies) && s.every((m) => m.status === 'sent');
  }, what, 15000);
  const s = await shown(page);
  s.forEach((m, i) => i && assert.ok(m.seq > s[i - 1].seq, `seqs ascend: ${JSON.stringify(s)}`));
  return s;
}

function noErrors(page) {
  assert.deepEqual(page.errors, [], 'no console errors');
}

test('two users: register, DM and group, messages both ways, typing, presence, unread', async () => {
  const an = 'alice';
  const bn = 'ben';
  const a = await open();
  await shot(a, 'login');
  await register(a, an);
  const b = await open();
  await register(b, bn);
  await shot(a, 'empty');

  // A opens a DM and writes; B sees it with an unread badge.
  const dm = await openDm(a, bn);
  await send(a, 'Hi Ben! Lunch at noon? 🍜');
  await waitBodies(a, ['Hi Ben! Lunch at noon? 🍜'], 'a sees own message sent');
  await item(b, dm).waitFor(T);
  await until(async () => (await item(b, dm).getByTestId('unread-badge').textContent()) === '1', 'badge 1');
  await send(a, 'The usual place.');
  await until(async () => (await item(b, dm).getByTestId('unread-badge').textContent()) === '2', 'badge 2');
  assert.equal(await item(b, dm).locator('.conv-preview').textContent(), 'The usual place.');

  // Presence: B is online for A.
  await until(async () => (await a.getByTestId('presence').getAttribute('data-online')) === 'true', 'a sees b online');

  // B opens the DM: the badge clears (read marker), and B answers.
  await item(b, dm).click();
  await waitBodies(b, ['Hi Ben! Lunch at noon? 🍜', 'The usual place.'], 'b sees both');
  await until(async () => (await item(b, dm).getByTestId('unread-badge').count()) === 0, 'badge cleared');
  await until(async () => (await b.getByTestId('presence').getAttribute('data-online')) === 'true', 'b sees a online');

  // Typing appears on A while B types, and clears when B's message lands.
  await b.getByTestId('composer').pressSequentially('Sounds good', { delay: 10 });
  await until(async () => (await a.getByTestId('typing-indicator').textContent()).includes(bn), 'typing shown');
  assert.ok(await a.getByTestId('typing-indicator').isVisible());
  await shot(a, 'typing');
  await b.getByTestId('composer').press('Shift+Enter');
  await b.getByTestId('composer').pressSequentially('see you there');
  await b.getByTestId('send').click();
  const both = ['Hi Ben! Lunch at noon? 🍜', 'The usual place.', 'Sounds good\nsee you there'];
  await waitBodies(a, both, 'a sees the multi-line answer');
  await until(async () => !(await a.getByTestId('typing-indicator').isVisible()), 'typing cleared');
  await waitBodies(b, both, 'b sees own answer');

  // Own messages are distinguished.
  assert.deepEqual(await messages(a).evaluateAll((els) => els.map((e) => e.classList.contains('own'))), [true, true, false]);

  // A group with both; messages both ways.
  const g = await createGroup(a, 'Weekend trip', [bn], { beforeCreate: () => shot(a, 'new-group') });
  await send(a, 'Who is driving?');
  await item(b, g).waitFor(T);
  await until(async () => (await item(b, g).getByTestId('unread-badge').textContent()) === '1', 'group badge');
  await item(b, g).click();
  await send(b, 'I can drive, 5 seats 🙂');
  await waitBodies(a, ['Who is driving?', 'I can drive, 5 seats 🙂'], 'a sees the group answer');
  await waitBodies(b, ['Who is driving?', 'I can drive, 5 seats 🙂'], 'b sees the group');
  assert.ok(await a.locator('.msg-sender', { hasText: bn }).isVisible(), 'sender name in a group');
  await shot(b, 'group');
  await a.getByTestId('members-button').click();
  await a.getByTestId('member').filter({ hasText: bn }).waitFor(T);
  await shot(a, 'members');
  await a.keyboard.press('Escape');

  // Back to the DM for the main screenshot.
  await item(a, dm).click();
  await waitBodies(a, both, 'dm again');
  await until(async () => (await item(a, g).getByTestId('unread-badge').count()) === 0, 'a read everything');
  await shot(a, 'chat');
  // The README's screenshot: refreshed on request only, so test runs leave the tree alone.
  if (process.env.WEB_UPDATE_SCREENSHOT) copyFileSync(path.join(artifacts, 'chat.png'), path.join(repoRoot, 'docs', 'web-client.png'));

  // A phone-sized window shows one pane at a time.
  const phone = await open(server.url, { viewport: { width: 390, height: 760 }, isMobile: true, hasTouch: true });
  await login(phone, bn);
  await shot(phone, 'phone-list');
  await itemNamed(phone, an).click();
  await waitBodies(phone, both, 'phone sees the DM');
  await shot(phone, 'phone-chat');
  assert.ok(!(await phone.getByTestId('conversation-list').isVisible()), 'list hidden on a phone while chatting');
  await phone.context().close();

  // B leaves: A sees B offline, with "last seen".
  await b.context().close();
  await until(async () => (await a.getByTestId('presence').getAttribute('data-online')) === 'false', 'a sees b offline');
  assert.match(await a.getByTestId('last-seen').textContent(), /Last seen/);
  noErrors(a);
  noErrors(b);
  await a.context().close();
});

test('reload resumes the session without duplicates; an offline user gets everything on return', async () => {
  const an = uname('ada');
  const bn = uname('bob');
  const a = await open();
  await register(a, an);
  let b = await open();
  await register(b, bn);
  const dm = await openDm(a, bn);
  await send(a, 'first');
  await send(a, 'second');
  await waitBodies(a, ['first', 'second'], 'sent');
  await a.reload();
  await a.getByTestId('conversation-list').waitFor(T);
  await waitBodies(a, ['first', 'second'], 'after reload: same conversation, no duplicates');
  await send(a, 'third');
  await waitBodies(a, ['first', 'second', 'third'], 'sending works after reload');

  // B opens the DM, then goes away (context closed), and A writes more,
  // in the DM and in a new group.
  await item(b, dm).click();
  await waitBodies(b, ['first', 'second', 'third'], 'b read');
  await b.context().close();
  for (const t of ['are you there?', 'ping', 'ok, later']) await send(a, t);
  const g = await createGroup(a, 'Book club', [bn]);
  await send(a, 'Next book: Dune');
  await send(a, 'Friday 7pm');
  await waitBodies(a, ['Next book: Dune', 'Friday 7pm'], 'group sent');

  // B returns in a fresh browser and signs in: everything is there.
  b = await open();
  await login(b, bn);
  await until(async () => (await item(b, dm).getByTestId('unread-badge').textContent()) === '3', 'dm badge 3');
  await until(async () => (await item(b, g).getByTestId('unread-badge').textContent()) === '2', 'group badge 2');
  await item(b, dm).click();
  await waitBodies(b, ['first', 'second', 'third', 'are you there?', 'ping', 'ok, later'], 'b gets the DM');
  await item(b, g).click();
  await waitBodies(b, ['Next book: Dune', 'Friday 7pm'], 'b gets the group');
  // The read markers moved on the server: a reload shows no badges.
  await b.reload();
  await b.getByTestId('conversation-list').waitFor(T);
  await item(b, dm).waitFor(T);
  await until(async () => (await b.getByTestId('unread-badge').count()) === 0, 'no badges after reload');
  noErrors(a);
  noErrors(b);
  await a.context().close();
  await b.context().close();
});

test('scroll-back loads older history with day separators', async () => {
  const an = uname('cat');
  const bn = uname('dan');
  // Fill a conversation over HTTP.
  const reg = async (u) =>
    (await fetch(`${server.url}/v1/auth/register`, { method: 'POST', body: JSON.stringify({ username: u, password: PASSWORD }) })).json();
  const sa = await reg(an);
  await reg(bn);
  const auth = { Authorization: `Bearer ${sa.access_token}` };
  const conv = await (await fetch(`${server.url}/v1/conversations/dm`, { method: 'POST', headers: auth, body: JSON.stringify({ username: bn }) })).json();
  // 130 messages before A signs in, over a plain WebSocket.
  await new Promise((resolve, reject) => {
    const ws = new WebSocket(server.url.replace('http', 'ws') + '/v1/ws');
    let n = 0;
    ws.on('open', () => ws.send(JSON.stringify({ id: 1, type: 'hello', token: sa.access_token })));
    ws.on('error', reject);
    ws.on('message', (data) => {
      const f = JSON.parse(data.toString());
      if (f.type === 'welcome') {
        for (let i = 1; i <= 130; i += 1) ws.send(JSON.stringify({ id: i + 1, type: 'send', conv: conv.id, client_msg_id: `bulk-${i}`, body: `old message ${i}` }));
      }
      if (f.type === 'sent' && ++n === 130) {
        ws.close();
        resolve();
      }
    });
  });
  const a = await open();
  await login(a, an);
  await item(a, conv.id).click();
  await until(async () => (await messages(a).count()) >= 50, 'first page');
  const first = await messages(a).count();
  assert.ok(first < 130, `only the newest page at first (${first})`);
  assert.equal(await messages(a).last().getAttribute('data-seq'), '130');
  for (let i = 0; i < 10 && (await messages(a).count()) < 130; i += 1) {
    await a.getByTestId('message-list').locator('[data-testid="message"]').first().scrollIntoViewIfNeeded();
    await a.evaluate(() => (document.querySelector('.scroller').scrollTop = 0));
    await a.waitForTimeout(150);
  }
  await until(async () => (await messages(a).count()) === 130, 'all 130 after scrolling back');
  const seqs = await messages(a).evaluateAll((els) => els.map((e) => Number(e.dataset.seq)));
  assert.deepEqual(seqs, Array.from({ length: 130 }, (_, i) => i + 1));
  assert.ok(await a.locator('.history-note.start').isVisible(), 'beginning of the conversation shown');
  assert.equal(await a.locator('.day-sep').count(), 1, 'one day separator for today');
  noErrors(a);
  await a.context().close();
});

test('network cut while sending, then restored: each message once, in order, for both users', async () => {
  const fwd = await new Forwarder(server.port).listen();
  try {
    const an = uname('eve');
    const bn = uname('fay');
    const a = await open(fwd.url); // A reaches the server only through the forwarder
    await register(a, an);
    const b = await open();
    await register(b, bn);
    const dm = await openDm(a, bn);
    await send(a, 'm1');
    await waitBodies(a, ['m1'], 'm1 sent');
    await item(b, dm).click();

    // Cut while a message is on its way, and keep writing while cut.
    await a.getByTestId('composer').fill('m2');
    await a.getByTestId('composer').press('Enter');
    fwd.cut();
    await until(async () => (await a.getByTestId('connection-state').getAttribute('data-state')) !== 'connected', 'a sees the cut');
    for (const t of ['m3', 'm4', 'm5']) await send(a, t);
    await send(b, 'b1 while a is cut');
    const st = await shown(a);
    assert.ok(st.filter((m) => m.status === 'pending').length >= 3, `pending while offline: ${JSON.stringify(st)}`);
    assert.match(await a.getByTestId('connection-state').textContent(), /Reconnecting|Offline/);
    await shot(a, 'offline');

    fwd.restore();
    await until(async () => (await a.getByTestId('connection-state').getAttribute('data-state')) === 'connected', 'a reconnects', 20000);
    // m2 may have been stored before or after b1; everything else is fixed.
    const sa = await until(async () => {
      const s = await shown(a);
      return s.length === 6 && s.every((m) => m.status === 'sent') ? s : null;
    }, 'a has 6 sent messages', 15000);
    const bodies = sa.map((m) => m.body);
    assert.deepEqual(bodies.filter((x) => x !== 'b1 while a is cut'), ['m1', 'm2', 'm3', 'm4', 'm5']);
    assert.deepEqual(sa.map((m) => m.seq), [1, 2, 3, 4, 5, 6]);
    await waitBodies(b, bodies, 'b sees the same, once each, same order');

    // A second cut and a quick restore, with a burst in between.
    fwd.cut();
    await until(async () => (await a.getByTestId('connection-state').getAttribute('data-state')) !== 'connected', 'second cut');
    for (const t of ['n1', 'n2']) await send(a, t);
    fwd.restore();
    await waitBodies(a, [...bodies, 'n1', 'n2'], 'a after the second cut');
    await waitBodies(b, [...bodies, 'n1', 'n2'], 'b after the second cut');
    noErrors(b);
    await a.context().close();
    await b.context().close();
  } finally {
    await fwd.close();
  }
});

// ------------------------------------------------------------------ protocol 1.1 §5

const msgAt = (page, seq) => page.locator(`[data-testid="message"][data-seq="${seq}"]`);
const seqOf = async (page, body) => Number(await messages(page).filter({ hasText: body }).last().getAttribute('data-seq'));

/** Opens a message's hover bar and clicks one of its actions. */
async function act(page, seq, action) {
  await msgAt(page, seq).locator('.bubble').hover();
  await msgAt(page, seq).getByTestId(`action-${action}`).click();
}

async function reactionsOf(page, seq) {
  return msgAt(page, seq).getByTestId('reaction').evaluateAll((els) => els.map((e) => `${e.dataset.emoji}${e.dataset.count}${e.getAttribute('aria-pressed') === 'true' ? '*' : ''}`));
}

/** Sends `n` messages as a user over a plain WebSocket, the last with reply_to `replyTo` when given. */
async function bulkSend(token, conv, n, replyTo) {
  const tag = Math.random().toString(36).slice(2);
  await new Promise((resolve, reject) => {
    const ws = new WebSocket(server.url.replace('http', 'ws') + '/v1/ws');
    let acked = 0;
    ws.on('open', () => ws.send(JSON.stringify({ id: 1, type: 'hello', token })));
    ws.on('error', reject);
    ws.on('message', (data) => {
      const f = JSON.parse(data.toString());
      if (f.type === 'welcome') {
        for (let i = 1; i <= n; i += 1) {
          const frame = { id: i + 1, type: 'send', conv, client_msg_id: `bulk-${tag}-${i}`, body: `message ${tag} ${i}` };
          if (i === n && replyTo != null) Object.assign(frame, { reply_to: replyTo, body: 'answering the very first one' });
          ws.send(JSON.stringify(frame));
        }
      }
      if (f.type === 'error') reject(new Error(JSON.stringify(f)));
      if (f.type === 'sent' && ++acked === n) {
        ws.close();
        resolve();
      }
    });
  });
}

test('§5 in the client: reactions, replies, edits, deletes, mentions and their badges', async (t) => {
  if (!rich) return t.skip(NOT_RICH);
  const an = uname('amy');
  const bn = uname('bo');
  const a = await open();
  await register(a, an);
  const b = await open();
  await register(b, bn);
  const g = await createGroup(b, 'Launch', [an]);

  // A mention: A, not in the group's chat, sees the @ badge and the unread count.
  await send(b, `@${an} can you check the release notes?`);
  await item(a, g).waitFor(T);
  await until(async () => (await item(a, g).getByTestId('mention-badge').count()) === 1, 'mention badge');
  assert.equal(await item(a, g).getByTestId('unread-badge').textContent(), '1');
  await item(a, g).click();
  await waitBodies(a, [`@${an} can you check the release notes?`], 'a sees the mention');
  assert.equal(await a.locator('.mention.mention-me').textContent(), `@${an}`, 'your own mention is highlighted');
  await until(async () => (await item(a, g).getByTestId('mention-badge').count()) === 0, 'badge cleared by reading');
  const s1 = await seqOf(a, 'release notes');

  // Reactions: A picks 👍 from the picker; B sees it and adds the same; A takes hers back.
  await act(a, s1, 'react');
  await a.getByTestId('emoji-picker').getByTestId('emoji-option').filter({ hasText: '👍' }).click();
  await until(async () => JSON.stringify(await reactionsOf(a, s1)) === '["👍1*"]', 'a: 👍 1, hers');
  await until(async () => JSON.stringify(await reactionsOf(b, s1)) === '["👍1"]', 'b: 👍 1, not his');
  await msgAt(b, s1).getByTestId('reaction').filter({ hasText: '👍' }).click();
  await until(async () => JSON.stringify(await reactionsOf(a, s1)) === '["👍2*"]', 'a: 👍 2');
  await until(async () => JSON.stringify(await reactionsOf(b, s1)) === '["👍2*"]', 'b: 👍 2, his highlighted');
  await msgAt(a, s1).getByTestId('reaction').filter({ hasText: '👍' }).click();
  await until(async () => JSON.stringify(await reactionsOf(b, s1)) === '["👍1*"]', 'a took hers back');

  // A reply with an @ picked from the suggestions.
  await act(a, s1, 'reply');
  assert.match(await a.getByTestId('compose-context').textContent(), /release notes/);
  await a.getByTestId('composer').pressSequentially(`Done, @${bn.slice(0, 3)}`);
  await a.getByTestId('mention-suggestions').getByTestId('mention-option').first().waitFor(T);
  assert.equal(await a.getByTestId('mention-option').first().getAttribute('data-username'), bn);
  await a.getByTestId('composer').press('Enter'); // picks the suggestion
  assert.equal(await a.getByTestId('composer').inputValue(), `Done, @${bn} `);
  await a.getByTestId('composer').pressSequentially('looks good');
  await a.getByTestId('composer').press('Enter');
  const replyBody = `Done, @${bn} looks good`;
  await waitBodies(b, [`@${an} can you check the release notes?`, replyBody], 'b gets the reply');
  const s2 = await seqOf(b, 'looks good');
  assert.match(await msgAt(b, s2).getByTestId('reply-quote').textContent(), /release notes/);
  assert.equal(await msgAt(b, s2).locator('.mention.mention-me').textContent(), `@${bn}`);
  assert.ok(!(await a.getByTestId('compose-context').isVisible()), 'the reply bar goes once sent');

  // An edit, from the hover bar; both see the new text marked "edited".
  await act(a, s2, 'edit');
  assert.equal(await a.getByTestId('composer').inputValue(), replyBody);
  await a.getByTestId('composer').fill('Done, all good');
  await a.getByTestId('composer').press('Enter');
  for (const p of [a, b]) {
    await until(async () => (await msgAt(p, s2).locator('.msg-body').textContent()) === 'Done, all good', 'edited text');
    await msgAt(p, s2).getByTestId('edited-mark').waitFor(T);
  }

  // Copy, then delete (with the confirmation).
  await act(a, s2, 'copy');
  assert.equal(await a.getByTestId('toast').textContent(), 'Copied');
  a.once('dialog', (d) => d.accept());
  await act(a, s2, 'delete');
  for (const p of [a, b]) await msgAt(p, s2).getByTestId('message-deleted').waitFor(T);
  assert.equal(await msgAt(b, s2).getByTestId('reply-quote').count(), 0, 'a deleted message shows no quote');
  assert.equal(await msgAt(b, s2).getByTestId('message-actions').count(), 0, 'nor actions');
  assert.equal(await item(b, g).locator('.conv-preview').textContent(), `${an}: Message deleted`);
  await shot(b, 'rich-desktop');

  // On a phone: a long press opens the sheet; its quick row reacts.
  const phone = await open(server.url, { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
  await login(phone, bn);
  await item(phone, g).click();
  await msgAt(phone, s1).waitFor(T);
  assert.ok(!(await msgAt(phone, s1).getByTestId('message-actions').isVisible()), 'no hover bar on touch');
  await msgAt(phone, s1).locator('.bubble').dispatchEvent('pointerdown', { pointerType: 'touch', clientX: 60, clientY: 60 });
  await phone.getByTestId('action-sheet').waitFor(T);
  await shot(phone, 'rich-phone-sheet');
  await phone.getByTestId('action-sheet').getByTestId('emoji-option').filter({ hasText: '❤️' }).click();
  await until(async () => JSON.stringify(await reactionsOf(a, s1)) === '["👍1","❤️1"]', 'a sees the phone’s ❤️');
  await shot(phone, 'rich-phone');
  noErrors(a);
  noErrors(b);
  noErrors(phone);
  for (const p of [a, b, phone]) await p.context().close();
});

test('§5 in the client: a quote of a message far back fetches the history up to it and scrolls there', async (t) => {
  if (!rich) return t.skip(NOT_RICH);
  const an = uname('cy');
  const bn = uname('di');
  const reg = async (u) => (await fetch(`${server.url}/v1/auth/register`, { method: 'POST', body: JSON.stringify({ username: u, password: PASSWORD }) })).json();
  await reg(an);
  const sb = await reg(bn);
  const conv = await (await fetch(`${server.url}/v1/conversations/dm`, { method: 'POST', headers: { Authorization: `Bearer ${sb.access_token}` }, body: JSON.stringify({ username: an }) })).json();
  await bulkSend(sb.access_token, conv.id, 1);
  await bulkSend(sb.access_token, conv.id, 180, 1); // seqs 2..181, the last answering seq 1
  // All read, so the page opens at the bottom rather than at the first unread (seq 1).
  const ca = await newClient(server, { name: an, register: false });
  await connected(ca);
  await ca.request({ type: 'read', conv: conv.id, seq: 181 });
  ca.close();
  const a = await open();
  await login(a, an);
  await item(a, conv.id).click();
  await msgAt(a, 181).waitFor(T);
  assert.equal(await msgAt(a, 1).count(), 0, 'seq 1 is not loaded at first');
  await msgAt(a, 181).getByTestId('reply-quote').click();
  await msgAt(a, 1).waitFor(T);
  const inView = (e) => {
    const r = e.getBoundingClientRect();
    return r.top >= 0 && r.bottom <= innerHeight;
  };
  await until(() => msgAt(a, 1).evaluate(inView), 'seq 1 scrolled into view');
  const seqs = await messages(a).evaluateAll((els) => els.map((e) => Number(e.dataset.seq)));
  assert.deepEqual(seqs, Array.from({ length: 181 }, (_, i) => i + 1), 'no hole between the target and the rest');
  noErrors(a);
  await a.context().close();
});
