// The page of an app built by Vite (vite.test.mjs) that depends on a patched
// `--target web` package, 'wbg-demo', as an app depends on an SDK from npm. Its
// pool work runs in a module Worker, where execute() may block; the test awaits
// window.answer, what the worker posts.
const worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
window.answer = new Promise((resolve) => {
  worker.onmessage = (event) => resolve(event.data);
  worker.onerror = (event) => resolve({ failed: `the worker failed: ${event.message}` });
});
