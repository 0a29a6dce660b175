'use strict';
// ThreadPoolWorker: one Rayon pool thread.
//
// Everything it reports goes straight to the main thread on its own port: the
// host that spawned it is blocked inside wasm while the pool works, so nothing
// routed through the host (console.log included) would arrive in time.
const { workerData } = require('worker_threads');
const { MessageType, Hook } = require('./protocol.cjs');
const { joinPool, attachGlue, releaseThread } = require('./thread.cjs');
const { kernelThreadId } = require('./threads.cjs');
const errors = require('./errors.cjs');

// Rayon's index once the thread runs; until then, the order it was spawned in.
let threadIndex = workerData.ordinal;
const { adapter, send, hooks } = joinPool(workerData, () => threadIndex);
const ready = () => send({ type: MessageType.READY, thread: threadIndex, tid: kernelThreadId() });
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
  // Contracts whose Rust side does not report the thread's start: it runs from here on.
  if (!adapter.rustReports) ready();
  try {
    adapter.runWorker(glue, workerData.contract, workerData.receiver);
  } catch (error) {
    crashed(error, true);
    return;
  }
  releaseThread(raw);
}

attachGlue(workerData)
  .then(run)
  .catch((error) => crashed(error));
