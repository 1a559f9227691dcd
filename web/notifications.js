// Notifications in the web client (protocol 1.1 §8): the settings control
// that turns them on (asking the browser's permission only then, never on
// load), the push subscription through the service worker (web/sw.js), the
// in-tab notifications for messages that arrive while the tab is hidden,
// and the per-conversation level menu (all / mentions / none) behind the
// bell in a conversation's header.
//
// The app hands its helpers in once with initNotifications(ctx); ctx is
// {client, store, h, fill, svg, settingsSection, statusNote, friendlyError,
//  toast, openConversation, openConv: () => the open conversation's id,
//  convTitle, displayName}.

let ctx = null;
let swRegistration = null; // the service worker's registration, once registered
let pushState = null; // 'push' once this browser's subscription is with the server, else why not (text)
let pushSynced = false; // the subscription was sent to the server since this page loaded
let pendingConv = null; // a conversation asked for (#/conv/ID, a click) before the list knew it

const LEVELS = [
  { level: 'all', label: 'All messages', hint: 'Every new message' },
  { level: 'mentions', label: 'Mentions only', hint: 'Only when someone writes @you' },
  { level: 'none', label: 'Nothing', hint: 'No notifications from here' },
];
const BODY_MAX = 200; // as a push's body (§8)
const LIVE_MS = 5 * 60 * 1000; // older messages (a resume after a long sleep) are not announced

const prefKey = () => `notifications:${ctx.client.user?.id}`;
/** Whether the user turned notifications on for this browser. */
const wanted = () => !!ctx.store.get(prefKey())?.on;
const supported = () => typeof Notification === 'function';
const pushCapable = () => 'serviceWorker' in navigator && 'PushManager' in window;

const bellPath = {
  all: 'M12 22a2 2 0 0 0 2-2h-4a2 2 0 0 0 2 2zm6-6V11c0-3.1-1.6-5.6-4.5-6.3V4a1.5 1.5 0 0 0-3 0v.7C7.6 5.4 6 7.9 6 11v5l-2 2v1h16v-1z',
  none: 'M20 18.7 5.3 4 4 5.3l2.9 2.9A6.9 6.9 0 0 0 6 11v5l-2 2v1h13.7l2 2 1.3-1.3zM12 22a2 2 0 0 0 2-2h-4a2 2 0 0 0 2 2zm6-6.8V11c0-3.1-1.6-5.6-4.5-6.3V4a1.5 1.5 0 0 0-3 0v.7a6 6 0 0 0-1.4.6z',
};

/** Wires the in-tab notifications, the service worker's clicks and #/conv/ID links. Called once. */
export function initNotifications(c) {
  ctx = c;
  const { client } = ctx;
  client.on('message', (m) => maybeNotify(m));
  client.on('welcome', () => {
    if (pendingConv && client.conversations.has(pendingConv)) openPending();
    // Already allowed on an earlier visit: keep this browser's subscription
    // known to the server (it may be new, or the server's data reset), once a page load.
    if (!pushSynced && wanted() && supported() && Notification.permission === 'granted') {
      pushSynced = true;
      enablePush().catch(() => {});
    }
  });
  // Signed out (or the session lost): this browser must not keep getting the
  // user's pushes. The token is gone, so the subscription is ended at the
  // browser; its push service then answers 410 and the server drops it (§8).
  const forget = () => {
    pushSynced = false;
    pushState = null;
    endSubscription().catch(() => {});
  };
  client.on('session', (s) => s === null && forget());
  client.on('auth_lost', forget);
  if ('serviceWorker' in navigator) {
    navigator.serviceWorker.addEventListener('message', (e) => {
      if (e.data?.type === 'parley:open' && e.data.conv) openAsked(String(e.data.conv));
    });
  }
  window.addEventListener('hashchange', takeConvFromUrl);
  takeConvFromUrl();
}

// #/conv/ID: where a notification's click opens the app.
function takeConvFromUrl() {
  const m = /^#\/conv\/([^/]+)$/.exec(location.hash);
  if (!m) return;
  history.replaceState(null, '', location.pathname + location.search);
  openAsked(decodeURIComponent(m[1]));
}

function openAsked(conv) {
  pendingConv = conv;
  if (ctx.client.conversations.has(conv)) openPending();
}

function openPending() {
  const conv = pendingConv;
  pendingConv = null;
  window.focus();
  ctx.openConversation(conv);
}

// A message that arrived while the user is not looking at the app.
function maybeNotify(m) {
  const { client } = ctx;
  if (!wanted() || !supported() || Notification.permission !== 'granted') return;
  if (!client.notifies(m) || !(m.ts > Date.now() - LIVE_MS)) return;
  const looking = !document.hidden && document.hasFocus();
  if (looking || (!document.hidden && m.conv === ctx.openConv())) return;
  const c = client.conversations.get(m.conv);
  if (!c) return;
  const text = m.body || (m.attachments?.length ? 'Sent an attachment' : 'New message');
  const body = c.kind === 'dm' ? text : `${ctx.displayName(m.sender)}: ${text}`;
  showNotification(ctx.convTitle(c), {
    body: body.length > BODY_MAX ? `${body.slice(0, BODY_MAX - 1)}…` : body,
    tag: `conv:${m.conv}`, // the push's tag: one notification per conversation
    renotify: true,
    icon: 'favicon.svg',
    data: { conv: m.conv, seq: m.seq },
  });
}

function showNotification(title, options) {
  // Through the service worker where there is one (its click handler opens
  // the conversation; some browsers allow no other kind), else in the page.
  if (swRegistration?.active) return swRegistration.showNotification(title, options).catch(() => {});
  try {
    const n = new Notification(title, options);
    n.onclick = () => {
      n.close();
      openAsked(options.data.conv);
    };
  } catch {
    /* this browser shows notifications only through a service worker */
  }
}

/**
 * Registers the service worker and this browser's push subscription with the
 * server. Resolves with 'push' when pushes will reach it, else throws an
 * Error whose message says why push is unavailable (in-tab notifications
 * still work then).
 */
async function enablePush() {
  try {
    pushState = await subscribe();
  } catch (e) {
    pushState = e.message;
    throw e;
  }
  return pushState;
}

async function subscribe() {
  if (!pushCapable()) throw new Error('this browser has no Web Push');
  swRegistration = await navigator.serviceWorker.register('sw.js');
  await navigator.serviceWorker.ready;
  let key;
  try {
    key = await ctx.client.vapidPublicKey();
  } catch (e) {
    throw new Error(e.status === 404 ? 'this server does not send pushes' : ctx.friendlyError(e));
  }
  let sub = await swRegistration.pushManager.getSubscription();
  if (!sub) {
    try {
      sub = await swRegistration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: key });
    } catch {
      throw new Error('this browser cannot reach a push service');
    }
  }
  await ctx.client.subscribePush(sub);
  return 'push';
}

async function currentSubscription() {
  const reg = swRegistration ?? (pushCapable() ? await navigator.serviceWorker.getRegistration() : null);
  return (await reg?.pushManager.getSubscription().catch(() => null)) ?? null;
}

async function disablePush() {
  pushState = null;
  const sub = await currentSubscription();
  if (!sub) return;
  await ctx.client.unsubscribePush(sub.endpoint).catch(() => {});
  await sub.unsubscribe().catch(() => {});
}

async function endSubscription() {
  await (await currentSubscription())?.unsubscribe();
}

/** The "Notifications" section of the user's settings. */
export function notificationSection() {
  const { h, statusNote } = ctx;
  const state = h('p', { testid: 'notifications-state' });
  const note = statusNote('notifications-status');
  const btn = h('button.btn.small', { type: 'button', testid: 'notifications-toggle' });
  const draw = (pushNote) => {
    const perm = supported() ? Notification.permission : 'unsupported';
    const on = wanted() && perm === 'granted';
    btn.className = `btn small ${on ? 'secondary' : 'primary'}`;
    btn.textContent = on ? 'Turn off notifications' : 'Turn on notifications';
    btn.hidden = perm === 'unsupported' || perm === 'denied';
    btn.dataset.on = String(on);
    state.className = 'muted';
    if (perm === 'unsupported') state.textContent = 'This browser cannot show notifications.';
    else if (perm === 'denied') state.textContent = 'Notifications are blocked for this site in your browser’s settings. Allow them there, then come back here.';
    else if (!on) state.textContent = 'Off on this device. Turn them on to hear about new messages while Parley is in the background.';
    else if (pushNote === 'push') state.textContent = 'On: new messages reach this device even when Parley is closed.';
    else if (pushNote) state.textContent = `On while Parley is open in a tab. Push is unavailable: ${pushNote}.`;
    else state.textContent = 'On for this device.';
  };
  btn.addEventListener('click', async () => {
    btn.disabled = true;
    note.textContent = '';
    try {
      if (wanted() && Notification.permission === 'granted') {
        ctx.store.set(prefKey(), { on: false });
        await disablePush();
        draw();
        note.textContent = 'Notifications are off on this device.';
        return;
      }
      // Only here, because the user asked: the browser's permission prompt.
      const perm = await Notification.requestPermission();
      if (perm !== 'granted') {
        draw();
        note.textContent = perm === 'denied' ? 'The browser said no: notifications stay off.' : 'Notifications stay off.';
        return;
      }
      ctx.store.set(prefKey(), { on: true });
      draw('…');
      let result;
      try {
        result = await enablePush();
      } catch (e) {
        result = e.message;
      }
      draw(result);
      note.textContent = 'Choose per conversation with the bell in its header: all messages, mentions only or nothing.';
    } finally {
      btn.disabled = false;
    }
  });
  draw(pushState ?? undefined);
  return ctx.settingsSection('Notifications', state, btn, note);
}

// ---- the per-conversation level: the bell in the header

let bell = null;

/** The bell button of the conversation header; updateNotifyButton() keeps it current. */
export function notifyButton() {
  bell = ctx.h('button.icon-btn.notify-btn', {
    testid: 'notify-open', type: 'button', 'aria-haspopup': 'menu', onclick: () => openNotifyMenu(ctx.openConv()),
  });
  return bell;
}

/** Shows the open conversation's level on the bell. */
export function updateNotifyButton(c) {
  if (!bell) return;
  bell.hidden = !c || !!c.removed;
  if (bell.hidden) return;
  const level = ctx.client.notifyLevel(c.id);
  const label = `Notifications: ${LEVELS.find((l) => l.level === level).label.toLowerCase()}`;
  if (bell.dataset.level === level) return;
  bell.dataset.level = level;
  bell.title = label;
  bell.setAttribute('aria-label', label);
  // A bell (crossed out for nothing); an @ on it for mentions only.
  ctx.fill(bell, ctx.svg(bellPath[level === 'mentions' ? 'all' : level]), level === 'mentions' ? ctx.h('span.notify-badge', { 'aria-hidden': 'true' }, '@') : null);
}

function closeNotifyMenu() {
  document.querySelector('.notify-menu')?.remove();
  document.removeEventListener('pointerdown', outside, true);
  document.removeEventListener('keydown', escape, true);
}
function outside(e) {
  if (!e.target.closest('.notify-menu, .notify-btn')) closeNotifyMenu();
}
function escape(e) {
  if (e.key !== 'Escape') return;
  e.stopPropagation();
  closeNotifyMenu();
  bell?.focus();
}

function openNotifyMenu(conv) {
  const { client, h } = ctx;
  const c = client.conversations.get(conv);
  if (document.querySelector('.notify-menu') || !c) return closeNotifyMenu();
  const current = client.notifyLevel(conv);
  const fallback = c.kind === 'dm' ? 'all' : 'mentions';
  const err = h('p.field-error', { role: 'alert' });
  const items = LEVELS.map(({ level, label, hint }) =>
    h(
      'button.notify-item',
      {
        type: 'button', role: 'menuitemradio', testid: `notify-${level}`, 'aria-checked': String(level === current),
        onclick: async () => {
          if (level === client.notifyLevel(conv)) return closeNotifyMenu();
          for (const b of items) b.disabled = true;
          try {
            await client.setNotify(conv, level);
            closeNotifyMenu();
            ctx.toast(`${LEVELS.find((l) => l.level === level).label} from ${ctx.convTitle(c)}`);
          } catch (ex) {
            err.textContent = ex.code === 'bad_request' ? 'This server has no notification levels yet.' : ctx.friendlyError(ex);
            for (const b of items) b.disabled = false;
          }
        },
      },
      h('span.notify-check', { 'aria-hidden': 'true' }, level === current ? '✓' : ''),
      h('span.notify-text', null, h('span.notify-label', null, label, level === fallback ? h('span.muted', null, ' (default)') : null), h('span.notify-hint.muted', null, hint)),
    ),
  );
  const menu = h(
    'div.notify-menu',
    { role: 'menu', testid: 'notify-menu', 'aria-label': `Notifications from ${ctx.convTitle(c)}` },
    h('p.notify-title', null, 'Notify me about'),
    items,
    err,
    wanted() ? null : h('p.notify-foot.muted', null, 'Notifications are off on this device: turn them on in Settings.'),
  );
  document.body.append(menu);
  const r = bell.getBoundingClientRect();
  menu.style.top = `${Math.round(r.bottom + 6)}px`;
  // Under the bell, its right edge on the bell's, kept 8px inside the window.
  const right = Math.min(window.innerWidth - r.right, window.innerWidth - menu.offsetWidth - 8);
  menu.style.right = `${Math.max(8, Math.round(right))}px`;
  document.addEventListener('pointerdown', outside, true);
  document.addEventListener('keydown', escape, true);
  items.find((b) => b.getAttribute('aria-checked') === 'true')?.focus();
}
