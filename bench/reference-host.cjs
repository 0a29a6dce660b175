'use strict';
// The reference demo's call path, re-implemented minimally for comparison:
// every raw wasm call is an async postMessage with a call id, answered by
// postMessage. (Only calls with plain-number arguments can work this way.)
const { parentPort, workerData } = require('worker_threads');
const glue = require(workerData.glue);
const raw = glue.__wbg_pool.init(workerData.module, workerData.memory);
parentPort.on('message', ({ id, name, args }) => parentPort.postMessage({ id, value: raw[name](...args) }));
