// SPDX-License-Identifier: Apache-2.0
//
// Loads the status page in Debian's chromium (headless, driven by playwright-core), waits until
// the row of one breaker shows `open` and later `closed`, and saves a screenshot.
//
// Usage: node status_page_check.mjs --npm DIR --url URL --breaker NAME --screenshot FILE.png
//                                   [--timeout MS] [--chromium PATH]
//   --npm         directory whose node_modules has playwright-core (npm ci of this package.json)
//   --timeout     for each of the two waits (default 30000)
//   --chromium    default /usr/bin/chromium
// Exit status 0 when both states were seen (in that order) and the screenshot was written;
// 1 otherwise, with the reason (and a screenshot of the failure next to FILE, as FILE.failed.png).
// Also fails on a JavaScript error in the page.

import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';

const options = { timeout: '30000', chromium: '/usr/bin/chromium' };
for (let i = 2; i < process.argv.length; i += 2) {
  const key = process.argv[i].replace(/^--/, '');
  if (!['npm', 'url', 'breaker', 'screenshot', 'timeout', 'chromium'].includes(key) ||
      process.argv[i + 1] === undefined) {
    console.error(`status_page_check.mjs: bad argument ${process.argv[i]}`);
    process.exit(2);
  }
  options[key] = process.argv[i + 1];
}
for (const key of ['npm', 'url', 'breaker', 'screenshot']) {
  if (!options[key]) {
    console.error(`status_page_check.mjs: --${key} is required`);
    process.exit(2);
  }
}
const timeout = Number(options.timeout);

const require = createRequire(path.join(path.resolve(options.npm), 'package.json'));
const { chromium } = require('playwright-core');

const userDataDir = mkdtempSync(path.join(os.tmpdir(), 'breaker-chromium-'));
let context;
let page;
let failed = false;
const pageErrors = [];
try {
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: options.chromium,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
           '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: { width: 1100, height: 420 },
  });
  page = context.pages()[0] ?? await context.newPage();
  page.on('pageerror', (error) => pageErrors.push(error.message));

  await page.goto(options.url, { waitUntil: 'load', timeout });
  console.log(`loaded ${options.url}`);

  // The row's data-state, compared in the page (the name may hold any character).
  const waitForState = async (state) => {
    const started = Date.now();
    try {
      await page.waitForFunction(([name, wanted]) => {
        for (const row of document.querySelectorAll('tr[data-breaker]')) {
          if (row.dataset.breaker === name) {
            return row.dataset.state === wanted &&
                   row.querySelector('.state')?.textContent === wanted;
          }
        }
        return false;
      }, [options.breaker, state], { timeout, polling: 50 });
    } catch (error) {
      throw new Error(`the row of breaker ${JSON.stringify(options.breaker)} did not show ` +
                      `${state} within ${timeout} ms`);
    }
    console.log(`breaker ${JSON.stringify(options.breaker)} shows ${state} (after ${Date.now() - started} ms)`);
  };
  await waitForState('open');
  await waitForState('closed');

  if (pageErrors.length > 0) throw new Error(`JavaScript errors in the page: ${pageErrors.join('; ')}`);
  await page.screenshot({ path: options.screenshot, fullPage: true });
  console.log(`screenshot: ${options.screenshot}`);
} catch (error) {
  failed = true;
  console.error(`status page check failed: ${error.message}`);
  if (page) {
    await page.screenshot({ path: `${options.screenshot}.failed.png`, fullPage: true }).catch(() => {});
  }
} finally {
  if (context) await context.close().catch(() => {});
  rmSync(userDataDir, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
