// Reproducibility: greedy decoding, seeded sampling, stream vs non-stream.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';

import { chatBody, client, collectStream, startNode } from './node.mjs';

const TOKENS = 32;

describe('determinism', { timeout: 120_000 }, () => {
  let node;
  let c;
  const text = async (over) => {
    const r = await c.chat.completions.create(chatBody({ max_tokens: TOKENS, ...over }));
    assert.equal(r.usage.completion_tokens, TOKENS);
    return r.choices[0].message.content;
  };
  before(async () => {
    node = await startNode();
    c = client(node);
  }, { timeout: 70_000 });
  after(async () => {
    await node?.stop();
  }, { timeout: 30_000 });

  test('temperature 0 + seed: identical twice, and identical streamed', { timeout: 30_000 }, async () => {
    const a = await text({ temperature: 0, seed: 7 });
    const b = await text({ temperature: 0, seed: 7 });
    assert.equal(a, b);
    const s = await collectStream(c, chatBody({ max_tokens: TOKENS, temperature: 0, seed: 7 }));
    assert.equal(s.text, a, 'stream == non-stream');
  });

  test('temperature 0 ignores the seed (greedy)', { timeout: 30_000 }, async () => {
    const a = await text({ temperature: 0, seed: 1 });
    const b = await text({ temperature: 0, seed: 2 });
    const d = await text({ temperature: 0 });
    assert.equal(a, b);
    assert.equal(a, d);
  });

  test('temperature 1 with the same seed: identical, streamed too', { timeout: 30_000 }, async () => {
    const a = await text({ temperature: 1, seed: 31337 });
    const b = await text({ temperature: 1, seed: 31337 });
    assert.equal(a, b);
    const s = await collectStream(c, chatBody({ max_tokens: TOKENS, temperature: 1, seed: 31337 }));
    assert.equal(s.text, a, 'stream == non-stream');
  });

  test('temperature 1 with different seeds: different texts', { timeout: 30_000 }, async () => {
    const seeds = [1, 2, 3];
    const texts = [];
    for (const seed of seeds) texts.push(await text({ temperature: 1, seed }));
    // Random weights, 32 sampled tokens: a collision of all three would be a bug, one
    // pair colliding is astronomically unlikely; require at least two distinct texts.
    assert.ok(new Set(texts).size >= 2, `texts for seeds ${seeds}: ${JSON.stringify(texts)}`);
    assert.notEqual(texts[0], texts[1]);
  });

  test('temperature 1 without a seed: varies between requests', { timeout: 30_000 }, async () => {
    const texts = new Set();
    for (let i = 0; i < 3; i++) texts.add(await text({ temperature: 1 }));
    assert.ok(texts.size >= 2, `unseeded sampling gave the same text 3 times: ${[...texts][0]}`);
  });

  test('n=2 choice 0 equals the same seeded request with n=1', { timeout: 30_000 }, async () => {
    const single = await text({ temperature: 1, seed: 555 });
    const r = await c.chat.completions.create(chatBody({ max_tokens: TOKENS, temperature: 1, seed: 555, n: 2 }));
    assert.equal(r.choices[0].message.content, single);
  });
});
