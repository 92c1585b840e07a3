// The peer network end to end: three real `aria` processes on loopback. A serves no
// model and bootstraps from B; C also serves the model. The openai SDK drives A, whose
// requests run on a peer; a `ws` client does the spec's WebSocket example; the
// stand-alone gateway (`aria api start`) serves B's API over the peer protocol and
// reports B unreachable while it is down.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import WebSocket from 'ws';

import { HOST, MODEL, ariaBin, client, freePort, getJSON, startNode, waitFor } from './node.mjs';

/** Sends one envelope on a fresh connection and resolves with the first reply of a wanted type. */
function wsAsk(url, msg, wantType, timeoutMs = 20_000) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    const timer = setTimeout(() => { ws.terminate(); reject(new Error(`no ${wantType} within ${timeoutMs} ms`)); }, timeoutMs);
    ws.on('open', () => ws.send(JSON.stringify(msg)));
    ws.on('message', (data) => {
      const m = JSON.parse(data.toString());
      if (m.type === wantType || (m.type === 'error' && m.request_id === msg.request_id)) {
        clearTimeout(timer);
        ws.close();
        resolve(m);
      }
    });
    ws.on('error', (e) => { clearTimeout(timer); reject(e); });
  });
}

async function stats(node) {
  const m = await wsAsk(`ws://${HOST}:${node.peerPort}`, { type: 'get_stats', request_id: 's1', data: {} }, 'stats');
  return m.data;
}

describe('three nodes on loopback', { timeout: 240_000 }, () => {
  let a, b, c, gw, gwPort;
  const dirs = [];
  before(async () => {
    b = await startNode();
    const boot = (await stats(b)).p2p_addrs.find((x) => x.includes('/tcp/'));
    assert.ok(boot, 'B prints a TCP multiaddr to bootstrap from');
    c = await startNode({ args: ['--bootstrap', boot] });
    a = await startNode({ args: ['--model', 'none', '--bootstrap', boot] });
  }, { timeout: 200_000 });
  after(async () => {
    gw?.kill('SIGTERM');
    await Promise.all([a?.stop(), b?.stop(), c?.stop()]);
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  }, { timeout: 60_000 });

  test('A, which serves no model, answers through a peer (openai SDK)', { timeout: 60_000 }, async () => {
    const ai = client(a);
    await waitFor(async () => (await ai.models.list()).data.some((m) => m.id === MODEL), { timeoutMs: 30_000, what: 'remote model on A' });
    const model = (await ai.models.list()).data.find((m) => m.id === MODEL);
    assert.equal(model.aria.remote, true);
    const r = await ai.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'through the network' }], max_tokens: 6, temperature: 0 });
    assert.equal(r.usage.completion_tokens, 6);
    assert.equal(r.choices[0].finish_reason, 'length');
    assert.ok(r.choices[0].message.content.length > 0);
    // Streaming through the peer keeps usage intact too.
    const stream = await ai.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'stream it' }], max_tokens: 5, stream: true, stream_options: { include_usage: true } });
    let text = '', usage;
    for await (const ch of stream) {
      text += ch.choices[0]?.delta?.content ?? '';
      if (ch.usage) usage = ch.usage;
    }
    assert.ok(text.length > 0);
    assert.equal(usage.completion_tokens, 5);
    const served = (await stats(b)).energy.total_inferences + (await stats(c)).energy.total_inferences;
    assert.ok(served >= 2, `B and C served ${served} inferences`);
  });

  test("the spec's WebSocket example works against a node", { timeout: 30_000 }, async () => {
    const m = await wsAsk(`ws://${HOST}:${b.peerPort}`, {
      type: 'inference_request', request_id: 'req-' + Date.now(),
      data: { query: 'What is AI?', model_id: MODEL, max_tokens: 10 },
    }, 'inference_response');
    assert.equal(m.type, 'inference_response', JSON.stringify(m));
    assert.equal(typeof m.data.output, 'string');
    assert.ok(m.data.output.length > 0);
    assert.equal(m.data.usage.completion_tokens, 10);
  });

  test('aria network peers and aria node status', { timeout: 30_000 }, async () => {
    const run = (args) => new Promise((resolve) => {
      const p = spawn(ariaBin(), args);
      let out = '';
      p.stdout.on('data', (d) => { out += d; });
      p.on('exit', (code) => resolve({ code, out }));
    });
    await waitFor(async () => (await run(['network', 'peers', '--node-host', HOST, '--node-port', String(a.peerPort)])).out.includes(MODEL), { timeoutMs: 20_000, what: 'peers listed' });
    const peers = await run(['network', 'peers', '--node-host', HOST, '--node-port', String(a.peerPort), '--json']);
    assert.equal(peers.code, 0);
    const list = JSON.parse(peers.out).peers;
    assert.ok(list.length >= 1);
    assert.ok(list.some((p) => p.models.includes(MODEL) && p.latency_ms >= 0));
    const st = await run(['node', 'status', '--node-host', HOST, '--node-port', String(b.peerPort)]);
    assert.equal(st.code, 0);
    assert.match(st.out, /remote work\s+accepting/);
    assert.match(st.out, new RegExp(MODEL));
  });

  test('aria api start serves the node over WebSocket and reports it unreachable while down', { timeout: 120_000 }, async () => {
    gwPort = await freePort();
    gw = spawn(ariaBin(), ['api', 'start', '--port', String(gwPort), '--host', HOST, '--node-host', HOST, '--node-port', String(c.peerPort)], { stdio: 'ignore' });
    const gwNode = { url: `http://${HOST}:${gwPort}`, baseURL: `http://${HOST}:${gwPort}/v1` };
    await waitFor(async () => {
      try { return (await getJSON(gwNode, '/health')).status === 200; } catch { return false; }
    }, { timeoutMs: 20_000, what: 'gateway healthy' });
    const r = await client(gwNode).chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'via the gateway' }], max_tokens: 4 });
    assert.equal(r.usage.completion_tokens, 4);

    // C goes down: the gateway turns degraded with node.status "unreachable".
    const dataDir = await mkdtemp(path.join(os.tmpdir(), 'aria-e2e-c2-'));
    dirs.push(dataDir);
    const port = c.peerPort;
    await c.stop();
    await waitFor(async () => {
      const h = await getJSON(gwNode, '/health');
      return h.status === 503 && h.body.status === 'degraded' && h.body.node.status === 'unreachable';
    }, { timeoutMs: 20_000, what: 'gateway degraded' });
    // A chat while the node is down is the spec's 503, not a hang or a crash.
    const down = await fetch(`${gwNode.baseURL}/chat/completions`, {
      method: 'POST', headers: { 'Content-Type': 'application/json' }, signal: AbortSignal.timeout(10_000),
      body: JSON.stringify({ model: MODEL, messages: [{ role: 'user', content: 'anyone?' }], max_tokens: 2 }),
    });
    assert.equal(down.status, 503);
    const body = await down.json();
    assert.equal(body.error.type, 'service_unavailable_error');
    assert.equal(body.error.code, 'node_unavailable');
    assert.ok(body.error.message.length > 0);
    // A node comes back on that port: the gateway recovers.
    c = await startNode({ dataDir, args: ['--port', String(port)] });
    await waitFor(async () => (await getJSON(gwNode, '/health')).status === 200, { timeoutMs: 30_000, what: 'gateway recovered' });
  });
});
