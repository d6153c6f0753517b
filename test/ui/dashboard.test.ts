import { copyFile } from 'node:fs/promises';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Crucible } from '../../src/client/index.js';
import type { RunningServer } from '../../src/server.js';
import { startKubeServer, type KubeServer } from '../support/kube-server.js';
// @ts-expect-error: a plain .mjs script of the build, without types
import { bundleUi } from '../../scripts/bundle-ui.mjs';
import { CHROMIUM_MISSING, launch, screenshot } from './browser.js';

const describeBrowser = CHROMIUM_MISSING && !process.env['CI'] ? describe.skip : describe;
if (CHROMIUM_MISSING && process.env['CI'])
  throw new Error(`${CHROMIUM_MISSING}, and CI must run the browser tests`);

/**
 * The dashboard in a real browser (Debian's chromium through playwright-core) against the real server on
 * the Kubernetes backend of the fake API server: pods really run, logs really stream.
 */
describeBrowser(`dashboard in Chromium${CHROMIUM_MISSING ? ` (skipped: ${CHROMIUM_MISSING})` : ''}`, () => {
  let kube: KubeServer;
  let server: RunningServer;
  let browser: Browser;
  let page: Page;
  let client: Crucible;

  beforeAll(async () => {
    await bundleUi();
    // Small, so one test can show truncation.
    kube = await startKubeServer({ concurrency: 4, limits: { maxOutputBytes: 2000 } });
    ({ server, client } = kube);
    browser = await launch();
    page = await browser.newPage({ viewport: { width: 1280, height: 900 }, colorScheme: 'dark' });
  });
  afterAll(async () => {
    await browser?.close();
    await kube?.close();
  });

  it('serves the page and its hashed assets with the right caching', async () => {
    const index = await fetch(`${server.url}/`);
    expect(index.headers.get('cache-control')).toBe('no-cache');
    const html = await index.text();
    const script = /src="\/ui\/(app-[A-Z0-9]+\.js)"/.exec(html)![1]!;
    const asset = await fetch(`${server.url}/ui/${script}`);
    expect(asset.status).toBe(200);
    expect(asset.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    expect(asset.headers.get('content-type')).toMatch(/javascript/);
    expect((await fetch(`${server.url}/ui/..%2Fpackage.json`)).status).toBe(404);
  });

  it('the list updates live when an evaluation is submitted from the API', async () => {
    await page.goto(`${server.url}/`);
    await page.locator('.rows[data-count]').waitFor();
    const submitted = await client.submit({ language: 'python', code: 'print("from the API")' });
    const row = page.locator(`.row[data-id="${submitted.id}"]`);
    await row.waitFor({ timeout: 15_000 });
    // The status follows the transitions, with no reload.
    await row.locator('[data-status="succeeded"]').waitFor({ timeout: 30_000 });
    // Its total duration, read once it ended.
    await row
      .getByRole('cell')
      .nth(4)
      .getByText(/^\d+(\.\d+)? (ms|s)$/)
      .waitFor();
    await screenshot(page, 'list');
  });

  it('streams the log, renders ANSI colours, and draws a bar per stage', async () => {
    const code = [
      'import sys, time',
      'for i in range(4):',
      '    print(f"\\033[32mline {i}\\033[0m", flush=True)',
      '    time.sleep(0.4)',
      'print("to stderr", file=sys.stderr)',
      'print("<img src=x onerror=alert(1)>")',
    ].join('\n');
    const submitted = await client.submit({ language: 'python', code });
    await page.goto(`${server.url}/#/e/${submitted.id}`);
    const stdout = page.locator('pre[data-stream="stdout"]');
    // Streamed: the first line is shown while the program still runs.
    await stdout.getByText('line 0').waitFor({ timeout: 20_000 });
    const whileRunning = await page.locator('[data-status]').first().getAttribute('data-status');
    await page.locator('.evaluation-head [data-status="succeeded"]').waitFor({ timeout: 30_000 });
    await stdout.getByText('line 3').waitFor();
    expect(['starting', 'running', 'succeeded']).toContain(whileRunning);
    expect(await page.locator('pre[data-stream="stderr"]').innerText()).toContain('to stderr');
    // ANSI colours become styled spans, not escape codes.
    expect(await stdout.innerText()).not.toContain('[32m');
    expect(await stdout.locator('span[style*="color"]').count()).toBeGreaterThan(0);
    // The program's output is text, never markup.
    await stdout.getByText('<img src=x onerror=alert(1)>').waitFor();
    expect(await stdout.locator('img').count()).toBe(0);

    const final = await client.get(submitted.id);
    const stages = await page
      .locator('[data-stage]')
      .evaluateAll((nodes) => nodes.map((n) => n.getAttribute('data-stage')));
    // Crucible's four stages, and on Kubernetes the Job, pod and container ones.
    expect(stages).toEqual([
      'queue',
      'start',
      'job_create',
      'pod_schedule',
      'container_start',
      'run',
      'store',
    ]);
    await page.locator('[data-stage="run"]').hover();
    const tooltip = await page.locator('.tooltip').innerText();
    expect(tooltip).toContain(final.timings.startedAt!);
    expect(tooltip).toContain(final.timings.finishedAt!);
    const file = await screenshot(page, 'evaluation');
    if (process.env['CRUCIBLE_UPDATE_DOCS_SCREENSHOT']) await copyFile(file, 'docs/dashboard-evaluation.png');
  });

  it('shows truncation when the output passes the limit', async () => {
    const submitted = await client.submit({ language: 'python', code: 'print("x" * 5000)' });
    await client.get(submitted.id, 30);
    await page.goto(`${server.url}/#/e/${submitted.id}`);
    await page.locator('[data-truncated="stdout"]').waitFor({ timeout: 15_000 });
  });

  it('cancel works from the evaluation page', async () => {
    const submitted = await client.submit({
      language: 'python',
      code: 'import time\nprint("up", flush=True)\ntime.sleep(60)',
    });
    await page.goto(`${server.url}/#/e/${submitted.id}`);
    await page.locator('pre[data-stream="stdout"]').getByText('up').waitFor({ timeout: 20_000 });
    await page.getByRole('button', { name: 'Cancel' }).click();
    await page.locator('.evaluation-head [data-status="cancelled"]').waitFor({ timeout: 15_000 });
    expect((await client.get(submitted.id)).status).toBe('cancelled');
    await screenshot(page, 'cancelled');
  });

  it('shows the queue by priority and the capacity', async () => {
    await page.goto(`${server.url}/#/queue`);
    await page.locator('tr[data-priority="high"]').waitFor();
    expect(await page.getByRole('meter').getAttribute('aria-valuemax')).toBe('4');
  });

  it('submits from the form with the code editor, in the light theme too', async () => {
    await page.goto(`${server.url}/#/new`);
    await page.locator('.cm-content').waitFor();
    await page.locator('.cm-content').click();
    await page.keyboard.press('Control+A');
    await page.keyboard.type('print(6 * 7)');
    await page.getByRole('button', { name: /Switch to light theme/ }).click();
    // Preact applies the theme in an effect after the click's render: wait for it rather than read at once.
    await page.locator('html[data-theme="light"]').waitFor({ state: 'attached', timeout: 5_000 });
    expect(await page.evaluate('localStorage.getItem("crucible.theme")')).toBe('light');
    await page.getByRole('button', { name: 'Run' }).click();
    await page.waitForURL(/#\/e\//);
    await page.locator('pre[data-stream="stdout"]').getByText('42').waitFor({ timeout: 30_000 });
    await screenshot(page, 'submitted-light');
    await page.getByRole('button', { name: /Switch to dark theme/ }).click();
  });
});

describeBrowser('dashboard with authentication on', () => {
  let kube: KubeServer;
  let server: RunningServer;
  let browser: Browser;
  const adminToken = 'dashboard-admin-token-0123456789';

  beforeAll(async () => {
    await bundleUi();
    kube = await startKubeServer({ auth: { mode: 'required', adminToken } });
    ({ server } = kube);
    browser = await launch();
  });
  afterAll(async () => {
    await browser?.close();
    await kube?.close();
  });

  it('asks for a token, refuses a wrong one, and shows the list with the right one', async () => {
    const page = await browser.newPage();
    await page.goto(`${server.url}/`);
    const field = page.getByLabel('Token');
    await field.fill('wrong-token');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('alert').waitFor();
    await field.fill(adminToken);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.locator('.rows[data-count]').waitFor();
    await page.close();
  });
});
