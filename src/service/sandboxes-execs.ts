import { CrucibleError } from '../core/index.js';
import { AgentError } from '../runtime/sandbox/agent-client.js';
import type { ExecRecord, SandboxStore } from '../store/store.js';
import { ExecCapture, execExitOf } from './sandboxes-exec.js';
import type { LiveSandbox } from './sandboxes.js';
import type { ExecEvent, ExecRequest } from './sandboxes-types.js';

/** Bytes kept per stream of one exec (the rest is read and dropped; the exit says `truncated`). */
export const EXEC_MAX_OUTPUT_BYTES = 1024 * 1024;
export const EXEC_DEFAULT_TIMEOUT_SECONDS = 60;

export interface ExecHandle {
  readonly id: string;
  /** Output chunks with seq > after, then the end (live while it runs). */
  follow(after: number, signal?: AbortSignal): AsyncIterable<ExecEvent>;
  /** Present while the exec's output is in memory here (it runs, or just ended). */
  readonly capture: ExecCapture | null;
}

function argvOf(command: ExecRequest['command']): string[] {
  if (typeof command === 'string') return ['/bin/sh', '-c', command];
  if (command.length === 0)
    throw new CrucibleError('invalid_request', 'command must not be empty', 'command');
  return [...command];
}

/**
 * Starts one exec in a live sandbox. It runs to its end whatever happens to the caller's connection: the
 * capture stores every chunk, then the exit.
 */
export async function runExec(
  live: LiveSandbox,
  store: SandboxStore,
  execId: string,
  sandboxId: string,
  request: ExecRequest,
  now: () => Date,
): Promise<ExecHandle> {
  const argv = argvOf(request.command);
  const exec: ExecRecord = {
    id: execId,
    sandboxId,
    argv,
    status: 'running',
    exit: null,
    startedAt: now().toISOString(),
    finishedAt: null,
  };
  await store.insertExec(exec);
  const capture = new ExecCapture(execId, sandboxId, store);
  live.execs.set(execId, capture);
  const oomBefore = (await live.instance.oomKills?.()) ?? null;
  const running = live.client.exec(
    {
      argv,
      ...(request.cwd === undefined ? {} : { cwd: request.cwd }),
      ...(request.env === undefined ? {} : { env: request.env }),
      timeoutMs: (request.timeoutSeconds ?? EXEC_DEFAULT_TIMEOUT_SECONDS) * 1000,
      maxOutputBytes: EXEC_MAX_OUTPUT_BYTES,
      ...(request.stdin === undefined ? {} : { stdin: Buffer.from(request.stdin, 'utf8') }),
    },
    (stream, data) => capture.push(stream, data),
  );
  void running
    .then(async (exit) => {
      const oomAfter = (await live.instance.oomKills?.()) ?? null;
      const hostOom = oomBefore !== null && oomAfter !== null && oomAfter > oomBefore;
      await capture.finish({ exit: execExitOf(exit, hostOom), status: 'finished' }, now().toISOString());
    })
    .catch(async (error: unknown) => {
      // The agent refused it (a cwd outside the workspace) or went away: the exec ends without an exit.
      if (error instanceof AgentError && error.code !== 'sandbox_unavailable') {
        capture.push('stderr', Buffer.from(`crucible: ${error.message}\n`));
      }
      await capture.finish({ exit: null, status: 'lost' }, now().toISOString());
    })
    .finally(() => {
      // Kept a little after the end, so a client reconnecting at once is served from memory.
      setTimeout(() => live.execs.get(execId) === capture && live.execs.delete(execId), 60_000).unref();
    });
  return { id: execId, follow: (after, signal) => capture.follow(after, signal), capture };
}

/** An exec's stored output after `after`, then its end (its sandbox may be long gone). */
export async function* followStoredExec(
  store: SandboxStore,
  exec: ExecRecord,
  after: number,
): AsyncGenerator<ExecEvent> {
  let seq = after;
  for (;;) {
    const page = await store.readExecLogs(exec.id, seq, 1000);
    for (const chunk of page) yield { seq: chunk.seq, stream: chunk.stream, data: chunk.data };
    if (page.length < 1000) break;
    seq = (page.at(-1) as { seq: number }).seq;
  }
  const latest = (await store.getExec(exec.id)) ?? exec;
  yield { exit: latest.exit, status: latest.status === 'finished' ? 'finished' : 'lost' };
}
