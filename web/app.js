// Parley web client. Plain ES modules, no build step; all protocol and
// reliable-delivery logic lives in the SDK (./sdk/parley.js).
import { ParleyClient, localStorageStore } from './sdk/parley.js';

const store = localStorageStore('parley:');
const client = new ParleyClient({ store });
const app = document.getElementById('app');

// ------------------------------------------------------------------ helpers

/** h('div.cls', {attrs}, ...children) */
function h(tag, attrs, ...children) {
  const [name, ...classes] = tag.split('.');
  const el = document.createElement(name || 'div');
  if (classes.length) el.className = classes.join(' ');
  if (attrs) {
    for (const [k, v] of Object.entries(attrs)) {
      if (v === undefined || v === null || v === false) continue;
      if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
      else if (k === 'testid') el.dataset.testid = v;
      else if (k === 'text') el.textContent = v;
      else if (k === 'class') el.className += ' ' + v;
      else if (k === 'dataset') Object.assign(el.dataset, v);
      else el.setAttribute(k, v === true ? '' : v);
    }
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

/** Keyed update of a container's children: items [{key, sig, render}]. */
function reconcile(container, items) {
  const old = new Map();
  for (const el of container.children) old.set(el._key, el);
  let ref = container.firstElementChild;
  for (const it of items) {
    let el = old.get(it.key);
    if (el) old.delete(it.key);
    if (!el || el._sig !== it.sig) {
      const n = it.render();
      n._key = it.key;
      n._sig = it.sig;
      if (el) {
        if (el === ref) ref = el.nextElementSibling;
        const hadFocus = el.contains(document.activeElement);
        el.remove();
        el = n;
        container.insertBefore(el, ref);
        if (hadFocus) el.focus?.();
        continue;
      }
      el = n;
    }
    if (el === ref) ref = ref.nextElementSibling;
    else container.insertBefore(el, ref);
  }
  for (const el of old.values()) el.remove();
}

const hueOf = (s) => {
  let x = 0;
  for (const ch of String(s)) x = (x * 31 + ch.codePointAt(0)) >>> 0;
  return Math.round((x * 137.508) % 360); // golden angle: neighbours differ
};

function initials(name) {
  const parts = String(name || '?').replace(/[_.-]+/g, ' ').trim().split(/\s+/);
  return ((parts[0]?.[0] ?? '?') + (parts.length > 1 ? parts[1][0] : '')).toUpperCase();
}

function avatar(name, seed, { online, size = '' } = {}) {
  return h(
    'span.avatar' + (size ? '.' + size : ''),
    { style: `--hue:${hueOf(seed ?? name)}`, 'aria-hidden': 'true' },
    initials(name),
    online === undefined ? null : h('span.dot' + (online ? '.on' : ''), { testid: 'conversation-presence', 'data-online': String(!!online) }),
  );
}

const timeFmt = new Intl.DateTimeFormat(undefined, { hour: 'numeric', minute: '2-digit' });
const dayFmt = new Intl.DateTimeFormat(undefined, { weekday: 'long', month: 'long', day: 'numeric' });
const dayYearFmt = new Intl.DateTimeFormat(undefined, { month: 'long', day: 'numeric', year: 'numeric' });
const shortDayFmt = new Intl.DateTimeFormat(undefined, { month: 'short', day: 'numeric' });
const weekdayFmt = new Intl.DateTimeFormat(undefined, { weekday: 'short' });

const dayKey = (ts) => {
  const d = new Date(ts);
  return `${d.getFullYear()}-${d.getMonth()}-${d.getDate()}`;
};
function startOfDay(ts) {
  const d = new Date(ts);
  d.setHours(0, 0, 0, 0);
  return d.getTime();
}
function dayLabel(ts) {
  const days = Math.round((startOfDay(Date.now()) - startOfDay(ts)) / 86400000);
  if (days === 0) return 'Today';
  if (days === 1) return 'Yesterday';
  if (new Date(ts).getFullYear() === new Date().getFullYear()) return dayFmt.format(ts);
  return dayYearFmt.format(ts);
}
function listTime(ts) {
  const days = Math.round((startOfDay(Date.now()) - startOfDay(ts)) / 86400000);
  if (days === 0) return timeFmt.format(ts);
  if (days === 1) return 'Yesterday';
  if (days < 7) return weekdayFmt.format(ts);
  return shortDayFmt.format(ts);
}
function lastSeenText(u) {
  if (!u) return '';
  if (u.online) return 'Online';
  if (!u.last_seen) return 'Offline';
  const ago = Date.now() - u.last_seen;
  if (ago < 60000) return 'Last seen just now';
  if (ago < 3600000) return `Last seen ${Math.floor(ago / 60000)} min ago`;
  const days = Math.round((startOfDay(Date.now()) - startOfDay(u.last_seen)) / 86400000);
  if (days === 0) return `Last seen today at ${timeFmt.format(u.last_seen)}`;
  if (days === 1) return `Last seen yesterday at ${timeFmt.format(u.last_seen)}`;
  return `Last seen ${shortDayFmt.format(u.last_seen)}`;
}

/** Text with http(s) links made clickable, built without innerHTML. */
function richText(text) {
  const out = [];
  const re = /\bhttps?:\/\/[^\s<>"']+[^\s<>"'.,;:!?)\]]/g;
  let last = 0;
  for (const m of text.matchAll(re)) {
    if (m.index > last) out.push(text.slice(last, m.index));
    out.push(h('a', { href: m[0], target: '_blank', rel: 'noopener noreferrer' }, m[0]));
    last = m.index + m[0].length;
  }
  if (last < text.length) out.push(text.slice(last));
  return out;
}

function friendlyError(e) {
  switch (e?.code) {
    case 'network':
      return 'Cannot reach the server. Check your connection.';
    case 'unauthorized':
      return 'Wrong username or password.';
    case 'conflict':
      return 'That username is taken.';
    case 'rate_limited':
      return 'Slow down a little, then try again.';
    case 'disconnected':
    case 'timeout':
      return 'You are offline right now. Try again when connected.';
    default:
      return e?.message ? e.message[0].toUpperCase() + e.message.slice(1) : 'Something went wrong.';
  }
}

const icon = {
  send: () => svg('M3.4 20.4 21 12 3.4 3.6 3.3 10l12.6 2-12.6 2z'),
  back: () => svg('M15.4 7.4 14 6l-6 6 6 6 1.4-1.4L10.8 12z'),
  people: () => svg('M16 11a3 3 0 1 0-3-3 3 3 0 0 0 3 3zm-8 0a3 3 0 1 0-3-3 3 3 0 0 0 3 3zm0 2c-2.3 0-7 1.2-7 3.5V19h14v-2.5C15 14.2 10.3 13 8 13zm8 0h-1a4.2 4.2 0 0 1 2 3.5V19h6v-2.5c0-2.3-4.7-3.5-7-3.5z'),
  plus: () => svg('M19 13h-6v6h-2v-6H5v-2h6V5h2v6h6z'),
  logout: () => svg('M10 17l1.4-1.4L8.8 13H20v-2H8.8l2.6-2.6L10 7l-5 5zM4 5h8V3H4a2 2 0 0 0-2 2v14a2 2 0 0 0 2 2h8v-2H4z'),
  close: () => svg('M19 6.4 17.6 5 12 10.6 6.4 5 5 6.4 10.6 12 5 17.6 6.4 19l5.6-5.6 5.6 5.6 1.4-1.4-5.6-5.6z'),
  clock: () => svg('M12 2a10 10 0 1 0 10 10A10 10 0 0 0 12 2zm0 18a8 8 0 1 1 8-8 8 8 0 0 1-8 8zm.5-13H11v6l5.2 3.2.8-1.3-4.5-2.7z'),
  check: () => svg('M9 16.2 4.8 12l-1.4 1.4L9 19 21 7l-1.4-1.4z'),
  alert: () => svg('M1 21h22L12 2zm12-3h-2v-2h2zm0-4h-2v-4h2z'),
};
function svg(d) {
  const ns = 'http://www.w3.org/2000/svg';
  const s = document.createElementNS(ns, 'svg');
  s.setAttribute('viewBox', '0 0 24 24');
  s.setAttribute('aria-hidden', 'true');
  s.setAttribute('class', 'icon');
  const p = document.createElementNS(ns, 'path');
  p.setAttribute('d', d);
  s.append(p);
  return s;
}

// ------------------------------------------------------------------ state

const ui = {
  open: null, // conversation id on screen
  chats: new Map(), // conv -> {bySeq: Map, hasMore, loading, loadedOnce}
  typing: new Map(), // conv -> Map(user -> expiresAt)
  learnedAt: new Map(), // conv -> when it appeared during this session
  membersOpen: false,
  els: null,
};

function chat(conv) {
  let c = ui.chats.get(conv);
  if (!c) ui.chats.set(conv, (c = { bySeq: new Map(), hasMore: true, loading: false, previewAsked: false }));
  return c;
}
const me = () => client.user;
const userName = (id) => (id === me()?.id ? 'You' : client.users.get(id)?.username ?? `user ${id}`);

function convTitle(c) {
  if (c.kind === 'dm') return peerOf(c)?.username ?? 'Direct message';
  return c.title || 'Untitled group';
}
function peerOf(c) {
  if (c.kind !== 'dm') return null;
  const m = (c.members ?? []).find((x) => x.id !== me()?.id);
  return m ? { ...m, ...(client.users.get(m.id) ?? {}) } : null;
}
function lastMessage(conv) {
  const c = ui.chats.get(conv);
  let best = client.conversations.get(conv)?.last_message ?? null;
  if (c) for (const m of c.bySeq.values()) if (!best || m.seq > best.seq) best = m;
  return best;
}
function activityOf(c) {
  const pend = client.outbox.filter((i) => i.conv === c.id).pop();
  return Math.max(lastMessage(c.id)?.ts ?? 0, pend?.created_at ?? 0, ui.learnedAt.get(c.id) ?? 0);
}

// ------------------------------------------------------------------ rendering: auth

function renderAuth(message) {
  document.title = 'Sign in · Parley';
  app.className = 'auth';
  app.removeAttribute('aria-busy');
  const err = h('p.form-error', { role: 'alert', id: 'auth-error' }, message || '');
  const username = h('input', {
    testid: 'login-username', id: 'login-username', name: 'username', autocomplete: 'username',
    autocapitalize: 'none', spellcheck: 'false', required: true, minlength: '3', maxlength: '32', placeholder: 'e.g. alice',
  });
  const password = h('input', {
    testid: 'login-password', id: 'login-password', name: 'password', type: 'password',
    autocomplete: 'current-password', required: true, minlength: '8', placeholder: 'At least 8 characters',
  });
  const submit = h('button.btn.primary', { testid: 'login-submit', type: 'submit' }, 'Sign in');
  const register = h('button.btn.secondary', { testid: 'register-submit', type: 'button' }, 'Create account');
  let busy = false;
  const go = async (mode) => {
    if (busy) return;
    err.textContent = '';
    const u = username.value.trim();
    const p = password.value;
    if (u.length < 3) return (err.textContent = 'Usernames have at least 3 characters.'), username.focus();
    if (new TextEncoder().encode(p).length < 8) return (err.textContent = 'Passwords have at least 8 characters.'), password.focus();
    busy = true;
    submit.disabled = register.disabled = true;
    try {
      if (mode === 'register') await client.register(u, p);
      else await client.login(u, p);
      startMain();
    } catch (e) {
      err.textContent = mode === 'register' && e.code === 'bad_request' ? friendlyError(e) : friendlyError(e);
      busy = false;
      submit.disabled = register.disabled = false;
    }
  };
  const form = h(
    'form.auth-card',
    { onsubmit: (e) => (e.preventDefault(), go('login')), novalidate: true, 'aria-labelledby': 'auth-title' },
    h('div.brand.big', null, h('img', { src: 'favicon.svg', alt: '', width: '40', height: '40' }), h('span', null, 'Parley')),
    h('h1', { id: 'auth-title' }, 'Welcome back'),
    h('p.muted', null, 'Sign in, or create an account in one step.'),
    h('label', { for: 'login-username' }, 'Username'),
    username,
    h('label', { for: 'login-password' }, 'Password'),
    password,
    err,
    h('div.auth-actions', null, submit, register),
  );
  register.addEventListener('click', () => go('register'));
  app.replaceChildren(h('main.auth-wrap', null, form, h('p.auth-foot.muted', null, 'Messages are delivered in order, exactly once — even on flaky networks.')));
  username.focus();
}

// ------------------------------------------------------------------ rendering: main

function buildMain() {
  const connection = h('button.conn', { testid: 'connection-state', type: 'button', 'aria-live': 'polite', title: 'Connection', onclick: () => client.reconnectNow() });
  const dmInput = h('input', {
    testid: 'dm-username', id: 'dm-username', placeholder: 'Username to message', autocomplete: 'off',
    autocapitalize: 'none', spellcheck: 'false', 'aria-label': 'Username to message',
  });
  const dmError = h('p.field-error', { role: 'alert' });
  const dmForm = h(
    'form.dm-form',
    { onsubmit: (e) => (e.preventDefault(), openDm()) },
    dmInput,
    h('button.btn.primary.small', { testid: 'dm-open', type: 'submit' }, 'Open'),
  );
  const list = h('ul.conv-list', { testid: 'conversation-list', 'aria-label': 'Conversations' });
  const emptyList = h('div.list-empty.muted', null, h('p', null, 'No conversations yet.'), h('p', null, 'Message someone by username, or start a group.'));
  const sidebar = h(
    'aside.sidebar',
    { 'aria-label': 'Conversations' },
    h(
      'header.side-head',
      null,
      h('div.brand', null, h('img', { src: 'favicon.svg', alt: '', width: '28', height: '28' }), h('span', null, 'Parley')),
      connection,
    ),
    h('div.side-tools', null, dmForm, dmError, h('button.btn.ghost.new-group', { testid: 'new-group', type: 'button', onclick: openGroupDialog }, icon.plus(), 'New group')),
    list,
    emptyList,
    h(
      'footer.side-foot',
      null,
      h('span.me', null, h('span.me-avatar'), h('span.me-name')),
      h('button.icon-btn', { testid: 'logout', type: 'button', title: 'Sign out', 'aria-label': 'Sign out', onclick: logout }, icon.logout()),
    ),
  );

  const headAvatar = h('span.head-avatar');
  const headTitle = h('h2.chat-title');
  const headSub = h('div.chat-sub');
  const membersBtn = h('button.icon-btn', { testid: 'members-button', type: 'button', title: 'Members', 'aria-label': 'Members', onclick: toggleMembers }, icon.people());
  const head = h(
    'header.chat-head',
    null,
    h('button.icon-btn.back', { type: 'button', 'aria-label': 'Back to conversations', onclick: () => openConversation(null) }, icon.back()),
    headAvatar,
    h('div.chat-head-text', null, headTitle, headSub),
    h('span.conn-mini'),
    membersBtn,
  );
  const messages = h('div.messages', { testid: 'message-list', role: 'log', 'aria-label': 'Messages', tabindex: '0' });
  const top = h('div.history-top');
  const scroller = h('div.scroller', null, top, messages);
  const typing = h('div.typing', { testid: 'typing-indicator', 'aria-live': 'polite', hidden: true });
  const composer = h('textarea.composer', {
    testid: 'composer', rows: '1', placeholder: 'Write a message…', 'aria-label': 'Message', enterkeyhint: 'send',
  });
  const sendBtn = h('button.send-btn', { testid: 'send', type: 'submit', 'aria-label': 'Send', title: 'Send (Enter)' }, icon.send());
  const composerForm = h('form.composer-bar', { onsubmit: (e) => (e.preventDefault(), sendCurrent()) }, composer, sendBtn);
  const offlineNote = h('div.offline-note', { hidden: true });
  const chatPane = h('section.chat', { 'aria-label': 'Conversation' }, head, scroller, typing, offlineNote, composerForm);
  const empty = h(
    'section.chat-empty',
    null,
    h('div.empty-art', null, h('img', { src: 'favicon.svg', alt: '', width: '64', height: '64' })),
    h('h2', null, 'Pick up where you left off'),
    h('p.muted', null, 'Choose a conversation on the left, message someone by username, or start a group.'),
  );
  const panel = h('aside.members-panel', { 'aria-label': 'Members', hidden: true });
  const shell = h('div.shell', null, sidebar, chatPane, empty, panel);
  app.className = 'main';
  app.removeAttribute('aria-busy');
  app.replaceChildren(shell, buildGroupDialog());

  composer.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      sendCurrent();
    }
  });
  composer.addEventListener('input', () => {
    autosize(composer);
    if (ui.open) {
      saveDraft(ui.open, composer.value);
      if (composer.value.trim()) client.typing(ui.open);
    }
  });
  scroller.addEventListener('scroll', () => {
    if (scroller.scrollTop < 240) loadOlder(ui.open);
    maybeMarkRead();
  });
  ui.els = { shell, connection, dmInput, dmError, list, emptyList, sidebar, headAvatar, headTitle, headSub, membersBtn, messages, scroller, top, typing, composer, sendBtn, chatPane, empty, panel, offlineNote };
}

function autosize(t) {
  t.style.height = 'auto';
  t.style.height = Math.min(t.scrollHeight, 180) + 'px';
}

function saveDraft(conv, text) {
  const drafts = store.get(`drafts:${me()?.id}`) ?? {};
  if (text) drafts[conv] = text;
  else delete drafts[conv];
  store.set(`drafts:${me()?.id}`, drafts);
}
const draftOf = (conv) => (store.get(`drafts:${me()?.id}`) ?? {})[conv] ?? '';

// ---- connection state

function renderConnection() {
  const { connection, offlineNote } = ui.els;
  const s = client.state;
  const label =
    s === 'connected' ? 'Connected' : s === 'connecting' ? 'Connecting…' : s === 'reconnecting' ? 'Reconnecting…' : s === 'closed' ? 'Offline' : 'Offline';
  connection.dataset.state = s === 'closed' ? 'offline' : s;
  connection.replaceChildren(h('span.conn-dot'), h('span.conn-label', null, label));
  connection.title = s === 'connected' ? 'Connected' : 'Not connected — click to retry now';
  const mini = ui.els.chatPane.querySelector('.conn-mini');
  mini.dataset.state = connection.dataset.state;
  mini.textContent = s === 'connected' ? '' : label;
  const pending = client.outbox.filter((i) => i.status !== 'failed').length;
  offlineNote.hidden = s === 'connected';
  offlineNote.textContent =
    s === 'connected' ? '' : pending ? `${label.replace('…', '')} — ${pending} message${pending > 1 ? 's' : ''} will be sent when you're back online.` : `${label.replace('…', '')} — messages you write will be sent when you're back online.`;
}

// ---- conversation list

let listQueued = false;
function renderList() {
  if (listQueued) return;
  listQueued = true;
  queueMicrotask(() => {
    listQueued = false;
    drawList();
  });
}

function drawList() {
  if (!ui.els) return;
  const convs = [...client.conversations.values()].sort((a, b) => activityOf(b) - activityOf(a) || (a._order ?? 0) - (b._order ?? 0));
  const outbox = client.outbox;
  let totalUnread = 0;
  const items = convs.map((c) => {
    const title = convTitle(c);
    const last = lastMessage(c.id);
    const pend = outbox.filter((i) => i.conv === c.id).pop();
    const peer = peerOf(c);
    const unread = c.id === ui.open && isReading() ? 0 : c.unread ?? 0;
    totalUnread += unread;
    let preview = '';
    if (pend && (!last || pend.created_at >= last.ts)) preview = `You: ${pend.body}`;
    else if (last) preview = (last.sender === me()?.id ? 'You: ' : c.kind === 'group' ? `${userName(last.sender)}: ` : '') + last.body;
    else preview = c.kind === 'group' ? `${c.member_count} member${c.member_count === 1 ? '' : 's'}` : 'Say hello 👋';
    const when = last ? listTime(last.ts) : '';
    const active = c.id === ui.open;
    const sig = JSON.stringify([title, preview.slice(0, 120), when, unread, active, peer?.online, c.kind]);
    return {
      key: c.id,
      sig,
      render: () =>
        h(
          'li',
          null,
          h(
            'button.conv' + (active ? '.active' : '') + (unread ? '.has-unread' : ''),
            {
              type: 'button', testid: 'conversation-item', 'data-conv-id': c.id, 'aria-current': active ? 'true' : null,
              onclick: () => openConversation(c.id), onkeydown: listKeys,
            },
            avatar(title, c.kind === 'dm' ? peer?.id : c.id, { online: c.kind === 'dm' ? !!peer?.online : undefined }),
            h(
              'span.conv-main',
              null,
              h('span.conv-top', null, h('span.conv-title', null, title), h('span.conv-time', null, when)),
              h(
                'span.conv-bottom',
                null,
                h('span.conv-preview', null, preview),
                unread ? h('span.badge', { testid: 'unread-badge', 'aria-label': `${unread} unread` }, unread > 99 ? '99+' : String(unread)) : null,
              ),
            ),
          ),
        ),
    };
  });
  reconcile(ui.els.list, items);
  ui.els.emptyList.hidden = convs.length > 0;
  document.title = totalUnread ? `(${totalUnread}) Parley` : 'Parley';
}

function listKeys(e) {
  if (e.key !== 'ArrowDown' && e.key !== 'ArrowUp') return;
  e.preventDefault();
  const all = [...ui.els.list.querySelectorAll('.conv')];
  const i = all.indexOf(e.currentTarget);
  all[Math.max(0, Math.min(all.length - 1, i + (e.key === 'ArrowDown' ? 1 : -1)))]?.focus();
}

// ---- chat view

function renderChrome() {
  const els = ui.els;
  const c = ui.open ? client.conversations.get(ui.open) : null;
  els.shell.dataset.view = c ? 'chat' : 'list';
  els.chatPane.hidden = !c;
  els.empty.hidden = !!c;
  if (!c) {
    els.panel.hidden = true;
    return;
  }
  const title = convTitle(c);
  const peer = peerOf(c);
  els.headAvatar.replaceChildren(avatar(title, c.kind === 'dm' ? peer?.id : c.id));
  els.headTitle.textContent = title;
  if (c.kind === 'dm') {
    els.headSub.replaceChildren(
      h('span.presence' + (peer?.online ? '.on' : ''), { testid: 'presence', 'data-online': String(!!peer?.online), 'data-user': peer?.id }),
      h('span.presence-text', { testid: 'last-seen' }, lastSeenText(peer)),
    );
  } else {
    const online = (c.members ?? []).filter((m) => m.id !== me()?.id && client.users.get(m.id)?.online).length;
    els.headSub.replaceChildren(
      h('span', null, `${c.member_count} member${c.member_count === 1 ? '' : 's'}`),
      online ? h('span.sub-online', null, ` · ${online} online`) : null,
    );
  }
  renderPanel();
}

const GROUP_GAP_MS = 5 * 60 * 1000;

function renderMessages({ keepBottom } = {}) {
  const els = ui.els;
  const conv = ui.open;
  if (!conv) return;
  const c = client.conversations.get(conv);
  const st = chat(conv);
  const scroller = els.scroller;
  const atBottom = keepBottom ?? scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 80;
  const msgs = [...st.bySeq.values()].sort((a, b) => a.seq - b.seq);
  const seen = new Set(msgs.map((m) => m.client_msg_id).filter(Boolean));
  const pend = client.outbox.filter((i) => i.conv === conv && !seen.has(i.client_msg_id));
  const myId = me()?.id;
  const items = [];
  let prevDay = null;
  let prev = null;
  const all = [
    ...msgs.map((m) => ({ m, status: 'sent' })),
    ...pend.map((i) => ({ m: { conv, seq: null, sender: myId, body: i.body, ts: i.created_at, client_msg_id: i.client_msg_id }, status: i.status === 'failed' ? 'failed' : 'pending', error: i.error })),
  ];
  for (const { m, status, error } of all) {
    const day = dayKey(m.ts);
    if (day !== prevDay) {
      const label = dayLabel(m.ts);
      items.push({ key: 'day:' + day, sig: label, render: () => h('div.day-sep', { role: 'separator' }, h('span', null, label)) });
      prev = null;
      prevDay = day;
    }
    const own = m.sender === myId;
    const first = !prev || prev.sender !== m.sender || m.ts - prev.ts > GROUP_GAP_MS;
    const showName = first && !own && c?.kind === 'group';
    const key = m.client_msg_id && own ? 'm:' + m.client_msg_id : 's:' + m.seq;
    const sig = [m.seq, status, first, showName, error?.code].join('|');
    items.push({ key, sig, render: () => messageEl(m, { own, first, showName, status, error }) });
    prev = m;
  }
  const prevHeight = scroller.scrollHeight;
  const prevTop = scroller.scrollTop;
  reconcile(els.messages, items);
  els.top.replaceChildren(
    st.loading
      ? h('div.history-note', null, h('span.spinner'), 'Loading earlier messages…')
      : !st.hasMore
        ? h('div.history-note.start', null, c?.kind === 'dm' ? `This is the beginning of your conversation with ${convTitle(c)}.` : `This is the beginning of ${convTitle(c)}.`)
        : null,
  );
  if (atBottom) scroller.scrollTop = scroller.scrollHeight;
  else if (st.anchor) {
    // Older messages went in above: keep what the reader was looking at in place.
    scroller.scrollTop = prevTop + (scroller.scrollHeight - prevHeight);
  }
  st.anchor = false;
  maybeMarkRead();
}

function messageEl(m, { own, first, showName, status, error }) {
  const meta = h(
    'span.msg-meta',
    null,
    h('time', { datetime: new Date(m.ts).toISOString(), title: new Date(m.ts).toLocaleString() }, timeFmt.format(m.ts)),
    own
      ? status === 'pending'
        ? h('span.state.pending', { title: 'Sending…', 'aria-label': 'Sending' }, icon.clock())
        : status === 'sent'
          ? h('span.state.sent', { title: 'Sent', 'aria-label': 'Sent' }, icon.check())
          : null
      : null,
  );
  const el = h(
    'div.msg' + (own ? '.own' : '.other') + (first ? '.first' : ''),
    {
      testid: 'message', 'data-seq': m.seq ?? null, 'data-status': status, 'data-client-msg-id': m.client_msg_id || null,
      'data-sender': m.sender,
    },
    !own && first ? avatar(userName(m.sender), m.sender, { size: 'sm' }) : h('span.avatar-space'),
    h(
      'div.msg-col',
      null,
      showName ? h('div.msg-sender', { style: `--hue:${hueOf(m.sender)}` }, userName(m.sender)) : null,
      h('div.bubble', null, h('span.msg-body', null, richText(m.body)), meta),
      status === 'failed'
        ? h(
            'div.msg-failed',
            { role: 'alert' },
            icon.alert(),
            h('span', null, `Not sent: ${friendlyError(error)}`),
            h('button.link', { type: 'button', onclick: () => client.retry(m.client_msg_id) }, 'Retry'),
            h('button.link', { type: 'button', onclick: () => client.discard(m.client_msg_id) }, 'Delete'),
          )
        : null,
    ),
  );
  return el;
}

function renderTyping() {
  const { typing } = ui.els;
  const conv = ui.open;
  const now = Date.now();
  const users = [];
  for (const [u, exp] of ui.typing.get(conv) ?? []) if (exp > now) users.push(userName(u));
  if (!users.length) {
    typing.hidden = true;
    typing.textContent = '';
    return;
  }
  const text = users.length === 1 ? `${users[0]} is typing` : users.length === 2 ? `${users[0]} and ${users[1]} are typing` : 'Several people are typing';
  typing.hidden = false;
  typing.replaceChildren(h('span.typing-dots', { 'aria-hidden': 'true' }, h('i'), h('i'), h('i')), h('span', null, text + '…'));
}

// ---- members panel

function toggleMembers() {
  ui.membersOpen = !ui.membersOpen;
  renderPanel(true);
  if (ui.membersOpen) ui.els.panel.querySelector('input,button')?.focus();
}

function renderPanel(force = false) {
  const { panel } = ui.els;
  const c = ui.open ? client.conversations.get(ui.open) : null;
  if (!c || !ui.membersOpen) {
    panel.hidden = true;
    ui.els.shell.classList.remove('with-panel');
    return;
  }
  panel.hidden = false;
  ui.els.shell.classList.add('with-panel');
  const sig = JSON.stringify([c.id, c.member_count, c.members, (c.members ?? []).map((m) => [client.users.get(m.id)?.online, lastSeenText(client.users.get(m.id))])]);
  if (panel._sig === sig && !force) return;
  panel._sig = sig;
  const myRole = (c.members ?? []).find((m) => m.id === me()?.id)?.role;
  const canManage = c.kind === 'group' && (myRole === 'owner' || myRole === 'admin');
  const err = h('p.field-error', { role: 'alert' });
  const addInput = h('input', { testid: 'member-add-username', placeholder: 'Username', 'aria-label': 'Username to add', autocapitalize: 'none', spellcheck: 'false' });
  const members = [...(c.members ?? [])].sort((a, b) => (a.id === me()?.id ? -1 : b.id === me()?.id ? 1 : a.username.localeCompare(b.username)));
  panel.replaceChildren(
    h(
      'header.panel-head',
      null,
      h('h3', null, c.kind === 'dm' ? 'Details' : `Members · ${c.member_count}`),
      h('button.icon-btn', { type: 'button', 'aria-label': 'Close', onclick: toggleMembers }, icon.close()),
    ),
    canManage
      ? h(
          'form.add-member',
          {
            onsubmit: async (e) => {
              e.preventDefault();
              const u = addInput.value.trim().toLowerCase();
              if (!u) return;
              try {
                await client.addMember(c.id, u);
                addInput.value = '';
              } catch (ex) {
                err.textContent = ex.code === 'not_found' ? `No user named “${u}”.` : friendlyError(ex);
              }
            },
          },
          addInput,
          h('button.btn.primary.small', { testid: 'member-add', type: 'submit' }, 'Add'),
        )
      : null,
    err,
    h(
      'ul.member-list',
      null,
      members.map((m) => {
        const u = client.users.get(m.id);
        const isMe = m.id === me()?.id;
        return h(
          'li.member',
          { testid: 'member', 'data-username': m.username },
          avatar(m.username, m.id, { online: isMe ? true : !!u?.online, size: 'sm' }),
          h('span.member-text', null, h('span.member-name', null, m.username + (isMe ? ' (you)' : '')), h('span.member-sub.muted', null, isMe ? 'Online' : lastSeenText(u))),
          m.role !== 'member' ? h('span.role', null, m.role) : null,
          canManage && !isMe && m.role !== 'owner'
            ? h(
                'button.link.danger',
                {
                  testid: 'member-remove', type: 'button', 'aria-label': `Remove ${m.username}`,
                  onclick: async () => {
                    try {
                      await client.removeMember(c.id, m.username);
                    } catch (ex) {
                      err.textContent = friendlyError(ex);
                    }
                  },
                },
                'Remove',
              )
            : null,
        );
      }),
    ),
    c.kind === 'group'
      ? h(
          'button.btn.danger-outline.leave',
          {
            testid: 'leave', type: 'button',
            onclick: async () => {
              if (!confirm(`Leave “${convTitle(c)}”? You will stop receiving its messages.`)) return;
              try {
                await client.leave(c.id);
                ui.membersOpen = false;
                openConversation(null);
              } catch (ex) {
                err.textContent = friendlyError(ex);
              }
            },
          },
          'Leave group',
        )
      : null,
  );
}

// ---- group dialog

function buildGroupDialog() {
  const title = h('input', { testid: 'group-title', id: 'group-title', maxlength: '200', required: true, placeholder: 'e.g. Weekend trip', autocomplete: 'off' });
  const members = h('input', { testid: 'group-members', id: 'group-members', placeholder: 'alice, bob', autocapitalize: 'none', spellcheck: 'false', autocomplete: 'off' });
  const err = h('p.form-error', { role: 'alert' });
  const create = h('button.btn.primary', { testid: 'group-create', type: 'submit' }, 'Create group');
  const dialog = h(
    'dialog.group-dialog',
    { id: 'group-dialog', 'aria-labelledby': 'group-dialog-title' },
    h(
      'form',
      {
        method: 'dialog',
        onsubmit: async (e) => {
          e.preventDefault();
          err.textContent = '';
          const t = title.value.trim();
          if (!t) return (err.textContent = 'Give the group a title.'), title.focus();
          const names = [...new Set(members.value.split(/[\s,;]+/).map((s) => s.trim().replace(/^@/, '').toLowerCase()).filter(Boolean))];
          create.disabled = true;
          try {
            const c = await client.createGroup(t, names);
            ui.learnedAt.set(c.id, Date.now());
            dialog.close();
            openConversation(c.id);
          } catch (ex) {
            err.textContent = ex.code === 'not_found' ? 'One of those usernames does not exist.' : friendlyError(ex);
          } finally {
            create.disabled = false;
          }
        },
      },
      h('h2', { id: 'group-dialog-title' }, 'New group'),
      h('label', { for: 'group-title' }, 'Title'),
      title,
      h('label', { for: 'group-members' }, 'Members'),
      members,
      h('p.hint.muted', null, 'Usernames, separated by commas. You can add more people later.'),
      err,
      h('div.dialog-actions', null, h('button.btn.ghost', { type: 'button', onclick: () => dialog.close() }, 'Cancel'), create),
    ),
  );
  dialog._reset = () => {
    title.value = '';
    members.value = '';
    err.textContent = '';
  };
  return dialog;
}

function openGroupDialog() {
  const d = document.getElementById('group-dialog');
  d._reset();
  d.showModal();
  d.querySelector('#group-title').focus();
}

// ------------------------------------------------------------------ actions

async function openDm() {
  const { dmInput, dmError } = ui.els;
  const u = dmInput.value.trim().replace(/^@/, '').toLowerCase();
  dmError.textContent = '';
  if (!u) return dmInput.focus();
  if (u === me()?.username) return (dmError.textContent = 'That’s you! Pick someone else.');
  try {
    const c = await client.dm(u);
    if (!ui.learnedAt.has(c.id) && !lastMessage(c.id)) ui.learnedAt.set(c.id, Date.now());
    dmInput.value = '';
    openConversation(c.id);
  } catch (e) {
    dmError.textContent = e.code === 'not_found' ? `No user named “${u}”.` : friendlyError(e);
  }
}

function openConversation(conv) {
  if (conv && !client.conversations.has(conv)) conv = null;
  const changed = conv !== ui.open;
  ui.open = conv;
  if (conv) store.set(`open:${me()?.id}`, conv);
  else store.remove(`open:${me()?.id}`);
  if (changed) {
    ui.els.messages.replaceChildren();
    ui.membersOpen = ui.membersOpen && !!conv;
  }
  renderChrome();
  renderList();
  if (!conv) return;
  if (changed) {
    ui.els.composer.value = draftOf(conv);
    autosize(ui.els.composer);
    renderMessages({ keepBottom: true });
    renderTyping();
    if (window.matchMedia('(pointer: fine)').matches || ui.els.composer.value) ui.els.composer.focus({ preventScroll: true });
  }
  ensureLoaded(conv);
}

async function ensureLoaded(conv) {
  const st = chat(conv);
  if (st.bySeq.size < 30 && st.hasMore) await loadOlder(conv, { initial: true });
}

async function loadOlder(conv, { initial = false } = {}) {
  if (!conv) return;
  const st = chat(conv);
  if (st.loading || !st.hasMore) return;
  const c = client.conversations.get(conv);
  if (c && (c.last_seq ?? 0) === 0 && st.bySeq.size === 0) {
    st.hasMore = false;
    if (conv === ui.open) renderMessages();
    return;
  }
  const min = st.bySeq.size ? Math.min(...st.bySeq.keys()) : null;
  if (min === 1) {
    st.hasMore = false;
    if (conv === ui.open) renderMessages();
    return;
  }
  st.loading = true;
  if (conv === ui.open) renderMessages();
  try {
    const page = await client.history(conv, { before: min ?? undefined, limit: 50 });
    for (const m of page) st.bySeq.set(m.seq, m);
    const newMin = st.bySeq.size ? Math.min(...st.bySeq.keys()) : 0;
    st.hasMore = page.length > 0 && newMin > 1;
    st.anchor = !initial;
  } catch {
    // Offline: try again when the connection is back.
    st.retryLoad = true;
  } finally {
    st.loading = false;
  }
  if (conv === ui.open) {
    renderMessages({ keepBottom: initial ? true : undefined });
    // Not enough to scroll yet? Fetch another page.
    const sc = ui.els.scroller;
    if (st.hasMore && sc.scrollHeight <= sc.clientHeight + 240 && !st.retryLoad) loadOlder(conv);
  }
  renderList();
}

function sendCurrent() {
  const { composer } = ui.els;
  const conv = ui.open;
  const body = composer.value.replace(/^\s*\n|\s+$/g, '');
  if (!conv || !body.trim()) return;
  if (new TextEncoder().encode(body).length > 4096) {
    ui.els.offlineNote.hidden = false;
    ui.els.offlineNote.textContent = 'That message is too long (at most 4096 bytes).';
    return;
  }
  client.send(conv, body);
  composer.value = '';
  saveDraft(conv, '');
  autosize(composer);
  renderMessages({ keepBottom: true });
  composer.focus();
}

function isReading() {
  if (!ui.open || document.visibilityState !== 'visible') return false;
  const sc = ui.els.scroller;
  return sc.scrollHeight - sc.scrollTop - sc.clientHeight < 120;
}

function maybeMarkRead() {
  const conv = ui.open;
  if (!conv || !isReading()) return;
  const c = client.conversations.get(conv);
  if (!c) return;
  const seq = Math.max(c.last_seq ?? 0, lastMessage(conv)?.seq ?? 0);
  if (seq > (c.read_seq ?? 0)) client.markRead(conv, seq);
}

function logout() {
  client.logout();
  ui.open = null;
  ui.chats.clear();
  ui.typing.clear();
  ui.els = null;
  renderAuth();
}

// ------------------------------------------------------------------ wiring

let booted = false;
function startMain() {
  buildMain();
  ui.els.shell.querySelector('.me-avatar').replaceChildren(avatar(me().username, me().id, { size: 'sm' }));
  ui.els.shell.querySelector('.me-name').textContent = me().username;
  renderConnection();
  drawList();
  const open = store.get(`open:${me().id}`);
  openConversation(open && client.conversations.has(open) ? open : null);
  ui.pendingOpen = open;
  if (!booted) {
    booted = true;
    wire();
  }
  client.connect();
}

function wire() {
  client.on('state', () => {
    if (!ui.els) return;
    renderConnection();
  });
  client.on('welcome', () => {
    if (!ui.els) return;
    if (ui.pendingOpen && !ui.open && client.conversations.has(ui.pendingOpen)) openConversation(ui.pendingOpen);
    ui.pendingOpen = null;
    // Previews for the list: the newest message of each conversation.
    for (const c of client.conversations.values()) {
      const st = chat(c.id);
      if (st.retryLoad && c.id === ui.open) {
        st.retryLoad = false;
        ensureLoaded(c.id);
      }
      if (!lastMessage(c.id) && (c.last_seq ?? 0) > 0 && !st.previewAsked) {
        st.previewAsked = true;
        client.history(c.id, { limit: 1 }).then(
          (ms) => {
            for (const m of ms) st.bySeq.set(m.seq, m);
            if (ms.length && ms[0].seq === 1) st.hasMore = false;
            renderList();
            if (c.id === ui.open) renderMessages();
          },
          () => (st.previewAsked = false),
        );
      }
    }
    if (ui.open) renderChrome();
    renderList();
    renderConnection();
  });
  client.on('conversations', () => {
    if (!ui.els) return;
    for (const c of client.conversations.values()) if (!ui.learnedAt.has(c.id) && client.state === 'connected' && ui.listSeeded) ui.learnedAt.set(c.id, Date.now());
    ui.listSeeded = true;
    renderList();
    if (ui.open) renderChrome();
  });
  client.on('conversation', (c) => {
    if (!ui.els) return;
    renderList();
    if (c.id === ui.open) renderChrome();
  });
  client.on('conversation_removed', (conv) => {
    if (!ui.els) return;
    ui.chats.delete(conv);
    if (conv === ui.open) openConversation(null);
    renderList();
  });
  client.on('message', (m) => {
    if (!ui.els) return;
    chat(m.conv).bySeq.set(m.seq, m);
    ui.typing.get(m.conv)?.delete(m.sender);
    renderList();
    if (m.conv === ui.open) {
      renderMessages({ keepBottom: m.sender === me()?.id ? true : undefined });
      renderTyping();
    }
  });
  client.on('outbox', () => {
    if (!ui.els) return;
    renderList();
    if (ui.open) renderMessages();
    renderConnection();
  });
  client.on('typing', ({ conv, user }) => {
    if (!ui.els) return;
    if (!ui.typing.has(conv)) ui.typing.set(conv, new Map());
    ui.typing.get(conv).set(user, Date.now() + 5000);
    if (conv === ui.open) renderTyping();
    setTimeout(() => ui.els && conv === ui.open && renderTyping(), 5100);
  });
  client.on('presence', () => {
    if (!ui.els) return;
    renderList();
    if (ui.open) renderChrome();
  });
  client.on('member', () => {
    if (!ui.els) return;
    if (ui.open) renderChrome();
  });
  client.on('auth_lost', () => {
    ui.els = null;
    ui.open = null;
    ui.chats.clear();
    renderAuth('Your session ended. Please sign in again.');
  });
  document.addEventListener('visibilitychange', () => {
    if (!ui.els) return;
    maybeMarkRead();
    renderList();
  });
  window.addEventListener('focus', () => ui.els && maybeMarkRead());
  document.addEventListener('keydown', (e) => {
    if (!ui.els) return;
    if (e.key === 'Escape') {
      if (ui.membersOpen) {
        ui.membersOpen = false;
        renderPanel();
      } else if (ui.open && document.activeElement === ui.els.composer && !ui.els.composer.value) {
        openConversation(null);
        ui.els.list.querySelector('.conv')?.focus();
      }
    }
    if ((e.ctrlKey || e.metaKey) && e.key.toLowerCase() === 'k') {
      e.preventDefault();
      ui.els.dmInput.focus();
    }
  });
  // Keep "last seen …" and day labels fresh.
  setInterval(() => {
    if (!ui.els) return;
    if (ui.open) renderChrome();
    if (ui.membersOpen) renderPanel();
  }, 30000);
}

if (client.session) startMain();
else renderAuth();
