// Rust calls the runtime's JS hooks on each thread (spawnWorkers, threadStarted,
// panic, log). A hook that throws is reported as what it threw, never read as
// "no hook here", which would name another cause.
import test from 'node:test';
import assert from 'node:assert/strict';
import { runtime } from './helpers.mjs';

const HOOK_TASKS = new URL('./fixtures/hook-tasks.mjs', import.meta.url);

test('a spawnWorkers hook that throws makes initThreadPool fail with what it threw', async () => {
  const manager = new runtime.ThreadPoolManager({ numThreads: 2, onLog() {} });
  try {
    const message = await manager.run(HOOK_TASKS, 'startWithSpawnWorkersThrowing', ['no threads today']);
    assert.equal(message, "the runtime's spawnWorkers hook threw RangeError: no threads today");
  } finally {
    await manager.close();
  }
});
