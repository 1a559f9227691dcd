// Parley's service worker (protocol 1.1 §8, Web Push). Served from the web
// root so that its scope is the whole app. It shows each push as a
// notification, one per conversation (the tag), so a burst of messages in
// one conversation collapses into its newest; a click focuses an open
// window of the app (which opens the conversation) or opens a new one at
// #/conv/<id>.

self.addEventListener('install', () => self.skipWaiting());
self.addEventListener('activate', (event) => event.waitUntil(self.clients.claim()));

/** The notification of a push payload `{conv, seq, sender, title, body}`. */
function notificationOf(p) {
  const conv = p.conv == null ? null : String(p.conv);
  return [
    typeof p.title === 'string' && p.title ? p.title : 'Parley',
    {
      body: typeof p.body === 'string' && p.body ? p.body : 'New message',
      tag: conv ? `conv:${conv}` : 'parley',
      renotify: true,
      icon: 'favicon.svg',
      data: { conv, seq: Number.isSafeInteger(p.seq) ? p.seq : null },
    },
  ];
}

self.addEventListener('push', (event) => {
  let payload = {};
  try {
    payload = event.data ? event.data.json() : {};
  } catch {
    payload = { body: event.data ? event.data.text() : '' };
  }
  const [title, options] = notificationOf(payload ?? {});
  event.waitUntil(self.registration.showNotification(title, options));
});

self.addEventListener('notificationclick', (event) => {
  event.notification.close();
  const conv = event.notification.data?.conv ?? null;
  const scope = self.registration.scope;
  const url = new URL(conv ? `#/conv/${encodeURIComponent(conv)}` : '', scope).href;
  event.waitUntil(
    (async () => {
      const windows = await self.clients.matchAll({ type: 'window', includeUncontrolled: true });
      const win = windows.find((w) => w.url.startsWith(scope));
      if (win) {
        // The page opens the conversation itself: no reload, its state kept.
        win.postMessage({ type: 'parley:open', conv });
        await win.focus();
        return;
      }
      await self.clients.openWindow(url);
    })(),
  );
});
