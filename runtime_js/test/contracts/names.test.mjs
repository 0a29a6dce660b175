// The first wasm stack a process formats makes V8 decode the module's whole name
// section, once for every thread (a big SDK's few MB of names take 20-30 ms on a
// busy machine). console_error_panic_hook formats a stack before it prints the
// report that a crate on a PoolBuilder contract gives, so the pool's host formats
// one as the pool starts, and the first panic's report does not wait for the
// decode (`make bench`: "first panic of a process"). Told here without timing: a
// spy preloaded on every thread says which thread formats a wasm stack first.
import test from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

// Workers take the process's --require, so this runs on every thread: it notes the
// role of a thread that formats a stack with wasm frames, and formats it as V8 does.
const SPY = `
const { workerData } = require('node:worker_threads');
const place = workerData?.__wbgPoolThread;
const role = place === undefined ? 'the main thread' : place < 0 ? 'the host' : 'a pool thread';
Error.prepareStackTrace = (error, frames) => {
  if (frames.some((frame) => String(frame.getFileName()).startsWith('wasm://'))) {
    require('node:fs').writeSync(2, 'wasm stack formatted on ' + role + '\\n');
  }
  return Error.prototype.toString.call(error) + frames.map((frame) => '\\n    at ' + frame).join('');
};
`;

// Also on each crate's panic=unwind build (issue 20): its panics print the same hook's report.
for (const [kind, variant] of ['wasm-bindgen-rayon', 'poolbuilder-global'].flatMap((k) => [[k, ''], [k, '-unwind']])) {
  test(`${kind}${variant}: the host formats a wasm stack as the pool starts, before the first panic's hook formats one`, () => {
    const dir = path.join(ROOT, 'build', `pkg-${kind}${variant}`);
    const spyDir = fs.mkdtempSync(path.join(os.tmpdir(), 'wbg-spy-'));
    fs.writeFileSync(path.join(spyDir, 'spy.cjs'), SPY);
    const script = `
      const { ThreadPoolManager } = require(${JSON.stringify(path.join(dir, 'wbg-pool-manager.cjs'))});
      const glue = require(${JSON.stringify(path.join(dir, `example_${kind.replace(/-/g, '_')}.js`))});
      const manager = new ThreadPoolManager({ numThreads: 2 });
      (async () => {
        await manager.execute(() => glue.install_panic_hook());
        const error = await manager.execute(() => glue.panic_in_pool(2)).catch((e) => e);
        process.stdout.write(JSON.stringify({ name: error.name, panicMessage: error.panicMessage }));
        await manager.close();
      })();`;
    const child = spawnSync(process.execPath, ['--require', path.join(spyDir, 'spy.cjs'), '-e', script], { encoding: 'utf8', timeout: 30_000 });
    fs.rmSync(spyDir, { recursive: true, force: true });
    assert.equal(child.status, 0, child.stderr);
    assert.deepEqual(JSON.parse(child.stdout), { name: 'WasmPanicError', panicMessage: 'job 1 of 2 failed' });
    const formatted = child.stderr.match(/^wasm stack formatted on .*$/gm) ?? [];
    // The crate's hook formats its stack on the pool thread that panics: the host was first.
    assert.ok(formatted.includes('wasm stack formatted on a pool thread'), child.stderr);
    assert.equal(formatted[0], 'wasm stack formatted on the host', child.stderr);
  });
}
