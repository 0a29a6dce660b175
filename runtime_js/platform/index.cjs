'use strict';
// What differs between Node and browsers, behind one small adapter each:
// starting a thread and the data it starts with, the ports a blocked thread
// still reads, CPU time, timers that must not keep a process alive, warnings,
// and the context that follows an execute() call's code. Every other file of
// the runtime is the same on both.
//
// Chosen once, by what the global scope has: Node's `process`. The browser's
// adapter is only ever evaluated in a browser (the ES-module build evaluates a
// module when it is first required), and Node's never there.
const onNode = typeof process === 'object' && process !== null && typeof process.versions?.node === 'string';

module.exports = onNode ? require('./node.cjs') : require('./browser.cjs');
