// vaultgate's web page: sign-in, client configuration, and a notes app on the REST API.
// No framework and no build step. Notes are shown as the backend's sanitised HTML
// (`?format=html`); the page checks that HTML once more (no script, frame, form, event
// attribute or script URL survives) and the CSP allows no inline script anyway. Everything else
// the server sends is inserted as text. Routing lives in the hash: #note=<path>, #edit=<path>,
// #new, #tag=<tag>, #folder=<folder>, #search=<query>, #connect.
'use strict';

const $ = (id) => document.getElementById(id);
const state = {
  me: null, config: null, token: null, notes: [], tags: [], current: null, editing: null,
  dirty: false, client: 'claudecode', route: null, saidAt: 0, framed: false, signinPending: false,
};
const TOKEN_KEY = 'vaultgate.token';
const RECENT_KEY = 'vaultgate.recent';
// A framed page whose browser blocks third-party storage may touch neither storage nor channels:
// everything that uses them copes with their absence.
const channel = (() => { try { return new BroadcastChannel('vaultgate'); } catch (_) { return null; } })();
const session = {
  get(k) { try { return window.sessionStorage.getItem(k); } catch (_) { return null; } },
  set(k, v) { try { window.sessionStorage.setItem(k, v); } catch (_) { /* storage off */ } },
  del(k) { try { window.sessionStorage.removeItem(k); } catch (_) { /* storage off */ } },
};

// ---------- HTTP ----------

class HttpError extends Error {
  constructor(status, code, message, data) { super(message); this.status = status; this.code = code; this.data = data; }
}

async function call(method, url, body, headers, raw) {
  const init = { method, credentials: 'same-origin', headers: Object.assign({ Accept: 'application/json' }, headers || {}) };
  if (state.framed) init.headers['X-Vaultgate-Embedded'] = '1';
  if (raw !== undefined) init.body = raw;
  else if (body !== undefined) { init.body = JSON.stringify(body); init.headers['Content-Type'] = 'application/json'; }
  const r = await fetch(url, init);
  let data = null;
  const text = await r.text();
  if (text) { try { data = JSON.parse(text); } catch (_) { data = null; } }
  if (!r.ok) {
    const message = (data && (data.message || (data.error && data.error.message))) || `${r.status} ${r.statusText}`;
    throw new HttpError(r.status, data && typeof data.error === 'string' ? data.error : '', message, data);
  }
  return { data, etag: r.headers.get('ETag') };
}

const encPath = (path) => path.split('/').map(encodeURIComponent).join('/');
const notePath = (path) => '/api/notes/' + encPath(path);
const el = (tag, props, ...children) => {
  const e = document.createElement(tag);
  if (props) for (const [k, v] of Object.entries(props)) { if (k === 'class') e.className = v; else if (k in e) e[k] = v; else e.setAttribute(k, v); }
  e.append(...children);
  return e;
};

// ---------- status line ----------

function say(message, isError) {
  const s = $('status');
  s.textContent = message || '';
  s.classList.toggle('error', !!isError);
  state.saidAt = Date.now();
}

function failed(e) {
  if (e instanceof HttpError && e.status === 401) { showSignedOut(); say('Your session has ended; please sign in again.', true); return; }
  say(e.message || String(e), true);
}

// ---------- sign-in state ----------

function detectFrame() {
  try { state.framed = window.self !== window.top; } catch (_) { state.framed = true; }
  document.documentElement.classList.toggle('framed', state.framed);
}

async function loadConfig() {
  state.config = (await call('GET', '/auth/config')).data;
  return state.config.session;
}

async function start() {
  try { state.me = await loadConfig(); } catch (e) { say('The gateway is not answering: ' + e.message, true); return; }
  if (!state.me) { showSignedOut(); return; }
  await showSignedIn();
}

function showSignedOut() {
  state.me = null;
  session.del(TOKEN_KEY);
  for (const id of ['loading', 'signed-in', 'whoami', 'signout', 'connect', 'search-form', 'shortcuts']) $(id).hidden = true;
  $('signed-out').hidden = false;
  const m = state.config ? state.config.signin : 'none';
  $('signin-hf').hidden = m !== 'huggingface';
  $('signin-local').hidden = m !== 'local';
  $('signin-none').hidden = m !== 'none';
  // Inside the huggingface.co iframe the provider refuses to be framed: sign in in a new tab.
  const link = $('signin-link');
  if (state.framed) { link.target = '_blank'; link.rel = 'opener'; } else { link.removeAttribute('target'); link.removeAttribute('rel'); }
  $('framed-hint').hidden = !(state.framed && m === 'huggingface');
}

async function showSignedIn() {
  state.signinPending = false;
  for (const id of ['loading', 'signed-out']) $(id).hidden = true;
  for (const id of ['signed-in', 'whoami', 'signout', 'connect', 'search-form', 'shortcuts']) $(id).hidden = false;
  const who = state.me.name ? `${state.me.name} (${state.me.user})` : state.me.user;
  $('whoami').textContent = 'Signed in as ' + who;
  $('mcp-url').value = state.config.mcp_url;
  $('oauth-hint').hidden = !state.config.mcp_oauth;
  for (const s of document.querySelectorAll('.mcp-url-text')) s.textContent = state.config.mcp_url;
  state.token = session.get(TOKEN_KEY);
  if (!state.token) await newToken(false);
  renderConfig();
  await refreshVault();
  await route();
}

// A sign-in finished elsewhere (the new tab opened from a framed page, or another tab):
// look again, quietly.
async function recheckSession() {
  if (state.me) return;
  try {
    const me = await loadConfig();
    if (me) { state.me = me; say(''); await showSignedIn(); return; }
  } catch (_) { return; }
  if (state.framed && state.signinPending && document.hasStorageAccess) {
    try { $('storage-access').hidden = await document.hasStorageAccess(); } catch (_) { $('storage-access').hidden = false; }
  }
}

// The framed page opened sign-in in a new top-level tab; that tab, signed in, hands it a token
// (same origin only). The frame turns it into its own cookie, which the gateway marks
// Partitioned: browsers that block third-party cookies keep it, in this frame's partition.
async function adoptSession(ev) {
  if (ev.origin !== location.origin || !ev.data || ev.data.type !== 'vaultgate:session' || state.me) return;
  if (typeof ev.data.token !== 'string' || !state.framed) return;
  try {
    await call('POST', '/api/auth/refresh', undefined, { Authorization: 'Bearer ' + ev.data.token });
    if (ev.source) ev.source.postMessage({ type: 'vaultgate:adopted' }, location.origin);
  } catch (_) { /* fall back to the checks below */ }
  await recheckSession();
}

// In the tab a framed page opened: give that page the session, then say where to go.
async function handOver() {
  let opener = null;
  // Only a page of this origin gets it: reading another origin's location throws.
  try { opener = window.opener && !state.framed && window.opener.location.origin === location.origin ? window.opener : null; } catch (_) { opener = null; }
  if (!opener) return;
  try {
    const t = (await call('POST', '/api/auth/token')).data;
    opener.postMessage({ type: 'vaultgate:session', token: t.access_token }, location.origin);
    say('You are signed in. The page you came from is signed in too: you may close this tab.');
  } catch (_) { /* the opener is another site, or gone */ }
}

async function useSigninInFrame() {
  try {
    await document.requestStorageAccess();
    await recheckSession();
    if (!state.me) say('Your browser shared nothing: sign in in the other tab first, then press the button again.', true);
  } catch (_) {
    say('Your browser refused to share the sign-in with this frame: open the Space in its own tab instead.', true);
  }
}

async function newToken(announce) {
  try {
    const t = (await call('POST', '/api/auth/token')).data;
    state.token = t.access_token;
    session.set(TOKEN_KEY, state.token);
    renderConfig();
    if (announce) say('A fresh token was created. Clients using an older one keep working until it expires.');
  } catch (e) { failed(e); }
}

async function signOut() {
  if (!confirmLeave()) return;
  try { await call('POST', '/api/auth/logout'); } catch (e) { if (!(e instanceof HttpError && e.status === 401)) { failed(e); return; } }
  if (channel) channel.postMessage({ type: 'signed-out' });
  showSignedOut();
  say('You are signed out.');
}

// The local sign-in code arrives once, in the link the gateway printed at start (?code=…): keep it
// for this tab only and take it out of the address bar (and so out of history and Referer).
function takeLocalCode() {
  const url = new URL(window.location.href);
  const code = url.searchParams.get('code');
  if (code === null) return;
  session.set('vaultgate-local-code', code);
  url.searchParams.delete('code');
  history.replaceState(null, '', url.pathname + url.search + url.hash);
}

async function continueLocal() {
  try {
    await call('POST', '/auth/local', undefined, { 'X-Vaultgate-Local-Code': session.get('vaultgate-local-code') || '' });
    state.me = await loadConfig();
    say('');
    await showSignedIn();
  } catch (e) { failed(e); }
}

// ---------- client configurations ----------

const json = (v) => JSON.stringify(v, null, 2);
const CLIENTS = {
  claudecode: {
    where: 'Claude Code: run this in a terminal (add --scope user to use it in every project).',
    text: (url, token) => `claude mcp add --transport http vaultgate ${url} --header "Authorization: Bearer ${token}"`,
  },
  claude: {
    where: 'Claude Desktop: Settings → Developer → Edit Config (claude_desktop_config.json). Needs Node.js for mcp-remote.',
    text: (url, token) => json({ mcpServers: { vaultgate: { command: 'npx', args: ['-y', 'mcp-remote', url, '--header', 'Authorization:${AUTH_HEADER}'], env: { AUTH_HEADER: 'Bearer ' + token } } } }),
  },
  cursor: {
    where: 'Cursor: ~/.cursor/mcp.json (or .cursor/mcp.json in a project).',
    text: (url, token) => json({ mcpServers: { vaultgate: { url, headers: { Authorization: 'Bearer ' + token } } } }),
  },
  vscode: {
    where: 'VS Code: .vscode/mcp.json in your workspace (or "MCP: Open User Configuration"). VS Code asks for the token once and keeps it as a secret: paste the token above when asked.',
    text: (url) => json({
      inputs: [{ type: 'promptString', id: 'vaultgate-token', description: 'vaultgate token', password: true }],
      servers: { vaultgate: { type: 'http', url, headers: { Authorization: 'Bearer ${input:vaultgate-token}' } } },
    }),
  },
  codex: {
    where: 'Codex: ~/.codex/config.toml; Codex reads the token from the environment variable (export VAULTGATE_TOKEN=… before starting it).',
    text: (url, token) => `[mcp_servers.vaultgate]\nurl = "${url}"\nbearer_token_env_var = "VAULTGATE_TOKEN"\n\n# in your shell:\n# export VAULTGATE_TOKEN=${token}`,
  },
  windsurf: {
    where: 'Windsurf: ~/.codeium/windsurf/mcp_config.json (MCP toolbar → Configure); remote servers use serverUrl.',
    text: (url, token) => json({ mcpServers: { vaultgate: { serverUrl: url, headers: { Authorization: 'Bearer ' + token } } } }),
  },
  inspector: {
    where: 'MCP Inspector (command line): lists the tools; drop --cli for the browser UI.',
    text: (url, token) => `npx @modelcontextprotocol/inspector --cli ${url} --transport http --header "Authorization: Bearer ${token}" --method tools/list`,
  },
};

function renderConfig() {
  const c = CLIENTS[state.client];
  $('token').value = state.token || '';
  $('cfg-where').textContent = c.where;
  $('cfg-text').textContent = c.text(state.config.mcp_url, state.token || '<token>');
  for (const tab of document.querySelectorAll('[role="tab"]')) {
    const on = tab.dataset.client === state.client;
    tab.setAttribute('aria-selected', String(on));
    tab.tabIndex = on ? 0 : -1;
    if (on) $('cfg-panel').setAttribute('aria-labelledby', tab.id);
  }
}

function tabKeys(ev) {
  const tabs = Array.from(document.querySelectorAll('[role="tab"]'));
  const i = tabs.indexOf(ev.target);
  if (i < 0) return;
  let j = null;
  if (ev.key === 'ArrowRight') j = (i + 1) % tabs.length;
  if (ev.key === 'ArrowLeft') j = (i - 1 + tabs.length) % tabs.length;
  if (ev.key === 'Home') j = 0;
  if (ev.key === 'End') j = tabs.length - 1;
  if (j === null) return;
  ev.preventDefault();
  state.client = tabs[j].dataset.client;
  renderConfig();
  tabs[j].focus();
}

async function copy(id) {
  const target = $(id);
  const text = 'value' in target && target.tagName !== 'CODE' ? target.value : target.textContent;
  try {
    await navigator.clipboard.writeText(text);
    say('Copied.');
  } catch (_) {
    // Clipboard access can be refused (e.g. in a frame without permission): select the text instead.
    const range = document.createRange();
    range.selectNodeContents(target);
    const sel = window.getSelection();
    sel.removeAllRanges();
    sel.addRange(range);
    if (target.select) target.select();
    say('Press Ctrl+C (⌘C) to copy the selected text.');
  }
}

// ---------- vault: list, folders, tags, recent ----------

async function refreshVault() {
  const notes = [];
  let cursor = null;
  try {
    // At most 20 pages of 500: the page lists a vault, it does not mirror a huge one.
    for (let page = 0; page < 20; page++) {
      const q = new URLSearchParams({ limit: '500' });
      if (cursor) q.set('cursor', cursor);
      const d = (await call('GET', '/api/notes?' + q)).data;
      notes.push(...d.notes);
      cursor = d.next_cursor;
      if (!cursor) break;
    }
    state.notes = notes;
    try { state.tags = (await call('GET', '/api/tags')).data.tags || []; } catch (_) { state.tags = tagsOf(notes); }
  } catch (e) { failed(e); return; }
  renderFolders();
  renderTags();
  renderRecent();
}

function tagsOf(notes) {
  const m = new Map();
  for (const n of notes) for (const t of n.tags || []) m.set(t, (m.get(t) || 0) + 1);
  return Array.from(m, ([tag, count]) => ({ tag, count })).sort((a, b) => a.tag.localeCompare(b.tag));
}

const folderOf = (path) => { const i = path.lastIndexOf('/'); return i < 0 ? '' : path.slice(0, i); };
const link = (href, text, extra) => el('a', Object.assign({ href }, extra || {}), text);
const hashFor = (kind, value) => '#' + kind + '=' + encodeURIComponent(value);

// A tree of folders; each shows how many notes it holds, its subfolders included.
function renderFolders() {
  const counts = new Map();
  for (const n of state.notes) {
    let f = folderOf(n.path);
    counts.set(f, (counts.get(f) || 0) + (f === '' ? 1 : 0));
    while (f) { counts.set(f, (counts.get(f) || 0) + 1); f = folderOf(f); }
  }
  const ul = $('folder-list');
  ul.replaceChildren();
  const current = state.route && state.route.kind === 'folder' ? state.route.value : null;
  const item = (label, folder, count, depth) => {
    const a = link(folder === null ? '#folder=' : hashFor('folder', folder), `${label} (${count})`);
    a.style.setProperty('--depth', String(depth));
    a.className = 'depth';
    if (current === (folder === null ? '' : folder)) a.setAttribute('aria-current', 'page');
    ul.append(el('li', null, a));
  };
  item('All notes', null, state.notes.length, 0);
  const folders = Array.from(counts.keys()).filter((f) => f !== '').sort();
  for (const f of folders) item(f.split('/').pop(), f, counts.get(f), f.split('/').length);
}

function renderTags() {
  const ul = $('tag-list');
  ul.replaceChildren();
  if (!state.tags.length) { ul.append(el('li', { class: 'hint' }, 'No tags yet.')); return; }
  for (const t of state.tags) ul.append(el('li', null, link(hashFor('tag', t.tag), `#${t.tag} (${t.count})`, { class: 'tag' })));
}

function recent() { try { return JSON.parse(window.localStorage.getItem(RECENT_KEY) || '[]').filter((p) => typeof p === 'string'); } catch (_) { return []; } }

function remember(path) {
  const list = [path, ...recent().filter((p) => p !== path)].slice(0, 8);
  try { window.localStorage.setItem(RECENT_KEY, JSON.stringify(list)); } catch (_) { /* storage off: no recent list */ }
  renderRecent();
}

function renderRecent() {
  const known = new Map(state.notes.map((n) => [n.path, n]));
  const ul = $('recent-list');
  ul.replaceChildren();
  const list = recent().filter((p) => known.has(p));
  const items = list.length ? list.map((p) => known.get(p)) : state.notes.slice().sort((a, b) => (b.modified || '').localeCompare(a.modified || '')).slice(0, 8);
  if (!items.length) { ul.append(el('li', { class: 'hint' }, 'No notes yet.')); return; }
  for (const n of items) ul.append(el('li', null, link(hashFor('note', n.path), n.title || n.path)));
}

function showList(title, items, withSnippets) {
  showView('view-list');
  $('list-title').textContent = title;
  const ul = $('note-list');
  ul.replaceChildren();
  if (!items.length) { ul.append(el('li', { class: 'hint' }, withSnippets ? 'No note matches.' : 'No notes here yet.')); return; }
  for (const n of items) {
    const li = el('li', null, link(hashFor('note', n.path), n.title || n.path, { class: 'result-title' }));
    const p = el('p', { class: 'snippet' });
    if (withSnippets) p.append(...snippetNodes(n));
    else p.textContent = n.path;
    li.append(p);
    if (n.tags && n.tags.length) li.append(el('p', { class: 'tag-row' }, ...n.tags.map((t) => link(hashFor('tag', t), '#' + t, { class: 'tag' }))));
    ul.append(li);
  }
}

// A search hit's snippet: the plain text, with the matches marked. `snippet_html` is escaped
// text with <mark> only; it is parsed inertly and only its text and <mark>s are kept.
function snippetNodes(hit) {
  const source = hit.snippet_html || hit.snippet || '';
  const doc = new DOMParser().parseFromString('<p>' + source + '</p>', 'text/html');
  const out = [];
  for (const node of doc.body.firstChild ? doc.body.firstChild.childNodes : []) {
    if (node.nodeType === Node.TEXT_NODE) out.push(document.createTextNode(node.textContent));
    else if (node.nodeName === 'MARK') out.push(el('mark', null, node.textContent));
    else out.push(document.createTextNode(node.textContent));
  }
  return out;
}

// ---------- routing ----------

function parseRoute() {
  const h = location.hash.slice(1);
  const i = h.indexOf('=');
  if (!h) return { kind: 'home', value: '' };
  if (i < 0) return { kind: h, value: '' };
  let value = h.slice(i + 1);
  try { value = decodeURIComponent(value); } catch (_) { /* keep it raw */ }
  return { kind: h.slice(0, i), value };
}

function showView(id) {
  for (const v of ['view-connect', 'view-list', 'view-note', 'view-missing', 'view-editor']) $(v).hidden = v !== id;
  $('links-panel').hidden = id !== 'view-note';
  document.body.dataset.view = id;
}

async function route() {
  if (!state.me) return;
  const r = parseRoute();
  state.route = r;
  // A message outlives the navigation that follows it ("Saved", "Deleted"), not the next one.
  if (Date.now() - state.saidAt > 1500) say('');
  if (r.kind !== 'edit' && r.kind !== 'new') { state.editing = null; setDirty(false); }
  renderFolders();
  switch (r.kind) {
    case 'note': return openNote(r.value);
    case 'edit': return editRoute(r.value);
    case 'new': return openEditor(null, r.value);
    case 'tag': return showList(`Tagged #${r.value}`, state.notes.filter((n) => (n.tags || []).includes(r.value)));
    case 'folder': {
      const f = r.value;
      const items = state.notes.filter((n) => f === '' || n.path.startsWith(f + '/'));
      return showList(f === '' ? `All notes (${items.length})` : `Folder ${f} (${items.length})`, items);
    }
    case 'search': return runSearch(r.value);
    case 'connect': showView('view-connect'); return $('connect-title').focus();
    default:
      if (!state.notes.length) { showView('view-connect'); return; }
      return showList(`All notes (${state.notes.length})`, state.notes);
  }
}

// In-app navigation away from an edited note asks first; a refused move puts the hash back.
function onHashChange(ev) {
  if (state.dirty && !window.confirm('Leave without saving? Your changes to this note will be lost.')) {
    const i = ev.oldURL.indexOf('#');
    history.replaceState(null, '', i < 0 ? location.pathname + location.search : ev.oldURL.slice(i));
    return;
  }
  setDirty(false);
  route();
}

function go(hash) {
  if (location.hash === hash) route(); else location.hash = hash;
}

function confirmLeave() {
  return !state.dirty || window.confirm('Leave without saving? Your changes to this note will be lost.');
}

// ---------- a note ----------

async function openNote(path) {
  let r;
  try {
    r = await call('GET', notePath(path) + '?format=html');
  } catch (e) {
    if (e instanceof HttpError && e.status === 404) { showMissing(path); return; }
    failed(e); return;
  }
  state.current = r.data;
  state.current.etag = r.etag || `"${r.data.hash}"`;
  remember(path);
  renderNote();
  loadBacklinks(path);
}

function showMissing(path) {
  showView('view-missing');
  $('missing-text').textContent = `There is no note at ${path}. Links to it are shown in red until you create it.`;
  $('create-missing').onclick = () => go(hashFor('new', path));
  $('missing-title').tabIndex = -1;
  $('missing-title').focus();
}

function renderNote() {
  const n = state.current;
  showView('view-note');
  $('note-title').textContent = n.title || n.path;
  document.title = `${n.title || n.path} · vaultgate`;
  const changed = new Date(n.modified);
  $('note-meta').textContent = `${n.path} · ${n.size} bytes · changed ${isNaN(changed) ? n.modified : changed.toLocaleString()}`;
  $('note-tags').replaceChildren(...(n.tags || []).map((t) => link(hashFor('tag', t), '#' + t, { class: 'tag' })));
  showHtml($('note-body'), n.html, n.body);
  // A note that starts with its own title as a heading shows it once (the page's heading stays
  // for screen readers and focus).
  const first = $('note-body').firstElementChild;
  $('note-title').classList.toggle('visually-hidden', !!first && first.nodeName === 'H1' && first.textContent.trim() === (n.title || '').trim());
  renderOutgoing(n);
  $('note-title').focus({ preventScroll: false });
}

// Shows the backend's HTML, or the text as text when there is none (a big note, another backend).
function showHtml(target, html, text) {
  if (typeof html !== 'string') {
    target.replaceChildren(el('pre', { class: 'plain-text' }, text || ''));
    return;
  }
  const doc = new DOMParser().parseFromString('<body>' + html + '</body>', 'text/html');
  const prefix = target.id + '-';
  scrub(doc.body, prefix);
  target.replaceChildren(...Array.from(doc.body.childNodes).map((node) => document.importNode(node, true)));
  // In-note anchors (headings, footnotes) scroll; the hash stays the page's route.
  for (const a of target.querySelectorAll('a[data-anchor]')) {
    a.addEventListener('click', (ev) => {
      ev.preventDefault();
      const dest = document.getElementById(prefix + a.dataset.anchor);
      if (dest) { dest.scrollIntoView(); if (!dest.hasAttribute('tabindex')) dest.tabIndex = -1; dest.focus({ preventScroll: true }); }
    });
  }
}

// Defence in depth behind the backend's sanitiser and the CSP: elements that run or load
// things, event-handler attributes and script URLs never reach the page.
const DROP = new Set(['SCRIPT', 'IFRAME', 'FRAME', 'OBJECT', 'EMBED', 'FORM', 'STYLE', 'LINK', 'META', 'BASE', 'SVG', 'MATH', 'TEMPLATE', 'NOSCRIPT', 'AUDIO', 'VIDEO', 'SOURCE']);
function scrub(root, prefix) {
  for (const node of Array.from(root.querySelectorAll('*'))) {
    if (DROP.has(node.nodeName.toUpperCase())) { node.remove(); continue; }
    // A note's ids must not collide with (or clobber) the page's own.
    if (node.id) node.id = prefix + node.id;
    if (node.hasAttribute('name')) node.removeAttribute('name');
    for (const attr of Array.from(node.attributes)) {
      const name = attr.name.toLowerCase();
      if (name.startsWith('on') || ['style', 'srcdoc', 'formaction', 'srcset', 'background', 'ping'].includes(name)) { node.removeAttribute(attr.name); continue; }
      if ((name === 'href' || name === 'src' || name === 'xlink:href' || name === 'action') && !safeUrl(attr.value, name === 'src')) node.removeAttribute(attr.name);
    }
    if (node.nodeName === 'A' && node.hasAttribute('href')) {
      const href = node.getAttribute('href');
      if (!href.startsWith('#')) { node.target = '_blank'; node.rel = 'noopener noreferrer'; }
      else if (!/^#(note|tag|folder|search|new|edit)=/.test(href)) { node.dataset.anchor = decodeURIComponentSafe(href.slice(1)); }
    }
    if (node.nodeName === 'INPUT') { node.disabled = true; if (!node.getAttribute('aria-label')) node.setAttribute('aria-label', node.checked ? 'done' : 'not done'); }
  }
}

function decodeURIComponentSafe(s) { try { return decodeURIComponent(s); } catch (_) { return s; } }

// Links: http(s), mailto, in-page. Images: absolute https or inline data only (a relative path
// names a vault attachment, which is not served; the CSP would refuse plain http).
function safeUrl(value, image) {
  const v = value.trim();
  if (image) return /^https:\/\//i.test(v) || /^data:image\/(png|gif|jpeg|webp);/i.test(v);
  if (v.startsWith('#')) return true;
  try {
    const u = new URL(v, location.href);
    return u.protocol === 'https:' || u.protocol === 'http:' || u.protocol === 'mailto:';
  } catch (_) { return false; }
}

function renderOutgoing(n) {
  const ul = $('outgoing-list');
  ul.replaceChildren();
  const seen = new Set();
  for (const l of n.links || []) {
    const key = l.path || l.target;
    if (seen.has(key)) continue;
    seen.add(key);
    const a = l.path ? link(hashFor('note', l.path), l.target) : link(hashFor('note', l.target.endsWith('.md') ? l.target : l.target + '.md'), l.target + ' (not yet written)', { class: 'unresolved' });
    ul.append(el('li', null, a));
  }
  if (!ul.children.length) ul.append(el('li', { class: 'hint' }, 'No links.'));
}

async function loadBacklinks(path) {
  const ul = $('backlink-list');
  ul.replaceChildren(el('li', { class: 'hint' }, 'Loading…'));
  try {
    const d = (await call('GET', '/api/backlinks/' + encPath(path))).data;
    if (!state.current || state.current.path !== path) return;
    ul.replaceChildren(...(d.backlinks || []).map((b) => el('li', null, link(hashFor('note', b.path), b.title || b.path))));
    if (!ul.children.length) ul.append(el('li', { class: 'hint' }, 'No note links here yet.'));
  } catch (e) { ul.replaceChildren(el('li', { class: 'hint' }, 'Backlinks are unavailable: ' + e.message)); }
}

async function deleteNote() {
  const n = state.current;
  if (!n || !window.confirm(`Delete ${n.path}? This cannot be undone.`)) return;
  try {
    await call('DELETE', notePath(n.path), undefined, { 'If-Match': n.etag });
    state.current = null;
    say(`Deleted ${n.path}.`);
    await refreshVault();
    go('#folder=' + encodeURIComponent(folderOf(n.path)));
  } catch (e) {
    if (e instanceof HttpError && e.status === 412) { say('This note changed since you opened it; it was not deleted. Open it again to see the new version.', true); return; }
    failed(e);
  }
}

// ---------- search ----------

async function runSearch(q) {
  $('search').value = q;
  if (!q.trim()) { showList(`All notes (${state.notes.length})`, state.notes); return; }
  try {
    const d = (await call('GET', '/api/search?' + new URLSearchParams({ q, limit: '50' }))).data;
    showList(`Results for “${q}”`, d.results, true);
    say(`${d.results.length} result${d.results.length === 1 ? '' : 's'}.`);
  } catch (e) { failed(e); }
}

// ---------- editor ----------

let previewTimer = null;
let previewSeq = 0;
let renderMissing = false; // a backend without /api/render: preview the text as text

async function editRoute(path) {
  if (!state.current || state.current.path !== path) {
    try {
      const r = await call('GET', notePath(path) + '?format=html');
      state.current = r.data;
      state.current.etag = r.etag || `"${r.data.hash}"`;
    } catch (e) { failed(e); return; }
  }
  openEditor(state.current);
}

function openEditor(note, suggested) {
  state.editing = note || null;
  showView('view-editor');
  $('editor-title').textContent = note ? `Edit ${note.path}` : 'New note';
  const folder = state.route && state.route.kind === 'folder' && state.route.value ? state.route.value + '/' : '';
  $('ed-path').value = note ? note.path : (suggested || folder);
  $('ed-path').readOnly = !!note;
  $('ed-title').value = note ? note.title : '';
  $('ed-tags').value = note ? (note.tags || []).join(', ') : '';
  $('ed-body').value = note ? note.body : '';
  setDirty(false);
  schedulePreview(0);
  (note || suggested ? $('ed-body') : $('ed-path')).focus();
}

function setDirty(on) {
  state.dirty = on;
  $('ed-save').textContent = on ? 'Save changes' : 'Save';
}

function schedulePreview(delay) {
  clearTimeout(previewTimer);
  previewTimer = setTimeout(renderPreview, delay === undefined ? 350 : delay);
}

async function renderPreview() {
  const seq = ++previewSeq;
  const content = $('ed-body').value;
  const path = $('ed-path').value.trim();
  try {
    if (renderMissing) throw new Error('no /api/render');
    const body = { content };
    if (path) body.path = path.endsWith('.md') ? path : path + '.md';
    const d = (await call('POST', '/api/render', body)).data;
    if (seq === previewSeq) showHtml($('preview'), d && d.html, content);
  } catch (e) {
    if (e instanceof HttpError && (e.status === 404 || e.status === 405)) renderMissing = true;
    if (seq === previewSeq) showHtml($('preview'), undefined, content);
  }
}

function cancelEdit() {
  if (!confirmLeave()) return;
  setDirty(false);
  const back = state.editing ? hashFor('note', state.editing.path) : '#';
  state.editing = null;
  go(back);
}

async function saveNote(ev) {
  ev.preventDefault();
  let path = $('ed-path').value.trim();
  if (!path) { say('A path is needed.', true); return; }
  if (!path.endsWith('.md')) path += '.md';
  const tags = $('ed-tags').value.split(',').map((t) => t.trim()).filter(Boolean);
  const body = { body: $('ed-body').value, tags };
  const title = $('ed-title').value.trim();
  if (title) body.title = title;
  const headers = {};
  try {
    if (state.editing) {
      headers['If-Match'] = state.editing.etag;
    } else {
      // Creating must not overwrite: look at the freshly listed vault first.
      await refreshVault();
      if (state.notes.some((n) => n.path === path)) { say(`A note already exists at ${path}; open it to edit it.`, true); return; }
    }
    await call('PUT', notePath(path), body, headers);
    setDirty(false);
    state.editing = null;
    state.current = null;
    say(`Saved ${path}.`);
    await refreshVault();
    go(hashFor('note', path));
  } catch (e) {
    if (e instanceof HttpError && e.status === 412) {
      say('Someone (or a client) changed this note since you opened it. Your text is still in the editor: copy it, cancel, and open the note again.', true);
      return;
    }
    failed(e);
  }
}

// ---------- import ----------

async function importZip() {
  const input = $('import-file');
  const file = input.files && input.files[0];
  input.value = '';
  if (!file) return;
  if (file.size > 50 * 1024 * 1024) { say('That file is larger than 50 MiB, the most one import takes.', true); return; }
  say(`Importing ${file.name}…`);
  const q = $('import-overwrite').checked ? '?overwrite=true' : '';
  try {
    const d = (await call('POST', '/api/import' + q, undefined, { 'Content-Type': 'application/zip' }, file)).data || {};
    const skipped = Array.isArray(d.skipped) ? d.skipped : [];
    $('import-summary').textContent = `Imported ${d.imported || 0} note${d.imported === 1 ? '' : 's'} from ${file.name}` + (skipped.length ? `; skipped ${skipped.length}:` : '.');
    $('import-skipped').replaceChildren(...skipped.map((s) => el('li', null, el('code', null, String(s.path)), ' — ' + String(s.reason).replace(/_/g, ' '))));
    $('import-result').hidden = false;
    $('import-result').focus();
    say('');
    await refreshVault();
    if (!state.dirty) route();
  } catch (e) { failed(e); }
}

// ---------- keyboard ----------

function typing(t) {
  return t && (t.isContentEditable || ['INPUT', 'TEXTAREA', 'SELECT'].includes(t.tagName));
}

function keys(ev) {
  if (!state.me || ev.ctrlKey && ev.key !== 'Enter' || ev.metaKey || ev.altKey) return;
  if (ev.key === 'Escape') {
    if (!$('view-editor').hidden) { ev.preventDefault(); cancelEdit(); return; }
    if (document.activeElement === $('search')) { $('search').blur(); return; }
    if (!$('import-result').hidden) { $('import-result').hidden = true; return; }
    if (state.route && state.route.kind !== 'home') { ev.preventDefault(); history.back(); }
    return;
  }
  if (ev.key === 'Enter' && (ev.ctrlKey || ev.metaKey) && !$('view-editor').hidden) { ev.preventDefault(); $('editor-form').requestSubmit(); return; }
  if (typing(ev.target)) return;
  if (ev.key === '/') { ev.preventDefault(); $('search').focus(); $('search').select(); }
  else if (ev.key === 'n') { ev.preventDefault(); go('#new'); }
  else if (ev.key === 'e' && !$('view-note').hidden && state.current) { ev.preventDefault(); go(hashFor('edit', state.current.path)); }
}

// ---------- wiring ----------

document.addEventListener('DOMContentLoaded', () => {
  detectFrame();
  $('signout').addEventListener('click', signOut);
  $('connect').addEventListener('click', () => go('#connect'));
  $('continue-local').addEventListener('click', continueLocal);
  $('new-token').addEventListener('click', () => newToken(true));
  for (const b of document.querySelectorAll('button.copy')) b.addEventListener('click', () => copy(b.dataset.copy));
  for (const tab of document.querySelectorAll('[role="tab"]')) {
    tab.addEventListener('click', () => { state.client = tab.dataset.client; renderConfig(); });
    tab.addEventListener('keydown', tabKeys);
  }
  $('search-form').addEventListener('submit', (ev) => { ev.preventDefault(); go(hashFor('search', $('search').value.trim())); });
  $('new-note').addEventListener('click', () => go('#new'));
  $('edit-note').addEventListener('click', () => state.current && go(hashFor('edit', state.current.path)));
  $('delete-note').addEventListener('click', deleteNote);
  $('editor-form').addEventListener('submit', saveNote);
  $('ed-cancel').addEventListener('click', cancelEdit);
  for (const id of ['ed-body', 'ed-title', 'ed-tags', 'ed-path']) $(id).addEventListener('input', () => { setDirty(true); if (id === 'ed-body') schedulePreview(); });
  $('import-file').addEventListener('change', importZip);
  $('import-close').addEventListener('click', () => { $('import-result').hidden = true; });
  $('use-signin').addEventListener('click', useSigninInFrame);
  $('signin-link').addEventListener('click', () => { state.signinPending = true; });
  window.addEventListener('message', adoptSession);
  window.addEventListener('hashchange', onHashChange);
  window.addEventListener('beforeunload', (ev) => { if (state.dirty) { ev.preventDefault(); ev.returnValue = ''; } });
  document.addEventListener('keydown', keys);
  // A sign-in in another tab (the framed page opens one): notice it on return, on a message
  // from that tab, or — while one is pending — every few seconds.
  window.addEventListener('focus', recheckSession);
  document.addEventListener('visibilitychange', () => { if (!document.hidden) recheckSession(); });
  if (channel) channel.addEventListener('message', (m) => {
    if (m.data && m.data.type === 'signed-in') recheckSession();
    if (m.data && m.data.type === 'signed-out' && state.me) { state.me = null; showSignedOut(); say('You signed out in another tab.'); }
  });
  setInterval(() => { if (state.signinPending && !state.me) recheckSession(); }, 2000);
  takeLocalCode();
  start().then(() => {
    if (!state.me) return;
    if (channel) channel.postMessage({ type: 'signed-in' });
    handOver();
  });
});
