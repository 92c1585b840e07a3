// SIGTERM: the node drains in-flight requests and exits 0.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';

import { chatBody, client, getJSON, startNode, waitFor } from './node.mjs';

describe('graceful shutdown', { timeout: 120_000 }, () => {
  let node;
  before(async () => {
    node = await startNode();
  }, { timeout: 70_000 });
  after(async () => {
    await node?.stop();
  }, { timeout: 30_000 });

  test('an in-flight request completes after SIGTERM, then the node exits 0', { timeout: 60_000 }, async () => {
    const c = client(node);
    const p = c.chat.completions.create(chatBody({ max_tokens: 300 }));
    await waitFor(async () => (await getJSON(node, '/v1/status')).body.active_slots === 1,
      { timeoutMs: 10_000, intervalMs: 10, what: 'the request to start generating' });
    const exit = node.stop();
    const r = await p;
    assert.equal(r.usage.completion_tokens, 300);
    assert.equal(r.choices[0].finish_reason, 'length');
    const { code, signal } = await exit;
    assert.equal(signal, null, `killed by ${signal}\n${node.stderr()}`);
    assert.equal(code, 0, node.stderr());
    // And the port is closed.
    await assert.rejects(fetch(`${node.url}/health`, { signal: AbortSignal.timeout(2_000) }));
  });
});
