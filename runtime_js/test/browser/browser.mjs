// The browser the browser tests run in, chosen by WBG_BROWSER: chromium (the
// default; chromium.mjs) or firefox (firefox.mjs). Both are Debian's packages,
// which scripts/setup.sh installs: a driver's own browser download does not
// work here. launchBrowser() gives either as
//   runModule(url, { worker, timeoutMs, prefs })  the ES module at `url` (served by
//       server.mjs): its default export, an (async) function, is called on a
//       page's main thread, or with `worker: true` in a module Web Worker that
//       imports it. Resolves to { outcome, console, pageErrors }, outcome being
//       { value } (what the function returned), { error: { name, message,
//       code? } } (it threw, or the module failed to load) or { hang: 'no
//       answer within N ms' }: "no answer" must not look like a crash or an
//       error, since tests compare a package that hangs with one that rejects.
//       `prefs`: Firefox preferences for this run (Firefox only).
//   openPage(url, expression, { timeoutMs })  an app's own page: the value of
//       `expression` evaluated there (a promise is awaited), as the same outcome.
//   close()
// Each run is a page (or a browser) of its own, closed at the end: a hung main
// thread leaves it useless for any later run.
import fs from 'node:fs';
import { launchChromium } from './chromium.mjs';
import { launchFirefox } from './firefox.mjs';

const BROWSERS = {
  chromium: { executable: '/usr/bin/chromium', launch: launchChromium },
  firefox: { executable: '/usr/bin/firefox-esr', launch: launchFirefox },
};

export const BROWSER = process.env.WBG_BROWSER ?? 'chromium';

export async function launchBrowser() {
  const chosen = BROWSERS[BROWSER];
  if (chosen === undefined) throw new Error(`WBG_BROWSER=${BROWSER}: the browser tests run in ${Object.keys(BROWSERS).join(' or ')}`);
  if (!fs.existsSync(chosen.executable)) throw new Error(`${chosen.executable} is missing: run scripts/setup.sh, which installs it`);
  return chosen.launch(chosen.executable);
}

// What a run wrote that a test expects never to see: warnings and errors on a
// console, and errors nothing caught.
export const problems = ({ console, pageErrors }) => [...console.filter((entry) => entry.type === 'warning' || entry.type === 'error'), ...pageErrors];
