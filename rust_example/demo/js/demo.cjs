'use strict';
// The demo: a Rayon job in a pool of Node workers, logs from its threads, and
// with --panic, a panic on a pool thread that reaches the user as an error.
//   make demo            make demo ARGS=--panic
const path = require('path');
const pkg = path.join(__dirname, '../../../build/pkg');
const { ThreadPoolManager, WasmPanicError } = require(path.join(pkg, 'wbg-pool-manager.cjs'));
const demo = require(path.join(pkg, 'wbg_demo.js'));

const LIMIT = 3_000_000;
// At least 3 threads, so the logs show several pool threads even on a 2-core machine.
const manager = new ThreadPoolManager({ heartbeatTimeoutMs: 5000, numThreads: Math.max(3, require('os').availableParallelism() - 1) });

async function main() {
  const panic = process.argv.includes('--panic');
  console.log(`pool: ${manager.numThreads} threads (a ThreadPoolHost worker + ${manager.numThreads} ThreadPoolWorkers)`);
  const started = Date.now();
  const [sum, threads] = await manager.execute(() => {
    demo.log_from_every_thread(1);
    return [demo.collatz_sum(LIMIT), demo.pool_threads()];
  });
  console.log(`collatz_sum(${LIMIT}) = ${sum} on ${threads} pool threads in ${Date.now() - started} ms`);
  if (panic) {
    console.log('now a job that panics on a pool thread at index 5000 of 10000 ...');
    await manager.execute(() => demo.panic_at(10_000, 5_000));
  }
  await manager.close();
}

main().catch(async (error) => {
  if (error instanceof WasmPanicError) {
    console.error(`error: ${error.message}`);
    console.error(`  location: ${error.location.file}:${error.location.line}:${error.location.column}, thread ${error.threadIndex}`);
  } else {
    console.error(error);
  }
  await manager.close();
  process.exitCode = 1;
});
