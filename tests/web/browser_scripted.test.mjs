// The web client's richer-message UI (protocol 1.1 §5) in real Chromium
// against the scripted server of lib/model.mjs (one signed-in user, `meg`,
// owner of one group with bob and cyd.x), so it runs with no parleyd: the
// hover bar, picker, reactions, reply bar, @ suggestions, edit, copy,
// delete, the mention badge, a jump to a quote far back, and the touch sheet.
// browser.test.mjs drives the same UI through a real server with two users.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { launch, newPage } from './lib/browser.mjs';
import { until } from './lib/util.mjs';
import { scriptedWebServer, USERS, CONV } from './lib/model.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const artifacts = process.env.WEB_TEST_ARTIFACTS || path.join(here, 'artifacts');
mkdirSync(artifacts, { recursive: true });
const T = { timeout: 10000 };

let srv;
let browser;
let url;

before(async () => {
  srv = await scriptedWebServer();
  url = srv.url;
  browser = await launch();
});
after(async () => {
  await browser?.close();
  await srv?.stop();
});

/** A page signed in as ME with the group open (the session as the SDK stores it). */
async function signedIn(opts) {
  const page = await newPage(browser, null, opts);
  const session = { user: { ...USERS[0] }, access_token: 't', refresh_token: 'r', expires_in: 3600, expires_at: Date.now() + 3600e3 };
  await page.context().addInitScript(
    ([s, conv]) => {
      localStorage.setItem('parley:session', JSON.stringify(s));
      localStorage.setItem('parley:open:1', JSON.stringify(conv));
    },
    [session, CONV],
  );
  await page.goto(url);
  return page;
}

const msgAt = (page, seq) => page.locator(`[data-testid="message"][data-seq="${seq}"]`);
async function act(page, seq, action) {
  await msgAt(page, seq).locator('.bubble').hover();
  await msgAt(page, seq).getByTestId(`action-${action}`).click();
}
const reactionsOf = (page, seq) =>
  msgAt(page, seq).getByTestId('reaction').evaluateAll((els) => els.map((e) => `${e.dataset.emoji}${e.dataset.count}${e.getAttribute('aria-pressed') === 'true' ? '*' : ''}`));

test('richer messages in the client, against the scripted server', async () => {
  const m = srv.model;
  m.now = () => Date.now() - 1e6 + m.entries.length * 1000;
  srv.by('2', { type: 'send', body: 'the very first' });
  for (let i = 0; i < 150; i += 1) srv.by(i % 2 ? '2' : '3', { type: 'send', body: `filler ${i}` });
  srv.by('2', { type: 'send', body: 'answering the first', reply_to: 1 });
  srv.read('1', CONV, m.entries.length); // all read: the page opens at the bottom, not at seq 1
  const a = await signedIn();

  // A quote of a message far back: the history in between is fetched, with no hole.
  await msgAt(a, 152).waitFor(T);
  assert.equal(await msgAt(a, 1).count(), 0, 'seq 1 is not loaded at first');
  await msgAt(a, 152).getByTestId('reply-quote').click();
  await msgAt(a, 1).waitFor(T);
  const inView = (e) => {
    const r = e.getBoundingClientRect();
    return r.top >= 0 && r.bottom <= innerHeight;
  };
  await until(() => msgAt(a, 1).evaluate(inView), 'seq 1 scrolled into view');
  const seqs = await a.getByTestId('message').evaluateAll((els) => els.map((e) => Number(e.dataset.seq)));
  assert.deepEqual(seqs, Array.from({ length: 152 }, (_, i) => i + 1));

  // Reactions: from the picker, another member's, and a click to take mine back.
  await msgAt(a, 152).scrollIntoViewIfNeeded();
  await act(a, 152, 'react');
  await a.getByTestId('emoji-picker').getByTestId('emoji-option').filter({ hasText: '👍' }).click();
  await until(async () => JSON.stringify(await reactionsOf(a, 152)) === '["👍1*"]', 'my 👍, highlighted');
  srv.by('3', { type: 'react', seq: 152, emoji: '👍', op: 'add' });
  await until(async () => JSON.stringify(await reactionsOf(a, 152)) === '["👍2*"]', 'two 👍');
  await msgAt(a, 152).getByTestId('reaction').click();
  await until(async () => JSON.stringify(await reactionsOf(a, 152)) === '["👍1"]', 'mine taken back');
  // The page may show the change before the server has taken it in: wait for the server.
  await until(() => JSON.stringify(m.served(m.texts.get(152)).reactions) === '[{"emoji":"👍","count":1,"me":false}]',
    'the server holds one 👍, not mine');

  // A reply with an @ picked from the suggestions (Enter picks, then sends).
  await act(a, 152, 'reply');
  assert.match(await a.getByTestId('compose-context').textContent(), /answering the first/);
  await a.getByTestId('composer').pressSequentially('ok @cy');
  await a.getByTestId('mention-option').first().waitFor(T);
  assert.deepEqual(await a.getByTestId('mention-option').evaluateAll((els) => els.map((e) => e.dataset.username)), ['cyd.x']);
  await a.getByTestId('composer').press('Enter');
  assert.equal(await a.getByTestId('composer').inputValue(), 'ok @cyd.x ');
  await a.getByTestId('composer').pressSequentially('thanks');
  const mine = m.entries.length + 1;
  await a.getByTestId('composer').press('Enter');
  await msgAt(a, mine).waitFor(T);
  assert.equal(await msgAt(a, mine).locator('.msg-body').textContent(), 'ok @cyd.x thanks');
  assert.equal(await msgAt(a, mine).getByTestId('mention').getAttribute('data-username'), 'cyd.x');
  assert.match(await msgAt(a, mine).getByTestId('reply-quote').textContent(), /answering the first/);
  assert.equal(m.texts.get(mine).reply_to, 152);
  assert.ok(!(await a.getByTestId('compose-context').isVisible()), 'the reply bar goes once sent');

  // Up in the empty composer edits my last message.
  await a.getByTestId('composer').press('ArrowUp');
  assert.equal(await a.getByTestId('composer').inputValue(), 'ok @cyd.x thanks');
  await a.getByTestId('composer').fill('ok, thanks');
  await a.getByTestId('composer').press('Enter');
  await msgAt(a, mine).getByTestId('edited-mark').waitFor(T);
  await until(() => m.texts.get(mine).body === 'ok, thanks', 'the server holds the edit');
  await shot(a, 'scripted-desktop');

  // Copy and delete.
  await act(a, mine, 'copy');
  assert.equal(await a.getByTestId('toast').textContent(), 'Copied');
  a.once('dialog', (d) => d.accept());
  await act(a, mine, 'delete');
  await msgAt(a, mine).getByTestId('message-deleted').waitFor(T);
  await until(() => m.texts.get(mine).deleted === true, 'the server holds the deletion');
  assert.equal(await msgAt(a, mine).getByTestId('message-actions').count(), 0);

  // A mention while I am scrolled up (not reading): the @ badge.
  await a.evaluate(() => (document.querySelector('.scroller').scrollTop = 0));
  srv.by('2', { type: 'send', body: 'hey @meg, look' });
  await until(async () => (await a.getByTestId('mention-badge').count()) === 1, 'mention badge');
  assert.equal(await a.getByTestId('unread-badge').textContent(), '1');
  assert.deepEqual(a.errors, []);
  await a.context().close();

  // Touch: no hover bar; a long press opens the sheet, whose quick row reacts.
  const phone = await signedIn({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
  const last = m.entries.length;
  await msgAt(phone, last).waitFor(T);
  assert.ok(!(await msgAt(phone, last).getByTestId('message-actions').isVisible()), 'no hover bar on touch');
  await msgAt(phone, last).locator('.bubble').dispatchEvent('pointerdown', { pointerType: 'touch', clientX: 60, clientY: 60 });
  await phone.getByTestId('action-sheet').waitFor(T);
  await shot(phone, 'scripted-phone-sheet');
  await phone.getByTestId('action-sheet').getByTestId('emoji-option').filter({ hasText: '❤️' }).click();
  await until(async () => JSON.stringify(await reactionsOf(phone, last)) === '["❤️1*"]', 'reacted from the sheet');
  assert.deepEqual(phone.errors, []);
  await phone.context().close();
});

async function shot(page, name) {
  await page.screenshot({ path: path.join(artifacts, `${name}.png`) });
}
