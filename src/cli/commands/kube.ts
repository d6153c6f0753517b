import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { stringify } from 'yaml';
import { LANGUAGE_IDS } from '../../core/index.js';

interface RenderFlags {
  readonly language?: string;
  readonly codeFile?: string;
  readonly namespace?: string;
  readonly runtimeClass?: string;
  readonly timeout?: string;
  readonly memory?: string;
  readonly stdinFile?: string;
}

/** A positive integer flag, or undefined when not given (the runtime's defaults apply). */
function positive(value: string | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
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
  const render = kube
    .command('render')
    .description('print the Kubernetes objects Crucible would create for one evaluation (YAML)')
    // Checked in the action, not as required options: commander checks those for subcommands (`render crd`) too.
    .option('--language <language>', `language id (${LANGUAGE_IDS.join(', ')}); required`)
    .option('--code-file <file>', 'file holding the code; required')
    .option('--stdin-file <file>', 'file holding the stdin')
    .option('--namespace <namespace>', 'evaluation namespace', 'crucible-evaluations')
    .option('--runtime-class <name>', 'RuntimeClass for the pod, e.g. gvisor')
    .option('--timeout <seconds>', 'time limit in seconds')
    .option('--memory <mb>', 'memory limit in MiB')
    .action(async (flags: RenderFlags) => {
      const missing = (flag: string) => render.error(`error: required option '${flag}' not specified`);
      const language = flags.language ?? missing('--language <language>');
      const codeFile = flags.codeFile ?? missing('--code-file <file>');
      // Loaded here, not at start-up: the Kubernetes client is heavy and other commands never need it.
      const { renderEvaluation } = await import('../../runtime/kubernetes/index.js');
      const code = await readFile(codeFile, 'utf8');
      const stdin = flags.stdinFile ? await readFile(flags.stdinFile, 'utf8') : '';
      const timeoutSeconds = positive(flags.timeout, 'timeout');
      const memoryMb = positive(flags.memory, 'memory');
      const limits = { ...(timeoutSeconds ? { timeoutSeconds } : {}), ...(memoryMb ? { memoryMb } : {}) };
      const objects = renderEvaluation(
        { language, code, stdin, limits },
        {
          namespace: flags.namespace,
          ...(flags.runtimeClass ? { runtimeClassName: flags.runtimeClass } : {}),
        },
      );
      process.stdout.write(objects.map((o) => stringify(o, { lineWidth: 0 })).join('---\n'));
    });
  registerRenderCrd(render);
}

/**
 * `crucible kube render crd`: the `Evaluation` CustomResourceDefinition, with the bounds the server
 * enforces (pass the same `--max-*` values as the server's configuration when they differ from the defaults).
 */
function registerRenderCrd(render: Command): void {
  render
    .command('crd')
    .description('print the Evaluation CustomResourceDefinition (crucible.dev/v1alpha1) as YAML')
    .option('--max-timeout <seconds>', 'largest timeoutSeconds a spec may ask for')
    .option('--max-memory <mb>', 'largest memoryMb a spec may ask for')
    .action(async (flags: { maxTimeout?: string; maxMemory?: string }) => {
      const { evaluationCrd } = await import('../../crd/definition.js');
      const { DEFAULT_BOUNDS } = await import('../../core/index.js');
      const maxTimeoutSeconds = positive(flags.maxTimeout, 'max-timeout');
      const maxMemoryMb = positive(flags.maxMemory, 'max-memory');
      const crd = evaluationCrd({
        ...DEFAULT_BOUNDS,
        ...(maxTimeoutSeconds ? { maxTimeoutSeconds } : {}),
        ...(maxMemoryMb ? { maxMemoryMb } : {}),
      });
      process.stdout.write(stringify(crd, { lineWidth: 0 }));
    });
}
