'use strict';
// Post a message, then wake its reader. An arriving message does not wake
// Atomics.wait, so every post bumps a counter of the control buffer and
// notifies it; the counter moves only after the message is queued, so a reader
// that saw it move will find the message.
const { Slot } = require('./protocol.cjs');
const platform = require('./platform/index.cjs');

function bump(control, slots, wake) {
  for (const slot of slots) Atomics.add(control, slot, 1);
  Atomics.notify(control, wake);
}

// Main thread -> host: a request (or RUN, STOP) on the requests port.
function postRequest(port, control, message) {
  platform.post(port, message);
  bump(control, [Slot.REQUEST], Slot.REQUEST);
}

// Host -> main thread: the answer to a request.
function postReply(port, control, message) {
  platform.post(port, message);
  bump(control, [Slot.WAKE], Slot.WAKE);
}

// Host or worker -> main thread: an event (log, output, report). EVENTS tells
// the waiting main thread that its event ports have something to drain.
function postEvent(port, control, message) {
  platform.post(port, message);
  bump(control, [Slot.EVENTS, Slot.WAKE], Slot.WAKE);
}

module.exports = { postRequest, postReply, postEvent };
