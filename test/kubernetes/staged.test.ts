import { Job } from 'kubernetes-models/batch/v1/Job';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { describe, expect, it } from 'vitest';
import { findLanguage, type ExitedOutcome } from '../../src/core/index.js';
import { buildEvaluationManifests, parseKubernetesOptions } from '../../src/runtime/kubernetes/index.js';
import { FrameDecoder } from '../../src/runtime/kubernetes/frames.js';
import { StageCollector } from '../../src/runtime/kubernetes/stage-frames.js';
import { request } from './harness.js';

const options = parseKubernetesOptions({ namespace: 'evals' });

describe('staged evaluation pods (compiled languages, files, tests)', () => {
  it('compiles in the language image with the table limits, places files and each test stdin', () => {
    const req = {
      ...request('int main(void){return 0;}', {
        language: 'c',
        limits: { timeoutSeconds: 3, memoryMb: 256 },
      }),
      grading: {
        files: [{ name: 'lib/util.h', content: '#define X 1\n' }],
        tests: [{ stdin: '1 2', expectedStdout: '3\n' }, { expectedStdout: '' }],
        compare: {},
      },
    };
    const { configMaps, job } = buildEvaluationManifests(req, options);
    new Job(job as never).validate();
    configMaps.forEach((cm) => new ConfigMap(cm as never).validate());
    const keys = configMaps.flatMap((cm) => Object.keys(cm.data ?? {}));
    expect(keys).toEqual(expect.arrayContaining(['main.c.000', 'file-0.000', 'test-000.stdin.000']));
    const limits = findLanguage('c')!.compile!.limits;
    const pod = job.spec!.template.spec!;
    const main = pod.containers[0]!;
    const init = pod.initContainers!.find((c) => c.name === 'compile')!;
    // The compiler in its own init container (the language image, the compile memory, /build writable) ...
    expect(init.image).toBe('gcc:12');
    expect(init.resources?.limits?.['memory']).toBe(`${limits.memoryMb}Mi`);
    expect(init.volumeMounts).toContainEqual({ name: 'build', mountPath: '/build' });
    const command = init.command!;
    const flag = (name: string) => command[command.indexOf(name) + 1];
    expect(flag('--file')).toBe('file-0=lib/util.h');
    expect(flag('--compile-timeout-ms')).toBe(String(limits.timeoutSeconds * 1000));
    expect(flag('--compile-pids')).toBe(String(limits.maxProcesses));
    expect(flag('--compile-to')).toBe('/build/.crucible-compile');
    const compiler = command.slice(command.indexOf('--') + 1);
    expect(compiler).toHaveLength(Number(flag('--compile-args')));
    // The header is present but not compiled.
    expect(compiler).toEqual([
      'gcc',
      '-O2',
      '-std=gnu17',
      '-pipe',
      '-o',
      '/build/main',
      '/tmp/crucible/main.c',
      '-lm',
    ]);
    // ... the program in the main container: the evaluation's memory, /build read-only, the compile replayed.
    expect(main.image).toBe('gcc:12');
    expect(main.resources?.limits?.['memory']).toBe('256Mi');
    const run = main.command!;
    expect(run[run.indexOf('--compiled') + 1]).toBe('/build/.crucible-compile');
    expect(run[run.indexOf('--tests') + 1]).toBe('2');
    expect(run.includes('--compile-args')).toBe(false);
    expect(run.slice(run.indexOf('--') + 1)).toEqual(['/build/main']);
    expect(main.volumeMounts).toContainEqual({ name: 'build', mountPath: '/build', readOnly: true });
    expect(pod.volumes).toContainEqual({
      name: 'build',
      emptyDir: { medium: 'Memory', sizeLimit: `${limits.buildSizeMb}Mi` },
    });
    // The compile's time and each test's, plus the allowance.
    expect(job.spec!.activeDeadlineSeconds).toBe(
      limits.timeoutSeconds + 2 * 3 + options.deadlineAllowanceSeconds,
    );
  });

  it('leaves a plain interpreted run as it was', () => {
    const { job } = buildEvaluationManifests(request('print(1)'), options);
    const command = job.spec!.template.spec!.containers[0]!.command!;
    expect(command.some((word) => word.startsWith('--compile') || word === '--tests')).toBe(false);
  });
});

const exited: ExitedOutcome = {
  kind: 'exited',
  exitCode: 0,
  signal: null,
  timedOut: false,
  oomKilled: false,
  startedAt: new Date(1000),
  finishedAt: new Date(3000),
  cpuTimeMs: null,
  peakMemoryBytes: null,
  memoryEnforcement: 'kubernetes',
};

/** Feeds runner lines through the real decoder into a collector; returns what reached the program's streams. */
function decode(collector: StageCollector, lines: string[]): string {
  let streamed = '';
  const decoder = new FrameDecoder(
    (o) => {
      if (!collector.output(o.stream, o.data)) streamed += o.data.toString();
    },
    (frame) => collector.frame(frame),
  );
  const b64 = (s: string) => Buffer.from(s).toString('base64');
  const text = lines.map(
    (l, i) => `2026-01-01T00:00:0${i % 10}.000Z ${l.replace(/<([^>]*)>/g, (_, s: string) => b64(s))}\n`,
  );
  decoder.push(Buffer.from(text.join('')));
  return streamed;
}

describe('stage frames', () => {
  it('turn compile output and per-test frames into compile facts and test runs', () => {
    const collector = new StageCollector(true, true);
    const streamed = decode(collector, [
      'c 1 <warning: x\n>',
      'k 2 0 - 0 0 120',
      't 3 0',
      'o 4 <3\n>',
      'e 5 <note>',
      'r 6 0 - 0 0 5',
      't 7 1',
      'r 8 - SIGKILL 1 0 2000',
      'x 9 - SIGKILL 1 4 1024',
    ]);
    expect(streamed).toBe('');
    const outcome = collector.apply({ ...exited, timedOut: true }) as ExitedOutcome;
    expect(outcome.compile).toMatchObject({ succeeded: true, output: 'warning: x\n', durationMs: 120 });
    expect(outcome.timedOut).toBe(false);
    expect(outcome.testRuns).toEqual([
      expect.objectContaining({ stdout: '3\n', stderr: 'note', exitCode: 0, timedOut: false }),
      expect.objectContaining({
        stdout: '',
        exitCode: null,
        signal: 'SIGKILL',
        timedOut: true,
        durationMs: 2000,
      }),
    ]);
  });

  it('a container killed while compiling (no k frame, OOMKilled) is a failed compile', () => {
    const collector = new StageCollector(true, false);
    decode(collector, ['c 1 <In function main>']);
    const outcome = collector.apply({ ...exited, exitCode: 137, oomKilled: true }) as ExitedOutcome;
    expect(outcome.compile).toMatchObject({ succeeded: false, oomKilled: true, output: 'In function main' });
  });

  it('a lost k frame without a kill adds no compile facts (the exit decides, not a guessed compile error)', () => {
    const collector = new StageCollector(true, false);
    decode(collector, ['o 5 <hello\n>']);
    expect((collector.apply(exited) as ExitedOutcome).compile).toBeUndefined();
  });

  it('plain output of a compiled program without tests is streamed', () => {
    const collector = new StageCollector(true, false);
    expect(decode(collector, ['k 1 0 - 0 0 10', 'o 2 <hello\n>', 'x 3 0 - 0 1 1'])).toBe('hello\n');
    expect((collector.apply(exited) as ExitedOutcome).testRuns).toBeUndefined();
  });
});
