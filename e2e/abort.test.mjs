// A client that abandons a stream frees its slot at once.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';

import { chatBody, client, getJSON, startNode, waitFor } from './node.mjs';

/** The value of a Prometheus sample line, e.g. metric('aria_generations_total{...}'). */
function metric(text, name, labels = {}) {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name + '{') && !line.startsWith(name + ' ')) continue;
    if (!Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) continue;
    sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

describe('abort mid-stream', { timeout: 120_000 }, () => {
  let node;
  let c;
  before(async () => {
    node = await startNode();
    c = client(node);
  }, { timeout: 70_000 });
  after(async () => {
    await node?.stop();
  }, { timeout: 30_000 });

  test('aborting a long stream frees the slot; the next request succeeds promptly', { timeout: 60_000 }, async () => {
    const ac = new AbortController();
    const stream = await c.chat.completions.create(
      chatBody({ max_tokens: 2000, stream: true, temperature: 1, seed: 3 }),
      { signal: ac.signal },
    );
    let seen = 0;
    try {
      for await (const chunk of stream) {
        assert.ok(chunk.choices.length <= 1);
        if (++seen === 5) ac.abort();
        assert.ok(seen < 500, 'the stream went on long after abort()');
      }
    } catch (err) {
      // Depending on timing the SDK's iterator either ends quietly or throws its abort error.
      assert.ok(err instanceof OpenAI.APIUserAbortError || err.name === 'AbortError', `got ${err?.constructor?.name}: ${err}`);
    }
    assert.ok(seen >= 5, `only ${seen} chunks before the stream ended`);

    // The generation is cancelled: the slot frees up and the node counts it as an error,
    // not as a 2000-token "length" generation.
    const st = await waitFor(async () => {
      const { body } = await getJSON(node, '/v1/status');
      return body.active_slots === 0 && body.queued === 0 && body;
    }, { timeoutMs: 10_000, what: 'active_slots back to 0' });
    assert.equal(st.active_slots, 0);
    await waitFor(async () => {
      const res = await fetch(`${node.url}/metrics`, { signal: AbortSignal.timeout(5_000) });
      return metric(await res.text(), 'aria_generations_total', { finish_reason: 'error' }) === 1;
    }, { timeoutMs: 10_000, what: 'aria_generations_total{finish_reason="error"} == 1' });
    const m = await (await fetch(`${node.url}/metrics`, { signal: AbortSignal.timeout(5_000) })).text();
    assert.equal(metric(m, 'aria_generations_total', { finish_reason: 'length' }), 0, 'the aborted generation ran to its end');

    const r = await c.chat.completions.create(chatBody({ max_tokens: 8 }), { timeout: 10_000 });
    assert.equal(r.usage.completion_tokens, 8);
  });

  test('aborting a non-streaming request frees the slot too', { timeout: 60_000 }, async () => {
    const ac = new AbortController();
    const p = c.chat.completions.create(chatBody({ max_tokens: 2000, temperature: 1, seed: 4 }), { signal: ac.signal });
    // Wait until it is generating, then abort.
    await waitFor(async () => (await getJSON(node, '/v1/status')).body.active_slots === 1,
      { timeoutMs: 10_000, intervalMs: 20, what: 'the request to occupy a slot' });
    ac.abort();
    await assert.rejects(p, (err) => err instanceof OpenAI.APIUserAbortError || err.name === 'AbortError');
    await waitFor(async () => (await getJSON(node, '/v1/status')).body.active_slots === 0,
      { timeoutMs: 10_000, what: 'active_slots back to 0' });
    const r = await c.chat.completions.create(chatBody({ max_tokens: 4 }), { timeout: 10_000 });
    assert.equal(r.usage.completion_tokens, 4);
  });
});
