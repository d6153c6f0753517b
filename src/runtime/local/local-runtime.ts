import { collectArtifacts } from './artifacts-mount.js';
import {
  findLanguage,
  isGraded,
  withCompileLimits,
  type CompileLimitOverrides,
  type LanguageSpec,
} from '../../core/index.js';
import type { Runtime, RunObserver, RunRequest } from '../runtime.js';
import type { Sandbox, SandboxHandle, SandboxSpec } from './sandbox-types.js';
import { hostLanguageCatalogue } from './language-probe.js';
import { runSpec, startStagedRun, type StagedRun } from './staged-run.js';

/** Maps a run request to a sandbox spec: the code goes to `/code/<fileName>`, read-only. */
export function sandboxSpecFor(request: RunRequest): SandboxSpec {
  const language = findLanguage(request.language);
  if (!language) throw new Error(`unknown language: ${request.language}`);
  return runSpec(request, language, null, request.stdin);
}

/**
 * The local runtime: each run is one sandboxed process tree on this host. Local sandboxes die with the
 * server, so `adopt` always answers `lost`.
 *
 * @example
 * const runtime = createLocalRuntime(await createSandbox({ isolation: 'bwrap', stateDir }));
 * await runtime.start(request, observer);
 */
export function createLocalRuntime(
  sandbox: Sandbox,
  options: { readonly compileLimits?: CompileLimitOverrides } = {},
): Runtime {
  const running = new Map<string, SandboxHandle>();
  const staged = new Map<string, StagedRun>();

  /** Compiled languages, extra files and tests: stages in fresh sandboxes (staged-run.ts). */
  function startStaged(request: RunRequest, observer: RunObserver, language: LanguageSpec | undefined) {
    if (!language) throw new Error(`unknown language: ${request.language}`);
    const run = startStagedRun(
      sandbox,
      request,
      // The server's compile limits (`--compile-limits`) over the table's.
      withCompileLimits(language, options.compileLimits),
      {
        started: (at) => observer.started(at),
        output: (stream, data) => observer.output(stream, data),
        ...(observer.artifact ? { artifact: (file) => observer.artifact!(file) } : {}),
      },
      (message) => process.emitWarning(message),
    );
    staged.set(request.evaluationId, run);
    void run.outcome.then((outcome) => {
      staged.delete(request.evaluationId);
      observer.finished(
        outcome.kind === 'exited'
          ? outcome
          : {
              kind: 'error',
              reason: 'sandbox_error',
              message: `cannot launch the sandbox: ${outcome.message}`,
              at: new Date(),
            },
      );
    });
  }

  return {
    name: sandbox.isolation,
    languages: hostLanguageCatalogue(),

    async start(request: RunRequest, observer: RunObserver): Promise<void> {
      const language = findLanguage(request.language);
      if (language?.compile || isGraded(request.grading)) {
        startStaged(request, observer, language);
        return;
      }
      let handle: SandboxHandle;
      try {
        handle = await sandbox.launch(
          { ...sandboxSpecFor(request), collectArtifacts: true },
          (stream, data) => observer.output(stream, data),
        );
      } catch (error) {
        observer.finished({
          kind: 'error',
          reason: 'sandbox_error',
          message: `cannot launch the sandbox: ${error instanceof Error ? error.message : String(error)}`,
          at: new Date(),
        });
        return;
      }
      running.set(request.evaluationId, handle);
      observer.started(handle.startedAt);
      void handle.exited.then(async (exit) => {
        running.delete(request.evaluationId);
        // Before `finished`: the result lists what was stored.
        await collectArtifacts(handle.artifacts, observer);
        observer.finished({
          kind: 'exited',
          exitCode: exit.exitCode,
          signal: exit.signal,
          timedOut: exit.timedOut,
          oomKilled: exit.oomKilled,
          startedAt: exit.startedAt,
          finishedAt: exit.finishedAt,
          cpuTimeMs: exit.cpuTimeMs,
          peakMemoryBytes: exit.peakMemoryBytes,
          memoryEnforcement: exit.memoryEnforcement,
        });
      });
    },

    async cancel(evaluationId: string): Promise<void> {
      await running.get(evaluationId)?.kill();
      await staged.get(evaluationId)?.kill();
    },

    async adopt(): Promise<'adopted' | 'lost'> {
      return 'lost';
    },

    async close(): Promise<void> {
      await sandbox.close();
    },
  };
}
