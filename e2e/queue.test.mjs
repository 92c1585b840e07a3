// A node with one slot and a one-request queue answers a third request with 503.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';

import { chatBody, client, getJSON, startNode, waitFor } from './node.mjs';

const status = async (node) => (await getJSON(node, '/v1/status')).body;

function assertQueueFull(err) {
  assert.ok(err instanceof OpenAI.APIError, `got ${err?.constructor?.name}: ${err}`);
  assert.equal(err.status, 503);
  // The SDK maps every 5xx to InternalServerError.
  assert.ok(err instanceof OpenAI.InternalServerError, `got ${err.constructor.name}`);
  assert.equal(err.type, 'service_unavailable_error');
  assert.equal(err.code, 'queue_full');
  assert.equal(err.error?.type, 'service_unavailable_error');
  const ra = err.headers?.get('retry-after');
  assert.ok(ra != null, 'no Retry-After header');
  assert.ok(Number.isInteger(Number(ra)) && Number(ra) >= 1, `Retry-After ${ra}`);
  return true;
}

describe('queue full (--slots 1 --queue 1)', { timeout: 120_000 }, () => {
  let node;
  let c;
  before(async () => {
    node = await startNode({ args: ['--slots', '1', '--queue', '1'] });
    c = client(node); // maxRetries: 0, or the SDK would retry the 503
  }, { timeout: 70_000 });
  after(async () => {
    await node?.stop();
  }, { timeout: 30_000 });

  test('status reports one slot and a one-request queue', { timeout: 10_000 }, async () => {
    const st = await status(node);
    assert.equal(st.total_slots, 1);
    assert.equal(st.queue_size, 1);
    assert.equal(st.active_slots, 0);
    assert.equal(st.queued, 0);
  });

  test('running + queued: a third request gets 503 queue_full with Retry-After', { timeout: 60_000 }, async () => {
    const long = chatBody({ max_tokens: 2000, temperature: 1, seed: 8 });
    const acA = new AbortController();
    const acB = new AbortController();
    let aDone = false;
    let aChunks = 0;
    let bErr = null;
    let drainA = Promise.resolve();
    let pB = Promise.resolve();
    try {
      // A: occupies the only slot (the SDK resolves once the first token arrived).
      const streamA = await c.chat.completions.create({ ...long, stream: true }, { signal: acA.signal });
      drainA = (async () => {
        try {
          for await (const _ of streamA) {
            aChunks++;
            if (aChunks > 5000) break;
          }
        } catch { /* aborted */ }
        aDone = true;
      })();
      // B: waits in the queue; its response only starts when it gets the slot.
      pB = c.chat.completions.create({ ...long, stream: true }, { signal: acB.signal })
        .then((s) => s.controller.abort(), (e) => { bErr = e; });
      await waitFor(async () => {
        const st = await status(node);
        return st.active_slots === 1 && st.queued === 1;
      }, { timeoutMs: 10_000, intervalMs: 20, what: 'one running and one queued request' });

      // C, non-streaming, through the SDK.
      await assert.rejects(c.chat.completions.create(chatBody({ max_tokens: 4 })), assertQueueFull);
      // C, streaming: fails before any event, so it is a proper HTTP 503 as well.
      await assert.rejects(c.chat.completions.create(chatBody({ max_tokens: 4, stream: true })), assertQueueFull);
      // C, raw: the JSON body and the header.
      const res = await fetch(`${node.baseURL}/chat/completions`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify(chatBody({ max_tokens: 4 })),
        signal: AbortSignal.timeout(5_000),
      });
      assert.equal(res.status, 503);
      assert.equal(res.headers.get('retry-after'), '1');
      const body = await res.json();
      assert.equal(body.error.type, 'service_unavailable_error');
      assert.equal(body.error.code, 'queue_full');
      assert.equal(typeof body.error.message, 'string');

      assert.equal(aDone, false, 'request A finished before the checks: the window was too short to test queue_full');
      const st = await status(node);
      assert.equal(st.active_slots, 1);
      assert.equal(st.queued, 1);
    } finally {
      acB.abort();
      acA.abort();
      await Promise.race([Promise.all([drainA, pB]), new Promise((r) => setTimeout(r, 10_000).unref())]);
    }
    assert.ok(aChunks > 0, 'A streamed nothing');
    assert.ok(bErr === null || bErr instanceof OpenAI.APIUserAbortError, `B failed with ${bErr}`);

    // Aborting frees both the slot and the queue place.
    await waitFor(async () => {
      const st = await status(node);
      return st.active_slots === 0 && st.queued === 0;
    }, { timeoutMs: 10_000, what: 'slot and queue to empty after abort' });
    const r = await c.chat.completions.create(chatBody({ max_tokens: 4 }), { timeout: 10_000 });
    assert.equal(r.usage.completion_tokens, 4);
  });

  test('n above slots + queue is a 400 naming n', { timeout: 30_000 }, async () => {
    await assert.rejects(c.chat.completions.create(chatBody({ n: 3, max_tokens: 1000 })), (err) => {
      assert.equal(err.status, 400);
      assert.equal(err.type, 'invalid_request_error');
      assert.match(err.message, /'n'/);
      return true;
    });
  });

  test('a choice refused for a full queue fails the request and cancels its siblings', { timeout: 30_000 }, async () => {
    const lengthFinishes = async () => (await (await fetch(`${node.url}/metrics`, { signal: AbortSignal.timeout(5_000) })).text())
      .split('\n').filter((l) => l.startsWith('aria_generations_total{') && l.includes('finish_reason="length"'))
      .reduce((sum, l) => sum + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
    // Occupy the only slot with a long stream.
    const ac = new AbortController();
    const stream = await c.chat.completions.create(chatBody({ max_tokens: 2000, stream: true }), { signal: ac.signal });
    const it = stream[Symbol.asyncIterator]();
    await it.next();
    const before = await lengthFinishes();
    // n=2: one choice takes the queue place, the other finds it full.
    await assert.rejects(c.chat.completions.create(chatBody({ n: 2, max_tokens: 1000 })), assertQueueFull);
    ac.abort();
    await it.next().catch(() => {});
    await waitFor(async () => {
      const st = await status(node);
      return st.active_slots === 0 && st.queued === 0;
    }, { timeoutMs: 10_000, what: 'slot and queue to empty' });
    assert.equal(await lengthFinishes(), before, 'the queued sibling generated to its end instead of being cancelled');
  });

  test('a request queued behind a short one is served, not rejected', { timeout: 30_000 }, async () => {
    const [a, b] = await Promise.all([
      c.chat.completions.create(chatBody({ max_tokens: 50 })),
      c.chat.completions.create(chatBody({ max_tokens: 5 })),
    ]);
    assert.equal(a.usage.completion_tokens, 50);
    assert.equal(b.usage.completion_tokens, 5);
  });
});
