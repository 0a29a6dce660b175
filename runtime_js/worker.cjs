'use strict';
// ThreadPoolWorker: one Rayon pool thread.
//
// Everything it reports goes straight to the main thread on its own port: the
// host that spawned it is blocked inside wasm while the pool works, so nothing
// routed through the host (console.log included) would arrive in time.
const { workerData } = require('worker_threads');
const { MessageType, postEvent, forwardOutput, kernelThreadId, releaseThread, loadGlue } = require('./protocol.cjs');
const errors = require('./errors.cjs');

const { events, receiver, ordinal, contract } = workerData;
const adapter = require(`./contracts/${contract.kind}.cjs`);
const control = new Int32Array(workerData.control);
const send = (message) => postEvent(events, control, message);
// Rayon's index once the thread runs; until then, the order it was spawned in.
let threadIndex = ordinal;
forwardOutput(send, () => threadIndex);

globalThis.__wbgPoolHooks = {
  threadStarted(index) {
    threadIndex = index;
    send({ type: MessageType.READY, thread: index, tid: kernelThreadId() });
  },
  panic(message, file, line, column, thread) {
    send({ type: MessageType.PANIC, thread: thread >= 0 ? thread : threadIndex, message, file, line, column });
  },
  log(level, target, message, thread) {
    send({ type: MessageType.LOG, thread: thread >= 0 ? thread : threadIndex, level, target, message, time: Date.now() });
  },
};

// A crate's own panic hook (console_error_panic_hook) prints its report: it becomes the panic
// report. wbg-pool's Rust hook reports every panic itself, whatever hook the crate adds.
if (!adapter.rustReports) {
  require('./reports.cjs').watchPanicReports((report) => send({ type: MessageType.PANIC, thread: threadIndex, ...report }));
}

// Say why this thread ends before it goes (a panic was already reported by the
// hook). `throughWasm`: the error came out of the pool's wasm loop, which it
// left mid-way, so even a JS exception counts as a trap.
const crashed = (error, throughWasm = false) =>
  send({ type: MessageType.CRASH, thread: threadIndex, error: errors.serialize(error, threadIndex, throughWasm) });

loadGlue(workerData).then((glue) => {
  try {
    const raw = glue.__wbg_pool.init(workerData.__wbgPoolModule, workerData.__wbgPoolMemory);
    // Contracts whose Rust side does not report the thread's start: it runs from here on.
    if (!adapter.rustReports) send({ type: MessageType.READY, thread: threadIndex, tid: kernelThreadId() });
    try {
      adapter.runWorker(glue, contract, receiver);
    } catch (error) {
      crashed(error, true);
      return;
    }
    releaseThread(raw);
  } catch (error) {
    crashed(error);
  }
}, crashed);
