'use strict';
// make bench: every figure is a median over repeated runs (with min/max), and
// every comparison a ratio measured in this same run. Prints a table, writes
// bench/results.json. Runtime figures come from the demo package in build/pkg;
// the panic rows also from the wasm-bindgen-rayon fixture (build/pkg-wasm-bindgen-rayon),
// the panic=unwind rows from the demo built for unwinding (build/pkg-unwind), and
// the browser rows from the `--target web` builds in headless Chromium and Firefox
// (bench/browser/).
const fs = require('fs');
const os = require('os');
const path = require('path');
const { execFileSync, spawnSync } = require('child_process');
const { growNames } = require('./names.cjs');
const { perCall } = require('./timing.cjs');

const ROOT = path.join(__dirname, '..');
const PKG = path.join(ROOT, 'build/pkg');
const { ThreadPoolManager, HeartbeatTimeoutError, CallTimeoutError } = require(path.join(PKG, 'wbg-pool-manager.cjs'));
const demo = require(path.join(PKG, 'wbg_demo.js'));
const CORES = os.availableParallelism();
const rows = [];
const results = { machine: machine(), date: new Date().toISOString(), figures: {} };

function machine() {
  const cpu = os.cpus()[0];
  return `${os.availableParallelism()} cores (${cpu ? cpu.model.trim() : 'unknown cpu'}), ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}, ${os.platform()} ${os.release()}`;
}

function stats(samples) {
  const s = [...samples].sort((a, b) => a - b);
  const at = (q) => s[Math.min(s.length - 1, Math.floor(q * s.length))];
  return { median: at(0.5), p99: at(0.99), min: s[0], max: s[s.length - 1], n: s.length };
}

function record(key, label, samples, unit, note = '') {
  const st = stats(samples);
  results.figures[key] = { ...st, unit };
  rows.push([label, st.median, st.p99, st.min, st.max, unit, note]);
  return st;
}

function ratio(key, label, value, note = '') {
  results.figures[key] = { ratio: value };
  rows.push([label, value, null, null, null, 'x', note]);
}

function progress(what) {
  process.stderr.write(`bench: ${what}\n`);
}

// Where a child process of the bench runs: with free cores, and pinned to one
// core (taskset -c 0, what a loaded server looks like to the pool's threads).
const MODES = [
  { name: 'free', command: [process.execPath], where: 'free cores' },
  { name: 'pinned', command: ['taskset', '-c', '0', process.execPath], where: 'one core' },
];

// Runs bench/<script> with `args` in a process of its own; its stdout is JSON.
function inChild({ name, command, env = {} }, script, args = []) {
  const child = spawnSync(command[0], [...command.slice(1), path.join(__dirname, script), ...args], { encoding: 'utf8', maxBuffer: 1 << 28, env: { ...process.env, ...env } });
  if (child.status !== 0) throw new Error(`bench/${[script, ...args].join(' ')} (${name}) failed: ${child.stderr}`);
  return JSON.parse(child.stdout);
}

// Noop round trips and their CPU cost, free and pinned to one core, each in a
// process of its own with the reference design's stand-in measured in the same run.
function roundTrips() {
  for (const mode of MODES) {
    const { name, where } = mode;
    progress(`noop round trip and CPU per 10 000 calls, ${name === 'free' ? 'free cores' : 'pinned to one core (taskset -c 0)'}`);
    const { proxy, reference } = inChild(mode, 'round-trip.cjs');
    const ours = record(`noop_${name}_proxy_us`, `noop() through the proxy, ${where}`, proxy.perCall, 'µs', 'synchronous');
    const ref = record(`noop_${name}_reference_us`, `noop() through the reference stand-in, ${where}`, reference.perCall, 'µs', 'async postMessage + promise');
    ratio(`noop_${name}_reference_over_proxy`, `reference / wbg-patch, ${where}, median per call`, ref.median / ours.median, name === 'free' ? 'target >= 4' : 'target >= 1');
    const cpu = record(`cpu_${name}_proxy_ms`, `CPU per 10 000 noop() through the proxy, ${where}`, proxy.cpu, 'ms', 'all threads');
    const refCpu = record(`cpu_${name}_reference_ms`, `CPU per 10 000 noop() through the reference stand-in, ${where}`, reference.cpu, 'ms', 'all threads');
    ratio(`cpu_${name}_reference_over_proxy`, `reference / wbg-patch CPU, ${where}`, refCpu.median / cpu.median, 'target >= 1');
  }
}

// A pool-thread panic until execute() rejects, for a crate on wbg-pool (its Rust
// hook reports) and one on wasm-bindgen-rayon (console_error_panic_hook's text
// is the report), free and pinned, 20 panics each in a process of its own.
function panics() {
  for (const mode of MODES) {
    const { name, where } = mode;
    progress(`panic -> rejected execute(), wbg-pool and wasm-bindgen-rayon crates (x20 each), ${where}`);
    const own = inChild(mode, 'panics.cjs', ['wbg-pool', '20']);
    const hooked = inChild(mode, 'panics.cjs', ['wasm-bindgen-rayon', '20']);
    const ours = record(`panic_${name}_wbg_pool_ms`, `panic -> reject, wbg-pool, ${where}`, own.panics, 'ms', "wbg-pool's Rust hook reports; reference: only after its heartbeat timeout");
    const theirs = record(`panic_${name}_wasm_bindgen_rayon_ms`, `panic -> reject, wasm-bindgen-rayon, ${where}`, hooked.panics, 'ms', "console_error_panic_hook's text is the report");
    ratio(`panic_${name}_rayon_over_wbg_pool`, `wasm-bindgen-rayon / wbg-pool panic, ${where}, median`, theirs.median / ours.median, 'target <= 1.5');
    if (name === 'free') record('recovery_ms', 'next execute() after a panic (fresh pool, all threads up)', own.recoveries, 'ms');
  }
}

// The demo built with panic=abort (build/pkg) against panic=unwind (build/pkg-unwind),
// free and pinned, alternating in one process: what a panic costs the caller and the
// next call, what unwinding support costs every call, the module, and the memory
// after many panics (free cores only).
function unwindBuilds() {
  for (const mode of MODES) {
    const { name, where } = mode;
    const memoryPanics = name === 'free' ? 10_000 : 0;
    progress(`panic=abort vs panic=unwind builds (x20 panics each${memoryPanics ? `, then ${memoryPanics} panics for RSS` : ''}), ${where}`);
    const { abort, unwind } = inChild(mode, 'unwind.cjs', [String(memoryPanics)]);
    record(`unwind_${name}_panic_abort_ms`, `panic -> reject, panic=abort build, ${where}`, abort.panics, 'ms', 'the pool fails, the memory is reset');
    record(`unwind_${name}_panic_unwind_ms`, `panic -> reject, panic=unwind build, ${where}`, unwind.panics, 'ms', 'goal <= 1 ms');
    record(`unwind_${name}_next_abort_ms`, `next execute() after a panic, panic=abort build, ${where}`, abort.next, 'ms', 'waits for a fresh pool');
    record(`unwind_${name}_next_unwind_ms`, `next execute() after a panic, panic=unwind build, ${where}`, unwind.next, 'ms', 'the same pool; goal <= 1 ms');
    const median = (samples) => stats(samples).median;
    ratio(`unwind_${name}_noop_ratio`, `noop() in execute(), unwind / abort build, ${where}`, median(unwind.noop) / median(abort.noop), 'goal <= 1.05');
    ratio(`unwind_${name}_collatz_ratio`, `collatz_sum(1e6) on 2 threads, unwind / abort build, ${where}`, median(unwind.collatz) / median(abort.collatz), 'goal <= 1.05');
    if (unwind.rss !== undefined) ratio('unwind_rss_ratio', `RSS after ${memoryPanics} more panics / before, panic=unwind build`, unwind.rss.after / unwind.rss.before, 'goal <= 1.1');
  }
  const size = (pkg) => fs.statSync(path.join(ROOT, pkg, 'wbg_demo_bg.wasm')).size;
  ratio('unwind_module_size_ratio', 'module size, unwind / abort build (.wasm bytes)', size('build/pkg-unwind') / size('build/pkg'), `${size('build/pkg')} -> ${size('build/pkg-unwind')} bytes`);
}

// The first panic of a process, in each contract's fixture grown to a big SDK's
// name section (30 000 more names): V8 decodes the section at the first wasm stack
// the process formats, and console_error_panic_hook formats one before it prints
// its report (wbg-pool's Rust hook formats none).
const FIXTURES = {
  'wbg-pool': ['build/pkg', 'wbg_demo_bg.wasm'],
  'wasm-bindgen-rayon': ['build/pkg-wasm-bindgen-rayon', 'example_wasm_bindgen_rayon_bg.wasm'],
};

function firstPanics() {
  for (const [kind, [pkg, wasm]] of Object.entries(FIXTURES)) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wbg-bench-'));
    fs.cpSync(path.join(ROOT, pkg), dir, { recursive: true });
    const mb = growNames(path.join(dir, wasm), 30_000).toFixed(1);
    progress(`first panic of a process (x10 processes), ${kind} with ${mb} MB of function names`);
    const firsts = Array.from({ length: 10 }, () => inChild(MODES[0], 'panics.cjs', [kind, '1', dir]).panics[0]);
    fs.rmSync(dir, { recursive: true, force: true });
    record(`first_panic_${kind.replace(/-/g, '_')}_ms`, `first panic of a process -> reject, ${kind}, ${mb} MB of names`, firsts, 'ms', 'the host decodes the names as the pool starts');
  }
}

// The main thread's event loop during a 1.5 s job: blocked through execute(),
// free through run() (the job runs as a task on the host).
async function eventLoop() {
  progress('event loop during a 1.5 s pool job: execute() vs run()');
  const manager = new ThreadPoolManager({ numThreads: 2, onLog() {} });
  const prover = path.join(ROOT, 'rust_example/demo/js/prove.cjs');
  await manager.run(prover, 'prove', [1]);
  const gaps = { execute: [], run: [] };
  for (let i = 0; i < 3; i++) {
    for (const [kind, job] of [['execute', () => manager.execute(() => demo.busy(1500))], ['run', () => manager.run(prover, 'prove', [1500])]]) {
      let last = performance.now();
      let maxGap = 0;
      const timer = setInterval(() => {
        const now = performance.now();
        maxGap = Math.max(maxGap, now - last);
        last = now;
      }, 1);
      await job();
      clearInterval(timer);
      gaps[kind].push(Math.max(maxGap, performance.now() - last));
    }
  }
  await manager.close();
  record('event_loop_gap_execute_ms', 'event loop: longest gap during a 1.5 s job, execute()', gaps.execute, 'ms', 'the synchronous proxy blocks');
  record('event_loop_gap_run_ms', 'event loop: longest gap during a 1.5 s job, run()', gaps.run, 'ms', 'timer every 1 ms');
}

async function proxyCost() {
  progress('proxy call cost');
  const manager = new ThreadPoolManager({ numThreads: 2, onLog() {} });
  record('call_local_us', 'noop() on the local instance', perCall(() => demo.noop(), 200, 1000), 'µs');
  const text = 'wasm threads in node '.repeat(4);
  const local = record('shout_local_us', 'shout(84 chars) local', perCall(() => demo.shout(text), 100, 200), 'µs', 'no pool: Rayon runs it on the calling thread');
  const proxied = record('shout_proxy_us', 'shout(84 chars) through the proxy', await manager.execute(() => perCall(() => demo.shout(text), 100, 50)), 'µs', 'malloc and free run locally: one round trip');
  const host = record('shout_host_us', 'shout(84 chars) called on the host itself (a run() task)', [await manager.run(path.join(__dirname, 'host-tasks.cjs'), 'shoutPerCall', [text, 2000])], 'µs', "Rayon's install: a pool thread wakes for it");
  const noop = results.figures.noop_free_proxy_us.median;
  ratio('shout_proxy_over_target', 'shout through the proxy / (noop round trip + 3x local)', proxied.median / (noop + 3 * local.median), 'target <= 1');
  record('shout_crossing_us', 'shout through the proxy minus shout on the host', [proxied.median - host.median], 'µs', 'what crossing threads adds');
  const mb = new Uint8Array(1 << 20).fill(7);
  record('bytes_local_ms', 'xor_bytes(1 MB) local', perCall(() => demo.xor_bytes(mb, 1), 15, 1).map((us) => us / 1000), 'ms');
  record('bytes_proxy_ms', 'xor_bytes(1 MB) through the proxy (2 pool threads)', await manager.execute(() => perCall(() => demo.xor_bytes(mb, 1), 15, 1).map((us) => us / 1000)), 'ms');
  await manager.close();
}

// Calls outside execute() on a wasm-bindgen-rayon crate (route.cjs), free and pinned:
// a small export that cannot wait, with no pool up and with the pool up (it stays
// on the main thread: the same cost), and a parallel one with the pool up (it goes
// to the pool's host: the same cost as inside execute()).
function outsideCalls() {
  for (const mode of MODES) {
    const { name, where } = mode;
    progress(`calls outside execute(), no pool up and pool up, ${where}`);
    const { smallNoPool, smallPoolUp, parallelPoolUp, inside } = inChild(mode, 'outside.cjs');
    const before = record(`outside_${name}_small_no_pool_us`, `byte_sum(32 bytes) outside execute(), no pool up, ${where}`, smallNoPool, 'µs', 'the main thread');
    const after = record(`outside_${name}_small_pool_up_us`, `byte_sum(32 bytes) outside execute(), pool up, ${where}`, smallPoolUp, 'µs', 'cannot wait: stays on the main thread');
    ratio(`outside_${name}_small_ratio`, `byte_sum outside execute(), pool up / no pool up, ${where}`, after.median / before.median, 'goal <= 1.05');
    record(`outside_${name}_small_inside_us`, `byte_sum(32 bytes) inside execute(), ${where}`, inside.small, 'µs', 'cannot wait: runs on the caller instance (splitCalls)');
    const routed = record(`outside_${name}_parallel_pool_up_us`, `sum_of_squares(1000) outside execute(), pool up, ${where}`, parallelPoolUp, 'µs', 'can wait: routed to the host');
    const proxied = record(`outside_${name}_parallel_inside_us`, `sum_of_squares(1000) inside execute(), ${where}`, inside.parallel, 'µs');
    ratio(`outside_${name}_parallel_ratio`, `sum_of_squares routed outside / inside execute(), ${where}`, routed.median / proxied.median, 'goal <= 1.1');
  }
}

// A chatty SDK inside execute() (bench/chatty.cjs), free and pinned: a circuit of 100,000
// small calls outside execute(), inside it with the split and without; collatz with and without.
function chattyCalls() {
  for (const mode of MODES) {
    const { name, where } = mode;
    progress(`chatty calls: a circuit of 100,000 small calls outside and inside execute(), with and without the split, ${where}`);
    const { outside, inside, insideProxied, collatzSplit, collatzProxied } = inChild(mode, 'chatty.cjs');
    const base = record(`chatty_${name}_outside_ms`, `circuit of 100,000 small calls outside execute(), ${where}`, outside, 'ms', 'the main thread');
    const split = record(`chatty_${name}_split_ms`, `the same inside execute(), split, ${where}`, inside, 'ms', 'they cannot wait: the caller instance');
    const proxied = record(`chatty_${name}_proxied_ms`, `the same inside execute(), splitCalls: false, ${where}`, insideProxied, 'ms', 'every call crosses to the host');
    ratio(`chatty_${name}_split_ratio`, `circuit inside execute() with the split / outside, ${where}`, split.median / base.median, 'goal <= 1.3');
    ratio(`chatty_${name}_proxied_ratio`, `circuit inside execute() without the split / outside, ${where}`, proxied.median / base.median);
    const a = record(`chatty_${name}_collatz_split_ms`, `collatz_sum(1e6) inside execute(), split, ${where}`, collatzSplit, 'ms');
    const b = record(`chatty_${name}_collatz_proxied_ms`, `collatz_sum(1e6) inside execute(), splitCalls: false, ${where}`, collatzProxied, 'ms');
    ratio(`chatty_${name}_collatz_ratio`, `collatz_sum with / without the split, ${where}`, a.median / b.median, 'goal <= 1.02');
  }
}

// The browser rows (bench/browser/): the patched `--target web` demo in headless
// Chromium, free and pinned (Chromium's processes inherit the pin), and in headless
// Firefox with free cores, each in a process of its own. Calls from a module Worker,
// except on the page's main thread: its frame gaps while run() holds the pool for a
// 1.5 s job, and the spinOnPage rows (a proxied noop, the gaps during execute()).
const BROWSER_MODES = [
  { ...MODES[0], browser: 'Chromium' },
  { ...MODES[1], browser: 'Chromium' },
  { ...MODES[0], name: 'firefox_free', browser: 'Firefox', env: { WBG_BROWSER: 'firefox' } },
];

function browserRows() {
  for (const mode of BROWSER_MODES) {
    const { name, where, browser } = mode;
    const on = `${browser}, ${where}`;
    progress(`browser: noop, panics (x20, abort and unwind builds), deadlock (x5), collatz on 1 and 2 threads, pool start, frame gaps, spinOnPage, ${on}`);
    const b = inChild(mode, 'browser/run.mjs');
    const ours = record(`browser_${name}_noop_proxy_us`, `browser: noop() through the proxy, from a module Worker, ${on}`, b.noop.proxy, 'µs', 'synchronous (Atomics.wait)');
    const local = record(`browser_${name}_noop_local_us`, `browser: noop() on the worker's own instance, ${on}`, b.noop.local, 'µs');
    ratio(`browser_${name}_noop_proxy_over_local`, `browser: noop() proxied / local, ${on}`, ours.median / local.median);
    record(`browser_${name}_panic_abort_ms`, `browser: panic -> reject, panic=abort build, ${on}`, b.abort.panics, 'ms', 'goal <= 5 ms');
    record(`browser_${name}_next_abort_ms`, `browser: next execute() after a panic, panic=abort build, ${on}`, b.abort.next, 'ms', 'waits for a fresh pool');
    record(`browser_${name}_panic_unwind_ms`, `browser: panic -> reject, panic=unwind build, ${on}`, b.unwind.panics, 'ms');
    record(`browser_${name}_next_unwind_ms`, `browser: next execute() after a panic, panic=unwind build, ${on}`, b.unwind.next, 'ms', 'the same pool; goal <= 1 ms');
    record(`browser_${name}_deadlock_late_ms`, `browser: deadlock -> HeartbeatTimeoutError, minus the 500 ms timeout, ${on}`, b.deadlock, 'ms', 'the module counts its waits');
    const one = record(`browser_${name}_collatz_1_ms`, `browser: collatz_sum(3e6), 1 pool thread, ${on}`, b.collatz[1], 'ms');
    const two = record(`browser_${name}_collatz_2_ms`, `browser: collatz_sum(3e6), 2 pool threads, ${on}`, b.collatz[2], 'ms');
    ratio(`browser_${name}_speedup`, `browser: speedup 2 vs 1 pool threads, ${on}`, one.median / two.median, 'goal >= 1.7 (free cores)');
    record(`browser_${name}_pool_start_ms`, `browser: pool start, 2 threads, until all run, ${on}`, b.poolStart, 'ms');
    record(`browser_${name}_frame_gap_ms`, `browser: the page's longest frame gap during a 1.5 s run() job, ${on}`, b.frames, 'ms', 'goal <= 50 ms; 16.7 ms is every frame at 60 Hz');
    record(`browser_${name}_spin_noop_us`, `browser: noop() through the proxy from the page's main thread, spinOnPage, ${on}`, b.spin.proxy, 'µs', 'the page spins');
    record(`browser_${name}_spin_frame_gap_ms`, `browser: the page's longest frame gap during a 1.5 s execute() job, spinOnPage, ${on}`, b.spin.gaps, 'ms', 'the page is frozen for the call');
  }
}

// The glue's check on every use of an object's address (stale after a memory
// reset): a method call on the patched glue against the same glue without the
// check, and against the unpatched glue, alternating batches so drift hits all.
function staleCheckCost() {
  progress('stale-object check cost (method call: patched, patched without the check, unpatched)');
  const check = 'if (object.__wbg_epoch !== state.epoch) throw new StaleObjectError(object?.constructor?.name, state.resetReason);';
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wbg-bench-'));
  fs.cpSync(PKG, dir, { recursive: true });
  const prelude = path.join(dir, 'wbg-pool/prelude.cjs');
  const code = fs.readFileSync(prelude, 'utf8');
  if (!code.includes(check)) throw new Error('bench: the runtime has no stale-object check to remove; update the bench');
  fs.writeFileSync(prelude, code.replace(check, ''));
  const variants = { patched: demo, unchecked: require(path.join(dir, 'wbg_demo.js')), unpatched: require(path.join(ROOT, 'build/pkg-unpatched/wbg_demo.js')) };
  const objects = Object.fromEntries(Object.entries(variants).map(([k, glue]) => [k, new glue.Histogram(4)]));
  const samples = { patched: [], unchecked: [], unpatched: [] };
  for (let round = 0; round < 100; round++) {
    for (const k of Object.keys(samples)) samples[k].push(...perCall(() => objects[k].bucket(1), 1, 20000).map((us) => us * 1000));
  }
  fs.rmSync(dir, { recursive: true, force: true });
  const patched = record('method_patched_ns', 'method call h.bucket(1), patched glue (local)', samples.patched, 'ns');
  const unchecked = record('method_unchecked_ns', 'the same, patched glue without the stale check', samples.unchecked, 'ns');
  const unpatched = record('method_unpatched_ns', 'the same, unpatched glue', samples.unpatched, 'ns');
  ratio('stale_check_cost', 'stale check: with / without, median per call', patched.median / unchecked.median, 'target <= 1.05');
  ratio('patch_cost_method', 'patched / unpatched glue, median per call', patched.median / unpatched.median);
}

async function failureDetection() {
  progress('failure detection (deadlock x5, spin x5)');
  const manager = new ThreadPoolManager({ numThreads: 2, heartbeatTimeoutMs: 500, onLog() {} });
  const hangs = [];
  for (let i = 0; i < 5; i++) {
    await manager.execute(() => demo.noop()); // a running pool: its start is not timed
    const t = performance.now();
    await manager.execute(() => demo.deadlock()).catch((e) => {
      if (!(e instanceof HeartbeatTimeoutError)) throw e;
    });
    hangs.push(performance.now() - t - 500);
  }
  record('deadlock_over_timeout_ms', 'deadlock -> HeartbeatTimeoutError, minus the 500 ms timeout', hangs, 'ms');
  const spins = [];
  for (let i = 0; i < 5; i++) {
    await manager.execute(() => demo.noop()); // a running pool: its start is not timed
    const t = performance.now();
    await manager.execute(() => demo.spin_forever(), { callTimeoutMs: 500 }).catch((e) => {
      if (!(e instanceof CallTimeoutError)) throw e;
    });
    spins.push(performance.now() - t - 500);
  }
  record('spin_over_timeout_ms', 'spinning pool -> CallTimeoutError, minus callTimeoutMs 500', spins, 'ms');
  await manager.close();
}

function nativeCollatz(limit, threads) {
  const bin = path.join(ROOT, 'rust_example/target/release/collatz_native');
  const out = execFileSync(bin, [String(limit), String(threads), '5'], { encoding: 'utf8' });
  return out.trim().split('\n').map((line) => Number(line.split(' ')[0]));
}

// collatz_sum on 1 to CORES + 1 pool threads, against native Rayon on 1 and CORES:
// which thread count the numThreads default should be (the main thread sleeps in
// execute() and the host waits for Rayon's install, so the pool may have every core).
async function speedup() {
  const limit = 3_000_000;
  const counts = Array.from({ length: CORES + 1 }, (_, i) => i + 1);
  progress(`parallel speedup (collatz_sum(${limit}), ${counts.join(', ')} pool threads, and native 1 vs ${CORES})`);
  const wasm = {};
  for (const threads of counts) {
    const manager = new ThreadPoolManager({ numThreads: threads, onLog() {} });
    const times = await manager.execute(() => {
      const out = [];
      demo.collatz_sum(1000);
      for (let i = 0; i < 5; i++) {
        const t = performance.now();
        demo.collatz_sum(limit);
        out.push(performance.now() - t);
      }
      return out;
    });
    await manager.close();
    wasm[threads] = record(`wasm_${threads}_threads_ms`, `wasm collatz_sum, ${threads} pool thread(s)`, times, 'ms');
  }
  for (const threads of counts.slice(1)) ratio(`wasm_speedup_${threads}`, `wasm speedup ${threads} vs 1 pool threads`, wasm[1].median / wasm[threads].median);
  const n1 = record('native_1_thread_ms', 'native Rayon, 1 thread', nativeCollatz(limit, 1), 'ms');
  const nn = record('native_n_threads_ms', `native Rayon, ${CORES} threads`, nativeCollatz(limit, CORES), 'ms');
  ratio('native_speedup', `native speedup ${CORES} vs 1 threads`, n1.median / nn.median);
  ratio('wasm_over_native', `wasm / native time, ${CORES} threads`, wasm[CORES].median / nn.median);
}

async function poolStart() {
  progress('pool start (1, 2, 4, 8 threads) and idle restart');
  for (const threads of [1, 2, 4, 8]) {
    const samples = [];
    for (let i = 0; i < 5; i++) {
      const manager = new ThreadPoolManager({ numThreads: threads, onLog() {} });
      const t = performance.now();
      // A broadcast needs every pool thread running: this times the whole start.
      await manager.execute(() => demo.log_from_every_thread(0));
      samples.push(performance.now() - t);
      await manager.close();
    }
    record(`pool_start_${threads}_ms`, `pool start, ${threads} thread(s), until all run`, samples, 'ms');
  }
  const stops = [];
  const restarts = [];
  const manager = new ThreadPoolManager({ numThreads: 2, idleShutdownMs: 10, onLog() {} });
  for (let i = 0; i < 5; i++) {
    await manager.execute(() => demo.log_from_every_thread(0));
    const t = performance.now();
    await new Promise((r) => setTimeout(r, 10));
    while (manager.engine.pool !== null || manager.engine.stopping !== null) await (manager.engine.stopping ?? new Promise((r) => setImmediate(r)));
    stops.push(performance.now() - t - 10);
    const r = performance.now();
    await manager.execute(() => demo.log_from_every_thread(0));
    restarts.push(performance.now() - r);
  }
  await manager.close();
  record('idle_stop_ms', 'idle shutdown (clean exit of host + 2 threads)', stops, 'ms');
  record('idle_restart_ms', 'restart after idle shutdown, 2 threads', restarts, 'ms');
}

function memory() {
  progress('memory (RSS with no pool, 2 and 4 threads)');
  const script = (threads) => `
    const { ThreadPoolManager } = require(${JSON.stringify(path.join(PKG, 'wbg-pool-manager.cjs'))});
    const demo = require(${JSON.stringify(path.join(PKG, 'wbg_demo.js'))});
    (async () => {
      if (${threads} > 0) {
        const m = new ThreadPoolManager({ numThreads: ${threads}, onLog() {} });
        await m.execute(() => demo.log_from_every_thread(0));
        process.stdout.write(String(process.memoryUsage().rss));
        await m.close();
      } else process.stdout.write(String(process.memoryUsage().rss));
    })();`;
  const rss = (threads) => Array.from({ length: 3 }, () => Number(spawnSync(process.execPath, ['-e', script(threads)], { encoding: 'utf8' }).stdout) / 2 ** 20);
  const none = record('rss_none_mib', 'RSS, glue loaded, no pool', rss(0), 'MiB');
  for (const threads of [2, 4]) {
    const st = record(`rss_${threads}_mib`, `RSS with a pool of ${threads}`, rss(threads), 'MiB');
    ratio(`rss_${threads}_over_none`, `RSS pool of ${threads} / no pool`, st.median / none.median);
  }
}

function patcher() {
  progress('patcher (in-process and CLI)');
  const out = execFileSync(path.join(ROOT, '.venv/bin/python'), [path.join(__dirname, 'patcher.py')], { encoding: 'utf8' });
  for (const [key, fig] of Object.entries(JSON.parse(out))) {
    results.figures[key] = fig;
    rows.push([fig.label, fig.median, null, fig.min, fig.max, fig.unit, fig.note ?? '']);
  }
}

function printTable() {
  const fmt = (v) => (v === null || v === undefined ? '' : v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2));
  console.log(`\nwbg-patch benchmark — ${results.machine}\n`);
  console.log('| figure | median | p99 | min | max | unit | note |');
  console.log('|---|---:|---:|---:|---:|---|---|');
  for (const [label, med, p99, min, max, unit, note] of rows) console.log(`| ${label} | ${fmt(med)} | ${fmt(p99)} | ${fmt(min)} | ${fmt(max)} | ${unit} | ${note} |`);
}

(async () => {
  roundTrips();
  await eventLoop();
  await proxyCost();
  outsideCalls();
  chattyCalls();
  browserRows();
  staleCheckCost();
  panics();
  unwindBuilds();
  firstPanics();
  await failureDetection();
  await speedup();
  await poolStart();
  memory();
  patcher();
  printTable();
  fs.writeFileSync(path.join(__dirname, 'results.json'), JSON.stringify(results, null, 2) + '\n');
  console.log('\nwrote bench/results.json');
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
