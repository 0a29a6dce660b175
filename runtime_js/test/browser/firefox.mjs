// Headless Firefox (Debian's firefox-esr) with no driver: each run is a
// Firefox of its own on a fresh profile, opening the runner page
// (harness.mjs RUNNER_PAGE), which posts what it saw to a report server here.
//
// Why no driver: over WebDriver BiDi (Puppeteer), Firefox 153's remote agent
// watches every new worker, and then a worker's `new Worker` blocks for good
// now and then (measured: 4 of 40 runs of the trap scenario hung, the pool's
// host inside `new Worker` for a pool thread; the same 40 runs in a Firefox
// started without the remote agent: none). A driver that makes the browser
// hang cannot test whether our runtime does.
//
// What this sees of the console: what the page and the worker the test starts
// log, and the errors nothing caught there; not the pool's own threads (a
// driver would; the runtime reports their logs and failures to the manager,
// which the tests check), nor an app's own workers or what an app's page logs
// before its load event (openPage), nor the browser's own messages (a 404, a
// blocked resource). Chromium's run sees all of that.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fromText, within } from './harness.mjs';

// A first start of a profile writes its files and may take seconds on a busy machine.
const START_TIMEOUT_MS = 60_000;
// No first-run pages, no checks or reports of Firefox's own.
const PREFS = {
  'browser.shell.checkDefaultBrowser': false,
  'browser.startup.homepage_override.mstone': 'ignore',
  'browser.aboutwelcome.enabled': false,
  'datareporting.policy.dataSubmissionEnabled': false,
  'toolkit.telemetry.reportingpolicy.firstRun': false,
  'app.update.disabledForTesting': true,
};

export async function launchFirefox(executablePath) {
  // id -> { started(), done(report) } of the runs under way.
  const runs = new Map();
  const reports = http.createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk) => (body += chunk));
    req.on('end', () => {
      const run = runs.get(req.url.slice(1));
      let data;
      try {
        data = JSON.parse(body);
      } catch {
        data = undefined;
      }
      if (run !== undefined && data !== undefined) data.started ? run.started() : run.done(data);
      // The runner page is of the test server's origin: it may read this answer.
      res.writeHead(204, { 'Access-Control-Allow-Origin': '*' });
      res.end();
    });
  });
  await new Promise((resolve) => reports.listen(0, '127.0.0.1', resolve));
  reports.unref();
  const reportBase = `http://127.0.0.1:${reports.address().port}/`;
  let nextId = 0;

  // Opens the runner page of `origin` with `query` in a Firefox of its own, and
  // resolves with its report, or { outcome: { hang } } after `timeoutMs` from the page's start.
  async function run(origin, query, timeoutMs, prefs = {}) {
    const id = String(nextId++);
    const runner = new URL(`/__wbg-runner.html?${new URLSearchParams({ ...query, report: reportBase + id })}`, origin).href;
    let started, done;
    const startedP = new Promise((resolve) => (started = resolve));
    const doneP = new Promise((resolve) => (done = resolve));
    runs.set(id, { started, done });
    const firefox = startFirefox(executablePath, runner, prefs);
    try {
      const start = await within(Promise.race([startedP, firefox.exited]), START_TIMEOUT_MS);
      if (start !== undefined) {
        throw new Error(start.hang !== undefined ? `Firefox did not open ${runner} within ${START_TIMEOUT_MS} ms` : `Firefox exited (${start}) before it opened ${runner}`);
      }
      // A Firefox that ends (crashes) before the page reported is no hang of the page's.
      const report = await within(Promise.race([doneP, firefox.exited.then((code) => ({ exited: code }))]), timeoutMs);
      if (report.exited !== undefined) throw new Error(`Firefox exited (${report.exited}) before ${runner} reported`);
      if (report.hang !== undefined) return { outcome: report, console: [], pageErrors: [] };
      return { ...report, outcome: fromText(report.outcome) };
    } finally {
      runs.delete(id);
      await firefox.stop();
    }
  }

  return {
    runModule: (url, { worker = false, timeoutMs = 10_000, prefs } = {}) => run(url, { module: url, ...(worker ? { worker: '1' } : {}) }, timeoutMs, prefs),
    openPage: (url, expression, { timeoutMs = 30_000 } = {}) => run(url, { page: url, expression }, timeoutMs),
    close: () => new Promise((resolve) => reports.close(resolve)),
  };
}

// The Firefoxes running now: ended when the test process exits, however it does.
const running = new Set();
process.on('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

// A headless Firefox on a fresh profile with PREFS and `prefs`, showing `url`. `exited` resolves
// (with the exit code or signal) only if it ends by itself, and rejects if it could not
// start; stop() ends it and removes the profile.
function startFirefox(executablePath, url, prefs) {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'wbg-firefox-'));
  fs.writeFileSync(path.join(profile, 'user.js'), Object.entries({ ...PREFS, ...prefs }).map(([k, v]) => `user_pref(${JSON.stringify(k)}, ${JSON.stringify(v)});\n`).join(''));
  const child = spawn(executablePath, ['--headless', '--no-remote', '--profile', profile, url], { stdio: 'ignore' });
  running.add(child);
  const ended = once(child, 'exit');
  let stopping = false;
  return {
    exited: ended.then(([code, signal]) => (stopping ? new Promise(() => {}) : String(code ?? signal))),
    async stop() {
      stopping = true;
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await ended.catch(() => {}); // a Firefox that never started: its error is the run's
      running.delete(child);
      fs.rmSync(profile, { recursive: true, force: true });
    },
  };
}
