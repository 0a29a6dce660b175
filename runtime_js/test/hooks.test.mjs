// Rust calls the runtime's JS hooks on each thread (spawnWorkers, threadStarted,
// panic, log). A hook that throws is reported as what it threw, never read as
// "no hook here", which would name another cause.
import test from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { LOAD_PACKAGE, runtime } from './helpers.mjs';

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

// Issue 27, point 11: onLog "receives every log record", also those of calls outside
// execute(). They were lost before any pool (no logger yet), and with a pool warm printed past
// onLog, labelled "pool thread 0" (Rayon's single-thread fallback on the main thread).
test('logs of calls outside execute() reach onLog, labelled the main thread, before and after a pool', () => {
  const child = spawnSync(
    process.execPath,
    [
      '--input-type=module',
      '-e',
      `${LOAD_PACKAGE}
       const logs = [];
       const manager = new runtime.ThreadPoolManager({ numThreads: 2, onLog: (e) => logs.push(e) });
       const record = () => { const n = logs.length; demo.log_from_every_thread(1); return logs.slice(n); };
       const before = record();
       await manager.execute(() => demo.pool_threads());
       const after = record();
       await manager.close();
       process.stdout.write(JSON.stringify({ before, after }));`,
    ],
    { encoding: 'utf8', timeout: 60_000 },
  );
  assert.equal(child.status, 0, child.stderr);
  const { before, after } = JSON.parse(child.stdout);
  for (const logs of [before, after]) {
    assert.deepEqual(logs.map(({ threadIndex, level, target, message }) => ({ threadIndex, level, target, message })), [
      { threadIndex: -2, level: 'info', target: 'wbg_demo', message: 'thread 0 line 0' },
    ]);
  }
  assert.doesNotMatch(child.stderr, /thread 0 line 0/, 'printed past onLog');
});
