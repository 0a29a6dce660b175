'use strict';
// Kernel threads, for the liveness check: each pool thread reports its kernel
// thread id, and the main thread reads that thread's CPU time from /proc. A
// deadlocked pool uses none, a busy one does, even while the host cannot beat.
// Where /proc is not there, both give null and the check relies on host beats
// and the process's CPU time.
const fs = require('fs');

// The kernel thread id of the calling thread.
function kernelThreadId() {
  try {
    return Number(fs.readlinkSync('/proc/thread-self').split('/').pop());
  } catch {
    return null;
  }
}

// CPU time (clock ticks) thread `tid` of this process has used.
function threadTicks(tid) {
  try {
    const stat = fs.readFileSync(`/proc/self/task/${tid}/stat`, 'latin1');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[11]) + Number(fields[12]);
  } catch {
    return null;
  }
}

module.exports = { kernelThreadId, threadTicks };
