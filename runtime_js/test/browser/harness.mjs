// What the two drivers (chromium.mjs, firefox.mjs) share: the code a test
// runs inside the browser, sent as text (a page cannot import a Node module),
// and the wait for its answer.

// `promise`, or { hang } after `ms`: a run that never answers is an outcome of
// its own (the tests compare a package that hangs with one that rejects).
export function within(promise, ms) {
  let timer;
  const hang = new Promise((resolve) => {
    timer = setTimeout(() => resolve({ hang: `no answer within ${ms} ms` }), ms);
  });
  return Promise.race([promise, hang]).finally(() => clearTimeout(timer));
}

// Imports the module at `url` and calls its default export, an (async)
// function. Answers { value } or { error }, with an error's own `code` kept:
// structured clone and the drivers would drop it and call every class they do
// not know "Error". The value is cloned here so that one that cannot cross to
// the test (a function, say) is a DataCloneError in both places, not undefined
// on a page and an uncaught error in a worker.
async function settle(url) {
  try {
    const run = (await import(url)).default;
    return { value: structuredClone(await run()) };
  } catch (e) {
    const error = { name: e?.name ?? typeof e, message: e?.message ?? String(e) };
    if (e?.code !== undefined) error.code = e.code;
    return { error };
  }
}

// The same in a module Worker made from a blob: it imports the module by its
// absolute URL, so the module resolves its own imports (the glue, its .wasm)
// against the server. The worker's console entries go to `onConsole` as well
// as to its console (a driver that sees workers' consoles ignores them). An
// 'error' event before the answer is an error nothing caught in the worker, or
// a worker that could not start.
function settleInWorker(url, onConsole) {
  return new Promise((resolve) => {
    const source = `const settle = ${settle};
(${forwardConsole})(globalThis, (entry) => postMessage({ console: entry }));
postMessage({ answer: await settle(${JSON.stringify(url)}) });`;
    const worker = new Worker(URL.createObjectURL(new Blob([source], { type: 'text/javascript' })), { type: 'module' });
    worker.onmessage = ({ data }) => ('answer' in data ? resolve(data.answer) : onConsole(data.console));
    // A script that fails to load has an empty message.
    worker.onerror = (event) => resolve({ error: { name: 'WorkerError', message: event.message || 'the worker failed to start' } });
  });
}

// Passes each console entry of `scope` ({ type, text }, types as the drivers name them) to
// `onEntry`, and on to the console.
function forwardConsole(scope, onEntry) {
  for (const [method, type] of [['log', 'log'], ['info', 'info'], ['debug', 'debug'], ['warn', 'warning'], ['error', 'error']]) {
    const original = scope.console[method];
    scope.console[method] = (...args) => {
      onEntry({ type, text: args.map(String).join(' ') });
      original.apply(scope.console, args);
    };
  }
}

// The answer crosses to the test as JSON text, BigInts tagged: the drivers
// carry no BigInt inside an object (Puppeteer answers undefined for the whole).
const TAG = '$bigint';
function toText(answer) {
  return JSON.stringify(answer, (key, value) => (typeof value === 'bigint' ? { $bigint: String(value) } : value));
}
export const fromText = (text) => JSON.parse(text, (key, value) => (value !== null && typeof value === 'object' && TAG in value ? BigInt(value[TAG]) : value));

// An expression that settles `url` on the page or in a module Worker and
// evaluates to the answer as text (fromText reads it).
export function settleExpression(url, { worker }) {
  const settling = worker ? `settleInWorker(${JSON.stringify(url)}, () => {})` : `settle(${JSON.stringify(url)})`;
  return `(async () => {\n${SOURCES}\nreturn toText(await ${settling});\n})()`;
}

// The functions above as a script's text, for a page to define them.
export const SOURCES = [settle, settleInWorker, forwardConsole, toText].join('\n');

// The page firefox.mjs opens: it runs a module (?module=URL&worker=1) as the
// drivers do, or opens an app's page in a frame and evaluates an expression
// there (?page=URL&expression=…), recording the console and the errors nothing
// caught, and posts what it saw to ?report=URL: first { started }, then
// { outcome, console, pageErrors }. Served by server.mjs (and copied into an
// app's public files by vite.test.mjs), so that it runs on the page's origin.
export const RUNNER_PAGE = `<!doctype html>
<meta charset="utf-8">
<link rel="icon" href="data:,">
<title>wbg browser test runner</title>
<script type="module">
${SOURCES}
const params = new URLSearchParams(location.search);
const report = (data) => fetch(params.get('report'), { method: 'POST', body: JSON.stringify(data) });
const record = { console: [], pageErrors: [] };
function watch(window) {
  forwardConsole(window, (entry) => record.console.push(entry));
  window.addEventListener('error', (event) => record.pageErrors.push({ name: event.error?.name ?? 'Error', message: event.message }));
  window.addEventListener('unhandledrejection', (event) => record.pageErrors.push({ name: event.reason?.name ?? typeof event.reason, message: String(event.reason?.message ?? event.reason) }));
}
watch(window);
await report({ started: true });
let answer;
if (params.has('module')) {
  const url = params.get('module');
  answer = await (params.get('worker') ? settleInWorker(url, (entry) => record.console.push(entry)) : settle(url));
} else {
  // A same-origin frame shares the page's cross-origin isolation.
  const frame = document.createElement('iframe');
  frame.src = params.get('page');
  const loaded = new Promise((resolve) => (frame.onload = resolve));
  document.body.append(frame);
  await loaded;
  watch(frame.contentWindow);
  answer = { value: await frame.contentWindow.eval(params.get('expression')) };
}
await report({ outcome: toText(answer), ...record });
</script>
`;
