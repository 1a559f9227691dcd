// Attachments and search (issue 13, PROTOCOL.md §6) in the web client, in
// real Chromium against a real parleyd (limits.max_upload_bytes lowered so
// a too-large file is quick to make): files attached with the button, by
// dropping and by pasting, each with a progress bar that can cancel; an
// image inline that opens full size, a file card whose link serves the
// very bytes; a file over the limit and a failed upload that is retried,
// the typed text kept throughout; the search box's results with the words
// marked, paging, an empty and a malformed query, and a result that opens
// its conversation at the message. On a desktop and on a phone.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { deflateSync } from 'node:zlib';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Server } from './lib/server.mjs';
import { launch, assertCleanText, createGroup, registered as registeredOn, signedIn as signInAs } from './lib/browser.mjs';
import { uname, until, newClient, connected } from './lib/util.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const artifacts = process.env.WEB_TEST_ARTIFACTS || path.join(here, 'artifacts');
mkdirSync(artifacts, { recursive: true });
const T = { timeout: 10000 };
const PHONE = { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true };
const LIMIT = 2_000_000; // limits.max_upload_bytes of this suite's server

let server;
let browser;
before(async () => {
  server = await new Server(['--limits.max_upload_bytes', String(LIMIT)]).start();
  browser = await launch();
});
after(async () => {
  await browser?.close();
  await server?.dispose();
});

const shot = (page, name) => page.screenshot({ path: path.join(artifacts, `${name}.png`) });
const sha = (b) => createHash('sha256').update(b).digest('hex');

/** A real PNG, width x height, a diagonal gradient (so it looks like a picture). */
function png(width, height) {
  const crcTable = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k += 1) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  const crc = (buf) => {
    let c = 0xffffffff;
    for (const b of buf) c = crcTable[(c ^ b) & 0xff] ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
  };
  const chunk = (type, data) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const td = Buffer.concat([Buffer.from(type), data]);
    const c = Buffer.alloc(4);
    c.writeUInt32BE(crc(td));
    return Buffer.concat([len, td, c]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([8, 2, 0, 0, 0], 8); // 8-bit RGB
  const raw = Buffer.alloc((width * 3 + 1) * height);
  for (let y = 0; y < height; y += 1) {
    const row = y * (width * 3 + 1);
    for (let x = 0; x < width; x += 1) {
      const i = row + 1 + x * 3;
      raw[i] = 60 + Math.round((x / width) * 180);
      raw[i + 1] = 90 + Math.round((y / height) * 120);
      raw[i + 2] = 220 - Math.round(((x + y) / (width + height)) * 140);
    }
  }
  return Buffer.concat([Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]), chunk('IHDR', ihdr), chunk('IDAT', deflateSync(raw)), chunk('IEND', Buffer.alloc(0))]);
}

/** Bytes that do not compress to nothing, of a given size. */
const bytes = (n, seed = 7) => Buffer.from(Array.from({ length: n }, (_, i) => (i * 31 + seed * 17 + (i >> 7)) & 0xff));

const registered = (...names) => registeredOn(server, ...names);
const signedIn = (username, opts) => signInAs(browser, server, username, opts);

const item = (page, conv) => page.locator(`[data-testid="conversation-item"][data-conv-id="${conv}"]`);
const chips = (page) => page.getByTestId('attachment-chip');
const chipStates = (page) => chips(page).evaluateAll((els) => els.map((e) => `${e.dataset.name}:${e.dataset.status}`));
const composerText = (page) => page.getByTestId('composer').inputValue();

/** The newest message of the open conversation that has attachments, once the server stored it. */
const lastWithFiles = (page) => page.locator('[data-testid="message"][data-status="sent"]', { has: page.getByTestId('attachments') }).last();

// The browser logs a failed request as a console error; the ones a test causes on purpose are expected.
const unexpected = (errors) => errors.filter((e) => !/Failed to load resource: (net::ERR_FAILED|net::ERR_CONNECTION_RESET|the server responded with a status of (400|413) )/.test(e));

/** Writes a message and sends it with the button (Enter is a new line on a phone). */
async function say(page, text) {
  await page.getByTestId('composer').fill(text);
  await page.getByTestId('send').click();
}

async function done(...pages) {
  for (const p of pages) {
    await assertCleanText(p);
    assert.deepEqual(unexpected(p.errors), [], 'no console errors');
    await p.context().close();
  }
}

/** Drops files on an element the way a file manager does (a synthetic drag with a DataTransfer). */
function dropFiles(page, selector, files) {
  return page.evaluate(
    ({ selector, files }) => {
      const dt = new DataTransfer();
      for (const f of files) dt.items.add(new File([new Uint8Array(f.bytes)], f.name, { type: f.type }));
      const target = document.querySelector(selector);
      for (const type of ['dragenter', 'dragover', 'drop']) target.dispatchEvent(new DragEvent(type, { bubbles: true, cancelable: true, dataTransfer: dt }));
    },
    { selector, files: files.map((f) => ({ ...f, bytes: [...f.bytes] })) },
  );
}

/** Pastes files into the composer as a clipboard with files does. */
function pasteFiles(page, files) {
  return page.evaluate((files) => {
    const dt = new DataTransfer();
    for (const f of files) dt.items.add(new File([new Uint8Array(f.bytes)], f.name, { type: f.type }));
    document.querySelector('[data-testid="composer"]').dispatchEvent(new ClipboardEvent('paste', { bubbles: true, cancelable: true, clipboardData: dt }));
  }, files.map((f) => ({ ...f, bytes: [...f.bytes] })));
}

/** Slows the page's uploads down to `bytesPerSecond` (Chromium's network emulation), or back to full speed with 0. */
async function throttle(page, bytesPerSecond) {
  page.cdp ??= await page.context().newCDPSession(page);
  await page.cdp.send('Network.enable');
  await page.cdp.send('Network.emulateNetworkConditions', {
    offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: bytesPerSecond || -1,
  });
}

for (const [label, opts] of [['desktop', {}], ['phone', PHONE]]) {
  test(`attachments (${label}): picked, dropped and pasted files upload with progress, send, show inline or as a card; errors keep the text`, async () => {
    const [ann, bob] = ['ann', 'bob'].map((n) => uname(n));
    await registered(ann, bob);
    const a = await signedIn(ann, opts);
    const g = await createGroup(a, 'Files', [bob]);
    await say(a, 'files follow');
    await a.locator('[data-testid="message"][data-status="sent"]', { hasText: 'files follow' }).waitFor(T);

    // The button's file input: a picture and a file whose name looks like markup.
    const photo = png(640, 400);
    const oddName = 'notes <b>1</b> & "q".txt';
    const notes = Buffer.from('line one\nline two\n'.repeat(40));
    await a.getByTestId('attach-input').setInputFiles([
      { name: 'photo.png', mimeType: 'image/png', buffer: photo },
      { name: oddName, mimeType: 'text/plain', buffer: notes },
    ]);
    await until(async () => (await chipStates(a)).join() === `photo.png:done,${oddName}:done`, 'both uploaded');
    await a.getByTestId('composer').fill('the plan, and a picture');
    await a.getByTestId('send').click();
    await lastWithFiles(a).waitFor(T);
    const seq = await lastWithFiles(a).getAttribute('data-seq');
    const sent = a.locator(`[data-testid="message"][data-seq="${seq}"]`);
    assert.equal(await chips(a).count(), 0, 'the tray empties once sent');
    assert.equal(await composerText(a), '', 'the composer empties once sent');
    assert.match(await sent.textContent(), /the plan, and a picture/);
    const image = sent.getByTestId('attachment-image');
    assert.equal(await image.getAttribute('data-name'), 'photo.png');
    await until(async () => (await image.locator('img').evaluate((i) => i.complete && i.naturalWidth)) === 640, 'the picture loaded');
    const box = await image.boundingBox();
    const list = await a.getByTestId('message-list').boundingBox();
    assert.ok(box.height <= 241 && box.x >= list.x && box.x + box.width <= list.x + list.width, `scaled to fit (${box.width}x${box.height})`);
    // Its frame takes the picture's shape where the width allows (the picture itself is never stretched).
    if (label === 'desktop') assert.ok(Math.abs(box.width / box.height - 640 / 400) < 0.05, `its shape (${box.width}x${box.height})`);
    assert.equal(await image.locator('img').evaluate((i) => getComputedStyle(i).objectFit), 'contain');
    const card = sent.getByTestId('attachment-file');
    assert.equal(await card.locator('.card-name').textContent(), oddName, 'the name shown as written');
    assert.equal(await card.locator('b').count(), 0, 'never as markup');
    assert.equal(await card.locator('.card-size').textContent(), '720 B');
    // The card's link is the signed url: it works with no header at all, and serves the very bytes.
    const href = await card.getAttribute('href');
    assert.match(href, /\/v1\/uploads\//);
    const got = await fetch(href);
    assert.equal(got.status, 200);
    assert.equal(sha(Buffer.from(await got.arrayBuffer())), sha(notes));
    const imgSrc = await image.locator('img').getAttribute('src');
    assert.equal(sha(Buffer.from(await (await fetch(imgSrc)).arrayBuffer())), sha(photo));

    // Click opens it full size; Esc closes it, and only it.
    await image.click();
    await a.getByTestId('lightbox').waitFor(T);
    await until(async () => (await a.locator('.lightbox-img').evaluate((i) => i.naturalWidth)) === 640, 'full size loaded');
    await a.keyboard.press('Escape');
    await until(async () => (await a.getByTestId('lightbox').count()) === 0, 'lightbox closed');
    assert.equal(await a.locator('.chat-title').textContent(), 'Files', 'the conversation stays open');
    if (label === 'desktop') await shot(a, 'files-inline-image-and-card');
    else await shot(a, 'files-inline-image-and-card-phone');

    // A slow upload shows its progress; removing it cancels it, and nothing is sent.
    await throttle(a, 150_000);
    await a.getByTestId('attach-input').setInputFiles([{ name: 'big.bin', mimeType: 'application/octet-stream', buffer: bytes(1_200_000) }]);
    const bar = a.getByTestId('upload-progress');
    await until(async () => Number(await bar.getAttribute('aria-valuenow')) > 5, 'progress moves');
    assert.ok(Number(await bar.getAttribute('aria-valuenow')) < 100);
    assert.match(await chips(a).locator('.chip-size').textContent(), /^[\d.]+ (KB|MB) of 1\.1 MB$/);
    await a.getByTestId('composer').fill('this waits for the upload');
    await a.getByTestId('send').click();
    await a.getByTestId('attachment-waiting').waitFor(T);
    assert.equal(await a.getByTestId('composer').evaluate((t) => t.readOnly), true, 'the text is kept, read-only, while it waits');
    await shot(a, label === 'desktop' ? 'files-upload-in-progress' : 'files-upload-in-progress-phone');
    await a.getByTestId('attachment-remove').click();
    await until(async () => (await chips(a).count()) === 0, 'cancelled');
    assert.equal(await composerText(a), 'this waits for the upload', 'the text is still there');
    assert.equal(await a.getByTestId('composer').evaluate((t) => t.readOnly), false);
    await throttle(a, 0);

    // Over the server's limit: said plainly, no retry; the text survives a send that cannot go.
    await a.getByTestId('attach-input').setInputFiles([{ name: 'huge.bin', mimeType: 'application/octet-stream', buffer: bytes(LIMIT + 1000) }]);
    await until(async () => (await chipStates(a)).join() === 'huge.bin:failed', 'refused');
    assert.match(await a.getByTestId('attachment-error').textContent(), /^Too large: files can be at most 1\.9 MB$/);
    assert.equal(await a.getByTestId('attachment-retry').count(), 0, 'retrying cannot help');
    await a.getByTestId('send').click();
    await a.getByTestId('attachment-note').waitFor(T);
    assert.equal(await composerText(a), 'this waits for the upload');
    await a.getByTestId('attachment-remove').click();
    assert.equal(await a.getByTestId('attachment-tray').isHidden(), true);

    // The network fails mid-upload: Retry sends it again. Then a message of files only (no text).
    await a.route('**/v1/uploads?**', (r) => r.abort('connectionreset'));
    await a.getByTestId('attach-input').setInputFiles([{ name: 'report.pdf', mimeType: 'application/pdf', buffer: bytes(3000, 3) }]);
    await until(async () => (await chipStates(a)).join() === 'report.pdf:failed', 'the upload failed');
    assert.match(await a.getByTestId('attachment-error').textContent(), /cannot reach the server/);
    await a.unroute('**/v1/uploads?**');
    await a.getByTestId('attachment-retry').click();
    await until(async () => (await chipStates(a)).join() === 'report.pdf:done', 'retried');
    await a.getByTestId('composer').fill('');
    await a.getByTestId('send').click();
    await until(async () => (await lastWithFiles(a).getByTestId('attachment-file').getAttribute('data-name')) === 'report.pdf', 'sent with no text');
    assert.equal((await lastWithFiles(a).locator('.msg-body').textContent()).trim(), '');
    assert.equal(await lastWithFiles(a).locator('.card-size').textContent(), '2.9 KB');

    // Dropped on the conversation, and pasted into the composer.
    await dropFiles(a, '.chat', [{ name: 'dropped.txt', type: 'text/plain', bytes: Buffer.from('dropped bytes') }]);
    await until(async () => (await chipStates(a)).join() === 'dropped.txt:done', 'the dropped file uploaded');
    await pasteFiles(a, [{ name: 'image.png', type: 'image/png', bytes: png(32, 32) }]);
    await until(async () => (await chipStates(a)).join() === 'dropped.txt:done,image.png:done', 'the pasted picture uploaded');
    assert.equal(await a.locator('.chip-thumb').count(), 1, 'a picture shows a thumbnail in its chip');
    await say(a, 'dropped and pasted');
    await until(async () => /dropped and pasted/.test(await lastWithFiles(a).textContent()), 'sent');
    assert.equal(await lastWithFiles(a).getByTestId('attachment-file').getAttribute('data-name'), 'dropped.txt');
    assert.equal(await lastWithFiles(a).getByTestId('attachment-image').getAttribute('data-name'), 'image.png');

    // Eleven files: ten go in, the page says why not the last.
    await a.getByTestId('attach-input').setInputFiles(Array.from({ length: 11 }, (_, i) => ({ name: `f${i}.txt`, mimeType: 'text/plain', buffer: Buffer.from(`file ${i}`) })));
    assert.equal(await chips(a).count(), 10);
    assert.match(await a.getByTestId('attachment-note').textContent(), /At most 10 files per message: 1 not added/);
    for (let i = 0; i < 10; i += 1) await a.getByTestId('attachment-remove').first().click();

    // bob sees them; once ann deletes the message, its files go from the page and its link answers 404.
    const b = await signedIn(bob, opts);
    await item(b, g).click();
    const his = b.locator('[data-testid="message"]', { has: b.getByTestId('attachment-image').and(b.locator('[data-name="photo.png"]')) });
    await his.waitFor(T);
    await until(async () => (await his.getByTestId('attachment-image').locator('img').evaluate((i) => i.naturalWidth)) === 640, 'bob sees the picture');
    assert.equal(await his.getByTestId('attachment-file').locator('.card-name').textContent(), oddName);
    const annElsewhere = await newClient(server, { name: ann, register: false });
    await connected(annElsewhere);
    await annElsewhere.delete(g, Number(seq));
    annElsewhere.close();
    const gone = b.locator(`[data-testid="message"][data-seq="${seq}"]`);
    await gone.getByTestId('message-deleted').waitFor(T);
    assert.equal(await gone.getByTestId('attachments').count(), 0, 'a deleted message shows no files');
    await until(async () => (await fetch(href)).status === 404, 'the link is dead');
    await done(a, b);
  });
}

for (const [label, opts] of [['desktop', {}], ['phone', PHONE]]) {
  test(`search (${label}): results with their conversation, sender and words marked; paging; empty and malformed queries; a result opens its message`, async () => {
    const bob = await newClient(server, { name: uname('bob') });
    await connected(bob);
    const annSdk = await newClient(server, { name: uname('ann') });
    await connected(annSdk);
    const ann = annSdk.username;
    const group = (await bob.createGroup('Budget talk', [ann])).id;
    const other = (await bob.createGroup('Elsewhere', [ann])).id;
    // An old message, far above what opening the conversation loads (ann's
    // own later messages read it: the page does not open at it as unread).
    const target = (await bob.send(group, 'The quarterly budget draft is in the shared folder')).seq;
    for (let i = 0; i < 24; i += 1) await bob.send(other, `alpha note number ${i}`);
    for (let i = 0; i < 120; i += 1) await annSdk.send(group, `filler line ${i}`);
    annSdk.close();

    const a = await signedIn(ann, opts);
    await item(a, group).click();
    await a.locator('[data-testid="message"]', { hasText: 'filler line 119' }).waitFor(T);
    assert.equal(await a.locator(`[data-testid="message"][data-seq="${target}"]`).count(), 0, 'not loaded yet');
    if (label === 'phone') await a.locator('.chat-head .back').click();

    const input = a.getByTestId('search-input');
    await input.fill('BUDGET draft');
    await input.press('Enter');
    const result = a.getByTestId('search-result');
    await until(async () => (await result.count()) === 1, 'one result');
    assert.equal(await result.getByTestId('search-result-conv').textContent(), 'Budget talk');
    assert.equal(await result.getByTestId('search-result-sender').textContent(), bob.username);
    assert.deepEqual(await result.getByTestId('search-hit').allTextContents(), ['budget', 'draft']);
    assert.equal(await result.getByTestId('search-result-snippet').textContent(), 'The quarterly budget draft is in the shared folder');
    assert.match(await a.getByTestId('search-status').textContent(), /^1 result for “BUDGET draft”/);
    assert.equal(await a.getByTestId('conversation-list').isHidden(), true, 'results in place of the list');

    // Words typed: live results; a prefix; paging with "More results".
    await input.fill('alph*');
    await until(async () => (await result.count()) === 20, 'the first page');
    assert.deepEqual([...new Set(await a.getByTestId('search-hit').allTextContents())], ['alpha']);
    await shot(a, label === 'desktop' ? 'search-results' : 'search-results-phone');
    await a.getByTestId('search-more').click();
    await until(async () => (await result.count()) === 24, 'the second page');
    assert.equal(await a.getByTestId('search-more').isHidden(), true, 'no more');
    assert.match(await result.first().textContent(), /alpha note number 23/, 'newest first');

    // Only in the open conversation (a desktop shows it beside the results).
    if (label === 'desktop') {
      await a.getByTestId('search-scope').check();
      await until(async () => (await a.getByTestId('search-status').textContent()) === 'No messages match “alph*” in Budget talk.', 'scoped');
      await a.getByTestId('search-scope').uncheck();
      await until(async () => (await result.count()) === 20, 'everywhere again');
    }

    // Nothing found; a query the server cannot read (an unclosed quote).
    await input.fill('zebracorn');
    await input.press('Enter');
    await until(async () => (await a.getByTestId('search-status').textContent()) === 'No messages match “zebracorn”.', 'said so');
    await input.fill('"quarterly budget');
    await input.press('Enter');
    await until(async () => /can’t read that search/.test(await a.getByTestId('search-status').textContent()), 'a 400, said plainly');
    assert.equal(await result.count(), 0);

    // A result opens its conversation at the message, loading the history between, and highlights it.
    await input.fill('"quarterly budget"');
    await input.press('Enter');
    await until(async () => (await result.count()) === 1, 'the phrase found');
    await result.click();
    const found = a.locator(`[data-testid="message"][data-seq="${target}"]`);
    await found.waitFor(T);
    await until(async () => (await found.getAttribute('class')).includes('flash'), 'highlighted');
    await until(async () => {
      const r = await found.boundingBox();
      const s = await a.locator('.scroller').boundingBox();
      return r && r.y >= s.y && r.y + r.height <= s.y + s.height;
    }, 'scrolled into view');
    assert.equal(await a.locator('.chat-title').textContent(), 'Budget talk');
    await shot(a, label === 'desktop' ? 'search-opened-result' : 'search-opened-result-phone');

    // Esc in the box clears it: the conversations come back.
    if (label === 'phone') await a.locator('.chat-head .back').click();
    await input.press('Escape');
    await a.getByTestId('conversation-list').waitFor({ state: 'visible', timeout: 10000 });
    bob.close();
    await done(a);
  });
}
