// Integrations in the web client (protocol 1.1 §8): the Bots page (make a
// bot, its API key shown once, list, delete) and a group's webhooks (for
// its owner and admins: list with their delivery state, add with the
// signing secret shown once, delete).
//
// The app hands its helpers in once with initIntegrations(ctx); ctx is
// {client, h, fill, avatar, icon, settingsSection, statusNote,
//  showSettingsDialog, friendlyError, copyText}.

let ctx = null;

export function initIntegrations(c) {
  ctx = c;
}

const dateTimeFmt = new Intl.DateTimeFormat(undefined, { month: 'short', day: 'numeric', hour: 'numeric', minute: '2-digit' });
const USERNAME = /^[a-z0-9_.-]{3,32}$/;

/**
 * A secret the server shows only once (a bot's key, a webhook's secret): in
 * a read-only field with a copy button and a plain warning.
 */
function shownOnce(value, { testid, label, warning }) {
  const { h } = ctx;
  const field = h('input.secret-value', { testid: `${testid}-value`, readonly: true, 'aria-label': label, onfocus: (e) => e.target.select() });
  field.value = value;
  const box = h(
    'div.secret-once',
    { testid, role: 'group', 'aria-label': label },
    h('p.secret-warning', { testid: `${testid}-warning` }, ctx.icon.alert(), h('span', null, warning)),
    h(
      'div.secret-row',
      null,
      field,
      h('button.btn.primary.small', { type: 'button', testid: `${testid}-copy`, onclick: () => ctx.copyText(value) }, ctx.icon.copy(), 'Copy'),
    ),
    h('button.link', { type: 'button', testid: `${testid}-done`, onclick: () => box.remove() }, 'I have copied it'),
  );
  return box;
}

// ---- bots

/** The "Bots" section of the user's settings: opens the Bots page. */
export function botsSection() {
  const { h } = ctx;
  return ctx.settingsSection(
    'Bots',
    h('p.muted', null, 'Programs that post as their own user with an API key: you own them.'),
    h('button.btn.secondary.small', { type: 'button', testid: 'bots-open', onclick: openBots }, 'Manage bots…'),
  );
}

/** The Bots page: create (the key shown once), list, delete. */
export function openBots() {
  const { h, client, fill, statusNote } = ctx;
  document.getElementById('bots')?.remove();
  const nameInput = h('input', {
    testid: 'bot-username', id: 'bot-username', placeholder: 'e.g. build_bot', autocomplete: 'off', autocapitalize: 'none', spellcheck: 'false', maxlength: '32',
  });
  const displayInput = h('input', { testid: 'bot-display-name', id: 'bot-display-name', placeholder: 'e.g. Build status (optional)', maxlength: '64', autocomplete: 'off', dir: 'auto' });
  const note = statusNote('bot-status');
  const keySlot = h('div.secret-slot');
  const list = h('ul.bot-list', { testid: 'bot-list' }, h('li.muted', null, 'Loading…'));
  const createBtn = h('button.btn.primary.small', { type: 'submit', testid: 'bot-create' }, 'Create bot');

  const draw = (bots) =>
    fill(
      list,
      bots.length
        ? bots.map((b) =>
            h(
              'li.bot',
              { testid: 'bot', 'data-username': b.username },
              ctx.avatar(b.display_name || b.username, b.id, { size: 'sm' }),
              h(
                'span.member-text',
                null,
                h('span.member-name', { dir: 'auto' }, b.display_name || b.username, h('span.bot-badge', null, 'BOT')),
                h('span.member-sub.muted', null, `@${b.username}`),
              ),
              h(
                'button.btn.danger-outline.small',
                {
                  type: 'button', testid: 'bot-delete',
                  onclick: async () => {
                    if (!confirm(`Delete the bot @${b.username}? Its key stops working at once and its connections close. This cannot be undone.`)) return;
                    try {
                      await client.deleteBot(b.username);
                      note.textContent = `@${b.username} was deleted.`;
                    } catch (ex) {
                      note.textContent = `Could not delete @${b.username}: ${ctx.friendlyError(ex)}`;
                    }
                    load();
                  },
                },
                'Delete',
              ),
            ),
          )
        : h('li.muted', { testid: 'bots-none' }, 'You have no bots yet.'),
    );
  const load = () =>
    client.bots().then(draw, (ex) => fill(list, h('li.muted', null, ex.status === 404 ? 'This server has no bots.' : `Could not load your bots: ${ctx.friendlyError(ex)}`)));

  const form = h(
    'form.settings-col',
    {
      onsubmit: async (e) => {
        e.preventDefault();
        const username = nameInput.value.trim().replace(/^@/, '').toLowerCase();
        const displayName = displayInput.value.trim();
        note.textContent = '';
        if (!USERNAME.test(username)) {
          note.textContent = 'A username has 3 to 32 of a–z, 0–9, _ . and -.';
          return nameInput.focus();
        }
        createBtn.disabled = true;
        try {
          const { bot, token } = await client.createBot(username, { displayName: displayName || undefined });
          nameInput.value = displayInput.value = '';
          fill(
            keySlot,
            h('p.secret-intro', null, `@${bot.username} is ready. Its API key:`),
            shownOnce(token, {
              testid: 'bot-key',
              label: `API key of @${bot.username}`,
              warning: 'Copy this key now: it will not be shown again. Anyone who has it can post as this bot; if it leaks, delete the bot.',
            }),
          );
          keySlot.querySelector('.secret-value').focus();
          load();
        } catch (ex) {
          note.textContent = ex.code === 'conflict' ? `The username “${username}” is taken.` : `Could not create the bot: ${ctx.friendlyError(ex)}`;
        } finally {
          createBtn.disabled = false;
        }
      },
    },
    h('label', { for: 'bot-username' }, 'Username'),
    nameInput,
    h('label', { for: 'bot-display-name' }, 'Display name'),
    displayInput,
    createBtn,
  );
  ctx.showSettingsDialog('bots', 'Bots', [
    ctx.settingsSection(
      'New bot',
      h('p.muted', null, 'A bot signs in with its API key (as the bearer token over HTTP and the hello token over WebSocket). You can have up to 10.'),
      form,
      note,
      keySlot,
    ),
    ctx.settingsSection('Your bots', list),
  ]);
  load();
  nameInput.focus();
}

// ---- webhooks of a group

/** The "Webhooks" section of a group's settings (its owner and admins only). */
export function webhooksSection(conv) {
  const { h, client, fill, statusNote } = ctx;
  const urlInput = h('input', { testid: 'webhook-url', type: 'url', placeholder: 'https://example.com/parley-hook', 'aria-label': 'Webhook URL', autocomplete: 'off', spellcheck: 'false' });
  const note = statusNote('webhook-status');
  const secretSlot = h('div.secret-slot');
  const list = h('ul.webhook-list', { testid: 'webhook-list' }, h('li.muted', null, 'Loading…'));
  const addBtn = h('button.btn.primary.small', { type: 'submit', testid: 'webhook-add' }, 'Add');

  const draw = (hooks) =>
    fill(
      list,
      hooks.length
        ? hooks.map((w) =>
            h(
              'li.webhook',
              { testid: 'webhook', 'data-id': w.id },
              h(
                'span.webhook-text',
                null,
                h('span.webhook-url', { testid: 'webhook-item-url', title: w.url }, w.url),
                w.failing_since != null
                  ? h('span.webhook-state.failing', { testid: 'webhook-state' }, `Failing since ${dateTimeFmt.format(w.failing_since)}: retrying`)
                  : h('span.webhook-state.muted', { testid: 'webhook-state' }, 'Delivering'),
              ),
              h(
                'button.btn.danger-outline.small',
                {
                  type: 'button', testid: 'webhook-delete',
                  onclick: async () => {
                    if (!confirm(`Delete the webhook to ${w.url}? It gets nothing more from this group.`)) return;
                    try {
                      await client.deleteWebhook(conv, w.id);
                      note.textContent = 'Webhook deleted.';
                    } catch (ex) {
                      if (ex.code !== 'not_found') note.textContent = `Could not delete it: ${ctx.friendlyError(ex)}`;
                    }
                    load();
                  },
                },
                'Delete',
              ),
            ),
          )
        : h('li.muted', { testid: 'webhooks-none' }, 'No webhooks.'),
    );
  const load = () =>
    client.webhooks(conv).then(draw, (ex) => {
      form.hidden = ex.status === 404; // no such route: nothing to add to
      fill(list, h('li.muted', null, ex.status === 404 ? 'This server has no webhooks yet.' : `Could not load the webhooks: ${ctx.friendlyError(ex)}`));
    });

  const form = h(
    'form.settings-row',
    {
      onsubmit: async (e) => {
        e.preventDefault();
        const url = urlInput.value.trim();
        note.textContent = '';
        if (!/^https?:\/\/\S+$/i.test(url)) {
          note.textContent = 'A webhook URL starts with http:// or https://.';
          return urlInput.focus();
        }
        addBtn.disabled = true;
        try {
          const w = await client.createWebhook(conv, url);
          urlInput.value = '';
          fill(
            secretSlot,
            h('p.secret-intro', null, 'Webhook added. Its signing secret (the receiver checks X-Parley-Signature with it):'),
            shownOnce(w.secret, {
              testid: 'webhook-secret',
              label: 'Signing secret of the webhook',
              warning: 'Copy this secret now: it will not be shown again.',
            }),
          );
          load();
        } catch (ex) {
          note.textContent = `Could not add it: ${ctx.friendlyError(ex)}`;
        } finally {
          addBtn.disabled = false;
        }
      },
    },
    urlInput,
    addBtn,
  );
  // Fetched when opened: most visits to a group's settings are not about webhooks.
  const summary = h('summary', { testid: 'webhooks-open' }, 'Show webhooks');
  const details = h(
    'details.webhooks',
    {
      testid: 'webhooks',
      ontoggle: () => {
        summary.textContent = details.open ? 'Hide webhooks' : 'Show webhooks';
        if (details.open && !details.dataset.loaded) {
          details.dataset.loaded = 'yes';
          load();
        }
      },
    },
    summary,
    h('div.webhooks-body', null, form, note, secretSlot, list),
  );
  return ctx.settingsSection(
    'Webhooks',
    h('p.muted', null, 'Each new message and change in this group is POSTed to these URLs, signed with the webhook’s secret.'),
    details,
  );
}
