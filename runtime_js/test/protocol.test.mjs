// The main thread and the host talk in numbered calls and answers. Answers out
// of step with the calls would hand every later call an earlier call's result:
// the pool is torn down instead, typed, and the next call gets a new pool.
import test from 'node:test';
import assert from 'node:assert/strict';
import { runtime, runtimeModule, demo } from './helpers.mjs';

const { MessageType } = runtimeModule('./protocol.cjs');
const { postRequest } = runtimeModule('./signal.cjs');

test('an answer to another call than the one waiting fails the pool, and nothing reads a wrong answer', async () => {
  const manager = new runtime.ThreadPoolManager({ numThreads: 2, onLog() {} });
  try {
    assert.equal(await manager.execute(() => demo.collatz_sum(10)), demo.collatz_sum(10));
    const pool = manager.engine.pool;
    await assert.rejects(
      manager.execute(() => {
        // A request nobody waits for: its answer comes first, for the wrong call.
        postRequest(pool.requests, pool.control, { type: MessageType.CALL, id: 1e9, name: 'pool_threads', args: [] });
        return demo.collatz_sum(20);
      }),
      (e) => e instanceof runtime.PoolClosedError && /answer to call 1000000000 arrived while call \d+ \(collatz_sum\) waited/.test(e.message),
    );
    assert.equal(pool.failure instanceof runtime.PoolClosedError, true, 'that pool is failed for good');
    assert.equal(await manager.execute(() => demo.collatz_sum(20)), demo.collatz_sum(20));
    assert.notEqual(manager.engine.pool, pool);
  } finally {
    await manager.close();
  }
});
