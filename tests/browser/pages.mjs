// The web interfaces in headless Chromium: a hub and two peers, each with --web, as
// real processes over loopback. alice and bob register and log in through their
// pages and chat, in public and privately (bob's page shows alice's message in their
// conversation, with its unread count), bob adds a file to his share through the page
// and publishes it, alice searches, fetches it, watches its progress bar reach 100 %,
// it verifies (a notification says so) and she saves it through the browser; alice
// uploads a file and a folder of her share to the hub's store and bob downloads the
// file into his share (a second download is refused: 409, shown on the row); the page
// fits a phone's width; the hub's page shows the logins, the publication and the
// store's new entries, pings bob with its round trip, and its Kick logs bob out in his
// page. Saves screenshots of alice's page and the hub's to docs/screenshots/.
//
//   node tests/browser/pages.mjs [path/to/peerhub]   (default: target/debug/peerhub)
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { root, procs, work, WAIT, start, nextEvent, peer, loggedIn, launch, finish } from './support.mjs';

// alice opens a conversation with bob from the Online list and writes to him: bob's
// page shows it under alice, counted unread until he looks, and not in everyone's.
async function privately(a, b) {
  await a.getByRole('button', { name: 'Chat with bob' }).click();
  await a.getByRole('tab', { name: 'bob', selected: true }).waitFor({ timeout: WAIT });
  await a.getByLabel('Say to bob').fill('psst, bob');
  await a.getByRole('button', { name: 'Send' }).click();
  await a.getByRole('tabpanel').filter({ hasText: '<alice> psst, bob' }).waitFor({ timeout: WAIT });
  const tab = b.getByRole('tab', { name: /^alice 1 unread$/ });
  await tab.waitFor({ timeout: WAIT });
  if (await b.locator('#feed').filter({ hasText: 'psst' }).count()) throw new Error("the private line is in everyone's view");
  // By keyboard: from the Everyone tab, the right arrow opens alice's conversation.
  await b.getByRole('tab', { name: 'Everyone' }).focus();
  await b.keyboard.press('ArrowRight');
  await b.getByRole('tab', { name: 'alice', selected: true, exact: true }).waitFor({ timeout: WAIT });
  await b.getByRole('tabpanel').filter({ hasText: '<alice> psst, bob' }).waitFor({ timeout: WAIT });
  await b.keyboard.press('ArrowLeft');
  await b.getByRole('tab', { name: 'Everyone', selected: true }).waitFor({ timeout: WAIT });
  // Back on everyone's view for the rest of the test; alice's too.
  await a.getByRole('tab', { name: 'Everyone' }).click();
}

// alice puts song.txt of her share into the hub's store under another name, and a
// folder from its row; bob downloads the file into his share from his page's store
// list (the same bytes), and a second download onto it is refused with 409 on the row.
async function throughTheStore(a, alice, b, bob, content) {
  await a.getByLabel('File or folder of my share').fill('song.txt');
  await a.getByLabel('Stored as').fill('song in the store.txt');
  await a.locator('#upload-form').getByRole('button', { name: 'Upload' }).click();
  await a.locator('#toasts').filter({ hasText: "uploaded song in the store.txt to the hub's store (1 file, 3.0 MiB)" })
    .waitFor({ timeout: WAIT });
  await a.locator('#transfers li', { hasText: 'song in the store.txt' }).filter({ hasText: 'verified' }).waitFor({ timeout: WAIT });
  mkdirSync(join(alice.share, 'album'));
  writeFileSync(join(alice.share, 'album', 'one.txt'), 'one\n');
  writeFileSync(join(alice.share, 'album', 'two.txt'), 'two\n');
  await a.getByRole('button', { name: 'Refresh the share' }).click();
  await a.getByRole('button', { name: "Upload album to the hub's store" }).click();
  await a.locator('#toasts').filter({ hasText: "uploaded album to the hub's store (2 files" }).waitFor({ timeout: WAIT });
  // bob's list follows the uploads everyone is told of.
  await b.locator('#entries').filter({ hasText: 'album/' }).waitFor({ timeout: WAIT });
  await b.getByRole('button', { name: 'Download song in the store.txt' }).click();
  await b.locator('#toasts').filter({ hasText: 'downloaded song in the store.txt into the share' }).waitFor({ timeout: WAIT });
  if (readFileSync(join(bob.share, 'song in the store.txt'), 'utf8') !== content) throw new Error('the downloaded file differs');
  await b.locator('#share-files').filter({ hasText: 'song in the store.txt' }).waitFor({ timeout: WAIT });
  await b.getByRole('button', { name: 'Download song in the store.txt' }).click();
  const entry = b.locator('#entries li', { hasText: 'song in the store.txt' });
  await entry.getByRole('status').filter({ hasText: /already exists \(409\)/ }).waitFor({ timeout: WAIT });
  await b.locator('#toasts .error').filter({ hasText: 'already exists (409)' }).waitFor({ timeout: WAIT });
}

// At a phone's width nothing sticks out sideways.
async function fitsAPhone(page) {
  const wide = page.viewportSize();
  await page.setViewportSize({ width: 390, height: 844 });
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  await page.setViewportSize(wide);
  if (overflow > 0) throw new Error(`at 390 px the page is ${overflow} px too wide`);
}

async function main() {
  const hubArgs = ['server', '--listen', '127.0.0.1:0', '--data', join(work, 'hub'), '--json', '--web'];
  const hubChild = start('hub', hubArgs, 'listening');
  const hubEvent = await hubChild;
  const hubWeb = await nextEvent(procs[0], 'web');
  const alice = await peer(hubEvent.addr, 'alice');
  // bob serves at 1 MB/s, so alice's fetch of 3 MiB runs long enough to watch.
  const bob = await peer(hubEvent.addr, 'bob', ['--upload-rate', '1000000']);
  const browser = await launch();
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

    await a.getByLabel('Say to everyone').fill('hello bob');
    await a.getByRole('button', { name: 'Send' }).click();
    await b.locator('#feed').filter({ hasText: '<alice> hello bob' }).waitFor({ timeout: WAIT });
    await privately(a, b);

    // bob adds the file to his share through the page (PUT /share/song.txt), sees it
    // listed and publishes it from the list.
    const content = 'a song of bytes\n'.repeat(3 * 65536);
    await b.locator('#add-files').setInputFiles({ name: 'song.txt', mimeType: 'text/plain', buffer: Buffer.from(content) });
    await b.locator('#toasts').filter({ hasText: 'added song.txt (3.0 MiB) to the share' }).waitFor({ timeout: WAIT });
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
    await a.locator('#toasts').filter({ hasText: 'fetched song.txt from bob' }).waitFor({ timeout: WAIT });
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
    await throughTheStore(a, alice, b, bob, content);
    await fitsAPhone(a);

    // The hub's page: the feed saw both logins, the publication and alice's fetch
    // lookup, counted in aggregate.
    for (const line of ['alice logged in', 'bob logged in', 'bob published song.txt', /1 fetch lookup/]) {
      await h.locator('#feed').filter({ hasText: line }).waitFor({ timeout: WAIT });
    }
    await h.locator('#users').filter({ hasText: 'bob' }).waitFor({ timeout: WAIT });
    // Its store list follows the uploads.
    await h.locator('#entries').filter({ hasText: 'song in the store.txt' }).waitFor({ timeout: WAIT });
    await h.getByLabel('Ping a user').fill('bob');
    await h.locator('#ping-form').getByRole('button', { name: 'Ping' }).click();
    await h.locator('#ping-answer').filter({ hasText: /bob: round trip [0-9.]+ ms/ }).waitFor({ timeout: WAIT });

    // Dismissed, the older notifications go; the newest stays for the screenshot.
    for (let n = await a.locator('#toasts .toast').count(); n > 1; n -= 1) {
      await a.locator('#toasts .toast').first().getByRole('button', { name: /^Dismiss/ }).click();
    }
    if (await a.locator('#toasts .toast').count() > 1) throw new Error('Dismiss left the notifications');
    mkdirSync(join(root, 'docs', 'screenshots'), { recursive: true });
    await a.screenshot({ path: join(root, 'docs', 'screenshots', 'peer.png'), fullPage: true });
    await h.screenshot({ path: join(root, 'docs', 'screenshots', 'hub.png'), fullPage: true });

    // A kick from the hub's page logs bob out in his.
    await h.getByRole('button', { name: 'Kick bob' }).click();
    await b.locator('#who').filter({ hasText: 'not logged in' }).waitFor({ timeout: WAIT });
    console.log('browser test passed: register, login, chat (everyone and private), publish, search, fetch with progress, add and save files, the store (upload a file and a folder, download, 409); phone width; hub feed, ping, kick');
  } finally {
    await browser.close();
  }
}

finish(main);
