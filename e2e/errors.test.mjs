// Error responses as the openai SDK surfaces them, and as raw JSON.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';

import { MODEL, chatBody, client, getJSON, startNode } from './node.mjs';

describe('errors', { timeout: 120_000 }, () => {
  let node;
  let c;
  before(async () => {
    node = await startNode();
    c = client(node);
  }, { timeout: 70_000 });
  after(async () => {
    await node?.stop();
  }, { timeout: 30_000 });

  /** Asserts that body fails with a 400 whose message names field. */
  async function badRequest(body, field, { stream = false } = {}) {
    await assert.rejects(c.chat.completions.create({ ...body, ...(stream ? { stream: true } : {}) }), (err) => {
      assert.ok(err instanceof OpenAI.BadRequestError, `got ${err?.constructor?.name}: ${err}`);
      assert.ok(err instanceof OpenAI.APIError);
      assert.equal(err.status, 400);
      // The SDK exposes the body's "error" object as err.error, and its fields as
      // err.type / err.code; err.message is "400 <server message>".
      assert.equal(err.error?.type, 'invalid_request_error', JSON.stringify(err.error));
      assert.equal(err.type, 'invalid_request_error');
      assert.equal(err.code, 'invalid_request');
      assert.equal(typeof err.error.message, 'string');
      assert.ok(err.error.message.includes(field), `message ${JSON.stringify(err.error.message)} does not name ${field}`);
      assert.ok(err.message.startsWith('400 '), err.message);
      assert.ok(err.message.includes(field), err.message);
      return true;
    });
  }

  test('temperature 5 is a 400 naming temperature', { timeout: 10_000 }, async () => {
    await badRequest(chatBody({ temperature: 5 }), 'temperature');
    await badRequest(chatBody({ temperature: -0.1 }), 'temperature');
  });

  test('missing messages is a 400 naming messages', { timeout: 10_000 }, async () => {
    await badRequest({ model: MODEL }, 'messages');
    await badRequest({ model: MODEL, messages: [] }, 'messages');
  });

  test('a bad role is a 400 naming the role field', { timeout: 10_000 }, async () => {
    await badRequest(chatBody({ messages: [{ role: 'wizard', content: 'hi' }] }), 'role');
    await badRequest(chatBody({ messages: [{ role: 'user', content: 'hi' }, { role: 'robot', content: 'x' }] }), 'messages[1].role');
  });

  test('max_tokens 0 is a 400 naming max_tokens', { timeout: 10_000 }, async () => {
    await badRequest(chatBody({ max_tokens: 0 }), 'max_tokens');
    await badRequest(chatBody({ max_tokens: -5 }), 'max_tokens');
  });

  test('other invalid fields name themselves', { timeout: 10_000 }, async () => {
    await badRequest(chatBody({ top_p: 0 }), 'top_p');
    await badRequest(chatBody({ n: 0 }), "'n'");
    await badRequest(chatBody({ presence_penalty: 3 }), 'presence_penalty');
    await badRequest(chatBody({ frequency_penalty: -3 }), 'frequency_penalty');
    await badRequest({ messages: [{ role: 'user', content: 'hi' }] }, 'model');
    await badRequest(chatBody({ max_tokens: 'ten' }), 'max_tokens');
    await badRequest(chatBody({ stream_options: { include_usage: true } }), 'stream_options');
  });

  test('a bad streamed request fails with 400 before any event', { timeout: 10_000 }, async () => {
    await badRequest(chatBody({ temperature: 5 }), 'temperature', { stream: true });
  });

  test('an unknown model is a 404 NotFoundError (model_not_found)', { timeout: 10_000 }, async () => {
    for (const stream of [false, true]) {
      await assert.rejects(c.chat.completions.create(chatBody({ model: 'gpt-4o', stream })), (err) => {
        assert.ok(err instanceof OpenAI.NotFoundError, `got ${err?.constructor?.name}: ${err}`);
        assert.equal(err.status, 404);
        assert.equal(err.type, 'not_found_error');
        assert.equal(err.code, 'model_not_found');
        assert.match(err.error.message, /gpt-4o/);
        return true;
      });
    }
  });

  test('an unknown path is a 404 JSON error', { timeout: 10_000 }, async () => {
    for (const p of ['/v1/nope', '/v2/chat/completions', '/nope']) {
      const { status, headers, body } = await getJSON(node, p);
      assert.equal(status, 404, p);
      assert.match(headers.get('content-type'), /^application\/json/);
      assert.deepEqual(body, { error: { message: 'Endpoint not found', type: 'not_found_error', code: 'not_found' } }, p);
    }
  });

  test('malformed JSON is a 400 JSON error', { timeout: 10_000 }, async () => {
    const res = await fetch(`${node.baseURL}/chat/completions`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: '{"model": "aria-tiny-1bit", "messages": [',
      signal: AbortSignal.timeout(5_000),
    });
    assert.equal(res.status, 400);
    const body = await res.json();
    assert.equal(body.error.type, 'invalid_request_error');
    assert.equal(typeof body.error.message, 'string');
  });

  test('a prompt longer than the context is a 400 context_length_exceeded', { timeout: 20_000 }, async () => {
    const long = 'word '.repeat(5000);
    for (const stream of [false, true]) {
      await assert.rejects(c.chat.completions.create(chatBody({ stream, messages: [{ role: 'user', content: long }] })), (err) => {
        assert.ok(err instanceof OpenAI.BadRequestError, `got ${err?.constructor?.name}: ${err}`);
        assert.equal(err.type, 'invalid_request_error');
        assert.equal(err.code, 'context_length_exceeded');
        return true;
      });
    }
  });

  test('a body over the size limit is a 413 JSON error', { timeout: 20_000 }, async () => {
    const body = JSON.stringify(chatBody({ messages: [{ role: 'user', content: 'x'.repeat(5 << 20) }] }));
    const res = await fetch(`${node.baseURL}/chat/completions`, {
      method: 'POST', headers: { 'Content-Type': 'application/json' }, body, signal: AbortSignal.timeout(10_000),
    });
    assert.equal(res.status, 413);
    const json = await res.json();
    assert.equal(json.error.type, 'invalid_request_error');
    assert.equal(json.error.code, 'request_too_large');
  });

  test('a wrong method is answered with JSON and an Allow header', { timeout: 10_000 }, async () => {
    const { status, headers, body } = await getJSON(node, '/v1/chat/completions');
    assert.equal(status, 405);
    assert.match(headers.get('allow') ?? '', /POST/);
    assert.equal(body.error.type, 'invalid_request_error');
  });
});
