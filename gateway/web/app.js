// vaultgate's web page: sign-in, client configuration, and a browser for your notes.
// No framework and no build step. Everything the server sends is inserted as text or as
// DOM nodes built here, never as HTML, so a note cannot script the page.
'use strict';

const $ = (id) => document.getElementById(id);
const state = { me: null, config: null, token: null, folder: null, notes: [], current: null, editing: null, client: 'claude' };
const TOKEN_KEY = 'vaultgate.token';

// ---------- HTTP ----------

class HttpError extends Error {
  constructor(status, code, message) { super(message); this.status = status; this.code = code; }
}

async function call(method, url, body, headers) {
  const init = { method, credentials: 'same-origin', headers: Object.assign({ Accept: 'application/json' }, headers || {}) };
  if (body !== undefined) { init.body = JSON.stringify(body); init.headers['Content-Type'] = 'application/json'; }
  const r = await fetch(url, init);
  let data = null;
  const text = await r.text();
  if (text) { try { data = JSON.parse(text); } catch (_) { data = null; } }
  if (!r.ok) {
    const message = (data && (data.message || (data.error && data.error.message))) || `${r.status} ${r.statusText}`;
    throw new HttpError(r.status, data && typeof data.error === 'string' ? data.error : '', message);
  }
  return { data, etag: r.headers.get('ETag') };
}

function notePath(path) { return '/api/notes/' + path.split('/').map(encodeURIComponent).join('/'); }

// ---------- status line ----------

function say(message, isError) {
  const el = $('status');
  el.textContent = message || '';
  el.classList.toggle('error', !!isError);
}

function failed(e) {
  if (e instanceof HttpError && e.status === 401) { showSignedOut(); say('Your session has ended; please sign in again.', true); return; }
  say(e.message || String(e), true);
}

// ---------- sign-in state ----------

async function start() {
  try {
    state.config = (await call('GET', '/auth/config')).data;
  } catch (e) { say('The gateway is not answering: ' + e.message, true); return; }
  state.me = state.config.session;
  if (!state.me) { showSignedOut(); return; }
  await showSignedIn();
}

function showSignedOut() {
  state.me = null;
  sessionStorage.removeItem(TOKEN_KEY);
  $('loading').hidden = true;
  $('signed-in').hidden = true;
  $('editor').hidden = true;
  $('signed-out').hidden = false;
  $('whoami').hidden = true;
  $('signout').hidden = true;
  const m = state.config ? state.config.signin : 'none';
  $('signin-hf').hidden = m !== 'huggingface';
  $('signin-local').hidden = m !== 'local';
  $('signin-none').hidden = m !== 'none';
}

async function showSignedIn() {
  $('loading').hidden = true;
  $('signed-out').hidden = true;
  $('signed-in').hidden = false;
  $('whoami').hidden = false;
  $('signout').hidden = false;
  const who = state.me.name ? `${state.me.name} (${state.me.user})` : state.me.user;
  $('whoami').textContent = 'Signed in as ' + who;
  $('mcp-url').value = state.config.mcp_url;
  $('oauth-hint').hidden = !state.config.mcp_oauth;
  for (const el of document.querySelectorAll('.mcp-url-text')) el.textContent = state.config.mcp_url;
  state.token = sessionStorage.getItem(TOKEN_KEY);
  if (!state.token) await newToken(false);
  renderConfig();
  await loadNotes();
}

async function newToken(announce) {
  try {
    const t = (await call('POST', '/api/auth/token')).data;
    state.token = t.access_token;
    sessionStorage.setItem(TOKEN_KEY, state.token);
    $('token').value = state.token;
    renderConfig();
    if (announce) say('A fresh token was created. Clients using an older one keep working until it expires.');
  } catch (e) { failed(e); }
}

async function signOut() {
  try { await call('POST', '/api/auth/logout'); } catch (e) { if (!(e instanceof HttpError && e.status === 401)) { failed(e); return; } }
  showSignedOut();
  say('You are signed out.');
}

// The local sign-in code arrives once, in the link the gateway printed at start (?code=…): keep it
// for this tab only and take it out of the address bar (and so out of history and Referer).
function takeLocalCode() {
  const url = new URL(window.location.href);
  const code = url.searchParams.get('code');
  if (code === null) return;
  sessionStorage.setItem('vaultgate-local-code', code);
  url.searchParams.delete('code');
  history.replaceState(null, '', url.pathname + url.search + url.hash);
}

async function continueLocal() {
  try {
    await call('POST', '/auth/local', undefined, { 'X-Vaultgate-Local-Code': sessionStorage.getItem('vaultgate-local-code') || '' });
    state.config = (await call('GET', '/auth/config')).data;
    state.me = state.config.session;
    say('');
    await showSignedIn();
  } catch (e) { failed(e); }
}

// ---------- client configurations ----------

const CLIENTS = {
  claude: {
    where: 'Claude Desktop: Settings → Developer → Edit Config (claude_desktop_config.json). Needs Node.js for mcp-remote.',
    text: (url, token) => JSON.stringify({ mcpServers: { vaultgate: { command: 'npx', args: ['-y', 'mcp-remote', url, '--header', 'Authorization:${AUTH_HEADER}'], env: { AUTH_HEADER: 'Bearer ' + token } } } }, null, 2),
  },
  cursor: {
    where: 'Cursor: ~/.cursor/mcp.json (or .cursor/mcp.json in a project).',
    text: (url, token) => JSON.stringify({ mcpServers: { vaultgate: { url, headers: { Authorization: 'Bearer ' + token } } } }, null, 2),
  },
  vscode: {
    where: 'VS Code: .vscode/mcp.json in your workspace (or "MCP: Open User Configuration").',
    text: (url, token) => JSON.stringify({ servers: { vaultgate: { type: 'http', url, headers: { Authorization: 'Bearer ' + token } } } }, null, 2),
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
  const el = $(id);
  const text = 'value' in el && el.tagName !== 'CODE' ? el.value : el.textContent;
  try {
    await navigator.clipboard.writeText(text);
    say('Copied.');
  } catch (_) {
    // Clipboard access can be refused (e.g. in a frame without permission): select the text instead.
    const range = document.createRange();
    range.selectNodeContents(el);
    const sel = window.getSelection();
    sel.removeAllRanges();
    sel.addRange(range);
    if (el.select) el.select();
    say('Press Ctrl+C (⌘C) to copy the selected text.');
  }
}

// ---------- notes ----------

async function loadNotes() {
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
  } catch (e) { failed(e); return; }
  state.notes = notes;
  renderFolders();
  renderList(state.folder === null ? notes : notes.filter((n) => folderOf(n.path) === state.folder), state.folder === null ? 'All notes' : 'Folder ' + (state.folder || '(top level)'));
}

function folderOf(path) { const i = path.lastIndexOf('/'); return i < 0 ? '' : path.slice(0, i); }

function renderFolders() {
  const folders = Array.from(new Set(state.notes.map((n) => folderOf(n.path)))).sort();
  const ul = $('folder-list');
  ul.replaceChildren();
  const item = (label, value) => {
    const li = document.createElement('li');
    const b = document.createElement('button');
    b.type = 'button';
    b.textContent = label;
    if (state.folder === value) b.setAttribute('aria-current', 'true');
    b.addEventListener('click', () => {
      state.folder = value;
      renderFolders();
      renderList(value === null ? state.notes : state.notes.filter((n) => folderOf(n.path) === value), value === null ? 'All notes' : 'Folder ' + (value || '(top level)'));
    });
    li.append(b);
    ul.append(li);
  };
  item(`All notes (${state.notes.length})`, null);
  for (const f of folders) item(f === '' ? '(top level)' : f, f);
}

function renderList(items, title, withSnippets) {
  $('list-title').textContent = title;
  const ul = $('note-list');
  ul.replaceChildren();
  if (!items.length) {
    const li = document.createElement('li');
    li.className = 'hint';
    li.textContent = withSnippets ? 'No note matches.' : 'No notes here yet.';
    ul.append(li);
    return;
  }
  for (const n of items) {
    const li = document.createElement('li');
    const b = document.createElement('button');
    b.type = 'button';
    const t = document.createElement('span');
    t.textContent = n.title || n.path;
    b.append(t);
    const p = document.createElement('span');
    p.className = 'snippet';
    if (withSnippets && n.snippet) p.append(...snippetNodes(n.snippet)); else p.textContent = n.path;
    b.append(p);
    if (state.current && state.current.path === n.path) b.setAttribute('aria-current', 'true');
    b.addEventListener('click', () => openNote(n.path));
    li.append(b);
    ul.append(li);
  }
}

// The backend's snippets are HTML-escaped text with <mark> around matches: rebuild them as nodes.
function snippetNodes(snippet) {
  const out = [];
  let marked = false;
  for (const part of snippet.split(/(<\/?mark>)/)) {
    if (part === '<mark>') { marked = true; continue; }
    if (part === '</mark>') { marked = false; continue; }
    if (!part) continue;
    const text = document.createTextNode(unescapeHtml(part));
    if (marked) { const m = document.createElement('mark'); m.append(text); out.push(m); } else out.push(text);
  }
  return out;
}

function unescapeHtml(s) {
  return s.replace(/&(amp|lt|gt|quot|#39|#x27);/g, (_, e) => ({ amp: '&', lt: '<', gt: '>', quot: '"', '#39': "'", '#x27': "'" })[e]);
}

async function search(ev) {
  ev.preventDefault();
  const q = $('search').value.trim();
  if (!q) { state.folder = null; await loadNotes(); return; }
  try {
    const d = (await call('GET', '/api/search?' + new URLSearchParams({ q, limit: '50' }))).data;
    renderList(d.results, `Results for “${q}”`, true);
    say(`${d.results.length} result${d.results.length === 1 ? '' : 's'}.`);
  } catch (e) { failed(e); }
}

async function openNote(path) {
  try {
    const r = await call('GET', notePath(path));
    state.current = r.data;
    state.current.etag = r.etag || `"${r.data.hash}"`;
    renderNote();
  } catch (e) { failed(e); }
}

function renderNote() {
  const n = state.current;
  const view = $('note-view');
  view.replaceChildren();
  const h = document.createElement('h3');
  h.textContent = n.title || n.path;
  h.className = 'note-title';
  const meta = document.createElement('p');
  meta.className = 'meta';
  meta.textContent = `${n.path} · ${n.size} bytes · changed ${n.modified} `;
  for (const t of n.tags) { const s = document.createElement('span'); s.className = 'tag'; s.textContent = '#' + t; meta.append(s); }
  const actions = document.createElement('div');
  actions.className = 'row';
  const edit = document.createElement('button'); edit.type = 'button'; edit.textContent = 'Edit'; edit.addEventListener('click', () => openEditor(n));
  const del = document.createElement('button'); del.type = 'button'; del.className = 'danger'; del.textContent = 'Delete'; del.addEventListener('click', () => deleteNote(n));
  actions.append(edit, del);
  const body = document.createElement('div');
  body.className = 'markdown';
  body.append(...renderMarkdown(n.body, n.links || []));
  view.append(h, meta, actions, body);
  view.querySelector('.note-title').tabIndex = -1;
}

async function deleteNote(n) {
  if (!window.confirm(`Delete ${n.path}? This cannot be undone.`)) return;
  try {
    await call('DELETE', notePath(n.path), undefined, { 'If-Match': n.etag });
    state.current = null;
    $('note-view').replaceChildren();
    say(`Deleted ${n.path}.`);
    await loadNotes();
  } catch (e) {
    if (e instanceof HttpError && e.status === 412) { say('This note changed since you opened it; it was not deleted. Open it again to see the new version.', true); return; }
    failed(e);
  }
}

// ---------- editor ----------

function openEditor(note) {
  state.editing = note || null;
  $('editor-title').textContent = note ? `Edit ${note.path}` : 'New note';
  $('ed-path').value = note ? note.path : (state.folder ? state.folder + '/' : '');
  $('ed-path').readOnly = !!note;
  $('ed-title').value = note ? note.title : '';
  $('ed-tags').value = note ? note.tags.join(', ') : '';
  $('ed-body').value = note ? note.body : '';
  $('signed-in').hidden = true;
  $('editor').hidden = false;
  (note ? $('ed-body') : $('ed-path')).focus();
}

function closeEditor() {
  $('editor').hidden = true;
  $('signed-in').hidden = false;
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
      await loadNotes();
      if (state.notes.some((n) => n.path === path)) { say(`A note already exists at ${path}; open it to edit it.`, true); return; }
    }
    await call('PUT', notePath(path), body, headers);
    closeEditor();
    say(`Saved ${path}.`);
    await loadNotes();
    await openNote(path);
  } catch (e) {
    if (e instanceof HttpError && e.status === 412) {
      say('Someone (or a client) changed this note since you opened it. Your text is still in the editor: copy it, cancel, and open the note again.', true);
      return;
    }
    failed(e);
  }
}

// ---------- Markdown (a safe subset, rendered to DOM nodes) ----------

function renderMarkdown(src, links) {
  const resolve = new Map(links.map((l) => [l.target.toLowerCase(), l.path]));
  const out = [];
  const lines = src.replace(/\r\n?/g, '\n').split('\n');
  let i = 0;
  const para = [];
  const flush = () => { if (para.length) { const p = document.createElement('p'); p.append(...inline(para.join(' '), resolve)); out.push(p); para.length = 0; } };
  while (i < lines.length) {
    const line = lines[i];
    let m;
    if ((m = line.match(/^(```|~~~)(.*)$/))) {
      flush();
      const fence = m[1];
      const code = [];
      i++;
      while (i < lines.length && !lines[i].startsWith(fence)) code.push(lines[i++]);
      i++;
      const pre = document.createElement('pre'); const c = document.createElement('code'); c.textContent = code.join('\n'); pre.append(c); out.push(pre);
      continue;
    }
    if ((m = line.match(/^(#{1,6})\s+(.*)$/))) {
      flush();
      const h = document.createElement('h' + Math.min(6, m[1].length + 2));
      h.append(...inline(m[2].replace(/\s+#+\s*$/, ''), resolve));
      out.push(h); i++; continue;
    }
    if (/^\s*([-*_])(\s*\1){2,}\s*$/.test(line)) { flush(); out.push(document.createElement('hr')); i++; continue; }
    if (/^>\s?/.test(line)) {
      flush();
      const q = [];
      while (i < lines.length && /^>\s?/.test(lines[i])) q.push(lines[i++].replace(/^>\s?/, ''));
      const bq = document.createElement('blockquote'); bq.append(...renderMarkdown(q.join('\n'), links)); out.push(bq);
      continue;
    }
    if ((m = line.match(/^\s*([-*+]|\d+[.)])\s+/))) {
      flush();
      const ordered = /\d/.test(m[1]);
      const list = document.createElement(ordered ? 'ol' : 'ul');
      list.className = 'md-list';
      while (i < lines.length && (m = lines[i].match(/^\s*([-*+]|\d+[.)])\s+(.*)$/)) && /\d/.test(m[1]) === ordered) {
        const li = document.createElement('li');
        let text = m[2];
        const task = text.match(/^\[( |x|X)\]\s+(.*)$/);
        if (task) { const cb = document.createElement('input'); cb.type = 'checkbox'; cb.disabled = true; cb.checked = task[1] !== ' '; cb.setAttribute('aria-label', cb.checked ? 'done' : 'not done'); li.append(cb, ' '); text = task[2]; }
        li.append(...inline(text, resolve));
        list.append(li);
        i++;
      }
      out.push(list);
      continue;
    }
    if (!line.trim()) { flush(); i++; continue; }
    para.push(line.trim());
    i++;
  }
  flush();
  return out;
}

function inline(text, resolve) {
  const out = [];
  const re = /(`[^`]+`)|(\[\[[^\]\n]+\]\])|(\*\*[^*]+\*\*|__[^_]+__)|(\*[^*\s][^*]*\*|_[^_\s][^_]*_)|(\[[^\]]+\]\([^)\s]+\))/g;
  let last = 0;
  let m;
  while ((m = re.exec(text))) {
    if (m.index > last) out.push(document.createTextNode(text.slice(last, m.index)));
    const t = m[0];
    if (m[1]) { const c = document.createElement('code'); c.textContent = t.slice(1, -1); out.push(c); }
    else if (m[2]) {
      const [target, label] = t.slice(2, -2).split('|');
      const key = target.split('#')[0].trim();
      const path = resolve.get(key.toLowerCase());
      const a = document.createElement('a');
      a.className = 'wikilink' + (path ? '' : ' missing');
      a.textContent = (label || target).trim();
      a.href = '#';
      if (path) a.addEventListener('click', (ev) => { ev.preventDefault(); openNote(path); });
      else { a.title = 'No such note yet'; a.addEventListener('click', (ev) => { ev.preventDefault(); openEditor(null); $('ed-path').value = key + '.md'; }); }
      out.push(a);
    }
    else if (m[3]) { const s = document.createElement('strong'); s.append(...inline(t.slice(2, -2), resolve)); out.push(s); }
    else if (m[4]) { const e = document.createElement('em'); e.append(...inline(t.slice(1, -1), resolve)); out.push(e); }
    else if (m[5]) {
      const lm = t.match(/^\[([^\]]+)\]\(([^)\s]+)\)$/);
      const href = lm[2];
      if (/^(https?:|mailto:|#)/i.test(href)) {
        const a = document.createElement('a'); a.href = href; a.rel = 'noopener noreferrer'; a.target = '_blank'; a.textContent = lm[1]; out.push(a);
      } else out.push(document.createTextNode(lm[1]));
    }
    last = re.lastIndex;
  }
  if (last < text.length) out.push(document.createTextNode(text.slice(last)));
  return out;
}

// ---------- wiring ----------

document.addEventListener('DOMContentLoaded', () => {
  $('signout').addEventListener('click', signOut);
  $('continue-local').addEventListener('click', continueLocal);
  $('new-token').addEventListener('click', () => newToken(true));
  for (const b of document.querySelectorAll('button.copy')) b.addEventListener('click', () => copy(b.dataset.copy));
  for (const tab of document.querySelectorAll('[role="tab"]')) {
    tab.addEventListener('click', () => { state.client = tab.dataset.client; renderConfig(); });
    tab.addEventListener('keydown', tabKeys);
  }
  $('search-form').addEventListener('submit', search);
  $('new-note').addEventListener('click', () => openEditor(null));
  $('editor-form').addEventListener('submit', saveNote);
  $('ed-cancel').addEventListener('click', closeEditor);
  takeLocalCode();
  start();
});
