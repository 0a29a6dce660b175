'use strict';
// A pool thread's stdout and stderr (console.log, console.error), sent to the
// main thread as events: a worker's own streams are carried by its parent's
// event loop, which does not turn while the pool works, so the output would
// appear only after the pool stopped, out of order with the logs.
const { MessageType } = require('./protocol.cjs');

// `send` posts an event; `thread()` is the thread's index at the time of writing.
function forwardOutput(send, thread) {
  for (const [stream, fd] of [[process.stdout, 1], [process.stderr, 2]]) {
    stream.write = function write(chunk, encoding, callback) {
      const done = typeof encoding === 'function' ? encoding : callback;
      const text = typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString(typeof encoding === 'string' ? encoding : 'utf8');
      send({ type: MessageType.OUTPUT, thread: thread(), fd, text });
      if (typeof done === 'function') process.nextTick(done);
      return true;
    };
  }
}

// Writes an OUTPUT event on the main thread, in order with the log records of
// the same thread, while the call still runs.
function writeOutput({ fd, text }) {
  (fd === 2 ? process.stderr : process.stdout).write(text);
}

module.exports = { forwardOutput, writeOutput };
