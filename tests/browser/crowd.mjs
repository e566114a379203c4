// The peer's page with a crowd on the hub, in headless Chromium: a hub (per-address
// limits lifted), a peer with --web whose page logs in as carol, then 1,000 users
// logged in by examples/crowd (one mio loop over TLS) and a busy chat of 3,000 lines
// at 300 a second. The page must show 1,001 online while drawing a bounded list (at
// most 100 names and "and N more"), keep its feed at most 500 lines, answer a
// `status` typed in its Command box within a generous deadline while the chat runs,
// and show the crowd's last line. Prints the figures: how long the logins and the
// chat took, each round trip, and the page's longest task.
//
//   node tests/browser/crowd.mjs [path/to/peerhub] [path/to/crowd]
//   (default: target/debug/peerhub, and examples/crowd beside the peerhub given)
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { bin, procs, work, WAIT, start, peer, loggedIn, launch, finish } from './support.mjs';

const crowdBin = process.argv[3] || join(dirname(bin), 'examples', 'crowd');
const USERS = 1000;
const LINES = 3000;
const RATE = 300;
// How long a round trip from the page may take while the chat is busy.
const ROUND_TRIP_MAX_MS = 5000;
const BUSY_WAIT = 90000;

// Start the crowd; resolves each of its lines (`online`, `chatted`) as they come.
function crowd(hub, fingerprint) {
  const child = spawn(crowdBin, [hub, fingerprint, String(USERS), String(LINES), String(RATE)],
    { stdio: ['pipe', 'pipe', 'pipe'] });
  procs.push(child);
  let stderr = '';
  child.stderr.on('data', (d) => { stderr += d; });
  const said = {};
  const waiting = {};
  createInterface({ input: child.stdout }).on('line', (line) => {
    const v = JSON.parse(line);
    said[v.event] = v;
    if (waiting[v.event]) waiting[v.event](v);
  });
  const failed = new Promise((_, reject) => {
    child.on('error', (e) => reject(new Error(`the crowd did not start (${crowdBin}: build it with cargo test): ${e.message}`)));
    child.on('exit', (code) => reject(new Error(`the crowd exited ${code}: ${stderr}`)));
  });
  const next = (event) => Promise.race([failed, new Promise((resolve, reject) => {
    if (said[event]) { resolve(said[event]); return; }
    const timer = setTimeout(() => reject(new Error(`the crowd said no ${event} in time`)), BUSY_WAIT);
    waiting[event] = (v) => { clearTimeout(timer); resolve(v); };
  })]);
  return { next };
}

// Type `status` in the Command box; milliseconds until its result shows.
async function roundTrip(page) {
  const results = page.locator('#results li');
  const before = await results.filter({ hasText: 'status (200)' }).count();
  const t0 = Date.now();
  await page.getByLabel('Any command, as at the prompt').fill('status');
  await page.getByRole('button', { name: 'Run' }).click();
  const deadline = t0 + ROUND_TRIP_MAX_MS;
  while (await results.filter({ hasText: 'status (200)' }).count() <= before) {
    if (Date.now() > deadline) throw new Error(`no status result within ${ROUND_TRIP_MAX_MS} ms of a busy chat`);
    await page.waitForTimeout(20);
  }
  return Date.now() - t0;
}

async function bounded(page) {
  const shown = await page.locator('#users li').count();
  const feed = await page.locator('#feed li').count();
  if (shown > 101) throw new Error(`the online list draws ${shown} rows`);
  if (feed > 500) throw new Error(`the feed holds ${feed} lines`);
  return { shown, feed };
}

async function main() {
  const hubArgs = ['server', '--listen', '127.0.0.1:0', '--data', join(work, 'hub'), '--json',
    '--hash-rate', '0', '--auth-rate', '0', '--max-per-address', '0'];
  const hub = await start('hub', hubArgs, 'listening');
  const carol = await peer(hub.addr, 'carol');
  const browser = await launch();
  try {
    const page = await loggedIn(browser, carol, 'carol');
    await page.evaluate(() => {
      window.longest = 0;
      new PerformanceObserver((list) => {
        for (const e of list.getEntries()) window.longest = Math.max(window.longest, e.duration);
      }).observe({ type: 'longtask' });
    });
    const c = crowd(hub.addr, hub.fingerprint);
    const online = await c.next('online');
    await page.locator('#online-count').filter({ hasText: `(${USERS + 1})` }).waitFor({ timeout: BUSY_WAIT });
    await page.locator('#users li.more').filter({ hasText: `and ${USERS + 1 - 100} more` }).waitFor({ timeout: WAIT });
    const trips = [];
    const chatted = c.next('chatted');
    let done = false;
    chatted.then(() => { done = true; }, () => {});
    await page.locator('#feed').filter({ hasText: 'of the crowd\'s busy chat' }).waitFor({ timeout: WAIT });
    while (!done) {
      trips.push(await roundTrip(page));
      await bounded(page);
    }
    const chat = await chatted;
    await page.locator('#feed').filter({ hasText: `line ${LINES - 1} of the crowd's busy chat` }).waitFor({ timeout: BUSY_WAIT });
    trips.push(await roundTrip(page));
    const { shown, feed } = await bounded(page);
    const longest = await page.evaluate(() => window.longest);
    console.log(`crowd: ${USERS} users online in ${online.seconds} s, ${LINES} lines in ${chat.seconds} s; `
      + `page: ${shown} rows for ${USERS + 1} online, ${feed} feed lines, status round trips ${trips.join(', ')} ms, `
      + `longest task ${Math.round(longest)} ms`);
    console.log('browser test passed: a page with 1,001 users online and a busy chat stays bounded and answers');
  } finally {
    await browser.close();
  }
}

finish(main);
