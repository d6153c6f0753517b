import { readFile } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import type { Command } from 'commander';
import { stringify } from 'yaml';
import { DEFAULT_LIMITS, LANGUAGE_IDS } from '../../core/index.js';
import type { RunRequest } from '../../runtime/runtime.js';

interface RenderFlags {
  readonly language: string;
  readonly codeFile: string;
  readonly namespace?: string;
  readonly runtimeClass?: string;
  readonly timeout?: string;
  readonly memory?: string;
  readonly stdinFile?: string;
}

function positive(value: string | undefined, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed <= 0)
    throw new Error(`--${name} must be a positive integer, got "${value}"`);
  return parsed;
}

/**
 * Adds `crucible kube …` commands. `render` prints, as multi-document YAML, every object Crucible would create
 * for one evaluation: no cluster is contacted.
 *
 * @example
 * registerKubeCommands(program);
 * // crucible kube render --language python --code-file main.py --namespace evals > evaluation.yaml
 */
export function registerKubeCommands(program: Command): void {
  const kube = program.command('kube').description('Kubernetes runtime tools');
  kube
    .command('render')
    .description('print the Kubernetes objects Crucible would create for one evaluation (YAML)')
    .requiredOption('--language <language>', `language id (${LANGUAGE_IDS.join(', ')})`)
    .requiredOption('--code-file <file>', 'file holding the code')
    .option('--stdin-file <file>', 'file holding the stdin')
    .option('--namespace <namespace>', 'evaluation namespace', 'crucible-evaluations')
    .option('--runtime-class <name>', 'RuntimeClass for the pod, e.g. gvisor')
    .option('--timeout <seconds>', 'time limit in seconds')
    .option('--memory <mb>', 'memory limit in MiB')
    .action(async (flags: RenderFlags) => {
      // Loaded here, not at start-up: the Kubernetes client is heavy and other commands never need it.
      const { parseKubernetesOptions, renderEvaluationManifests } =
        await import('../../runtime/kubernetes/index.js');
      const code = await readFile(flags.codeFile, 'utf8');
      const stdin = flags.stdinFile ? await readFile(flags.stdinFile, 'utf8') : '';
      const request: RunRequest = {
        // A stable preview id: the same inputs render the same names.
        evaluationId: `preview-${createHash('sha256').update(code).digest('hex').slice(0, 12)}`,
        language: flags.language,
        code,
        stdin,
        limits: {
          ...DEFAULT_LIMITS,
          timeoutSeconds: positive(flags.timeout, 'timeout', DEFAULT_LIMITS.timeoutSeconds),
          memoryMb: positive(flags.memory, 'memory', DEFAULT_LIMITS.memoryMb),
        },
        priority: 'normal',
        labels: {},
      };
      const options = parseKubernetesOptions({
        namespace: flags.namespace,
        ...(flags.runtimeClass ? { runtimeClassName: flags.runtimeClass } : {}),
      });
      const objects = renderEvaluationManifests(request, options);
      process.stdout.write(objects.map((o) => stringify(o, { lineWidth: 0 })).join('---\n'));
    });
}
