import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ServerConfigSchema } from '../../src/config/index.js';
import { startServer, type RunningServer } from '../../src/server.js';
import { LOCAL_SANDBOX_MISSING } from '../sandboxes/harness.js';
import { MemoryLogger } from '../support/in-process.js';
// @ts-expect-error: a plain .mjs script of the build, without types
import { bundleUi } from '../../scripts/bundle-ui.mjs';
import { CHROMIUM_MISSING, launch, screenshot } from './browser.js';

const MISSING = CHROMIUM_MISSING ?? LOCAL_SANDBOX_MISSING;
const describeBrowser = MISSING && !process.env['CI'] ? describe.skip : describe;
if (MISSING && process.env['CI']) throw new Error(`${MISSING}, and CI must run the browser tests`);

/**
 * Sandboxes in the dashboard, in a real browser against the real server with authentication on and the
 * local bwrap sandbox runtime: the terminal is a real shell over the pty WebSocket, authenticated by the
 * `bearer.<token>` subprotocol (a browser WebSocket cannot send an Authorization header).
 */
describeBrowser(`dashboard sandboxes in Chromium${MISSING ? ` (skipped: ${MISSING})` : ''}`, () => {
  let server: RunningServer;
  let dataDir: string;
  let browser: Browser;
  let page: Page;
  const log = new MemoryLogger();
  const adminToken = 'dashboard-sandbox-token-0123456789';
  const api = (method: string, path: string) =>
    fetch(`${server.url}${path}`, { method, headers: { authorization: `Bearer ${adminToken}` } });

  beforeAll(async () => {
    await bundleUi();
    dataDir = await mkdtemp(join(tmpdir(), 'crucible-ui-sandboxes-'));
    const config = ServerConfigSchema.parse({
      port: 0,
      dataDir,
      auth: { mode: 'required', adminToken },
    });
    server = await startServer(config, log);
    browser = await launch();
    page = await browser.newPage({ viewport: { width: 1100, height: 800 }, colorScheme: 'dark' });
    await page.goto(`${server.url}/`);
    await page.getByLabel('Token').fill(adminToken);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.locator('.rows[data-count]').waitFor();
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    // A sandbox a failed test left live would be hibernated by close: terminate it instead.
    const left = (await (await api('GET', '/v1/sandboxes?status=ready')).json()) as {
      items: { id: string }[];
    };
    for (const { id } of left.items) await api('DELETE', `/v1/sandboxes/${id}`);
    await server?.close();
    await rm(dataDir, { recursive: true, force: true });
  }, 60_000);

  it('creates a sandbox from the page, types in its terminal, resizes it and terminates it', async () => {
    await page.getByRole('link', { name: 'Sandboxes' }).click();
    await page.getByLabel('Memory (MB)').fill('256');
    await page.getByRole('button', { name: 'Create sandbox' }).click();
    await page.waitForURL(/#\/s\//);
    const id = decodeURIComponent(/#\/s\/(.+)$/.exec(page.url())![1]!);
    const sandbox = (await (await api('GET', `/v1/sandboxes/${id}`)).json()) as Record<string, unknown>;
    expect(sandbox).toMatchObject({ status: 'ready', memoryMb: 256 });

    const terminal = page.locator('.sandbox-terminal');
    await page.locator('.terminal-state[data-state="open"]').waitFor({ timeout: 20_000 });
    const rows = page.locator('.xterm-rows');
    await page.keyboard.type('echo hi-from-term\n');
    // The echoed command and its output: the output is a line of its own.
    await expect
      .poll(async () => (await rows.innerText()).split('\n').map((l) => l.trim()), { timeout: 15_000 })
      .toContain('hi-from-term')
      .catch(async (error: unknown) => {
        // Seen once in a full CI run (an empty terminal after 15 s, not reproduced since): say what the page
        // and the server saw, so the next failure can be told apart.
        const state = await page.locator('.terminal-state').innerText();
        const server = log.lines.map((l) => `${l.level}: ${l.message}`).join('\n');
        throw new Error(`${String(error)}\nterminal state: ${state}\nserver log:\n${server}`);
      });
    await screenshot(page, 'sandbox-terminal');

    // A smaller window: fewer columns, and the shell is told (stty reads the pty's size).
    const before = Number(await terminal.getAttribute('data-cols'));
    await page.setViewportSize({ width: 700, height: 600 });
    await expect.poll(async () => Number(await terminal.getAttribute('data-cols'))).toBeLessThan(before);
    const cols = await terminal.getAttribute('data-cols');
    const lines = await terminal.getAttribute('data-rows');
    await page.keyboard.type('stty size\n');
    await expect
      .poll(async () => (await rows.innerText()).split('\n').map((l) => l.trim()), { timeout: 15_000 })
      .toContain(`${lines} ${cols}`);

    // Escape then Tab leaves the terminal: it is no keyboard trap.
    await page.keyboard.press('Escape');
    await page.keyboard.press('Tab');
    expect(await page.evaluate("document.activeElement?.closest('.sandbox-terminal') === null")).toBe(true);

    await page.getByRole('button', { name: `Terminate ${id}` }).click();
    await page.locator('.evaluation-head [data-status="terminated"]').waitFor({ timeout: 15_000 });
    expect(await page.locator('.xterm').count()).toBe(0);

    await page.getByRole('link', { name: 'Sandboxes' }).click();
    await page.locator(`tr[data-sandbox="${id}"] [data-status="terminated"]`).waitFor();
    await page.getByRole('button', { name: /Switch to light theme/ }).click();
    await screenshot(page, 'sandboxes-light');
    await page.getByRole('button', { name: /Switch to dark theme/ }).click();
  });
});
