// Non-streaming chat completions: response shape, usage, max_tokens, n.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';

import { MODEL, chatBody, client, startNode } from './node.mjs';

describe('chat completions (non-streaming)', { timeout: 120_000 }, () => {
  let node;
  let c;
  before(async () => {
    node = await startNode();
    c = client(node);
  }, { timeout: 70_000 });
  after(async () => {
    await node?.stop();
  }, { timeout: 30_000 });

  test('response shape and usage', { timeout: 20_000 }, async () => {
    const before = Math.floor(Date.now() / 1000);
    const r = await c.chat.completions.create(chatBody({
      messages: [
        { role: 'system', content: 'You are a helpful assistant.' },
        { role: 'user', content: 'What is quantum computing?' },
      ],
      max_tokens: 8,
    }));
    assert.equal(typeof r.id, 'string');
    assert.ok(r.id.startsWith('chatcmpl-'), `id ${r.id}`);
    assert.equal(r.object, 'chat.completion');
    assert.equal(typeof r.created, 'number');
    assert.ok(Number.isInteger(r.created), `created ${r.created}`);
    assert.ok(Math.abs(r.created - before) <= 60, `created ${r.created} vs now ${before}`);
    assert.equal(r.model, MODEL);
    assert.equal(typeof r.system_fingerprint, 'string');
    assert.equal(r.choices.length, 1);
    const [ch] = r.choices;
    assert.equal(ch.index, 0);
    assert.equal(ch.message.role, 'assistant');
    assert.equal(typeof ch.message.content, 'string');
    assert.ok(ch.message.content.length > 0, 'content is empty');
    assert.equal(ch.finish_reason, 'length');
    const u = r.usage;
    for (const k of ['prompt_tokens', 'completion_tokens', 'total_tokens']) {
      assert.ok(Number.isInteger(u[k]) && u[k] >= 0, `usage.${k} = ${u[k]}`);
    }
    assert.ok(u.prompt_tokens > 0, `prompt_tokens ${u.prompt_tokens}`);
    assert.equal(u.completion_tokens, 8);
    assert.equal(u.total_tokens, u.prompt_tokens + u.completion_tokens);
  });

  test('ids are unique per completion', { timeout: 20_000 }, async () => {
    const a = await c.chat.completions.create(chatBody({ max_tokens: 1 }));
    const b = await c.chat.completions.create(chatBody({ max_tokens: 1 }));
    assert.notEqual(a.id, b.id);
  });

  test('a longer prompt counts more prompt tokens', { timeout: 20_000 }, async () => {
    const short = await c.chat.completions.create(chatBody({ max_tokens: 1, messages: [{ role: 'user', content: 'hi' }] }));
    const long = await c.chat.completions.create(chatBody({
      max_tokens: 1,
      messages: [{ role: 'user', content: 'hi '.repeat(50) + 'tell me a long story about the sea and the stars' }],
    }));
    assert.ok(long.usage.prompt_tokens > short.usage.prompt_tokens,
      `long ${long.usage.prompt_tokens} <= short ${short.usage.prompt_tokens}`);
  });

  test('max_tokens is respected', { timeout: 30_000 }, async () => {
    for (const max of [1, 5, 23, 64]) {
      const r = await c.chat.completions.create(chatBody({ max_tokens: max, temperature: 0.8, seed: max }));
      assert.equal(r.usage.completion_tokens, max, `max_tokens ${max}`);
      assert.equal(r.choices[0].finish_reason, 'length', `max_tokens ${max}`);
      assert.equal(r.usage.total_tokens, r.usage.prompt_tokens + max);
    }
  });

  test('max_tokens defaults to 100', { timeout: 30_000 }, async () => {
    const body = chatBody({ temperature: 0 });
    delete body.max_tokens;
    const r = await c.chat.completions.create(body);
    assert.equal(r.usage.completion_tokens, 100);
    assert.equal(r.choices[0].finish_reason, 'length');
  });

  test('max_completion_tokens is honoured too', { timeout: 20_000 }, async () => {
    const body = chatBody({ max_completion_tokens: 7 });
    delete body.max_tokens;
    const r = await c.chat.completions.create(body);
    assert.equal(r.usage.completion_tokens, 7);
    assert.equal(r.choices[0].finish_reason, 'length');
  });

  test('n=2 returns two choices, different when sampled with a seed', { timeout: 30_000 }, async () => {
    const r = await c.chat.completions.create(chatBody({ n: 2, max_tokens: 32, temperature: 1, seed: 1234 }));
    assert.equal(r.choices.length, 2);
    assert.deepEqual(r.choices.map((ch) => ch.index), [0, 1]);
    for (const ch of r.choices) {
      assert.equal(ch.message.role, 'assistant');
      assert.ok(ch.message.content.length > 0);
      assert.equal(ch.finish_reason, 'length');
    }
    assert.notEqual(r.choices[0].message.content, r.choices[1].message.content);
    assert.equal(r.usage.completion_tokens, 64, 'completion_tokens counts both choices');
    assert.equal(r.usage.total_tokens, r.usage.prompt_tokens + r.usage.completion_tokens);
    // Reproducible: the same seeded request gives the same pair again.
    const again = await c.chat.completions.create(chatBody({ n: 2, max_tokens: 32, temperature: 1, seed: 1234 }));
    assert.deepEqual(again.choices.map((ch) => ch.message.content), r.choices.map((ch) => ch.message.content));
  });

  test('content as an array of text parts equals the same string content', { timeout: 20_000 }, async () => {
    const a = await c.chat.completions.create(chatBody({
      temperature: 0, messages: [{ role: 'user', content: [{ type: 'text', text: 'Tell me ' }, { type: 'text', text: 'about the sea.' }] }],
    }));
    const b = await c.chat.completions.create(chatBody({ temperature: 0, messages: [{ role: 'user', content: 'Tell me about the sea.' }] }));
    assert.equal(a.choices[0].message.content, b.choices[0].message.content);
    assert.equal(a.usage.prompt_tokens, b.usage.prompt_tokens);
  });

  test('the prompt matters: different prompts give different greedy texts', { timeout: 20_000 }, async () => {
    const a = await c.chat.completions.create(chatBody({ temperature: 0, max_tokens: 24, messages: [{ role: 'user', content: 'Tell me about the sea.' }] }));
    const b = await c.chat.completions.create(chatBody({ temperature: 0, max_tokens: 24, messages: [{ role: 'user', content: 'Explain how compilers work, step by step.' }] }));
    assert.notEqual(a.choices[0].message.content, b.choices[0].message.content);
  });

  test('user, top_p and penalties are accepted', { timeout: 20_000 }, async () => {
    const r = await c.chat.completions.create(chatBody({
      max_tokens: 4, top_p: 0.9, presence_penalty: 0.5, frequency_penalty: 0.5, user: 'e2e-user', seed: 5,
    }));
    assert.equal(r.usage.completion_tokens, 4);
  });
});
