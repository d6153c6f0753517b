import { Command, CommanderError } from 'commander';
import { CrucibleError as ApiError, CrucibleUnreachableError as UnreachableError } from '../client/index.js';
import { registerBench } from './commands/bench.js';
import { registerEvaluationCommands } from './commands/evaluations.js';
import { registerKubeCommands } from './commands/kube.js';
import { registerServe } from './commands/serve.js';

/** Builds the `crucible` command line; kept apart from `main` so tests can parse without exiting. */
export async function buildProgram(): Promise<Command> {
  const program = new Command('crucible')
    .description('Run untrusted code in isolated sandboxes and report what happened.')
    .option('--url <url>', 'server to talk to (env CRUCIBLE_URL, default http://127.0.0.1:8080)')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  registerServe(program);
  registerEvaluationCommands(program);
  registerKubeCommands(program);
  registerBench(program);
  return program;
}

export async function main(argv: readonly string[]): Promise<void> {
  const program = await buildProgram();
  try {
    await program.parseAsync(argv);
  } catch (error) {
    if (error instanceof CommanderError) {
      process.exitCode = error.exitCode === 0 ? 0 : 125;
      return;
    }
    const message =
      error instanceof ApiError
        ? `${error.message}${error.field ? ` (field: ${error.field})` : ''} [${error.code}]`
        : error instanceof UnreachableError
          ? error.message
          : error instanceof Error
            ? error.message
            : String(error);
    process.stderr.write(`crucible: ${message}\n`);
    process.exitCode = 125;
  }
}
