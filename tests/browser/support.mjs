// What the browser tests share: peerhub processes started with --json and their
// events awaited with deadlines, a peer with --web and its share dir, Chromium, and a
// page that registers and logs in. Everything runs under one temporary directory,
// removed when the test passes; every process started is ended either way.
import { spawn } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

export const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const bin = process.argv[2] || join(root, 'target', 'debug', 'peerhub');
export const work = mkdtempSync(join(tmpdir(), 'peerhub-browser-'));
export const procs = [];
export const WAIT = 15000;

// Start `peerhub args…`; resolves with the first --json event named `name`.
export function start(label, args, name) {
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
export function nextEvent(child, name, label = 'process') {
  const seen = child.events.find((v) => v.event === name);
  if (seen) return Promise.resolve(seen);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${label}: no ${name} event`)), WAIT);
    child.waiting.push({ name, resolve: (v) => { clearTimeout(timer); resolve(v); }, reject });
  });
}

export async function peer(hub, name, extra = []) {
  const share = join(work, `${name}-share`);
  mkdirSync(share);
  const args = ['client', '--server', hub, '--share', share, '--listen', '127.0.0.1:0', '--json', '--web', ...extra];
  const web = await start(name, args, 'web');
  return { share, url: web.url };
}

export async function loggedIn(browser, who, name) {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  page.on('pageerror', (e) => { throw new Error(`${name}'s page: ${e.message}`); });
  await page.goto(who.url);
  await page.locator('#link').filter({ hasText: 'connected' }).waitFor({ timeout: WAIT });
  await page.getByLabel('User', { exact: true }).fill(name);
  await page.getByLabel('Password', { exact: true }).fill('pw');
  await page.getByRole('button', { name: 'Register' }).click();
  await page.locator('#who').filter({ hasText: `logged in as ${name}` }).waitFor({ timeout: WAIT });
  return page;
}

// Headless Chromium: Debian's, or $CHROMIUM.
export function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
}

// Run the test `main`: on success end the processes and remove the work dir, on
// failure say why, kill them and exit 1.
export function finish(main) {
  main()
    .then(() => { procs.forEach((p) => p.kill('SIGTERM')); rmSync(work, { recursive: true, force: true }); })
    .catch((e) => {
      console.error(`browser test failed: ${e.stack || e}`);
      procs.forEach((p) => p.kill('SIGKILL'));
      process.exit(1);
    });
}
