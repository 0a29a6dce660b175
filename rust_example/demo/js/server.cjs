'use strict';
// An HTTP server that keeps answering while proofs run: each proof is a task
// (manager.run) on the pool's host thread, so this thread's event loop stays free.
//   node rust_example/demo/js/server.cjs [port]
//   curl localhost:PORT/health    curl 'localhost:PORT/prove?ms=2000'    curl localhost:PORT/panic
const http = require('http');
const path = require('path');
const { ThreadPoolManager } = require('../../../build/pkg/wbg-pool-manager.cjs');

const PROVER = path.join(__dirname, 'prove.cjs');
const manager = new ThreadPoolManager({ callTimeoutMs: 60_000 });

function reply(response, status, body) {
  response.writeHead(status, { 'content-type': 'application/json' });
  response.end(JSON.stringify(body));
}

const server = http.createServer(async (request, response) => {
  const url = new URL(request.url, 'http://localhost');
  try {
    if (url.pathname === '/health') return reply(response, 200, { ok: true, stats: manager.stats() });
    if (url.pathname === '/prove') return reply(response, 200, await manager.run(PROVER, 'prove', [Number(url.searchParams.get('ms') ?? 1000)]));
    if (url.pathname === '/panic') return reply(response, 200, await manager.run(PROVER, 'provePanicking'));
    reply(response, 404, { error: `no route ${url.pathname}` });
  } catch (error) {
    // Typed errors (WasmPanicError, HeartbeatTimeoutError, ...) carry a stable code.
    reply(response, 500, { error: error.message, code: error.code ?? null });
  }
});

server.listen(Number(process.argv[2] ?? 8080), () => console.log(`listening on ${server.address().port}`));
process.on('SIGTERM', () => server.close(() => manager.close()));
