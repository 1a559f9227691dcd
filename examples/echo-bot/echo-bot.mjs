// An echo bot on the Parley JavaScript SDK (protocol 1.1 §8): it signs in
// with its API key and, for every message that mentions it or reaches it in
// a DM, sends the same text back as a reply. See README.md.
//
//   PARLEY_URL=http://127.0.0.1:8080 PARLEY_BOT_KEY=pbot_... node echo-bot.mjs
import { ParleyClient } from '../../web/sdk/parley.js';

const baseUrl = process.env.PARLEY_URL ?? 'http://127.0.0.1:8080';
const key = process.env.PARLEY_BOT_KEY;
if (!key) {
  console.error('set PARLEY_BOT_KEY to the bot’s API key (shown once when the bot was made)');
  process.exit(2);
}
// Node 22 has WebSocket built in; older ones take the `ws` package (npm install).
const WebSocket =
  globalThis.WebSocket ??
  (await import('ws').then(
    (m) => m.default,
    () => (console.error('no WebSocket: use Node 22+, or node --experimental-websocket, or npm install here'), process.exit(2)),
  ));

const client = new ParleyClient({ baseUrl, WebSocket });
const me = await client.useApiKey(key); // also the hello token
const startedAt = Date.now(); // older messages (history filled in) are not answered

client.on('message', async (m) => {
  if (m.kind !== 'text' || m.deleted || m.sender === me.id || m.ts < startedAt || !m.body) return;
  // Never answer a reply to one of its own messages: two echo bots would talk forever.
  if (m.reply_to != null && client.message(m.conv, m.reply_to)?.sender === me.id) return;
  if (!client.conversations.has(m.conv)) await client.refreshConversations(); // a DM just opened
  const isDm = client.conversations.get(m.conv)?.kind === 'dm';
  if (!isDm && !m.mentions.includes(me.id)) return;
  try {
    await client.send(m.conv, m.body, { replyTo: m.seq });
  } catch (e) {
    console.error(`could not echo ${m.conv}/${m.seq}: ${e.message}`);
  }
});
client.on('auth_lost', () => {
  console.error('the API key was refused (revoked, or the bot deleted)');
  process.exit(1);
});
client.on('welcome', () => console.log(`echo bot @${me.username} connected`));
client.connect();
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => (client.close(), process.exit(0)));
