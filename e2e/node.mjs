// Shared helpers for the end-to-end suite: start a real `aria node` on loopback ports
// with a throwaway data dir, wait until it is healthy, and stop it again.
//
// The binary is $ARIA_BIN (the Makefile passes an absolute path); when unset it falls
// back to ../bin/aria relative to this file, so `node --test` works from e2e/ after
// `make build`.

import { spawn } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';

import OpenAI from 'openai';

export const MODEL = 'aria-tiny-1bit';
export const HOST = '127.0.0.1';

const HEALTH_TIMEOUT_MS = 60_000;
const STOP_GRACE_MS = 15_000;
const STDERR_KEEP = 64 * 1024;

const here = path.dirname(fileURLToPath(import.meta.url));

/** The aria binary under test. */
export function ariaBin() {
  const bin = process.env.ARIA_BIN ? path.resolve(process.env.ARIA_BIN) : path.resolve(here, '..', 'bin', 'aria');
  if (!existsSync(bin)) {
    throw new Error(`aria binary not found at ${bin}: run \`make build\` or set ARIA_BIN to its absolute path`);
  }
  return bin;
}

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, HOST, () => {
      const { port } = srv.address();
      srv.close((err) => (err ? reject(err) : resolve(port)));
    });
  });
}

// Children still alive when this process exits (a crashed test file, Ctrl-C) are
// killed and their data dirs removed, so no stray node outlives the suite.
const live = new Set();
process.on('exit', () => {
  for (const n of live) {
    try { n.proc.kill('SIGKILL'); } catch { /* already gone */ }
    if (n.ownsDataDir) {
      try { rmSync(n.dataDir, { recursive: true, force: true }); } catch { /* best effort */ }
    }
  }
});

/**
 * Starts a node and waits for GET /health to answer 200.
 * @param {object} [opts]
 * @param {string[]} [opts.args] extra arguments for `aria node start` (e.g. ['--slots', '1'])
 * @param {number} [opts.threads] --threads (default 1: the CI machine has 2 cores)
 * @param {number} [opts.healthTimeoutMs]
 * @param {string} [opts.dataDir] use this data dir and keep it when the node stops (restart tests);
 *   default: a fresh temp dir removed on stop
 * @returns {Promise<{baseURL: string, url: string, port: number, peerPort: number,
 *   dataDir: string, proc: import('node:child_process').ChildProcess,
 *   stderr: () => string, stop: () => Promise<{code: number|null, signal: string|null}>}>}
 */
export async function startNode({ args = [], threads = 1, healthTimeoutMs = HEALTH_TIMEOUT_MS, dataDir } = {}) {
  const bin = ariaBin();
  // A port picked by freePort can be taken by someone else before the node binds it;
  // the node then exits at once ("address already in use") and we try new ports.
  let lastErr;
  for (let attempt = 1; attempt <= 3; attempt++) {
    const node = await spawnNode(bin, args, threads, dataDir);
    try {
      await waitHealthy(node, healthTimeoutMs);
      return node;
    } catch (err) {
      lastErr = err;
      await node.stop();
      if (!/address already in use/i.test(node.stderr())) break;
    }
  }
  throw lastErr;
}

async function spawnNode(bin, args, threads, givenDataDir) {
  const port = await freePort();
  const peerPort = await freePort();
  const dataDir = givenDataDir ?? await mkdtemp(path.join(os.tmpdir(), 'aria-e2e-'));
  const ownsDataDir = !givenDataDir;
  // The suite is the owner using its own node: full CPU unless a test sets --cpu.
  const cpu = args.includes('--cpu') ? [] : ['--cpu', '100'];
  // Loopback only: the peer protocol and libp2p bind 127.0.0.1, and no mDNS, unless a test says otherwise.
  const net = [];
  if (!args.includes('--peer-host')) net.push('--peer-host', HOST);
  if (!args.includes('--listen-p2p')) net.push('--listen-p2p', `/ip4/${HOST}/tcp/0`);
  if (!args.includes('--mdns-service')) net.push('--no-mdns');
  const argv = ['node', 'start', '--data-dir', dataDir, '--api-port', String(port), '--port', String(peerPort),
    '--host', HOST, '--threads', String(threads), ...cpu, ...net, ...args];
  const env = { ...process.env };
  // Flags win over these anyway; drop them so a developer's shell cannot leak in.
  delete env.ARIA_API_PORT;
  delete env.ARIA_NODE_PORT;
  delete env.ARIA_HOME;
  const proc = spawn(bin, argv, { env, stdio: ['ignore', 'pipe', 'pipe'] });

  let err = '';
  const keep = (chunk) => {
    err += chunk.toString('utf8');
    if (err.length > STDERR_KEEP) err = err.slice(-STDERR_KEEP);
  };
  proc.stderr.on('data', keep);
  proc.stdout.on('data', keep);

  let exitInfo = null;
  const exited = new Promise((resolve) => {
    proc.on('exit', (code, signal) => {
      exitInfo = { code, signal };
      resolve(exitInfo);
    });
    proc.on('error', (e) => {
      err += `\nspawn error: ${e.message}`;
      exitInfo = { code: null, signal: null, error: e };
      resolve(exitInfo);
    });
  });

  const node = {
    port,
    peerPort,
    dataDir,
    ownsDataDir,
    proc,
    url: `http://${HOST}:${port}`,
    baseURL: `http://${HOST}:${port}/v1`,
    argv: [bin, ...argv],
    stderr: () => err,
    exited,
    exitInfo: () => exitInfo,
    stop: null,
  };

  /** kill -9: no shutdown at all (crash tests). */
  node.kill = async () => {
    if (!exitInfo) proc.kill('SIGKILL');
    await exited;
    live.delete(node);
    return exitInfo;
  };

  let stopping = null;
  node.stop = () => {
    stopping ??= (async () => {
      if (!exitInfo) {
        proc.kill('SIGTERM');
        // Unref'd timers: a pending grace timer must not keep the test process alive.
        const t = await Promise.race([exited, sleep(STOP_GRACE_MS, 'timeout', { ref: false })]);
        if (t === 'timeout') {
          err += `\n[e2e] node did not exit within ${STOP_GRACE_MS} ms of SIGTERM: SIGKILL`;
          proc.kill('SIGKILL');
          await Promise.race([exited, sleep(5_000, 'timeout', { ref: false })]);
        }
      }
      live.delete(node);
      if (ownsDataDir) await rm(dataDir, { recursive: true, force: true, maxRetries: 3 });
      return exitInfo;
    })();
    return stopping;
  };

  live.add(node);
  return node;
}

async function waitHealthy(node, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer yet';
  while (Date.now() < deadline) {
    const info = node.exitInfo();
    if (info) {
      throw new Error(`aria node exited before it was healthy (code ${info.code}, signal ${info.signal})\n` +
        `command: ${node.argv.join(' ')}\n--- node stderr ---\n${node.stderr()}`);
    }
    try {
      const res = await fetch(`${node.url}/health`, { signal: AbortSignal.timeout(2_000) });
      const body = await res.text();
      if (res.status === 200) return;
      last = `HTTP ${res.status}: ${body.slice(0, 500)}`;
    } catch (e) {
      last = e.cause?.code ?? e.message;
    }
    await sleep(100);
  }
  throw new Error(`aria node not healthy after ${timeoutMs} ms (last /health: ${last})\n` +
    `command: ${node.argv.join(' ')}\n--- node stderr ---\n${node.stderr()}`);
}

/** An OpenAI SDK client for the node: no retries (errors are what tests look at). */
export function client(node, opts = {}) {
  return new OpenAI({ baseURL: node.baseURL, apiKey: 'aria', maxRetries: 0, timeout: 30_000, ...opts });
}

/** GET a JSON endpoint of the node (path from the root, e.g. '/v1/status'). */
export async function getJSON(node, p, init = {}) {
  const res = await fetch(node.url + p, { signal: AbortSignal.timeout(10_000), ...init });
  const text = await res.text();
  let body;
  try { body = JSON.parse(text); } catch { body = text; }
  return { status: res.status, headers: res.headers, body };
}

/** Polls fn() every intervalMs until it returns a truthy value; fails after timeoutMs. */
export async function waitFor(fn, { timeoutMs = 10_000, intervalMs = 50, what = 'condition' } = {}) {
  const deadline = Date.now() + timeoutMs;
  let last;
  while (Date.now() < deadline) {
    last = await fn();
    if (last) return last;
    await sleep(intervalMs);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

/** Non-streaming chat request with the suite's defaults. */
export function chatBody(overrides = {}) {
  return {
    model: MODEL,
    messages: [{ role: 'user', content: 'Tell me about the sea.' }],
    max_tokens: 16,
    ...overrides,
  };
}

/** Runs a streamed completion and gathers what a client would see. */
export async function collectStream(c, body, reqOpts = {}) {
  const stream = await c.chat.completions.create({ ...body, stream: true }, reqOpts);
  const chunks = [];
  const texts = [];
  const finish = [];
  let usage = null;
  for await (const chunk of stream) {
    chunks.push(chunk);
    if (chunk.usage) usage = chunk.usage;
    for (const ch of chunk.choices) {
      texts[ch.index] = (texts[ch.index] ?? '') + (ch.delta?.content ?? '');
      if (ch.finish_reason) finish[ch.index] = ch.finish_reason;
    }
  }
  return { chunks, texts, text: texts[0] ?? '', finish, usage };
}
