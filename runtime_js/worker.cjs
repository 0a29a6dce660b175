'use strict';
// ThreadPoolWorker: one Rayon pool thread.
//
// Everything it reports goes straight to the main thread on its own port: the
// host that spawned it is blocked inside wasm while the pool works, so nothing
// routed through the host (console.log included) would arrive in time.
const platform = require('./platform/index.cjs');
const { MessageType, Slot, Hook } = require('./protocol.cjs');
const { joinPool, attachGlue, countWaits, releaseThread } = require('./thread.cjs');
const errors = require('./errors.cjs');

// Rayon's index once the thread runs; until then, the order it was spawned in.
const workerData = platform.threadData();
let threadIndex = workerData.ordinal;
const { adapter, control, send, hooks } = joinPool(workerData, () => threadIndex);
const ready = () => {
  send({ type: MessageType.READY, thread: threadIndex, tid: platform.kernelThreadId() });
  Atomics.add(control, Slot.STARTED, 1);
  Atomics.notify(control, Slot.STARTED);
};
hooks[Hook.THREAD_STARTED] = (index) => {
  threadIndex = index;
  ready();
};

// Say why this thread ends before it goes (a panic was already reported by the
// hook). `throughWasm`: the error came out of the pool's wasm loop, which it
// left mid-way, so even a JS exception counts as a trap.
const crashed = (error, throughWasm = false) =>
  send({ type: MessageType.CRASH, thread: threadIndex, error: errors.serialize(error, threadIndex, throughWasm) });

function run({ glue, raw }) {
  countWaits(raw, workerData.__wbgPoolMemory, workerData.waitCount);
  // Contracts whose Rust side does not report the thread's start: it runs from here on.
  if (!adapter.rustReports) ready();
  try {
    adapter.runWorker(glue, workerData.contract, workerData.receiver);
  } catch (error) {
    crashed(error, true);
    return;
  }
  releaseThread(raw);
  // A browser's Worker lives on with nothing to do, and the host waits for each to end.
  platform.exitThread();
}

attachGlue(workerData)
  .then(run)
  .catch((error) => crashed(error));
