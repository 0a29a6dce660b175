// A static file server for the browser tests: Chromium must load the package
// over http (ES modules and `fetch` of the .wasm refuse file://), and only a
// response with COOP/COEP gives a cross-origin isolated page, the one place a
// browser allows SharedArrayBuffer and so a threaded wasm memory.
import fs from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { RUNNER_PAGE } from './harness.mjs';

// Browsers refuse a module script or a streamed wasm compile with the wrong type.
const MIME = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.cjs': 'text/javascript; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.wasm': 'application/wasm',
  '.map': 'application/json; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
};

const ISOLATION = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
  'Cross-Origin-Resource-Policy': 'same-origin',
};

// An empty document on every server: chromium.mjs opens it to get a page of the
// server's origin (and isolation) to import modules and start workers from;
// firefox.mjs opens the runner page (harness.mjs). Their empty icon spares a
// request for /favicon.ico, a 404 in every page's console.
const HOST_PAGE = '<!doctype html><meta charset="utf-8"><link rel="icon" href="data:,"><title>wbg browser test</title>\n';

// Serves the files under the absolute directory `root`, plus `pages` (request
// path to generated content, typed by the path's extension), on 127.0.0.1 at a
// free port. `isolated: false` leaves out COOP/COEP/CORP, to test a page that is
// not cross-origin isolated.
export async function serve(root, { isolated = true, pages = {} } = {}) {
  const generated = { '/index.html': HOST_PAGE, '/__wbg-runner.html': RUNNER_PAGE, ...pages };
  const server = http.createServer((req, res) => {
    respond(root, generated, req).then(({ status, type, body }) => {
      res.writeHead(status, {
        'Content-Type': type,
        'Content-Length': body.length,
        'Cache-Control': 'no-store',
        ...(isolated ? ISOLATION : {}),
        ...(status === 405 ? { Allow: 'GET, HEAD' } : {}),
      });
      res.end(req.method === 'HEAD' ? undefined : body);
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  // A test file whose before() failed half way may never close the server:
  // it must not keep the process (and node --test) waiting for ever.
  server.unref();
  return {
    url: `http://127.0.0.1:${server.address().port}/`,
    // Chromium keeps connections alive: without closing them close() would wait.
    close: () => new Promise((resolve) => {
      server.close(resolve);
      server.closeAllConnections();
    }),
  };
}

async function respond(root, generated, req) {
  if (req.method !== 'GET' && req.method !== 'HEAD') return text(405, 'method not allowed');
  const name = requestPath(req.url);
  if (name === undefined) return text(404, 'not found');
  if (Object.hasOwn(generated, name)) return { status: 200, type: typeOf(name), body: Buffer.from(generated[name]) };
  const file = inside(root, name);
  if (file === undefined) return text(404, 'not found');
  try {
    return { status: 200, type: typeOf(file), body: await fs.readFile(file) };
  } catch {
    // Missing, a directory, unreadable: all the same to a test.
    return text(404, 'not found');
  }
}

// The decoded path of a request, a directory standing for its index.html;
// undefined when it cannot be decoded or holds a NUL.
function requestPath(url) {
  let name;
  try {
    name = decodeURIComponent(new URL(url, 'http://127.0.0.1').pathname);
  } catch {
    return undefined;
  }
  if (name.includes('\0')) return undefined;
  return name.endsWith('/') ? `${name}index.html` : name;
}

// The file `name` names under `root`, or undefined when it resolves outside:
// the URL parser folds `..` segments, but an encoded slash (`..%2f`) survives it.
function inside(root, name) {
  const file = path.resolve(root, `.${name}`);
  return file.startsWith(path.resolve(root) + path.sep) ? file : undefined;
}

function typeOf(name) {
  return MIME[path.extname(name)] ?? 'application/octet-stream';
}

function text(status, message) {
  return { status, type: MIME['.txt'], body: Buffer.from(`${message}\n`) };
}
