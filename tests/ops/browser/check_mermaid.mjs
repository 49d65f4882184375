// SPDX-License-Identifier: Apache-2.0
//
// Renders every ```mermaid block of the given Markdown files with the pinned mermaid package in
// Debian's chromium (headless, playwright-core): a block that does not parse or render fails.
// Each rendered diagram is saved as <out dir>/<file>-<n>.svg.
//
// Usage: node check_mermaid.mjs --npm DIR --out DIR [--chromium PATH] FILE.md...

import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';

const options = { chromium: '/usr/bin/chromium' };
const files = [];
for (let i = 2; i < process.argv.length; i++) {
  const arg = process.argv[i];
  if (['--npm', '--out', '--chromium'].includes(arg) && process.argv[i + 1] !== undefined) {
    options[arg.slice(2)] = process.argv[++i];
  } else if (arg.startsWith('--')) {
    console.error(`check_mermaid.mjs: bad argument ${arg}`);
    process.exit(2);
  } else {
    files.push(arg);
  }
}
if (!options.npm || !options.out || files.length === 0) {
  console.error('usage: check_mermaid.mjs --npm DIR --out DIR [--chromium PATH] FILE.md...');
  process.exit(2);
}

const require = createRequire(path.join(path.resolve(options.npm), 'package.json'));
const { chromium } = require('playwright-core');
const mermaidScript = path.join(path.dirname(require.resolve('mermaid/package.json')), 'dist', 'mermaid.min.js');

const blocks = [];
for (const file of files) {
  const text = readFileSync(file, 'utf8');
  const pattern = /^```mermaid\n([\s\S]*?)^```$/gm;
  let match;
  let n = 0;
  while ((match = pattern.exec(text)) !== null) {
    n++;
    blocks.push({ file, n, source: match[1] });
  }
}
if (blocks.length === 0) {
  console.error(`no mermaid block in ${files.join(', ')}`);
  process.exit(1);
}

mkdirSync(options.out, { recursive: true });
const userDataDir = mkdtempSync(path.join(os.tmpdir(), 'breaker-chromium-'));
let failed = 0;
let context;
try {
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: options.chromium,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
           '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const page = context.pages()[0] ?? await context.newPage();
  await page.setContent('<!DOCTYPE html><html><body></body></html>');
  await page.addScriptTag({ path: mermaidScript });
  await page.evaluate(() => window.mermaid.initialize({ startOnLoad: false, securityLevel: 'strict' }));
  for (const block of blocks) {
    const where = `${path.basename(block.file)} block ${block.n}`;
    const result = await page.evaluate(async ([id, source]) => {
      try {
        const { svg } = await window.mermaid.render(id, source);
        return { svg };
      } catch (error) {
        return { error: String(error && error.message ? error.message : error) };
      }
    }, [`diagram${blocks.indexOf(block)}`, block.source]);
    if (result.error) {
      failed++;
      console.error(`${where}: ${result.error}`);
    } else {
      const out = path.join(options.out, `${path.basename(block.file, '.md')}-${block.n}.svg`);
      writeFileSync(out, result.svg);
      console.log(`${where}: renders (${out})`);
    }
  }
} finally {
  if (context) await context.close().catch(() => {});
  rmSync(userDataDir, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
