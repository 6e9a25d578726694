// A person's path through the web page, in headless Chromium: sign in with (fake) Hugging
// Face, see the token and client configurations, create a note, find it, edit it, delete it,
// sign out. Started by tests/tests/browser.rs, which runs the gateway, backend and provider.
// Fails on any step, on any console error, and on any uncaught page error.
import { chromium } from 'playwright-core';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';

const base = process.env.BASE_URL;
const shot = process.env.SCREENSHOT;
if (!base || !shot) throw new Error('BASE_URL and SCREENSHOT are required');

const problems = [];
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--no-first-run'],
});
const step = async (name, fn) => {
  try { await fn(); console.log(`ok   ${name}`); } catch (e) { console.log(`FAIL ${name}: ${e.message}`); throw e; }
};
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  page.setDefaultTimeout(15000);
  // Only the steps that provoke an HTTP error on purpose may see the browser log it.
  let expectHttpError = false;
  page.on('console', (m) => {
    if (m.type() !== 'error') return;
    if (expectHttpError && m.text().startsWith('Failed to load resource')) return;
    problems.push(`console: ${m.text()}`);
  });
  page.on('response', (r) => { if (r.status() >= 400) console.log(`     (HTTP ${r.status()} ${r.request().method()} ${r.url()})`); });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('dialog', (d) => d.accept());

  await step('landing page offers Hugging Face sign-in', async () => {
    await page.goto(base + '/');
    await page.getByRole('link', { name: 'Sign in with Hugging Face' }).waitFor();
  });
  await step('sign in through the provider', async () => {
    await page.getByRole('link', { name: 'Sign in with Hugging Face' }).click();
    await page.waitForURL(base + '/');
    await page.getByText('Signed in as alice').waitFor();
  });
  await step('MCP URL, token and client configurations are shown', async () => {
    const url = await page.getByLabel('MCP URL').inputValue();
    if (url !== base.replace('127.0.0.1', 'localhost') + '/mcp' && !url.endsWith('/mcp')) throw new Error('MCP URL ' + url);
    const token = await page.getByLabel('Your token').inputValue();
    if (token.split('.').length !== 3) throw new Error('no token shown');
    const cfg = await page.locator('#cfg-text').textContent();
    if (!cfg.includes('mcp-remote') || !cfg.includes(token)) throw new Error('Claude config lacks mcp-remote or the token');
    await page.getByRole('tab', { name: 'VS Code' }).click();
    const vs = await page.locator('#cfg-text').textContent();
    if (!JSON.parse(vs).servers.vaultgate.headers.Authorization.endsWith(token)) throw new Error('VS Code config');
    await page.getByRole('tab', { name: 'VS Code' }).press('ArrowRight');
    if ((await page.getByRole('tab', { name: 'MCP Inspector' }).getAttribute('aria-selected')) !== 'true') throw new Error('keyboard tabs');
    // The token really works for an MCP client.
    const r = await fetch(url.replace('localhost', '127.0.0.1'), {
      method: 'POST',
      headers: { Authorization: 'Bearer ' + token, 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream',
        'MCP-Protocol-Version': '2026-07-28', 'Mcp-Method': 'tools/list' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list', params: { _meta: { 'io.modelcontextprotocol/protocolVersion': '2026-07-28', 'io.modelcontextprotocol/clientCapabilities': {} } } }),
    });
    if (r.status !== 200) throw new Error('the shown token did not work: ' + r.status);
  });
  await step('create a note', async () => {
    await page.getByRole('button', { name: 'New note' }).click();
    await page.getByLabel('Path (folders/name.md)').fill('browser/first.md');
    await page.getByLabel('Title (optional)').fill('First from the browser');
    await page.getByLabel('Text (Markdown; [[Other note]] links)').fill('Hello **world**, a ripe tomato.\n\n- one\n- two');
    await page.getByRole('button', { name: 'Save' }).click();
    await page.locator('#note-view strong', { hasText: 'world' }).waitFor();
    await page.getByRole('button', { name: /^browser$/ }).waitFor();
  });
  await step('find it by search, with the match highlighted', async () => {
    await page.getByLabel('Search notes').fill('tomato');
    await page.getByRole('button', { name: 'Search', exact: true }).click();
    await page.locator('#note-list mark', { hasText: 'tomato' }).waitFor();
  });
  await step('screenshot of the signed-in page', async () => {
    mkdirSync(dirname(shot), { recursive: true });
    await page.screenshot({ path: shot, fullPage: true });
  });
  await step('edit it', async () => {
    await page.locator('#note-list button', { hasText: 'First from the browser' }).click();
    await page.getByRole('button', { name: 'Edit' }).click();
    await page.getByLabel('Text (Markdown; [[Other note]] links)').fill('Edited: a green *pepper*.');
    await page.getByRole('button', { name: 'Save' }).click();
    await page.locator('#note-view em', { hasText: 'pepper' }).waitFor();
  });
  await step('a stale edit is refused (If-Match)', async () => {
    expectHttpError = true;
    await page.getByRole('button', { name: 'Edit' }).click();
    // Someone else changes the note meanwhile, through the API with the page's own session.
    const status = await page.evaluate(async () => {
      const r = await fetch('/api/notes/browser/first.md', { method: 'PUT', credentials: 'same-origin',
        headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ body: 'changed elsewhere' }) });
      return r.status;
    });
    if (status !== 200) throw new Error('concurrent write ' + status);
    await page.getByLabel('Text (Markdown; [[Other note]] links)').fill('my stale edit');
    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByText('changed this note since you opened it').waitFor();
    await page.getByRole('button', { name: 'Cancel' }).click();
    await page.locator('#note-list button', { hasText: 'First from the browser' }).click();
    await page.getByText('changed elsewhere').waitFor();
    expectHttpError = false;
  });
  await step('delete it', async () => {
    await page.getByRole('button', { name: 'Delete' }).click();
    await page.getByText('Deleted browser/first.md.').waitFor();
    await page.getByText('No notes here yet.').waitFor();
  });
  await step('sign out', async () => {
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('link', { name: 'Sign in with Hugging Face' }).waitFor();
    expectHttpError = true;
    const status = await page.evaluate(async () => (await fetch('/api/auth/session', { credentials: 'same-origin' })).status);
    if (status !== 401) throw new Error('session still valid after sign-out: ' + status);
  });
  if (problems.length) throw new Error('browser problems:\n' + problems.join('\n'));
  console.log('browser: all steps passed');
} finally {
  await browser.close();
}
