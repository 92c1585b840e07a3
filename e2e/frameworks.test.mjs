// Agent frameworks written against OpenAI, unchanged, against a real node with random
// weights: the Vercel AI SDK 5 (generateObject, a tool call, the Responses API it uses
// by default) and LangChain (withStructuredOutput, bindTools, OpenAIEmbeddings). Only
// the grammar constraint makes the objects and calls valid; greedy decoding with a
// generous budget keeps the tests independent of the draw.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';

import { z } from 'zod';
import { createOpenAI } from '@ai-sdk/openai';
import { generateObject, generateText, jsonSchema, tool } from 'ai';
import { ChatOpenAI, OpenAIEmbeddings } from '@langchain/openai';

import { MODEL, startNode } from './node.mjs';

const Forecast = z.object({
  city: z.enum(['Oslo', 'Rome', 'Lima']),
  rain: z.boolean(),
  days: z.number().int().min(1).max(7),
  note: z.string().max(12),
});

describe('Vercel AI SDK 5 and LangChain', { timeout: 600_000 }, () => {
  let node;
  let provider;
  before(async () => {
    node = await startNode();
    provider = createOpenAI({ baseURL: node.baseURL, apiKey: 'aria' });
  }, { timeout: 70_000 });
  after(async () => {
    await node?.stop();
  }, { timeout: 30_000 });

  test('AI SDK generateObject (chat completions)', { timeout: 120_000 }, async () => {
    const { object, finishReason } = await generateObject({
      model: provider.chat(MODEL), schema: Forecast, prompt: 'Forecast for a city.',
      temperature: 0, maxOutputTokens: 400, maxRetries: 0,
    });
    assert.equal(finishReason, 'stop');
    assert.deepEqual(Forecast.parse(object), object);
  });

  test('AI SDK generateObject (responses API, the provider default)', { timeout: 120_000 }, async () => {
    const { object } = await generateObject({
      model: provider(MODEL), schema: Forecast, prompt: 'Forecast for a city.',
      temperature: 0, maxOutputTokens: 400, maxRetries: 0,
    });
    assert.deepEqual(Forecast.parse(object), object);
  });

  test('AI SDK tool call', { timeout: 120_000 }, async () => {
    let executed = null;
    const result = await generateText({
      model: provider.chat(MODEL),
      prompt: 'What is the weather in Rome?',
      temperature: 0, maxOutputTokens: 400, maxRetries: 0,
      toolChoice: 'required',
      providerOptions: { openai: { parallelToolCalls: false } },
      tools: {
        weather: tool({
          description: 'Weather in a city',
          inputSchema: jsonSchema({
            type: 'object',
            properties: { city: { type: 'string', enum: ['Oslo', 'Rome', 'Lima'] }, days: { type: 'integer', minimum: 1, maximum: 7 } },
            required: ['city', 'days'],
            additionalProperties: false,
          }),
          execute: async (input) => { executed = input; return { temp: 12 }; },
        }),
      },
    });
    assert.equal(result.toolCalls.length, 1);
    assert.equal(result.toolCalls[0].toolName, 'weather');
    assert.ok(['Oslo', 'Rome', 'Lima'].includes(executed.city), JSON.stringify(executed));
    assert.ok(Number.isInteger(executed.days) && executed.days >= 1 && executed.days <= 7);
    assert.equal(result.toolResults[0].output.temp, 12);
  });

  const chat = () => new ChatOpenAI({
    model: MODEL, apiKey: 'aria', temperature: 0, maxTokens: 400, maxRetries: 0,
    configuration: { baseURL: node.baseURL },
  });

  test('LangChain withStructuredOutput', { timeout: 120_000 }, async () => {
    const out = await chat().withStructuredOutput(Forecast, { name: 'forecast' }).invoke('Forecast for a city.');
    assert.deepEqual(Forecast.parse(out), out);
  });

  test('LangChain bindTools', { timeout: 120_000 }, async () => {
    const weather = {
      type: 'function',
      function: {
        name: 'get_weather', description: 'Weather in a city',
        parameters: { type: 'object', properties: { city: { type: 'string', enum: ['Oslo', 'Rome'] } }, required: ['city'], additionalProperties: false },
      },
    };
    const msg = await chat().bindTools([weather], { tool_choice: 'required', parallel_tool_calls: false }).invoke('Weather in Oslo?');
    assert.equal(msg.tool_calls.length, 1);
    assert.equal(msg.tool_calls[0].name, 'get_weather');
    assert.ok(['Oslo', 'Rome'].includes(msg.tool_calls[0].args.city));
  });

  test('LangChain OpenAIEmbeddings', { timeout: 60_000 }, async () => {
    const emb = new OpenAIEmbeddings({ model: MODEL, apiKey: 'aria', configuration: { baseURL: node.baseURL }, maxRetries: 0 });
    const docs = await emb.embedDocuments(['the cat sat', 'quantum networks']);
    const q = await emb.embedQuery('the cat sat');
    assert.equal(docs.length, 2);
    assert.equal(docs[0].length, q.length);
    const dot = docs[0].reduce((s, v, i) => s + v * q[i], 0);
    assert.ok(dot > 0.999, `same text, cosine ${dot}`);
  });
});
