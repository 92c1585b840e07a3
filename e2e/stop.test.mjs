// Stop strings: generation ends before the first occurrence, which is not emitted.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';

import { chatBody, client, collectStream, startNode } from './node.mjs';

/**
 * Picks a stop string from the middle of text: a run of len characters (no U+FFFD,
 * which stands for invalid bytes the server cannot match) whose FIRST occurrence is
 * past the start, so the expected output is a non-empty prefix.
 */
function pickStop(text, len) {
  const chars = [...text];
  const mid = Math.floor(chars.length / 2);
  for (let d = 0; d < chars.length; d++) {
    for (const start of [mid + d, mid - d]) {
      if (start <= 0 || start + len > chars.length) continue;
      const stop = chars.slice(start, start + len).join('');
      if (stop.includes('\uFFFD') || stop.trim() === '') continue;
      const at = text.indexOf(stop);
      if (at > 0) return { stop, expected: text.slice(0, at) };
    }
  }
  return null;
}

describe('stop sequences', { timeout: 120_000 }, () => {
  let node;
  let c;
  before(async () => {
    node = await startNode();
    c = client(node);
  }, { timeout: 70_000 });
  after(async () => {
    await node?.stop();
  }, { timeout: 30_000 });

  const base = chatBody({
    messages: [{ role: 'user', content: 'Write a long paragraph about rivers and mountains.' }],
    max_tokens: 48,
    temperature: 0,
    seed: 11,
  });

  for (const len of [1, 3, 6]) {
    test(`a ${len}-character stop string from the middle of the greedy text`, { timeout: 30_000 }, async (t) => {
      const full = await c.chat.completions.create(base);
      const text = full.choices[0].message.content;
      assert.equal(full.choices[0].finish_reason, 'length');
      const pick = pickStop(text, len);
      assert.ok(pick, `no usable stop string of length ${len} in ${JSON.stringify(text)}`);
      const { stop, expected } = pick;
      const msg = `stop ${JSON.stringify(stop)} in ${JSON.stringify(text)}`;
      t.diagnostic(msg);

      // Non-streaming, stop as a string.
      const r = await c.chat.completions.create({ ...base, stop });
      assert.equal(r.choices[0].message.content, expected, msg);
      assert.equal(r.choices[0].finish_reason, 'stop', msg);
      assert.ok(!r.choices[0].message.content.includes(stop), msg);
      assert.ok(r.usage.completion_tokens < full.usage.completion_tokens, `${msg}: ${r.usage.completion_tokens} tokens`);
      assert.ok(r.usage.completion_tokens >= 1);
      assert.equal(r.usage.total_tokens, r.usage.prompt_tokens + r.usage.completion_tokens);

      // Streaming, stop as an array (with a second string that never occurs).
      const s = await collectStream(c, { ...base, stop: [stop, 'zzzz-never-zzzz'], stream_options: { include_usage: true } });
      assert.equal(s.text, expected, `${msg} (stream)`);
      assert.equal(s.finish[0], 'stop', `${msg} (stream)`);
      assert.ok(!s.chunks.some((ch) => ch.choices.some((x) => (x.delta?.content ?? '').includes(stop))), msg);
      assert.equal(s.usage.completion_tokens, r.usage.completion_tokens);
    });
  }

  test('the earliest of several stop strings wins', { timeout: 30_000 }, async () => {
    const full = await c.chat.completions.create(base);
    const text = full.choices[0].message.content;
    const a = pickStop(text, 4);
    assert.ok(a, text);
    // A second stop string from the text after the first one's occurrence.
    const b = pickStop(text.slice(a.expected.length + a.stop.length), 4);
    const stops = b ? [b.stop, a.stop] : [a.stop];
    const first = Math.min(...stops.map((s) => text.indexOf(s)));
    const r = await c.chat.completions.create({ ...base, stop: stops });
    assert.equal(r.choices[0].message.content, text.slice(0, first), `stops ${JSON.stringify(stops)} in ${JSON.stringify(text)}`);
    assert.equal(r.choices[0].finish_reason, 'stop');
  });

  test('n=2 with a stop string: streamed choices equal the non-streamed ones', { timeout: 30_000 }, async () => {
    const sampled = { ...base, n: 2, temperature: 1, seed: 77 };
    const full = await c.chat.completions.create(sampled);
    const text0 = full.choices[0].message.content;
    const pick = pickStop(text0, 3);
    assert.ok(pick, text0);
    const r = await c.chat.completions.create({ ...sampled, stop: pick.stop });
    assert.equal(r.choices[0].message.content, pick.expected, `stop ${JSON.stringify(pick.stop)} in ${JSON.stringify(text0)}`);
    assert.equal(r.choices[0].finish_reason, 'stop');
    const text1 = full.choices[1].message.content;
    const at1 = text1.indexOf(pick.stop);
    assert.equal(r.choices[1].message.content, at1 >= 0 ? text1.slice(0, at1) : text1);
    assert.equal(r.choices[1].finish_reason, at1 >= 0 ? 'stop' : 'length');

    const s = await collectStream(c, { ...sampled, stop: pick.stop, stream_options: { include_usage: true } });
    assert.deepEqual(s.texts, r.choices.map((ch) => ch.message.content));
    assert.deepEqual(s.finish, r.choices.map((ch) => ch.finish_reason));
    assert.equal(s.usage.completion_tokens, r.usage.completion_tokens);
  });

  test('a stop string whose prefix keeps occurring is flushed at the end', { timeout: 30_000 }, async () => {
    // The server holds back text that could begin a stop string; when the generation
    // ends by length, that text must still be delivered, streamed or not.
    const full = await c.chat.completions.create(base);
    const text = full.choices[0].message.content;
    const tail = [...text].slice(-3).join('');
    const stop = tail + '\u0007never';
    const r = await c.chat.completions.create({ ...base, stop });
    assert.equal(r.choices[0].message.content, text);
    assert.equal(r.choices[0].finish_reason, 'length');
    const s = await collectStream(c, { ...base, stop });
    assert.equal(s.text, text);
    assert.equal(s.finish[0], 'length');
  });

  test('a stop string that never occurs changes nothing', { timeout: 30_000 }, async () => {
    const full = await c.chat.completions.create(base);
    const r = await c.chat.completions.create({ ...base, stop: ['zzzz-never-zzzz'] });
    assert.equal(r.choices[0].message.content, full.choices[0].message.content);
    assert.equal(r.choices[0].finish_reason, 'length');
    assert.equal(r.usage.completion_tokens, base.max_tokens);
  });
});
