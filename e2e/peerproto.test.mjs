// The WebSocket peer protocol of a real node under bad input: garbage and binary
// frames get an `error` and the connection keeps working; an oversize frame gets
// `frame_too_large` and a clean close; other connections are unaffected.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';

import WebSocket from 'ws';

import { HOST, MODEL, startNode } from './node.mjs';

/** Opens a connection that queues every message it receives. */
function open(url) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    const inbox = [];
    const waiters = [];
    ws.on('message', (data) => {
      const m = JSON.parse(data.toString());
      const w = waiters.findIndex((x) => x.pred(m));
      if (w >= 0) waiters.splice(w, 1)[0].resolve(m); else inbox.push(m);
    });
    ws.next = (pred, timeoutMs = 20_000) => {
      const i = inbox.findIndex(pred);
      if (i >= 0) return Promise.resolve(inbox.splice(i, 1)[0]);
      return new Promise((res, rej) => {
        const t = setTimeout(() => rej(new Error('no matching message')), timeoutMs);
        waiters.push({ pred, resolve: (m) => { clearTimeout(t); res(m); } });
      });
    };
    ws.closed = new Promise((res) => ws.on('close', (code) => res(code)));
    ws.on('open', () => resolve(ws));
    ws.on('error', reject);
  });
}

describe('peer protocol under bad input', { timeout: 120_000 }, () => {
  let node, url;
  before(async () => {
    node = await startNode();
    url = `ws://${HOST}:${node.peerPort}`;
  }, { timeout: 70_000 });
  after(async () => { await node?.stop(); }, { timeout: 30_000 });

  test('garbage, binary and unknown frames get errors; the connection keeps working', { timeout: 30_000 }, async () => {
    const ws = await open(url);
    const welcome = await ws.next((m) => m.type === 'welcome');
    assert.ok(welcome.data.peer_id.startsWith('12D3KooW'));
    ws.send('{not json');
    assert.equal((await ws.next((m) => m.type === 'error')).data.code, 'malformed');
    ws.send(Buffer.from([0, 1, 2, 3]), { binary: true });
    assert.equal((await ws.next((m) => m.type === 'error')).data.code, 'malformed');
    ws.send(JSON.stringify({ type: 'teleport', request_id: 'x1' }));
    const unknown = await ws.next((m) => m.type === 'error');
    assert.equal(unknown.data.code, 'unknown_type');
    assert.equal(unknown.request_id, 'x1');
    ws.send(JSON.stringify({ type: 'inference_request', request_id: 'bad1', data: { model_id: MODEL } }));
    assert.equal((await ws.next((m) => m.request_id === 'bad1')).type, 'error');
    ws.send(JSON.stringify({ type: 'inference_request', request_id: 'nm', data: { query: 'hi', model_id: 'no-such-model' } }));
    assert.equal((await ws.next((m) => m.request_id === 'nm')).data.code, 'model_not_found');
    ws.send(JSON.stringify({ type: 'inference_request', request_id: 'ok1', data: { query: 'still here?', model_id: MODEL, max_tokens: 3 } }));
    const r = await ws.next((m) => m.request_id === 'ok1');
    assert.equal(r.type, 'inference_response', JSON.stringify(r));
    assert.equal(r.data.usage.completion_tokens, 3);
    ws.close();
  });

  test('an oversize frame closes that connection only', { timeout: 30_000 }, async () => {
    const other = await open(url);
    const big = await open(url);
    big.send(JSON.stringify({ type: 'inference_request', request_id: 'huge', data: { query: 'x'.repeat(2 << 20), model_id: MODEL } }));
    const err = await big.next((m) => m.type === 'error');
    assert.equal(err.data.code, 'frame_too_large');
    assert.equal(await big.closed, 1009);
    other.send(JSON.stringify({ type: 'ping', request_id: 'p1', data: { n: 1 } }));
    const pong = await other.next((m) => m.request_id === 'p1');
    assert.equal(pong.type, 'pong');
    other.send(JSON.stringify({ type: 'inference_request', request_id: 'ok2', data: { query: 'hello', model_id: MODEL, max_tokens: 2 } }));
    assert.equal((await other.next((m) => m.request_id === 'ok2')).type, 'inference_response');
    other.close();
  });

  test('streamed chunks then a terminal response with usage', { timeout: 30_000 }, async () => {
    const ws = await open(url);
    ws.send(JSON.stringify({ type: 'inference_request', request_id: 's1', data: { query: 'stream', model_id: MODEL, max_tokens: 5, stream: true } }));
    let text = '';
    for (;;) {
      const m = await ws.next((x) => x.request_id === 's1');
      if (m.type === 'inference_chunk') { text += m.data.text; continue; }
      assert.equal(m.type, 'inference_response', JSON.stringify(m));
      assert.equal(m.data.output, text);
      assert.equal(m.data.usage.completion_tokens, 5);
      assert.equal(m.protocol, 'aria/0.1');
      break;
    }
    ws.close();
  });
});
