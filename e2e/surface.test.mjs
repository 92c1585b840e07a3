// The rest of the OpenAI surface through the official openai SDK: tools (plain and
// streamed), structured outputs (chat.completions.parse with zod), logprobs,
// completions, embeddings, responses, and their bad input. The model has random
// weights: only the grammar constraint makes its tool calls and JSON valid. Requests
// that need a call or an object decode greedily with a generous token budget, so they
// never depend on the draw.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';

import { z } from 'zod';
import { zodResponseFormat, zodTextFormat } from 'openai/helpers/zod';

import { MODEL, client, startNode } from './node.mjs';

const Weather = z.object({
  city: z.enum(['Oslo', 'Rome', 'Lima']),
  unit: z.enum(['c', 'f']),
  days: z.number().int().min(1).max(7),
});

const weatherTool = {
  type: 'function',
  function: {
    name: 'get_weather',
    description: 'Current weather in a city',
    parameters: {
      type: 'object',
      properties: {
        city: { type: 'string', enum: ['Oslo', 'Rome', 'Lima'] },
        unit: { type: 'string', enum: ['c', 'f'] },
        days: { type: 'integer', minimum: 1, maximum: 7 },
      },
      required: ['city', 'unit', 'days'],
      additionalProperties: false,
    },
  },
};

const greedy = { model: MODEL, temperature: 0, max_tokens: 400 };

async function status400(p, field) {
  await assert.rejects(p, (err) => {
    assert.equal(err.status, 400, `status ${err.status}: ${err.message}`);
    assert.equal(err.error?.type ?? err.type, 'invalid_request_error');
    assert.ok(err.message.includes(`'${field}'`), `message does not name '${field}': ${err.message}`);
    return true;
  });
}

describe('tools, structured outputs, logprobs, completions, embeddings, responses', { timeout: 600_000 }, () => {
  let node;
  let c;
  before(async () => {
    node = await startNode();
    c = client(node, { timeout: 120_000 });
  }, { timeout: 70_000 });
  after(async () => {
    await node?.stop();
  }, { timeout: 30_000 });

  test('a required tool call validates against its parameters', { timeout: 120_000 }, async () => {
    const r = await c.chat.completions.create({
      ...greedy,
      messages: [{ role: 'user', content: 'What is the weather in Oslo?' }],
      tools: [weatherTool],
      tool_choice: 'required',
      parallel_tool_calls: false,
    });
    const [ch] = r.choices;
    assert.equal(ch.finish_reason, 'tool_calls');
    assert.equal(ch.message.content, null);
    assert.equal(ch.message.tool_calls.length, 1);
    const call = ch.message.tool_calls[0];
    assert.equal(call.type, 'function');
    assert.ok(call.id.startsWith('call_'));
    assert.equal(call.function.name, 'get_weather');
    Weather.parse(JSON.parse(call.function.arguments));

    // The call and its result go back in; the next answer is generated from them.
    const next = await c.chat.completions.create({
      model: MODEL, max_tokens: 8,
      messages: [
        { role: 'user', content: 'What is the weather in Oslo?' },
        ch.message,
        { role: 'tool', tool_call_id: call.id, content: '{"temp":12}' },
      ],
      tools: [weatherTool],
    });
    assert.equal(next.choices[0].message.role, 'assistant');
  });

  test('a named tool call streams as OpenAI streams it', { timeout: 120_000 }, async () => {
    const stream = c.chat.completions.stream({
      ...greedy,
      messages: [{ role: 'user', content: 'Weather in Rome for three days?' }],
      tools: [weatherTool],
      tool_choice: { type: 'function', function: { name: 'get_weather' } },
    });
    let heads = 0;
    let pieces = 0;
    for await (const chunk of stream) {
      for (const d of chunk.choices[0]?.delta?.tool_calls ?? []) {
        if (d.id) {
          heads++;
          assert.equal(d.function.name, 'get_weather');
        } else {
          pieces++;
          assert.equal(d.function.name, undefined);
        }
      }
    }
    const final = await stream.finalChatCompletion();
    assert.equal(final.choices[0].finish_reason, 'tool_calls');
    assert.equal(heads, 1);
    assert.ok(pieces > 1, `arguments came in ${pieces} pieces`);
    Weather.parse(JSON.parse(final.choices[0].message.tool_calls[0].function.arguments));
  });

  test('chat.completions.parse with a zod schema', { timeout: 120_000 }, async () => {
    const r = await c.chat.completions.parse({
      ...greedy,
      messages: [{ role: 'user', content: 'Pick a city and a forecast length.' }],
      response_format: zodResponseFormat(Weather, 'weather'),
    });
    assert.equal(r.choices[0].finish_reason, 'stop');
    const parsed = r.choices[0].message.parsed;
    assert.deepEqual(Weather.parse(parsed), parsed);
  });

  test('json_object mode gives an object', { timeout: 120_000 }, async () => {
    const r = await c.chat.completions.create({
      ...greedy, max_tokens: 600,
      messages: [{ role: 'user', content: 'Answer in JSON.' }],
      response_format: { type: 'json_object' },
    });
    const { content } = r.choices[0].message;
    if (r.choices[0].finish_reason === 'stop') {
      const v = JSON.parse(content);
      assert.equal(typeof v, 'object');
      assert.ok(!Array.isArray(v) && v !== null);
    } else {
      assert.equal(r.choices[0].finish_reason, 'length', 'a cut object says length');
    }
  });

  test('logprobs and top_logprobs, plain and streamed', { timeout: 60_000 }, async () => {
    const r = await c.chat.completions.create({
      model: MODEL, max_tokens: 6, temperature: 0, logprobs: true, top_logprobs: 3,
      messages: [{ role: 'user', content: 'Hello' }],
    });
    const lp = r.choices[0].logprobs.content;
    assert.equal(lp.length, 6);
    for (const t of lp) {
      assert.ok(t.logprob <= 0);
      assert.equal(t.top_logprobs.length, 3);
      assert.equal(t.top_logprobs[0].logprob, t.logprob, 'greedy picks the most likely token');
      assert.deepEqual(t.bytes, [...Buffer.from(t.token)].slice(0, t.bytes.length));
    }
    const stream = await c.chat.completions.create({
      model: MODEL, max_tokens: 6, temperature: 0, logprobs: true, top_logprobs: 3, stream: true,
      messages: [{ role: 'user', content: 'Hello' }],
    });
    const streamed = [];
    for await (const chunk of stream) {
      streamed.push(...(chunk.choices[0]?.logprobs?.content ?? []));
    }
    assert.deepEqual(streamed.map((t) => t.logprob), lp.map((t) => t.logprob));
  });

  test('completions: text, n, echo, usage, streaming', { timeout: 60_000 }, async () => {
    const r = await c.completions.create({ model: MODEL, prompt: ['Once upon a time', 'The node'], max_tokens: 5, n: 2, temperature: 0 });
    assert.equal(r.object, 'text_completion');
    assert.equal(r.choices.length, 4);
    assert.equal(r.choices[0].text, r.choices[1].text, 'greedy choices agree');
    assert.equal(r.usage.completion_tokens, 20);
    assert.equal(r.usage.total_tokens, r.usage.prompt_tokens + 20);
    const e = await c.completions.create({ model: MODEL, prompt: 'Once upon a time', max_tokens: 5, temperature: 0, echo: true });
    assert.equal(e.choices[0].text, 'Once upon a time' + r.choices[0].text);
    const stream = await c.completions.create({ model: MODEL, prompt: 'Once upon a time', max_tokens: 5, temperature: 0, stream: true });
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.text ?? '';
    assert.equal(text, r.choices[0].text);
  });

  test('embeddings: float and base64 (the SDK default), usage', { timeout: 60_000 }, async () => {
    const r = await c.embeddings.create({ model: MODEL, input: ['the cat sat', 'the cat sat', 'quantum networks'] });
    assert.equal(r.object, 'list');
    assert.equal(r.data.length, 3);
    const [a, b, d] = r.data.map((x) => x.embedding);
    assert.ok(a.length > 0 && a.length === d.length);
    const dot = (x, y) => x.reduce((s, v, i) => s + v * y[i], 0);
    assert.ok(Math.abs(dot(a, a) - 1) < 1e-3, 'normalised');
    assert.ok(dot(a, b) > 0.999 && dot(a, d) < 0.999);
    assert.ok(r.usage.prompt_tokens > 0 && r.usage.total_tokens === r.usage.prompt_tokens);
    const f = await c.embeddings.create({ model: MODEL, input: 'the cat sat', encoding_format: 'float' });
    assert.ok(Math.abs(dot(f.data[0].embedding, a) - 1) < 1e-3);
  });

  test('responses: text, function call, streamed events, parse', { timeout: 240_000 }, async () => {
    const r = await c.responses.create({ model: MODEL, input: 'Say something', instructions: 'Be brief', max_output_tokens: 6 });
    assert.equal(r.object, 'response');
    assert.equal(r.status, 'incomplete');
    assert.equal(r.incomplete_details.reason, 'max_output_tokens');
    assert.ok(r.output_text.length > 0);
    assert.equal(r.usage.output_tokens, 6);

    const fc = await c.responses.create({
      model: MODEL, temperature: 0, max_output_tokens: 400, input: 'Weather in Lima?', tool_choice: 'required', parallel_tool_calls: false,
      tools: [{ type: 'function', name: 'get_weather', parameters: weatherTool.function.parameters, strict: true }],
    });
    const call = fc.output.find((o) => o.type === 'function_call');
    assert.equal(call.name, 'get_weather');
    Weather.parse(JSON.parse(call.arguments));

    const stream = await c.responses.create({ model: MODEL, input: 'Stream please', max_output_tokens: 5, stream: true });
    const types = [];
    let text = '';
    for await (const ev of stream) {
      types.push(ev.type);
      if (ev.type === 'response.output_text.delta') text += ev.delta;
    }
    assert.equal(types[0], 'response.created');
    assert.ok(types.includes('response.output_text.delta'));
    assert.ok(['response.completed', 'response.incomplete'].includes(types.at(-1)), types.at(-1));
    assert.ok(text.length > 0);

    const parsed = await c.responses.parse({
      model: MODEL, temperature: 0, max_output_tokens: 400, input: 'Forecast?',
      text: { format: zodTextFormat(Weather, 'weather') },
    });
    assert.deepEqual(Weather.parse(parsed.output_parsed), parsed.output_parsed);
  });

  test('bad input is a 400 naming the field', { timeout: 60_000 }, async () => {
    const msgs = [{ role: 'user', content: 'hi' }];
    await status400(c.chat.completions.create({ model: MODEL, messages: msgs, logprobs: true, top_logprobs: 21 }), 'top_logprobs');
    await status400(c.chat.completions.create({ model: MODEL, messages: msgs, tools: [weatherTool], tool_choice: { type: 'function', function: { name: 'nope' } } }), 'tool_choice.function.name');
    await status400(c.chat.completions.create({ model: MODEL, messages: [...msgs, { role: 'tool', tool_call_id: 'call_x', content: 'r' }] }), 'messages[1].tool_call_id');
    await status400(c.chat.completions.create({
      model: MODEL, messages: msgs,
      response_format: { type: 'json_schema', json_schema: { name: 'x', schema: { type: 'object', properties: { a: { type: 'string', format: 'email' } } } } },
    }), 'response_format.json_schema.schema');
    await status400(c.embeddings.create({ model: MODEL, input: [] }), 'input');
    await status400(c.embeddings.create({ model: MODEL, input: [[1, 1e9]] }), 'input[0][1]');
    await status400(c.embeddings.create({ model: MODEL, input: 'x', dimensions: 8 }), 'dimensions');
    await status400(c.completions.create({ model: MODEL, prompt: 'x', suffix: 'y' }), 'suffix');
    // Nothing leaked: the node still answers at once.
    const ok = await c.chat.completions.create({ model: MODEL, messages: msgs, max_tokens: 2 });
    assert.equal(ok.choices[0].finish_reason, 'length');
  });

  test('a browser preflight gets the x-stainless headers it asks for', { timeout: 10_000 }, async () => {
    const res = await fetch(`${node.baseURL}/chat/completions`, {
      method: 'OPTIONS',
      headers: {
        Origin: node.url,
        'Access-Control-Request-Method': 'POST',
        'Access-Control-Request-Headers': 'authorization,content-type,x-stainless-os,x-stainless-retry-count',
      },
    });
    assert.equal(res.status, 204);
    const allowed = res.headers.get('access-control-allow-headers').toLowerCase();
    for (const h of ['x-stainless-os', 'x-stainless-retry-count', 'content-type', 'authorization']) {
      assert.ok(allowed.includes(h), `${h} not in ${allowed}`);
    }
  });
});
