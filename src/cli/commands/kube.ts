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
  readonly kueueQueue?: string;
  readonly priorityClassPrefix?: string;
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
    .option('--kueue-queue <name>', 'the Kueue variant: the Job suspended in this LocalQueue')
    .option('--priority-class-prefix <prefix>', 'PriorityClass <prefix><priority> on the pod, e.g. crucible-')
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
          ...(flags.kueueQueue ? { kueueQueue: flags.kueueQueue } : {}),
          ...(flags.priorityClassPrefix ? { priorityClassPrefix: flags.priorityClassPrefix } : {}),
        },
      );
      process.stdout.write(objects.map((o) => stringify(o, { lineWidth: 0 })).join('---\n'));
    });
  registerRenderCrd(render);
  registerRenderProject(render);
}

/** `crucible kube render project`: the namespace of a project and what isolates and bounds it. */
function registerRenderProject(render: Command): void {
  render
    .command('project')
    // Not --memory/--cpu: the parent `render` has --memory, and commander gives a parent's options precedence.
    .description('print the namespace, NetworkPolicy, ResourceQuota and LimitRange of a project (YAML)')
    .option('--id <id>', 'project id (the namespace is proj-<id>)', 'example')
    .option('--total-memory <mb>', 'memory of all its running evaluations together, MiB')
    .option('--max-concurrent <n>', 'its evaluations running at once')
    .option('--total-cpu <cores>', 'CPU cores of all its running evaluations together')
    .option(
      '--egress <cidr>',
      'a CIDR its pods may reach (repeatable)',
      (v: string, p: string[]) => [...p, v],
      [],
    )
    .action(
      async (flags: {
        id: string;
        totalMemory?: string;
        maxConcurrent?: string;
        totalCpu?: string;
        egress: string[];
      }) => {
        const { renderProjectManifests } = await import('../../runtime/kubernetes/index.js');
        const { projectNamespace } = await import('../../core/index.js');
        const memoryMb = positive(flags.totalMemory, 'total-memory');
        const maxConcurrent = positive(flags.maxConcurrent, 'max-concurrent');
        const cpu = flags.totalCpu === undefined ? undefined : Number(flags.totalCpu);
        if (cpu !== undefined && !(cpu > 0))
          throw new Error(`--total-cpu must be a positive number, got "${flags.totalCpu}"`);
        const objects = renderProjectManifests({
          id: flags.id,
          namespace: projectNamespace(flags.id),
          limits: {
            ...(memoryMb ? { memoryMb } : {}),
            ...(maxConcurrent ? { maxConcurrent } : {}),
            ...(cpu ? { cpu } : {}),
          },
          egress: flags.egress,
        });
        process.stdout.write(objects.map((o) => stringify(o, { lineWidth: 0 })).join('---\n'));
      },
    );
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
