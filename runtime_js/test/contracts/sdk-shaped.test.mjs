// Issue 27, point 9: a proof SDK's shape (rust_example/contracts/sdk-shaped:
// its own PoolBuilder-global contract on spmc's channel, a setup object and an
// index that cache in RefCell/Cell) built for panic=unwind after the README's
// smallest changes (build/pkg-sdk-shaped-unwind), and as found, with
// panic=abort (build/pkg-sdk-shaped). The runtime adopts its contract through
// the poolbuilder-global adapter, unchanged. Each scenario runs in a child
// process of its own, as a user's script would.
import test from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const ROWS = 2000;
const PANICS = 101;
// The same inputs in every process: a circuit, a witness, a smaller second
// circuit, and a witness with one value outside the field (the panic on request).
const INPUTS = `
  const ROWS = ${ROWS};
  const coefficients = Uint32Array.from({ length: ROWS }, (_, i) => (i * 7919 + 13) % 1000003);
  const witness = Uint32Array.from({ length: ROWS }, (_, i) => (i * 31 + 7) % 65521);
  const small = coefficients.slice(0, ROWS / 2), smallWitness = witness.slice(0, ROWS / 2);
  const bad = (row) => { const w = witness.slice(); w[row] = 0xffffffff; return w; };
`;

// Runs `body` (ES module code with `runtime`, `glue`, the inputs and
// `report(value)`) in a child process on build/pkg-sdk-shaped(-unwind);
// resolves with what it reported.
function inChild(body, { unwind }) {
  const dir = path.join(ROOT, 'build', unwind ? 'pkg-sdk-shaped-unwind' : 'pkg-sdk-shaped');
  const script = `
    import { createRequire } from 'node:module';
    const require = createRequire(${JSON.stringify(dir + '/')});
    const runtime = require('./wbg-pool-manager.cjs');
    const glue = require('./example_sdk_shaped.js');
    const report = (value) => process.stdout.write(JSON.stringify(value) + '\\n');
    const describe = (e) => ({ name: e.name, code: e.code, message: e.message, panicMessage: e.panicMessage, unwound: e.unwound, threadIndex: e.threadIndex });
    ${INPUTS}
    ${body}
  `;
  return new Promise((resolve, reject) => {
    execFile(process.execPath, ['--input-type=module', '-e', script], { timeout: 60_000 }, (error, stdout, stderr) => {
      if (error?.killed) return reject(new Error(`child hung: no end within 60 s (${error.signal}): ${stderr}`));
      if (error) return reject(new Error(`child failed (${error.code ?? error.signal}): ${stderr}`));
      resolve(stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l)));
    });
  });
}

// The proofs computed from scratch on the main thread's own instance, with no
// manager and no pool: fresh objects, the sequential export.
async function freshLocal(unwind) {
  const [local] = await inChild(
    `const srs = new glue.Srs(4096, 5);
     report({ proof: glue.prove_sequential(srs, new glue.Index(srs, coefficients), witness),
              small: glue.prove_sequential(srs, new glue.Index(srs, small), smallWitness) });`,
    { unwind },
  );
  return local;
}

const PANIC_MESSAGE = /^witness value 4294967295 at row (\d+) is not below the modulus 2147483647 \(on pool thread \d+\)$/;

test(`sdk-shaped (panic=unwind): setup and index objects made before ${PANICS} pool-thread panics give a fresh local computation's results; each panic is a typed WasmPanicError and the next call works`, async () => {
  const local = await freshLocal(true);
  const reports = await inChild(
    `const manager = new runtime.ThreadPoolManager({ numThreads: 2 });
     const srs = await manager.execute(() => new glue.Srs(4096, 5));
     const index = await manager.execute(() => new glue.Index(srs, coefficients));
     const before = await manager.execute(() => glue.prove(srs, index, witness));
     report({ before, threads: await manager.execute(() => glue.pool_threads()) });
     for (let i = 0; i < ${PANICS}; i++) {
       const row = (i * 37) % ROWS;
       let panic;
       try { panic = { value: await manager.execute(() => glue.prove(srs, index, bad(row))) }; } catch (e) { panic = describe(e); }
       report({ row, panic, next: await manager.execute(() => glue.prove(srs, index, witness)) });
     }
     // Index, prove and verify with the setup made before the panics, and verify the first proof.
     const smallIndex = await manager.execute(() => new glue.Index(srs, small));
     const smallProof = await manager.execute(() => glue.prove(srs, smallIndex, smallWitness));
     report({
       after: await manager.execute(() => glue.prove(srs, index, witness)),
       sequential: glue.prove_sequential(srs, index, witness),
       verified: await manager.execute(() => glue.verify(srs, index, witness, before)),
       smallProof, smallVerified: await manager.execute(() => glue.verify(srs, smallIndex, smallWitness, smallProof)),
       proofs: index.proofs(), cachedBases: srs.cachedBases(), poolStarts: manager.stats().poolStarts,
     });
     await manager.close();`,
    { unwind: true },
  );
  const first = reports.shift();
  const last = reports.pop();
  assert.deepEqual(first, { before: local.proof, threads: 2 });
  assert.equal(reports.length, PANICS);
  for (const { row, panic, next } of reports) {
    assert.equal(panic.name, 'WasmPanicError', `row ${row}: ${panic.message ?? JSON.stringify(panic)}`);
    assert.equal(panic.code, 'ERR_WASM_PANIC');
    assert.equal(panic.unwound, true, `row ${row}: the panic reset the memory`);
    assert.match(panic.panicMessage, PANIC_MESSAGE, `row ${row}`);
    assert.equal(Number(panic.panicMessage.match(PANIC_MESSAGE)[1]), row);
    assert.equal(next, local.proof, `the call after the panic at row ${row}`);
  }
  assert.deepEqual(last, {
    after: local.proof,
    sequential: local.proof,
    verified: true,
    smallProof: local.small,
    smallVerified: true,
    // Counted only once made (the promise behind `impl RefUnwindSafe for Index`):
    // the first proof, one after each panic, the last one; none of the panicked ones.
    proofs: 1 + PANICS + 1,
    // One basis per circuit size, each cached once, none left half-made by a panic.
    cachedBases: 2,
    // No reset: the pool of the first call served them all.
    poolStarts: 1,
  });
});

test('sdk-shaped (panic=abort, as found): a pool-thread panic is a typed WasmPanicError; objects made before are stale, and the next call on fresh ones gives the local result', async () => {
  const local = await freshLocal(false);
  const [panic, stale, next] = await inChild(
    `const manager = new runtime.ThreadPoolManager({ numThreads: 2 });
     const srs = await manager.execute(() => new glue.Srs(4096, 5));
     const index = await manager.execute(() => new glue.Index(srs, coefficients));
     try { report({ value: await manager.execute(() => glue.prove(srs, index, bad(1000))) }); } catch (e) { report(describe(e)); }
     try { report({ value: await manager.execute(() => glue.prove(srs, index, witness)) }); } catch (e) { report(describe(e)); }
     const fresh = await manager.execute(() => new glue.Srs(4096, 5));
     report({ value: await manager.execute(() => glue.prove(fresh, new glue.Index(fresh, coefficients), witness)), poolStarts: manager.stats().poolStarts });
     await manager.close();`,
    { unwind: false },
  );
  assert.equal(panic.name, 'WasmPanicError', panic.message);
  assert.equal(panic.code, 'ERR_WASM_PANIC');
  assert.equal(panic.unwound, false);
  // No panic hook in the crate: the trap names the pool thread and the crate's function.
  assert.match(panic.message, /^Rust panicked on pool thread \d+ in example_sdk_shaped::/);
  assert.ok(panic.threadIndex >= 0, `thread ${panic.threadIndex}`);
  // The memory was reset: what the SDK cached is gone, and says so.
  assert.equal(stale.name, 'StaleObjectError', stale.message);
  assert.deepEqual(next, { value: local.proof, poolStarts: 2 });
});
