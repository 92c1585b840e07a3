// ARES chat, agents, conversations, workflows and research on a real node (the tiny
// synthetic model on the local kernel, --threads 1): the documented Python/JS examples'
// requests replayed as written, and a tool-call turn through constrained decoding.
// The model's words are meaningless (random weights); the shapes, metering and the
// tool loop are what is checked.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { getJSON, startNode } from './node.mjs';

async function call(node, method, p, { body, headers = {}, raw } = {}) {
  const res = await fetch(node.url + p, {
    method,
    headers: { 'Content-Type': 'application/json', ...headers },
    body: raw ?? (body ? JSON.stringify(body) : undefined),
    signal: AbortSignal.timeout(120_000),
  });
  const text = await res.text();
  let json;
  try { json = JSON.parse(text); } catch { json = text; }
  return { status: res.status, headers: res.headers, body: json };
}

describe('ARES agents on a real node', { timeout: 600_000 }, () => {
  let node, key, jwt, tenantId;
  const bearer = (t) => ({ Authorization: `Bearer ${t}` });
  before(async () => {
    // The deployment guide's [[agents]] section (model: a tier the kernel serves).
    const cfg = path.join(mkdtempSync(path.join(os.tmpdir(), 'aria-agents-')), 'ares.toml');
    writeFileSync(cfg, `[[agents]]
name = "financial-analyst"
model = "local"
system_prompt = """
You are a senior financial analyst. Use the calculator tool for arithmetic.
"""
tools = ["calculator"]
max_tokens = 64

[[workflows]]
name = "triage"
entry = "router"
next = { router = ["financial-analyst", "support"] }
`);
    node = await startNode({ args: ['--auth', '--config', cfg] });
    const secret = readFileSync(path.join(node.dataDir, 'admin.secret'), 'utf8').trim();
    const r = await call(node, 'POST', '/api/admin/provision-client', {
      headers: { 'X-Admin-Secret': secret },
      body: { name: 'acme', tier: 'pro', product_type: 'generic', api_key_name: 'e2e' },
    });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    key = r.body.raw_api_key;
    tenantId = r.body.tenant_id;
    assert.equal((await call(node, 'POST', '/api/auth/register', { headers: bearer(key), body: { email: 'dev@example.com', password: 'long enough pw' } })).status, 201);
    const login = await call(node, 'POST', '/api/auth/login', { body: { email: 'dev@example.com', password: 'long enough pw' } });
    jwt = login.body.access_token;
  }, { timeout: 90_000 });
  after(async () => { await node?.stop(); }, { timeout: 30_000 });

  test('quickstart: chat, stream, continue — metered exactly', { timeout: 180_000 }, async () => {
    // Quickstart step 1 (JavaScript), as written.
    const response = await fetch(node.url + '/v1/chat', {
      method: 'POST',
      headers: { 'Authorization': `Bearer ${key}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ message: 'What can you help me with?', agent_type: 'product' }),
    });
    const data = await response.json();
    assert.equal(response.status, 200, JSON.stringify(data));
    assert.equal(typeof data.response, 'string');
    assert.equal(data.content, data.response);
    assert.equal(data.agent, 'product');
    assert.match(data.context_id, /^ctx_/);
    assert.deepEqual(data.sources, []);
    assert.ok(data.tokens_used > 0 && data.usage.total_tokens === data.tokens_used);
    let spent = data.tokens_used;

    // Step 2 (JavaScript streaming), as written: a reader over data: lines.
    const stream = await fetch(node.url + '/v1/chat/stream', {
      method: 'POST',
      headers: { 'Authorization': `Bearer ${key}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ message: 'Explain how LLM routing works', agent_type: 'product' }),
    });
    assert.equal(stream.status, 200);
    assert.equal(stream.headers.get('content-type'), 'text/event-stream');
    const reader = stream.body.getReader();
    const decoder = new TextDecoder();
    let buf = '';
    while (true) {
      const { done, value } = await reader.read();
      if (done) break;
      buf += decoder.decode(value, { stream: true });
    }
    const events = buf.split('\n').filter((l) => l.startsWith('data: ')).map((l) => JSON.parse(l.slice(6)));
    const last = events.at(-1);
    assert.equal(last.finish_reason === 'stop' || last.finish_reason === 'length', true, JSON.stringify(last));
    assert.equal(events.slice(0, -1).map((e) => e.delta).join(''), last.content);
    assert.ok(last.tokens_used > 0);
    spent += last.tokens_used;

    // Step 3: continue with the context_id.
    const follow = await call(node, 'POST', '/v1/chat', { headers: bearer(key), body: { message: 'Tell me more about that', agent_type: 'product', context_id: data.context_id } });
    assert.equal(follow.status, 200, JSON.stringify(follow.body));
    assert.equal(follow.body.context_id, data.context_id);
    spent += follow.body.tokens_used;

    const usage = await getJSON(node, '/v1/usage', { headers: bearer(key) });
    assert.equal(usage.body.total_runs, 3);
    assert.equal(usage.body.total_tokens, spent);
  });

  test('the V1 chat with messages and the streamed JSON deltas', { timeout: 120_000 }, async () => {
    const r = await call(node, 'POST', '/v1/chat', { headers: bearer(key), body: { messages: [{ role: 'user', content: 'Summarize Q1 revenue trends.' }], agent_type: 'analyst' } });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    for (const f of ['id', 'content', 'model', 'tokens_used', 'finish_reason']) assert.ok(f in r.body, f);
    // Chat with Streaming (JavaScript), as written (model omitted: the node has no llama).
    const response = await fetch(node.url + '/v1/chat/stream', {
      method: 'POST',
      headers: { 'Authorization': `Bearer ${key}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ messages: [{ role: 'user', content: 'Explain quantum computing.' }] }),
    });
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let text = '', buf = '';
    while (true) {
      const { done, value } = await reader.read();
      if (done) break;
      buf += decoder.decode(value, { stream: true });
      const lines = buf.split('\n');
      buf = lines.pop();
      for (const line of lines) {
        if (line.startsWith('data: ')) {
          const data = JSON.parse(line.slice(6));
          text += data.delta || '';
        }
      }
    }
    assert.equal(typeof text, 'string');
  });

  test('/api/chat with a JWT, conversations, memory; another tenant gets 404', { timeout: 120_000 }, async () => {
    const r = await call(node, 'POST', '/api/chat', { headers: bearer(jwt), body: { message: 'My name is Ada. What pricing plans do you offer?', agent_type: 'product' } });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const list = await call(node, 'GET', '/api/conversations', { headers: bearer(jwt) });
    assert.ok(list.body.conversations.some((c) => c.id === r.body.context_id));
    const conv = await call(node, 'GET', `/api/conversations/${r.body.context_id}`, { headers: bearer(jwt) });
    assert.equal(conv.body.messages.length, 2);
    const mem = await call(node, 'GET', '/api/memory', { headers: bearer(jwt) });
    assert.equal(mem.body.facts[0].value, 'Ada');
    // The API key acts for the tenant, not for this user: 404.
    assert.equal((await call(node, 'GET', `/api/conversations/${r.body.context_id}`, { headers: bearer(key) })).status, 404);
    assert.equal((await call(node, 'PUT', `/api/conversations/${r.body.context_id}`, { headers: bearer(jwt), body: { title: 'Pricing discussion' } })).body.title, 'Pricing discussion');
  });

  test('user agents (documented create), TOON round trip, a run, and a tool-call turn on the kernel', { timeout: 180_000 }, async () => {
    const created = await call(node, 'POST', '/api/user/agents', {
      headers: bearer(jwt),
      body: {
        name: 'code-reviewer',
        model: 'local',
        system_prompt: 'You are an expert code reviewer. Analyze code for bugs, security issues, and style problems. Be concise and actionable.',
        tools: ['calculator'],
      },
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const toon = await call(node, 'GET', '/api/user/agents/code-reviewer/export', { headers: bearer(jwt) });
    assert.match(toon.body, /\[\[agents\]\]\nname = "code-reviewer"/);
    const bad = await call(node, 'POST', '/api/user/agents/import', { headers: bearer(jwt), raw: 'name = "x\n' });
    assert.equal(bad.status, 400);
    assert.equal(bad.body.error, 'invalid TOON at line 1: unterminated string');

    // Run an Agent (curl/Python body), as written.
    const run = await call(node, 'POST', '/v1/agents/code-reviewer/run', {
      headers: bearer(key),
      body: { input: { message: 'Evaluate this transaction', context: { amount: 15000, currency: 'USD' } } },
    });
    assert.equal(run.status, 200, JSON.stringify(run.body));
    for (const f of ['id', 'status', 'output', 'error', 'started_at', 'finished_at', 'duration_ms', 'tokens_used']) assert.ok(f in run.body, f);

    // A tool-call turn: the kernel must call the calculator (constrained decoding), the
    // platform runs it and feeds the result (or its error) back.
    const tool = await call(node, 'POST', '/api/user/agents', {
      headers: bearer(jwt),
      body: { name: 'calc', model: 'local', system_prompt: 'Use the calculator.', tools: ['calculator'], tool_choice: 'required', max_tokens: 400 },
    });
    assert.equal(tool.status, 201, JSON.stringify(tool.body));
    const tr = await call(node, 'POST', '/v1/agents/calc/run', { headers: bearer(key), body: { input: { message: 'What is 6 * 7?' } } });
    assert.equal(tr.status, 200, JSON.stringify(tr.body));
    const toolSteps = tr.body.steps.filter((s) => s.kind === 'tool');
    assert.ok(toolSteps.length >= 1, JSON.stringify(tr.body.steps));
    assert.equal(toolSteps[0].tool, 'calculator');
    assert.ok(toolSteps[0].result || toolSteps[0].error);
    assert.equal(tr.body.status, 'completed', JSON.stringify(tr.body));

    const stats = await call(node, 'GET', '/v1/agents/calc', { headers: bearer(key) });
    assert.equal(stats.body.total_runs, 1);
    assert.equal(stats.body.success_rate, 1);
    const unknown = await call(node, 'POST', '/v1/agents/nope/run', { headers: bearer(key), body: { input: { message: 'x' } } });
    assert.equal(unknown.status, 404);
    assert.equal(unknown.body.error, 'Agent not found: nope');
  });

  test('config-file agents: the tool-calling guide\'s request as written', { timeout: 120_000 }, async () => {
    const r = await call(node, 'POST', '/v1/chat', {
      headers: bearer(key),
      body: { messages: [{ role: 'user', content: 'What is the monthly payment on a $400,000 mortgage at 6.5% for 30 years?' }], agent_type: 'financial-analyst' },
    });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.agent, 'financial-analyst');
    const agents = await call(node, 'GET', '/api/agents');
    assert.ok(agents.body.some((a) => a.name === 'financial-analyst' && a.tools[0] === 'calculator'));
  });

  test('workflows and research (documented bodies)', { timeout: 240_000 }, async () => {
    const wf = await call(node, 'GET', '/api/workflows', { headers: bearer(jwt) });
    assert.deepEqual(wf.body, ['default', 'research', 'support', 'triage']);
    const r = await call(node, 'POST', '/api/workflows/default', {
      headers: bearer(jwt),
      body: { query: 'Compare your Pro and Enterprise pricing plans for a mid-size SaaS company', context: { company_size: '50-200 employees', expected_volume: '200K calls/month' } },
    });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.agents_used[0], 'router');
    assert.ok(r.body.steps_executed >= 2 && r.body.reasoning_path.length === r.body.steps_executed);
    const res = await call(node, 'POST', '/api/research', { headers: bearer(jwt), body: { query: 'What are the current trends in edge computing for healthcare?', depth: 2, max_iterations: 3 } });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.ok(res.body.agent_invocations <= 3);
    assert.ok(Array.isArray(res.body.sources) && typeof res.body.findings === 'string' && res.body.duration_ms >= 0);
  });
});
