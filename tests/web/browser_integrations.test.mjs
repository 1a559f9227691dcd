// Integrations in the web client (issue 15, PROTOCOL.md §8), in real
// Chromium against a real parleyd, at desktop and phone sizes: the Bots
// page (the key shown once, list, delete), notification levels (changed
// from the bell, kept across a reload), Web Push delivered to the service
// worker through the DevTools protocol (no push service is reachable here)
// and the notification it shows, the notification's click opening the
// conversation, and a group's webhooks. A part whose server routes are not
// there yet is skipped against parleyd, saying so; the last tests run the
// same UI against the scripted server of lib/model.mjs, which has them all.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Server } from './lib/server.mjs';
import { launch, newPage, assertCleanText, createGroup, send, registered as registeredOn, signedIn as signInAs, scriptedSignedIn } from './lib/browser.mjs';
import { uname, until, PASSWORD } from './lib/util.mjs';
import { scriptedWebServer, CONV } from './lib/model.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const artifacts = process.env.WEB_TEST_ARTIFACTS || path.join(here, 'artifacts');
mkdirSync(artifacts, { recursive: true });
const T = { timeout: 10000 };
const DESKTOP = { viewport: { width: 1280, height: 800 } };
const PHONE = { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true };
const SIZES = [['desktop', DESKTOP], ['phone', PHONE]];

let server;
let browser;
before(async () => {
  // Webhooks to this machine need the setting; a server without webhooks yet does not know it.
  server = new Server(['--webhooks.allow_private_addresses', 'true']);
  try {
    await server.start();
  } catch {
    await server.dispose();
    server = await new Server().start();
  }
  browser = await launch();
});
after(async () => {
  await browser?.close();
  await server?.dispose();
});

const shot = (page, name) => page.screenshot({ path: path.join(artifacts, `${name}.png`) });

const registered = async (username) => (await registeredOn(server, username))[0];

const api = (token, method, p, body) =>
  fetch(`${server.url}${p}`, { method, headers: { Authorization: `Bearer ${token}` }, body: body === undefined ? undefined : JSON.stringify(body) });

const signedIn = (username, opts) => signInAs(browser, server, username, opts);

/** Answers the next confirm() with OK; resolves with its text. */
function acceptNext(page) {
  return new Promise((resolve) => page.once('dialog', (d) => (resolve(d.message()), d.accept())));
}

async function done(...pages) {
  for (const p of pages) {
    await assertCleanText(p);
    assert.deepEqual(p.errors, [], 'no console errors');
    await p.context().close();
  }
}

const item = (page, conv) => page.locator(`[data-testid="conversation-item"][data-conv-id="${conv}"]`);

/** Opens the user's settings (on a phone the list is where the button is). */
async function openSettings(page) {
  await page.getByTestId('settings-open').click();
  await page.getByTestId('settings').waitFor(T);
}

for (const [size, opts] of SIZES) {
  test(`bots page (${size}): create shows the key once with a warning and a copy button; list; delete with confirmation`, async () => {
    const owner = uname('own');
    await registered(owner);
    const page = await signedIn(owner, opts);
    await page.context().grantPermissions(['clipboard-read', 'clipboard-write'], { origin: server.url });
    await openSettings(page);
    await page.getByTestId('bots-open').click();
    await page.getByTestId('bots').waitFor(T);
    await page.getByTestId('bots-none').waitFor(T);

    // A bad username is refused before anything goes out.
    await page.getByTestId('bot-username').fill('x!');
    await page.getByTestId('bot-create').click();
    assert.match(await page.getByTestId('bot-status').textContent(), /3 to 32/);

    const bot = uname('bot');
    await page.getByTestId('bot-username').fill(bot);
    await page.getByTestId('bot-display-name').fill('Build status');
    await page.getByTestId('bot-create').click();
    await page.getByTestId('bot-key').waitFor(T);
    const key = await page.getByTestId('bot-key-value').inputValue();
    assert.ok(key.length >= 16, 'a key is shown');
    assert.match(await page.getByTestId('bot-key-warning').textContent(), /will not be shown again/);
    assert.ok(await page.getByTestId('bot-key-value').isVisible(), 'the key is on screen');
    await page.locator(`[data-testid="bot"][data-username="${bot}"]`).waitFor(T);
    assert.match(await page.locator(`[data-testid="bot"][data-username="${bot}"]`).textContent(), /Build status.*BOT.*@/);
    await shot(page, `integrations-bots-key-${size}`);
    // The copy button puts the key on the clipboard.
    await page.getByTestId('bot-key-copy').click();
    await page.getByTestId('toast').waitFor(T);
    assert.equal(await page.evaluate(() => navigator.clipboard.readText()), key);

    // The key works: the bot is a User with bot: true.
    const me = await api(key, 'GET', '/v1/me');
    assert.equal(me.status, 200);
    assert.deepEqual([(await me.json()).bot, true][0], true);

    // Shown once: closed and opened again, the page has no key.
    await page.getByTestId('bots-close').click();
    await page.getByTestId('bots-open').click();
    await page.locator(`[data-testid="bot"][data-username="${bot}"]`).waitFor(T);
    assert.equal(await page.getByTestId('bot-key').count(), 0);
    assert.ok(!(await page.evaluate(() => document.body.innerHTML)).includes(key), 'the key is nowhere in the page');

    // Delete, confirmed: gone from the list, and the key stops working.
    const asked = acceptNext(page);
    await page.locator(`[data-testid="bot"][data-username="${bot}"]`).getByTestId('bot-delete').click();
    assert.match(await asked, new RegExp(`^Delete the bot @${bot}\\? Its key stops working at once`));
    await page.getByTestId('bots-none').waitFor(T);
    assert.match(await page.getByTestId('bot-status').textContent(), /was deleted/);
    assert.equal((await api(key, 'GET', '/v1/me')).status, 401);
    await done(page);
  });
}

/** Whether the server has §8's notification levels (its Conversation carries `notify`). */
async function hasNotify(token) {
  const list = await (await api(token, 'GET', '/v1/conversations')).json();
  return list.conversations.some((c) => 'notify' in c);
}

for (const [size, opts] of SIZES) {
  test(`notification level (${size}): the bell shows the default, a change is sent and kept across a reload`, async (t) => {
    const [ann, bob] = [uname('ann'), uname('bob')];
    const s = await registered(ann);
    await registered(bob);
    const page = await signedIn(ann, opts);
    const g = await createGroup(page, 'Levels', [bob]);
    if (!(await hasNotify(s.access_token))) {
      await page.context().close();
      return t.skip('this server has no notification levels (§8 notify) yet');
    }
    const bell = page.getByTestId('notify-open');
    assert.equal(await bell.getAttribute('data-level'), 'mentions', 'groups: mentions by default');
    await bell.click();
    await page.getByTestId('notify-menu').waitFor(T);
    assert.equal(await page.getByTestId('notify-mentions').getAttribute('aria-checked'), 'true');
    assert.match(await page.getByTestId('notify-mentions').textContent(), /\(default\)/);
    await shot(page, `integrations-notify-menu-${size}`);
    await page.getByTestId('notify-all').click();
    await until(async () => (await bell.getAttribute('data-level')) === 'all', 'the bell says all');
    assert.equal(await page.getByTestId('notify-menu').count(), 0, 'the menu closed');
    const conv = (await (await api(s.access_token, 'GET', '/v1/conversations')).json()).conversations.find((c) => c.id === g);
    assert.equal(conv.notify, 'all', 'the server keeps it');
    await page.reload();
    await until(async () => (await page.getByTestId('connection-state').getAttribute('data-state')) === 'connected', 'reconnected');
    await until(async () => (await page.getByTestId('notify-open').getAttribute('data-level')) === 'all', 'all after a reload');
    await page.getByTestId('notify-open').click();
    assert.equal(await page.getByTestId('notify-all').getAttribute('aria-checked'), 'true');
    await page.keyboard.press('Escape');
    assert.equal(await page.getByTestId('notify-menu').count(), 0, 'Escape closes the menu');
    await done(page);
  });
}

test('push: turning notifications on registers the service worker; a push delivered through DevTools shows one notification per conversation; its click opens the conversation', async () => {
  const [ann, bob] = [uname('ann'), uname('bob')];
  await registered(ann);
  await registered(bob);
  const page = await signedIn(ann, DESKTOP);
  const g = await createGroup(page, 'Pushed', [bob]);
  const other = await createGroup(page, 'Elsewhere', [bob]);
  assert.notEqual(g, other);

  // Never asked on load: the permission is still the default.
  assert.equal(await page.evaluate(() => Notification.permission), 'default');
  assert.equal(await page.evaluate(async () => (await navigator.serviceWorker.getRegistrations()).length), 0, 'no service worker before the user asks');
  await page.context().grantPermissions(['notifications'], { origin: server.url });
  await openSettings(page);
  assert.equal(await page.getByTestId('notifications-toggle').textContent(), 'Turn on notifications');
  await page.getByTestId('notifications-toggle').click();
  await until(async () => (await page.getByTestId('notifications-toggle').getAttribute('data-on')) === 'true', 'turned on');
  await until(async () => !(await page.getByTestId('notifications-state').textContent()).includes('…'), 'push settled');
  const state = await page.getByTestId('notifications-state').textContent();
  // Here no push service is reachable (or the server has no push yet): said plainly, in-tab ones stay on.
  assert.match(state, /^On: new messages reach this device even when Parley is closed\.$|^On while Parley is open in a tab\. Push is unavailable: .+\.$/);
  // What the browser logs itself where push cannot work, and only then: the
  // 404 of GET /v1/push/vapid (a server without push), and Chromium's note
  // that a test's (incognito) context has no Push API.
  const noPush = state.includes('this server does not send pushes');
  const noService = state.includes('this browser cannot reach a push service');
  const unexpected = (errors) =>
    errors.filter((e) => !(noPush && /status of 404/.test(e)) && !(noService && /does not support the Push API in incognito mode/.test(e)));
  page.errors = unexpected(page.errors);
  await shot(page, 'integrations-notification-settings-desktop');
  await page.getByTestId('settings-close').click();

  // The service worker, from the web root: its scope is the whole app.
  const reg = await page.evaluate(async () => {
    const r = await navigator.serviceWorker.ready;
    return { scope: r.scope, script: r.active.scriptURL };
  });
  assert.equal(reg.scope, `${server.url}/`);
  assert.equal(reg.script, `${server.url}/sw.js`);

  // A push, as the server would send it (§8), handed to the worker by DevTools.
  const cdp = await page.context().newCDPSession(page);
  const registrations = [];
  cdp.on('ServiceWorker.workerRegistrationUpdated', (e) => registrations.push(...e.registrations));
  await cdp.send('ServiceWorker.enable');
  const registrationId = (await until(() => registrations.find((r) => r.scopeURL === `${server.url}/` && !r.isDeleted), 'the registration id')).registrationId;
  const deliver = (payload) => cdp.send('ServiceWorker.deliverPushMessage', { origin: server.url, registrationId, data: JSON.stringify(payload) });
  const notifications = () =>
    page.evaluate(async () => (await (await navigator.serviceWorker.ready).getNotifications()).map((n) => ({ title: n.title, body: n.body, tag: n.tag, data: n.data })));

  // One push at a time, each waited for: two pushes handed over at once may
  // reach showNotification in either order, and the test is about the tag,
  // not about the browser's scheduling. `seen` keeps what was last shown for
  // the failure message.
  let seen = [];
  const shownWhen = (what, ok) =>
    until(
      async () => {
        seen = await notifications();
        return ok(seen) && seen;
      },
      () => `${what} (shown: ${JSON.stringify(seen)})`,
      20000,
    );
  await deliver({ conv: g, seq: 3, sender: '2', title: 'Pushed', body: 'first' });
  await shownWhen('the first notification', (ns) => ns.length === 1 && ns[0].body === 'first');
  await deliver({ conv: g, seq: 4, sender: '2', title: 'Pushed', body: 'second' });
  await shownWhen('the second replacing the first (one tag per conversation)', (ns) => ns.length === 1 && ns[0].body === 'second');
  await deliver({ conv: other, seq: 1, sender: '2', title: 'Elsewhere', body: 'over here' });
  const shown = await shownWhen('one notification per conversation', (ns) => ns.length === 2);
  assert.deepEqual(
    shown.sort((a, b) => a.tag.localeCompare(b.tag)),
    [
      { title: 'Pushed', body: 'second', tag: `conv:${g}`, data: { conv: g, seq: 4 } },
      { title: 'Elsewhere', body: 'over here', tag: `conv:${other}`, data: { conv: other, seq: 1 } },
    ].sort((a, b) => a.tag.localeCompare(b.tag)),
  );

  // A click on the notification (dispatched in the worker, as the browser would): the open window shows that conversation.
  await page.getByTestId('conversation-list').waitFor(T);
  assert.notEqual(await page.locator('[data-testid="conversation-item"][aria-current="true"]').getAttribute('data-conv-id'), g);
  const [sw] = page.context().serviceWorkers();
  assert.ok(sw, 'the worker is running');
  await sw.evaluate(async (conv) => {
    const [n] = (await self.registration.getNotifications()).filter((x) => x.data?.conv === conv);
    try {
      self.dispatchEvent(new NotificationEvent('notificationclick', { notification: n }));
    } catch {
      /* a script-made event may not wait (waitUntil); its handler has run */
    }
  }, g);
  await until(async () => (await page.locator('[data-testid="conversation-item"][aria-current="true"]').getAttribute('data-conv-id')) === g, 'the pushed conversation open');
  assert.equal((await notifications()).filter((n) => n.tag === `conv:${g}`).length, 0, 'the clicked notification closed');

  // Where a click opens a new window: #/conv/ID opens that conversation.
  const fresh = await page.context().newPage();
  fresh.errors = [];
  fresh.on('console', (m) => m.type() === 'error' && fresh.errors.push(m.text()));
  await fresh.goto(`${server.url}/#/conv/${encodeURIComponent(other)}`);
  await until(async () => (await fresh.locator('[data-testid="conversation-item"][aria-current="true"]').getAttribute('data-conv-id')) === other, 'opened from the link');
  assert.equal(new URL(fresh.url()).hash, '', 'the link is taken off the address');
  assert.deepEqual(unexpected(fresh.errors), []);
  await fresh.close();

  // In the tab: a message for a conversation whose level lets it through,
  // while this page is not looked at, shows a notification; its own do not.
  const bobToken = (await (await fetch(`${server.url}/v1/auth/login`, { method: 'POST', body: JSON.stringify({ username: bob, password: PASSWORD }) })).json()).access_token;
  await page.evaluate(async () => (await navigator.serviceWorker.ready).getNotifications().then((ns) => ns.forEach((n) => n.close())));
  await page.evaluate(() => {
    Object.defineProperty(document, 'hidden', { configurable: true, get: () => true });
    document.hasFocus = () => false;
  });
  const hs = await api(bobToken, 'POST', `/v1/conversations/${other}/messages`, { client_msg_id: 'in-tab-1', body: `quick one @${ann}?` });
  assert.equal(hs.status, 201);
  await send(page, 'my own words');
  const inTab = await until(async () => (await notifications()).find((n) => n.tag === `conv:${other}`), 'the in-tab notification');
  assert.equal(inTab.title, 'Elsewhere');
  assert.equal(inTab.body, `${bob}: quick one @${ann}?`);
  assert.equal((await notifications()).length, 1, 'nothing for my own message');

  // Off again: the subscription (if any) is dropped, and no more in-tab ones.
  await page.evaluate(() => delete document.hidden);
  await openSettings(page);
  await page.getByTestId('notifications-toggle').click();
  await until(async () => (await page.getByTestId('notifications-toggle').getAttribute('data-on')) === 'false', 'turned off');
  await page.getByTestId('settings-close').click();
  page.errors = unexpected(page.errors);
  await done(page);
});

test('push: a browser without a push service says so and keeps in-tab notifications; the phone layout of the settings', async () => {
  const ann = uname('ann');
  await registered(ann);
  const page = await signedIn(ann, PHONE);
  await page.context().grantPermissions(['notifications'], { origin: server.url });
  await page.evaluate(() => {
    // As in a browser that has Notification but no Web Push.
    delete window.PushManager;
  });
  await openSettings(page);
  await page.getByTestId('notifications-toggle').click();
  await until(async () => (await page.getByTestId('notifications-toggle').getAttribute('data-on')) === 'true', 'turned on');
  assert.equal(await page.getByTestId('notifications-state').textContent(), 'On while Parley is open in a tab. Push is unavailable: this browser has no Web Push.');
  await page.getByTestId('notifications-state').scrollIntoViewIfNeeded();
  await shot(page, 'integrations-notification-settings-phone');
  await done(page);
});

/** Whether the server has §8's webhooks (the route exists for a group's owner). */
async function hasWebhooks(token, conv) {
  const r = await api(token, 'GET', `/v1/conversations/${conv}/webhooks`);
  return r.status === 200;
}

for (const [size, opts] of SIZES) {
  test(`webhooks (${size}): owner and admins see them; add shows the secret once; list; delete`, async (t) => {
    const [ann, bob] = [uname('ann'), uname('bob')];
    const s = await registered(ann);
    await registered(bob);
    const page = await signedIn(ann, opts);
    const g = await createGroup(page, 'Hooked', [bob]);
    if (!(await hasWebhooks(s.access_token, g))) {
      await page.context().close();
      return t.skip('this server has no webhooks (§8) yet');
    }
    await page.getByTestId('group-settings-open').click();
    await page.getByTestId('group-settings').waitFor(T);
    await page.getByTestId('webhooks-open').click();
    await page.getByTestId('webhooks-none').waitFor(T);
    await page.getByTestId('webhook-url').fill('ftp://example.com/x');
    await page.getByTestId('webhook-add').click();
    assert.match(await page.getByTestId('webhook-status').textContent(), /http:\/\/ or https:\/\//);
    const url = 'http://127.0.0.1:9/parley-hook';
    await page.getByTestId('webhook-url').fill(url);
    await page.getByTestId('webhook-add').click();
    await page.getByTestId('webhook-secret').waitFor(T);
    const secret = await page.getByTestId('webhook-secret-value').inputValue();
    assert.ok(secret.length >= 16);
    assert.match(await page.getByTestId('webhook-secret-warning').textContent(), /will not be shown again/);
    await page.getByTestId('webhook').waitFor(T);
    assert.equal(await page.getByTestId('webhook-item-url').textContent(), url);
    await page.getByTestId('webhook-secret').scrollIntoViewIfNeeded();
    await shot(page, `integrations-webhooks-${size}`);
    const listed = (await (await api(s.access_token, 'GET', `/v1/conversations/${g}/webhooks`)).json()).webhooks;
    assert.deepEqual(listed.map((w) => w.url), [url]);
    await page.getByTestId('group-settings-close').click();
    await page.getByTestId('group-settings-open').click();
    await page.getByTestId('webhooks-open').click();
    await page.getByTestId('webhook').waitFor(T);
    assert.equal(await page.getByTestId('webhook-secret').count(), 0, 'the secret is shown once');
    const asked = acceptNext(page);
    await page.getByTestId('webhook-delete').click();
    assert.match(await asked, /^Delete the webhook to /);
    await page.getByTestId('webhooks-none').waitFor(T);
    await page.getByTestId('group-settings-close').click();

    // A plain member sees no webhooks at all.
    const b = await signedIn(bob, opts);
    await item(b, g).click();
    await b.getByTestId('group-settings-open').click();
    await b.getByTestId('group-settings').waitFor(T);
    assert.equal(await b.getByTestId('webhooks').count(), 0);
    await done(page, b);
  });
}

// ---- the same UI against the scripted server (every §8 route there)

for (const [size, opts] of SIZES) {
  test(`scripted server (${size}): the level menu changes notify and the bell keeps it across a reload; webhooks with a failing one`, async () => {
    const srv = await scriptedWebServer();
    try {
      const since = Date.UTC(2026, 11, 5, 14, 30);
      srv.webhooks.set('w0', { id: 'w0', conv: CONV, url: 'https://ci.example/hooks/parley', secret: 'old', failing_since: since });
      const page = await scriptedSignedIn(browser, srv, CONV, opts);
      const bell = page.getByTestId('notify-open');
      await until(async () => (await bell.getAttribute('data-level')) === 'mentions', 'the group default');
      await bell.click();
      await page.getByTestId('notify-menu').waitFor(T);
      assert.deepEqual(await page.locator('.notify-item').evaluateAll((els) => els.map((e) => [e.dataset.testid, e.getAttribute('aria-checked')])), [
        ['notify-all', 'false'], ['notify-mentions', 'true'], ['notify-none', 'false'],
      ]);
      const box = await page.getByTestId('notify-menu').boundingBox();
      const vp = page.viewportSize();
      assert.ok(box.x >= 0 && box.x + box.width <= vp.width && box.y + box.height <= vp.height, `the menu fits the screen: ${JSON.stringify([box, vp, await bell.boundingBox()])}`);
      await shot(page, `integrations-notify-menu-scripted-${size}`);
      await page.getByTestId('notify-none').click();
      await until(async () => (await bell.getAttribute('data-level')) === 'none', 'the bell says none once answered');
      assert.equal(srv.notifyOf(CONV), 'none', 'the server has it');
      assert.equal(await bell.getAttribute('aria-label'), 'Notifications: nothing');
      await page.reload();
      await until(async () => (await page.getByTestId('notify-open').getAttribute('data-level')) === 'none', 'none after a reload');

      await page.getByTestId('group-settings-open').click();
      assert.equal(srv.http.filter((x) => x.path.endsWith('/webhooks')).length, 0, 'not fetched until opened');
      await page.getByTestId('webhooks-open').click();
      await page.getByTestId('webhook').waitFor(T);
      assert.match(await page.getByTestId('webhook-state').textContent(), /^Failing since .+: retrying$/);
      await page.getByTestId('webhook-url').fill('https://example.com/parley-hook');
      await page.getByTestId('webhook-add').click();
      await page.getByTestId('webhook-secret').waitFor(T);
      assert.equal(await page.getByTestId('webhook-secret-value').inputValue(), 's2');
      await until(async () => (await page.getByTestId('webhook').count()) === 2, 'two listed');
      assert.deepEqual(await page.getByTestId('webhook-state').allTextContents().then((t) => t.map((x) => x.startsWith('Failing'))), [true, false]);
      await page.getByTestId('webhook-secret').scrollIntoViewIfNeeded();
      await shot(page, `integrations-webhooks-scripted-${size}`);
      const asked = acceptNext(page);
      await page.locator('[data-testid="webhook"][data-id="w0"]').getByTestId('webhook-delete').click();
      assert.equal(await asked, 'Delete the webhook to https://ci.example/hooks/parley? It gets nothing more from this group.');
      await until(async () => (await page.getByTestId('webhook').count()) === 1, 'one left');
      assert.deepEqual([...srv.webhooks.keys()], ['w2']);
      await done(page);
    } finally {
      await srv.stop();
    }
  });
}
