import { readdirSync, readFileSync } from 'node:fs';
import { lstat, readdir } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { EvaluationView } from '../../src/api/views.js';
import type { Submission } from '../../src/client/index.js';
import type { TestServer } from '../support/server.js';

/** The project's own checkout, which no sandboxed program may see. */
export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url)).replace(/\/$/, '');

export const TERMINAL = ['succeeded', 'failed', 'timed_out', 'cancelled', 'error'];

/** Submits and waits (server side, `?wait=`) until the evaluation is terminal. */
export async function evaluate(
  server: TestServer,
  body: Submission,
  waitSeconds = 60,
): Promise<EvaluationView> {
  const submitted = await server.client.submit(body);
  const done = await server.client.get(submitted.id, waitSeconds);
  if (!TERMINAL.includes(done.status)) throw new Error(`evaluation ${done.id} still ${done.status}`);
  return done;
}

/** Runs Python code that prints one JSON document as its last stdout line, and returns that document. */
export async function probe<T>(
  server: TestServer,
  code: string,
  extra: Record<string, unknown> = {},
): Promise<T> {
  const e = await evaluate(server, { language: 'python', code, ...extra });
  const lines = (e.result?.stdout ?? '').trim().split('\n');
  try {
    return JSON.parse(lines.at(-1) ?? '') as T;
  } catch {
    throw new Error(`probe printed no JSON (status ${e.status}): ${e.result?.stdout}\n${e.result?.stderr}`);
  }
}

/** Host processes whose command line contains `marker` (the caller's own test process excluded). */
export function hostProcesses(marker: string): { pid: number; cmdline: string }[] {
  const found: { pid: number; cmdline: string }[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8').replaceAll('\0', ' ');
      if (cmdline.includes(marker)) found.push({ pid: Number(entry), cmdline });
    } catch {
      // The process ended while we looked.
    }
  }
  return found;
}

/** Polls `probe` every 20 ms until it returns true or `ms` passed; returns the last answer. */
export async function eventually(probe: () => boolean | Promise<boolean>, ms = 5000): Promise<boolean> {
  const deadline = Date.now() + ms;
  for (let i = 0; i < 10_000; i++) {
    if (await probe()) return true;
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return false;
}

/** Resident memory of a process in KiB, from /proc/<pid>/status. */
export function vmRssKb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/^VmRSS:\s+(\d+)/m.exec(status)?.[1] ?? NaN);
}

export interface Transition {
  readonly seq: number;
  readonly from: string | null;
  readonly to: string;
  readonly reason: string | null;
}

export async function transitions(server: TestServer, id: string): Promise<Transition[]> {
  const response = await fetch(`${server.url}/v1/evaluations/${id}/transitions`);
  return ((await response.json()) as { items: Transition[] }).items;
}

export interface RawResponse {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: string;
}

/**
 * One HTTP request with full control over headers, body and the local address (127.x.y.z, so tests can play
 * several clients). No connection reuse.
 */
export function rawRequest(
  url: string,
  options: {
    method?: string;
    headers?: Record<string, string>;
    body?: string | Buffer;
    localAddress?: string;
  } = {},
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const request = http.request(
      url,
      {
        method: options.method ?? 'GET',
        headers: options.headers ?? {},
        agent: false,
        ...(options.localAddress ? { localAddress: options.localAddress } : {}),
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () =>
          resolve({
            status: response.statusCode ?? 0,
            headers: response.headers,
            body: Buffer.concat(chunks).toString(),
          }),
        );
        response.on('error', reject);
      },
    );
    request.on('error', reject);
    request.end(options.body);
  });
}

export function postJson(
  url: string,
  body: string | Buffer,
  headers: Record<string, string> = {},
): Promise<RawResponse> {
  return rawRequest(`${url}/v1/evaluations`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body,
  });
}

/** Every entry under `dir`, by lstat (links are reported, never followed). */
export async function walkNoFollow(dir: string): Promise<{ path: string; uid: number; symlink: boolean }[]> {
  const out: { path: string; uid: number; symlink: boolean }[] = [];
  const pending = [dir];
  for (let guard = 0; pending.length > 0 && guard < 100_000; guard++) {
    const current = pending.pop()!;
    let entries: string[];
    try {
      entries = await readdir(current);
    } catch {
      continue;
    }
    for (const name of entries) {
      const full = path.join(current, name);
      try {
        const stat = await lstat(full);
        out.push({ path: full, uid: stat.uid, symlink: stat.isSymbolicLink() });
        if (stat.isDirectory()) pending.push(full);
      } catch {
        // Removed while we walked (a run's bundle being cleaned up).
      }
    }
  }
  return out;
}

/** Host-side processes of the server's gVisor sandboxes (sentry, gofer, `runsc run`), not its cleanup calls. */
export function gvisorSandboxProcesses(dataDir: string): { pid: number; cmdline: string }[] {
  return hostProcesses(path.join(dataDir, 'sandbox', 'gvisor')).filter(
    (p) => !/ (delete|kill|list) /.test(p.cmdline),
  );
}
