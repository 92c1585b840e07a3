// /health, /v1/health, /v1/status, /v1/energy and CORS.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';

import { chatBody, client, getJSON, startNode } from './node.mjs';

describe('health, status, energy and CORS', { timeout: 120_000 }, () => {
  let node;
  before(async () => {
    node = await startNode();
  }, { timeout: 70_000 });
  after(async () => {
    await node?.stop();
  }, { timeout: 30_000 });

  for (const p of ['/health', '/v1/health']) {
    test(`GET ${p} is healthy`, { timeout: 10_000 }, async () => {
      const { status, headers, body } = await getJSON(node, p);
      assert.equal(status, 200);
      assert.match(headers.get('content-type'), /^application\/json/);
      assert.equal(body.status, 'healthy');
      assert.equal(typeof body.version, 'string');
      assert.ok(body.version.length > 0);
      assert.ok(Number.isInteger(body.uptime_seconds) && body.uptime_seconds >= 0, `uptime_seconds ${body.uptime_seconds}`);
      assert.equal(typeof body.node, 'object');
      assert.equal(typeof body.node.uri, 'string');
      assert.ok(body.node.uri.startsWith('ws://'), `node.uri ${body.node.uri}`);
      assert.equal(body.node.uri, `ws://127.0.0.1:${node.peerPort}`, 'node.uri names the --port given');
      assert.equal(body.node.is_running, true);
      assert.equal(body.node.status, 'healthy');
      assert.equal(typeof body.node.node_id, 'string');
      assert.ok(body.node.node_id.length > 0);
      assert.equal(typeof body.endpoints, 'object');
      for (const e of ['/v1/chat/completions', '/v1/models', '/health']) {
        assert.equal(body.endpoints[e], 'available', `endpoints[${e}] in ${JSON.stringify(body.endpoints)}`);
      }
    });
  }

  test('GET /v1/status describes the native backend', { timeout: 10_000 }, async () => {
    const { status, body } = await getJSON(node, '/v1/status');
    assert.equal(status, 200);
    assert.equal(body.backend, 'native');
    assert.equal(body.llama_cli_available, true);
    assert.equal(typeof body.llama_cli_path, 'string');
    assert.equal(body.models_count, 1);
    assert.equal(typeof body.version, 'string');
    const health = (await getJSON(node, '/health')).body;
    assert.equal(body.version, health.version);
    assert.equal(body.active_slots, 0);
    assert.equal(body.queued, 0);
    assert.ok(body.total_slots >= 1);
  });

  test('GET /v1/energy has the reference shape and counts inferences', { timeout: 20_000 }, async () => {
    const before = (await getJSON(node, '/v1/energy')).body;
    await client(node).chat.completions.create(chatBody({ max_tokens: 9 }));
    const { status, body } = await getJSON(node, '/v1/energy');
    assert.equal(status, 200);
    for (const k of ['session_uptime_seconds', 'total_inferences', 'total_tokens_generated', 'total_energy_mj',
      'total_energy_kwh', 'avg_energy_per_token_mj']) {
      assert.equal(typeof body[k], 'number', `${k} in ${JSON.stringify(body)}`);
    }
    for (const k of ['vs_gpu', 'vs_cloud']) {
      for (const f of ['energy_saved_mj', 'energy_saved_kwh', 'reduction_percent']) {
        assert.equal(typeof body.savings[k][f], 'number', `savings.${k}.${f}`);
      }
    }
    assert.equal(typeof body.savings.co2_saved_kg, 'number');
    assert.equal(typeof body.savings.cost_saved_usd, 'number');
    assert.ok(Array.isArray(body.recent_history));
    assert.equal(body.total_inferences, before.total_inferences + 1);
    assert.equal(body.total_tokens_generated, before.total_tokens_generated + 9);
    assert.equal(body.recent_history.at(-1)?.tokens, 9);
  });

  test('CORS preflight for /v1/chat/completions from a localhost page', { timeout: 10_000 }, async () => {
    const origin = 'http://localhost:5173';
    const res = await fetch(`${node.baseURL}/chat/completions`, {
      method: 'OPTIONS',
      headers: {
        Origin: origin,
        'Access-Control-Request-Method': 'POST',
        'Access-Control-Request-Headers': 'content-type, authorization, x-stainless-os, x-stainless-lang',
      },
      signal: AbortSignal.timeout(5_000),
    });
    await res.arrayBuffer();
    assert.ok(res.status === 200 || res.status === 204, `status ${res.status}`);
    assert.equal(res.headers.get('access-control-allow-origin'), origin);
    assert.equal(res.headers.get('access-control-allow-methods'), 'GET, POST, PATCH, DELETE, OPTIONS');
    assert.equal(res.headers.get('access-control-allow-headers'), 'Content-Type, Authorization, x-stainless-os, x-stainless-lang');
  });

  test('CORS headers on ordinary and error responses for a localhost page', { timeout: 10_000 }, async () => {
    for (const p of ['/v1/models', '/health', '/v1/nope']) {
      const { headers } = await getJSON(node, p, { headers: { Origin: 'http://127.0.0.1:8080' } });
      assert.equal(headers.get('access-control-allow-origin'), 'http://127.0.0.1:8080', p);
    }
  });

  test('a page on another origin is refused with 403 forbidden_origin', { timeout: 10_000 }, async () => {
    for (const p of ['/v1/models', '/health']) {
      const { status, headers, body } = await getJSON(node, p, { headers: { Origin: 'http://example.test' } });
      assert.equal(status, 403, p);
      assert.equal(headers.get('access-control-allow-origin'), null, p);
      assert.equal(body.error.code, 'forbidden_origin', p);
    }
  });
});
