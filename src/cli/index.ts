import { Command, CommanderError } from 'commander';
import { CrucibleError, CrucibleUnreachableError } from '../client/index.js';
import { registerBench } from './commands/bench.js';
import { registerEvaluationCommands } from './commands/evaluations.js';
import { registerServe } from './commands/serve.js';
import { packageVersion } from './version.js';

/**
 * Command groups whose module is heavy to load (their imports run at load time) are registered only when
 * invoked; otherwise a stand-in with the same name and description keeps them in `--help`. Every other
 * command module is light: its heavy work is imported inside the action.
 */
const LAZY_GROUPS = {
  kube: {
    description: 'Kubernetes runtime tools',
    load: async () => (await import('./commands/kube.js')).registerKubeCommands,
  },
} as const satisfies Record<string, { description: string; load: () => Promise<(p: Command) => void> }>;

/**
 * Builds the `crucible` command line; kept apart from `main` so tests can parse without exiting. Given the
 * arguments, loads only the command they name; without, loads every command (for tests and docs).
 */
export async function buildProgram(argv?: readonly string[]): Promise<Command> {
  const program = new Command('crucible')
    .description('Run untrusted code in isolated sandboxes and report what happened.')
    .version(packageVersion(), '-V, --version', 'print the version')
    .option('--url <url>', 'server to talk to (env CRUCIBLE_URL, default http://127.0.0.1:8080)')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  registerServe(program);
  registerEvaluationCommands(program);
  const invoked = argv ? commandNameOf(argv) : undefined;
  for (const [name, group] of Object.entries(LAZY_GROUPS)) {
    if (argv === undefined || invoked === name) (await group.load())(program);
    else program.command(name).description(group.description);
  }
  registerBench(program);
  return program;
}

/** The command the arguments name (`crucible [--url U] <command> …`, or `crucible help <command>`). */
export function commandNameOf(argv: readonly string[]): string | undefined {
  const operands: string[] = [];
  for (let i = 2; i < argv.length && operands.length < 2; i++) {
    const arg = argv[i] ?? '';
    if (arg === '--') break;
    if (arg === '--url') i++;
    else if (!arg.startsWith('-')) operands.push(arg);
  }
  return operands[0] === 'help' ? operands[1] : operands[0];
}

export async function main(argv: readonly string[]): Promise<void> {
  const program = await buildProgram(argv);
  try {
    await program.parseAsync(argv);
  } catch (error) {
    if (error instanceof CommanderError) {
      process.exitCode = error.exitCode === 0 ? 0 : 125;
      return;
    }
    process.stderr.write(`crucible: ${describeError(error)}\n`);
    process.exitCode = 125;
  }
}

function describeError(error: unknown): string {
  if (error instanceof CrucibleError) {
    return `${error.message}${error.field ? ` (field: ${error.field})` : ''} [${error.code}]`;
  }
  if (error instanceof CrucibleUnreachableError) {
    return `${error.message}; start one with \`npx crucible serve\` or set CRUCIBLE_URL`;
  }
  return error instanceof Error ? error.message : String(error);
}
