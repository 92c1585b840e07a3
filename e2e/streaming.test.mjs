// Streamed chat completions (SSE) through the openai SDK's async iterator.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';

import { MODEL, chatBody, client, collectStream, startNode } from './node.mjs';

describe('chat completions (streaming)', { timeout: 120_000 }, () => {
  let node;
  let c;
  before(async () => {
    node = await startNode();
    c = client(node);
  }, { timeout: 70_000 });
  after(async () => {
    await node?.stop();
  }, { timeout: 30_000 });

  test('stream with include_usage: chunks, finish, usage, [DONE]', { timeout: 30_000 }, async () => {
    const body = chatBody({ max_tokens: 24, temperature: 0, seed: 42 });
    const plain = await c.chat.completions.create(body);

    const { chunks, text, finish, usage } = await collectStream(c, { ...body, stream_options: { include_usage: true } });
    // The for-await loop in collectStream returned: the SDK saw [DONE] (or the end of
    // the body); check the raw stream below for the literal [DONE].
    assert.ok(chunks.length >= 3, `only ${chunks.length} chunks`);

    const ids = new Set(chunks.map((ch) => ch.id));
    assert.equal(ids.size, 1, `chunk ids differ: ${[...ids]}`);
    const [id] = ids;
    assert.ok(id.startsWith('chatcmpl-'), id);
    for (const ch of chunks) {
      assert.equal(ch.object, 'chat.completion.chunk');
      assert.equal(ch.model, MODEL);
      assert.equal(typeof ch.created, 'number');
    }

    const first = chunks[0];
    assert.equal(first.choices.length, 1);
    assert.equal(first.choices[0].index, 0);
    assert.equal(first.choices[0].delta.role, 'assistant');
    assert.equal(first.choices[0].finish_reason, null);

    // Exactly one chunk carries a finish_reason, and it is "length" here.
    const finishing = chunks.filter((ch) => ch.choices.some((x) => x.finish_reason));
    assert.equal(finishing.length, 1, 'chunks with a finish_reason');
    assert.equal(finish[0], 'length');

    // The usage chunk is last, with no choices.
    const last = chunks.at(-1);
    assert.deepEqual(last.choices, []);
    assert.ok(last.usage, 'the last chunk carries usage');
    assert.equal(usage.completion_tokens, 24);
    assert.equal(usage.prompt_tokens, plain.usage.prompt_tokens);
    assert.equal(usage.total_tokens, usage.prompt_tokens + usage.completion_tokens);
    assert.equal(chunks.filter((ch) => ch.usage).length, 1, 'only one chunk has usage');

    assert.equal(text, plain.choices[0].message.content, 'streamed text == non-streamed text');
  });

  test('without include_usage no chunk carries usage', { timeout: 20_000 }, async () => {
    const { chunks, finish } = await collectStream(c, chatBody({ max_tokens: 6, temperature: 0 }));
    assert.equal(finish[0], 'length');
    assert.ok(chunks.every((ch) => !ch.usage), 'a chunk has usage');
    assert.ok(chunks.every((ch) => ch.choices.length === 1), 'every chunk has one choice');
  });

  test('the raw SSE stream ends with data: [DONE]', { timeout: 20_000 }, async () => {
    const res = await fetch(`${node.baseURL}/chat/completions`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Authorization: 'Bearer aria' },
      body: JSON.stringify(chatBody({ max_tokens: 5, stream: true, stream_options: { include_usage: true } })),
      signal: AbortSignal.timeout(15_000),
    });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type'), /^text\/event-stream/);
    const raw = await res.text();
    const events = raw.split('\n\n').filter((e) => e.trim() !== '');
    for (const e of events) assert.ok(e.startsWith('data: '), `not a data event: ${JSON.stringify(e)}`);
    assert.equal(events.at(-1), 'data: [DONE]');
    assert.equal(events.filter((e) => e === 'data: [DONE]').length, 1);
    assert.ok(raw.endsWith('\n\n'), 'the stream ends with a blank line');
  });

  test('a stream with n=2 carries both choices', { timeout: 30_000 }, async () => {
    const body = chatBody({ n: 2, max_tokens: 12, temperature: 1, seed: 99 });
    const plain = await c.chat.completions.create(body);
    const { chunks, texts, finish, usage } = await collectStream(c, { ...body, stream_options: { include_usage: true } });
    assert.equal(texts.length, 2);
    assert.deepEqual(finish, ['length', 'length']);
    for (const i of [0, 1]) {
      const firstOf = chunks.find((ch) => ch.choices.some((x) => x.index === i));
      assert.equal(firstOf.choices.find((x) => x.index === i).delta.role, 'assistant', `choice ${i}'s first delta`);
      assert.equal(texts[i], plain.choices[i].message.content, `choice ${i}: stream == non-stream`);
    }
    assert.equal(usage.completion_tokens, 24);
  });
});
