// RAG on a real node (the tiny synthetic model on the local kernel, --threads 1, auth
// on): the documented ingest/search/collections/delete requests, tenant isolation, an
// agent configured with a collection answering with sources, and kill -9 during an
// ingest. The model's words are meaningless (random weights); retrieval, sources and
// durability are what is checked.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import path from 'node:path';

import { startNode } from './node.mjs';

async function call(node, method, p, { body, headers = {} } = {}) {
  const res = await fetch(node.url + p, {
    method,
    headers: { 'Content-Type': 'application/json', ...headers },
    body: body ? JSON.stringify(body) : undefined,
    signal: AbortSignal.timeout(120_000),
  });
  const text = await res.text();
  let json;
  try { json = JSON.parse(text); } catch { json = text; }
  return { status: res.status, headers: res.headers, body: json };
}

const bearer = (t) => ({ Authorization: `Bearer ${t}` });

async function provision(node, secret, name) {
  const r = await call(node, 'POST', '/api/admin/provision-client', {
    headers: { 'X-Admin-Secret': secret },
    body: { name, tier: 'pro', product_type: 'generic', api_key_name: 'e2e' },
  });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  return r.body.raw_api_key;
}

const handbook = [
  'Expense reports are due on the fifth working day of each month.',
  'Travel must be booked through the internal portal at least two weeks ahead.',
  'Laptops are replaced every three years; request one through the IT desk.',
].join('\n\n');

describe('RAG on a real node', { timeout: 600_000 }, () => {
  let node, key, other, jwt;
  before(async () => {
    node = await startNode({ args: ['--auth'] });
    const secret = readFileSync(path.join(node.dataDir, 'admin.secret'), 'utf8').trim();
    key = await provision(node, secret, 'acme');
    other = await provision(node, secret, 'beta');
    assert.equal((await call(node, 'POST', '/api/auth/register', { headers: bearer(key), body: { email: 'rag@example.com', password: 'long enough pw' } })).status, 201);
    jwt = (await call(node, 'POST', '/api/auth/login', { body: { email: 'rag@example.com', password: 'long enough pw' } })).body.access_token;
    assert.ok(jwt);
  }, { timeout: 90_000 });
  after(async () => { await node?.stop(); }, { timeout: 30_000 });

  test('documented requests: ingest, search, collections, delete; another tenant sees nothing', async () => {
    const ing = await call(node, 'POST', '/api/rag/ingest', {
      headers: bearer(jwt),
      body: { collection: 'handbook', content: handbook, metadata: { source: 'documentation', version: '2.0' }, chunking_strategy: 'paragraph' },
    });
    assert.equal(ing.status, 201, JSON.stringify(ing.body));
    assert.equal(ing.body.collection, 'handbook');
    assert.equal(ing.body.chunks_created, ing.body.document_ids.length);
    const again = await call(node, 'POST', '/api/rag/ingest', { headers: bearer(jwt), body: { collection: 'handbook', content: handbook, chunking_strategy: 'paragraph' } });
    assert.equal(again.status, 200);
    assert.equal(again.body.chunks_created, 0);
    assert.deepEqual(again.body.document_ids, ing.body.document_ids);

    const s = await call(node, 'POST', '/api/rag/search', {
      headers: bearer(jwt),
      body: { collection: 'handbook', query: 'when are expense reports due', strategy: 'hybrid', top_k: 5, rerank: true },
    });
    assert.equal(s.status, 200, JSON.stringify(s.body));
    assert.ok(Array.isArray(s.body) && s.body.length >= 1);
    for (const f of ['id', 'content', 'score', 'metadata', 'document_id']) assert.ok(f in s.body[0], f);
    assert.match(s.body[0].content, /Expense reports/);
    assert.equal(s.body[0].metadata.source, 'documentation');
    assert.ok(ing.body.document_ids.includes(s.body[0].id));
    assert.equal(s.headers.get('x-rerank'), 'unsupported'); // a synthetic model cannot rerank
    const typo = await call(node, 'POST', '/api/rag/search', { headers: bearer(key), body: { collection: 'handbook', query: 'laptpos replacd', strategy: 'fuzzy' } });
    assert.match(typo.body[0].content, /Laptops/);

    const list = await call(node, 'GET', '/api/rag/collections', { headers: bearer(jwt) });
    assert.equal(list.body.collections.length, 1);
    assert.equal(list.body.collections[0].documents, 1);

    // beta: 404 on acme's collection, nothing listed, its own of the same name is separate.
    assert.equal((await call(node, 'POST', '/api/rag/search', { headers: bearer(other), body: { collection: 'handbook', query: 'expense' } })).status, 404);
    assert.equal((await call(node, 'DELETE', '/api/rag/collection', { headers: bearer(other), body: { collection: 'handbook' } })).status, 404);
    assert.equal((await call(node, 'GET', '/api/rag/collections', { headers: bearer(other) })).body.collections.length, 0);
    const bad = await call(node, 'POST', '/api/rag/search', { headers: bearer(jwt), body: { collection: 'handbook', query: 'x', top_k: 10000 } });
    assert.equal(bad.status, 400);
    assert.match(bad.body.error, /top_k/);

    const tmp = await call(node, 'POST', '/api/rag/ingest', { headers: bearer(jwt), body: { collection: 'scratch', content: 'temporary words' } });
    assert.equal(tmp.status, 201);
    assert.equal((await call(node, 'DELETE', '/api/rag/collection', { headers: bearer(jwt), body: { collection: 'scratch' } })).status, 200);
    assert.equal((await call(node, 'POST', '/api/rag/search', { headers: bearer(jwt), body: { collection: 'scratch', query: 'temporary' } })).status, 404);
  });

  test('an agent configured with the collection answers on the kernel with sources', { timeout: 180_000 }, async () => {
    const created = await call(node, 'POST', '/api/user/agents', {
      headers: bearer(jwt),
      body: { name: 'handbook-helper', model: 'local', system_prompt: 'Answer from the passages.', tools: [], collections: ['handbook'], max_tokens: 16 },
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const r = await call(node, 'POST', '/v1/chat', { headers: bearer(key), body: { message: 'When are expense reports due?', agent_type: 'handbook-helper' } });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.ok(r.body.response.length > 0);
    assert.ok(Array.isArray(r.body.sources) && r.body.sources.length >= 1, JSON.stringify(r.body));
    const src = r.body.sources[0];
    assert.equal(src.collection, 'handbook');
    assert.match(src.document_id, /^src_/);
    assert.ok(src.score > 0);
    assert.match(src.content, /Expense reports/);

    // The same through /v1/chat's own collections; beta retrieves nothing from acme's.
    const direct = await call(node, 'POST', '/v1/chat', { headers: bearer(key), body: { message: 'How do I book travel?', collections: ['handbook'], max_tokens: 8 } });
    assert.equal(direct.status, 200, JSON.stringify(direct.body));
    assert.match(direct.body.sources[0].content, /Travel/);
    const theirs = await call(node, 'POST', '/v1/chat', { headers: bearer(other), body: { message: 'How do I book travel?', collections: ['handbook'], max_tokens: 8 } });
    assert.equal(theirs.status, 200, JSON.stringify(theirs.body));
    assert.deepEqual(theirs.body.sources, []);
  });

  test('kill -9 during an ingest: acknowledged documents survive, nothing half-ingested', { timeout: 240_000 }, async () => {
    const texts = [0, 1, 2].map((i) => `Acknowledged document ${i}. `.repeat(400));
    const acked = [];
    for (const content of texts) {
      const r = await call(node, 'POST', '/api/rag/ingest', { headers: bearer(jwt), body: { collection: 'durable', content, chunking_strategy: 'sentence' } });
      assert.equal(r.status, 201);
      acked.push(r.body);
    }
    const big = 'An unacknowledged document sentence that repeats. '.repeat(40_000);
    const inflight = call(node, 'POST', '/api/rag/ingest', { headers: bearer(jwt), body: { collection: 'durable', content: big, chunking_strategy: 'sentence' } }).catch(() => null);
    await new Promise((r) => setTimeout(r, 150));
    await node.kill();
    await inflight;

    const dataDir = node.dataDir;
    node = await startNode({ args: ['--auth'], dataDir });
    try {
      const list = await call(node, 'GET', '/api/rag/collections', { headers: bearer(jwt) });
      assert.equal(list.status, 200, JSON.stringify(list.body));
      const c = list.body.collections.find((x) => x.name === 'durable');
      const ackedChunks = acked.reduce((n, a) => n + a.document_ids.length, 0);
      for (const [i, a] of acked.entries()) {
        const r = await call(node, 'POST', '/api/rag/ingest', { headers: bearer(jwt), body: { collection: 'durable', content: texts[i], chunking_strategy: 'sentence' } });
        assert.equal(r.status, 200, `acknowledged document ${i} lost`);
        assert.deepEqual(r.body.document_ids, a.document_ids);
      }
      if (c.documents === 3) {
        assert.equal(c.chunks, ackedChunks);
      } else {
        // The in-flight ingest committed before the kill: then it is whole.
        assert.equal(c.documents, 4);
        const r = await call(node, 'POST', '/api/rag/ingest', { headers: bearer(jwt), body: { collection: 'durable', content: big, chunking_strategy: 'sentence' } });
        assert.equal(r.status, 200);
        assert.equal(c.chunks, ackedChunks + r.body.document_ids.length);
      }
    } finally {
      await node.stop();
      await rm(dataDir, { recursive: true, force: true, maxRetries: 3 });
    }
  });
});
