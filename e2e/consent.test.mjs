// Consent: a real node refuses remote work outside its schedule or for task types it
// does not accept, with the reason, while its owner's requests are served; a bad
// contract stops the node at start with a message naming the field.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

import { MODEL, ariaBin, getJSON, startNode } from './node.mjs';

function closedWindow() {
  // A one-minute window twelve hours from now, in UTC: certainly closed for this test.
  const d = new Date(Date.now() + 12 * 3600_000);
  const hh = String(d.getUTCHours()).padStart(2, '0');
  const mm = String(d.getUTCMinutes()).padStart(2, '0');
  const e = new Date(d.getTime() + 60_000);
  return `${hh}:${mm}-${String(e.getUTCHours()).padStart(2, '0')}:${String(e.getUTCMinutes()).padStart(2, '0')}`;
}

async function chat(node, { remote = false, content = 'hello', taskType } = {}) {
  const headers = { 'Content-Type': 'application/json' };
  if (remote) headers['X-Aria-Origin'] = 'remote';
  if (taskType) headers['X-Aria-Task-Type'] = taskType;
  const res = await fetch(`${node.url}/v1/chat/completions`, {
    method: 'POST', headers, signal: AbortSignal.timeout(30_000),
    body: JSON.stringify({ model: MODEL, max_tokens: 4, messages: [{ role: 'user', content }] }),
  });
  return { status: res.status, retryAfter: res.headers.get('retry-after'), body: await res.json() };
}

describe('consent contract on a real node', { timeout: 120_000 }, () => {
  let node;
  const schedule = closedWindow();
  before(async () => {
    node = await startNode({ args: ['--schedule', schedule, '--task-types', 'text_gen,summarization', '--max-concurrent', '1'] });
  }, { timeout: 70_000 });
  after(async () => { await node?.stop(); }, { timeout: 30_000 });

  test('remote work outside the schedule is refused with the reason', { timeout: 20_000 }, async () => {
    const r = await chat(node, { remote: true });
    assert.equal(r.status, 503);
    assert.equal(r.body.error.code, 'outside_schedule');
    assert.equal(r.body.error.type, 'service_unavailable_error');
    assert.match(r.body.error.message, new RegExp(schedule));
    assert.ok(Number(r.retryAfter) > 0, `Retry-After ${r.retryAfter}`);
  });

  test("the owner's request is served all the same", { timeout: 20_000 }, async () => {
    const r = await chat(node, { content: 'Write a Python function to sort a list' });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.choices.length, 1);
  });

  test('/v1/status and aria node status show the contract and why work is refused', { timeout: 20_000 }, async () => {
    const { body } = await getJSON(node, '/v1/status');
    assert.equal(body.consent.accepting, false);
    assert.equal(body.consent.reason.code, 'outside_schedule');
    assert.equal(body.consent.contract.schedule, schedule);
    assert.deepEqual(body.consent.contract.task_types, ['text_gen', 'summarization']);
    assert.equal(body.consent.contract.max_concurrent_tasks, 1);
    assert.equal(body.consent.contract.cpu_percent, 100);
    const { stdout } = await promisify(execFile)(ariaBin(), ['node', 'status', '--node-port', String(node.peerPort), '--node-host', '127.0.0.1'], { timeout: 10_000 });
    assert.match(stdout, /NOT accepting: consent: outside schedule/);
    assert.match(stdout, /task types text_gen,summarization, max concurrent 1/);
  });
});

describe('task types on a real node', { timeout: 120_000 }, () => {
  let node;
  before(async () => {
    node = await startNode({ args: ['--task-types', 'text_gen'] });
  }, { timeout: 70_000 });
  after(async () => { await node?.stop(); }, { timeout: 30_000 });

  test('a remote code request is refused, a remote chat is served', { timeout: 30_000 }, async () => {
    const code = await chat(node, { remote: true, content: 'Fix this bug: ```go\nfunc main() {}\n```' });
    assert.equal(code.status, 503);
    assert.equal(code.body.error.code, 'task_type_not_allowed');
    assert.match(code.body.error.message, /code_gen/);
    const declared = await chat(node, { remote: true, content: 'anything', taskType: 'translation' });
    assert.equal(declared.body.error?.code, 'task_type_not_allowed');
    const ok = await chat(node, { remote: true, content: 'Tell me about the weather in spring' });
    assert.equal(ok.status, 200, JSON.stringify(ok.body));
  });
});

describe('contract validation at start', { timeout: 60_000 }, () => {
  for (const [args, field] of [
    [['--cpu', '0'], /cpu_percent "0".*--cpu/],
    [['--max-concurrent', '0'], /max_concurrent_tasks "0".*--max-concurrent/],
    [['--schedule', '9-5'], /schedule "9-5".*HH:MM-HH:MM/],
    [['--timezone', 'Mars/Olympus'], /timezone "Mars\/Olympus"/],
    [['--days', 'someday'], /days "someday"/],
    [['--energy-method', 'guess'], /--energy-method "guess": want auto, rapl or cpu_time/],
    [['--watts-per-core', '-3'], /--watts-per-core -3: want a positive number/],
    [['--config', '/nonexistent/aria.json'], /\/nonexistent\/aria\.json/],
  ]) {
    test(`aria node start ${args.join(' ')} exits 2 naming the field`, { timeout: 20_000 }, async () => {
      const run = promisify(execFile)(ariaBin(), ['node', 'start', '--data-dir', '/nonexistent/never-created', ...args], { timeout: 15_000 });
      await assert.rejects(run, (err) => {
        assert.equal(err.code, 2, `exit code ${err.code}: ${err.stderr}`);
        assert.match(err.stderr, field);
        return true;
      });
    });
  }
});
