// The web interfaces in headless Chromium: a hub and two peers, each with --web, as
// real processes over loopback. alice and bob register and log in through their
// pages and chat, bob adds a file to his share through the page and publishes it,
// alice searches, fetches it, watches its progress bar reach 100 %, it verifies and
// she saves it through the browser;
// the hub's page shows the logins and the publication, pings bob with its round trip,
// and its Kick logs bob out in his page. Saves screenshots of alice's page and the
// hub's to docs/screenshots/.
//
//   node tests/browser/pages.mjs [path/to/peerhub]   (default: target/debug/peerhub)
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const bin = process.argv[2] || join(root, 'target', 'debug', 'peerhub');
const work = mkdtempSync(join(tmpdir(), 'peerhub-browser-'));
const procs = [];
const WAIT = 15000;

// Start `peerhub args…`; resolves with the first --json event named `name`.
function start(label, args, name) {
  const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  procs.push(child);
  child.events = [];
  child.waiting = [];
  let stderr = '';
  child.stderr.on('data', (d) => { stderr += d; });
  createInterface({ input: child.stdout }).on('line', (line) => {
    const v = JSON.parse(line);
    if (v.type !== 'event') return;
    child.events.push(v);
    child.waiting = child.waiting.filter((w) => !(w.name === v.event && (w.resolve(v), true)));
  });
  child.on('exit', (code) => child.waiting.forEach((w) => w.reject(new Error(`${label} exited ${code}: ${stderr}`))));
  return nextEvent(child, name, label);
}

// The first event `name` of `child`, seen already or to come.
function nextEvent(child, name, label = 'process') {
  const seen = child.events.find((v) => v.event === name);
  if (seen) return Promise.resolve(seen);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${label}: no ${name} event`)), WAIT);
    child.waiting.push({ name, resolve: (v) => { clearTimeout(timer); resolve(v); }, reject });
  });
}

async function peer(hub, name, extra = []) {
  const share = join(work, `${name}-share`);
  mkdirSync(share);
  const args = ['client', '--server', hub, '--share', share, '--listen', '127.0.0.1:0', '--json', '--web', ...extra];
  const web = await start(name, args, 'web');
  return { share, url: web.url };
}

async function loggedIn(browser, who, name) {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  page.on('pageerror', (e) => { throw new Error(`${name}'s page: ${e.message}`); });
  await page.goto(who.url);
  await page.locator('#link').filter({ hasText: 'connected' }).waitFor({ timeout: WAIT });
  await page.getByLabel('User').fill(name);
  await page.getByLabel('Password').fill('pw');
  await page.getByRole('button', { name: 'Register' }).click();
  await page.locator('#who').filter({ hasText: `logged in as ${name}` }).waitFor({ timeout: WAIT });
  return page;
}

async function main() {
  const hubArgs = ['server', '--listen', '127.0.0.1:0', '--data', join(work, 'hub'), '--json', '--web'];
  const hubChild = start('hub', hubArgs, 'listening');
  const hubEvent = await hubChild;
  const hubWeb = await nextEvent(procs[0], 'web');
  const alice = await peer(hubEvent.addr, 'alice');
  // bob serves at 1 MB/s, so alice's fetch of 3 MiB runs long enough to watch.
  const bob = await peer(hubEvent.addr, 'bob', ['--upload-rate', '1000000']);
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
  try {
    const h = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    h.on('pageerror', (e) => { throw new Error(`the hub's page: ${e.message}`); });
    await h.goto(hubWeb.url);
    await h.locator('#link').filter({ hasText: 'connected' }).waitFor({ timeout: WAIT });
    const a = await loggedIn(browser, alice, 'alice');
    const b = await loggedIn(browser, bob, 'bob');
    // The page's address bar lost its token: the cookie carries it.
    if (a.url().includes('token=')) throw new Error(`the token stayed in the URL: ${a.url()}`);
    await a.locator('#users').filter({ hasText: 'bob' }).waitFor({ timeout: WAIT });

    await a.getByLabel('Message').fill('hello bob');
    await a.getByRole('button', { name: 'Send' }).click();
    await b.locator('#feed').filter({ hasText: '<alice> hello bob' }).waitFor({ timeout: WAIT });

    // bob adds the file to his share through the page (PUT /share/song.txt), sees it
    // listed and publishes it from the list.
    const content = 'a song of bytes\n'.repeat(3 * 65536);
    await b.locator('#add-files').setInputFiles({ name: 'song.txt', mimeType: 'text/plain', buffer: Buffer.from(content) });
    await b.locator('#feed').filter({ hasText: 'added song.txt (3.0 MiB) to the share' }).waitFor({ timeout: WAIT });
    if (readFileSync(join(bob.share, 'song.txt'), 'utf8') !== content) throw new Error('the added file differs');
    await b.getByRole('button', { name: 'Publish song.txt' }).click();
    await b.locator('#published').filter({ hasText: 'song.txt' }).waitFor({ timeout: WAIT });
    await b.locator('#share-files').filter({ hasText: 'published' }).waitFor({ timeout: WAIT });

    await a.getByLabel('Name contains').fill('song');
    await a.getByRole('button', { name: 'Search' }).click();
    await a.getByRole('button', { name: 'Fetch from bob' }).click();
    // The bar moves with the progress events (a rate shown), then reaches 100 %.
    const row = a.locator('#transfers li', { hasText: 'song.txt' });
    await row.filter({ hasText: /\d+% · .* of 3\.0 MiB · .*\/s/ }).waitFor({ timeout: WAIT });
    await row.getByRole('button', { name: 'Cancel' }).waitFor({ timeout: WAIT });
    await a.locator('#feed').filter({ hasText: 'fetched song.txt from bob' }).waitFor({ timeout: WAIT });
    await row.filter({ hasText: 'verified' }).waitFor({ timeout: WAIT });
    const bar = await row.locator('progress').evaluate((p) => [p.value, p.max]);
    if (bar[0] !== bar[1]) throw new Error(`the bar ended at ${bar[0]} of ${bar[1]}`);
    // The finished download is saved through the browser (GET /share/song.txt).
    const [download] = await Promise.all([
      a.waitForEvent('download', { timeout: WAIT }),
      row.getByRole('link', { name: 'Save song.txt' }).click(),
    ]);
    if (download.suggestedFilename() !== 'song.txt') throw new Error(`saved as ${download.suggestedFilename()}`);
    if (readFileSync(await download.path(), 'utf8') !== content) throw new Error('the saved file differs');
    const fetched = readFileSync(join(alice.share, 'song.txt'), 'utf8');
    if (fetched !== content) throw new Error('the fetched file differs');

    // The hub's page: the feed saw both logins and the publication.
    for (const line of ['alice logged in', 'bob logged in', 'bob published song.txt']) {
      await h.locator('#feed').filter({ hasText: line }).waitFor({ timeout: WAIT });
    }
    await h.locator('#users').filter({ hasText: 'bob' }).waitFor({ timeout: WAIT });
    await h.getByLabel('Ping a user').fill('bob');
    await h.locator('#ping-form').getByRole('button', { name: 'Ping' }).click();
    await h.locator('#ping-answer').filter({ hasText: /bob: round trip [0-9.]+ ms/ }).waitFor({ timeout: WAIT });

    mkdirSync(join(root, 'docs', 'screenshots'), { recursive: true });
    await a.screenshot({ path: join(root, 'docs', 'screenshots', 'peer.png'), fullPage: true });
    await h.screenshot({ path: join(root, 'docs', 'screenshots', 'hub.png'), fullPage: true });

    // A kick from the hub's page logs bob out in his.
    await h.getByRole('button', { name: 'Kick bob' }).click();
    await b.locator('#who').filter({ hasText: 'not logged in' }).waitFor({ timeout: WAIT });
    console.log('browser test passed: register, login, chat, publish, search, fetch with progress, add and save files; hub feed, ping, kick');
  } finally {
    await browser.close();
  }
}

main()
  .then(() => { procs.forEach((p) => p.kill('SIGTERM')); rmSync(work, { recursive: true, force: true }); })
  .catch((e) => {
    console.error(`browser test failed: ${e.stack || e}`);
    procs.forEach((p) => p.kill('SIGKILL'));
    process.exit(1);
  });
