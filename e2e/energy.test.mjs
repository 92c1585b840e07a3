// Energy: a real generation is metered (CPU time on this VM, which has no RAPL), and
// the ledger in aria.db survives a restart of the node process.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

import { ariaBin, chatBody, client, getJSON, startNode } from './node.mjs';

describe('energy ledger across restarts', { timeout: 180_000 }, () => {
  let dataDir;
  let node;
  after(async () => {
    await node?.stop();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  }, { timeout: 30_000 });

  test('session figures reset, lifetime totals persist', { timeout: 170_000 }, async () => {
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'aria-e2e-energy-'));
    node = await startNode({ dataDir });
    const c = client(node);
    let tokens = 0;
    for (let i = 0; i < 2; i++) {
      const r = await c.chat.completions.create(chatBody({ max_tokens: 16, messages: [{ role: 'user', content: `energy ${i}` }] }));
      tokens += r.usage.completion_tokens;
    }
    const e1 = (await getJSON(node, '/v1/energy')).body;
    assert.equal(e1.method, 'cpu_time');
    assert.equal(e1.total_inferences, 2);
    assert.equal(e1.total_tokens_generated, tokens);
    assert.ok(e1.total_energy_mj > 0, `total_energy_mj ${e1.total_energy_mj}`);
    assert.ok(e1.avg_energy_per_token_mj > 0);
    assert.equal(e1.recent_history.length, 2);
    assert.equal(e1.lifetime.total_inferences, 2);

    const stopped = await node.stop();
    assert.equal(stopped.code, 0, `node exit ${JSON.stringify(stopped)}`);
    node = await startNode({ dataDir });
    const e2 = (await getJSON(node, '/v1/energy')).body;
    assert.equal(e2.total_inferences, 0, 'session figures start anew');
    assert.deepEqual(e2.recent_history, []);
    assert.equal(e2.lifetime.total_inferences, 2, 'lifetime survives the restart');
    assert.equal(e2.lifetime.total_tokens_generated, tokens);
    assert.ok(Math.abs(e2.lifetime.total_energy_mj - e1.total_energy_mj) < 1e-6,
      `lifetime energy ${e2.lifetime.total_energy_mj} vs ${e1.total_energy_mj}`);

    const { stdout } = await promisify(execFile)(ariaBin(), ['energy', '--port', String(node.port)], { timeout: 10_000 });
    assert.match(stdout, /method\s+cpu_time/);
    assert.match(stdout, /session\s+0 inferences/);
    assert.match(stdout, new RegExp(`lifetime\\s+2 inferences, ${tokens} tokens`));
  });
});
