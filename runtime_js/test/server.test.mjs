// The server example (rust_example/demo/js/server.cjs) in a child process: while
// a 5 s proof runs through manager.run(), its health endpoint answers at once;
// a panic in a proof answers that request with a typed error, and it serves on.
import test from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { PKG, LATE_MS } from './helpers.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const SERVER = path.join(ROOT, 'rust_example/demo/js/server.cjs');

function get(port, route) {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    http
      .get({ port, path: route, agent: false }, (response) => {
        let body = '';
        response.on('data', (chunk) => (body += chunk));
        response.on('end', () => resolve({ status: response.statusCode, body: JSON.parse(body), ms: performance.now() - started }));
      })
      .on('error', reject);
  });
}

test(
  'an HTTP server answers health requests while a 5 s proof runs, and a panicking proof gets a typed error',
  { skip: PKG !== path.join(ROOT, 'build/pkg') && 'the server example loads build/pkg' },
  async () => {
    const server = spawn(process.execPath, [SERVER, '0'], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      const port = await new Promise((resolve, reject) => {
        server.stdout.on('data', (chunk) => {
          const match = /listening on (\d+)/.exec(String(chunk));
          if (match) resolve(Number(match[1]));
        });
        server.on('exit', (code) => reject(new Error(`the server exited with ${code}`)));
      });
      // Long enough for 20 requests on a slow, busy machine; a blocked event loop
      // would answer the first only when the proof ends.
      const proof = get(port, '/prove?ms=5000');
      let proved = false;
      proof.then(() => (proved = true));
      await new Promise((r) => setTimeout(r, 100));
      const health = [];
      for (let i = 0; i < 20; i++) {
        health.push(await get(port, '/health'));
        await new Promise((r) => setTimeout(r, 40));
      }
      assert.equal(proved, false, 'the 20 health requests were answered during the proof');
      for (const [i, h] of health.entries()) {
        assert.equal(h.status, 200);
        assert.ok(h.ms < LATE_MS, `health request ${i} took ${h.ms.toFixed(1)} ms`);
      }
      assert.equal(health[10].body.stats.running, 1, 'the proof shows as running');
      const done = await proof;
      assert.equal(done.status, 200);
      assert.ok(done.body.provedInMs >= 5000 && done.body.poolThreads >= 1, JSON.stringify(done.body));

      const panic = await get(port, '/panic');
      assert.equal(panic.status, 500);
      assert.equal(panic.body.code, 'ERR_WASM_PANIC');
      assert.match(panic.body.error, /demo panic at index 5000/);
      assert.equal((await get(port, '/health')).status, 200);
      const after = await get(port, '/prove?ms=50');
      assert.equal(after.status, 200, 'the next proof runs on a new pool');
      assert.deepEqual((await get(port, '/health')).body.stats.failures, { ERR_WASM_PANIC: 1 });
    } finally {
      server.kill();
    }
  },
);
