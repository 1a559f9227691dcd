// Parley web client. Plain ES modules, no build step; all protocol and
// reliable-delivery logic lives in the SDK (./sdk/parley.js).
import { ParleyClient, localStorageStore, mentionSpans } from './sdk/parley.js';
import { createAttachments, attachmentSummary } from './attachments.js';
import { createSearch } from './search.js';
import { initNotifications, notificationSection, notifyButton, updateNotifyButton } from './notifications.js';
import { initIntegrations, botsSection, webhooksSection } from './integrations.js';

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

/**
 * Replaces an element's children, leaving out null, undefined and false:
 * the DOM's replaceChildren(null) would show the word "null" (issue 17.2).
 */
function fill(el, ...children) {
  el.replaceChildren(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
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

/**
 * Text with http(s) links made clickable and `@name` mentions of `names`
 * (lower-case usernames) highlighted, yours more; built without innerHTML.
 */
function richText(text, names = new Set()) {
  const out = [];
  // http(s) links, and www. ones (opened over https).
  const re = /(?:\bhttps?:\/\/|(?<![\w@.\/-])www\.)[^\s<>"']+[^\s<>"'.,;:!?)\]]/g;
  let last = 0;
  const plain = (t) => {
    let at = 0;
    for (const sp of mentionSpans(t)) {
      if (!names.has(sp.username)) continue;
      if (sp.start > at) out.push(t.slice(at, sp.start));
      const mine = sp.username === me()?.username;
      out.push(h('span.mention' + (mine ? '.mention-me' : ''), { testid: 'mention', 'data-username': sp.username }, t.slice(sp.start, sp.end)));
      at = sp.end;
    }
    if (at < t.length) out.push(t.slice(at));
  };
  for (const m of text.matchAll(re)) {
    if (m.index > last) plain(text.slice(last, m.index));
    out.push(h('a', { href: /^www\./i.test(m[0]) ? `https://${m[0]}` : m[0], target: '_blank', rel: 'noopener noreferrer' }, m[0]));
    last = m.index + m[0].length;
  }
  if (last < text.length) plain(text.slice(last));
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
  gear: () => svg('M19.4 13a7.5 7.5 0 0 0 0-2l2.1-1.6-2-3.5-2.5 1a7.6 7.6 0 0 0-1.7-1L15 3h-4l-.4 2.9a7.6 7.6 0 0 0-1.7 1l-2.5-1-2 3.5L6.6 11a7.5 7.5 0 0 0 0 2l-2.1 1.6 2 3.5 2.5-1a7.6 7.6 0 0 0 1.7 1L11 21h4l.4-2.9a7.6 7.6 0 0 0 1.7-1l2.5 1 2-3.5zM13 15.5a3.5 3.5 0 1 1 3.5-3.5 3.5 3.5 0 0 1-3.5 3.5z'),
  logout: () => svg('M10 17l1.4-1.4L8.8 13H20v-2H8.8l2.6-2.6L10 7l-5 5zM4 5h8V3H4a2 2 0 0 0-2 2v14a2 2 0 0 0 2 2h8v-2H4z'),
  close: () => svg('M19 6.4 17.6 5 12 10.6 6.4 5 5 6.4 10.6 12 5 17.6 6.4 19l5.6-5.6 5.6 5.6 1.4-1.4-5.6-5.6z'),
  clock: () => svg('M12 2a10 10 0 1 0 10 10A10 10 0 0 0 12 2zm0 18a8 8 0 1 1 8-8 8 8 0 0 1-8 8zm.5-13H11v6l5.2 3.2.8-1.3-4.5-2.7z'),
  check: () => svg('M9 16.2 4.8 12l-1.4 1.4L9 19 21 7l-1.4-1.4z'),
  checks: () => svg('M18 7l-1.4-1.4-6.3 6.3 1.4 1.4zm4.2-1.4L11.7 16.2 7.5 12l-1.4 1.4 5.6 5.6 12-12zM.4 13.4 6 19l1.4-1.4L1.8 12z'),
  alert: () => svg('M1 21h22L12 2zm12-3h-2v-2h2zm0-4h-2v-4h2z'),
  reply: () => svg('M10 9V5l-7 7 7 7v-4.1c5 0 8.5 1.6 11 5.1-1-5-4-10-11-11z'),
  smile: () => svg('M12 2a10 10 0 1 0 10 10A10 10 0 0 0 12 2zm0 18a8 8 0 1 1 8-8 8 8 0 0 1-8 8zm-3.5-9A1.5 1.5 0 1 0 7 9.5 1.5 1.5 0 0 0 8.5 11zm7 0A1.5 1.5 0 1 0 14 9.5a1.5 1.5 0 0 0 1.5 1.5zM12 17.5a5.5 5.5 0 0 0 5.1-3.5H6.9a5.5 5.5 0 0 0 5.1 3.5z'),
  edit: () => svg('M3 17.3V21h3.8L17.8 9.9l-3.7-3.7zM20.7 7a1 1 0 0 0 0-1.4l-2.3-2.3a1 1 0 0 0-1.4 0l-1.8 1.8 3.7 3.7z'),
  copy: () => svg('M16 1H4a2 2 0 0 0-2 2v14h2V3h12zm3 4H8a2 2 0 0 0-2 2v14a2 2 0 0 0 2 2h11a2 2 0 0 0 2-2V7a2 2 0 0 0-2-2zm0 16H8V7h11z'),
  trash: () => svg('M6 19a2 2 0 0 0 2 2h8a2 2 0 0 0 2-2V7H6zM19 4h-3.5l-1-1h-5l-1 1H5v2h14z'),
  more: () => svg('M12 8a2 2 0 1 0-2-2 2 2 0 0 0 2 2zm0 2a2 2 0 1 0 2 2 2 2 0 0 0-2-2zm0 6a2 2 0 1 0 2 2 2 2 0 0 0-2-2z'),
  chat: () => svg('M20 2H4a2 2 0 0 0-2 2v18l4-4h14a2 2 0 0 0 2-2V4a2 2 0 0 0-2-2zm0 14H5.2L4 17.2V4h16z'),
  block: () => svg('M12 2a10 10 0 1 0 10 10A10 10 0 0 0 12 2zM4 12a8 8 0 0 1 12.9-6.3L5.7 16.9A7.9 7.9 0 0 1 4 12zm8 8a7.9 7.9 0 0 1-4.9-1.7L18.3 7.1A8 8 0 0 1 12 20z'),
  star: () => svg('M12 17.3 18.2 21l-1.6-7 5.4-4.7-7.2-.6L12 2 9.2 8.7 2 9.3l5.4 4.7-1.6 7z'),
  starOff: () => svg('M22 9.2l-7.2-.6L12 2 9.2 8.6 2 9.2l5.5 4.7L5.8 21 12 17.3l6.2 3.7-1.6-7.1zM12 15.4V6.1l1.7 4 4.4.4-3.3 2.9 1 4.3z'),
  swap: () => svg('M16 17v-7h-2v7h-3l4 4 4-4zM9 3 5 7h3v7h2V7h3z'),
  personOff: () => svg('M14 8a4 4 0 1 0-4 4 4 4 0 0 0 4-4zm3 2v2h6v-2zM2 18v2h16v-2c0-2.7-5.3-4-8-4s-8 1.3-8 4z'),
  link: () => svg('M3.9 12a3.1 3.1 0 0 1 3.1-3.1h4V7H7a5 5 0 0 0 0 10h4v-1.9H7A3.1 3.1 0 0 1 3.9 12zM8 13h8v-2H8zm9-6h-4v1.9h4a3.1 3.1 0 0 1 0 6.2h-4V17h4a5 5 0 0 0 0-10z'),
};

/** The reactions offered first: the ones people use most. */
const COMMON_REACTIONS = ['👍', '❤️', '😂', '😮', '😢', '🙏', '🎉', '🔥', '👀', '✅', '👏', '💯'];
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
  chats: new Map(), // conv -> {hasMore, loading, previewAsked, retryLoad, anchor}; the messages live in the SDK
  compose: null, // {mode: 'reply'|'edit', conv, seq}: what the composer's next Enter does
  typing: new Map(), // conv -> Map(user -> expiresAt)
  system: new Map(), // conv -> [line]: membership and settings lines, kept on this device (see addSystemLine)
  groupSeen: new Map(), // conv -> {title, topic} last known, to say what a `group_updated` changed
  roster: new Map(), // conv -> Set(user id): members as this page knows them, to tell a join from a repeat
  handover: new Map(), // conv -> {from, to}: owners while a transfer's two `role` events arrive
  intents: new Map(), // `${conv}:${username}:${action}` -> expiry: membership changes this page asked for
  blocked: new Map(), // username -> User: the people the signed-in user blocks
  blocksLoaded: false,
  refused: new Set(), // DMs where the server refused a message of ours (403), kept on this device
  learnedAt: new Map(), // conv -> when it appeared during this session
  membersOpen: false,
  expanded: new Set(), // `${conv}:${seq}` of long messages the reader opened
  els: null,
};

function chat(conv) {
  let c = ui.chats.get(conv);
  if (!c) ui.chats.set(conv, (c = { hasMore: true, loading: false, previewAsked: false }));
  return c;
}
const me = () => client.user;
const userName = (id) => (id === me()?.id ? 'You' : displayName(id));
/** How a user is shown to others: their display name where set, else their username. */
function displayName(id) {
  const u = id === me()?.id ? { ...client.users.get(id), ...me() } : client.users.get(id);
  return u?.display_name || u?.username || 'someone';
}

/** How many members a group has, from the count or, lacking it, the list. */
const memberCount = (c) => c.member_count ?? (c.members ?? []).length;
const membersText = (c) => `${memberCount(c)} member${memberCount(c) === 1 ? '' : 's'}`;

function convTitle(c) {
  if (c.kind === 'dm') return peerOf(c) ? displayName(peerOf(c).id) : 'Direct message';
  return c.title || 'Untitled group';
}
function peerOf(c) {
  if (c.kind !== 'dm') return null;
  const m = (c.members ?? []).find((x) => x.id !== me()?.id);
  return m ? { ...m, ...(client.users.get(m.id) ?? {}) } : null;
}
const lastMessage = (conv) => client.conversations.get(conv)?.last_message ?? null;
const pendingSends = (conv) => client.outbox.filter((i) => i.conv === conv && i.type === 'send');
function activityOf(c) {
  const pend = pendingSends(c.id).pop();
  return Math.max(lastMessage(c.id)?.ts ?? 0, pend?.created_at ?? 0, ui.learnedAt.get(c.id) ?? 0);
}

// ------------------------------------------------------------------ rendering: auth

// Two forms, "Sign in" and "Create account". The server answers a wrong
// password and an unknown username alike (on purpose), so a failed sign-in
// never says which it was; it offers to create the account instead.
function renderAuth(message, { mode = 'signin', username: name = '' } = {}) {
  const creating = mode === 'create';
  document.title = `${creating ? 'Create account' : 'Sign in'} · Parley`;
  app.className = 'auth';
  app.removeAttribute('aria-busy');
  const err = h('p.form-error', { role: 'alert', id: 'auth-error', testid: 'auth-error' }, message || '');
  const offer = h('div.auth-offer', { hidden: true });
  const username = h('input', {
    testid: 'login-username', id: 'login-username', name: 'username', autocomplete: 'username',
    autocapitalize: 'none', spellcheck: 'false', required: true, minlength: '3', maxlength: '32', placeholder: 'e.g. alice',
  });
  username.value = name;
  const displayName = creating
    ? h('input', { testid: 'register-display-name', id: 'register-display-name', name: 'display_name', autocomplete: 'name', maxlength: '64', placeholder: 'How others see you (optional)', dir: 'auto' })
    : null;
  const password = h('input', {
    testid: 'login-password', id: 'login-password', name: 'password', type: 'password',
    autocomplete: creating ? 'new-password' : 'current-password', required: true, minlength: '8', placeholder: 'At least 8 characters',
  });
  const submit = creating
    ? h('button.btn.primary', { testid: 'register-submit', type: 'submit' }, 'Create account')
    : h('button.btn.primary', { testid: 'login-submit', type: 'submit' }, 'Sign in');
  const switchTo = (m) => renderAuth('', { mode: m, username: username.value.trim() });
  let busy = false;
  const go = async () => {
    if (busy) return;
    err.textContent = '';
    offer.hidden = true;
    const u = username.value.trim();
    const p = password.value;
    if (u.length < 3) return (err.textContent = 'Usernames have at least 3 characters.'), username.focus();
    if (new TextEncoder().encode(p).length < 8) return (err.textContent = 'Passwords have at least 8 characters.'), password.focus();
    busy = true;
    submit.disabled = true;
    try {
      if (creating) await client.register(u, p, displayName.value.trim() || undefined);
      else await client.login(u, p);
      startMain();
    } catch (e) {
      busy = false;
      submit.disabled = false;
      if (!creating && e.code === 'unauthorized') {
        err.textContent = 'That username and password do not match an account.';
        fill(
          offer,
          h('button.link', { type: 'button', testid: 'offer-register', onclick: () => switchTo('create') }, `New here? Create an account as “${u}”`),
        );
        offer.hidden = false;
      } else if (creating && e.code === 'conflict') {
        err.textContent = 'That username is taken. If it is yours, sign in instead.';
      } else err.textContent = friendlyError(e);
    }
  };
  const form = h(
    'form.auth-card',
    { onsubmit: (e) => (e.preventDefault(), go()), novalidate: true, 'aria-labelledby': 'auth-title', testid: creating ? 'register-form' : 'login-form' },
    h('div.brand.big', null, h('img', { src: 'favicon.svg', alt: '', width: '40', height: '40' }), h('span', null, 'Parley')),
    h('h1', { id: 'auth-title' }, creating ? 'Create your account' : 'Sign in'),
    h('p.muted', null, creating ? 'Pick a username people can find you by.' : 'Welcome back.'),
    pendingInvite()
      ? h('p.invite-note', { testid: 'invite-pending', role: 'status' }, icon.link(), h('span', null, 'You were invited to a group. Sign in or create an account to join it.'))
      : null,
    h('label', { for: 'login-username' }, 'Username'),
    username,
    creating ? h('label', { for: 'register-display-name' }, 'Display name') : null,
    displayName,
    h('label', { for: 'login-password' }, 'Password'),
    password,
    err,
    offer,
    h('div.auth-actions', null, submit),
    h(
      'p.auth-switch.muted',
      null,
      creating ? 'Already have an account? ' : 'New to Parley? ',
      h('button.link', { type: 'button', testid: 'auth-switch', onclick: () => switchTo(creating ? 'signin' : 'create') }, creating ? 'Sign in' : 'Create account'),
    ),
  );
  fill(app, h('main.auth-wrap', null, form, h('p.auth-foot.muted', null, 'Messages are delivered in order, exactly once — even on flaky networks.')));
  (name ? password : username).focus();
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
  const search = createSearch({
    client, h, svg, openAt, summary: attachmentSummary, nameOf: userName, openConv: () => ui.open,
    titleOf: (conv) => (client.conversations.has(conv) ? convTitle(client.conversations.get(conv)) : 'A conversation you left'),
  });
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
    search.el,
    h('div.side-tools', null, dmForm, dmError, h('button.btn.ghost.new-group', { testid: 'new-group', type: 'button', onclick: openGroupDialog }, icon.plus(), 'New group')),
    list,
    emptyList,
    h(
      'footer.side-foot',
      null,
      h('span.me', null, h('span.me-avatar'), h('span.me-name')),
      h('button.icon-btn', { testid: 'settings-open', type: 'button', title: 'Settings', 'aria-label': 'Settings', onclick: openSettings }, icon.gear()),
      h('button.icon-btn', { testid: 'logout', type: 'button', title: 'Sign out', 'aria-label': 'Sign out', onclick: logout }, icon.logout()),
    ),
  );

  const headAvatar = h('span.head-avatar');
  const headTitle = h('h2.chat-title', { dir: 'auto' });
  const headSub = h('div.chat-sub');
  const membersBtn = h('button.icon-btn', { testid: 'members-button', type: 'button', title: 'Members', 'aria-label': 'Members', onclick: toggleMembers }, icon.people());
  const groupBtn = h('button.icon-btn', { testid: 'group-settings-open', type: 'button', title: 'Group settings', 'aria-label': 'Group settings', onclick: () => openGroupSettings(ui.open) }, icon.gear());
  // The title opens the peer's card in a DM and the settings in a group.
  const headWho = h(
    'div.head-who',
    {
      testid: 'chat-head-who', role: 'button', tabindex: '0', onclick: () => headClicked(),
      onkeydown: (e) => (e.key === 'Enter' || e.key === ' ') && (e.preventDefault(), headClicked()),
    },
    headAvatar,
    h('div.chat-head-text', null, headTitle, headSub),
  );
  const head = h(
    'header.chat-head',
    null,
    h('button.icon-btn.back', { type: 'button', 'aria-label': 'Back to conversations', onclick: () => openConversation(null) }, icon.back()),
    headWho,
    h('span.conn-mini'),
    notifyButton(),
    groupBtn,
    membersBtn,
  );
  const topicBar = h('button.chat-topic', { testid: 'group-topic', type: 'button', dir: 'auto', hidden: true, title: 'Group settings', onclick: () => openGroupSettings(ui.open) });
  const chatNote = h('div.chat-note', { role: 'status', hidden: true });
  const messages = h('div.messages', { testid: 'message-list', role: 'log', 'aria-label': 'Messages', tabindex: '0' });
  const top = h('div.history-top');
  const scroller = h('div.scroller', null, top, messages);
  const typing = h('div.typing', { testid: 'typing-indicator', 'aria-live': 'polite', hidden: true });
  const composer = h('textarea.composer', {
    testid: 'composer', rows: '1', placeholder: 'Write a message…', 'aria-label': 'Message', enterkeyhint: touchKeyboard() ? 'enter' : 'send', dir: 'auto',
  });
  const sendBtn = h('button.send-btn', { testid: 'send', type: 'submit', 'aria-label': 'Send', title: 'Send (Enter)' }, icon.send());
  const files = createAttachments({ client, h, svg, composer, openConv: () => ui.open });
  const composerForm = h('form.composer-bar', { onsubmit: (e) => (e.preventDefault(), sendCurrent()) }, files.button, files.input, composer, sendBtn);
  const offlineNote = h('div.offline-note', { hidden: true });
  const context = h('div.compose-context', { testid: 'compose-context', hidden: true });
  const mentionMenu = h('ul.mention-menu', { testid: 'mention-suggestions', role: 'listbox', 'aria-label': 'Members', hidden: true });
  const composeWrap = h('div.compose-wrap', null, mentionMenu, context, files.tray, composerForm);
  const removedNote = h('div.removed-note', { testid: 'removed-note', role: 'status', hidden: true });
  const chatPane = h('section.chat', { 'aria-label': 'Conversation' }, head, topicBar, scroller, typing, offlineNote, chatNote, removedNote, composeWrap);
  const empty = h(
    'section.chat-empty',
    null,
    h('div.empty-art', null, h('img', { src: 'favicon.svg', alt: '', width: '64', height: '64' })),
    h('h2', null, 'Pick up where you left off'),
    h('p.muted', null, 'Choose a conversation on the left, message someone by username, or start a group.'),
  );
  files.acceptDrops(chatPane, () => !!ui.open && !client.conversations.get(ui.open)?.removed);
  const panel = h('aside.members-panel', { 'aria-label': 'Members', hidden: true });
  const shell = h('div.shell', null, sidebar, chatPane, empty, panel);
  app.className = 'main';
  app.removeAttribute('aria-busy');
  fill(app, shell, buildGroupDialog());

  composer.addEventListener('keydown', (e) => {
    if (mentionKeys(e)) return;
    // On a touch screen Enter is a new line, as on its keyboard; the button sends.
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing && !touchKeyboard()) {
      e.preventDefault();
      sendCurrent();
    } else if (e.key === 'Escape' && ui.compose) {
      e.preventDefault();
      e.stopPropagation();
      setCompose(null);
    } else if (e.key === 'ArrowUp' && !composer.value && !ui.compose) {
      // As in most chats: Up in an empty composer edits your last message.
      const mine = client.messages(ui.open).filter((m) => m.sender === me()?.id && !m.deleted).pop();
      if (mine) {
        e.preventDefault();
        setCompose({ mode: 'edit', conv: ui.open, seq: mine.seq });
      }
    }
  });
  composer.addEventListener('input', () => {
    autosize(composer);
    if (ui.open) {
      if (ui.compose?.mode !== 'edit') saveDraft(ui.open, composer.value);
      if (composer.value.trim() && ui.compose?.mode !== 'edit') client.typing(ui.open);
    }
    renderMentionMenu();
  });
  composer.addEventListener('click', () => renderMentionMenu());
  composer.addEventListener('blur', () => setTimeout(() => document.activeElement !== composer && hideMentionMenu(), 150));
  scroller.addEventListener('scroll', () => {
    if (scroller.scrollTop < 240) loadOlder(ui.open);
    maybeMarkRead();
  });
  ui.els = { shell, connection, dmInput, dmError, list, emptyList, sidebar, headAvatar, headTitle, headSub, headWho, membersBtn, groupBtn, topicBar, chatNote, messages, scroller, top, typing, composer, sendBtn, chatPane, empty, panel, offlineNote, context, mentionMenu, composeWrap, removedNote, files, search };
}

// The composer grows with its text (to a limit); the list above shrinks,
// so a reader at the bottom is kept there: the last message stays visible.
/** Whether typing happens on a touch screen's keyboard (no fine pointer, no hover). */
const touchKeyboard = () => matchMedia('(pointer: coarse)').matches && matchMedia('(hover: none)').matches;

function autosize(t) {
  const sc = ui.els?.scroller;
  const atBottom = sc && sc.scrollHeight - sc.scrollTop - sc.clientHeight < 80;
  t.style.height = 'auto';
  t.style.height = Math.min(t.scrollHeight, 180) + 'px';
  if (atBottom) sc.scrollTop = sc.scrollHeight;
}

function saveDraft(conv, text) {
  const drafts = store.get(`drafts:${me()?.id}`) ?? {};
  if (text) drafts[conv] = text;
  else delete drafts[conv];
  store.set(`drafts:${me()?.id}`, drafts);
}
const draftOf = (conv) => (store.get(`drafts:${me()?.id}`) ?? {})[conv] ?? '';

// ---- connection state

// What the connection is doing: between tries, when the next one comes
// (ticking each second), so "Offline" never looks final while it retries.
let connTicker = null;
function connectionLabel() {
  const s = client.state;
  if (s === 'connected') return 'Connected';
  if (s === 'connecting') return 'Connecting…';
  if (s === 'closed' || !client.stateInfo?.retryAt) return s === 'reconnecting' ? 'Reconnecting…' : 'Offline';
  const secs = Math.ceil((client.stateInfo.retryAt - Date.now()) / 1000);
  return secs > 0 ? `Reconnecting in ${secs} s…` : 'Reconnecting…';
}

function renderConnection() {
  const { connection, offlineNote } = ui.els;
  const s = client.state;
  const label = connectionLabel();
  const ticking = s === 'reconnecting' || s === 'offline';
  if (ticking && !connTicker) connTicker = setInterval(() => (ui.els ? renderConnection() : (clearInterval(connTicker), (connTicker = null))), 1000);
  if (!ticking && connTicker) {
    clearInterval(connTicker);
    connTicker = null;
  }
  // Between tries the state reads "reconnecting" (its dot pulses), whatever the SDK's attempt count.
  connection.dataset.state = s === 'closed' ? 'offline' : s === 'offline' && client.stateInfo?.retryAt ? 'reconnecting' : s;
  fill(connection, h('span.conn-dot'), h('span.conn-label', null, label));
  connection.title = s === 'connected' ? 'Connected' : 'Not connected — click to retry now';
  const mini = ui.els.chatPane.querySelector('.conn-mini');
  mini.dataset.state = connection.dataset.state;
  mini.textContent = s === 'connected' ? '' : label;
  const pending = client.outbox.filter((i) => i.status !== 'failed').length;
  offlineNote.hidden = s === 'connected';
  const state = s === 'connected' ? '' : navigator.onLine === false ? 'You are offline' : 'Not connected';
  offlineNote.textContent =
    s === 'connected' ? '' : pending ? `${state} — ${pending} message${pending > 1 ? 's' : ''} will be sent when you're back online.` : `${state} — messages you write will be sent when you're back online.`;
}

// ---- conversation list

/**
 * The other members whose display names are not known from the member
 * objects: a server whose members carry `display_name` needs no lookups,
 * an older one gets one GET /v1/users/{username} per user (SDK learnProfiles).
 */
const unnamedMembers = (c) => (c.members ?? []).filter((m) => m.id !== me()?.id && !('display_name' in m)).map((m) => m.id);

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
  // Member lists carry usernames only: fetch DM peers' display names (each once).
  if (client.connected) client.learnProfiles(convs.filter((c) => c.kind === 'dm').flatMap((c) => unnamedMembers(c)));
  const items = convs.map((c) => {
    const title = convTitle(c);
    const last = lastMessage(c.id);
    const pend = outbox.filter((i) => i.conv === c.id && i.type === 'send').pop();
    const peer = peerOf(c);
    const reading = c.id === ui.open && isReading();
    const unread = reading ? 0 : c.unread ?? 0;
    const mentioned = reading ? 0 : c.mentions_unread ?? 0;
    totalUnread += unread;
    let preview = '';
    if (pend && (!last || pend.created_at >= last.ts)) preview = `You: ${attachmentSummary({ body: pend.body, attachments: ui.els.files.local(pend.attachments) })}`;
    else if (last) preview = (last.sender === me()?.id ? 'You: ' : c.kind === 'group' ? `${userName(last.sender)}: ` : '') + (last.deleted ? 'Message deleted' : attachmentSummary(last));
    else preview = c.kind === 'group' ? membersText(c) : 'Say hello 👋';
    const when = last ? listTime(last.ts) : '';
    const active = c.id === ui.open;
    const sig = JSON.stringify([title, preview.slice(0, 120), when, unread, mentioned, active, peer?.online, c.kind]);
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
              h('span.conv-top', null, h('span.conv-title', { dir: 'auto' }, title), h('span.conv-time', null, when)),
              h(
                'span.conv-bottom',
                null,
                h('span.conv-preview', { dir: 'auto' }, preview),
                mentioned
                  ? h('span.badge.mention-badge', { testid: 'mention-badge', title: `You were mentioned${mentioned > 1 ? ` ${mentioned} times` : ''}`, 'aria-label': `${mentioned} unread mention${mentioned > 1 ? 's' : ''}` }, '@')
                  : null,
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
  // Removed from a group: read-only, and said so where the composer was.
  els.composeWrap.hidden = !!c.removed;
  els.removedNote.hidden = !c.removed;
  if (c.removed) {
    fill(
      els.removedNote,
      h('span', null, c.removed === 'banned' ? 'You were banned from this group.' : 'You were removed from this group.'),
      h('button.link', { type: 'button', testid: 'removed-dismiss', onclick: () => (client.dismiss(c.id), openConversation(null)) }, 'Remove from list'),
    );
  }
  const title = convTitle(c);
  const peer = peerOf(c);
  fill(els.headAvatar, avatar(title, c.kind === 'dm' ? peer?.id : c.id));
  els.headTitle.textContent = title;
  els.headWho.setAttribute('aria-label', c.kind === 'dm' ? `About ${title}` : `Settings of ${title}`);
  els.groupBtn.hidden = c.kind !== 'group' || !!c.removed;
  updateNotifyButton(c);
  const topic = c.kind === 'group' ? (c.topic ?? '').trim() : '';
  els.topicBar.hidden = !topic;
  els.topicBar.textContent = topic;
  renderChatNote(c, peer);
  if (c.kind === 'dm') {
    fill(
      els.headSub,
      h('span.presence' + (peer?.online ? '.on' : ''), { testid: 'presence', 'data-online': String(!!peer?.online), 'data-user': peer?.id }),
      h('span.presence-text', { testid: 'last-seen' }, lastSeenText(peer)),
    );
  } else {
    const online = (c.members ?? []).filter((m) => m.id !== me()?.id && client.users.get(m.id)?.online).length;
    fill(els.headSub, h('span', null, membersText(c)), online ? h('span.sub-online', null, ` · ${online} online`) : null);
  }
  renderPanel();
}

const GROUP_GAP_MS = 5 * 60 * 1000;
const LONG_LINES = 25; // a message longer than this shows collapsed

// Renders of the open conversation are coalesced: a history page folds in
// dozens of entries, one `update` each.
let renderQueued = null;
function scheduleRender({ keepBottom } = {}) {
  if (renderQueued) {
    renderQueued.keepBottom ||= keepBottom;
    return;
  }
  renderQueued = { keepBottom };
  queueMicrotask(() => {
    const o = renderQueued;
    renderQueued = null;
    // A page being loaded renders when it is in, keeping the reader's place.
    if (ui.els && ui.open && !chat(ui.open).loading) renderMessages({ keepBottom: o.keepBottom || undefined });
  });
}

// The usernames highlighted as mentions in a message: the ones it mentions
// by the server's word, and the conversation's members (a 1.0 server
// sends no `mentions`).
function mentionNames(m, c) {
  const names = new Set((c?.members ?? []).map((x) => x.username.toLowerCase()));
  for (const id of m.mentions ?? []) {
    const u = client.users.get(id)?.username;
    if (u) names.add(u.toLowerCase());
  }
  return names;
}

function renderMessages({ keepBottom } = {}) {
  const els = ui.els;
  const conv = ui.open;
  if (!conv) return;
  const c = client.conversations.get(conv);
  const st = chat(conv);
  const scroller = els.scroller;
  const atBottom = keepBottom ?? scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 80;
  const msgs = client.messages(conv);
  const seen = new Set(msgs.map((m) => m.client_msg_id).filter(Boolean));
  const pend = pendingSends(conv).filter((i) => !seen.has(i.client_msg_id));
  const myId = me()?.id;
  const items = [];
  let prevDay = null;
  let prev = null;
  const all = [
    ...msgs.map((m) => ({ m, status: 'sent' })),
    ...pend.map((i) => ({
      m: { conv, seq: null, sender: myId, body: i.body, ts: i.created_at, client_msg_id: i.client_msg_id, reply_to: i.reply_to, reactions: [], mentions: [], attachments: els.files.local(i.attachments) },
      status: i.status === 'failed' ? 'failed' : 'pending',
      error: i.error,
    })),
  ];
  const names = c ? mentionNames({}, c) : new Set();
  // Read receipts: who has read each of my messages; "seen by" is spelled
  // out under the newest one only.
  const lastOwn = msgs.filter((m) => m.sender === myId && !m.deleted).pop()?.seq;
  // The divider goes in only once the messages held reach back to the read
  // marker: the first message held is not the first unread otherwise.
  // A membership line goes where it happened, after seq `after`; one from
  // before the oldest message held waits until scrolling back reaches it.
  backfillNames(conv);
  const oldest = client.oldestSeq(conv);
  const complete = !st.hasMore || oldest === 1 || (oldest == null && !((c?.last_seq ?? 0) > 0));
  const lines = (ui.system.get(conv) ?? []).filter((x) => (complete || (oldest != null && x.after >= oldest - 1)) && systemText(x));
  const systemItem = (x) => {
    const text = systemText(x);
    return { key: 'sys:' + x.id, sig: text, render: () => h('div.system-line', { testid: 'system-line', role: 'note', 'data-action': x.action }, h('span', { dir: 'auto' }, text)) };
  };
  let divided = !(st.unreadFrom != null && (client.oldestSeq(conv) ?? Infinity) <= st.unreadFrom + 1);
  for (const { m, status, error } of all) {
    while (lines.length && (m.seq == null || m.seq > lines[0].after)) items.push(systemItem(lines.shift()));
    if (!divided && m.seq != null && m.seq > st.unreadFrom && m.sender !== myId && !m.deleted) {
      divided = true;
      items.push({ key: 'unread-divider', sig: 'unread', render: () => h('div.unread-sep', { testid: 'unread-divider', role: 'separator' }, h('span', null, 'New messages')) });
    }
    const day = dayKey(m.ts);
    if (day !== prevDay) {
      const label = dayLabel(m.ts);
      items.push({ key: 'day:' + day, sig: label, render: () => h('div.day-sep', { role: 'separator' }, h('span', null, label)) });
      prev = null;
      prevDay = day;
    }
    const own = m.sender === myId;
    const first = !prev || prev.sender !== m.sender || m.ts - prev.ts > GROUP_GAP_MS || m.reply_to != null;
    const showName = first && !own && c?.kind === 'group';
    const key = m.client_msg_id && own ? 'm:' + m.client_msg_id : 's:' + m.seq;
    const target = m.reply_to != null ? client.message(conv, m.reply_to) : null;
    const readers = own && m.seq != null ? client.readersOf(conv, m.seq) : [];
    const seenLine = c?.kind === 'group' && m.seq === lastOwn && readers.length > 0;
    const sig = JSON.stringify([
      readers.map(displayName).join(), seenLine, ui.expanded.has(`${conv}:${m.seq ?? m.client_msg_id}`), userName(m.sender), target && userName(target.sender),
      m.seq, status, first, showName, error?.code, status === 'failed' && refusedHere(conv, error), m.body, m.deleted, m.edited_ts, m.reactions, m.pending, [...names].join(),
      m.reply_to, target && [target.body, target.deleted, target.sender], canDelete(c, m), (m.attachments ?? []).map((a) => a.id).join(),
    ]);
    items.push({ key, sig, render: () => messageEl(m, { own, first, showName, status, error, target, conv: c, names: mentionNames(m, c), readers, seenLine }) });
    prev = m;
  }
  items.push(...lines.map(systemItem));
  const prevHeight = scroller.scrollHeight;
  const prevTop = scroller.scrollTop;
  reconcile(els.messages, items);
  const note = st.loading
    ? h('div.history-note', null, h('span.spinner'), 'Loading earlier messages…')
    : st.refused
      ? h('div.history-note', { testid: 'history-refused' }, 'You are no longer a member: the server does not show this group’s earlier messages.')
    : !st.hasMore
      ? h('div.history-note.start', null, c?.kind === 'dm' ? `This is the beginning of your conversation with ${convTitle(c)}.` : `This is the beginning of ${convTitle(c)}.`)
      : null;
  fill(els.top, note);
  const divider = st.toDivider && !st.loading ? els.messages.querySelector('[data-testid="unread-divider"]') : null;
  if (divider) {
    // Opened with unread messages: the first of them at the top, under the divider.
    scroller.scrollTop += divider.getBoundingClientRect().top - scroller.getBoundingClientRect().top - 8;
    st.toDivider = false;
  } else if (atBottom && !st.toDivider) scroller.scrollTop = scroller.scrollHeight;
  else if (st.anchor) {
    // Older messages went in above: keep what the reader was looking at in place.
    scroller.scrollTop = prevTop + (scroller.scrollHeight - prevHeight);
  }
  st.anchor = false;
  maybeMarkRead();
}

/** Whether the signed-in user may delete m: their own, or any as a group's owner or admin. */
function canDelete(c, m) {
  if (!m || m.seq == null || m.deleted) return false;
  if (m.sender === me()?.id) return true;
  const role = (c?.members ?? []).find((x) => x.id === me()?.id)?.role;
  return c?.kind === 'group' && (role === 'owner' || role === 'admin');
}

function snippet(m) {
  if (!m) return 'Earlier message';
  if (m.deleted) return 'Message deleted';
  const t = m.body.replace(/\s+/g, ' ').trim();
  return t.length > 90 ? t.slice(0, 90) + '…' : t;
}

/** The ✓ of a sent message, ✓✓ once someone else has read it (who, in the title). */
function receiptEl(readers, conv) {
  if (!readers.length) return h('span.state.sent', { testid: 'receipt', title: 'Sent', 'aria-label': 'Sent' }, icon.check());
  const who = readers.map(displayName);
  const label = conv?.kind === 'dm' ? 'Read' : `Seen by ${who.join(', ')}`;
  return h('span.state.read', { testid: 'receipt', title: label, 'aria-label': label }, icon.checks());
}

/** "Seen by N" under my newest group message; the names on hover, or on a tap. */
function seenLineEl(readers) {
  const who = readers.map(displayName);
  const names = h('span.seen-names', { testid: 'seen-names', hidden: true }, who.join(', '));
  return h(
    'div.seen',
    null,
    h(
      'button.link.seen-count',
      {
        type: 'button', testid: 'seen-by', title: who.join(', '), 'aria-expanded': 'false',
        onclick: (e) => {
          names.hidden = !names.hidden;
          e.currentTarget.setAttribute('aria-expanded', String(!names.hidden));
        },
      },
      `Seen by ${readers.length}`,
    ),
    names,
  );
}

function messageEl(m, { own, first, showName, status, error, target, conv, names, readers = [], seenLine = false }) {
  const sent = status === 'sent' && m.seq != null;
  const meta = h(
    'span.msg-meta',
    null,
    m.edited_ts && !m.deleted ? h('span.edited', { testid: 'edited-mark', title: `Edited ${new Date(m.edited_ts).toLocaleString()}` }, 'edited') : null,
    h('time', { datetime: new Date(m.ts).toISOString(), title: new Date(m.ts).toLocaleString() }, timeFmt.format(m.ts)),
    own
      ? status === 'pending' || m.pending
        ? h('span.state.pending', { title: 'Sending…', 'aria-label': 'Sending' }, icon.clock())
        : status === 'sent'
          ? receiptEl(readers, conv)
          : null
      : null,
  );
  const quote =
    m.reply_to != null && !m.deleted
      ? h(
          'button.reply-quote',
          {
            type: 'button', testid: 'reply-quote', 'data-target': m.reply_to, title: 'Show the original message',
            onclick: (e) => (e.stopPropagation(), jumpTo(m.conv, m.reply_to)),
          },
          h('span.reply-who', null, target ? userName(target.sender) : 'Reply'),
          h('span.reply-text' + (target?.deleted ? '.gone' : ''), { dir: 'auto' }, snippet(target)),
        )
      : null;
  const body = m.deleted
    ? h('span.msg-body.msg-deleted', { testid: 'message-deleted' }, 'Message deleted')
    : h('span.msg-body', { dir: 'auto' }, richText(m.body, names));
  // A long message is shown collapsed to about 25 lines, with "Show more".
  const key = `${m.conv}:${m.seq ?? m.client_msg_id}`;
  const long = !m.deleted && (m.body.split('\n').length > LONG_LINES || m.body.length > LONG_LINES * 100);
  if (long && !ui.expanded.has(key)) body.classList.add('clamped');
  const more = long
    ? h(
        'button.link.show-more',
        {
          type: 'button', testid: 'show-more', 'aria-expanded': String(ui.expanded.has(key)),
          onclick: (e) => {
            e.stopPropagation();
            const open = body.classList.toggle('clamped') === false;
            if (open) ui.expanded.add(key);
            else ui.expanded.delete(key);
            e.currentTarget.textContent = open ? 'Show less' : 'Show more';
            e.currentTarget.setAttribute('aria-expanded', String(open));
          },
        },
        ui.expanded.has(key) ? 'Show less' : 'Show more',
      )
    : null;
  const bubble = h('div.bubble' + (m.attachments?.length && !m.deleted ? '.with-files' : ''), null, quote, ui.els.files.messageFiles(m), body, more, meta);
  const reactions =
    sent && !m.deleted && m.reactions.length
      ? h(
          'div.reactions',
          { testid: 'reactions' },
          m.reactions.map((r) =>
            h(
              'button.reaction' + (r.me ? '.mine' : ''),
              {
                type: 'button', testid: 'reaction', 'data-emoji': r.emoji, 'data-count': r.count, 'aria-pressed': String(r.me),
                title: r.me ? 'Remove your reaction' : `React with ${r.emoji}`,
                onclick: () => toggleReaction(m, r.emoji),
              },
              h('span.r-emoji', null, r.emoji),
              h('span.r-count', null, String(r.count)),
            ),
          ),
          h('button.reaction.add', { type: 'button', testid: 'reaction-add', 'aria-label': 'Add a reaction', title: 'Add a reaction', onclick: (e) => openPicker(e.currentTarget, m) }, icon.smile()),
        )
      : null;
  const actions = sent && !m.deleted ? actionBar(m, conv) : null;
  const el = h(
    'div.msg' + (own ? '.own' : '.other') + (first ? '.first' : '') + (m.deleted ? '.deleted' : ''),
    {
      testid: 'message', 'data-seq': m.seq ?? null, 'data-status': status, 'data-client-msg-id': m.client_msg_id || null,
      'data-sender': m.sender,
      'data-read': own && sent ? String(readers.length > 0) : null,
      'data-read-count': own && sent ? String(readers.length) : null,
    },
    !own && first ? avatar(userName(m.sender), m.sender, { size: 'sm' }) : h('span.avatar-space'),
    h(
      'div.msg-col',
      null,
      showName ? h('div.msg-sender', { dir: 'auto', style: `--hue:${hueOf(m.sender)}` }, userName(m.sender)) : null,
      h('div.bubble-row', null, bubble, actions),
      reactions,
      seenLine ? seenLineEl(readers) : null,
      status === 'failed'
        ? h(
            'div.msg-failed',
            { role: 'alert' },
            icon.alert(),
            h('span', null, `Not sent: ${refusedHere(m.conv, error) ? 'messages can’t be sent in this conversation.' : friendlyError(error)}`),
            h('button.link', { type: 'button', onclick: () => client.retry(m.client_msg_id) }, 'Retry'),
            h('button.link', { type: 'button', onclick: () => client.discard(m.client_msg_id) }, 'Delete'),
          )
        : null,
    ),
  );
  if (sent && !m.deleted) addLongPress(bubble, () => openSheet(m));
  return el;
}

// ---- message actions: hover bar (desktop), long-press sheet (touch)

function messageActions(m, c) {
  const own = m.sender === me()?.id;
  return [
    { id: 'react', label: 'React', icon: icon.smile, run: (anchor) => openPicker(anchor, m) },
    { id: 'reply', label: 'Reply', icon: icon.reply, run: () => setCompose({ mode: 'reply', conv: m.conv, seq: m.seq }) },
    own ? { id: 'edit', label: 'Edit', icon: icon.edit, run: () => setCompose({ mode: 'edit', conv: m.conv, seq: m.seq }) } : null,
    { id: 'copy', label: 'Copy text', icon: icon.copy, run: () => copyText(m.body) },
    canDelete(c, m) ? { id: 'delete', label: 'Delete', icon: icon.trash, danger: true, run: () => deleteMessage(m) } : null,
  ].filter(Boolean);
}

function actionBar(m, c) {
  return h(
    'div.msg-actions',
    { testid: 'message-actions', role: 'toolbar', 'aria-label': 'Message actions' },
    messageActions(m, c).map((a) =>
      h(
        'button.icon-btn.act' + (a.danger ? '.danger' : ''),
        { type: 'button', testid: `action-${a.id}`, title: a.label, 'aria-label': a.label, onclick: (e) => (e.stopPropagation(), a.run(e.currentTarget)) },
        a.icon(),
      ),
    ),
  );
}

// A press held still for half a second on a touch screen opens the sheet.
function addLongPress(el, fn) {
  let timer = null;
  let start = null;
  const cancel = () => {
    clearTimeout(timer);
    timer = null;
  };
  el.addEventListener('pointerdown', (e) => {
    if (e.pointerType === 'mouse') return;
    start = [e.clientX, e.clientY];
    cancel();
    timer = setTimeout(() => {
      timer = null;
      el.dataset.pressed = '1';
      fn();
    }, 450);
  });
  el.addEventListener('pointermove', (e) => {
    if (timer && start && Math.hypot(e.clientX - start[0], e.clientY - start[1]) > 10) cancel();
  });
  for (const t of ['pointerup', 'pointercancel', 'pointerleave']) el.addEventListener(t, cancel);
  // The browser's own long-press menu would cover ours.
  el.addEventListener('contextmenu', (e) => {
    if (el.dataset.pressed || timer || matchMedia('(hover: none)').matches) {
      e.preventDefault();
      delete el.dataset.pressed;
    }
  });
}

function closeOverlays() {
  document.querySelectorAll('.emoji-picker, .sheet-wrap').forEach((x) => x.remove());
}

function openSheet(m) {
  closeOverlays();
  const c = client.conversations.get(m.conv);
  const close = () => wrap.remove();
  const quick = COMMON_REACTIONS.slice(0, 6).map((e) => {
    const mine = !!m.reactions.find((r) => r.emoji === e && r.me);
    return h('button.quick' + (mine ? '.mine' : ''), { type: 'button', testid: 'emoji-option', 'data-emoji': e, 'aria-pressed': String(mine), onclick: () => (close(), toggleReaction(m, e)) }, e);
  });
  const more = h('button.quick.more', { type: 'button', 'aria-label': 'More reactions', onclick: (e) => (close(), openPicker(null, m)) }, icon.plus());
  const wrap = h(
    'div.sheet-wrap',
    { onclick: (e) => e.target === wrap && close() },
    h(
      'div.sheet',
      { testid: 'action-sheet', role: 'dialog', 'aria-label': 'Message actions' },
      h('div.sheet-preview', null, h('span.reply-who', null, userName(m.sender)), h('span', null, snippet(m))),
      h('div.quick-row', null, quick, more),
      h(
        'div.sheet-actions',
        null,
        messageActions(m, c)
          .filter((a) => a.id !== 'react')
          .map((a) => h('button.sheet-btn' + (a.danger ? '.danger' : ''), { type: 'button', testid: `sheet-${a.id}`, onclick: () => (close(), a.run()) }, a.icon(), a.label)),
      ),
    ),
  );
  document.body.append(wrap);
}

function openPicker(anchor, m) {
  closeOverlays();
  const picker = h(
    'div.emoji-picker',
    { testid: 'emoji-picker', role: 'dialog', 'aria-label': 'Reactions' },
    COMMON_REACTIONS.map((e) => {
      const mine = !!m.reactions.find((r) => r.emoji === e && r.me);
      return h('button.emoji-option' + (mine ? '.mine' : ''), {
        type: 'button', testid: 'emoji-option', 'data-emoji': e, title: mine ? `Remove ${e}` : `React with ${e}`, 'aria-pressed': String(mine),
        onclick: () => (picker.remove(), toggleReaction(m, e)),
      }, e);
    }),
  );
  document.body.append(picker);
  const pw = picker.offsetWidth;
  const ph = picker.offsetHeight;
  if (anchor) {
    const r = anchor.getBoundingClientRect();
    const left = Math.min(window.innerWidth - pw - 8, Math.max(8, r.left + r.width / 2 - pw / 2));
    const top = r.top - ph - 8 > 8 ? r.top - ph - 8 : r.bottom + 8;
    picker.style.left = `${left}px`;
    picker.style.top = `${top}px`;
  } else {
    picker.classList.add('centered');
  }
  picker.querySelector('button')?.focus({ preventScroll: true });
}

document.addEventListener('pointerdown', (e) => {
  if (!e.target.closest?.('.emoji-picker, .sheet-wrap, [data-testid="action-react"], [data-testid="reaction-add"]')) document.querySelectorAll('.emoji-picker').forEach((x) => x.remove());
});

async function toggleReaction(m, emoji) {
  const cur = client.message(m.conv, m.seq) ?? m;
  const mine = !!cur.reactions.find((r) => r.emoji === emoji && r.me);
  try {
    await client.react(m.conv, m.seq, emoji, mine ? 'remove' : 'add');
  } catch (e) {
    toast(e.code === 'bad_request' ? friendlyError(e) : `Could not react: ${friendlyError(e)}`);
  }
}

async function deleteMessage(m) {
  if (!confirm(m.sender === me()?.id ? 'Delete this message for everyone?' : `Delete ${userName(m.sender)}’s message for everyone?`)) return;
  if (ui.compose?.seq === m.seq && ui.compose.conv === m.conv) setCompose(null);
  try {
    await client.delete(m.conv, m.seq);
  } catch (e) {
    toast(`Could not delete: ${friendlyError(e)}`);
  }
}

async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
  } catch {
    // No clipboard API (not a secure context): the old way.
    const t = h('textarea', { style: 'position:fixed;opacity:0' });
    t.value = text;
    document.body.append(t);
    t.select();
    document.execCommand('copy');
    t.remove();
  }
  toast('Copied');
}

function toast(text) {
  document.querySelector('.toast')?.remove();
  const t = h('div.toast', { testid: 'toast', role: 'status' }, text);
  document.body.append(t);
  setTimeout(() => t.remove(), 2500);
}

/** Scrolls to a message, fetching the history between it and what is shown when needed. */
async function jumpTo(conv, seq) {
  const st = chat(conv);
  let oldest = client.oldestSeq(conv);
  if (!client.message(conv, seq) && (oldest === null || oldest > seq)) {
    st.loading = true;
    renderMessages();
    try {
      // Contiguous pages from just above the target up to what is held, so
      // the list never has a hole.
      let from = Math.max(0, seq - 6);
      const upto = oldest ?? Infinity;
      while (from < upto - 1) {
        const page = await client.history(conv, { after: from, before: upto === Infinity ? undefined : upto, limit: 500 });
        if (!page.length) break;
        from = page[page.length - 1].seq;
      }
      oldest = client.oldestSeq(conv);
      st.hasMore = (oldest ?? 1) > 1;
    } catch (e) {
      toast(`Could not load that message: ${friendlyError(e)}`);
    } finally {
      st.loading = false;
    }
    st.anchor = true;
    if (conv === ui.open) renderMessages();
  }
  if (conv !== ui.open) return;
  const el = ui.els.messages.querySelector(`[data-testid="message"][data-seq="${seq}"]`);
  if (!el) return toast('That message is no longer available.');
  el.scrollIntoView({ block: 'center', behavior: matchMedia('(prefers-reduced-motion: reduce)').matches ? 'auto' : 'smooth' });
  el.classList.remove('flash');
  void el.offsetWidth; // restart the animation
  el.classList.add('flash');
}

// ---- composer modes: reply and edit

function setCompose(mode) {
  const { composer, context, scroller } = ui.els;
  // The bar takes room from the message list: keep its bottom in view.
  const atBottom = scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 80;
  requestAnimationFrame(() => atBottom && (scroller.scrollTop = scroller.scrollHeight));
  const was = ui.compose;
  ui.compose = mode;
  if (was?.mode === 'edit' && mode?.mode !== 'edit') {
    composer.value = draftOf(ui.open);
    autosize(composer);
  }
  if (!mode) {
    context.hidden = true;
    context.replaceChildren();
    return;
  }
  const m = client.message(mode.conv, mode.seq);
  if (!m) return setCompose(null);
  if (mode.mode === 'edit') {
    composer.value = m.body;
    autosize(composer);
  }
  context.hidden = false;
  context.dataset.mode = mode.mode;
  fill(
    context,
    mode.mode === 'edit' ? icon.edit() : icon.reply(),
    h(
      'div.context-text',
      null,
      h('span.context-title', null, mode.mode === 'edit' ? 'Edit message' : `Reply to ${userName(m.sender) === 'You' ? 'yourself' : userName(m.sender)}`),
      h('span.context-snippet', null, snippet(m)),
    ),
    h('button.icon-btn', { type: 'button', testid: 'compose-cancel', 'aria-label': mode.mode === 'edit' ? 'Cancel editing' : 'Cancel reply', title: 'Cancel (Esc)', onclick: () => (setCompose(null), composer.focus()) }, icon.close()),
  );
  composer.focus();
  composer.setSelectionRange(composer.value.length, composer.value.length);
}

// ---- @ autocomplete

let mentionState = null; // {start, query, options, index}

function mentionQuery() {
  const t = ui.els.composer;
  const upto = t.value.slice(0, t.selectionStart ?? t.value.length);
  const m = /(^|[^a-z0-9_.-])@([a-z0-9_.-]{0,32})$/i.exec(upto);
  return m ? { start: upto.length - m[2].length - 1, query: m[2].toLowerCase() } : null;
}

function renderMentionMenu() {
  const menu = ui.els.mentionMenu;
  const q = ui.open ? mentionQuery() : null;
  const c = ui.open ? client.conversations.get(ui.open) : null;
  const options = q && c
    ? (c.members ?? [])
        .filter((x) => x.id !== me()?.id && x.username.toLowerCase().startsWith(q.query))
        .sort((a, b) => a.username.localeCompare(b.username))
        .slice(0, 6)
    : [];
  if (!options.length) return hideMentionMenu();
  const index = mentionState && mentionState.query === q.query ? Math.min(mentionState.index, options.length - 1) : 0;
  mentionState = { ...q, options, index };
  menu.hidden = false;
  fill(
    menu,
    ...options.map((x, i) =>
      h(
        'li',
        { role: 'option', 'aria-selected': String(i === index) },
        h(
          'button.mention-option' + (i === index ? '.active' : ''),
          { type: 'button', testid: 'mention-option', 'data-username': x.username, tabindex: '-1', onmousedown: (e) => e.preventDefault(), onclick: () => pickMention(x.username) },
          avatar(x.username, x.id, { size: 'xs' }),
          h('span', null, x.username),
          client.users.get(x.id)?.display_name ? h('span.muted', { dir: 'auto' }, client.users.get(x.id).display_name) : null,
          x.role !== 'member' ? h('span.role', null, x.role) : null,
        ),
      ),
    ),
  );
}

function hideMentionMenu() {
  mentionState = null;
  if (ui.els) ui.els.mentionMenu.hidden = true;
}

function pickMention(username) {
  const t = ui.els.composer;
  const q = mentionQuery();
  if (!q) return hideMentionMenu();
  const end = t.selectionStart ?? t.value.length;
  t.value = t.value.slice(0, q.start) + '@' + username + ' ' + t.value.slice(end);
  const caret = q.start + username.length + 2;
  t.setSelectionRange(caret, caret);
  hideMentionMenu();
  t.dispatchEvent(new Event('input'));
  t.focus();
}

// Keys while the mention menu is open; true when the key was used.
function mentionKeys(e) {
  if (!mentionState || ui.els.mentionMenu.hidden) return false;
  const n = mentionState.options.length;
  if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
    mentionState.index = (mentionState.index + (e.key === 'ArrowDown' ? 1 : n - 1)) % n;
    renderMentionMenu();
  } else if (e.key === 'Enter' || e.key === 'Tab') {
    pickMention(mentionState.options[mentionState.index].username);
  } else if (e.key === 'Escape') {
    hideMentionMenu();
    e.stopPropagation();
  } else return false;
  e.preventDefault();
  return true;
}

// ---- timeline lines for membership and settings (issues 14 and 17.4)

// History carries no membership changes: they come only as live `member`
// and `group_updated` events. Each one seen is kept on this device with the
// seq the conversation had reached, so the line survives a reload in its
// place, and only what this page actually heard is ever shown.
const SYSTEM_KEEP = 200; // lines kept per conversation
const systemStoreKey = () => `system:${me()?.id}`;

function loadSystemLines() {
  ui.system.clear();
  const saved = store.get(systemStoreKey());
  for (const [conv, lines] of Object.entries(saved ?? {})) if (Array.isArray(lines)) ui.system.set(conv, lines);
}

function saveSystemLines() {
  const out = {};
  for (const [conv, lines] of ui.system) if (lines.length) out[conv] = lines;
  store.set(systemStoreKey(), out);
}

function dropSystemLines(conv) {
  if (ui.system.delete(conv)) saveSystemLines();
}

// A line kept before its user's name was known (a new member's event
// comes before their profile) takes the name once it is.
function backfillNames(conv) {
  let changed = false;
  for (const x of ui.system.get(conv) ?? []) {
    if (!x.name && knownName(x.user)) changed = !!(x.name = knownName(x.user));
    if (x.by && !x.byName && knownName(x.by)) changed = !!(x.byName = knownName(x.by));
  }
  if (changed) saveSystemLines();
}

/** The highest seq this page holds for a conversation: where a line of now goes. */
function heldUpTo(conv) {
  return Math.max(client.conversations.get(conv)?.last_seq ?? 0, client.messages(conv).at(-1)?.seq ?? 0);
}

/** A user's name as known now (display name first), for keeping beside a line. */
function knownName(id) {
  const u = client.users.get(id);
  return u?.display_name || u?.username || null;
}

function addSystemLine(conv, fields) {
  ui.sysCount = (ui.sysCount ?? 0) + 1;
  const line = { id: `${Date.now().toString(36)}.${ui.sysCount}`, ts: Date.now(), after: heldUpTo(conv), ...fields };
  if (!systemText(line)) return;
  const lines = ui.system.get(conv) ?? [];
  lines.push(line);
  ui.system.set(conv, lines.slice(-SYSTEM_KEEP));
  saveSystemLines();
}

// What this page asked for itself: the `member` events name no actor, so a
// removal or an addition this page requested is told as "You removed …".
const INTENT_MS = 30000;
const intentKey = (conv, username, action) => `${conv}:${String(username).toLowerCase()}:${action}`;
function intend(conv, username, action) {
  ui.intents.set(intentKey(conv, username, action), Date.now() + INTENT_MS);
}
function unintend(conv, username, action) {
  ui.intents.delete(intentKey(conv, username, action));
}
function takeIntent(conv, userId, action) {
  const username = client.users.get(userId)?.username;
  for (const key of [intentKey(conv, `#${userId}`, action), username && intentKey(conv, username, action)]) {
    const until = key && ui.intents.get(key);
    if (until == null) continue;
    ui.intents.delete(key);
    if (until > Date.now()) return true;
  }
  return false;
}

// Someone this page added who was unknown to it: the `added` event could
// not be matched by username, so once the request succeeded their id is
// looked up and the line (or the event still to come) is claimed as ours.
async function claimAdded(conv, username) {
  let id;
  try {
    id = (await client.getUser(username))?.id;
  } catch {
    return;
  }
  if (!id) return;
  const line = (ui.system.get(conv) ?? []).findLast((x) => x.action === 'added' && x.user === id && x.ts > Date.now() - INTENT_MS);
  if (line && !line.by) {
    unintend(conv, username, 'added');
    Object.assign(line, { by: me()?.id, byName: knownName(me()?.id) });
    saveSystemLines();
    if (conv === ui.open) scheduleRender();
  } else if (!line && ui.intents.has(intentKey(conv, username, 'added'))) {
    intend(conv, `#${id}`, 'added');
  }
}

/**
 * The line for a `member` event, or null. The event names no actor; it is
 * known only where the protocol leaves no doubt: admins are made and
 * unmade by the owner alone, a transfer is a new owner followed by the old
 * one made an admin, and what this page asked for was done by "You".
 * Called after the SDK applied the event to the member list.
 */
function memberRecord(f) {
  const c = client.conversations.get(f.conv);
  if (!c || c.kind !== 'group' || !['added', 'removed', 'left', 'banned', 'role'].includes(f.action)) return null;
  // An addition of someone the page already listed is no change: creating
  // a group tells every member of every other one, and a join brings the
  // conversation with its members.
  const roster = ui.roster.get(f.conv);
  if (f.action === 'added' && roster?.has(f.user)) return null;
  if (f.action === 'added') roster?.add(f.user);
  if (f.action === 'removed' || f.action === 'left' || f.action === 'banned') roster?.delete(f.user);
  const rec = { action: f.action, user: f.user, name: knownName(f.user) };
  let by = takeIntent(f.conv, f.user, f.action) ? me()?.id : null;
  if (f.action === 'role') {
    if (!['owner', 'admin', 'member'].includes(f.role)) return null;
    rec.role = f.role;
    const members = c.members ?? [];
    const handover = ui.handover.get(f.conv);
    if (f.role === 'owner') {
      // "X is now the owner" until the transfer's second event says who gave it.
      const old = members.find((m) => m.role === 'owner' && m.id !== f.user);
      if (old) ui.handover.set(f.conv, { from: old.id, to: f.user });
      by = null;
    } else if (f.role === 'admin' && handover?.from === f.user) {
      ui.handover.delete(f.conv);
      const line = (ui.system.get(f.conv) ?? []).findLast((x) => x.action === 'role' && x.role === 'owner' && x.user === handover.to);
      if (line && !line.by) Object.assign(line, { by: f.user, byName: knownName(f.user) });
      by = null; // the old owner, now an admin: saved with this line
    } else {
      by = members.find((m) => m.role === 'owner')?.id ?? null;
    }
  }
  if (by) Object.assign(rec, { by, byName: knownName(by) });
  return rec;
}

/** The words of a timeline line, or null for a kind this page does not know. */
function systemText(x) {
  const myId = me()?.id;
  const nameOf = (id, saved) => client.users.get(id)?.display_name || client.users.get(id)?.username || saved || 'someone';
  const mine = x.user === myId;
  const who = mine ? 'You' : nameOf(x.user, x.name);
  const whom = mine ? 'you' : nameOf(x.user, x.name);
  const by = x.by ? (x.by === myId ? 'You' : nameOf(x.by, x.byName)) : null;
  const quoted = (t) => `“${t.length > 80 ? t.slice(0, 80) + '…' : t}”`;
  switch (x.action) {
    case 'added':
      return by && x.by !== x.user ? `${by} added ${whom}` : `${who} joined`;
    case 'removed':
      if (by) return `${by} removed ${whom}`;
      return mine ? 'You were removed from this group' : `${who} was removed`;
    case 'banned':
      return by ? `${by} banned ${whom}` : `${who} ${mine ? 'were' : 'was'} banned`;
    case 'left':
      return `${who} left`;
    case 'role': {
      const is = mine ? 'are' : 'is';
      if (x.role === 'owner') return by ? `${by} made ${whom} the owner` : `${who} ${is} now the owner`;
      if (x.role === 'admin') return by ? `${by} made ${whom} an admin` : `${who} ${is} now an admin`;
      return by ? `${by} removed ${whom} as an admin` : `${who} ${is} no longer an admin`;
    }
    case 'title':
      return `${by ?? 'Someone'} renamed the group ${quoted(x.title ?? '')}`;
    case 'topic':
      return x.topic ? `${by ?? 'Someone'} changed the topic to ${quoted(x.topic)}` : `${by ?? 'Someone'} removed the topic`;
    case 'settings':
      return `${by ?? 'Someone'} changed the group’s name or topic`;
    default:
      return null;
  }
}

/**
 * Remembers a group as first seen: its title and topic, so a
 * `group_updated` can say what changed, and its members, so an `added`
 * event that repeats them makes no line.
 */
function noteGroup(c) {
  if (c?.kind !== 'group') return;
  if (!ui.groupSeen.has(c.id)) ui.groupSeen.set(c.id, { title: c.title ?? '', topic: c.topic ?? '' });
  if (!ui.roster.has(c.id)) ui.roster.set(c.id, new Set((c.members ?? []).map((m) => m.id)));
}

function groupUpdatedLines(f) {
  const prev = ui.groupSeen.get(f.conv);
  const now = { title: f.title ?? '', topic: f.topic ?? '' };
  ui.groupSeen.set(f.conv, now);
  const by = { by: f.by, byName: knownName(f.by) };
  if (!prev) return addSystemLine(f.conv, { action: 'settings', ...by });
  if (prev.title !== now.title) addSystemLine(f.conv, { action: 'title', title: now.title, ...by });
  if (prev.topic !== now.topic) addSystemLine(f.conv, { action: 'topic', topic: now.topic, ...by });
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
  fill(typing, h('span.typing-dots', { 'aria-hidden': 'true' }, h('i'), h('i'), h('i')), h('span', null, text + '…'));
}

// ---- members panel (roles and what each member's card offers, issue 14)

function toggleMembers() {
  ui.membersOpen = !ui.membersOpen;
  renderPanel(true);
  if (ui.membersOpen) ui.els.panel.querySelector('input,button')?.focus();
}

const ROLE_LABEL = { owner: 'Owner', admin: 'Admin' };
const ROLE_RANK = { owner: 0, admin: 1, member: 2 };
const roleIn = (c, userId) => (c?.members ?? []).find((m) => m.id === userId)?.role ?? null;
const byRoleThenName = (a, b) => (ROLE_RANK[a.role] ?? 3) - (ROLE_RANK[b.role] ?? 3) || displayName(a.id).localeCompare(displayName(b.id));

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
  const sig = JSON.stringify([
    c.id, c.member_count, c.members, c.removed,
    (c.members ?? []).map((m) => [client.users.get(m.id)?.online, client.users.get(m.id)?.display_name, lastSeenText(client.users.get(m.id))]),
  ]);
  if (panel._sig === sig && !force) return;
  panel._sig = sig;
  const myRole = roleIn(c, me()?.id);
  const canManage = c.kind === 'group' && !c.removed && (myRole === 'owner' || myRole === 'admin');
  const err = h('p.field-error', { role: 'alert' });
  const addInput = h('input', { testid: 'member-add-username', placeholder: 'Username', 'aria-label': 'Username to add', autocapitalize: 'none', spellcheck: 'false' });
  const members = [...(c.members ?? [])].sort(byRoleThenName);
  fill(
    panel,
    h(
      'header.panel-head',
      null,
      h('h3', null, c.kind === 'dm' ? 'Details' : `Members · ${memberCount(c)}`),
      h('button.icon-btn', { type: 'button', 'aria-label': 'Close', onclick: toggleMembers }, icon.close()),
    ),
    canManage
      ? h(
          'form.add-member',
          {
            onsubmit: async (e) => {
              e.preventDefault();
              const u = addInput.value.trim().replace(/^@/, '').toLowerCase();
              if (!u) return;
              err.textContent = '';
              intend(c.id, u, 'added');
              try {
                await client.addMember(c.id, u);
                addInput.value = '';
                if (ui.intents.has(intentKey(c.id, u, 'added'))) claimAdded(c.id, u); // not matched yet
              } catch (ex) {
                unintend(c.id, u, 'added');
                err.textContent = ex.code === 'not_found' ? `No user named “${u}”.` : friendlyError(ex);
              }
            },
          },
          addInput,
          h('button.btn.primary.small', { testid: 'member-add', type: 'submit' }, 'Add'),
        )
      : null,
    canManage
      ? h('button.btn.ghost.small.invite-shortcut', { type: 'button', testid: 'invite-open', onclick: () => openGroupSettings(c.id, { focus: 'invites' }) }, icon.link(), 'Invite with a link')
      : null,
    err,
    h('ul.member-list', null, members.map((m) => memberRow(c, m))),
    c.kind === 'group' && !c.removed
      ? h('button.btn.danger-outline.leave', { testid: 'leave', type: 'button', onclick: () => leaveGroup(c.id, err) }, 'Leave group')
      : null,
  );
}

function memberRow(c, m) {
  const u = client.users.get(m.id);
  const isMe = m.id === me()?.id;
  const name = displayName(m.id);
  // "@username" only where a display name hides it.
  const handle = name !== m.username && m.username ? `@${m.username} · ` : '';
  const who = [
    avatar(name, m.id, { online: isMe ? true : !!u?.online, size: 'sm' }),
    h(
      'span.member-text',
      null,
      h(
        'span.member-top',
        null,
        h('span.member-name', { dir: 'auto' }, name + (isMe ? ' (you)' : '')),
        ROLE_LABEL[m.role] ? h('span.role', { testid: 'member-role', 'data-role': m.role }, ROLE_LABEL[m.role]) : null,
      ),
      h('span.member-sub.muted', null, handle + (isMe ? 'Online' : lastSeenText(u))),
    ),
  ];
  const open = () => openUserCard(m.id, { conv: c.id });
  return h(
    'li.member',
    { testid: 'member', 'data-username': m.username, 'data-role': m.role },
    isMe ? h('span.member-main', null, who) : h('button.member-main', { type: 'button', title: `About ${name}`, onclick: open }, who),
    isMe
      ? null
      : h('button.icon-btn.member-more', { type: 'button', testid: 'member-menu', 'aria-label': `Actions for ${name}`, 'aria-haspopup': 'dialog', title: 'Actions', onclick: open }, icon.more()),
  );
}

/**
 * What the signed-in user may do to member m of group c, by PROTOCOL.md §7:
 * the owner promotes, demotes, hands over, removes and bans anyone; an
 * admin removes and bans plain members only.
 */
function memberActions(c, m) {
  const mine = roleIn(c, me()?.id);
  if (!m || c?.kind !== 'group' || c.removed || m.id === me()?.id || (mine !== 'owner' && mine !== 'admin')) return [];
  const acts = [];
  const run = (what) => () => moderate(c.id, m, what);
  if (mine === 'owner') {
    if (m.role === 'member') acts.push({ id: 'member-promote', label: 'Make admin', icon: icon.star, run: run('promote') });
    if (m.role === 'admin') acts.push({ id: 'member-demote', label: 'Remove as admin', icon: icon.starOff, run: run('demote') });
    acts.push({ id: 'member-transfer', label: 'Make owner…', icon: icon.swap, run: run('transfer') });
  }
  if (mine === 'owner' || m.role === 'member') {
    acts.push({ id: 'member-remove', label: 'Remove from group…', icon: icon.personOff, danger: true, run: run('remove') });
    acts.push({ id: 'member-ban', label: 'Ban from group…', icon: icon.block, danger: true, run: run('ban') });
  }
  return acts;
}

// One place for the role and membership requests, each confirmed first
// where it cannot simply be undone, saying what it means.
async function moderate(conv, m, what) {
  const c = client.conversations.get(conv);
  if (!c) return;
  const name = displayName(m.id);
  const title = convTitle(c);
  const ask = {
    remove: `Remove ${name} from “${title}”? They will no longer see its messages.`,
    ban: `Ban ${name} from “${title}”? They are removed, and cannot be added again or join with an invite link until the owner or an admin unbans them.`,
    transfer:
      `Make ${name} the owner of “${title}”?\n\n` +
      `The owner decides who is an admin, changes the group’s settings and can remove or ban anyone, you included. ` +
      `You become an admin, and only ${name} can make you the owner again.`,
  }[what];
  if (ask && !confirm(ask)) return;
  const action = { remove: 'removed', ban: 'banned' }[what];
  if (action) intend(conv, m.username, action);
  try {
    if (what === 'promote') await client.setRole(conv, m.username, 'admin');
    else if (what === 'demote') await client.setRole(conv, m.username, 'member');
    else if (what === 'transfer') await client.transfer(conv, m.username);
    else if (what === 'remove') await client.removeMember(conv, m.username);
    else if (what === 'ban') await client.ban(conv, m.username);
  } catch (e) {
    if (action) unintend(conv, m.username, action);
    const verb = { promote: 'make them an admin', demote: 'change their role', transfer: 'hand the group over', remove: 'remove them', ban: 'ban them' }[what];
    toast(`Could not ${verb}: ${friendlyError(e)}`);
  }
}

// Leaving: an owner with others in the group is asked to hand it over first.
async function leaveGroup(conv, err) {
  const c = client.conversations.get(conv);
  if (!c) return;
  if (roleIn(c, me()?.id) === 'owner' && (c.members ?? []).some((m) => m.id !== me()?.id)) return openHandover(c);
  const warning =
    memberCount(c) > 1 ? `Leave “${convTitle(c)}”? You will stop receiving its messages.` : `Leave “${convTitle(c)}”? You are its only member, so nobody will be left in it.`;
  if (!confirm(warning)) return;
  try {
    await client.leave(conv);
    ui.membersOpen = false;
    openConversation(null);
  } catch (ex) {
    err.textContent = friendlyError(ex);
  }
}

function openHandover(c) {
  document.getElementById('handover')?.remove();
  const others = (c.members ?? []).filter((m) => m.id !== me()?.id).sort(byRoleThenName);
  const select = h(
    'select',
    { testid: 'handover-to', id: 'handover-to' },
    others.map((m) => h('option', { value: m.username }, displayName(m.id) + (m.role === 'admin' ? ' (admin)' : ''))),
  );
  const err = h('p.form-error', { role: 'alert' });
  const buttons = [];
  const leave = async (to) => {
    err.textContent = '';
    buttons.forEach((b) => (b.disabled = true));
    try {
      if (to) await client.transfer(c.id, to);
      await client.leave(c.id);
      dialog.close();
      ui.membersOpen = false;
      openConversation(null);
    } catch (e) {
      err.textContent = friendlyError(e);
      buttons.forEach((b) => (b.disabled = false));
    }
  };
  buttons.push(
    h('button.btn.ghost', { type: 'button', testid: 'handover-cancel', onclick: () => dialog.close() }, 'Cancel'),
    h('button.btn.danger-outline', { type: 'button', testid: 'leave-anyway', onclick: () => leave(null) }, 'Leave without choosing'),
    h('button.btn.primary', { type: 'submit', testid: 'handover-confirm' }, 'Hand over and leave'),
  );
  const dialog = h(
    'dialog.group-dialog',
    { id: 'handover', testid: 'leave-handover', 'aria-labelledby': 'handover-title', onclose: () => dialog.remove() },
    h(
      'form',
      { onsubmit: (e) => (e.preventDefault(), leave(select.value)) },
      h('h2', { id: 'handover-title' }, 'Hand the group over first'),
      h('p.muted', null, `You own “${convTitle(c)}”. Choose who owns it after you leave: they decide who is an admin, change its settings and can remove anyone.`),
      h('label', { for: 'handover-to' }, 'Next owner'),
      select,
      h('p.hint.muted', null, 'If you leave without choosing, the admin who joined first becomes the owner, or the member who joined first when there is no admin. Either way you cannot undo it.'),
      err,
      h('div.dialog-actions.wrap', null, buttons),
    ),
  );
  document.body.append(dialog);
  dialog.showModal();
  select.focus();
}

// ---- a user's card: who they are, a DM, block; and in a group, what a manager may do

function openUserCard(userId, { conv } = {}) {
  closeOverlays();
  const c = conv ? client.conversations.get(conv) : null;
  const m = (c?.members ?? []).find((x) => x.id === userId) ?? null;
  const u = client.users.get(userId) ?? {};
  const username = u.username || m?.username || '';
  const name = displayName(userId);
  const isMe = userId === me()?.id;
  const blocked = ui.blocked.has(username);
  const rows = [
    isMe || !username ? null : { id: 'user-message', label: 'Send a message', icon: icon.chat, run: () => messageUser(username) },
    ...memberActions(c, m),
    isMe || !username
      ? null
      : blocked
        ? { id: 'user-unblock', label: 'Unblock', icon: icon.block, run: () => setBlocked(username, false) }
        : { id: 'user-block', label: 'Block…', icon: icon.block, danger: true, run: () => setBlocked(username, true) },
  ].filter(Boolean);
  const close = () => wrap.remove();
  const wrap = h(
    'div.sheet-wrap.card-wrap',
    { onclick: (e) => e.target === wrap && close() },
    h(
      'div.sheet.user-card',
      { testid: 'user-card', role: 'dialog', 'aria-label': name, 'data-username': username },
      h(
        'div.card-head',
        null,
        avatar(name, userId, { online: isMe ? true : !!u.online, size: 'lg' }),
        h(
          'div.card-who',
          null,
          h('div.card-name', { dir: 'auto' }, name),
          username && username !== name ? h('div.card-sub.muted', null, `@${username}`) : null,
          h('div.card-sub.muted', { testid: 'user-card-presence' }, isMe ? 'Online' : lastSeenText(u)),
        ),
        ROLE_LABEL[m?.role] ? h('span.role', null, ROLE_LABEL[m.role]) : null,
        h('button.icon-btn', { type: 'button', 'aria-label': 'Close', onclick: close }, icon.close()),
      ),
      blocked ? h('p.card-note', { testid: 'user-card-blocked' }, 'You blocked them: they cannot message you or add you to groups.') : null,
      h(
        'div.sheet-actions',
        null,
        rows.map((a) => h('button.sheet-btn' + (a.danger ? '.danger' : ''), { type: 'button', testid: a.id, onclick: () => (close(), a.run()) }, a.icon(), a.label)),
      ),
    ),
  );
  document.body.append(wrap);
  wrap.querySelector('.sheet-btn, .icon-btn')?.focus();
}

function headClicked() {
  const c = ui.open ? client.conversations.get(ui.open) : null;
  if (!c) return;
  if (c.kind === 'dm') {
    const peer = peerOf(c);
    if (peer) openUserCard(peer.id);
  } else if (!c.removed) openGroupSettings(c.id);
}

/** Opens (or finds) the DM with a user; says so when that cannot be done. */
async function messageUser(username, errEl) {
  try {
    const c = await client.dm(username);
    if (!ui.learnedAt.has(c.id) && !lastMessage(c.id)) ui.learnedAt.set(c.id, Date.now());
    openConversation(c.id);
    return true;
  } catch (e) {
    // A 403 here says no more than the server does: it does not tell why.
    const text = e.code === 'not_found' ? `No user named “${username}”.` : e.code === 'forbidden' ? 'You can’t start a conversation with this user.' : friendlyError(e);
    if (errEl) errEl.textContent = text;
    else toast(text);
    return false;
  }
}

// ---- blocks (PROTOCOL.md §7): the blocked user is never told

async function loadBlocks() {
  try {
    const users = await client.blocks();
    ui.blocked = new Map(users.map((u) => [u.username, u]));
    ui.blocksLoaded = true;
    if (ui.els && ui.open) renderChrome();
    return users;
  } catch {
    return null; // asked again at the next welcome
  }
}

async function setBlocked(username, on) {
  const u = [...client.users.values()].find((x) => x.username === username);
  const name = u ? displayName(u.id) : username;
  if (on && !confirm(`Block ${name}?\n\nThey won’t be able to message you, start a conversation with you or add you to a group. They are not told, and you can unblock them at any time.`)) return false;
  try {
    if (on) await client.block(username);
    else await client.unblock(username);
    if (on) ui.blocked.set(username, u ?? { username });
    else ui.blocked.delete(username);
    toast(on ? `You blocked ${name}` : `You unblocked ${name}`);
    if (ui.els && ui.open) renderChrome();
    return true;
  } catch (e) {
    toast(`Could not ${on ? 'block' : 'unblock'} ${name}: ${friendlyError(e)}`);
    return false;
  }
}

// A DM where the server refused our message with 403 says only that
// messages can't be sent there: the server's answer says no more, and
// neither may the page. Kept on this device until a message goes through.
const refusedStoreKey = () => `refused:${me()?.id}`;
function loadRefused() {
  ui.refused = new Set(store.get(refusedStoreKey()) ?? []);
}
function setRefused(conv, on) {
  if (on === ui.refused.has(conv)) return;
  if (on) ui.refused.add(conv);
  else ui.refused.delete(conv);
  if (ui.refused.size) store.set(refusedStoreKey(), [...ui.refused]);
  else store.remove(refusedStoreKey());
  if (ui.els && conv === ui.open) {
    renderChrome();
    scheduleRender();
  }
}
function noteRefusals() {
  for (const i of client.outbox) {
    if (i.type === 'send' && i.status === 'failed' && i.error?.code === 'forbidden' && client.conversations.get(i.conv)?.kind === 'dm') setRefused(i.conv, true);
  }
}
/** Whether a failed message of this conversation failed for the DM's 403 (its error is not kept across a reload). */
function refusedHere(conv, error) {
  if (client.conversations.get(conv)?.kind !== 'dm') return false;
  return error ? error.code === 'forbidden' : ui.refused.has(conv);
}

/** The note above the composer: a DM we can't send into, or a peer we blocked. */
function renderChatNote(c, peer) {
  const note = ui.els.chatNote;
  const blockedPeer = c.kind === 'dm' && peer?.username && ui.blocked.has(peer.username);
  const refused = c.kind === 'dm' && ui.refused.has(c.id);
  if (!blockedPeer && !refused) {
    note.hidden = true;
    delete note.dataset.testid;
    note.replaceChildren();
    return;
  }
  note.hidden = false;
  if (refused) {
    note.dataset.testid = 'send-refused';
    fill(note, icon.alert(), h('span', null, 'Messages can’t be sent in this conversation.'));
  } else {
    note.dataset.testid = 'blocked-note';
    fill(
      note,
      icon.block(),
      h('span', null, `You blocked ${displayName(peer.id)}. They can’t send you messages.`),
      h('button.link', { type: 'button', testid: 'blocked-note-unblock', onclick: () => setBlocked(peer.username, false) }, 'Unblock'),
    );
  }
}

// ---- group settings: name, topic, invite links, unban (issue 14)

const dateTimeFmt = new Intl.DateTimeFormat(undefined, { month: 'short', day: 'numeric', hour: 'numeric', minute: '2-digit' });
const utf8Bytes = (s) => new TextEncoder().encode(s).length;

// The server lists no invites: the links made here are kept on this
// device (until they expire) so they can be copied and revoked.
const invitesStoreKey = () => `invites:${me()?.id}`;
function invitesOf(conv) {
  const all = store.get(invitesStoreKey()) ?? {};
  return (all[conv] ?? []).filter((i) => i.expires_at > Date.now());
}
function saveInvites(conv, list) {
  const all = store.get(invitesStoreKey()) ?? {};
  if (list.length) all[conv] = list;
  else delete all[conv];
  store.set(invitesStoreKey(), all);
}
const inviteUrl = (code) => `${location.origin}${location.pathname}#/invite/${encodeURIComponent(code)}`;

function openGroupSettings(conv, { focus } = {}) {
  const c = client.conversations.get(conv);
  if (!c || c.kind !== 'group') return;
  document.getElementById('group-settings')?.remove();
  closeOverlays();
  const myRole = roleIn(c, me()?.id);
  const canManage = !c.removed && (myRole === 'owner' || myRole === 'admin');
  const section = settingsSection;
  const status = statusNote;

  // Name and topic: the owner and admins change them; everyone sees them.
  const titleInput = h('input', { testid: 'group-title-edit', id: 'group-title-edit', maxlength: '200', dir: 'auto', autocomplete: 'off', disabled: !canManage });
  titleInput.value = c.title ?? '';
  const topicInput = h('textarea.topic-input', { testid: 'group-topic-edit', id: 'group-topic-edit', rows: '3', dir: 'auto', placeholder: canManage ? 'What this group is about (optional)' : 'No topic', disabled: !canManage });
  topicInput.value = c.topic ?? '';
  const infoNote = status('group-settings-status');
  const infoForm = h(
    'form.settings-col',
    {
      onsubmit: async (e) => {
        e.preventDefault();
        const cur = client.conversations.get(conv);
        const title = titleInput.value.trim();
        const topic = topicInput.value.trim();
        if (utf8Bytes(title) < 1 || utf8Bytes(title) > 200) return (infoNote.textContent = 'A group’s name has 1 to 200 bytes.');
        if (utf8Bytes(topic) > 500) return (infoNote.textContent = `A topic has at most 500 bytes (this one has ${utf8Bytes(topic)}).`);
        const change = {};
        if (title !== (cur?.title ?? '')) change.title = title;
        if (topic !== (cur?.topic ?? '')) change.topic = topic;
        if (!Object.keys(change).length) return (infoNote.textContent = 'Nothing has changed.');
        try {
          await client.updateGroup(conv, change);
          infoNote.textContent = 'Saved. Everyone in the group sees it now.';
        } catch (ex) {
          infoNote.textContent = friendlyError(ex);
        }
      },
    },
    h('label', { for: 'group-title-edit' }, 'Name'),
    titleInput,
    h('label', { for: 'group-topic-edit' }, 'Topic'),
    topicInput,
    canManage ? h('button.btn.primary.small', { type: 'submit', testid: 'group-settings-save' }, 'Save') : h('p.muted', null, 'Only the owner and admins change the name and topic.'),
  );

  // Invite links.
  const maxUses = h(
    'select',
    { testid: 'invite-max-uses', id: 'invite-max-uses' },
    [['', 'No limit'], ['1', '1 use'], ['5', '5 uses'], ['10', '10 uses'], ['25', '25 uses'], ['100', '100 uses']].map(([v, l]) => h('option', { value: v }, l)),
  );
  const expiry = h(
    'select',
    { testid: 'invite-expiry', id: 'invite-expiry' },
    [['3600', '1 hour'], ['86400', '1 day'], ['604800', '7 days'], ['2592000', '30 days']].map(([v, l]) => h('option', { value: v }, l)),
  );
  expiry.value = '604800';
  const inviteNote = status('invite-status');
  const inviteList = h('ul.invite-list', { testid: 'invite-list' });
  const drawInvites = () => fill(inviteList, invitesOf(conv).map((inv) => inviteEl(conv, inv, drawInvites, inviteNote)));
  const createBtn = h('button.btn.primary.small', { type: 'submit', testid: 'invite-create' }, icon.link(), 'Create link');
  const inviteForm = h(
    'form.invite-form',
    {
      onsubmit: async (e) => {
        e.preventDefault();
        createBtn.disabled = true;
        inviteNote.textContent = '';
        try {
          const inv = await client.createInvite(conv, { maxUses: maxUses.value ? Number(maxUses.value) : null, expiresInS: Number(expiry.value) });
          saveInvites(conv, [inv, ...invitesOf(conv)]);
          drawInvites();
          inviteNote.textContent = 'Link created: copy it and send it to the people you want in.';
        } catch (ex) {
          inviteNote.textContent = `Could not create a link: ${friendlyError(ex)}`;
        } finally {
          createBtn.disabled = false;
        }
      },
    },
    h('label.inline', null, h('span', null, 'Uses'), maxUses),
    h('label.inline', null, h('span', null, 'Expires after'), expiry),
    createBtn,
  );
  drawInvites();

  // Unban: the server keeps the list of bans; an unban names the user.
  const unbanInput = h('input', { testid: 'unban-username', placeholder: 'Username', autocapitalize: 'none', spellcheck: 'false', 'aria-label': 'Username to unban' });
  const unbanNote = status('unban-status');
  const unbanForm = h(
    'form.settings-row',
    {
      onsubmit: async (e) => {
        e.preventDefault();
        const u = unbanInput.value.trim().replace(/^@/, '').toLowerCase();
        if (!u) return unbanInput.focus();
        try {
          await client.unban(conv, u);
          unbanInput.value = '';
          unbanNote.textContent = `${u} is no longer banned: they can be added again or join with a link.`;
        } catch (ex) {
          unbanNote.textContent = ex.code === 'not_found' ? `Nobody named “${u}” is banned from this group.` : friendlyError(ex);
        }
      },
    },
    unbanInput,
    h('button.btn.secondary.small', { type: 'submit', testid: 'unban-submit' }, 'Unban'),
  );

  const invitesSection = canManage
    ? section(
        'Invite links',
        h('p.muted', null, 'Anyone with a link can join until it is used up or expires. The links you make on this device are listed here.'),
        inviteForm,
        inviteNote,
        inviteList,
      )
    : null;
  const dialog = showSettingsDialog('group-settings', 'Group settings', [
    section('Name and topic', infoForm, infoNote),
    invitesSection,
    canManage ? section('Banned', h('p.muted', null, 'Someone banned cannot be added or join with a link until unbanned.'), unbanForm, unbanNote) : null,
    canManage ? webhooksSection(conv) : null,
  ]);
  if (focus === 'invites' && invitesSection) {
    invitesSection.scrollIntoView({ block: 'start' });
    maxUses.focus();
  } else (canManage ? titleInput : dialog.querySelector('.icon-btn')).focus();
}

function inviteEl(conv, inv, redraw, note) {
  const url = inviteUrl(inv.code);
  const field = h('input.invite-url', { testid: 'invite-url', readonly: true, 'aria-label': 'Invite link', onfocus: (e) => e.target.select() });
  field.value = url;
  const uses = inv.max_uses == null ? 'No limit on uses' : `Up to ${inv.max_uses} use${inv.max_uses === 1 ? '' : 's'}`;
  return h(
    'li.invite',
    { testid: 'invite', 'data-code': inv.code },
    field,
    h(
      'div.invite-meta',
      null,
      h('span.muted', null, `${uses} · expires ${dateTimeFmt.format(inv.expires_at)}`),
      h(
        'span.invite-btns',
        null,
        h('button.btn.secondary.small', { type: 'button', testid: 'invite-copy', onclick: () => copyText(url) }, icon.copy(), 'Copy'),
        h(
          'button.btn.danger-outline.small',
          {
            type: 'button', testid: 'invite-revoke',
            onclick: async () => {
              if (!confirm('Revoke this link? Nobody can join with it any more; whoever joined with it stays.')) return;
              try {
                await client.revokeInvite(conv, inv.code);
              } catch (ex) {
                if (ex.code !== 'not_found') return (note.textContent = `Could not revoke the link: ${friendlyError(ex)}`);
              }
              saveInvites(conv, invitesOf(conv).filter((x) => x.code !== inv.code));
              redraw();
              note.textContent = 'Link revoked.';
            },
          },
          'Revoke',
        ),
      ),
    ),
  );
}

// ---- joining with an invite link: /#/invite/CODE, kept across signing in

const INVITE_KEY = 'parley:invite';
let inviteHeld = null; // when sessionStorage is unavailable
function pendingInvite() {
  try {
    return sessionStorage.getItem(INVITE_KEY) ?? inviteHeld;
  } catch {
    return inviteHeld;
  }
}
function setPendingInvite(code) {
  inviteHeld = code;
  try {
    if (code) sessionStorage.setItem(INVITE_KEY, code);
    else sessionStorage.removeItem(INVITE_KEY);
  } catch {
    /* kept in inviteHeld */
  }
}

/** Takes an invite code out of the address (so a reload does not join twice); true when there was one. */
function takeInviteFromUrl() {
  const m = /^#\/invite\/([^/?#]+)\/?$/.exec(location.hash);
  if (!m) return false;
  let code = m[1];
  try {
    code = decodeURIComponent(code);
  } catch {
    /* not %-encoded: as it is */
  }
  setPendingInvite(code);
  history.replaceState(null, '', location.pathname + location.search);
  return true;
}

let joiningInvite = false;
async function joinPendingInvite() {
  const code = pendingInvite();
  if (!code || joiningInvite || !client.session) return;
  joiningInvite = true;
  try {
    const c = await client.joinInvite(code);
    setPendingInvite(null);
    if (!ui.learnedAt.has(c.id)) ui.learnedAt.set(c.id, Date.now());
    if (ui.els) openConversation(c.id);
  } catch (e) {
    if (['network', 'unavailable', 'rate_limited', 'internal', 'timeout'].includes(e.code)) return; // tried again at the next welcome
    setPendingInvite(null);
    if (e.code !== 'unauthorized') inviteProblem(e);
  } finally {
    joiningInvite = false;
  }
}

// The server answers 404 alike for an unknown, used-up or expired code.
function inviteProblem(e) {
  document.getElementById('invite-error')?.remove();
  const text =
    e.code === 'not_found'
      ? 'This invite link no longer works: it has expired, been used up or been revoked. Ask whoever sent it for a new one.'
      : e.code === 'forbidden'
        ? 'You can’t join this group with this link.'
        : `Could not join the group: ${friendlyError(e)}`;
  const dialog = h(
    'dialog.group-dialog',
    { id: 'invite-error', testid: 'invite-error', 'aria-labelledby': 'invite-error-title', onclose: () => dialog.remove() },
    h(
      'form',
      { method: 'dialog' },
      h('h2', { id: 'invite-error-title' }, 'Invite link'),
      h('p', { testid: 'invite-error-text' }, text),
      h('div.dialog-actions', null, h('button.btn.primary', { type: 'submit', testid: 'invite-error-ok' }, 'OK')),
    ),
  );
  document.body.append(dialog);
  dialog.showModal();
}

// ---- settings (issue 17.5)

function openSettings() {
  document.getElementById('settings')?.remove();
  const u = me();
  const status = statusNote;
  const section = settingsSection;

  const nameInput = h('input', { testid: 'display-name', id: 'display-name', maxlength: '64', autocomplete: 'name', dir: 'auto', placeholder: u.username });
  nameInput.value = u.display_name ?? '';
  const nameNote = status('display-name-status');
  const nameForm = h(
    'form.settings-row',
    {
      onsubmit: async (e) => {
        e.preventDefault();
        const v = nameInput.value.trim();
        const bytes = new TextEncoder().encode(v).length;
        if (bytes < 1 || bytes > 64) return (nameNote.textContent = 'A display name has 1 to 64 bytes.');
        try {
          await client.updateProfile({ display_name: v });
          nameNote.textContent = 'Saved. Others see it now.';
        } catch (ex) {
          nameNote.textContent = friendlyError(ex);
        }
      },
    },
    nameInput,
    h('button.btn.primary.small', { type: 'submit', testid: 'display-name-save' }, 'Save'),
  );

  const oldPw = h('input', { type: 'password', testid: 'password-old', autocomplete: 'current-password', placeholder: 'Current password', 'aria-label': 'Current password' });
  const newPw = h('input', { type: 'password', testid: 'password-new', autocomplete: 'new-password', placeholder: 'New password (at least 8 characters)', 'aria-label': 'New password' });
  const pwNote = status('password-status');
  const pwForm = h(
    'form.settings-col',
    {
      onsubmit: async (e) => {
        e.preventDefault();
        if (new TextEncoder().encode(newPw.value).length < 8) return (pwNote.textContent = 'The new password needs at least 8 characters.');
        try {
          await client.changePassword(oldPw.value, newPw.value);
          oldPw.value = newPw.value = '';
          pwNote.textContent = 'Password changed. Your other devices are signed out.';
        } catch (ex) {
          pwNote.textContent = ex.code === 'forbidden' ? 'The current password is wrong.' : friendlyError(ex);
        }
      },
    },
    oldPw,
    newPw,
    h('button.btn.secondary.small', { type: 'submit', testid: 'password-change' }, 'Change password'),
  );

  const exportNote = status('export-status');
  const exportBtn = h(
    'button.btn.secondary.small',
    {
      type: 'button', testid: 'export-data',
      onclick: async () => {
        exportNote.textContent = 'Preparing…';
        try {
          const { blob, filename } = await client.exportData();
          const href = URL.createObjectURL(blob);
          const a = h('a', { href, download: filename, hidden: true });
          document.body.append(a);
          a.click();
          a.remove();
          setTimeout(() => URL.revokeObjectURL(href), 10000);
          exportNote.textContent = `Saved as ${filename}.`;
        } catch (ex) {
          exportNote.textContent = `Could not download your data: ${friendlyError(ex)}`;
        }
      },
    },
    'Download my data',
  );

  const sessionNote = status('logout-all-status');
  const logoutAll = h(
    'button.btn.secondary.small',
    {
      type: 'button', testid: 'logout-all',
      onclick: async () => {
        if (!confirm('Sign out on every device, this one included?')) return;
        try {
          await client.logoutAll();
          signedOut('You were signed out everywhere.');
        } catch (ex) {
          sessionNote.textContent = friendlyError(ex);
        }
      },
    },
    'Sign out everywhere',
  );

  const delPw = h('input', { type: 'password', testid: 'delete-password', autocomplete: 'current-password', placeholder: 'Your password', 'aria-label': 'Password to delete the account' });
  const delNote = status('delete-status');
  const delConfirm = h(
    'form.settings-col.delete-confirm',
    {
      hidden: true,
      onsubmit: async (e) => {
        e.preventDefault();
        try {
          await client.deleteAccount(delPw.value);
          signedOut('Your account was deleted.');
        } catch (ex) {
          delNote.textContent = ex.code === 'forbidden' ? 'The password is wrong.' : friendlyError(ex);
        }
      },
    },
    h(
      'ul.consequences',
      { testid: 'delete-consequences' },
      h('li', null, 'You are signed out on every device and cannot sign in again.'),
      h('li', null, 'You leave every group; direct messages stay with the other person.'),
      h('li', null, 'Your messages stay in their conversations.'),
      h('li', null, `Your username @${u.username} stays taken, so nobody can pass for you.`),
      h('li', null, 'This cannot be undone. Download your data first if you want a copy.'),
    ),
    delPw,
    h('button.btn.danger-outline.small', { type: 'submit', testid: 'delete-account-confirm' }, 'Delete my account for good'),
  );
  const del = h('button.btn.danger-outline.small', { type: 'button', testid: 'delete-account', onclick: () => ((delConfirm.hidden = false), delPw.focus()) }, 'Delete account…');

  // The people you block, fetched fresh: another device may have changed them.
  const blockedList = h('ul.blocked-list', { testid: 'blocked-list' }, h('li.muted', null, 'Loading…'));
  const drawBlocked = () =>
    fill(
      blockedList,
      ui.blocked.size
        ? [...ui.blocked.values()]
            .sort((a, b) => a.username.localeCompare(b.username))
            .map((b) =>
              h(
                'li.blocked-user',
                { testid: 'blocked-user', 'data-username': b.username },
                avatar(b.display_name || b.username, b.id ?? b.username, { size: 'sm' }),
                h(
                  'span.member-text',
                  null,
                  h('span.member-name', { dir: 'auto' }, b.display_name || b.username),
                  b.display_name && b.display_name !== b.username ? h('span.member-sub.muted', null, `@${b.username}`) : null,
                ),
                h('button.btn.secondary.small', { type: 'button', testid: 'blocked-unblock', onclick: async () => (await setBlocked(b.username, false)) && drawBlocked() }, 'Unblock'),
              ),
            )
        : h('li.muted', { testid: 'blocked-none' }, 'You haven’t blocked anyone.'),
    );
  loadBlocks().then((users) => (users ? drawBlocked() : fill(blockedList, h('li.muted', null, 'Could not load the list. Try again when connected.'))));

  showSettingsDialog('settings', 'Settings', [
    section('Display name', h('p.muted', null, `Shown to others instead of your username, @${u.username}.`), nameForm, nameNote),
    notificationSection(),
    section('Password', pwForm, pwNote),
    section('Your data', h('p.muted', null, 'Everything Parley keeps about you, as a JSON file.'), exportBtn, exportNote),
    section('Blocked people', h('p.muted', null, 'They can’t message you, start a conversation with you or add you to groups. They are not told.'), blockedList),
    botsSection(),
    section('Sessions', h('p.muted', null, 'Signs out every browser and app signed in as you.'), logoutAll, sessionNote),
    section('Delete account', del, delConfirm, delNote),
  ]);
  nameInput.focus();
}

/** A titled part of a settings dialog. */
const settingsSection = (title, ...body) => h('section.settings-section', null, h('h3', null, title), ...body);
/** The line under a form that says how it went. */
const statusNote = (testid) => h('p.field-note', { role: 'status', testid });

/**
 * Shows a settings dialog (the user's, a group's): `id` is also its test id,
 * and `${id}-close` its close button's; it is removed once closed.
 */
function showSettingsDialog(id, title, sections) {
  const dialog = h(
    'dialog.settings',
    { id, testid: id, 'aria-labelledby': `${id}-title`, onclose: () => dialog.remove() },
    h(
      'header.settings-head',
      null,
      h('h2', { id: `${id}-title` }, title),
      h('button.icon-btn', { type: 'button', testid: `${id}-close`, 'aria-label': `Close ${title.toLowerCase()}`, onclick: () => dialog.close() }, icon.close()),
    ),
    h('div.settings-body', null, sections),
  );
  document.body.append(dialog);
  dialog.showModal();
  return dialog;
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
            err.textContent = ex.code === 'not_found' ? await unknownNamesText(names) : friendlyError(ex);
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

// The server's 404 does not say which names are unknown: ask for each.
async function unknownNamesText(names) {
  const missing = [];
  await Promise.all(names.map((n) => client.getUser(n).catch((e) => e.code === 'not_found' && missing.push(n))));
  if (!missing.length) return 'One of those usernames does not exist.';
  missing.sort((a, b) => names.indexOf(a) - names.indexOf(b));
  const list = missing.map((n) => `“${n}”`).join(', ');
  return missing.length === 1 ? `There is no user named ${list}.` : `There are no users named ${list}.`;
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
  if (await messageUser(u, dmError)) dmInput.value = '';
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
    if (ui.compose) setCompose(null);
    hideMentionMenu();
    closeOverlays();
  }
  ui.els.files.show();
  ui.els.search.refresh();
  renderChrome();
  renderList();
  if (!conv) return;
  if (changed) {
    // Where "New messages" goes: after the read marker of the moment the
    // conversation opened; it stays there while it is open.
    const c = client.conversations.get(conv);
    const st = chat(conv);
    st.unreadFrom = (c.unread ?? 0) > 0 ? c.read_seq ?? 0 : null;
    st.toDivider = st.unreadFrom != null;
    ui.els.composer.value = draftOf(conv);
    autosize(ui.els.composer);
    renderMessages({ keepBottom: true });
    renderTyping();
    if (window.matchMedia('(pointer: fine)').matches || ui.els.composer.value) ui.els.composer.focus({ preventScroll: true });
  }
  const c = client.conversations.get(conv);
  if (client.connected && c.kind === 'group' && memberCount(c) <= 100) client.learnProfiles(unnamedMembers(c));
  return ensureLoaded(conv);
}

/** Opens a conversation at one of its messages (a search result): loaded, scrolled to and highlighted. */
async function openAt(conv, seq) {
  if (!client.conversations.has(conv)) return toast('You are no longer in that conversation.');
  await openConversation(conv);
  await jumpTo(conv, seq);
}

async function ensureLoaded(conv) {
  const st = chat(conv);
  // Back to the first unread message (and one before it, for context).
  for (let guard = 0; st.unreadFrom != null && st.hasMore && guard < 20; guard += 1) {
    const oldest = client.oldestSeq(conv);
    if (oldest !== null && oldest <= Math.max(1, st.unreadFrom)) break;
    if (!(await loadOlder(conv, { initial: true, limit: 200 }))) break;
  }
  if (client.messages(conv).length < 30 && st.hasMore) await loadOlder(conv, { initial: true });
  if (st.toDivider && conv === ui.open && !ui.els.messages.querySelector('[data-testid="unread-divider"]')) {
    // Nothing unread is left to show (deleted, or only changes): read as usual.
    st.toDivider = false;
    maybeMarkRead();
  }
}

/** Fetches the page before the oldest entry held; false when it could not (offline, busy, nothing more). */
async function loadOlder(conv, { initial = false, limit = 50 } = {}) {
  if (!conv) return;
  const st = chat(conv);
  if (st.loading || !st.hasMore) return false;
  const c = client.conversations.get(conv);
  const min = client.oldestSeq(conv);
  if ((c && (c.last_seq ?? 0) === 0 && min === null) || min === 1) {
    st.hasMore = false;
    if (conv === ui.open) renderMessages();
    return false;
  }
  st.loading = true;
  if (conv === ui.open) renderMessages();
  let ok = true;
  try {
    const page = await client.history(conv, { before: min ?? undefined, limit });
    st.hasMore = page.length > 0 && (client.oldestSeq(conv) ?? 0) > 1;
    st.anchor = !initial;
  } catch (e) {
    if (e.code === 'forbidden' || e.code === 'not_found') {
      st.refused = true; // removed from the group: no more history
      st.hasMore = false;
    } else st.retryLoad = true; // offline: try again when the connection is back
    ok = false;
  } finally {
    st.loading = false;
  }
  if (conv === ui.open) {
    renderMessages({ keepBottom: initial ? true : undefined });
    // Not enough to scroll yet? Fetch another page.
    const sc = ui.els.scroller;
    if (st.hasMore && sc.scrollHeight <= sc.clientHeight + 240 && !st.retryLoad && !st.toDivider) loadOlder(conv);
  }
  renderList();
  return ok;
}

function sendCurrent() {
  const { composer } = ui.els;
  const conv = ui.open;
  const body = composer.value.replace(/^\s*\n|\s+$/g, '');
  const withFiles = !!conv && ui.els.files.has(conv);
  if (!conv || (!body.trim() && !withFiles) || composer.readOnly) return;
  if (new TextEncoder().encode(body).length > 4096) {
    ui.els.offlineNote.hidden = false;
    ui.els.offlineNote.textContent = 'That message is too long (at most 4096 bytes).';
    return;
  }
  const mode = ui.compose?.conv === conv ? ui.compose : null;
  if (mode?.mode === 'edit') {
    const cur = client.message(conv, mode.seq);
    if (cur && cur.body !== body) client.edit(conv, mode.seq, body).catch((e) => toast(`Could not edit: ${friendlyError(e)}`));
    setCompose(null);
    composer.focus();
    return;
  }
  const replyTo = mode?.mode === 'reply' ? mode.seq : undefined;
  // With files, the message goes once they are uploaded; the text stays until then.
  if (withFiles) return ui.els.files.send(conv, body, { replyTo }, () => sentFrom(conv, mode));
  client.send(conv, body, { replyTo });
  sentFrom(conv, mode);
}

/** The composer's message went to the outbox: the composer (or the draft, elsewhere) empties. */
function sentFrom(conv, mode) {
  saveDraft(conv, '');
  if (conv !== ui.open || !ui.els) return;
  const { composer } = ui.els;
  if (mode && ui.compose === mode) setCompose(null);
  hideMentionMenu();
  composer.value = '';
  autosize(composer);
  renderMessages({ keepBottom: true });
  composer.focus();
}

function isReading() {
  if (!ui.open || document.visibilityState !== 'visible') return false;
  const sc = ui.els.scroller;
  return sc.scrollHeight - sc.scrollTop - sc.clientHeight < 120;
}

// The read marker moves only as far as the reader has seen: to the lowest
// message whose bottom is on screen (issue 17.3); to the conversation's
// last entry once its last message is (changes after it count as seen).
function maybeMarkRead() {
  const conv = ui.open;
  if (!conv || document.visibilityState !== 'visible' || !ui.els) return;
  const c = client.conversations.get(conv);
  const st = chat(conv);
  if (!c || c.removed || st.toDivider) return; // no longer a member; still fetching the first unread message
  const bottom = ui.els.scroller.getBoundingClientRect().bottom + 2;
  const shown = ui.els.messages.querySelectorAll('[data-testid="message"][data-seq]');
  let seen = 0;
  for (let i = shown.length - 1; i >= 0; i -= 1) {
    if (shown[i].getBoundingClientRect().bottom <= bottom) {
      seen = Number(shown[i].dataset.seq);
      break;
    }
  }
  if (!seen) return;
  const last = client.messages(conv).at(-1)?.seq ?? 0;
  const seq = seen >= last ? Math.max(c.last_seq ?? 0, seen) : seen;
  if (seq > (c.read_seq ?? 0)) client.markRead(conv, seq);
}

/** The signed-in user in the sidebar's foot: display name where set. */
function renderMe() {
  if (!ui.els || !me()) return;
  fill(ui.els.shell.querySelector('.me-avatar'), avatar(displayName(me().id), me().id, { size: 'sm' }));
  ui.els.shell.querySelector('.me-name').textContent = displayName(me().id);
}

function logout() {
  client.logout();
  signedOut();
}

// Back to the sign-in form (signed out here, everywhere, or the account deleted).
function signedOut(message) {
  resetUserUi();
  ui.compose = null;
  renderAuth(message);
}

/** Forgets what the page showed of the signed-in user (signed out, or the session lost). */
function resetUserUi() {
  for (const id of ['settings', 'group-settings', 'handover', 'invite-error', 'bots']) document.getElementById(id)?.close();
  closeOverlays();
  ui.els?.files.reset();
  ui.els?.search.reset();
  ui.open = null;
  ui.chats.clear();
  ui.typing.clear();
  ui.system.clear();
  ui.groupSeen.clear();
  ui.roster.clear();
  ui.handover.clear();
  ui.intents.clear();
  ui.blocked.clear();
  ui.blocksLoaded = false;
  ui.refused.clear();
  ui.els = null;
}

// ------------------------------------------------------------------ wiring

let booted = false;
function startMain() {
  loadSystemLines();
  loadRefused();
  buildMain();
  renderMe();
  renderConnection();
  drawList();
  const open = store.get(`open:${me().id}`);
  openConversation(open && client.conversations.has(open) ? open : null);
  ui.pendingOpen = open;
  if (!booted) {
    booted = true;
    wire();
  }
  client.connect(); // a pending invite is used after the welcome, whose list would not hold it yet
}

function wire() {
  client.on('state', () => {
    if (!ui.els) return;
    renderConnection();
  });
  client.on('welcome', () => {
    if (!ui.els) return;
    if (!ui.blocksLoaded) loadBlocks();
    joinPendingInvite();
    // Lines of conversations left on another device go with them.
    for (const conv of [...ui.system.keys()]) if (!client.conversations.has(conv)) dropSystemLines(conv);
    // Events missed while away are not replayed: the roster starts again from the welcome's.
    for (const c of client.conversations.values()) if (c.kind === 'group' && !c.removed) ui.roster.set(c.id, new Set((c.members ?? []).map((m) => m.id)));
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
        // A few entries: the newest may be a change (a reaction), not a message.
        client.history(c.id, { limit: 20 }).then(
          (ms) => {
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
    for (const c of client.conversations.values()) noteGroup(c);
    if (ui.open) scheduleRender(); // names learnt for the timeline's lines
    for (const c of client.conversations.values()) if (!ui.learnedAt.has(c.id) && client.state === 'connected' && ui.listSeeded) ui.learnedAt.set(c.id, Date.now());
    ui.listSeeded = true;
    renderList();
    if (ui.open) renderChrome();
  });
  client.on('conversation', (c) => {
    if (!ui.els) return;
    noteGroup(c);
    renderList();
    if (c.id === ui.open) renderChrome();
  });
  client.on('conversation_removed', (conv) => {
    if (!ui.els) return;
    ui.chats.delete(conv);
    dropSystemLines(conv);
    ui.roster.delete(conv);
    ui.groupSeen.delete(conv);
    saveInvites(conv, []);
    setRefused(conv, false);
    if (conv === ui.open) openConversation(null);
    renderList();
  });
  client.on('message', (m) => {
    if (!ui.els) return;
    if (m.kind === 'text') ui.typing.get(m.conv)?.delete(m.sender);
    if (m.sender === me()?.id && ui.refused.has(m.conv)) setRefused(m.conv, false); // sent from another device
    renderList();
    if (m.conv === ui.open) {
      scheduleRender({ keepBottom: m.sender === me()?.id && m.kind === 'text' ? true : undefined });
      renderTyping();
    }
  });
  client.on('update', (m) => {
    if (!ui.els) return;
    if (m.conv === ui.open) scheduleRender();
    renderList();
  });
  client.on('group_updated', (f) => {
    if (!ui.els || !client.conversations.has(f.conv)) return;
    groupUpdatedLines(f);
    if (f.conv === ui.open) {
      renderChrome();
      scheduleRender();
    }
    renderList();
  });
  // A message of ours got through: whatever refused the DM before has passed.
  client.on('sent', (x) => x.type === 'send' && setRefused(x.conv, false));
  client.on('outbox', () => {
    if (!ui.els) return;
    noteRefusals();
    renderList();
    if (ui.open) scheduleRender();
    renderConnection();
  });
  client.on('user_updated', () => {
    if (!ui.els) return;
    renderMe();
    renderList();
    if (ui.open) {
      renderChrome();
      renderPanel(true);
      scheduleRender();
    }
  });
  client.on('read', ({ conv }) => {
    if (ui.els && conv === ui.open) scheduleRender();
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
  client.on('member', (f) => {
    if (!ui.els) return;
    const line = memberRecord(f);
    if (line) addSystemLine(f.conv, line);
    if (f.action === 'removed' || f.action === 'left' || f.action === 'banned') {
      // Someone who is gone is not typing any more.
      ui.typing.get(f.conv)?.delete(f.user);
      if (f.conv === ui.open) renderTyping();
    }
    if (f.conv === ui.open) scheduleRender();
    if (ui.open) renderChrome();
  });
  client.on('auth_lost', () => {
    resetUserUi();
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
    if (e.key === 'Escape' && !document.querySelector('dialog[open]')) {
      if (document.querySelector('.emoji-picker, .sheet-wrap')) {
        closeOverlays();
      } else if (ui.membersOpen) {
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

// An invite link opened with the page, or while it is open.
takeInviteFromUrl();
window.addEventListener('hashchange', () => {
  if (!takeInviteFromUrl()) return;
  if (client.session && ui.els && client.connected) joinPendingInvite();
  else if (!client.session) renderAuth();
});

// Notifications and integrations (§8) live in their own modules.
const helpers = { client, store, h, fill, svg, icon, avatar, settingsSection, statusNote, showSettingsDialog, friendlyError, copyText, toast, convTitle, displayName };
initIntegrations(helpers);
initNotifications({ ...helpers, openConversation, openConv: () => ui.open });

if (client.session) startMain();
else renderAuth();
