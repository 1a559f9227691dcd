// Attachments in the web client (PROTOCOL.md §6): files picked, dropped or
// pasted into the composer upload at once, each with a progress bar and a
// chip (cancel, retry, remove); the message goes out with them once every
// upload is stored. Messages show their images inline and other files as
// cards with a download link.
//
// app.js owns the page; this module owns the composer's pending files (per
// conversation, for the page's lifetime) and the lightbox. It builds DOM
// with the page's own helpers, passed in, and never puts a file's name or
// anything else a user wrote into HTML: names may hold anything.

/** At most this many attachments on one message (§6). */
export const MAX_FILES = 10;

/** "1.4 MB": sizes as people read them (powers of 1024, as file managers do). */
export function humanSize(bytes) {
  if (bytes === null || bytes === undefined || bytes === '') return '';
  const n = Number(bytes);
  if (!Number.isFinite(n) || n < 0) return '';
  if (n < 1024) return `${n} B`;
  const units = ['KB', 'MB', 'GB', 'TB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i += 1;
  }
  return `${v >= 100 || Number.isInteger(v) ? Math.round(v) : v.toFixed(1)} ${units[i]}`;
}

/** Shown inline: images, except SVG (the server serves it as a download, §6). */
export const isInlineImage = (a) => /^image\//i.test(a?.content_type ?? '') && !/svg/i.test(a.content_type);

/** What a message says in one line (the conversation list): its body, else its files. */
export function attachmentSummary(m) {
  if (m.deleted || m.body || !m.attachments?.length) return m.body;
  const [a] = m.attachments;
  if (m.attachments.length > 1) return `📎 ${m.attachments.length} files`;
  return `${isInlineImage(a) ? '🖼️' : '📎'} ${a.name ?? 'Attachment'}`;
}

const FILE_ICON = 'M14 2H6a2 2 0 0 0-2 2v16a2 2 0 0 0 2 2h12a2 2 0 0 0 2-2V8zm4 18H6V4h7v5h5z';
const ATTACH_ICON =
  'M16.5 6v11.5a4 4 0 0 1-8 0V5a2.5 2.5 0 0 1 5 0v10.5a1 1 0 0 1-2 0V6H10v9.5a2.5 2.5 0 0 0 5 0V5a4 4 0 0 0-8 0v12.5a5.5 5.5 0 0 0 11 0V6z';
const DOWNLOAD_ICON = 'M19 9h-4V3H9v6H5l7 7zM5 18v2h14v-2z';

// What an upload that failed says, and whether trying again can help.
function uploadProblem(e) {
  if (e?.code === 'too_large') {
    const limit = /at most (\d+) bytes/.exec(e.message ?? '');
    return { retry: false, text: limit ? `Too large: files can be at most ${humanSize(limit[1])}` : 'Too large for this server' };
  }
  if (e?.code === 'network') return { retry: true, text: 'Upload failed: cannot reach the server' };
  if (e?.code === 'bad_request') return { retry: false, text: e.message ? e.message[0].toUpperCase() + e.message.slice(1) : 'The server refused this file' };
  return { retry: true, text: `Upload failed${e?.message ? `: ${e.message}` : ''}` };
}

/**
 * The attachment parts of the page. `h` and `svg` are app.js's DOM helpers;
 * `composer` is the message textarea (read-only while a message waits for
 * its uploads); `openConv()` is the conversation on screen.
 */
export function createAttachments({ client, h, svg, composer, openConv }) {
  let keys = 0;
  const byConv = new Map(); // conv -> [item]: the files of the message being written
  const waiting = new Map(); // conv -> {body, options, onSent}: sent once its uploads are in
  const local = new Map(); // upload id -> {id, name, content_type, size, preview}: this page's uploads
  const notes = new Map(); // conv -> text about the tray (a refused file, a blocked send)

  const tray = h('div.file-tray', { testid: 'attachment-tray', hidden: true });
  const input = h('input', { type: 'file', multiple: true, hidden: true, testid: 'attach-input', tabindex: '-1' });
  const button = h(
    'button.icon-btn.attach-btn',
    { testid: 'attach', type: 'button', title: 'Attach files', 'aria-label': 'Attach files', onclick: () => input.click() },
    svg(ATTACH_ICON),
  );
  input.addEventListener('change', () => {
    const conv = openConv();
    if (conv && input.files.length) add(conv, [...input.files]);
    input.value = ''; // the same file may be picked again
  });

  const itemsOf = (conv) => byConv.get(conv) ?? [];

  function add(conv, files) {
    const items = itemsOf(conv);
    const room = MAX_FILES - items.length;
    if (files.length > room) notes.set(conv, `At most ${MAX_FILES} files per message: ${files.length - Math.max(0, room)} not added.`);
    else notes.delete(conv);
    for (const file of files.slice(0, Math.max(0, room))) {
      keys += 1;
      const item = { key: keys, file, name: file.name || 'file', size: file.size, status: 'uploading', loaded: 0, upload: null, problem: null };
      if (isInlineImage({ content_type: file.type })) item.preview = URL.createObjectURL(file);
      items.push(item);
      start(conv, item);
    }
    byConv.set(conv, items);
    render();
  }

  function start(conv, item) {
    item.status = 'uploading';
    item.loaded = 0;
    item.problem = null;
    item.ctl = new AbortController();
    client
      .upload(item.file, {
        name: item.name,
        signal: item.ctl.signal,
        onProgress: ({ loaded, total }) => {
          item.loaded = loaded;
          if (total) item.size = total;
          progress(item);
        },
      })
      .then(
        (u) => {
          item.status = 'done';
          item.upload = u;
          local.set(u.id, { id: u.id, name: u.name, content_type: u.content_type, size: u.size, preview: item.preview });
          settle(conv);
        },
        (e) => {
          if (e.code === 'aborted') return; // removed by the user
          item.status = 'failed';
          item.problem = uploadProblem(e);
          settle(conv);
        },
      );
  }

  function remove(conv, item) {
    item.ctl?.abort();
    if (item.preview && !item.upload) URL.revokeObjectURL(item.preview);
    byConv.set(conv, itemsOf(conv).filter((x) => x !== item));
    if (!itemsOf(conv).length) {
      byConv.delete(conv);
      cancelWait(conv); // nothing left to wait for: the text stays in the composer
    }
    notes.delete(conv);
    settle(conv);
  }

  // An upload ended (or a file left): a message waiting for its uploads goes now, or says why not.
  function settle(conv) {
    const w = waiting.get(conv);
    const items = itemsOf(conv);
    if (w && items.every((x) => x.status === 'done')) {
      waiting.delete(conv);
      dispatch(conv, w);
    } else if (w && !items.some((x) => x.status === 'uploading')) {
      cancelWait(conv);
      notes.set(conv, 'Not sent: a file did not upload. Retry it or remove it, then send again.');
    }
    render();
  }

  function dispatch(conv, { body, options, onSent }) {
    const items = itemsOf(conv);
    byConv.delete(conv);
    notes.delete(conv);
    client.send(conv, body, { ...options, attachments: items.map((x) => x.upload) });
    onSent();
  }

  function cancelWait(conv) {
    waiting.delete(conv);
    if (conv === openConv()) composer.readOnly = false;
  }

  /**
   * Sends `body` with the conversation's files: now when every upload is
   * in, else once they are (the composer keeps the text, read-only, until
   * then). `onSent()` runs when the message has gone to the SDK's outbox.
   * Returns false, sending nothing, when a file failed to upload.
   */
  function send(conv, body, options, onSent) {
    const items = itemsOf(conv);
    if (items.some((x) => x.status === 'failed')) {
      notes.set(conv, 'A file did not upload: retry it or remove it, then send.');
      render();
      return false;
    }
    if (items.every((x) => x.status === 'done')) {
      dispatch(conv, { body, options, onSent });
    } else {
      waiting.set(conv, { body, options, onSent });
      notes.delete(conv);
      if (conv === openConv()) composer.readOnly = true;
    }
    render();
    return true;
  }

  // Only the bar and the numbers move while bytes go out; the tray is redrawn on a change of state.
  function progress(item) {
    const chip = tray.querySelector(`[data-key="${item.key}"]`);
    if (!chip || item.status !== 'uploading') return;
    const pct = item.size ? Math.min(100, Math.round((item.loaded / item.size) * 100)) : 0;
    const bar = chip.querySelector('.upload-bar');
    bar.style.setProperty('--pct', `${pct}%`);
    bar.setAttribute('aria-valuenow', String(pct));
    chip.querySelector('.chip-size').textContent = `${humanSize(item.loaded)} of ${humanSize(item.size)}`;
  }

  function chipEl(conv, item) {
    const pct = item.size ? Math.min(100, Math.round((item.loaded / item.size) * 100)) : 0;
    const failed = item.status === 'failed';
    return h(
      'div.file-chip' + (failed ? '.failed' : ''),
      { testid: 'attachment-chip', 'data-key': item.key, 'data-status': item.status, 'data-name': item.name },
      item.preview ? h('img.chip-thumb', { src: item.preview, alt: '' }) : h('span.chip-icon', null, svg(FILE_ICON)),
      h(
        'span.chip-text',
        null,
        h('span.chip-name', { dir: 'auto', title: item.name }, item.name),
        failed
          ? h('span.chip-error', { testid: 'attachment-error', role: 'alert' }, item.problem.text)
          : h('span.chip-size', null, item.status === 'uploading' ? `${humanSize(item.loaded)} of ${humanSize(item.size)}` : humanSize(item.size)),
        item.status === 'uploading'
          ? h('span.upload-bar', {
              testid: 'upload-progress', role: 'progressbar', 'aria-label': `Uploading ${item.name}`,
              'aria-valuemin': '0', 'aria-valuemax': '100', 'aria-valuenow': String(pct), style: `--pct:${pct}%`,
            })
          : null,
      ),
      failed && item.problem.retry
        ? h('button.link.chip-retry', { type: 'button', testid: 'attachment-retry', onclick: () => (start(conv, item), render()) }, 'Retry')
        : null,
      h(
        'button.icon-btn.chip-remove',
        {
          type: 'button', testid: 'attachment-remove',
          'aria-label': item.status === 'uploading' ? `Cancel uploading ${item.name}` : `Remove ${item.name}`,
          title: item.status === 'uploading' ? 'Cancel upload' : 'Remove',
          onclick: () => remove(conv, item),
        },
        svg('M19 6.4 17.6 5 12 10.6 6.4 5 5 6.4 10.6 12 5 17.6 6.4 19l5.6-5.6 5.6 5.6 1.4-1.4-5.6-5.6z'),
      ),
    );
  }

  function render() {
    const conv = openConv();
    const items = conv ? itemsOf(conv) : [];
    const note = conv ? notes.get(conv) : null;
    const wait = conv && waiting.has(conv);
    composer.readOnly = !!wait;
    tray.hidden = !items.length && !note;
    tray.replaceChildren(
      ...(items.length ? [h('div.chips', null, items.map((x) => chipEl(conv, x)))] : []),
      ...(wait
        ? [
            h(
              'div.tray-note',
              { testid: 'attachment-waiting', role: 'status' },
              h('span.spinner'),
              h('span', null, 'Sending when the uploads finish…'),
              h('button.link', { type: 'button', testid: 'attachment-wait-cancel', onclick: () => (cancelWait(conv), render(), composer.focus()) }, 'Cancel'),
            ),
          ]
        : []),
      ...(note ? [h('div.tray-note.warn', { testid: 'attachment-note', role: 'alert' }, note)] : []),
    );
  }

  /** Dropping files anywhere on `target` attaches them to the open conversation. */
  function acceptDrops(target, canDrop) {
    const hasFiles = (e) => [...(e.dataTransfer?.types ?? [])].includes('Files');
    let depth = 0;
    const hint = h('div.drop-hint', { testid: 'drop-hint', hidden: true }, h('div', null, svg(ATTACH_ICON), h('span', null, 'Drop files to attach')));
    target.append(hint);
    const hide = () => ((depth = 0), (hint.hidden = true));
    target.addEventListener('dragenter', (e) => {
      if (!hasFiles(e) || !canDrop()) return;
      depth += 1;
      hint.hidden = false;
    });
    target.addEventListener('dragleave', (e) => hasFiles(e) && (depth = Math.max(0, depth - 1)) === 0 && hide());
    target.addEventListener('dragover', (e) => {
      if (!hasFiles(e) || !canDrop()) return;
      e.preventDefault();
      e.dataTransfer.dropEffect = 'copy';
    });
    target.addEventListener('drop', (e) => {
      hide();
      if (!hasFiles(e) || !canDrop()) return;
      e.preventDefault();
      if (e.dataTransfer.files.length) add(openConv(), [...e.dataTransfer.files]);
    });
  }

  // Files pasted into the composer (a screenshot, files copied in a file manager) attach; text pastes as ever.
  composer.addEventListener('paste', (e) => {
    const files = [...(e.clipboardData?.files ?? [])];
    const conv = openConv();
    if (!files.length || !conv) return;
    e.preventDefault();
    add(conv, files);
  });

  /** An attachment's link, absolute: the server's `url` is a path (§6). */
  const hrefOf = (a) => (a.url && a.url.startsWith('/') ? client.baseUrl + a.url : a.url);

  /** The attachments of a message, or null. Pending messages show this page's own uploads (local previews). */
  function messageFiles(m) {
    const list = m.attachments ?? [];
    if (m.deleted || !list.length) return null;
    return h(
      'div.attachments',
      { testid: 'attachments' },
      list.map((a) => (isInlineImage(a) && (a.url || a.preview) ? imageEl(a) : cardEl(a))),
    );
  }

  const dims = new Map(); // upload id -> aspect ratio learnt when the image loaded: redrawn at once at its size
  function imageEl(a) {
    const src = a.url ? hrefOf(a) : a.preview;
    const img = h('img', { src, alt: a.name ?? 'Image', loading: 'lazy', decoding: 'async' });
    // The frame has a fixed height from the start, so a picture arriving never moves the list;
    // only its width follows the picture's shape.
    const frame = h(
      'button.att-image',
      { type: 'button', testid: 'attachment-image', 'data-id': a.id, 'data-name': a.name, title: a.name, 'aria-label': `Open ${a.name ?? 'image'}`, onclick: (e) => (e.stopPropagation(), openLightbox(a, src)) },
      img,
    );
    const fit = (ratio) => frame.style.setProperty('--ratio', String(ratio));
    if (dims.has(a.id)) fit(dims.get(a.id));
    img.addEventListener('load', () => {
      if (!img.naturalWidth || !img.naturalHeight) return;
      const r = img.naturalWidth / img.naturalHeight;
      dims.set(a.id, r);
      fit(r);
      frame.dataset.loaded = 'true';
    });
    img.addEventListener('error', () => frame.classList.add('broken'));
    return frame;
  }

  function cardEl(a) {
    const name = a.name ?? 'Attachment';
    const href = a.url ? hrefOf(a) : null;
    const parts = [
      h('span.card-icon', null, svg(FILE_ICON)),
      h('span.card-text', null, h('span.card-name', { dir: 'auto', title: name }, name), h('span.card-size', null, humanSize(a.size))),
      href ? h('span.card-get', { 'aria-hidden': 'true' }, svg(DOWNLOAD_ICON)) : null,
    ];
    if (!href) return h('div.att-card', { testid: 'attachment-file', 'data-id': a.id, 'data-name': name }, parts);
    return h(
      'a.att-card',
      {
        testid: 'attachment-file', 'data-id': a.id, 'data-name': name, href, download: name, target: '_blank', rel: 'noopener',
        title: `Download ${name} (${humanSize(a.size)})`, onclick: (e) => e.stopPropagation(),
      },
      parts,
    );
  }

  function openLightbox(a, src) {
    document.querySelector('.lightbox')?.remove();
    const back = document.activeElement;
    const close = () => {
      box.remove();
      back?.focus?.({ preventScroll: true });
    };
    const closeBtn = h('button.icon-btn.lightbox-close', { type: 'button', testid: 'lightbox-close', 'aria-label': 'Close', title: 'Close (Esc)', onclick: close }, svg('M19 6.4 17.6 5 12 10.6 6.4 5 5 6.4 10.6 12 5 17.6 6.4 19l5.6-5.6 5.6 5.6 1.4-1.4-5.6-5.6z'));
    const box = h(
      'div.lightbox',
      { testid: 'lightbox', role: 'dialog', 'aria-modal': 'true', 'aria-label': a.name ?? 'Image', onclick: (e) => e.target === box && close() },
      h(
        'div.lightbox-bar',
        null,
        h('span.lightbox-name', { dir: 'auto' }, a.name ?? ''),
        h('span.lightbox-size', null, humanSize(a.size)),
        a.url ? h('a.btn.secondary.small', { href: src, target: '_blank', rel: 'noopener', testid: 'lightbox-open' }, 'Open original') : null,
        closeBtn,
      ),
      h('img.lightbox-img', { src, alt: a.name ?? 'Image', onclick: (e) => e.target === e.currentTarget && close() }),
    );
    // Esc closes the picture only: the page's own Escape (leaving the conversation) must not see it.
    box.addEventListener('keydown', (e) => {
      if (e.key !== 'Escape') return;
      e.preventDefault();
      e.stopPropagation();
      close();
    });
    document.body.append(box);
    closeBtn.focus();
  }

  return {
    button,
    input,
    tray,
    acceptDrops,
    messageFiles,
    send,
    /** Whether the conversation's message being written has files. */
    has: (conv) => itemsOf(conv).length > 0,
    /** The uploads this page made, by id (for its own pending messages). */
    local: (ids) => (ids ?? []).map((id) => local.get(String(id)) ?? { id: String(id), name: 'Attachment', content_type: '', size: null }),
    /** The conversation on screen changed: show its files. */
    show: render,
    /** Signed out: every upload stops, every file goes. */
    reset() {
      for (const items of byConv.values()) for (const x of items) x.ctl?.abort();
      byConv.clear();
      waiting.clear();
      notes.clear();
      composer.readOnly = false;
    },
  };
}
