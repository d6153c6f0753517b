import type { EvaluationView } from '../../src/api/views.js';
import type { Submission } from '../../src/client/index.js';
import type { TestServer } from '../support/server.js';
import { evaluate, probe } from './support.js';

/** Where the containment suite runs its programs: as evaluations, or as execs in interactive sandboxes. */
export type Via = 'evaluation' | 'sandbox';

export interface Runner {
  evaluate(server: TestServer, body: Submission, waitSeconds?: number): Promise<EvaluationView>;
  probe<T>(server: TestServer, code: string, extra?: Record<string, unknown>): Promise<T>;
}

/**
 * One "evaluation" as an interactive sandbox would run it: a fresh sandbox (so nothing carries over, as
 * between evaluations), the code written into /workspace through the file API, one exec, then terminate.
 * The answer has the evaluation fields the suite reads (status, result.stdout/stderr/exitCode).
 */
async function evaluateInSandbox(server: TestServer, body: Submission): Promise<EvaluationView> {
  const sandbox = await server.client.sandboxes.create({ language: body.language });
  try {
    const file = body.language === 'python' ? 'main.py' : 'main.sh';
    await sandbox.files.write(file, body.code ?? '');
    const run = await sandbox.exec(body.language === 'python' ? ['python3', file] : ['bash', file], {
      ...(body.stdin === undefined ? {} : { stdin: body.stdin }),
      timeoutSeconds: body.timeoutSeconds ?? 30,
    });
    const status = run.exitCode === 0 ? 'succeeded' : run.timedOut ? 'timed_out' : 'failed';
    return {
      id: run.execId,
      status,
      result: { stdout: run.stdout, stderr: run.stderr, exitCode: run.exitCode, oomKilled: run.oomKilled },
    } as unknown as EvaluationView;
  } finally {
    await sandbox.terminate();
  }
}

async function probeInSandbox<T>(
  server: TestServer,
  code: string,
  extra: Record<string, unknown> = {},
): Promise<T> {
  const e = await evaluateInSandbox(server, { language: 'python', code, ...extra } as Submission);
  const lines = (e.result?.stdout ?? '').trim().split('\n');
  try {
    return JSON.parse(lines.at(-1) ?? '') as T;
  } catch {
    throw new Error(`probe printed no JSON (status ${e.status}): ${e.result?.stdout}\n${e.result?.stderr}`);
  }
}

export function runnerFor(via: Via): Runner {
  return via === 'evaluation' ? { evaluate, probe } : { evaluate: evaluateInSandbox, probe: probeInSandbox };
}
