// Concurrent requests share the slots (continuous batching) without changing output.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';

import { chatBody, client, collectStream, getJSON, startNode } from './node.mjs';

const N = 8;

describe('concurrent requests (--slots 4 --queue 16)', { timeout: 180_000 }, () => {
  let node;
  let c;
  before(async () => {
    node = await startNode({ args: ['--slots', '4', '--queue', '16'] });
    c = client(node, { timeout: 60_000 });
  }, { timeout: 70_000 });
  after(async () => {
    await node?.stop();
  }, { timeout: 30_000 });

  // Eight different requests: different prompts, lengths, and greedy or seeded sampling.
  const bodies = Array.from({ length: N }, (_, i) => chatBody({
    messages: [{ role: 'user', content: `Request number ${i}: ${'tell me more '.repeat(i + 1)}` }],
    max_tokens: 24 + 5 * i,
    ...(i % 2 === 0 ? { temperature: 0 } : { temperature: 1, seed: 1000 + i }),
  }));

  test('status reports the configured slots and queue', { timeout: 10_000 }, async () => {
    const { body } = await getJSON(node, '/v1/status');
    assert.equal(body.total_slots, 4);
    assert.equal(body.queue_size, 16);
  });

  test(`${N} concurrent requests all succeed, each equal to the request alone`, { timeout: 120_000 }, async () => {
    const alone = [];
    for (const b of bodies) alone.push(await c.chat.completions.create(b));

    const together = await Promise.all(bodies.map((b) => c.chat.completions.create(b)));
    for (let i = 0; i < N; i++) {
      const r = together[i];
      assert.equal(r.choices[0].finish_reason, 'length', `request ${i}`);
      assert.equal(r.usage.completion_tokens, bodies[i].max_tokens, `request ${i}`);
      assert.equal(r.usage.prompt_tokens, alone[i].usage.prompt_tokens, `request ${i}`);
      assert.equal(r.choices[0].message.content, alone[i].choices[0].message.content, `request ${i}: batched != alone`);
    }
    const { body } = await getJSON(node, '/v1/status');
    assert.equal(body.active_slots, 0);
    assert.equal(body.queued, 0);
  });

  test(`${N} concurrent streams all succeed, each equal to the request alone`, { timeout: 120_000 }, async () => {
    const alone = [];
    for (const b of bodies) alone.push((await c.chat.completions.create(b)).choices[0].message.content);
    const streams = await Promise.all(bodies.map((b) => collectStream(c, { ...b, stream_options: { include_usage: true } })));
    for (let i = 0; i < N; i++) {
      assert.equal(streams[i].finish[0], 'length', `stream ${i}`);
      assert.equal(streams[i].usage.completion_tokens, bodies[i].max_tokens, `stream ${i}`);
      assert.equal(streams[i].text, alone[i], `stream ${i}: batched != alone`);
    }
  });
});
