// The ARES platform layer through the official openai SDK: a node with --auth, tenant
// keys, exact usage (streams and aborted streams included), 429s with Retry-After, and
// the SDK's own retry honouring it.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import OpenAI from 'openai';

import { chatBody, client, getJSON, startNode, waitFor } from './node.mjs';

async function admin(node, method, p, body) {
  const secret = readFileSync(path.join(node.dataDir, 'admin.secret'), 'utf8').trim();
  const res = await fetch(node.url + p, {
    method,
    headers: { 'X-Admin-Secret': secret, 'Content-Type': 'application/json' },
    body: body ? JSON.stringify(body) : undefined,
    signal: AbortSignal.timeout(10_000),
  });
  return { status: res.status, body: await res.json() };
}

async function provision(node, name, tier = 'free') {
  const r = await admin(node, 'POST', '/api/admin/provision-client', { name, tier, product_type: 'generic', api_key_name: 'e2e' });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  return r.body;
}

async function usage(node, key) {
  const r = await getJSON(node, '/v1/usage', { headers: { Authorization: `Bearer ${key}` } });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body;
}

describe('platform (--auth)', { timeout: 180_000 }, () => {
  let node;
  before(async () => {
    node = await startNode({ args: ['--auth'] });
  }, { timeout: 70_000 });
  after(async () => {
    await node?.stop();
  }, { timeout: 30_000 });

  test('no key or a wrong key is a 401 in the OpenAI shape', { timeout: 10_000 }, async () => {
    for (const apiKey of ['aria', 'ares_' + 'x'.repeat(40)]) {
      await assert.rejects(client(node, { apiKey }).chat.completions.create(chatBody()), (err) => {
        assert.ok(err instanceof OpenAI.AuthenticationError, `got ${err?.constructor?.name}: ${err}`);
        assert.equal(err.status, 401);
        assert.equal(err.code, 'invalid_api_key');
        return true;
      });
    }
    const r = await getJSON(node, '/v1/models');
    assert.equal(r.status, 401);
    assert.equal(r.body.error.message, 'Missing authorization header');
  });

  test('secrets are files of mode 0600 and never logged', { timeout: 10_000 }, async () => {
    const { statSync } = await import('node:fs');
    for (const f of ['admin.secret', 'jwt.secret']) {
      const p = path.join(node.dataDir, f);
      assert.equal(statSync(p).mode & 0o777, 0o600, f);
      const secret = readFileSync(p, 'utf8').trim();
      assert.ok(!node.stderr().includes(secret), `${f} is in the log`);
      assert.ok(node.stderr().includes(p), `${f}'s path is not logged`);
    }
  });

  test('usage equals what the SDK reported, streams and aborted streams included', { timeout: 60_000 }, async () => {
    const t = await provision(node, 'exact');
    const c = client(node, { apiKey: t.raw_api_key });
    const res = await c.chat.completions.create(chatBody({ max_tokens: 8 }));
    let expected = res.usage.total_tokens;
    const prompt = res.usage.prompt_tokens;
    let u = await usage(node, t.raw_api_key);
    assert.equal(u.total_tokens, expected);
    assert.equal(u.total_runs, 1);

    // A stream read to the end, with usage asked for.
    const stream = await c.chat.completions.create({ ...chatBody({ max_tokens: 6 }), stream: true, stream_options: { include_usage: true } });
    let streamUsage = null;
    for await (const chunk of stream) if (chunk.usage) streamUsage = chunk.usage;
    assert.ok(streamUsage, 'no usage chunk');
    expected += streamUsage.total_tokens;
    u = await usage(node, t.raw_api_key);
    assert.equal(u.total_tokens, expected);

    // A stream the client abandons after 3 chunks is billed for what the kernel used.
    const ac = new AbortController();
    const aborted = await c.chat.completions.create({ ...chatBody({ max_tokens: 400 }), stream: true }, { signal: ac.signal });
    let seen = 0;
    try {
      for await (const chunk of aborted) {
        if (chunk.choices[0]?.delta?.content !== undefined) seen++;
        if (seen === 3) ac.abort();
      }
    } catch (err) {
      assert.ok(err instanceof OpenAI.APIUserAbortError || err.name === 'AbortError', String(err));
    }
    const billed = await waitFor(async () => {
      const v = await usage(node, t.raw_api_key);
      return v.total_runs === 3 && v.total_tokens > expected ? v.total_tokens - expected : 0;
    }, { timeoutMs: 15_000, what: 'the aborted stream to be billed' });
    assert.ok(billed >= prompt + 3 && billed < prompt + 400, `aborted stream billed ${billed} (prompt ${prompt})`);
  });

  test('an exhausted daily quota is a 429 with Retry-After and rate-limit headers', { timeout: 60_000 }, async () => {
    const t = await provision(node, 'daily');
    const headers = { Authorization: `Bearer ${t.raw_api_key}` };
    let last;
    for (let i = 0; i < 100; i++) {
      last = await getJSON(node, '/v1/models', { headers });
      assert.equal(last.status, 200, JSON.stringify(last.body));
    }
    assert.equal(last.headers.get('x-ratelimit-limit'), '100');
    assert.equal(last.headers.get('x-ratelimit-remaining'), '0');
    assert.match(last.headers.get('x-ratelimit-reset'), /^\d{4}-\d\d-\d\dT00:00:00Z$/);
    assert.equal(last.headers.get('x-quota-tokens-remaining'), '100000');
    await assert.rejects(client(node, { apiKey: t.raw_api_key }).chat.completions.create(chatBody()), (err) => {
      assert.ok(err instanceof OpenAI.RateLimitError, `got ${err?.constructor?.name}: ${err}`);
      assert.equal(err.status, 429);
      assert.equal(err.error.type, 'rate_limit_error');
      assert.equal(err.error.message, 'Daily request limit reached for your tier');
      const ra = Number(err.headers.get('retry-after'));
      assert.ok(ra > 0 && ra <= 86_400, `Retry-After ${ra}`);
      return true;
    });
    // The tenant can still read its usage; the refusal is an api call, not a run.
    const u = await usage(node, t.raw_api_key);
    assert.equal(u.total_runs, 100);
    assert.equal(u.total_api_calls, 102);
    // The admin raises the tier: it applies at once.
    const r = await admin(node, 'PUT', `/api/admin/tenants/${t.tenant_id}/quota`, { tier: 'dev' });
    assert.equal(r.status, 200);
    const ok = await client(node, { apiKey: t.raw_api_key }).chat.completions.create(chatBody({ max_tokens: 2 }));
    assert.equal(ok.choices.length, 1);
  });

  test('another tenant\'s key is a 404', { timeout: 10_000 }, async () => {
    const a = await provision(node, 'iso-a');
    const b = await provision(node, 'iso-b');
    const res = await fetch(`${node.url}/v1/api-keys/${a.api_key_id}`, { method: 'DELETE', headers: { Authorization: `Bearer ${b.raw_api_key}` } });
    assert.equal(res.status, 404);
    const still = await getJSON(node, '/v1/api-keys', { headers: { Authorization: `Bearer ${a.raw_api_key}` } });
    assert.equal(still.status, 200);
    assert.equal(still.body.keys.length, 1);
  });
});

describe('platform per-IP limit and the SDK retry', { timeout: 120_000 }, () => {
  let node;
  before(async () => {
    node = await startNode({ args: ['--auth', '--ip-rate-limit', '60'] });
  }, { timeout: 70_000 });
  after(async () => {
    await node?.stop();
  }, { timeout: 30_000 });

  test('the SDK waits Retry-After and its retry succeeds', { timeout: 60_000 }, async () => {
    const t = await provision(node, 'retry');
    // Use up the address's burst (60), then one request per second comes back.
    let r;
    for (let i = 0; i < 80; i++) {
      r = await getJSON(node, '/health');
      if (r.status === 429) break;
    }
    assert.equal(r.status, 429);
    assert.equal(r.headers.get('retry-after'), '1');
    const c = client(node, { apiKey: t.raw_api_key, maxRetries: 3 });
    const start = Date.now();
    const res = await c.chat.completions.create(chatBody({ max_tokens: 2 }));
    assert.equal(res.choices.length, 1);
    // Its own backoff would be about 0.5 s; Retry-After said 1 s.
    assert.ok(Date.now() - start >= 900, `the SDK retried after ${Date.now() - start} ms, before Retry-After`);
    // Refusals are not runs: the request that got through counts once.
    const u = await waitFor(async () => {
      const v = await getJSON(node, '/v1/usage', { headers: { Authorization: `Bearer ${t.raw_api_key}` } });
      return v.status === 200 ? v.body : null;
    }, { timeoutMs: 10_000, intervalMs: 500, what: '/v1/usage past the per-IP limit' });
    assert.equal(u.total_runs, 1);
  });
});
