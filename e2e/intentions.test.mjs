// Intentions (prospective memory) against a real node: the /v1/intentions API, the
// store's durability across restarts and kill -9, the triggers firing through chat
// completions, and the `aria intentions` CLI.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import { MODEL, ariaBin, client, getJSON, startNode, waitFor } from './node.mjs';

/** Sends a JSON request (body: an object, or a string sent as it is). */
function call(node, method, p, body) {
  const init = { method };
  if (body !== undefined) {
    init.headers = { 'Content-Type': 'application/json' };
    init.body = typeof body === 'string' ? body : JSON.stringify(body);
  }
  return getJSON(node, p, init);
}

/** Creates an intention and asserts the 201; returns the 201 body. */
async function create(node, body) {
  const r = await call(node, 'POST', '/v1/intentions', body);
  assert.equal(r.status, 201, `POST /v1/intentions ${JSON.stringify(body)} → ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

/** GETs an intention and asserts the 200. */
async function get(node, id) {
  const r = await getJSON(node, `/v1/intentions/${id}`);
  assert.equal(r.status, 200, `GET ${id} → ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

async function list(node, query = '') {
  const r = await getJSON(node, `/v1/intentions${query}`);
  assert.equal(r.status, 200, `GET /v1/intentions${query} → ${r.status} ${JSON.stringify(r.body)}`);
  assert.ok(Array.isArray(r.body), JSON.stringify(r.body));
  return r.body;
}

/** Asserts the API's error shape, the status and code, and that the message names each of names. */
function assertError(r, status, code, ...names) {
  assert.equal(r.status, status, JSON.stringify(r.body));
  assert.deepEqual(Object.keys(r.body), ['error'], JSON.stringify(r.body));
  assert.deepEqual(Object.keys(r.body.error).sort(), ['code', 'message', 'type'], JSON.stringify(r.body));
  const type = { 400: 'invalid_request_error', 404: 'not_found_error', 409: 'invalid_request_error' }[status];
  assert.equal(r.body.error.type, type, JSON.stringify(r.body));
  assert.equal(r.body.error.code, code, JSON.stringify(r.body));
  for (const n of names) {
    assert.ok(r.body.error.message.includes(n), `message ${JSON.stringify(r.body.error.message)} does not name ${n}`);
  }
}

const future = (ms = 365 * 24 * 3600 * 1000) => new Date(Date.now() + ms).toISOString();

/** A short chat completion through the SDK; extra fields (user, metadata) pass through. */
function chat(node, content, extra = {}) {
  return client(node).chat.completions.create({ model: MODEL, messages: [{ role: 'user', content }], max_tokens: 4, ...extra });
}

describe('intentions API: CRUD and validation', { timeout: 120_000 }, () => {
  let node;
  const ids = {};
  before(async () => {
    node = await startNode();
  }, { timeout: 70_000 });
  after(async () => {
    await node?.stop();
  }, { timeout: 30_000 });

  const bodies = {
    time: { content: 'call mom', trigger_type: 'time', trigger_condition: future(), priority: 0.3,
      related_topics: ['family'], expires_at: future(2 * 365 * 24 * 3600 * 1000) },
    semantic: { content: 'Ask about Q4 presentation results', trigger_type: 'semantic', trigger_condition: 'Q4 presentation results', priority: 0.8 },
    condition: { content: 'Suggest a break', trigger_type: 'condition', trigger_condition: 'emotion=frustration', priority: 0.6, max_fires: -1 },
    session_start: { content: 'Greet the user', trigger_type: 'session_start', trigger_condition: '*', priority: 0.1, max_fires: 3 },
  };

  test('POST creates each trigger type: 201 {id, status, created_at, trigger_embedding_computed}', { timeout: 10_000 }, async () => {
    for (const [type, body] of Object.entries(bodies)) {
      const r = await call(node, 'POST', '/v1/intentions', body);
      assert.equal(r.status, 201, `${type}: ${JSON.stringify(r.body)}`);
      assert.deepEqual(Object.keys(r.body).sort(), ['created_at', 'id', 'status', 'trigger_embedding_computed'], type);
      assert.match(r.body.id, /^int_/);
      assert.equal(r.body.status, 'pending');
      assert.match(r.body.created_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
      assert.ok(Math.abs(Date.parse(r.body.created_at) - Date.now()) < 60_000, r.body.created_at);
      assert.equal(typeof r.body.trigger_embedding_computed, 'boolean');
      if (type === 'semantic') assert.equal(r.body.trigger_embedding_computed, true);
      assert.equal(r.headers.get('location'), `/v1/intentions/${r.body.id}`);
      ids[type] = r.body;
    }
    assert.equal(new Set(Object.values(ids).map((c) => c.id)).size, 4, 'ids are distinct');
  });

  test('GET by id returns every field as created', { timeout: 10_000 }, async () => {
    for (const [type, body] of Object.entries(bodies)) {
      const created = ids[type];
      const got = await get(node, created.id);
      assert.equal(got.id, created.id);
      assert.equal(got.content, body.content);
      assert.equal(got.trigger_type, type);
      assert.equal(Date.parse(got.created_at) - (Date.parse(got.created_at) % 1000), Date.parse(created.created_at));
      if (type === 'time') assert.equal(Date.parse(got.trigger_condition), Date.parse(body.trigger_condition));
      else assert.equal(got.trigger_condition, body.trigger_condition);
      assert.equal(got.priority, body.priority);
      assert.equal(got.status, 'pending');
      assert.equal(got.fire_count, 0);
      assert.equal(got.max_fires, body.max_fires ?? 1);
      assert.deepEqual(got.related_topics, body.related_topics ?? []);
      assert.equal(got.tier, 'hot');
      assert.equal(got.last_fired_at, null);
      assert.equal(got.trigger_embedding_computed, created.trigger_embedding_computed);
      if (body.expires_at) assert.equal(Date.parse(got.expires_at), Date.parse(body.expires_at));
      else assert.equal(got.expires_at, null);
    }
  });

  test('list: filters, limit and each sort order', { timeout: 10_000 }, async () => {
    // created_at has whole seconds and ties go by id, so the four (made within a
    // second or two) are in the order of that key, not necessarily the order of the POSTs.
    const all = await list(node);
    const createdKey = (i) => `${new Date(i.created_at).toISOString()} ${i.id}`;
    const created = [...all].sort((a, b) => (createdKey(a) < createdKey(b) ? -1 : 1)).map((i) => i.id);
    const byPriority = ['semantic', 'condition', 'time', 'session_start'].map((t) => ids[t].id);
    const order = (l) => l.map((i) => i.id);

    assert.deepEqual(order(await list(node)), byPriority, 'default sort is priority_desc');
    assert.deepEqual(order(await list(node, '?sort=priority_desc')), byPriority);
    assert.deepEqual(order(await list(node, '?sort=priority_asc')), [...byPriority].reverse());
    assert.deepEqual(order(await list(node, '?sort=created_asc')), created);
    assert.deepEqual(order(await list(node, '?sort=created_desc')), [...created].reverse());

    assert.deepEqual(order(await list(node, '?limit=2')), byPriority.slice(0, 2));
    assert.deepEqual(order(await list(node, '?limit=1&sort=created_desc')), [created.at(-1)]);
    assert.deepEqual(order(await list(node, '?trigger_type=semantic')), [ids.semantic.id]);
    assert.deepEqual(order(await list(node, '?trigger_type=time&status=pending')), [ids.time.id]);
    assert.equal((await list(node, '?status=pending')).length, 4);
    assert.deepEqual(await list(node, '?status=cancelled'), []);

    // One made in a later second sorts after all of them, whatever its id.
    await sleep(1_050 - (Date.now() % 1_000));
    const later = await create(node, { content: 'later', trigger_type: 'semantic', trigger_condition: 'sailing lessons', priority: 0.5 });
    assert.ok(Date.parse(later.created_at) > Math.max(...all.map((i) => Date.parse(i.created_at))), later.created_at);
    assert.deepEqual(order(await list(node, '?sort=created_desc&limit=1')), [later.id]);
    assert.equal(order(await list(node, '?sort=created_asc')).at(-1), later.id);
    assert.equal((await call(node, 'DELETE', `/v1/intentions/${later.id}`)).status, 200);

    assertError(await getJSON(node, '/v1/intentions?limit=abc'), 400, 'invalid_request', 'limit');
    assertError(await getJSON(node, '/v1/intentions?status=done'), 400, 'invalid_request', 'status');
    assertError(await getJSON(node, '/v1/intentions?sort=newest'), 400, 'invalid_request', 'sort');
  });

  test('PATCH priority and status transitions; executed → pending is a 409', { timeout: 10_000 }, async () => {
    const before = await get(node, ids.condition.id);
    await sleep(10);
    let r = await call(node, 'PATCH', `/v1/intentions/${ids.condition.id}`, { priority: 0.95 });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.priority, 0.95);
    assert.equal(r.body.content, before.content, 'other fields untouched');
    assert.ok(Date.parse(r.body.updated_at) >= Date.parse(before.updated_at));
    assert.equal((await get(node, ids.condition.id)).priority, 0.95);

    r = await call(node, 'PATCH', `/v1/intentions/${ids.condition.id}`, { trigger_condition: 'emotion=joy && time.hour >= 0' });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.trigger_condition, 'emotion=joy && time.hour >= 0');

    // pending → cancelled is allowed.
    const victim = await create(node, { content: 'to cancel', trigger_type: 'semantic', trigger_condition: 'garden tomatoes' });
    r = await call(node, 'PATCH', `/v1/intentions/${victim.id}`, { status: 'cancelled' });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.status, 'cancelled');

    // pending → executed, then executed → pending is refused.
    const done = await create(node, { content: 'to execute', trigger_type: 'semantic', trigger_condition: 'bicycle repair' });
    r = await call(node, 'PATCH', `/v1/intentions/${done.id}`, { status: 'executed' });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.status, 'executed');
    r = await call(node, 'PATCH', `/v1/intentions/${done.id}`, { status: 'pending' });
    assertError(r, 409, 'invalid_status_transition', 'executed', 'pending');
    assert.equal((await get(node, done.id)).status, 'executed', 'a refused PATCH changes nothing');

    // Fields that cannot be changed, and bad values, are 400s naming the field.
    r = await call(node, 'PATCH', `/v1/intentions/${ids.time.id}`, { content: 'something else' });
    assertError(r, 400, 'invalid_request', 'content');
    r = await call(node, 'PATCH', `/v1/intentions/${ids.time.id}`, { priority: 0.9, trigger_type: 'semantic' });
    assertError(r, 400, 'invalid_request', 'trigger_type');
    r = await call(node, 'PATCH', `/v1/intentions/${ids.time.id}`, { priority: 2 });
    assertError(r, 400, 'invalid_request', 'priority');
    r = await call(node, 'PATCH', `/v1/intentions/${ids.time.id}`, { trigger_condition: 'next tuesday' });
    assertError(r, 400, 'invalid_request', 'trigger_condition');
    r = await call(node, 'PATCH', `/v1/intentions/${ids.time.id}`, { status: 'finished' });
    assertError(r, 400, 'invalid_request', 'status');
    r = await call(node, 'PATCH', `/v1/intentions/${ids.time.id}`, {});
    assertError(r, 400, 'invalid_request');
    const t = await get(node, ids.time.id);
    assert.equal(t.content, 'call mom');
    assert.equal(t.priority, 0.3, 'a refused PATCH changes nothing');
  });

  test('PATCH priority null is a 400, not priority 0', { timeout: 10_000 }, async () => {
    const r = await call(node, 'PATCH', `/v1/intentions/${ids.semantic.id}`, { priority: null });
    assertError(r, 400, 'invalid_request', 'priority');
    assert.equal((await get(node, ids.semantic.id)).priority, 0.8);
  });

  test('DELETE cancels: status cancelled, tier cold, still readable', { timeout: 10_000 }, async () => {
    const r = await call(node, 'DELETE', `/v1/intentions/${ids.session_start.id}`);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.status, 'cancelled');
    assert.equal(r.body.tier, 'cold');
    const got = await get(node, ids.session_start.id);
    assert.equal(got.status, 'cancelled');
    assert.equal(got.tier, 'cold');
    assert.equal(got.content, 'Greet the user');
    assert.ok((await list(node, '?status=cancelled')).some((i) => i.id === ids.session_start.id));
  });

  test('POST fire: triggered, fire_count 1, last_fired_at set', { timeout: 10_000 }, async () => {
    const r = await call(node, 'POST', `/v1/intentions/${ids.time.id}/fire`);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.status, 'triggered');
    assert.equal(r.body.fire_count, 1);
    assert.ok(r.body.last_fired_at, 'last_fired_at');
    assert.equal(r.body.tier, 'hot');
    const got = await get(node, ids.time.id);
    assert.equal(got.status, 'triggered');
    assert.equal(got.fire_count, 1);
    // Firing again, and firing a cancelled one, is refused.
    assertError(await call(node, 'POST', `/v1/intentions/${ids.time.id}/fire`), 409, 'invalid_status_transition');
    assertError(await call(node, 'POST', `/v1/intentions/${ids.session_start.id}/fire`), 409, 'invalid_status_transition');
    assert.equal((await get(node, ids.time.id)).fire_count, 1);
  });

  test('an unknown id is a 404 on every endpoint', { timeout: 10_000 }, async () => {
    const id = 'int_000000000000';
    for (const [method, p, body] of [['GET', `/v1/intentions/${id}`], ['PATCH', `/v1/intentions/${id}`, { priority: 0.2 }],
      ['DELETE', `/v1/intentions/${id}`], ['POST', `/v1/intentions/${id}/fire`]]) {
      const r = await call(node, method, p, body);
      assertError(r, 404, 'intention_not_found', id);
    }
  });

  test('invalid creates are 400s naming the field', { timeout: 10_000 }, async () => {
    const ok = { content: 'x', trigger_type: 'semantic', trigger_condition: 'weekly report' };
    const cases = [
      [{ ...ok, trigger_type: 'time', trigger_condition: '17/02/2026 9am' }, 'trigger_condition'],
      [{ ...ok, trigger_condition: '' }, 'trigger_condition'],
      [{ ...ok, trigger_condition: '   ' }, 'trigger_condition'],
      [{ ...ok, trigger_type: 'condition', trigger_condition: 'energy.total_tokens >' }, 'trigger_condition'],
      [{ ...ok, trigger_type: 'session_start', trigger_condition: 'always' }, 'trigger_condition'],
      [{ ...ok, trigger_type: 'bogus' }, 'trigger_type'],
      [{ ...ok, priority: 1.5 }, 'priority'],
      [{ ...ok, priority: -0.1 }, 'priority'],
      [{ ...ok, max_fires: 0 }, 'max_fires'],
      [{ ...ok, max_fires: -2 }, 'max_fires'],
      [{ ...ok, expires_at: 'soon' }, 'expires_at'],
      [{ ...ok, expires_at: '2001-01-01T00:00:00Z' }, 'expires_at'],
      [{ trigger_type: 'semantic', trigger_condition: 'weekly report' }, 'content'],
      [{ ...ok, content: '  ' }, 'content'],
      [{ content: 'x', trigger_condition: '*' }, 'trigger_type'],
      [{ content: 'x', trigger_type: 'semantic' }, 'trigger_condition'],
    ];
    const countBefore = (await list(node, '?limit=1000')).length;
    for (const [body, field] of cases) {
      const r = await call(node, 'POST', '/v1/intentions', body);
      assert.equal(r.status, 400, `${JSON.stringify(body)} → ${r.status} ${JSON.stringify(r.body)}`);
      assertError(r, 400, 'invalid_request', field);
    }
    for (const raw of ['{"content": ', 'not json', '[1, 2]', '{"content":"x"} {"content":"y"}']) {
      const r = await call(node, 'POST', '/v1/intentions', raw);
      assert.equal(r.status, 400, `${raw} → ${r.status} ${JSON.stringify(r.body)}`);
      assertError(r, 400, r.body.error.code);
      assert.equal(r.body.error.type, 'invalid_request_error');
    }
    assert.equal((await list(node, '?limit=1000')).length, countBefore, 'no invalid request stored anything');
  });
});

describe('intentions persist across a restart of the node', { timeout: 120_000 }, () => {
  let node;
  let dataDir;
  after(async () => {
    await node?.stop();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  }, { timeout: 30_000 });

  test('three intentions are there, field for field, after SIGTERM and a new process', { timeout: 110_000 }, async () => {
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'aria-e2e-intentions-'));
    node = await startNode({ dataDir });
    const made = [
      await create(node, { content: 'call mom', trigger_type: 'time', trigger_condition: future(), priority: 0.7, related_topics: ['family', 'phone'] }),
      await create(node, { content: 'Ask about Q4', trigger_type: 'semantic', trigger_condition: 'Q4 presentation results', expires_at: future() }),
      await create(node, { content: 'Suggest a break', trigger_type: 'condition', trigger_condition: 'emotion=frustration || energy.total_tokens > 100000', max_fires: -1 }),
    ];
    await call(node, 'PATCH', `/v1/intentions/${made[2].id}`, { priority: 0.25 });
    const beforeStop = [];
    for (const m of made) beforeStop.push(await get(node, m.id));

    const stopped = await node.stop();
    assert.equal(stopped.code, 0, `node exit ${JSON.stringify(stopped)}\n${node.stderr()}`);
    node = await startNode({ dataDir });
    for (const b of beforeStop) assert.deepEqual(await get(node, b.id), b);
    assert.equal((await list(node)).length, 3);
  });
});

describe('intentions survive kill -9 right after acknowledged writes', { timeout: 180_000 }, () => {
  let node;
  let dataDir;
  after(async () => {
    await node?.stop();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  }, { timeout: 30_000 });

  test('20 creates, then SIGKILL: all 20 are there after a restart', { timeout: 80_000 }, async () => {
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'aria-e2e-intentions-kill-'));
    node = await startNode({ dataDir });
    const made = new Map();
    for (let i = 0; i < 20; i++) {
      const content = `kill test ${i}`;
      made.set((await create(node, { content, trigger_type: 'semantic', trigger_condition: `topic number ${i} alpha` })).id, content);
    }
    const killed = await node.kill();
    assert.equal(killed.signal, 'SIGKILL');
    node = await startNode({ dataDir });
    const all = await list(node, '?limit=100');
    assert.equal(all.length, 20);
    for (const i of all) assert.equal(i.content, made.get(i.id), `intention ${i.id}`);
  });

  test('PATCH, then SIGKILL: the patched value is there after a restart', { timeout: 80_000 }, async () => {
    const [target] = await list(node, '?limit=1');
    const r = await call(node, 'PATCH', `/v1/intentions/${target.id}`, { priority: 0.77, status: 'cancelled' });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    await node.kill();
    node = await startNode({ dataDir });
    const got = await get(node, target.id);
    assert.equal(got.priority, 0.77);
    assert.equal(got.status, 'cancelled');
  });
});

describe('time intentions fire on their own', { timeout: 180_000 }, () => {
  let node;
  let dataDir;
  after(async () => {
    await node?.stop();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  }, { timeout: 30_000 });

  test('due in 2 s: triggered without any request, executed after the next chat', { timeout: 80_000 }, async () => {
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'aria-e2e-intentions-time-'));
    node = await startNode({ dataDir });
    const { id } = await create(node, { content: 'Remind the user to stretch', trigger_type: 'time', trigger_condition: future(2_000) });
    assert.equal((await get(node, id)).status, 'pending');
    const fired = await waitFor(async () => {
      const i = await get(node, id);
      return i.status === 'triggered' && i;
    }, { timeoutMs: 10_000, intervalMs: 200, what: `${id} to be triggered by the scheduler` });
    assert.equal(fired.fire_count, 1);
    assert.ok(fired.last_fired_at);

    const r = await chat(node, 'Good morning!');
    assert.equal(r.choices.length, 1);
    const done = await get(node, id);
    assert.equal(done.status, 'executed', 'delivered once with max_fires 1');
    assert.equal(done.fire_count, 1);
    assert.equal(done.tier, 'cold');
  });

  test('one that comes due while the node is down is triggered at start', { timeout: 90_000 }, async () => {
    const due = Date.now() + 3_000;
    const { id } = await create(node, { content: 'Water the plants', trigger_type: 'time', trigger_condition: new Date(due).toISOString() });
    assert.equal((await get(node, id)).status, 'pending');
    const stopped = await node.stop();
    assert.equal(stopped.code, 0, node.stderr());
    const wait = due + 500 - Date.now();
    if (wait > 0) await sleep(wait);
    const restartedAt = Date.now();
    node = await startNode({ dataDir });
    const fired = await waitFor(async () => {
      const i = await get(node, id);
      return i.status === 'triggered' && i;
    }, { timeoutMs: 5_000, intervalMs: 100, what: `${id} to be triggered after the restart` });
    assert.equal(fired.fire_count, 1);
    // Times are stored in whole seconds.
    const firedAt = Date.parse(fired.last_fired_at);
    assert.ok(firedAt >= Math.floor(restartedAt / 1000) * 1000, `last_fired_at ${fired.last_fired_at}: fired by the new process`);
  });
});

describe('triggers fire through chat completions', { timeout: 120_000 }, () => {
  let node;
  before(async () => {
    node = await startNode();
  }, { timeout: 70_000 });
  after(async () => {
    await node?.stop();
  }, { timeout: 30_000 });

  test('semantic: a matching user message fires and delivers it; an unrelated one stays pending', { timeout: 30_000 }, async () => {
    const q4 = await create(node, { content: 'Ask how the Q4 presentation went', trigger_type: 'semantic', trigger_condition: 'Q4 presentation results' });
    const tax = await create(node, { content: 'Mention the tax deadline', trigger_type: 'semantic', trigger_condition: 'tax return deadline' });
    assert.equal(q4.trigger_embedding_computed, true);

    await chat(node, "What's the weather like in Paris?");
    assert.equal((await get(node, q4.id)).status, 'pending', 'an unrelated message does not fire it');

    const r = await chat(node, 'How did the Q4 presentation results go over?');
    assert.equal(r.object, 'chat.completion');
    const a = await get(node, q4.id);
    assert.equal(a.status, 'executed');
    assert.equal(a.fire_count, 1);
    const b = await get(node, tax.id);
    assert.equal(b.status, 'pending');
    assert.equal(b.fire_count, 0);
  });

  test('session_start: fires once per new session (the request\'s user)', { timeout: 30_000 }, async () => {
    const { id } = await create(node, { content: 'Greet the user', trigger_type: 'session_start', trigger_condition: '*', max_fires: -1 });
    await chat(node, 'hello', { user: 'alice' });
    let i = await get(node, id);
    assert.equal(i.fire_count, 1);
    assert.equal(i.status, 'pending', 'recurring: back to pending once delivered');

    await chat(node, 'hello again', { user: 'alice' });
    i = await get(node, id);
    assert.equal(i.fire_count, 1, 'the same session does not fire it again');
    assert.equal(i.status, 'pending');

    await chat(node, 'hi', { user: 'bob' });
    i = await get(node, id);
    assert.equal(i.fire_count, 2, 'a new session fires it');
    assert.equal(i.status, 'pending');

    // Out of the way of the next test's chats.
    assert.equal((await call(node, 'DELETE', `/v1/intentions/${id}`)).status, 200);
  });

  test('condition: evaluated against the request metadata', { timeout: 30_000 }, async () => {
    const { id } = await create(node, { content: 'Suggest a short break', trigger_type: 'condition', trigger_condition: 'emotion=frustration' });
    await chat(node, 'this is fine', { metadata: { emotion: 'calm' } });
    let i = await get(node, id);
    assert.equal(i.status, 'pending');
    assert.equal(i.fire_count, 0);

    await chat(node, 'nothing works', { metadata: { emotion: 'frustration' } });
    i = await get(node, id);
    assert.equal(i.status, 'executed');
    assert.equal(i.fire_count, 1);
  });
});

describe('aria intentions (CLI)', { timeout: 120_000 }, () => {
  let node;
  before(async () => {
    node = await startNode();
  }, { timeout: 70_000 });
  after(async () => {
    await node?.stop();
  }, { timeout: 30_000 });

  /** Runs the CLI; resolves with {code, stdout, stderr} whatever the exit status. */
  function aria(...args) {
    return new Promise((resolve) => {
      execFile(ariaBin(), ['intentions', ...args], { timeout: 15_000 }, (err, stdout, stderr) => {
        resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr, err });
      });
    });
  }
  const port = () => ['--port', String(node.port)];

  test('add, list, show, update, fire and cancel against the node', { timeout: 60_000 }, async () => {
    const when = future(24 * 3600 * 1000);
    const add = await aria('add', 'call mom', '--trigger', 'time', '--when', when, ...port());
    assert.equal(add.code, 0, add.stderr);
    const id = add.stdout.trim();
    assert.match(id, /^int_[0-9a-z]+$/);
    let i = await get(node, id);
    assert.equal(i.content, 'call mom');
    assert.equal(i.trigger_type, 'time');
    assert.equal(Date.parse(i.trigger_condition), Date.parse(when));

    const ls = await aria('list', ...port(), '--json');
    assert.equal(ls.code, 0, ls.stderr);
    assert.ok(JSON.parse(ls.stdout).some((x) => x.id === id && x.content === 'call mom'), ls.stdout);
    const table = await aria('list', ...port());
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, /^ID\s+STATUS\s+TRIGGER/);
    assert.match(table.stdout, new RegExp(`${id}\\s+pending\\s+time\\s`));

    const show = await aria('show', id, ...port());
    assert.equal(show.code, 0, show.stderr);
    assert.match(show.stdout, new RegExp(`^id\\s+${id}$`, 'm'));
    assert.match(show.stdout, /^content\s+call mom$/m);
    assert.match(show.stdout, /^status\s+pending$/m);
    const showJSON = await aria('show', id, ...port(), '--json');
    assert.deepEqual(JSON.parse(showJSON.stdout), await get(node, id));

    const up = await aria('update', id, '--priority', '0.9', ...port());
    assert.equal(up.code, 0, up.stderr);
    assert.match(up.stdout, new RegExp(`^${id} pending`));
    i = await get(node, id);
    assert.equal(i.priority, 0.9);
    assert.equal(i.content, 'call mom', 'only the given flag changed');

    const fire = await aria('fire', id, ...port(), '--json');
    assert.equal(fire.code, 0, fire.stderr);
    assert.equal(JSON.parse(fire.stdout).status, 'triggered');
    i = await get(node, id);
    assert.equal(i.status, 'triggered');
    assert.equal(i.fire_count, 1);

    const cancel = await aria('cancel', id, ...port());
    assert.equal(cancel.code, 0, cancel.stderr);
    assert.match(cancel.stdout, /cancelled/);
    i = await get(node, id);
    assert.equal(i.status, 'cancelled');
    assert.equal(i.tier, 'cold');
  });

  test('add with --json, session_start defaults to "*", --recurring and --topic', { timeout: 30_000 }, async () => {
    const add = await aria('add', 'Greet the user', '--trigger', 'session_start', '--recurring', '--topic', 'a', '--topic', 'b', '--priority', '0.2', ...port(), '--json');
    assert.equal(add.code, 0, add.stderr);
    const created = JSON.parse(add.stdout);
    assert.deepEqual(Object.keys(created).sort(), ['created_at', 'id', 'status', 'trigger_embedding_computed']);
    const i = await get(node, created.id);
    assert.equal(i.trigger_condition, '*');
    assert.equal(i.max_fires, -1);
    assert.equal(i.priority, 0.2);
    assert.deepEqual(i.related_topics, ['a', 'b']);
  });

  test('errors: API errors exit 1 with the message, bad usage exits 2', { timeout: 30_000 }, async () => {
    const missing = await aria('show', 'int_nope', ...port());
    assert.equal(missing.code, 1, missing.stderr);
    assert.match(missing.stderr, /^aria: .*int_nope/m);

    const invalid = await aria('add', 'x', '--trigger', 'semantic', '--condition', 'the', ...port());
    assert.equal(invalid.code, 1);
    assert.match(invalid.stderr, /^aria: .*trigger_condition/m);

    const bogus = await aria('add', 'x', '--trigger', 'bogus');
    assert.equal(bogus.code, 2, bogus.stderr);
    assert.match(bogus.stderr, /--trigger/);

    const noCond = await aria('add', 'x', '--trigger', 'time', ...port());
    assert.equal(noCond.code, 2, noCond.stderr);
    const noChange = await aria('update', 'int_000000000000', ...port());
    assert.equal(noChange.code, 2, noChange.stderr);

    const down = await aria('list', '--port', '1', '--timeout', '2s');
    assert.equal(down.code, 1);
    assert.match(down.stderr, /unreachable/);
  });
});
