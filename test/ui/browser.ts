import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';

/** Debian's chromium, installed by the set-up (scripts/setup.mjs); playwright-core downloads nothing. */
export const CHROMIUM = process.env['CRUCIBLE_CHROMIUM'] ?? '/usr/bin/chromium';
export const CHROMIUM_MISSING = existsSync(CHROMIUM)
  ? null
  : `no browser at ${CHROMIUM} (apt-get install chromium, or npm install runs the set-up)`;

/** Where the browser tests write their screenshots (a CI job keeps the directory as an artifact). */
export const ARTIFACTS = path.resolve('test-results/dashboard');

export async function launch(): Promise<Browser> {
  await mkdir(ARTIFACTS, { recursive: true });
  // The container the tests run in has no user namespaces for Chromium's own sandbox.
  return chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu'] });
}

export async function screenshot(page: Page, name: string): Promise<string> {
  const file = path.join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}
