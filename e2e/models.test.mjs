// GET /v1/models and /v1/models/{id} through the openai SDK.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';

import { MODEL, client, getJSON, startNode } from './node.mjs';

describe('models', { timeout: 90_000 }, () => {
  let node;
  let c;
  before(async () => {
    node = await startNode();
    c = client(node);
  }, { timeout: 70_000 });
  after(async () => {
    await node?.stop();
  }, { timeout: 30_000 });

  test('models.list contains the demo model', { timeout: 10_000 }, async () => {
    const ids = [];
    for await (const m of c.models.list()) {
      ids.push(m.id);
      if (m.id === MODEL) {
        assert.equal(m.object, 'model');
        assert.equal(m.owned_by, 'aria-protocol');
        assert.equal(typeof m.created, 'number');
        assert.ok(m.created > 0, `created ${m.created}`);
      }
      assert.ok(ids.length < 100, 'runaway model list');
    }
    assert.ok(ids.includes(MODEL), `models: ${JSON.stringify(ids)}`);
  });

  test('the raw list has object "list" and the reference fields', { timeout: 10_000 }, async () => {
    const { status, body } = await getJSON(node, '/v1/models');
    assert.equal(status, 200);
    assert.equal(body.object, 'list');
    const m = body.data.find((x) => x.id === MODEL);
    assert.ok(m, JSON.stringify(body));
    assert.deepEqual(m.permission, []);
    assert.equal(m.root, MODEL);
    assert.equal(m.parent, null);
  });

  test('models.retrieve returns the model', { timeout: 10_000 }, async () => {
    const m = await c.models.retrieve(MODEL);
    assert.equal(m.id, MODEL);
    assert.equal(m.object, 'model');
    assert.equal(m.owned_by, 'aria-protocol');
  });

  test('models.retrieve of an unknown id throws NotFoundError', { timeout: 10_000 }, async () => {
    await assert.rejects(c.models.retrieve('no-such-model'), (err) => {
      assert.ok(err instanceof OpenAI.NotFoundError, `got ${err?.constructor?.name}: ${err}`);
      assert.equal(err.status, 404);
      assert.equal(err.type, 'not_found_error');
      assert.equal(err.code, 'model_not_found');
      assert.match(err.message, /no-such-model/);
      return true;
    });
  });
});
