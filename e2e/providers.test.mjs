// Providers and tiers: a real node started with an ARES-style TOML --config serves a
// configured upstream (a scripted OpenAI-compatible server on loopback) through the
// OpenAI SDK: listed in /v1/models, chat streamed and not, the upstream's 429 as a
// rate_limit_error, a tier falling back to the node's own kernel; a bad config stops
// the node at start with a message naming the problem.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

import { HOST, MODEL, ariaBin, client, collectStream, startNode } from './node.mjs';

/** A scripted OpenAI-compatible upstream: "limit" in the last message answers 429. */
function startUpstream() {
  const received = [];
  const srv = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d) => { body += d; });
    req.on('end', () => {
      if (req.method === 'GET' && req.url === '/v1/models') {
        res.writeHead(200, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify({ object: 'list', data: [{ id: 'up-large', object: 'model', created: 0, owned_by: 'e2e' }] }));
        return;
      }
      const chat = JSON.parse(body || '{}');
      received.push({ auth: req.headers.authorization, chat });
      const last = chat.messages?.at(-1)?.content ?? '';
      if (last.includes('limit')) {
        res.writeHead(429, { 'Content-Type': 'application/json', 'Retry-After': '9' });
        res.end(JSON.stringify({ error: { message: 'slow down', type: 'rate_limit_error', code: 'rate_limited' } }));
        return;
      }
      const words = ['hello ', 'from ', 'upstream'];
      const usage = { prompt_tokens: 4, completion_tokens: 3, total_tokens: 7 };
      if (!chat.stream) {
        res.writeHead(200, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify({ id: 'up-1', object: 'chat.completion', created: 0, model: chat.model,
          choices: [{ index: 0, message: { role: 'assistant', content: words.join('') }, finish_reason: 'stop' }], usage }));
        return;
      }
      res.writeHead(200, { 'Content-Type': 'text/event-stream' });
      const ev = (delta, finish = null) => `data: ${JSON.stringify({ id: 'up-1', object: 'chat.completion.chunk', created: 0, model: chat.model,
        choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`;
      for (const w of words) res.write(ev({ content: w }));
      res.write(ev({}, 'stop'));
      if (chat.stream_options?.include_usage) {
        res.write(`data: ${JSON.stringify({ id: 'up-1', object: 'chat.completion.chunk', created: 0, model: chat.model, choices: [], usage })}\n\n`);
      }
      res.end('data: [DONE]\n\n');
    });
  });
  return new Promise((resolve) => srv.listen(0, HOST, () => resolve({ srv, received, url: `http://${HOST}:${srv.address().port}/v1` })));
}

describe('providers and tiers on a real node', { timeout: 150_000 }, () => {
  let up, node, dir, c;
  before(async () => {
    up = await startUpstream();
    dir = await mkdtemp(path.join(os.tmpdir(), 'aria-e2e-providers-'));
    const config = path.join(dir, 'ares.toml');
    await writeFile(config, `cpu_percent = 100

[[providers]]
name = "e2e"
type = "openai"
base_url = "${up.url}"
api_key_env = "ARIA_E2E_UPSTREAM_KEY"
[[providers.models]]
id = "up-large"
name = "big"
tier = "powerful"
context_length = 32768

[[models]]
name = "fast-up"
provider = "e2e"
model_id = "up-small"
tier = "fast"

[[models]]
name = "fast-kernel"
provider = "local"
model_id = "${MODEL}"
tier = "fast"
`);
    process.env.ARIA_E2E_UPSTREAM_KEY = 'sk-e2e-secret';
    node = await startNode({ args: ['--config', config] });
    c = client(node);
  }, { timeout: 80_000 });
  after(async () => {
    await node?.stop();
    up?.srv.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  }, { timeout: 30_000 });

  test('/v1/models lists the configured models after the node\'s own', async () => {
    const ids = [];
    for await (const m of c.models.list()) ids.push(m.id);
    assert.ok(ids.includes(MODEL) && ids.includes('big') && ids.includes('fast-up'), ids.join(','));
    assert.ok(ids.indexOf(MODEL) < ids.indexOf('big'));
  });

  test('chat with an upstream model, streamed and not, via the SDK', async () => {
    const r = await c.chat.completions.create({ model: 'big', messages: [{ role: 'user', content: 'hi' }], max_tokens: 8 });
    assert.equal(r.choices[0].message.content, 'hello from upstream');
    assert.equal(r.model, 'big');
    assert.equal(r.usage.total_tokens, 7);
    const s = await collectStream(c, { model: 'big', messages: [{ role: 'user', content: 'hi' }], stream_options: { include_usage: true } });
    assert.equal(s.text, 'hello from upstream');
    assert.deepEqual(s.finish, ['stop']);
    assert.equal(s.usage.completion_tokens, 3);
    const last = up.received.at(-1);
    assert.equal(last.auth, 'Bearer sk-e2e-secret');
    assert.equal(last.chat.model, 'up-large');
    assert.ok(!node.stderr().includes('sk-e2e-secret'), 'the key is in the node\'s logs');
  });

  test('an upstream 429 is a rate_limit_error with Retry-After', async () => {
    await assert.rejects(
      c.chat.completions.create({ model: 'big', messages: [{ role: 'user', content: 'limit me' }] }),
      (err) => {
        assert.equal(err.status, 429);
        assert.equal(err.error?.type ?? err.type, 'rate_limit_error');
        assert.equal(err.message.includes("Rate limit exceeded for provider 'e2e'"), true, err.message);
        assert.equal(err.headers?.get?.('retry-after') ?? err.headers?.['retry-after'], '9');
        return true;
      });
  });

  test('tier fast falls back from the rate-limited upstream to the kernel', async () => {
    const r = await c.chat.completions.create({ model: 'fast', messages: [{ role: 'user', content: 'limit this one' }], max_tokens: 4 });
    assert.equal(r.model, 'fast');
    assert.ok(r.usage.completion_tokens > 0);
    assert.equal(up.received.at(-1).chat.model, 'up-small');
  });

  test('a tier without a model says so', async () => {
    await assert.rejects(c.chat.completions.create({ model: 'deepseek', messages: [{ role: 'user', content: 'hi' }] }),
      (err) => err.status === 404 && err.message.includes("no model is configured for tier 'deepseek'"));
  });
});

describe('a bad providers config stops the node', { timeout: 60_000 }, () => {
  for (const [name, body, want] of [
    ['unknown provider', '[[models]]\nname = "m"\nprovider = "nope"\n', "unknown provider 'nope'"],
    ['bad url', '[[providers]]\nname = "p"\nbase_url = "ftp://x"\n', 'is not an http(s) URL'],
    ['bad toml', '[[providers]\n', '(TOML)'],
  ]) {
    test(name, { timeout: 20_000 }, async () => {
      const dir = await mkdtemp(path.join(os.tmpdir(), 'aria-e2e-badcfg-'));
      try {
        const config = path.join(dir, 'aria.toml');
        await writeFile(config, body);
        await assert.rejects(promisify(execFile)(ariaBin(), ['node', 'start', '--data-dir', path.join(dir, 'data'), '--config', config], { timeout: 15_000 }),
          (err) => {
            assert.equal(err.code, 2, `exit code ${err.code}: ${err.stderr}`);
            assert.ok(err.stderr.includes(want), err.stderr);
            return true;
          });
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });
  }
});
