// What a new user met in the web client's first hour (issue 17, points 1
// to 7), in real Chromium against the scripted server of lib/model.mjs
// (meg signed in; the group "team" with bob and cyd.x, and a DM with bob):
// read receipts, no "null" on the page, the unread divider, membership
// lines, sign-in and settings, right-to-left text and the small things.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { launch, newPage, assertCleanText, scriptedSignedIn } from './lib/browser.mjs';
import { until } from './lib/util.mjs';
import { scriptedWebServer, CONV, DM, ME } from './lib/model.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const artifacts = process.env.WEB_TEST_ARTIFACTS || path.join(here, 'artifacts');
mkdirSync(artifacts, { recursive: true });
const T = { timeout: 10000 };
const PHONE = { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true };

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

/** A fresh scripted server (with the DM) that also serves the web client. */
async function world() {
  const srv = await scriptedWebServer({ dm: true });
  // Entries of the last hour, a minute apart (the model's own clock starts at 1970).
  for (const m of srv.models.values()) m.now = () => Date.now() - 3600e3 + m.entries.length * 60e3;
  return srv;
}

const signedIn = (srv, conv, opts) => scriptedSignedIn(browser, srv, conv, opts);

const msgAt = (page, seq) => page.locator(`[data-testid="message"][data-seq="${seq}"]`);
const attr = (loc, name) => loc.getAttribute(name);

async function done(page) {
  await assertCleanText(page);
  assert.deepEqual(page.errors, []);
  await page.context().close();
}

/** The browser logs every HTTP error answer: takes the n expected ones of a status off page.errors. */
function expectRefused(page, status, n) {
  const is = (e) => e.includes(`status of ${status} `);
  assert.equal(page.errors.filter(is).length, n, `${n} answers ${status}`);
  page.errors = page.errors.filter((e) => !is(e));
}

async function shot(page, name) {
  await page.screenshot({ path: path.join(artifacts, `${name}.png`) });
}

test('read receipts: a second mark in a DM, "seen by N" in a group (17.1)', async () => {
  const srv = await world();
  try {
    srv.by('2', { conv: DM, type: 'send', body: 'are you coming tonight?' });
    const mine = srv.by(ME, { conv: DM, type: 'send', body: 'yes, at eight' }).seq;
    for (const size of [{}, PHONE]) {
      const page = await signedIn(srv, DM, size);
      await msgAt(page, mine).waitFor(T);
      const m = msgAt(page, mine);
      assert.equal(await attr(m, 'data-read'), 'false');
      assert.equal(await attr(m, 'data-read-count'), '0');
      assert.equal(await attr(m.getByTestId('receipt'), 'title'), 'Sent');
      srv.read('2', DM, mine);
      await until(async () => (await attr(m, 'data-read')) === 'true', 'read by bob');
      assert.equal(await attr(m, 'data-read-count'), '1');
      assert.equal(await attr(m.getByTestId('receipt'), 'title'), 'Read');
      if (!size.isMobile) {
        // The server tells no one's marker again: the page keeps what it learnt.
        await page.waitForTimeout(400);
        await page.reload();
        await msgAt(page, mine).waitFor(T);
        assert.equal(await attr(m, 'data-read'), 'true', 'still read after a reload');
      }
      assert.equal(await attr(msgAt(page, 1), 'data-read'), null, 'only my own messages carry receipts');
      await shot(page, size.isMobile ? 'first-hour-dm-read-phone' : 'first-hour-dm-read');
      await done(page);
    }

    // A group: who has read it, counted; the names on hover and on a tap.
    const g1 = srv.by(ME, { type: 'send', body: 'agenda for monday?' }).seq;
    const g2 = srv.by(ME, { type: 'send', body: 'I can take notes' }).seq;
    const page = await signedIn(srv, CONV);
    await msgAt(page, g2).waitFor(T);
    assert.equal(await attr(msgAt(page, g2), 'data-read-count'), '0');
    assert.equal(await page.getByTestId('seen-by').count(), 0, 'nobody has seen it yet');
    srv.read('2', CONV, g2);
    srv.read('3', CONV, g1);
    await until(async () => (await attr(msgAt(page, g1), 'data-read-count')) === '2', 'two readers of the first');
    assert.equal(await attr(msgAt(page, g2), 'data-read-count'), '1');
    assert.equal(await attr(msgAt(page, g2), 'data-read'), 'true');
    const seen = msgAt(page, g2).getByTestId('seen-by');
    assert.equal(await seen.textContent(), 'Seen by 1');
    assert.equal(await attr(seen, 'title'), 'bob');
    assert.equal(await msgAt(page, g1).getByTestId('seen-by').count(), 0, '"seen by" under the newest only');
    assert.equal(await attr(msgAt(page, g1).getByTestId('receipt'), 'title'), 'Seen by bob, cyd.x');
    await seen.click();
    assert.equal(await msgAt(page, g2).getByTestId('seen-names').textContent(), 'bob');
    // cyd.x catches up; a reader's own message also says they read up to it.
    srv.by('3', { type: 'send', body: 'fine by me' });
    await until(async () => (await attr(msgAt(page, g2), 'data-read-count')) === '2', 'cyd.x read it by writing');
    await done(page);
  } finally {
    await srv.stop();
  }
});

test('a conversation opens at its first unread message, under "New messages" (17.3), with no "null" anywhere (17.2)', async () => {
  const srv = await world();
  try {
    for (let i = 1; i <= 20; i += 1) srv.by(i % 2 ? '2' : '3', { type: 'send', body: `earlier ${i}` });
    const mine = srv.by(ME, { type: 'send', body: 'I read everything up to here' }).seq;
    for (let i = 1; i <= 61; i += 1) srv.by(i % 3 ? '2' : '3', { type: 'send', body: `unread ${i}` });
    const last = srv.model.entries.length;
    const page = await signedIn(srv, null);
    assert.equal(await page.locator(`[data-conv-id="${CONV}"]`).getByTestId('unread-badge').textContent(), '61');
    await page.locator(`[data-conv-id="${CONV}"]`).click();
    const divider = page.getByTestId('unread-divider');
    await divider.waitFor(T);
    // The divider sits right above the first unread message, and both are on screen.
    assert.equal(await divider.evaluate((d) => d.nextElementSibling.dataset.seq ?? d.nextElementSibling.nextElementSibling.dataset.seq), String(mine + 1));
    const onScreen = (e) => {
      const r = e.getBoundingClientRect();
      const s = document.querySelector('.scroller').getBoundingClientRect();
      return r.top >= s.top && r.bottom <= s.bottom;
    };
    await until(() => divider.evaluate(onScreen), 'the divider on screen');
    assert.ok(await msgAt(page, mine + 1).evaluate(onScreen), 'the first unread on screen');
    assert.ok(!(await msgAt(page, last).evaluate(onScreen)), 'not opened at the bottom');
    // Read only as far as seen.
    await until(() => srv.readSeq(CONV) > mine, 'the marker moved past what was on screen');
    await page.waitForTimeout(300);
    const marker = srv.readSeq(CONV);
    assert.ok(marker < last - 20, `read up to ${marker} only, of ${last}`);
    const lowest = await page.getByTestId('message').evaluateAll((els) => {
      const s = document.querySelector('.scroller').getBoundingClientRect();
      return Math.max(...els.filter((e) => e.getBoundingClientRect().bottom <= s.bottom + 2).map((e) => Number(e.dataset.seq)));
    });
    assert.equal(marker, lowest, 'the marker is the lowest message on screen');
    await shot(page, 'first-hour-unread-divider');
    // Scrolled to the end: all read; the divider stays while the group is open.
    await page.evaluate(() => {
      const s = document.querySelector('.scroller');
      s.scrollTop = s.scrollHeight;
    });
    await until(() => srv.readSeq(CONV) === last, 'all read at the bottom');
    assert.equal(await divider.count(), 1);

    // 17.2: the header with nobody online and the members panel of plain members.
    assert.equal(await page.locator('.chat-sub').textContent(), '3 members');
    await page.getByTestId('members-button').click();
    await page.getByTestId('member').first().waitFor(T);
    assert.equal(await page.getByTestId('member').count(), 3);
    await done(page);

    // The same on a phone.
    srv.read(ME, CONV, mine);
    const phone = await signedIn(srv, CONV, PHONE);
    await phone.getByTestId('unread-divider').waitFor(T);
    await until(() => phone.getByTestId('unread-divider').evaluate(onScreen), 'the divider on screen (phone)');
    assert.ok(await msgAt(phone, mine + 1).evaluate(onScreen), 'the first unread on screen (phone)');
    await phone.waitForTimeout(300);
    assert.ok(srv.readSeq(CONV) < last - 40, `read up to ${srv.readSeq(CONV)} only (phone)`);
    await shot(phone, 'first-hour-unread-divider-phone');
    await done(phone);
  } finally {
    await srv.stop();
  }
});

test('membership changes show in the timeline; a removed user keeps the group read-only (17.4)', async () => {
  const srv = await world();
  try {
    for (let i = 1; i <= 80; i += 1) srv.by(i % 2 ? '2' : '3', { type: 'send', body: `older ${i}` });
    srv.by('2', { type: 'send', body: 'morning all' });
    const top = srv.by(ME, { type: 'send', body: 'morning' }).seq;
    const page = await signedIn(srv, CONV);
    await msgAt(page, top).waitFor(T);
    assert.equal(await msgAt(page, 1).count(), 0, 'the oldest are not loaded yet');
    const lines = () => page.getByTestId('system-line').allTextContents();

    // Removing asks first; "no" removes nobody.
    await page.getByTestId('members-button').click();
    const dialogs = [];
    page.on('dialog', (d) => {
      dialogs.push(d.message());
      if (dialogs.length === 1) d.dismiss();
      else d.accept();
    });
    const removeCyd = async () => {
      await page.locator('[data-testid="member"][data-username="cyd.x"]').getByTestId('member-menu').click();
      await page.getByTestId('user-card').getByTestId('member-remove').click();
    };
    await removeCyd();
    assert.match(dialogs[0], /Remove cyd\.x from “team”\?/);
    assert.equal(await page.getByTestId('member').count(), 3, 'still three');
    await removeCyd();
    await until(async () => (await lines()).includes('You removed cyd.x'), 'my removal in the timeline');
    assert.equal(await page.getByTestId('member').count(), 2);

    // An owner who leaves is asked to hand the group over first (and here cancels).
    await page.getByTestId('leave').click();
    await page.getByTestId('leave-handover').waitFor(T);
    assert.match(await page.getByTestId('leave-handover').textContent(), /You own “team”.*the admin who joined first becomes the owner/);
    assert.deepEqual(await page.getByTestId('handover-to').locator('option').allTextContents(), ['bob']);
    await page.getByTestId('handover-cancel').click();
    // The dialog goes on the page's next turn, not within the click.
    await until(async () => (await page.getByTestId('leave-handover').count()) === 0, 'the hand-over dialog closes');
    assert.equal(await page.getByTestId('conversation-item').count(), 2, 'still in the group');
    assert.equal(srv.frames.filter((f) => f.type === 'leave' || f.type === 'transfer').length, 0, 'nothing asked of the server');

    // Others' changes; a typing indicator of someone who left goes at once.
    // The events name no actor: only what the protocol settles is said
    // (roles are set by the owner alone, here meg).
    srv.member(CONV, '3', 'added');
    srv.member(CONV, '3', 'role', 'admin');
    srv.typing(CONV, '2');
    await until(() => page.getByTestId('typing-indicator').isVisible(), 'bob typing');
    srv.member(CONV, '2', 'left');
    await until(async () => !(await page.getByTestId('typing-indicator').isVisible()), 'bob’s typing gone with him');
    await until(async () => (await lines()).length === 4, 'four lines');
    const four = ['You removed cyd.x', 'cyd.x joined', 'You made cyd.x an admin', 'bob left'];
    assert.deepEqual(await lines(), four);
    // The lines sit after the messages they followed.
    assert.equal(await page.locator('[data-testid="system-line"] + [data-testid="message"]').count(), 0);

    // History does not carry them: the page keeps them, in place, across a reload (and only once).
    await page.reload();
    await msgAt(page, top).waitFor(T);
    await until(async () => (await lines()).length === 4, 'four lines after the reload');
    assert.deepEqual(await lines(), four);
    assert.equal(await page.locator('[data-testid="system-line"] + [data-testid="message"]').count(), 0, 'still after the messages they followed');

    // Removed: the group stays in the list, read-only, and says so.
    srv.member(CONV, ME, 'removed');
    await page.getByTestId('removed-note').waitFor(T);
    assert.match(await page.getByTestId('removed-note').textContent(), /You were removed from this group/);
    assert.ok(!(await page.getByTestId('composer').isVisible()), 'no composer');
    assert.equal(await page.getByTestId('conversation-item').count(), 2);
    assert.equal((await lines()).at(-1), 'You were removed from this group');
    assert.equal(await msgAt(page, top).count(), 1, 'what was shown stays');
    await shot(page, 'first-hour-group-system-lines');
    // Scrolling back: the server refuses the history now, and the page says so.
    const olderAsks = () => srv.frames.filter((f) => f.type === 'history' && f.conv === CONV && f.before).length;
    const asked = olderAsks();
    await page.evaluate(() => (document.querySelector('.scroller').scrollTop = 0));
    await page.getByTestId('history-refused').waitFor(T);
    assert.match(await page.getByTestId('history-refused').textContent(), /no longer a member/);
    await page.waitForTimeout(300);
    assert.equal(olderAsks() - asked, 1, 'asked once, not in a loop');
    // A reload keeps it (the server's list no longer has it).
    await page.reload();
    await page.getByTestId('removed-note').waitFor(T);
    assert.equal(await page.locator('.chat-title').textContent(), 'team');
    await until(async () => (await page.getByTestId('connection-state').getAttribute('data-state')) === 'connected', 'connected');
    assert.equal(await page.getByTestId('conversation-item').count(), 2, 'still listed after the welcome');
    await page.getByTestId('history-refused').waitFor(T); // its messages are gone with the page: the server refuses them
    expectRefused(page, 403, 1);
    await page.getByTestId('removed-dismiss').click();
    assert.equal(await page.getByTestId('conversation-item').count(), 1, 'dismissed');
    await page.reload();
    await page.getByTestId('conversation-list').waitFor(T);
    assert.equal(await page.getByTestId('conversation-item').count(), 1, 'dismissed for good');
    await done(page);
  } finally {
    await srv.stop();
  }
});

test('member objects with `display_name` and `read_seq` (additive fields): names and receipts without asking (17.4, 17.5)', async () => {
  const srv = await scriptedWebServer({ dm: true, memberFields: true });
  try {
    for (const m of srv.models.values()) m.now = () => Date.now() - 3600e3 + m.entries.length * 60e3;
    srv.users.get('2').display_name = 'Bob Builder';
    srv.by('2', { type: 'send', body: 'hello team' });
    const mine = srv.by(ME, { type: 'send', body: 'hi bob' }).seq;
    srv.read('2', CONV, mine, { quiet: true }); // known only from the member object
    const page = await signedIn(srv, CONV);
    await msgAt(page, mine).waitFor(T);
    assert.equal(await page.locator('.msg-sender').first().textContent(), 'Bob Builder');
    await until(async () => (await attr(msgAt(page, mine), 'data-read-count')) === '1', 'read by bob, from his read_seq');
    assert.equal(await attr(msgAt(page, mine).getByTestId('receipt'), 'title'), 'Seen by Bob Builder');
    await page.getByTestId('members-button').click();
    assert.match(await page.locator('[data-testid="member"][data-username="bob"] .member-name').textContent(), /^Bob Builder$/);
    assert.match(await page.locator(`[data-conv-id="${DM}"] .conv-title`).textContent(), /^Bob Builder$/);
    assert.deepEqual(srv.http.filter((x) => x.path.startsWith('/v1/users/')), [], 'no profile lookups');
    await done(page);
  } finally {
    await srv.stop();
  }
});

test('sign in and create account apart; the settings page; display names everywhere, live (17.5)', async () => {
  const srv = await world();
  try {
    // A wrong password and an unknown name read the same, and both offer to create an account.
    const page = await newPage(browser, srv.url);
    await page.getByTestId('login-submit').waitFor(T);
    assert.equal(await page.getByTestId('register-submit').count(), 0, 'signing in is not creating');
    const failWith = async (name) => {
      await page.getByTestId('login-username').fill(name);
      await page.getByTestId('login-password').fill('not the password');
      await page.getByTestId('login-password').press('Enter');
      await page.getByTestId('offer-register').waitFor(T);
      return page.getByTestId('auth-error').textContent();
    };
    const wrong = await failWith('meg');
    const unknown = await failWith('newbie');
    assert.equal(wrong, unknown, 'the page cannot tell an unknown user from a wrong password either');
    assert.doesNotMatch(unknown, /exist|no such|unknown|not found/i);
    await page.getByTestId('offer-register').click();
    await page.getByTestId('register-submit').waitFor(T);
    assert.equal(await page.getByTestId('login-username').inputValue(), 'newbie', 'the name is kept');
    await page.getByTestId('register-display-name').fill('New Bie');
    await page.getByTestId('login-password').fill('a good long password');
    await page.getByTestId('register-submit').click();
    await page.getByTestId('conversation-list').waitFor(T);
    assert.deepEqual(srv.http.find((x) => x.path === '/v1/auth/register').body, { username: 'newbie', password: 'a good long password', display_name: 'New Bie' });
    expectRefused(page, 401, 2); // the two failed sign-ins
    await done(page);
  } finally {
    await srv.stop();
  }

  const srv2 = await world();
  try {
    srv2.by('2', { conv: DM, type: 'send', body: 'hello meg' });
    srv2.by('2', { type: 'send', body: 'hello team' });
    for (const size of [{}, PHONE]) {
      const page = await signedIn(srv2, size.isMobile ? null : DM, size); // on a phone the gear is in the list view
      await page.getByTestId('settings-open').click();
      await page.getByTestId('settings').waitFor(T);
      await shot(page, size.isMobile ? 'first-hour-settings-phone' : 'first-hour-settings');
      await page.getByTestId('settings-close').click();
      await done(page);
    }
    const page = await signedIn(srv2, DM);
    await msgAt(page, 1).waitFor(T);

    // Someone else's display name replaces their username, live.
    srv2.rename('2', 'Bobby Tables');
    await until(async () => (await page.locator('.chat-title').textContent()) === 'Bobby Tables', 'the DM title');
    assert.match(await page.locator(`[data-conv-id="${DM}"]`).textContent(), /Bobby Tables/);
    await page.locator(`[data-conv-id="${CONV}"]`).click();
    await until(async () => (await page.locator('.msg-sender').first().textContent()) === 'Bobby Tables', 'the sender in the group');

    // My display name: PATCH /v1/me, shown at once.
    await page.getByTestId('settings-open').click();
    await page.getByTestId('display-name').fill('Meg R.');
    await page.getByTestId('display-name-save').click();
    await until(async () => (await page.locator('.me-name').textContent()) === 'Meg R.', 'my name in the corner');
    const patch = srv2.http.find((x) => x.method === 'PATCH');
    assert.deepEqual([patch.path, patch.auth, patch.body], ['/v1/me', `Bearer ${srv2.token}`, { display_name: 'Meg R.' }]);

    // Password: a wrong current one is refused; the right one keeps this device signed in.
    await page.getByTestId('password-old').fill('wrong wrong wrong');
    await page.getByTestId('password-new').fill('a brand new password');
    await page.getByTestId('password-change').click();
    await until(async () => /wrong/.test(await page.getByTestId('password-status').textContent()), 'refused');
    await page.getByTestId('password-old').fill('correct horse battery');
    await page.getByTestId('password-change').click();
    await until(async () => /changed/.test(await page.getByTestId('password-status').textContent()), 'changed');
    assert.equal(srv2.users.get(ME).password, 'a brand new password');

    // Download my data: GET /v1/me/export with the (new) bearer token, saved as a file.
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('export-data').click()]);
    assert.equal(download.suggestedFilename(), 'parley-export-meg.json');
    const saved = JSON.parse(readFileSync(await download.path(), 'utf8'));
    assert.equal(saved.user.display_name, 'Meg R.');
    assert.equal(srv2.http.find((x) => x.path === '/v1/me/export').auth, `Bearer ${srv2.token}`);

    // Delete account: the consequences first, then the password.
    await page.getByTestId('delete-account').click();
    assert.match(await page.getByTestId('delete-consequences').textContent(), /cannot be undone/);
    await page.getByTestId('delete-password').fill('nope nope nope');
    await page.getByTestId('delete-account-confirm').click();
    await until(async () => /wrong/.test(await page.getByTestId('delete-status').textContent()), 'wrong password refused');
    assert.ok(!srv2.users.get(ME).deleted);

    // Sign out everywhere: every token revoked, back to the sign-in form.
    page.once('dialog', (d) => d.accept());
    const before = srv2.token;
    await page.getByTestId('logout-all').click();
    await page.getByTestId('login-submit').waitFor(T);
    const call = srv2.http.find((x) => x.path === '/v1/auth/logout');
    assert.deepEqual([call.auth, call.body], [`Bearer ${before}`, { all: true }]);
    assert.notEqual(srv2.token, before);
    expectRefused(page, 403, 2); // the wrong current password, the wrong password to delete
    await done(page);

    const again = await signedIn(srv2, null);
    await again.getByTestId('settings-open').click();
    await again.getByTestId('delete-account').click();
    await again.getByTestId('delete-password').fill('a brand new password');
    await again.getByTestId('delete-account-confirm').click();
    await again.getByTestId('login-submit').waitFor(T);
    assert.ok(srv2.users.get(ME).deleted);
    assert.match(await again.getByTestId('auth-error').textContent(), /deleted/);
    await done(again);
  } finally {
    await srv2.stop();
  }
});

test('right-to-left text: bodies, previews and the composer take their direction from their text (17.6)', async () => {
  const srv = await world();
  try {
    const arabic = 'مرحبا بالجميع، كيف حالكم؟';
    const hebrew = 'שלום לכולם';
    srv.by('2', { type: 'send', body: 'an English line' });
    const ar = srv.by('2', { type: 'send', body: arabic }).seq;
    srv.by('2', { conv: DM, type: 'send', body: hebrew });
    const page = await signedIn(srv, CONV);
    await msgAt(page, ar).waitFor(T);
    const body = msgAt(page, ar).locator('.msg-body');
    assert.equal(await body.getAttribute('dir'), 'auto');
    assert.equal(await body.evaluate((e) => getComputedStyle(e).direction), 'rtl');
    assert.equal(await msgAt(page, 1).locator('.msg-body').evaluate((e) => getComputedStyle(e).direction), 'ltr');
    const preview = page.locator(`[data-conv-id="${DM}"] .conv-preview`);
    await until(async () => (await preview.textContent()) === hebrew, 'the DM preview');
    assert.equal(await preview.getAttribute('dir'), 'auto');
    assert.equal(await preview.evaluate((e) => getComputedStyle(e).direction), 'rtl');
    const composer = page.getByTestId('composer');
    assert.equal(await composer.getAttribute('dir'), 'auto');
    await composer.fill(hebrew);
    assert.equal(await composer.evaluate((e) => e.matches(':dir(rtl)')), true, 'the composer follows what is typed');
    await done(page);
  } finally {
    await srv.stop();
  }
});

test('the small things: www. links, "Show more", a growing composer, reconnecting, Enter on touch, unknown names (17.7)', async () => {
  const srv = await world();
  try {
    const link = srv.by('2', { type: 'send', body: 'docs at www.example.org/start.' }).seq;
    const long = srv.by('2', { type: 'send', body: Array.from({ length: 40 }, (_, i) => `line ${i + 1}`).join('\n') }).seq;
    const last = srv.by('3', { type: 'send', body: 'the last word' }).seq;
    srv.read(ME, CONV, last);
    const page = await signedIn(srv, CONV);
    await msgAt(page, last).waitFor(T);

    // www. links open over https.
    const a = msgAt(page, link).locator('.msg-body a');
    assert.deepEqual([await a.textContent(), await a.getAttribute('href')], ['www.example.org/start', 'https://www.example.org/start']);

    // A 40-line message shows about 25 lines until "Show more".
    const body = msgAt(page, long).locator('.msg-body');
    const height = () => body.evaluate((e) => e.getBoundingClientRect().height);
    const lineHeight = await body.evaluate((e) => parseFloat(getComputedStyle(e).lineHeight));
    const collapsed = await height();
    assert.ok(collapsed <= lineHeight * 26 && collapsed >= lineHeight * 20, `collapsed to ${collapsed / lineHeight} lines`);
    await msgAt(page, long).getByTestId('show-more').click();
    assert.ok((await height()) >= lineHeight * 39, 'all 40 lines');
    assert.equal(await msgAt(page, long).getByTestId('show-more').textContent(), 'Show less');

    // The composer grows; the last message stays in view above it.
    await page.evaluate(() => {
      const s = document.querySelector('.scroller');
      s.scrollTop = s.scrollHeight;
    });
    await page.getByTestId('composer').fill(Array.from({ length: 8 }, (_, i) => `draft line ${i}`).join('\n'));
    await page.getByTestId('composer').dispatchEvent('input');
    const lastVisible = () =>
      msgAt(page, last).evaluate((e) => e.getBoundingClientRect().bottom <= document.querySelector('.scroller').getBoundingClientRect().bottom + 1);
    await until(lastVisible, 'the last message above the grown composer');
    await page.getByTestId('composer').fill('');

    // Creating a group with unknown names says which.
    await page.getByTestId('new-group').click();
    await page.getByTestId('group-title').fill('trip');
    await page.getByTestId('group-members').fill('bob, zed_x, qqq');
    await page.getByTestId('group-create').click();
    await until(async () => /zed_x/.test(await page.locator('#group-dialog .form-error').textContent()), 'the names');
    const err = await page.locator('#group-dialog .form-error').textContent();
    assert.equal(err, 'There are no users named “zed_x”, “qqq”.');
    expectRefused(page, 404, 2);
    await page.keyboard.press('Escape');

    // Cut off: "Reconnecting in N s…" counting down; the network back: connected within a second.
    await page.context().setOffline(true);
    srv.drop();
    const label = () => page.getByTestId('connection-state').textContent();
    await until(async () => /^Reconnecting in \d+ s…$/.test(await label()), 'a countdown', 15000);
    await until(async () => Number(/in (\d+) s/.exec(await label())?.[1]) >= 3, 'a wait of some seconds', 20000);
    const back = Date.now();
    await page.context().setOffline(false);
    await until(async () => (await page.getByTestId('connection-state').getAttribute('data-state')) === 'connected', 'connected again');
    assert.ok(Date.now() - back < 1000, `back after ${Date.now() - back} ms`);
    // The browser logs each try made while offline; those, and only those, were expected.
    const offline = (e) => e.includes('net::ERR_INTERNET_DISCONNECTED');
    assert.ok(page.errors.some(offline));
    page.errors = page.errors.filter((e) => !offline(e));
    await done(page);

    // On a phone Enter is a new line; the send button sends.
    const phone = await signedIn(srv, CONV, PHONE);
    const composer = phone.getByTestId('composer');
    await composer.fill('two');
    await composer.press('Enter');
    await composer.pressSequentially('lines');
    assert.equal(await composer.inputValue(), 'two\nlines');
    const n = srv.model.entries.length;
    await phone.waitForTimeout(200);
    assert.equal(srv.model.entries.length, n, 'Enter sent nothing');
    await phone.getByTestId('send').click();
    await until(() => srv.model.entries.at(-1)?.body === 'two\nlines', 'sent with the button');
    await done(phone);
  } finally {
    await srv.stop();
  }
});
