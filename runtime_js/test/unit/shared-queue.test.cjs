'use strict';
// The shared-memory queue the browser build reads messages through
// (platform/shared-queue.cjs): its encoding, against structured clone where
// the two agree, and its ring between threads (Node worker_threads here).
const test = require('node:test');
const assert = require('node:assert/strict');
const { deepEqual: looseDeepEqual } = require('node:assert'); // ignores prototypes: for values of another realm
const path = require('node:path');
const fs = require('node:fs');
const vm = require('node:vm');
const { Worker, MessageChannel, receiveMessageOnPort } = require('node:worker_threads');

const MODULE = path.join(__dirname, '../../platform/shared-queue.cjs');
const { createQueue, SharedQueue, DataCloneError, DEFAULT_BYTES } = require(MODULE);

// The next message, waiting on the queue's counter as a blocked thread does.
function nextMessage(queue, timeoutMs = 10000) {
  const { array, index } = queue.signal;
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const seen = Atomics.load(array, index);
    const message = queue.receive();
    if (message !== undefined) return message;
    const left = deadline - performance.now();
    if (left <= 0) throw new Error(`no message within ${timeoutMs} ms`);
    Atomics.wait(array, index, seen, left);
  }
}

// A worker running `body` with the queue module and nextMessage() in scope; `done` settles when it exits.
function runWorker(body, workerData) {
  const source = `
    const { workerData, parentPort } = require('node:worker_threads');
    const { createQueue, SharedQueue } = require(${JSON.stringify(MODULE)});
    ${nextMessage.toString()}
    ${body}`;
  const worker = new Worker(source, { eval: true, workerData });
  const done = new Promise((resolve, reject) => {
    worker.on('error', reject);
    worker.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`the worker exited with code ${code}`))));
  });
  return { worker, done };
}

// One queue used by this thread at both ends.
const local = new SharedQueue(createQueue());
function roundTrip(value) {
  local.post(value);
  const received = local.receive();
  assert.equal(local.receive(), undefined, 'one message in, one out');
  return received;
}

const bytesOf = (view) => new Uint8Array(view.buffer, view.byteOffset, view.byteLength);

test('createQueue: a descriptor whose SharedArrayBuffer stays shared when cloned; the capacity is a power of two', () => {
  const descriptor = createQueue(1024);
  assert.equal(descriptor.buffer.byteLength > 1024, true);
  const writer = new SharedQueue(descriptor);
  const reader = new SharedQueue(structuredClone(descriptor)); // as workerData or postMessage give it
  writer.post('across a clone');
  assert.equal(reader.receive(), 'across a clone');
  assert.equal(new SharedQueue(createQueue()).capacity, DEFAULT_BYTES);
  for (const bad of [1000, 8, 2 ** 31, 1.5]) assert.throws(() => createQueue(bad), RangeError);
  assert.throws(() => new SharedQueue({ buffer: new ArrayBuffer(1024) }), /descriptor made by createQueue/);
});

test('the module runs with only what browsers have too (a realm without Node globals), and reads values of another realm', () => {
  // A fresh realm with the JS built-ins, plus the three web globals the module may use.
  const context = vm.createContext({ TextEncoder, TextDecoder, performance });
  const loaded = { exports: {} };
  vm.runInContext(`(function (module, exports) { ${fs.readFileSync(MODULE, 'utf8')} })`, context)(loaded, loaded.exports);
  const queue = new loaded.exports.SharedQueue(loaded.exports.createQueue(4096));
  // Values of this realm, read by the module's code in the other: kinds are told by their brand, not by instanceof.
  const values = [
    { type: 'call', args: [1n, 'é', [2.5, null]] },
    new Map([[1, new Set([2])]]),
    new Uint16Array([1, 2, 3]).subarray(1),
    new Date(5),
    /x/g,
    'ünïcödé '.repeat(20),
  ];
  for (const value of values) {
    queue.post(value);
    looseDeepEqual(queue.receive(), value);
  }
  queue.post(new TypeError('from here'));
  const error = queue.receive();
  assert.equal(error instanceof vm.runInContext('TypeError', context), true);
  assert.throws(() => queue.post(() => {}), { name: 'DataCloneError' });
});

test('receive() returns undefined on an empty queue', () => {
  const queue = new SharedQueue(createQueue(1024));
  assert.equal(queue.receive(), undefined);
  queue.post(null);
  assert.equal(queue.receive(), null);
  assert.equal(queue.receive(), undefined);
});

test('round trip: primitives, exactly', () => {
  const values = [
    undefined, null, true, false,
    0, -0, 1, -1, 42, 2 ** 31 - 1, -(2 ** 31), 2 ** 31, -(2 ** 31) - 1, 0.1, -1.5e300, NaN, Infinity, -Infinity,
    Number.MAX_VALUE, Number.MIN_VALUE, Number.MAX_SAFE_INTEGER,
    0n, 1n, -1n, 2n ** 63n - 1n, -(2n ** 63n), 2n ** 63n, -(2n ** 63n) - 1n, 2n ** 64n - 1n, -(2n ** 200n) + 7n, 3n ** 5000n, -(7n ** 3000n),
  ];
  for (const value of values) assert.ok(Object.is(roundTrip(value), value), `${String(value)} (${typeof value})`);
});

test('round trip: strings of any UTF-16, exactly', () => {
  const long = 'héllo wörld ✓ 日本語 🎉 '.repeat(5000);
  const strings = [
    '', 'a', 'wbg-pool:call', 'é', 'ÿ'.repeat(64), 'x'.repeat(64), 'x'.repeat(65), '日本', '🎉', '\0', 'a\0b',
    '\uFEFF starts with a BOM', '\uFEFF', long,
    '\uD800', '\uDFFF', 'a\uDC00b', 'x\uD83D', 'a'.repeat(100) + '\uDC00', '\uD83D'.repeat(70), '\uDE00\uD83D',
  ];
  for (const string of strings) {
    const received = roundTrip(string);
    assert.equal(received.length, string.length);
    assert.ok(received === string, `a string of ${string.length} code units starting ${JSON.stringify(string.slice(0, 8))}`);
  }
});

test('round trip: arrays, objects, dates, regexps, maps, sets, boxed primitives, as structured clone gives them', () => {
  class Point {
    constructor() {
      this.x = 1;
      this.y = [2, 3];
    }
    get sum() {
      return this.x + this.y[0];
    }
  }
  const values = [
    [], [1, 'a', [2, [3, [undefined, null]]], { b: 2n }],
    {}, { type: 'wbg-pool:call', id: 42, name: 'sum_range', args: [1n, 11n] },
    { nested: { deeper: { deepest: [-0, NaN, 'ok'] } }, 1: 'index-like key', 'with space': true },
    new Point(), // a class instance: a plain object with its own enumerable data
    Object.assign(Object.create(null), { bare: 1 }),
    { get computed() { return 'read through the getter'; } },
    { [Symbol('ignored')]: 1, kept: 2 },
    new Date(1700000000123), new Date(-8.64e15),
    /a+b/giu, Object.assign(/x/y, { lastIndex: 3 }), new RegExp('[\\uD800-\\uDFFF]', 'u'),
    new Map([[1, 'one'], ['two', 2], [{ key: 'object' }, [1]], [-0, 'minus zero']]),
    new Set([1, 'a', { b: 1 }, 2n, undefined]),
    Object(true), Object(false), Object(-0), Object('boxed'), Object(10n),
    [new Map([['set', new Set([new Date(0), /r/g])]]), { map: new Map() }],
  ];
  for (const value of values) assert.deepStrictEqual(roundTrip(value), structuredClone(value));
  assert.ok(Number.isNaN(roundTrip(new Date(NaN)).getTime()), 'an invalid Date stays invalid');
  // '__proto__' as a key is an own property, as structured clone makes it: it does not set the prototype.
  const received = roundTrip(JSON.parse('{"__proto__": {"polluted": true}, "a": 1}'));
  assert.equal(Object.getPrototypeOf(received), Object.prototype);
  assert.deepEqual(Object.keys(received), ['__proto__', 'a']);
  assert.equal({}.polluted, undefined);
  assert.equal(received.__proto__.polluted, true);
  // Holes arrive as undefined (structured clone keeps them: a documented difference).
  assert.deepStrictEqual(roundTrip([1, , 3]), [1, undefined, 3]); // eslint-disable-line no-sparse-arrays
});

test('round trip: ArrayBuffer, every typed array kind and DataView, with their values', () => {
  const arrays = [
    new Int8Array([-128, -1, 0, 127]),
    new Uint8Array([0, 1, 254, 255]),
    new Uint8ClampedArray([0, 128, 255]),
    new Int16Array([-32768, -1, 32767]),
    new Uint16Array([0, 65535]),
    new Int32Array([-(2 ** 31), -1, 2 ** 31 - 1]),
    new Uint32Array([0, 2 ** 32 - 1]),
    new Float32Array([1.5, -0, NaN, Infinity, -Infinity, 3.4e38]),
    new Float64Array([Math.PI, -0, NaN, -Infinity, Number.MIN_VALUE]),
    new BigInt64Array([-(2n ** 63n), -1n, 2n ** 63n - 1n]),
    new BigUint64Array([0n, 2n ** 64n - 1n]),
    new DataView(new Uint8Array([9, 8, 7, 6]).buffer),
  ];
  if (typeof globalThis.Float16Array === 'function') arrays.push(new globalThis.Float16Array([0.5, -0, NaN]));
  for (const array of arrays) {
    const received = roundTrip(array);
    assert.equal(Object.getPrototypeOf(received), Object.getPrototypeOf(array), array.constructor.name);
    assert.notEqual(received.buffer, array.buffer, 'a copy');
    assert.deepEqual(bytesOf(received), bytesOf(array), `the bytes of a ${array.constructor.name}`);
  }
  const buffer = new Uint8Array([1, 2, 3, 250]).buffer;
  const received = roundTrip(buffer);
  assert.ok(received instanceof ArrayBuffer);
  assert.deepEqual(new Uint8Array(received), new Uint8Array(buffer));
  assert.equal(roundTrip(new ArrayBuffer(0)).byteLength, 0);
});

test('round trip: views keep their byteOffset and length over a copy of their whole buffer, as structured clone does', () => {
  const buffer = new ArrayBuffer(16);
  new Uint8Array(buffer).forEach((_, i, bytes) => (bytes[i] = i));
  const view = new Uint16Array(buffer, 4, 3);
  const dataView = new DataView(buffer, 2, 5);
  for (const value of [view, dataView]) {
    const received = roundTrip(value);
    const expected = structuredClone(value);
    assert.equal(received.byteOffset, expected.byteOffset);
    assert.equal(received.byteLength, expected.byteLength);
    assert.equal(received.buffer.byteLength, 16);
    assert.deepEqual(new Uint8Array(received.buffer), new Uint8Array(buffer));
  }
  // Views of one buffer keep sharing one (copied) buffer, whichever comes first.
  const [a, b, whole] = roundTrip([view, dataView, buffer]);
  assert.equal(a.buffer, b.buffer);
  assert.equal(a.buffer, whole);
  const [first, second] = roundTrip([buffer, view]);
  assert.equal(second.buffer, first);
  // A Node Buffer (a view into a pooled slab) arrives as a Uint8Array, as structured clone gives it.
  const nodeBuffer = Buffer.from('abc');
  const fromNode = roundTrip(nodeBuffer);
  assert.equal(Object.getPrototypeOf(fromNode), Uint8Array.prototype);
  assert.equal(new TextDecoder().decode(fromNode), 'abc');
  assert.equal(fromNode.byteOffset, nodeBuffer.byteOffset);
});

test('round trip: errors keep their class (when standard), name, message, stack, cause and own properties', () => {
  const error = new TypeError('bad argument', { cause: new RangeError('inner') });
  error.code = 'ERR_BAD';
  error.details = { n: 1, list: [1n] };
  const received = roundTrip(error);
  assert.ok(received instanceof TypeError);
  assert.equal(received.name, 'TypeError');
  assert.equal(received.message, 'bad argument');
  assert.equal(received.stack, error.stack);
  assert.ok(received.cause instanceof RangeError);
  assert.equal(received.cause.message, 'inner');
  assert.equal(received.code, 'ERR_BAD');
  assert.deepStrictEqual(received.details, error.details);
  assert.deepEqual(Object.keys(received), ['code', 'details']);
  assert.equal(Object.getOwnPropertyDescriptor(received, 'cause').enumerable, false);

  for (const ErrorClass of [Error, EvalError, RangeError, ReferenceError, SyntaxError, TypeError, URIError]) {
    const copy = roundTrip(new ErrorClass('m'));
    assert.equal(Object.getPrototypeOf(copy), ErrorClass.prototype);
    assert.equal(copy.name, ErrorClass.name);
  }
  class WasmPanicError extends Error {
    constructor(message) {
      super(message);
      this.name = 'WasmPanicError';
      this.location = { file: 'src/lib.rs', line: 7 };
    }
  }
  const custom = roundTrip(new WasmPanicError('panicked'));
  assert.equal(Object.getPrototypeOf(custom), Error.prototype, 'another class arrives as an Error');
  assert.equal(custom.name, 'WasmPanicError');
  assert.equal(custom.message, 'panicked');
  assert.deepEqual(custom.location, { file: 'src/lib.rs', line: 7 });
  assert.match(String(custom), /^WasmPanicError: panicked/);

  assert.equal(roundTrip(new Error()).message, '');
  assert.equal('cause' in roundTrip(new Error('no cause')), false);
  assert.equal(roundTrip(new Error('undefined cause', { cause: undefined })).cause, undefined);
  const domException = roundTrip(new DOMException('stopped', 'AbortError'));
  assert.equal(domException.name, 'AbortError');
  assert.equal(domException.message, 'stopped');
});

test('round trip: shared references and cycles keep their identity', () => {
  const shared = { v: 1 };
  const received = roundTrip({ x: shared, y: [shared], z: new Map([[shared, shared]]) });
  assert.equal(received.x, received.y[0]);
  assert.equal(received.z.get(received.x), received.x);

  const cyclic = { name: 'self' };
  cyclic.self = cyclic;
  cyclic.list = [cyclic, { back: cyclic }];
  const copy = roundTrip(cyclic);
  assert.equal(copy.self, copy);
  assert.equal(copy.list[0], copy);
  assert.equal(copy.list[1].back, copy);

  const array = [];
  array.push(array);
  const arrayCopy = roundTrip(array);
  assert.equal(arrayCopy[0], arrayCopy);

  const set = new Set();
  set.add(set);
  const setCopy = roundTrip(set);
  assert.ok(setCopy.has(setCopy));

  const error = new Error('loops');
  error.cause = error;
  error.self = error;
  const errorCopy = roundTrip(error);
  assert.equal(errorCopy.cause, errorCopy);
  assert.equal(errorCopy.self, errorCopy);
});

test('what structured clone refuses (and what only postMessage can share) throws DataCloneError, naming it', () => {
  const queue = new SharedQueue(createQueue(1024));
  const refused = [
    [function foo() {}, /^function foo could not be cloned$/],
    [[() => {}], /^an anonymous function could not be cloned$/],
    [{ type: 'call', args: [1, { callback: function onDone() {} }] }, /^function onDone could not be cloned$/],
    [Symbol('tag'), /^Symbol\(tag\) could not be cloned$/],
    [{ key: Symbol.iterator }, /^Symbol\(Symbol\.iterator\) could not be cloned$/],
    [new WeakMap(), /^WeakMap object could not be cloned$/],
    [new WeakSet(), /^WeakSet object could not be cloned$/],
    [new WeakRef({}), /^WeakRef object could not be cloned$/],
    [Promise.resolve(1), /^Promise object could not be cloned$/],
    [(function () { return arguments; })(1), /^Arguments object could not be cloned$/],
    [new SharedArrayBuffer(8), /^SharedArrayBuffer object could not be cloned: .*postMessage/],
    [{ view: new Int32Array(new SharedArrayBuffer(8)) }, /^SharedArrayBuffer object could not be cloned/],
    [new WebAssembly.Memory({ initial: 1 }), /^WebAssembly\.Memory object could not be cloned: .*postMessage/],
    [new WebAssembly.Module(new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0])), /^WebAssembly\.Module object could not be cloned/],
  ];
  for (const [value, message] of refused) {
    assert.throws(
      () => queue.post(value),
      (error) => error instanceof DataCloneError && error instanceof Error && error.name === 'DataCloneError' && message.test(error.message),
      String(message),
    );
    assert.equal(queue.receive(), undefined, 'nothing was written');
  }
  queue.post('still usable');
  assert.equal(queue.receive(), 'still usable');
});

test('a 3 MiB message through a 64 KiB queue, worker to main thread: receive() never returns part of it', async () => {
  const descriptor = createQueue(64 * 1024);
  const reader = new SharedQueue(descriptor);
  const size = 3 * 1024 * 1024;
  const { done } = runWorker(
    `const queue = new SharedQueue(workerData.descriptor);
     const big = new Uint8Array(${size});
     for (let i = 0; i < big.length; i++) big[i] = (i * 7) & 255;
     queue.post('before', { timeoutMs: 10000 });
     queue.post({ big }, { timeoutMs: 10000 });
     queue.post('after', { timeoutMs: 10000 });`,
    { descriptor },
  );
  // Polls as a page's main thread would, without waiting.
  const received = [];
  let empty = 0;
  const deadline = performance.now() + 20000;
  while (received.length < 3 && performance.now() < deadline) {
    const message = reader.receive();
    if (message === undefined) empty++;
    else received.push(message);
  }
  await done;
  assert.equal(received.length, 3);
  assert.equal(received[0], 'before');
  assert.equal(received[2], 'after');
  const { big } = received[1];
  assert.ok(big instanceof Uint8Array);
  assert.equal(big.length, size);
  for (let i = 0; i < big.length; i++) if (big[i] !== ((i * 7) & 255)) assert.fail(`byte ${i} is ${big[i]}`);
  // Each receive() takes at most the ring's 64 KiB: the message came in 48 parts or more,
  // and every call before the last part returned undefined.
  assert.ok(empty >= 47, `receive() returned undefined ${empty} times`);
  assert.equal(reader.receive(), undefined);
});

test('a 3 MiB message through a 64 KiB queue, main thread to a worker that waits on the counter', async () => {
  const descriptor = createQueue(64 * 1024);
  const writer = new SharedQueue(descriptor);
  const checksum = (view) => {
    const bytes = new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
    let sum = 0;
    for (let i = 0; i < bytes.length; i++) sum = (sum * 31 + bytes[i]) % 1000000007;
    return sum;
  };
  const { worker, done } = runWorker(
    `const queue = new SharedQueue(workerData.descriptor);
     const { big } = nextMessage(queue);
     const checksum = ${checksum.toString()};
     parentPort.postMessage({ type: big.constructor.name, length: big.length, last: big[big.length - 1], sum: checksum(big) });`,
    { descriptor },
  );
  const answer = new Promise((resolve) => worker.once('message', resolve));
  const big = new Float64Array((3 * 1024 * 1024) / 8).map((_, i) => i / 3);
  writer.post({ big }, { timeoutMs: 10000 }); // returns once the worker took all but the last 64 KiB
  assert.deepEqual(await answer, { type: 'Float64Array', length: big.length, last: big[big.length - 1], sum: checksum(big) });
  await done;
});

test('20,000 messages in order from a worker through a 4 KiB ring (wrapping around all the time)', async () => {
  const count = 20000;
  const descriptor = createQueue(4096);
  const reader = new SharedQueue(descriptor);
  const { done } = runWorker(
    `const queue = new SharedQueue(workerData.descriptor);
     for (let i = 0; i < ${count}; i++) queue.post({ i, text: 'é'.repeat(i % 300) }, { timeoutMs: 10000 });`,
    { descriptor },
  );
  for (let i = 0; i < count; i++) {
    const message = nextMessage(reader);
    if (message.i !== i || message.text !== 'é'.repeat(i % 300)) assert.fail(`message ${i} arrived as ${JSON.stringify(message).slice(0, 80)}`);
  }
  await done;
  assert.equal(reader.receive(), undefined);
});

test('listen() delivers every message in order, after it returns; stop() stops it', async () => {
  const count = 1000;
  const descriptor = createQueue(4096);
  const reader = new SharedQueue(descriptor);
  const writer = new SharedQueue(descriptor);
  writer.post({ i: 0 }); // there before listen()
  const received = [];
  let stop;
  const all = new Promise((resolve) => {
    stop = reader.listen((message) => {
      received.push(message.i);
      if (received.length === count) resolve();
    });
  });
  assert.equal(received.length, 0, 'nothing is delivered inside listen()');
  // The rest come from a worker, while this thread is free (its listener waits with Atomics.waitAsync).
  const { done } = runWorker(
    `const queue = new SharedQueue(workerData.descriptor);
     for (let i = 1; i < ${count}; i++) queue.post({ i }, { timeoutMs: 10000 });`,
    { descriptor },
  );
  await all;
  await done;
  assert.deepEqual(received, [...Array(count).keys()]);
  stop();
  writer.post({ i: 'after stop' });
  await new Promise((resolve) => setTimeout(resolve, 50));
  assert.equal(received.length, count, 'no delivery after stop()');
  assert.deepEqual(reader.receive(), { i: 'after stop' }, 'the message stays in the queue');
});

test('post() with a timeout throws ERR_QUEUE_FULL when nobody reads; a message larger than the ring cut short breaks the queue', () => {
  for (const canBlock of [true, false]) {
    const queue = new SharedQueue(createQueue(1024), { canBlock });
    let posted = 0;
    const started = performance.now();
    assert.throws(
      () => {
        for (;;) {
          queue.post({ posted, pad: 'x'.repeat(50) }, { timeoutMs: 20 });
          posted++;
        }
      },
      (error) => error.code === 'ERR_QUEUE_FULL' && /stayed full for 20 ms/.test(error.message) && !/cut short/.test(error.message),
    );
    assert.ok(performance.now() - started >= 19, 'it waited for the timeout');
    assert.ok(posted > 5, `${posted} messages fit`);
    // The message that did not fit left nothing behind: the others are whole, in order, and the queue goes on.
    for (let i = 0; i < posted; i++) assert.equal(queue.receive().posted, i);
    assert.equal(queue.receive(), undefined);
    queue.post('goes on', { timeoutMs: 20 });
    assert.equal(queue.receive(), 'goes on');
  }
  // A message larger than the ring starts once the ring is empty; until then, giving up leaves nothing behind.
  const queue = new SharedQueue(createQueue(1024));
  queue.post('pending');
  assert.throws(() => queue.post(new Uint8Array(4096), { timeoutMs: 20 }), (error) => error.code === 'ERR_QUEUE_FULL' && !/cut short/.test(error.message));
  assert.equal(queue.receive(), 'pending');
  assert.equal(queue.receive(), undefined);
  // Once it started, giving up cuts it short: the reader would take what follows for its rest, so both ends refuse.
  assert.throws(() => queue.post(new Uint8Array(4096), { timeoutMs: 20 }), (error) => error.code === 'ERR_QUEUE_FULL' && /cut short/.test(error.message));
  assert.throws(() => queue.post('more'), (error) => error.code === 'ERR_QUEUE_BROKEN');
  assert.throws(() => queue.receive(), (error) => error.code === 'ERR_QUEUE_BROKEN');
  assert.throws(() => queue.post('x', { timeoutMs: -1 }), RangeError);
});

test('speed: a small call message posted and received (figures only, no assertion)', async (t) => {
  const message = { type: 'wbg-pool:call', id: 42, name: 'sum_range', args: [1n, 11n] };
  const measure = (count, once) => {
    for (let i = 0; i < 10000; i++) once(i); // warm-up: the JIT
    const start = performance.now();
    for (let i = 0; i < count; i++) once(i);
    return ((performance.now() - start) * 1000) / count;
  };
  const queue = new SharedQueue(createQueue());
  const queueUs = measure(200000, (id) => {
    queue.post({ ...message, id });
    queue.receive();
  });
  const { port1, port2 } = new MessageChannel();
  const portUs = measure(200000, (id) => {
    port1.postMessage({ ...message, id });
    receiveMessageOnPort(port2);
  });
  port1.close();
  t.diagnostic(`post + receive on one thread: ${queueUs.toFixed(2)} µs (postMessage + receiveMessageOnPort: ${portUs.toFixed(2)} µs)`);

  // Across threads: a call and its answer, each side waiting on the other's counter.
  const requests = createQueue();
  const answers = createQueue();
  const { done } = runWorker(
    `const requests = new SharedQueue(workerData.requests);
     const answers = new SharedQueue(workerData.answers);
     for (;;) {
       const call = nextMessage(requests);
       if (call.type === 'stop') break;
       answers.post({ id: call.id, value: call.args[0] + call.args[1] });
     }`,
    { requests, answers },
  );
  const caller = new SharedQueue(requests);
  const callee = new SharedQueue(answers);
  const roundTripUs = measure(20000, (id) => {
    caller.post({ ...message, id });
    nextMessage(callee);
  });
  caller.post({ type: 'stop' });
  await done;
  t.diagnostic(`a call and its answer between two threads: ${roundTripUs.toFixed(2)} µs`);
});
