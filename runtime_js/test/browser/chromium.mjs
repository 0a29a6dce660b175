// Headless Chromium (Debian's chromium), driven by Puppeteer over the DevTools
// protocol, which reports the console of the page and of every worker, nested
// ones included (the pool's own threads). See browser.mjs for the interface.
import puppeteer from 'puppeteer-core';
import { fromText, settleExpression, within } from './harness.mjs';

const ARGS = [
  '--no-sandbox', // we run as root, where Chromium's sandbox refuses to start
  // No GPU in CI, and no traffic of the browser's own (first-run pages,
  // component updates, sync) to slow a test or reach the network.
  '--disable-gpu',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

// Keeps what `page` writes to its console (its workers' included) and the
// errors nothing caught, as they come.
function recordConsole(page) {
  const record = { console: [], pageErrors: [] };
  // Chromium's 'warning' is Puppeteer's 'warn'; an uncaught non-Error comes as itself.
  page.on('console', (message) => record.console.push({ type: message.type() === 'warn' ? 'warning' : message.type(), text: message.text() }));
  page.on('pageerror', (error) => record.pageErrors.push(error instanceof Error ? { name: error.name, message: error.message } : { thrown: String(error) }));
  return record;
}

export async function launchChromium(executablePath) {
  // A temporary profile, which Puppeteer removes at close.
  const browser = await puppeteer.launch({ browser: 'chrome', executablePath, headless: true, args: ARGS });

  // Opens `url` in a fresh page, evaluates `expression` there (its value is
  // the outcome), and closes the page: a hung main thread leaves it useless.
  async function evaluate(url, expression, timeoutMs) {
    const page = await browser.newPage();
    const record = recordConsole(page);
    try {
      await page.goto(url);
      const answer = page.evaluate(expression);
      // Swallowed: after a hang the page closes under the pending evaluate.
      answer.catch(() => {});
      return { outcome: await within(answer, timeoutMs), ...record };
    } finally {
      await page.close();
    }
  }

  return {
    async runModule(url, { worker = false, timeoutMs = 10_000 } = {}) {
      const run = await evaluate(new URL('/', url).href, settleExpression(url, { worker }), timeoutMs);
      return typeof run.outcome === 'string' ? { ...run, outcome: fromText(run.outcome) } : run;
    },
    async openPage(url, expression, { timeoutMs = 30_000 } = {}) {
      const run = await evaluate(url, expression, timeoutMs);
      return run.outcome?.hang !== undefined ? run : { ...run, outcome: { value: run.outcome } };
    },
    close: () => browser.close(),
  };
}
