'use strict';
// One process of `make bench`: a chatty SDK inside execute(). A circuit built
// the way a proof SDK's compiler builds one (17 small calls per gate: seven
// wire constructors, a gate constructor, a push, eight frees), outside
// execute(), inside it with the split (those exports run on the caller's
// instance: wbg_patch/wasm/waits.py) and inside it without (splitCalls: false,
// every call crosses to the host); and the CPU-bound Rayon job with and without
// the split. run.cjs starts it free and pinned to one core. Prints JSON on stdout.
const path = require('path');

const PKG = path.join(__dirname, '../build/pkg');
const { ThreadPoolManager } = require(path.join(PKG, 'wbg-pool-manager.cjs'));
const demo = require(path.join(PKG, 'wbg_demo.js'));
const CALLS_PER_GATE = 17;
const GATES = Math.round(100_000 / CALLS_PER_GATE);
const COEFFICIENTS = new Uint8Array(16).map((_, i) => i * 7);

// Builds the circuit: ms per 100,000 calls.
function circuit() {
  const started = performance.now();
  const gates = new demo.GateVector();
  for (let g = 0; g < GATES; g++) {
    const wires = [0, 1, 2, 3, 4, 5, 6].map((col) => new demo.Wire(g, col));
    const gate = new demo.Gate(g % 5, ...wires, COEFFICIENTS);
    gates.add(gate);
    gate.free();
    for (const wire of wires) wire.free();
  }
  const ms = performance.now() - started;
  gates.free();
  return ms;
}

function repeat(times, fn) {
  return Array.from({ length: times }, fn);
}

(async () => {
  const split = new ThreadPoolManager({ numThreads: 2 });
  repeat(2, circuit); // warm-up
  const outside = repeat(7, circuit);
  const inside = await split.execute(() => (circuit(), repeat(7, circuit)));
  const collatz = (manager) => manager.execute(() => repeat(5, () => {
    const started = performance.now();
    demo.collatz_sum(1_000_000);
    return performance.now() - started;
  }));
  const collatzSplit = await collatz(split);
  await split.close();
  const proxied = new ThreadPoolManager({ numThreads: 2, splitCalls: false });
  const insideProxied = await proxied.execute(() => (circuit(), repeat(3, circuit)));
  const collatzProxied = await collatz(proxied);
  await proxied.close();
  process.stdout.write(JSON.stringify({ outside, inside, insideProxied, collatzSplit, collatzProxied }));
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
