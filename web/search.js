// Message search in the web client (PROTOCOL.md §6, GET /v1/search through
// the SDK): a box at the top of the sidebar; while it holds a query the
// sidebar lists results instead of conversations, newest first, each with
// its conversation, sender, time and a snippet with the query's words
// marked. A result opens its conversation at that message.
//
// app.js owns the page; this module owns the search box and its results
// for the page's lifetime. Every text a user wrote goes in as text nodes.

const PAGE = 20;
const LIVE_DELAY_MS = 300;
const SNIPPET_CHARS = 160;

// Words as the server's full-text index splits them: runs of letters and digits.
const WORD = /[\p{L}\p{N}\p{M}]+/gu;
const fold = (s) => s.normalize('NFD').replace(/\p{M}/gu, '').toLowerCase();

/**
 * The words of a query to mark in results: [{word, prefix}], folded (case
 * and accents aside). `"a phrase"` gives its words, `pre*` a prefix, and
 * `"a phr"*` makes the phrase's last word one.
 */
export function queryTerms(q) {
  const terms = [];
  for (const m of String(q).matchAll(/"([^"]*)"(\*?)|([^\s"]+)/g)) {
    const text = m[1] ?? m[3];
    const star = m[1] !== undefined ? m[2] === '*' : text.endsWith('*');
    const words = text.match(WORD) ?? [];
    words.forEach((w, i) => terms.push({ word: fold(w), prefix: star && i === words.length - 1 }));
  }
  return terms;
}

/**
 * Splits `text` into [{text, hit}] pieces, a hit being a word the query
 * names; long texts are cut to a window around the first hit.
 */
export function markHits(text, terms, { max = SNIPPET_CHARS } = {}) {
  const flat = String(text).replace(/\s+/g, ' ').trim();
  const hits = [];
  for (const m of flat.matchAll(WORD)) {
    const w = fold(m[0]);
    if (terms.some((t) => (t.prefix ? w.startsWith(t.word) : w === t.word))) hits.push([m.index, m.index + m[0].length]);
  }
  let from = 0;
  let to = flat.length;
  if (flat.length > max) {
    const first = hits[0]?.[0] ?? 0;
    from = Math.max(0, first - Math.floor(max / 3));
    if (from > 0) from = flat.indexOf(' ', from) + 1 || from; // start on a word
    to = Math.min(flat.length, from + max);
  }
  const pieces = [];
  if (from > 0) pieces.push({ text: '…', hit: false });
  let at = from;
  for (const [s, e] of hits) {
    if (e <= from || s >= to) continue;
    if (s > at) pieces.push({ text: flat.slice(at, s), hit: false });
    pieces.push({ text: flat.slice(Math.max(s, at), Math.min(e, to)), hit: true });
    at = Math.min(e, to);
  }
  if (at < to) pieces.push({ text: flat.slice(at, to), hit: false });
  if (to < flat.length) pieces.push({ text: '…', hit: false });
  return pieces;
}

const whenFmt = new Intl.DateTimeFormat(undefined, { month: 'short', day: 'numeric', hour: 'numeric', minute: '2-digit' });

/**
 * The search box and its results. `h` and `svg` are app.js's DOM helpers;
 * `titleOf(conv)`, `nameOf(userId)` say how the page names them;
 * `openConv()` is the conversation on screen; `openAt(conv, seq)` shows a
 * result; `summary(m)` is a message in one line when its body is empty.
 */
export function createSearch({ client, h, svg, titleOf, nameOf, openConv, openAt, summary = (m) => m.body }) {
  const state = { q: '', conv: null, results: [], next: null, busy: false, error: null, generation: 0, picked: null };
  let timer = null;

  const input = h('input.search-input', {
    type: 'search', testid: 'search-input', placeholder: 'Search messages', 'aria-label': 'Search messages',
    autocomplete: 'off', spellcheck: 'false', enterkeyhint: 'search',
  });
  const clear = h(
    'button.icon-btn.search-clear',
    { type: 'button', testid: 'search-clear', 'aria-label': 'Clear search', title: 'Clear search (Esc)', hidden: true, onclick: () => reset(true) },
    svg('M19 6.4 17.6 5 12 10.6 6.4 5 5 6.4 10.6 12 5 17.6 6.4 19l5.6-5.6 5.6 5.6 1.4-1.4-5.6-5.6z'),
  );
  const scopeBox = h('input', { type: 'checkbox', testid: 'search-scope' });
  const scopeName = h('span.scope-name', { dir: 'auto' });
  const scope = h('label.search-scope', { hidden: true }, scopeBox, h('span', null, 'Only in '), scopeName);
  const status = h('p.search-status', { testid: 'search-status', role: 'status' });
  const list = h('ul.search-list', { 'aria-label': 'Search results' });
  const more = h('button.btn.secondary.small.search-more', { type: 'button', testid: 'search-more', hidden: true, onclick: () => run({ append: true }) }, 'More results');
  const results = h('div.search-results', { testid: 'search-results', hidden: true }, status, list, more);
  const form = h(
    'form.search-form',
    { role: 'search', onsubmit: (e) => (e.preventDefault(), clearTimeout(timer), run()) },
    svg('M15.5 14h-.8l-.3-.3A6.5 6.5 0 1 0 14 15.5l.3.3v.8l5 5 1.5-1.5zm-6 0A4.5 4.5 0 1 1 14 9.5 4.5 4.5 0 0 1 9.5 14z'),
    input,
    clear,
  );
  const el = h('section.search', { testid: 'search', 'aria-label': 'Search' }, form, scope, results);

  const sidebar = () => el.closest('.sidebar');

  input.addEventListener('input', () => {
    clearTimeout(timer);
    clear.hidden = !input.value;
    if (!input.value.trim()) return reset(false);
    // As you type, but not while a phrase's quote is still open (that query would be refused).
    if ((input.value.match(/"/g) ?? []).length % 2 === 0) timer = setTimeout(run, LIVE_DELAY_MS);
  });
  input.addEventListener('keydown', (e) => {
    if (e.key === 'Escape' && (input.value || state.q)) {
      e.preventDefault();
      e.stopPropagation();
      reset(true);
    }
  });
  scopeBox.addEventListener('change', () => input.value.trim() && run());

  // "/" anywhere but in a text field goes to the search box, as in many apps.
  document.addEventListener('keydown', (e) => {
    if (e.key !== '/' || e.ctrlKey || e.metaKey || e.altKey || !el.isConnected || el.offsetParent === null) return;
    if (e.target.closest?.('input, textarea, [contenteditable="true"], dialog')) return;
    e.preventDefault();
    input.focus();
    input.select();
  });

  function reset(focus) {
    clearTimeout(timer);
    state.generation += 1;
    Object.assign(state, { q: '', results: [], next: null, busy: false, error: null, picked: null });
    input.value = '';
    clear.hidden = true;
    render();
    if (focus) input.focus();
  }

  async function run({ append = false } = {}) {
    const q = input.value.trim();
    if (!q) return reset(false);
    const conv = scopeBox.checked && openConv() ? openConv() : null;
    const generation = ++state.generation;
    if (!append) Object.assign(state, { q, conv, results: [], next: null, picked: null });
    state.busy = true;
    state.error = null;
    render();
    try {
      const page = await client.search(q, { conv: conv ?? undefined, limit: PAGE, cursor: append ? state.next : undefined });
      if (generation !== state.generation) return; // a newer query went out
      state.results.push(...page.results);
      state.next = page.next;
    } catch (e) {
      if (generation !== state.generation) return;
      state.error = e;
    }
    state.busy = false;
    render();
  }

  function problem(e) {
    if (e.code === 'bad_request') return `Parley can’t read that search (${e.message}). Use words, "a phrase" or prefix*.`;
    if (e.code === 'network' || e.code === 'http_502' || e.code === 'http_503') return 'Cannot reach the server. Check your connection, then search again.';
    if (e.code === 'forbidden' || e.code === 'not_found') return 'You can no longer search this conversation.';
    return `Search failed: ${e.message || e.code}`;
  }

  function resultEl(m, terms) {
    const text = m.body || summary(m) || '';
    const snippet = markHits(text, terms).map((p) => (p.hit ? h('mark', { testid: 'search-hit' }, p.text) : p.text));
    const picked = state.picked === `${m.conv}:${m.seq}`;
    return h(
      'li',
      null,
      h(
        'button.search-result' + (picked ? '.active' : ''),
        {
          type: 'button', testid: 'search-result', 'data-conv': m.conv, 'data-seq': m.seq,
          onclick: () => {
            state.picked = `${m.conv}:${m.seq}`;
            render();
            openAt(m.conv, m.seq);
          },
        },
        h(
          'span.sr-top',
          null,
          h('span.sr-conv', { testid: 'search-result-conv', dir: 'auto' }, titleOf(m.conv)),
          h('time.sr-time', { datetime: new Date(m.ts).toISOString(), title: new Date(m.ts).toLocaleString() }, whenFmt.format(m.ts)),
        ),
        h('span.sr-sender', { testid: 'search-result-sender', dir: 'auto' }, nameOf(m.sender)),
        h('span.sr-snippet', { testid: 'search-result-snippet', dir: 'auto' }, snippet),
      ),
    );
  }

  function render() {
    const open = openConv();
    scope.hidden = !open || (!input.value && !state.q);
    if (open) scopeName.textContent = titleOf(open);
    const active = !!(state.q || state.busy || state.error);
    sidebar()?.classList.toggle('searching', active);
    results.hidden = !active;
    if (!active) return;
    const terms = queryTerms(state.q);
    list.replaceChildren(...state.results.map((m) => resultEl(m, terms)));
    more.hidden = !state.next || state.busy || !!state.error;
    const where = state.conv ? ` in ${titleOf(state.conv)}` : '';
    status.classList.toggle('error', !!state.error);
    if (state.error) status.textContent = problem(state.error);
    else if (state.busy) status.textContent = state.results.length ? 'Loading more…' : 'Searching…';
    else if (!state.results.length) status.textContent = `No messages match “${state.q}”${where}.`;
    else status.textContent = `${state.results.length}${state.next ? '+' : ''} result${state.results.length === 1 ? '' : 's'} for “${state.q}”${where}`;
  }

  return {
    el,
    /** The conversation on screen, or the names the page knows, changed. */
    refresh: render,
    /** Signed out: the box empties. */
    reset: () => reset(false),
  };
}
