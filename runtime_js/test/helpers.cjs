'use strict';
// Shared by the runtime tests: the built demo package and a few probes.
const fs = require('fs');
const path = require('path');

const PKG = path.join(__dirname, '../../build/pkg');
if (!fs.existsSync(path.join(PKG, 'wbg-pool-manager.cjs'))) {
  throw new Error(`${PKG} is not built: run \`make build\` first`);
}
const runtime = require(path.join(PKG, 'wbg-pool-manager.cjs'));
const demo = require(path.join(PKG, 'wbg_demo.js'));

// OS threads of this process: each Node worker is one, so a leaked worker shows.
function threadCount() {
  return fs.readdirSync('/proc/self/task').length;
}

async function waitFor(predicate, timeoutMs, what) {
  const until = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

// Every pool thread and the host are gone once the thread count is back.
async function assertNoWorkersLeft(baseline) {
  await waitFor(() => threadCount() <= baseline, 3000, `threads to drop back to ${baseline} (now ${threadCount()})`);
}

module.exports = { PKG, runtime, demo, threadCount, waitFor, assertNoWorkersLeft };
