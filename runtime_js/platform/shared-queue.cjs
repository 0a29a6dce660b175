'use strict';
// A single-producer single-consumer message queue in a SharedArrayBuffer.
//
// Why: in Node, a thread blocked in Atomics.wait reads its messages with
// worker_threads.receiveMessageOnPort. A browser has nothing like it: a Worker
// blocked in Atomics.wait (or a page spinning) receives no message event. So
// in the browser, every message a thread must read synchronously goes through
// shared memory: one queue per direction, one writing thread and one reading
// thread each.
//
// This file runs unchanged in Node and in browsers: it requires nothing and
// uses only SharedArrayBuffer, Atomics, TextEncoder/TextDecoder, DataView,
// typed arrays and performance.now(). (A page has SharedArrayBuffer only when
// cross-origin isolated: served with COOP and COEP headers.)
//
// Memory layout of the SharedArrayBuffer:
//
//   bytes 0..63    the writer's line: Int32 slot WRITTEN (bytes published so
//                  far: the counter a reader waits on), slot BROKEN (1 once a
//                  writer gave up in the middle of a message)
//   bytes 64..127  the reader's line: Int32 slot READ (bytes consumed so far)
//   bytes 128..    the ring: `capacity` bytes, a power of two
//
// Each side writes only its own 64-byte line (a cache line), so the two
// threads do not fight over one line. WRITTEN and READ are positions in the
// endless stream of bytes, modulo 2^32: the ring index is `position & mask`
// (capacity divides 2^32, so the wrap of the counter and the wrap of the ring
// agree), and `(WRITTEN - READ) >>> 0` is the number of bytes in the ring.
//
// The stream is a sequence of frames: a 4-byte length (little-endian), then
// the message's encoded bytes. A frame that fits in the ring is written once
// there is room for all of it, and published at once: a writer that gives up
// waiting leaves nothing behind. A larger frame starts once the ring is empty,
// and goes in chunks: the writer fills the free space, publishes it, waits for
// the reader to take some, and goes on; the reader keeps the parts until the
// frame is complete. Either way the first chunk holds the whole 4-byte length.
// A frame may wrap around the end of the ring anywhere (in its length too):
// bytes are copied in two pieces then.
//
// Memory ordering: the writer copies the bytes into the ring first, then moves
// WRITTEN past them with Atomics.store. Atomics operations are sequentially
// consistent, so a reader whose Atomics.load sees the new WRITTEN also sees
// every byte before it. The same holds the other way round for READ: the
// reader has copied the bytes out before it lets the writer reuse them.

const HEADER_BYTES = 128;
const Slot = Object.freeze({ WRITTEN: 0, BROKEN: 1, READ: 16 });
const FRAME_LENGTH_BYTES = 4;
const MAX_FRAME_BYTES = 0xffffffff;
const MIN_CAPACITY = 16;
const MAX_CAPACITY = 2 ** 30; // keeps (WRITTEN - READ) >>> 0 unambiguous

// 1 MiB: the runtime's messages (a call, its answer, an event) are well below
// 1 KiB, so a burst of thousands fits without the writer ever waiting; a large
// argument (a typed array of many MiB) moves in 1 MiB chunks, where the cost
// of each hand-over (a wake-up, ~10 µs) is small next to copying the chunk
// (~50-100 µs); and a handful of queues per pool costs a few MiB.
const DEFAULT_BYTES = 1 << 20;

// Scratch buffers (the writer's encoding, the reader's frame) grow to the
// largest message; past this size they are dropped after use, not kept.
const SCRATCH_BYTES = 4096;
const SCRATCH_KEEP_BYTES = 1 << 20;

/**
 * A new queue: a descriptor to give to both threads (postMessage or
 * workerData clone it, and the SharedArrayBuffer in it stays shared). Each
 * thread makes its end with `new SharedQueue(descriptor, options)`.
 * `byteLength`: the ring's capacity, a power of two.
 */
function createQueue(byteLength = DEFAULT_BYTES) {
  if (!Number.isInteger(byteLength) || byteLength < MIN_CAPACITY || byteLength > MAX_CAPACITY || (byteLength & (byteLength - 1)) !== 0) {
    throw new RangeError(`createQueue(byteLength): byteLength must be a power of two from ${MIN_CAPACITY} to ${MAX_CAPACITY}, got ${byteLength}`);
  }
  return { buffer: new SharedArrayBuffer(HEADER_BYTES + byteLength) };
}

// Whether this thread may call Atomics.wait: not a browser page's main thread.
// The check throws before comparing values there, and returns 'not-equal' at
// once everywhere else, so it costs nothing but one call (made once).
let blockingAllowed;
function threadCanBlock() {
  if (blockingAllowed === undefined) {
    try {
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 1, 0);
      blockingAllowed = true;
    } catch {
      blockingAllowed = false;
    }
  }
  return blockingAllowed;
}

/**
 * One thread's end of a queue. Only one thread posts and only one thread
 * receives (it may be the same thread); either side may use one SharedQueue
 * object for its whole life.
 * `canBlock`: whether this thread may wait with Atomics.wait (a page's main
 * thread may not, and spins instead); by default, found out once per thread.
 */
class SharedQueue {
  constructor(descriptor, { canBlock = threadCanBlock() } = {}) {
    const buffer = descriptor?.buffer;
    const capacity = buffer instanceof SharedArrayBuffer ? buffer.byteLength - HEADER_BYTES : 0;
    if (capacity < MIN_CAPACITY || (capacity & (capacity - 1)) !== 0) {
      throw new TypeError('SharedQueue: expected a descriptor made by createQueue() ({ buffer: SharedArrayBuffer })');
    }
    this.header = new Int32Array(buffer, 0, HEADER_BYTES / 4);
    this.ring = new Uint8Array(buffer, HEADER_BYTES);
    this.capacity = this.ring.length;
    this.mask = this.capacity - 1;
    this.canBlock = canBlock;
    // What a reader waits on: WRITTEN moves each time the writer publishes
    // bytes (a whole message, or a chunk of one larger than the free space).
    // It is not a count of whole messages on purpose: a reader that slept
    // until a large message were complete would never free the space that
    // message needs. The way to wait without missing a message:
    //   const seen = Atomics.load(signal.array, signal.index);
    //   const message = queue.receive();
    //   if (message === undefined) Atomics.wait(signal.array, signal.index, seen, timeout);
    this.signal = Object.freeze({ array: this.header, index: Slot.WRITTEN });
    this.encoder = null; // made on first post()
    this.assembly = null; // the frame the reader is assembling, made on first receive()
  }

  /**
   * Appends one message (see Encoder for what it may hold). Waits while the
   * ring is full, at most `timeoutMs`: then throws ERR_QUEUE_FULL. A message
   * that could not be encoded throws a DataCloneError, and nothing is written.
   * Returns once the message is in the ring (all of it, or, for one larger
   * than the ring, its last part): the reader must be another thread, or one
   * that already took enough, else a full ring waits for the timeout.
   */
  post(message, { timeoutMs = Infinity } = {}) {
    if (!(timeoutMs >= 0)) throw new RangeError(`post(message, { timeoutMs }): timeoutMs must be a number >= 0, got ${timeoutMs}`);
    if (Atomics.load(this.header, Slot.BROKEN) !== 0) throw brokenError();
    this.encoder ??= new Encoder();
    const frame = this.encoder.frame(message);
    const deadline = performance.now() + timeoutMs;
    let offset = 0;
    while (offset < frame.length) {
      const written = Atomics.load(this.header, Slot.WRITTEN);
      const read = Atomics.load(this.header, Slot.READ);
      const free = this.capacity - ((written - read) >>> 0);
      if (free < (offset === 0 ? Math.min(frame.length, this.capacity) : 1)) {
        if (!this.waitForSpace(read, deadline)) this.giveUp(offset, frame.length, timeoutMs);
        continue;
      }
      const count = Math.min(free, frame.length - offset);
      this.copyIn(frame.subarray(offset, offset + count), written);
      offset += count;
      // Only now, with the bytes in place, may the reader see them.
      Atomics.store(this.header, Slot.WRITTEN, (written + count) | 0);
      Atomics.notify(this.header, Slot.WRITTEN);
    }
    this.encoder.release();
  }

  // Sleeps (or spins) until the reader moved READ past `read`; false once the deadline passed.
  waitForSpace(read, deadline) {
    if (this.canBlock) {
      const left = deadline - performance.now();
      if (left <= 0) return false;
      Atomics.wait(this.header, Slot.READ, read, left); // the reader notifies READ whenever it moves it
      return true;
    }
    while (Atomics.load(this.header, Slot.READ) === read) {
      if (performance.now() >= deadline) return false;
    }
    return true;
  }

  // A writer that gave up after part of a frame went out leaves the reader a
  // frame that will never end: the queue is broken for both sides from then on.
  giveUp(offset, frameLength, timeoutMs) {
    this.encoder.release();
    if (offset > 0) {
      Atomics.store(this.header, Slot.BROKEN, 1);
      Atomics.notify(this.header, Slot.WRITTEN);
    }
    const error = new Error(
      `the queue stayed full for ${timeoutMs} ms with ${frameLength - offset} bytes of a ${frameLength}-byte message ` +
        'still to write: is its reading thread alive and reading?' +
        (offset > 0 ? ' The message was cut short, so the queue cannot be used again.' : ''),
    );
    error.code = 'ERR_QUEUE_FULL';
    throw error;
  }

  /**
   * The next whole message, or undefined when none is complete yet. Never
   * blocks. Takes whatever part of a large message has arrived (freeing the
   * ring for the rest) and keeps it until the message is complete.
   */
  receive() {
    const frame = (this.assembly ??= new FrameAssembly());
    const first = Atomics.load(this.header, Slot.READ);
    let read = first;
    let available = (Atomics.load(this.header, Slot.WRITTEN) - read) >>> 0;
    if (frame.length < 0) {
      if (available === 0) return undefined;
      // The writer published this frame's length with its first chunk: all 4 bytes are here.
      frame.start(this.readLength(read));
      read += FRAME_LENGTH_BYTES;
      available -= FRAME_LENGTH_BYTES;
    }
    const count = Math.min(available, frame.length - frame.filled);
    this.copyOut(read, frame.bytes, frame.filled, count);
    frame.filled += count;
    read = (read + count) | 0;
    if (read !== first) {
      // The bytes are copied out: only now may the writer reuse them.
      Atomics.store(this.header, Slot.READ, read);
      Atomics.notify(this.header, Slot.READ);
    }
    if (frame.filled < frame.length) {
      // BROKEN is loaded before WRITTEN: once it is set, WRITTEN moves no more.
      if (Atomics.load(this.header, Slot.BROKEN) !== 0 && Atomics.load(this.header, Slot.WRITTEN) === read) throw brokenError();
      return undefined;
    }
    return frame.finish();
  }

  /**
   * Delivers each message to `onMessage(message)`, in order, as it arrives,
   * for a thread whose event loop turns (it waits with Atomics.waitAsync).
   * Returns stop(). An exception from onMessage is reported (as an unhandled
   * rejection) and delivery goes on; one of the queue itself (ERR_QUEUE_BROKEN)
   * is reported the same way and ends it. Note: a pending Atomics.waitAsync
   * does not keep a Node process or worker alive; something else must (a
   * timer, a port), for as long as this thread should listen.
   */
  listen(onMessage) {
    if (typeof Atomics.waitAsync !== 'function') throw new Error('SharedQueue.listen() needs Atomics.waitAsync, which this JS engine lacks');
    let listening = true;
    const deliver = () => {
      while (listening) {
        const seen = Atomics.load(this.header, Slot.WRITTEN);
        let message;
        while (listening && (message = this.receive()) !== undefined) {
          try {
            onMessage(message);
          } catch (error) {
            Promise.reject(error);
          }
        }
        if (!listening) return;
        const waiting = Atomics.waitAsync(this.header, Slot.WRITTEN, seen);
        if (waiting.async) {
          waiting.value.then(deliver);
          return;
        }
        // 'not-equal': bytes came since `seen`; drain again.
      }
    };
    // The first messages come after listen() returns, like any later ones.
    Promise.resolve().then(deliver);
    return () => {
      if (!listening) return;
      listening = false;
      // Settles this listener's pending waitAsync now, rather than at the next message.
      Atomics.notify(this.header, Slot.WRITTEN);
    };
  }

  // Copies `bytes` into the ring from stream position `position`, in two pieces where the ring wraps.
  copyIn(bytes, position) {
    const index = position & this.mask;
    const first = Math.min(bytes.length, this.capacity - index);
    this.ring.set(first === bytes.length ? bytes : bytes.subarray(0, first), index);
    if (first < bytes.length) this.ring.set(bytes.subarray(first), 0);
  }

  // Copies `count` bytes from stream position `position` to target[offset...].
  copyOut(position, target, offset, count) {
    const index = position & this.mask;
    const first = Math.min(count, this.capacity - index);
    target.set(this.ring.subarray(index, index + first), offset);
    if (first < count) target.set(this.ring.subarray(0, count - first), offset + first);
  }

  readLength(position) {
    const ring = this.ring;
    const mask = this.mask;
    return (ring[position & mask] | (ring[(position + 1) & mask] << 8) | (ring[(position + 2) & mask] << 16) | (ring[(position + 3) & mask] << 24)) >>> 0;
  }
}

function brokenError() {
  const error = new Error('the queue is broken: its writer gave up in the middle of a message (post timed out), so nothing after it can be read');
  error.code = 'ERR_QUEUE_BROKEN';
  return error;
}

// The reader's copy of the frame it is reading, in a non-shared buffer (which
// TextDecoder accepts, and which stays valid while the ring is reused).
class FrameAssembly {
  constructor() {
    this.setBuffer(SCRATCH_BYTES);
    this.decoder = new Decoder();
    this.length = -1; // -1 between frames
    this.filled = 0;
  }

  setBuffer(size) {
    this.bytes = new Uint8Array(size);
    this.view = new DataView(this.bytes.buffer);
  }

  start(length) {
    if (length > this.bytes.length) this.setBuffer(length);
    this.length = length;
    this.filled = 0;
  }

  finish() {
    const length = this.length;
    this.length = -1;
    const message = this.decoder.decode(this.bytes, this.view, length);
    if (this.bytes.length > SCRATCH_KEEP_BYTES) this.setBuffer(SCRATCH_BYTES);
    return message;
  }
}

// ---------------------------------------------------------------------------
// Encoding: one tag byte per value, then its data. Counts and lengths are
// unsigned LEB128 varints (1 byte below 128); numbers are little-endian.
// What goes through (and arrives as structured clone would give it):
// - undefined, null, booleans, numbers (exactly: -0, NaN, ±Infinity), bigints
//   of any size, strings of any UTF-16 (lone surrogates too);
// - arrays (holes arrive as undefined; properties other than indices are
//   dropped), plain objects and class instances (own enumerable string keys,
//   read through getters; they arrive as plain objects);
// - ArrayBuffer, every typed array and DataView (over a copy of the whole
//   buffer, same byteOffset and length, as structured clone does), Date,
//   RegExp (source and flags; lastIndex is 0), Map, Set, Boolean/Number/
//   String/BigInt objects;
// - errors: name, message, stack, cause and own enumerable properties (such
//   as `code`); standard names (TypeError, RangeError, ...) arrive as that
//   class, other names (a subclass, a DOMException) as an Error with that name;
// - shared references and cycles: an object met again is sent as a reference
//   to its first occurrence, so identity is kept on arrival.
// Refused with a DataCloneError, naming what: functions, symbols, objects of
// any other built-in or platform kind (WeakMap, WeakSet, WeakRef, Promise,
// arguments, a Blob, ..., and a class that sets Symbol.toStringTag), and what
// only postMessage can share or transfer: SharedArrayBuffer (and views over
// one), WebAssembly.Memory, WebAssembly.Module.
// Limits: a message encodes to at most 4 GiB - 1 bytes; nesting is limited by
// the JS stack (as with structured clone); a detached ArrayBuffer arrives empty;
// a resizable ArrayBuffer arrives with a fixed length; an Error's stack (and a
// name its class does not give) becomes an own non-enumerable property.

const Tag = Object.freeze({
  UNDEFINED: 0,
  NULL: 1,
  FALSE: 2,
  TRUE: 3,
  INT32: 4,
  FLOAT64: 5,
  BIGINT64: 6, // a bigint in [-2^63, 2^63)
  BIGINT_HEX: 7, // any other: sign byte, then the magnitude's hex digits
  ONE_BYTE_STRING: 8, // a short string whose code units are all below 256
  UTF8_STRING: 9, // a well-formed string: 4-byte byte length, UTF-8
  UTF16_STRING: 10, // a string with lone surrogates: varint units, 2 bytes each
  ARRAY: 11,
  OBJECT: 12,
  REFERENCE: 13, // an object met before in this message: its varint index
  ARRAY_BUFFER: 14,
  VIEW: 15, // kind byte, the buffer (a value), varint byteOffset, varint length
  DATE: 16,
  REGEXP: 17,
  MAP: 18,
  SET: 19,
  ERROR: 20,
  BOXED: 21, // new Boolean/Number/String/Object(bigint): the primitive inside
});

// Strings up to this length are tried as one byte per code unit: a JS loop beats
// TextEncoder's call overhead on short strings (object keys, names, types).
const SHORT_STRING = 64;

const VIEW_KINDS = [
  'Int8Array',
  'Uint8Array',
  'Uint8ClampedArray',
  'Int16Array',
  'Uint16Array',
  'Int32Array',
  'Uint32Array',
  'Float32Array',
  'Float64Array',
  'BigInt64Array',
  'BigUint64Array',
  'DataView',
  'Float16Array', // where the engine has it
];
const VIEW_KIND_INDEX = new Map(VIEW_KINDS.map((name, index) => [name, index]));

// Errors of these names arrive as instances of the class; any other as an Error.
const ERROR_CLASSES = new Map([Error, EvalError, RangeError, ReferenceError, SyntaxError, TypeError, URIError].map((C) => [C.name, C]));
const ERROR_FIELDS = new Set(['name', 'message', 'stack', 'cause']);

// Kinds that postMessage shares or transfers, which a queue of copied bytes cannot.
const POST_MESSAGE_ONLY = new Set(['SharedArrayBuffer', 'WebAssembly.Memory', 'WebAssembly.Module']);

class DataCloneError extends Error {
  constructor(message) {
    super(message);
    this.name = 'DataCloneError';
  }
}

// The built-in kind of an object: [[Class]]-like tags for arrays, errors,
// dates, regexps, arguments and primitive wrappers, Symbol.toStringTag otherwise.
const builtinTag = (value) => Object.prototype.toString.call(value).slice(8, -1);
const hasOwn = (object, key) => Object.prototype.hasOwnProperty.call(object, key);
const textEncoder = new TextEncoder();
// ignoreBOM: a string that starts with U+FEFF keeps it.
const textDecoder = new TextDecoder('utf-8', { ignoreBOM: true });

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const isWellFormed = (string) => (typeof string.isWellFormed === 'function' ? string.isWellFormed() : !LONE_SURROGATE.test(string));

// Writes messages into a growing non-shared scratch buffer (TextEncoder.encodeInto
// refuses shared memory in Chromium), each after a 4-byte frame length.
class Encoder {
  constructor() {
    this.setBuffer(new Uint8Array(SCRATCH_BYTES));
    this.length = 0;
    this.objects = null; // while encoding: object -> its index in the message
  }

  setBuffer(bytes) {
    this.bytes = bytes;
    this.view = new DataView(bytes.buffer);
  }

  // The frame of `message`: a view of the scratch buffer, valid until the next frame().
  frame(message) {
    this.length = FRAME_LENGTH_BYTES;
    this.objects = new Map(); // a new Map costs less than clearing one
    try {
      this.value(message);
    } finally {
      this.objects = null; // holds no object past the call
    }
    const payload = this.length - FRAME_LENGTH_BYTES;
    if (payload > MAX_FRAME_BYTES) throw new RangeError(`a message encodes to ${payload} bytes, more than the ${MAX_FRAME_BYTES} a queue frame holds`);
    this.view.setUint32(0, payload, true);
    return this.bytes.subarray(0, this.length);
  }

  // After a very large message, lets its scratch buffer go.
  release() {
    if (this.bytes.length > SCRATCH_KEEP_BYTES) this.setBuffer(new Uint8Array(SCRATCH_BYTES));
  }

  reserve(count) {
    const needed = this.length + count;
    if (needed <= this.bytes.length) return;
    let size = this.bytes.length * 2;
    while (size < needed) size *= 2;
    const bytes = new Uint8Array(size);
    bytes.set(this.bytes.subarray(0, this.length));
    this.setBuffer(bytes);
  }

  byte(value) {
    this.reserve(1);
    this.bytes[this.length++] = value;
  }

  uint(value) {
    this.reserve(10);
    while (value >= 0x80) {
      this.bytes[this.length++] = (value & 0x7f) | 0x80;
      value = Math.floor(value / 128);
    }
    this.bytes[this.length++] = value;
  }

  value(value) {
    switch (typeof value) {
      case 'undefined':
        return this.byte(Tag.UNDEFINED);
      case 'boolean':
        return this.byte(value ? Tag.TRUE : Tag.FALSE);
      case 'number':
        return this.number(value);
      case 'bigint':
        return this.bigint(value);
      case 'string':
        return this.string(value);
      case 'object':
        return value === null ? this.byte(Tag.NULL) : this.object(value);
      case 'function':
        throw new DataCloneError(`${value.name ? `function ${value.name}` : 'an anonymous function'} could not be cloned`);
      default:
        throw new DataCloneError(`${String(value)} could not be cloned`); // a symbol
    }
  }

  number(value) {
    // -0 is not an int32 here: it goes as a float64, which keeps its sign.
    if ((value | 0) === value && (value !== 0 || 1 / value > 0)) {
      this.reserve(5);
      this.bytes[this.length] = Tag.INT32;
      this.view.setInt32(this.length + 1, value, true);
      this.length += 5;
    } else {
      this.float64(Tag.FLOAT64, value);
    }
  }

  float64(tag, value) {
    this.reserve(9);
    this.bytes[this.length] = tag;
    this.view.setFloat64(this.length + 1, value, true);
    this.length += 9;
  }

  bigint(value) {
    if (BigInt.asIntN(64, value) === value) {
      this.reserve(9);
      this.bytes[this.length] = Tag.BIGINT64;
      this.view.setBigInt64(this.length + 1, value, true);
      this.length += 9;
      return;
    }
    // Hex is linear both ways for any size, where 64-bit slices would be quadratic.
    this.byte(Tag.BIGINT_HEX);
    this.byte(value < 0n ? 1 : 0);
    this.oneByteString((value < 0n ? -value : value).toString(16));
  }

  string(value) {
    if (value.length <= SHORT_STRING) {
      const start = this.length;
      this.byte(Tag.ONE_BYTE_STRING);
      if (this.oneByteString(value)) return;
      this.length = start;
    }
    if (isWellFormed(value)) this.utf8String(value);
    else this.utf16String(value);
  }

  // Writes a varint length and one byte per code unit; false (leaving the
  // bytes half-written) at a code unit of 256 or more.
  oneByteString(value) {
    const count = value.length;
    this.uint(count);
    this.reserve(count);
    const bytes = this.bytes;
    const start = this.length;
    for (let i = 0; i < count; i++) {
      const unit = value.charCodeAt(i);
      if (unit > 0xff) return false;
      bytes[start + i] = unit;
    }
    this.length = start + count;
    return true;
  }

  utf8String(value) {
    // Each UTF-16 code unit takes at most 3 bytes of UTF-8.
    this.reserve(1 + 4 + value.length * 3);
    this.bytes[this.length] = Tag.UTF8_STRING;
    const start = this.length + 5;
    const { written } = textEncoder.encodeInto(value, this.bytes.subarray(start));
    this.view.setUint32(this.length + 1, written, true);
    this.length = start + written;
  }

  utf16String(value) {
    this.byte(Tag.UTF16_STRING);
    this.uint(value.length);
    this.reserve(value.length * 2);
    for (let i = 0; i < value.length; i++) this.view.setUint16(this.length + 2 * i, value.charCodeAt(i), true);
    this.length += value.length * 2;
  }

  object(value) {
    const index = this.objects.get(value);
    if (index !== undefined) {
      this.byte(Tag.REFERENCE);
      this.uint(index);
      return;
    }
    // Numbered as it is met, before its contents, so a cycle refers back to it.
    this.objects.set(value, this.objects.size);
    if (Array.isArray(value)) return this.array(value);
    if (ArrayBuffer.isView(value)) return this.arrayView(value);
    const kind = builtinTag(value);
    switch (kind) {
      case 'Object': // a plain object, an instance of a class, a null-prototype object
        return this.plainObject(value);
      case 'ArrayBuffer':
        return this.arrayBuffer(value);
      case 'Date':
        return this.float64(Tag.DATE, Date.prototype.getTime.call(value));
      case 'RegExp':
        this.byte(Tag.REGEXP);
        this.string(value.source);
        return this.string(value.flags);
      case 'Map':
        return this.map(value);
      case 'Set':
        return this.set(value);
      case 'Error':
        return this.error(value);
      case 'Boolean':
      case 'Number':
      case 'String':
      case 'BigInt':
        this.byte(Tag.BOXED);
        return this.value(value.valueOf());
      default:
        if (value instanceof Error) return this.error(value);
        throw new DataCloneError(
          `${kind} object could not be cloned${POST_MESSAGE_ONLY.has(kind) ? ': a queue of copied bytes cannot share it (send it with postMessage)' : ''}`,
        );
    }
  }

  array(value) {
    const count = value.length;
    this.byte(Tag.ARRAY);
    this.uint(count);
    for (let i = 0; i < count; i++) this.value(value[i]);
  }

  plainObject(value) {
    const keys = Object.keys(value);
    this.byte(Tag.OBJECT);
    this.properties(value, keys);
  }

  properties(value, keys) {
    this.uint(keys.length);
    for (const key of keys) {
      this.string(key);
      this.value(value[key]);
    }
  }

  arrayBuffer(value) {
    const count = value.byteLength;
    this.byte(Tag.ARRAY_BUFFER);
    this.uint(count);
    this.reserve(count);
    this.bytes.set(new Uint8Array(value), this.length);
    this.length += count;
  }

  arrayView(value) {
    const kind = VIEW_KIND_INDEX.get(builtinTag(value));
    if (kind === undefined) throw new DataCloneError(`${builtinTag(value)} view could not be cloned`);
    this.byte(Tag.VIEW);
    this.byte(kind);
    this.value(value.buffer); // a SharedArrayBuffer is refused here
    this.uint(value.byteOffset);
    this.uint(VIEW_KINDS[kind] === 'DataView' ? value.byteLength : value.length);
  }

  map(value) {
    const entries = Array.from(value); // a getter met on the way cannot change the count
    this.byte(Tag.MAP);
    this.uint(entries.length);
    for (const [key, item] of entries) {
      this.value(key);
      this.value(item);
    }
  }

  set(value) {
    const items = Array.from(value);
    this.byte(Tag.SET);
    this.uint(items.length);
    for (const item of items) this.value(item);
  }

  // name, message, stack (each a flag byte, then the string if there is one),
  // a cause flag, the cause, then the other own enumerable properties.
  error(value) {
    this.byte(Tag.ERROR);
    const name = value.name;
    this.string(typeof name === 'string' ? name : 'Error');
    this.optionalString(value.message);
    this.optionalString(value.stack);
    const hasCause = hasOwn(value, 'cause');
    this.byte(hasCause ? 1 : 0);
    if (hasCause) this.value(value.cause);
    this.properties(value, Object.keys(value).filter((key) => !ERROR_FIELDS.has(key)));
  }

  optionalString(value) {
    const present = typeof value === 'string';
    this.byte(present ? 1 : 0);
    if (present) this.string(value);
  }
}

// Reads what Encoder wrote, from a non-shared buffer (TextDecoder.decode refuses
// shared memory in Chromium). Every buffer it returns is a fresh copy.
class Decoder {
  decode(bytes, view, length) {
    this.bytes = bytes;
    this.view = view;
    this.at = 0;
    this.objects = []; // by the order they were met, as the Encoder numbered them
    try {
      const message = this.value();
      if (this.at !== length) throw corrupt(this.at > length ? `its data runs ${this.at - length} bytes past its frame` : `${length - this.at} bytes left after it`);
      return message;
    } finally {
      this.objects = null;
    }
  }

  uint() {
    let value = 0;
    let scale = 1;
    let byte;
    do {
      byte = this.bytes[this.at++];
      value += (byte & 0x7f) * scale;
      scale *= 128;
    } while (byte & 0x80);
    return value;
  }

  float64() {
    const value = this.view.getFloat64(this.at, true);
    this.at += 8;
    return value;
  }

  value() {
    const tag = this.bytes[this.at++];
    switch (tag) {
      case Tag.UNDEFINED:
        return undefined;
      case Tag.NULL:
        return null;
      case Tag.FALSE:
        return false;
      case Tag.TRUE:
        return true;
      case Tag.INT32:
        this.at += 4;
        return this.view.getInt32(this.at - 4, true);
      case Tag.FLOAT64:
        return this.float64();
      case Tag.BIGINT64:
        this.at += 8;
        return this.view.getBigInt64(this.at - 8, true);
      case Tag.BIGINT_HEX: {
        const negative = this.bytes[this.at++] === 1;
        const magnitude = BigInt(`0x${this.oneByteString()}`);
        return negative ? -magnitude : magnitude;
      }
      case Tag.ONE_BYTE_STRING:
        return this.oneByteString();
      case Tag.UTF8_STRING:
        return this.utf8String();
      case Tag.UTF16_STRING:
        return this.utf16String();
      case Tag.REFERENCE:
        return this.objects[this.uint()];
      default:
        return this.object(tag);
    }
  }

  oneByteString() {
    const count = this.uint();
    const bytes = this.bytes;
    const end = this.at + count;
    let i = this.at;
    let string = '';
    // Four code units per call: faster on short strings than fromCharCode.apply
    // over a typed array or a TextDecoder call, and linear on long ones.
    for (; i + 4 <= end; i += 4) string += String.fromCharCode(bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]);
    for (; i < end; i++) string += String.fromCharCode(bytes[i]);
    this.at = end;
    return string;
  }

  utf8String() {
    const count = this.view.getUint32(this.at, true);
    const start = this.at + 4;
    this.at = start + count;
    return textDecoder.decode(this.bytes.subarray(start, this.at));
  }

  utf16String() {
    const count = this.uint();
    const units = new Array(count);
    for (let i = 0; i < count; i++) units[i] = this.view.getUint16(this.at + 2 * i, true);
    this.at += 2 * count;
    let string = '';
    for (let i = 0; i < count; i += 8192) string += String.fromCharCode.apply(null, units.slice(i, i + 8192));
    return string;
  }

  // Registers a new object in the order the Encoder numbered it.
  register(object) {
    this.objects.push(object);
    return object;
  }

  object(tag) {
    switch (tag) {
      case Tag.ARRAY: {
        const array = this.register(new Array(this.uint()));
        for (let i = 0; i < array.length; i++) array[i] = this.value();
        return array;
      }
      case Tag.OBJECT:
        return this.properties(this.register({}));
      case Tag.ARRAY_BUFFER: {
        const count = this.uint();
        this.at += count;
        return this.register(this.bytes.slice(this.at - count, this.at).buffer);
      }
      case Tag.VIEW:
        return this.arrayView();
      case Tag.DATE:
        return this.register(new Date(this.float64()));
      case Tag.REGEXP:
        return this.register(new RegExp(this.value(), this.value()));
      case Tag.MAP: {
        const map = this.register(new Map());
        for (let count = this.uint(); count > 0; count--) map.set(this.value(), this.value());
        return map;
      }
      case Tag.SET: {
        const set = this.register(new Set());
        for (let count = this.uint(); count > 0; count--) set.add(this.value());
        return set;
      }
      case Tag.ERROR:
        return this.error();
      case Tag.BOXED:
        return this.register(Object(this.value()));
      default:
        throw corrupt(`unknown tag ${tag} at byte ${this.at - 1}`);
    }
  }

  properties(object) {
    for (let count = this.uint(); count > 0; count--) {
      const key = this.value();
      const value = this.value();
      // Assigning '__proto__' would set the prototype; structured clone makes an own property.
      if (key === '__proto__') Object.defineProperty(object, key, { value, writable: true, enumerable: true, configurable: true });
      else object[key] = value;
    }
    return object;
  }

  arrayView() {
    const name = VIEW_KINDS[this.bytes[this.at++]];
    const View = globalThis[name];
    if (typeof View !== 'function') throw corrupt(`this engine has no ${name}`);
    // The view was numbered before its buffer: keep its place while the buffer is read.
    const index = this.objects.push(undefined) - 1;
    const buffer = this.value();
    const view = new View(buffer, this.uint(), this.uint());
    this.objects[index] = view;
    return view;
  }

  error() {
    const name = this.value();
    const message = this.optionalString();
    const stack = this.optionalString();
    const ErrorClass = ERROR_CLASSES.get(name) ?? Error;
    const error = this.register(message === undefined ? new ErrorClass() : new ErrorClass(message));
    if (error.name !== name) hide(error, 'name', name);
    if (stack === undefined) delete error.stack;
    else hide(error, 'stack', stack);
    if (this.bytes[this.at++] === 1) hide(error, 'cause', this.value());
    return this.properties(error);
  }

  optionalString() {
    return this.bytes[this.at++] === 1 ? this.value() : undefined;
  }
}

// An own non-enumerable property, as errors have their message, stack and cause.
function hide(object, key, value) {
  Object.defineProperty(object, key, { value, writable: true, enumerable: false, configurable: true });
}

function corrupt(why) {
  const error = new Error(`a shared queue's message is corrupt: ${why}`);
  error.code = 'ERR_QUEUE_CORRUPT';
  return error;
}

module.exports = { createQueue, SharedQueue, threadCanBlock, DataCloneError, DEFAULT_BYTES };
