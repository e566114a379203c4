// The peer's web interface in headless Chromium: a hub and two peers with --web as
// real processes over loopback; alice and bob register and log in through their
// pages, chat, bob publishes a file, alice searches, fetches and the file verifies.
// Saves a screenshot of alice's page to docs/screenshots/peer.png.
//
//   node tests/browser/peer.mjs [path/to/peerhub]   (default: target/debug/peerhub)
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync, readFileSync, mkdirSync, rmSync } from 'node:fs';
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
  let stderr = '';
  child.stderr.on('data', (d) => { stderr += d; });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${label}: no ${name} event; stderr: ${stderr}`)), WAIT);
    createInterface({ input: child.stdout }).on('line', (line) => {
      const v = JSON.parse(line);
      if (v.type === 'event' && v.event === name) {
        clearTimeout(timer);
        resolve(v);
      }
    });
    child.on('exit', (code) => reject(new Error(`${label} exited ${code}: ${stderr}`)));
  });
}

async function peer(hub, name) {
  const share = join(work, `${name}-share`);
  mkdirSync(share);
  const args = ['client', '--server', hub, '--share', share, '--listen', '127.0.0.1:0', '--json', '--web'];
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
  const hubEvent = await start('hub', ['server', '--listen', '127.0.0.1:0', '--data', join(work, 'hub'), '--json'], 'listening');
  const alice = await peer(hubEvent.addr, 'alice');
  const bob = await peer(hubEvent.addr, 'bob');
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
  try {
    const a = await loggedIn(browser, alice, 'alice');
    const b = await loggedIn(browser, bob, 'bob');
    // The page's address bar lost its token: the cookie carries it.
    if (a.url().includes('token=')) throw new Error(`the token stayed in the URL: ${a.url()}`);
    await a.locator('#users').filter({ hasText: 'bob' }).waitFor({ timeout: WAIT });

    await a.getByLabel('Message').fill('hello bob');
    await a.getByRole('button', { name: 'Send' }).click();
    await b.locator('#feed').filter({ hasText: '<alice> hello bob' }).waitFor({ timeout: WAIT });

    const content = 'a song of bytes\n'.repeat(4096);
    writeFileSync(join(bob.share, 'song.txt'), content);
    await b.getByLabel('File in the share').fill('song.txt');
    await b.getByRole('button', { name: 'Publish' }).click();
    await b.locator('#published').filter({ hasText: 'song.txt' }).waitFor({ timeout: WAIT });

    await a.getByLabel('Name contains').fill('song');
    await a.getByRole('button', { name: 'Search' }).click();
    await a.getByRole('button', { name: 'Fetch from bob' }).click();
    await a.locator('#feed').filter({ hasText: 'fetched song.txt from bob' }).waitFor({ timeout: WAIT });
    const fetched = readFileSync(join(alice.share, 'song.txt'), 'utf8');
    if (fetched !== content) throw new Error('the fetched file differs');

    mkdirSync(join(root, 'docs', 'screenshots'), { recursive: true });
    await a.screenshot({ path: join(root, 'docs', 'screenshots', 'peer.png'), fullPage: true });
    console.log('browser test passed: register, login, chat, publish, search, fetch');
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
