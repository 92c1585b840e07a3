// The dashboard in a real headless Chromium (Debian's package, driven by puppeteer-core)
// against real nodes on loopback: every view loads without console errors, chat streams
// and stops, a pull from a loopback hub reaches 100%, intentions are created and
// cancelled, HTML in model output and intention content stays text, and with auth on an
// admin signs in and creates a key. Screenshots of each view at desktop and phone width
// go to build/screenshots/ (not committed).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import puppeteer from 'puppeteer-core';

import { startNode, HOST } from './node.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const SHOTS = path.resolve(here, '..', 'build', 'screenshots');
const CHROMIUM = process.env.CHROMIUM_BIN || '/usr/bin/chromium';
const XSS = '<img src=x onerror=alert(1)>';
const VIEWS = ['chat', 'node', 'models', 'network', 'energy', 'consent', 'admin'];
const DESKTOP = { width: 1280, height: 800 };
// Width only: puppeteer reloads the page when isMobile changes, which would drop its state.
const PHONE = { width: 360, height: 740 };

let browser;
before(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} not found: \`make deps\` installs Debian's chromium`);
  mkdirSync(SHOTS, { recursive: true });
  browser = await puppeteer.launch({
    executablePath: CHROMIUM, headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run', '--no-default-browser-check', '--disable-extensions'],
  });
});
after(async () => { await browser?.close(); });

/** A page that records console errors, page errors and dialogs (dialogs are dismissed). */
async function openPage(url, viewport = DESKTOP) {
  const page = await browser.newPage();
  await page.setViewport(viewport);
  const log = { errors: [], dialogs: [], failed: [] };
  // Chromium logs every 4xx/5xx response as a console error; those are checked by URL instead.
  page.on('console', (m) => { if (m.type() === 'error' && !/^Failed to load resource: the server responded/.test(m.text())) log.errors.push(m.text()); });
  page.on('response', (r) => { if (r.status() >= 400) log.failed.push(`${r.status()} ${new URL(r.url()).pathname}`); });
  page.on('pageerror', (e) => log.errors.push('pageerror: ' + e.message));
  page.on('dialog', async (d) => {
    log.dialogs.push(d.type() + ': ' + d.message());
    if (d.type() === 'confirm') await d.accept(); else await d.dismiss();
  });
  await page.goto(url, { waitUntil: 'load' });
  return { page, log };
}

/** Shows a view and waits until its API calls are done. */
async function view(page, name) {
  await page.evaluate((n) => { location.hash = '#' + n; }, name);
  await page.waitForSelector(`#view-${name}:not([hidden])`);
  await page.waitForNetworkIdle({ idleTime: 300, timeout: 10_000 }).catch(() => {});
}

async function shoot(page, name) {
  await page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });
}

/** A loopback model hub serving one file like Hugging Face (X-Linked-Etag = sha256), slowly. */
async function startHub(file, bytes) {
  const sha = createHash('sha256').update(bytes).digest('hex');
  const srv = http.createServer(async (req, res) => {
    if (req.url !== `/test/tiny/resolve/main/${file}`) { res.writeHead(404).end(); return; }
    let start = 0;
    const m = /^bytes=(\d+)-$/.exec(req.headers.range || '');
    if (m) start = Number(m[1]);
    const headers = { 'Content-Type': 'application/octet-stream', 'X-Linked-Etag': `"${sha}"`, 'X-Linked-Size': String(bytes.length),
      'Content-Length': String(bytes.length - start) };
    if (m) headers['Content-Range'] = `bytes ${start}-${bytes.length - 1}/${bytes.length}`;
    res.writeHead(m ? 206 : 200, headers);
    if (req.method === 'HEAD') { res.end(); return; }
    // About 2 s in all, so the page sees the bar move.
    const chunk = Math.ceil(bytes.length / 40);
    for (let off = start; off < bytes.length && !res.destroyed; off += chunk) {
      res.write(bytes.subarray(off, Math.min(off + chunk, bytes.length)));
      await new Promise((r) => setTimeout(r, 50));
    }
    res.end();
  });
  await new Promise((r) => srv.listen(0, HOST, r));
  return { url: `http://${HOST}:${srv.address().port}`, sha, close: () => new Promise((r) => { srv.closeAllConnections(); srv.close(r); }) };
}

/** A scripted OpenAI-compatible upstream provider: it streams three words. */
async function startUpstream() {
  const srv = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d) => { body += d; });
    req.on('end', () => {
      if (req.method === 'GET') {
        res.writeHead(200, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify({ object: 'list', data: [{ id: 'up-model', object: 'model', created: 0, owned_by: 'up' }] }));
        return;
      }
      const chat = JSON.parse(body || '{}');
      const ev = (delta, finish = null) => `data: ${JSON.stringify({ id: 'up-1', object: 'chat.completion.chunk', created: 0, model: chat.model, choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`;
      res.writeHead(200, { 'Content-Type': 'text/event-stream' });
      for (const w of ['hello ', 'from ', 'upstream']) res.write(ev({ content: w }));
      res.write(ev({}, 'stop'));
      res.end('data: [DONE]\n\n');
    });
  });
  await new Promise((r) => srv.listen(0, HOST, r));
  return { url: `http://${HOST}:${srv.address().port}/v1`, close: () => new Promise((r) => { srv.closeAllConnections(); srv.close(r); }) };
}

test('the dashboard in open mode: views, chat, stop, pull, intentions, escaping, node down', { timeout: 240_000 }, async () => {
  // A first node synthesizes the tiny model; its file is what the hub serves.
  const seed = await startNode();
  const modelFile = path.join(seed.dataDir, 'models', 'aria-tiny-1bit.gguf');
  const bytes = readFileSync(modelFile);
  await seed.stop();
  const hub = await startHub('tiny-copy.gguf', bytes);
  const up = await startUpstream();
  const config = path.join(os.tmpdir(), `aria-dashboard-${process.pid}.toml`);
  writeFileSync(config, `[[providers]]\nname = "up"\ntype = "openai"\nbase_url = "${up.url}"\n[[providers.models]]\nid = "up-model"\nname = "upstream-chat"\n`);
  process.env.ARIA_HF_ENDPOINT = hub.url;
  const node = await startNode({ args: ['--cpu', '5', '--config', config] });
  delete process.env.ARIA_HF_ENDPOINT;
  const { page, log } = await openPage(node.url + '/');
  let peer;
  try {
    // Every view loads with no console error and no banner.
    for (const v of VIEWS) {
      await view(page, v);
      assert.equal(await page.$eval('#banner', (b) => getComputedStyle(b).display), 'none', `banner on ${v}`);
      // Every visible control has a label (a <label for>, a wrapping label or aria-label).
      const unlabelled = await page.evaluate(() => [...document.querySelectorAll('input, select, textarea, button')]
        .filter((e) => e.offsetParent !== null && !(e.labels && e.labels.length) && !e.getAttribute('aria-label') && !e.textContent.trim())
        .map((e) => e.id || e.outerHTML.slice(0, 60)));
      assert.deepEqual(unlabelled, [], `unlabelled controls on ${v}`);
    }
    // The views are reachable from the keyboard: Tab reaches the navigation, Enter follows it.
    await page.evaluate(() => { location.hash = '#chat'; document.activeElement.blur(); });
    let reached = false;
    for (let i = 0; i < 15 && !reached; i++) {
      await page.keyboard.press('Tab');
      reached = await page.evaluate(() => document.activeElement.dataset.view === 'energy');
    }
    assert.ok(reached, 'Tab did not reach the Energy link');
    await page.keyboard.press('Enter');
    await page.waitForSelector('#view-energy:not([hidden])');
    assert.deepEqual(log.errors, [], 'console errors while loading the views');
    assert.deepEqual(log.failed, [], 'failed API calls while loading the views');

    // The tiny model answers 300 tokens in a fraction of a second, often in one or two network
    // reads; requests marked remote work run at the contract's 5% CPU share, slow enough to see.
    const slow = (req) => {
      if (req.url().endsWith('/v1/chat/completions')) req.continue({ headers: { ...req.headers(), 'x-aria-origin': 'remote' } });
      else req.continue();
    };

    // Chat: streamed text appears in several renders, with TTFT and tok/s.
    await view(page, 'chat');
    await page.setRequestInterception(true);
    page.on('request', slow);
    assert.equal(await page.$eval('#chat-synthetic', (e) => e.hidden), false, 'synthetic banner');
    await page.$eval('#chat-max', (e) => { e.value = '300'; });
    await page.evaluate(() => {
      // The length of the answer at each render: a streamed answer grows in steps.
      window.__lengths = new Set();
      new MutationObserver(() => {
        const t = document.querySelector('#chat-log li.assistant .text');
        if (t) window.__lengths.add(t.textContent.length);
      }).observe(document.getElementById('chat-log'), { subtree: true, childList: true, characterData: true });
    });
    await page.type('#chat-input', 'Hello there');
    await page.keyboard.press('Enter');
    await page.waitForSelector('#chat-log li.assistant[data-state]', { timeout: 60_000 });
    page.off('request', slow);
    await page.setRequestInterception(false);
    const first = await page.$eval('#chat-log li.assistant', (li) => ({ text: li.querySelector('.text').textContent, meta: li.querySelector('.meta').textContent, state: li.dataset.state }));
    assert.equal(first.state, 'done', first.meta);
    assert.ok(first.text.length > 0, 'no streamed text');
    assert.match(first.meta, /300 tokens · TTFT \d+ ms · [\d.,]+ tok\/s · finish: length/);
    const lengths = await page.evaluate(() => [...window.__lengths].filter((n) => n > 0));
    assert.ok(lengths.length >= 3, `the answer was not rendered as it streamed: lengths ${lengths}`);

    // Stop: the fetch is aborted while tokens arrive, and the node frees the slot (the request
    // is slowed the same way, or it would end before the click).
    await page.$eval('#chat-max', (e) => { e.value = '1900'; });
    await page.setRequestInterception(true);
    page.on('request', slow);
    await page.type('#chat-input', 'Tell me a long story');
    await page.click('#chat-send');
    await page.waitForFunction(() => {
      const li = [...document.querySelectorAll('#chat-log li.assistant')].at(-1);
      return li && li.querySelector('.text').textContent.length > 0;
    }, { timeout: 60_000 });
    await page.click('#chat-stop');
    await page.waitForFunction(() => [...document.querySelectorAll('#chat-log li.assistant')].at(-1).dataset.state, { timeout: 10_000 });
    page.off('request', slow);
    await page.setRequestInterception(false);
    assert.equal(await page.evaluate(() => [...document.querySelectorAll('#chat-log li.assistant')].at(-1).dataset.state), 'stopped');
    assert.match(await page.evaluate(() => [...document.querySelectorAll('#chat-log li.assistant')].at(-1).querySelector('.meta').textContent), /^stopped · \d+ tokens/);
    let active = -1;
    for (let i = 0; i < 50 && active !== 0; i++) {
      active = (await (await fetch(node.baseURL + '/status')).json()).active_slots;
      if (active) await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(active, 0, 'the stopped generation still holds a slot');

    // HTML in model output is text: the real node is made to emit it through a schema.
    await page.setRequestInterception(true);
    const inject = (req) => {
      if (req.url().endsWith('/v1/chat/completions') && req.method() === 'POST') {
        const body = JSON.parse(req.postData());
        body.response_format = { type: 'json_schema', json_schema: { name: 'x', schema: { type: 'string', pattern: '^<img src=x onerror=alert\\(1\\)>$' } } };
        body.max_tokens = 64;
        req.continue({ postData: JSON.stringify(body) });
      } else req.continue();
    };
    page.on('request', inject);
    await page.type('#chat-input', 'Say it');
    await page.click('#chat-send');
    await page.waitForFunction(() => [...document.querySelectorAll('#chat-log li.assistant')].at(-1).dataset.state, { timeout: 60_000 });
    page.off('request', inject);
    await page.setRequestInterception(false);
    const xssText = await page.$eval('#chat-log', (l) => [...l.querySelectorAll('li.assistant')].at(-1).querySelector('.text').textContent);
    assert.ok(xssText.includes(XSS), `model output ${JSON.stringify(xssText)}`);
    assert.equal(await page.$$eval('#chat-log img', (x) => x.length), 0, 'an img element was created from model output');
    await shoot(page, 'chat-conversation-desktop');

    // An upstream provider's model is in the picker, labelled, and streams through the node.
    const opt = await page.$eval('#chat-model', (sel) => [...sel.options].map((o) => o.textContent).find((t) => t.startsWith('upstream-chat')));
    assert.equal(opt, 'upstream-chat (upstream up)');
    await page.select('#chat-model', 'upstream-chat');
    await page.type('#chat-input', 'Hi upstream');
    await page.keyboard.press('Enter');
    await page.waitForFunction(() => [...document.querySelectorAll('#chat-log li.assistant')].at(-1).dataset.state, { timeout: 30_000 });
    assert.equal(await page.evaluate(() => [...document.querySelectorAll('#chat-log li.assistant')].at(-1).querySelector('.text').textContent), 'hello from upstream');
    await page.select('#chat-model', 'aria-tiny-1bit');

    // Pull from the loopback hub: the bar moves and reaches 100%, the model is served.
    await view(page, 'models');
    await page.evaluate(() => {
      window.__seen = [];
      const bar = document.getElementById('pull-progress');
      new MutationObserver(() => window.__seen.push(bar.value)).observe(bar, { attributes: true });
    });
    await page.type('#pull-ref', 'hf://test/tiny/tiny-copy.gguf');
    await page.type('#pull-name', 'pulled-tiny');
    await page.click('#pull-btn');
    await page.waitForFunction(() => /^Pulled|failed|interrupted/.test(document.getElementById('pull-label').textContent), { timeout: 60_000 });
    const label = await page.$eval('#pull-label', (e) => e.textContent);
    assert.match(label, /^Pulled pulled-tiny · 100%/, await page.$eval('#pull-msg', (e) => e.textContent));
    const seen = await page.evaluate(() => window.__seen);
    assert.equal(seen.at(-1), 100);
    assert.ok(seen.some((v) => v > 0 && v < 100), `no intermediate progress: ${seen}`);
    await page.waitForFunction(() => document.getElementById('store-list').textContent.includes('pulled-tiny'));
    assert.match(await page.$eval('#pull-msg', (e) => e.textContent), /sha256 verified, served now/);
    const served = (await (await fetch(node.baseURL + '/models')).json()).data.map((m) => m.id);
    assert.ok(served.includes('pulled-tiny'), `served models ${served}`);
    await shoot(page, 'models-pulled-desktop');
    // Import of a file that is not there: the API's message, readable.
    await page.type('#import-path', '/nonexistent/model.gguf');
    await page.click('#import-form button[type=submit]');
    await page.waitForFunction(() => /Invalid request: 'path'.*no such file/.test(document.getElementById('import-msg').textContent));
    // Remove (the confirm dialog is accepted): no longer stored nor served.
    await page.click('button[aria-label="Remove pulled-tiny"]');
    await page.waitForFunction(() => !document.getElementById('store-list').textContent.includes('pulled-tiny'), { timeout: 10_000 });
    const after = (await (await fetch(node.baseURL + '/models')).json()).data.map((m) => m.id);
    assert.ok(!after.includes('pulled-tiny'), `still served after remove: ${after}`);
    assert.ok(log.dialogs.some((d) => d.startsWith('confirm: Remove pulled-tiny')), 'no confirmation asked');

    // Intentions: create one whose content is HTML, see it as text, cancel it.
    await view(page, 'consent');
    await page.type('#int-content', XSS);
    await page.type('#int-cond', 'quarterly presentation results');
    await page.click('#int-form button[type=submit]');
    await page.waitForFunction((x) => [...document.querySelectorAll('#int-list td')].some((td) => td.textContent === x), {}, XSS);
    assert.equal(await page.$$eval('#int-list img', (x) => x.length), 0, 'an img element was created from intention content');
    await page.click('#int-list button.danger');
    await page.waitForFunction(() => /Cancelled/.test(document.getElementById('int-msg').textContent));
    const list = await (await fetch(node.baseURL + '/intentions?status=cancelled')).json();
    assert.equal(list.length, 1);
    assert.equal(list[0].content, XSS);
    await shoot(page, 'consent-intention-desktop');

    // The energy chart's endpoint on the real ledger: the finished chats above are in it (the stopped one is
    // not: the ledger records completed requests); a bad range is a 400.
    const now = Date.now(), iso = (t) => encodeURIComponent(new Date(t).toISOString());
    const hist = await (await fetch(`${node.baseURL}/energy/history?from=${iso(now - 3600e3)}&to=${iso(now + 1000)}&step=60s`)).json();
    assert.equal(hist.buckets.length, 61); // 3601 s in 60 s steps: the last step is partial
    assert.ok(hist.totals.inferences >= 2 && hist.totals.tokens >= 300, JSON.stringify(hist.totals));
    const bad = await fetch(`${node.baseURL}/energy/history?from=2026-12-02T00:00:00Z&to=2026-12-01T00:00:00Z`);
    assert.equal(bad.status, 400);
    assert.equal((await bad.json()).error.code, 'invalid_request');

    // A second node joins through an address the Network view shows; it appears in the peer table.
    await view(page, 'network');
    const addr = await page.$eval('#net-self .addrs code', (e) => e.textContent);
    peer = await startNode({ args: ['--model', 'none', '--bootstrap', addr] });
    const peerID = (await (await fetch(peer.baseURL + '/network')).json()).node_id;
    let listed = false;
    for (let i = 0; i < 60 && !listed; i++) {
      await view(page, 'network');
      listed = await page.$$eval('#net-peers code', (cs, id) => cs.some((c) => c.textContent === id), peerID);
      if (!listed) await new Promise((r) => setTimeout(r, 250));
    }
    assert.ok(listed, `peer ${peerID} not in the peer table`);

    // Screenshots of every view with this activity in it, at desktop and phone width.
    for (const [vp, suffix] of [[DESKTOP, 'desktop'], [PHONE, 'phone']]) {
      await page.setViewport(vp);
      for (const v of VIEWS) {
        await view(page, v);
        const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
        assert.ok(overflow <= 1, `${v} scrolls sideways at ${vp.width} px by ${overflow} px`);
        await shoot(page, `${v}-${suffix}`);
      }
    }
    await page.setViewport(DESKTOP);
    // The dark theme follows the system.
    await page.emulateMediaFeatures([{ name: 'prefers-color-scheme', value: 'dark' }]);
    await view(page, 'chat');
    assert.notEqual(await page.evaluate(() => getComputedStyle(document.body).backgroundColor), 'rgb(246, 247, 245)');
    await shoot(page, 'chat-dark-desktop');
    await view(page, 'energy');
    await shoot(page, 'energy-dark-desktop');
    await page.emulateMediaFeatures([{ name: 'prefers-color-scheme', value: 'light' }]);

    assert.deepEqual(log.dialogs.filter((d) => d.startsWith('alert')), [], 'a script ran from untrusted text');
    assert.deepEqual(log.errors, [], 'console errors');
    assert.deepEqual(log.failed, ['400 /v1/model-store/import'], 'failed API calls other than the bad import');

    // The node goes away: a clear banner, and Retry tries again.
    await node.stop();
    await page.evaluate(() => { location.hash = '#node'; });
    await page.waitForFunction(() => getComputedStyle(document.getElementById('banner')).display !== 'none', { timeout: 10_000 });
    assert.match(await page.$eval('#banner-text', (e) => e.textContent), /Cannot reach the node/);
    await shoot(page, 'node-down-desktop');
  } finally {
    await page.close();
    await peer?.stop();
    await node.stop();
    await hub.close();
    await up.close();
    rmSync(config, { force: true });
  }
});

test('the dashboard with auth on: admin signs in, creates a tenant and a key, and uses it', { timeout: 120_000 }, async () => {
  const secret = 'dashboard-admin-secret-0123456789';
  process.env.ARIA_ADMIN_SECRET = secret;
  const node = await startNode({ args: ['--auth'] });
  delete process.env.ARIA_ADMIN_SECRET;
  const { page, log } = await openPage(node.url + '/');
  try {
    // Without credentials the API answers 401 and the page asks to sign in.
    await page.waitForSelector('#view-signin:not([hidden])', { timeout: 10_000 });
    await shoot(page, 'signin-desktop');
    await page.type('#in-admin', 'wrong-secret-0000');
    await page.click('#form-admin button');
    await page.waitForFunction(() => /Invalid admin secret/.test(document.getElementById('signin-msg').textContent));
    await page.$eval('#in-admin', (e) => { e.value = ''; });
    await page.type('#in-admin', secret);
    await page.click('#form-admin button');
    await page.waitForSelector('#view-admin:not([hidden]) .cards', { timeout: 10_000 });

    await page.type('#tenant-name', 'acme');
    await page.click('#admin-body form button[type=submit]');
    await page.waitForSelector('#key-name', { timeout: 10_000 });
    await page.type('#key-name', 'dashboard');
    await page.click('#key-name + button');
    await page.waitForSelector('#new-key-secret', { timeout: 10_000 });
    const key = await page.$eval('#new-key-secret', (e) => e.textContent);
    assert.match(key, /^ares_[A-Za-z0-9]{20,}$/);
    await shoot(page, 'admin-desktop');
    await page.setViewport(PHONE);
    await shoot(page, 'admin-phone');
    await page.setViewport(DESKTOP);
    // Shown once: once the console is drawn again, the listing has the key's prefix only.
    await page.click('#admin-body td button');
    await page.waitForFunction(() => !document.getElementById('new-key-secret') && document.getElementById('key-name'), { timeout: 10_000 });
    assert.ok(!(await page.$eval('#admin-body', (e) => e.textContent)).includes(key));
    assert.ok((await page.$eval('#admin-body', (e) => e.textContent)).includes(key.slice(0, 9)), 'the key prefix is not listed');

    // The new key works as a sign-in for the OpenAI views.
    await page.click('#signout-btn');
    await page.waitForSelector('#view-signin:not([hidden])', { timeout: 10_000 });
    await page.type('#in-key', key);
    await page.click('#form-key button');
    await page.waitForSelector('#view-chat:not([hidden])');
    await page.waitForFunction(() => document.querySelectorAll('#chat-model option[value]:not([value=""])').length > 0, { timeout: 10_000 });
    assert.match(await page.$eval('#who', (e) => e.textContent), /key ares_/);
    assert.equal(await page.evaluate(() => JSON.parse(sessionStorage.getItem('aria.auth')).key), key);
    await page.$eval('#chat-max', (e) => { e.value = '8'; });
    await page.type('#chat-input', 'Hi');
    await page.keyboard.press('Enter');
    await page.waitForSelector('#chat-log li.assistant[data-state]', { timeout: 60_000 });
    assert.equal(await page.$eval('#chat-log li.assistant', (li) => li.dataset.state), 'done');

    // A user login (JWT, no key) chats through the ARES chat API.
    const reg = await fetch(node.url + '/api/auth/register', { method: 'POST', headers: { 'Content-Type': 'application/json', Authorization: 'Bearer ' + key },
      body: JSON.stringify({ email: 'dev@example.com', password: 'correct horse battery', name: 'Dev' }) });
    assert.equal(reg.status, 201, await reg.text());
    await page.click('#signout-btn');
    await page.waitForSelector('#view-signin:not([hidden])', { timeout: 10_000 });
    await page.type('#in-email', 'dev@example.com');
    await page.type('#in-password', 'correct horse battery');
    await page.click('#form-login button');
    await page.waitForSelector('#view-chat:not([hidden])');
    await page.waitForFunction(() => /Default agent/.test(document.getElementById('chat-model').textContent), { timeout: 10_000 });
    assert.match(await page.$eval('#who', (e) => e.textContent), /dev@example.com/);
    await page.type('#chat-input', 'Hello agent');
    await page.keyboard.press('Enter');
    await page.waitForFunction(() => [...document.querySelectorAll('#chat-log li.assistant')].at(-1)?.dataset.state, { timeout: 60_000 });
    const agentReply = await page.evaluate(() => { const li = [...document.querySelectorAll('#chat-log li.assistant')].at(-1); return { state: li.dataset.state, text: li.querySelector('.text').textContent, meta: li.querySelector('.meta').textContent }; });
    assert.equal(agentReply.state, 'done', JSON.stringify(agentReply));
    assert.ok(agentReply.text.length > 0);
    // The page's max tokens reaches the ARES chat: the answer stops at 8 tokens (the usage
    // shown also counts the router's at most 16).
    const used = Number(/(\d+) tokens/.exec(agentReply.meta)?.[1]);
    assert.ok(used > 0 && used <= 8 + 16 && /finish: length/.test(agentReply.meta), `the ARES chat answered ${agentReply.meta}`);
    await shoot(page, 'chat-user-login-desktop');

    assert.deepEqual(log.errors, [], 'console errors');
    // The only failed calls: 401s before signing in (and the wrong secret).
    const unexpected = log.failed.filter((f) => !/^401 /.test(f));
    assert.ok(log.failed.includes('401 /v1/models'), 'the login user was not refused /v1 (the test proves nothing)');
    assert.deepEqual(unexpected, [], 'unexpected failed API calls');
  } finally {
    await page.close();
    await node.stop();
  }
});
