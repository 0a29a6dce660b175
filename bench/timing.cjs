'use strict';
// What the bench's processes share to time calls.

// Per-call times of `call` in µs, timed in batches so timer cost stays out.
function perCall(call, batches, batch) {
  const out = [];
  for (let b = 0; b < batches; b++) {
    const t = performance.now();
    for (let i = 0; i < batch; i++) call();
    out.push(((performance.now() - t) * 1000) / batch);
  }
  return out;
}

module.exports = { perCall };
