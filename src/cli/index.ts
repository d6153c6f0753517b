import type { Command } from 'commander';
import { CrucibleError, CrucibleUnreachableError } from '../client/index.js';
import { benchCommand } from './commands/bench.js';
import { evaluationCommands } from './commands/evaluations.js';
import { serveCommand } from './commands/serve.js';
import { tokenCommand } from './commands/tokens.js';
import { usageCommand } from './commands/usage.js';
import { languagesCommand } from './commands/languages.js';
import { artifactsCommand } from './commands/artifacts.js';
import { sandboxCommand } from './commands/sandbox.js';
import { pruneCommand } from './commands/prune.js';
import {
  UsageError,
  checkArgs,
  commandHelp,
  parseTokens,
  programHelp,
  termOf,
  type CommandSpec,
  type OptionSpec,
} from './parser.js';
import { packageVersion } from '../version.js';

const URL_OPTION: OptionSpec = {
  flags: '--url <url>',
  description: 'server to talk to (env CRUCIBLE_URL, default http://127.0.0.1:8080)',
};

const PROGRAM = {
  name: 'crucible',
  description: 'Run untrusted code in isolated sandboxes and report what happened.',
  options: [{ flags: '-V, --version', description: 'print the version' }, URL_OPTION],
};

/** Every command but the commander-based groups below; each module loads its heavy parts in its action. */
export const COMMANDS: readonly CommandSpec[] = [
  serveCommand,
  ...evaluationCommands,
  tokenCommand,
  usageCommand,
  languagesCommand,
  artifactsCommand,
  sandboxCommand,
  pruneCommand,
  benchCommand,
];

/**
 * Command groups written against commander (`crucible kube …`): commander and the group's module (with its
 * YAML library) are loaded only when the group is invoked; `--help` lists them from here.
 */
export const COMMANDER_GROUPS: Readonly<
  Record<string, { description: string; load: () => Promise<Register> }>
> = {
  kube: {
    description: 'Kubernetes runtime tools',
    load: async () => (await import('./commands/kube.js')).registerKubeCommands,
  },
};

type Register = (program: Command) => void;

export async function main(argv: readonly string[]): Promise<void> {
  try {
    process.exitCode = await dispatch(argv.slice(2));
  } catch (error) {
    process.stderr.write(
      error instanceof UsageError
        ? `${error.message}\n(run with --help for usage)\n`
        : `crucible: ${describeError(error)}\n`,
    );
    process.exitCode = 125;
  }
}

/** Runs the command the tokens name; answers the exit code. */
async function dispatch(tokens: readonly string[]): Promise<number> {
  const at = commandIndex(tokens);
  const global = parseTokens(at < 0 ? tokens : tokens.slice(0, at), PROGRAM.options);
  if (global.flags.version) {
    process.stdout.write(`${packageVersion()}\n`);
    return 0;
  }
  const name = at < 0 ? undefined : tokens[at];
  if (name === undefined || name === 'help') {
    const topic = name === 'help' ? tokens[at + 1] : undefined;
    if (topic === undefined) {
      // `crucible` alone is a usage error (help on stderr); `crucible --help` or `help` is not.
      const asked = global.help || name === 'help';
      (asked ? process.stdout : process.stderr).write(programHelp(PROGRAM, listing()));
      return asked ? 0 : 125;
    }
    return dispatch([topic, '--help']);
  }
  const group = COMMANDER_GROUPS[name];
  if (group) return runWithCommander(tokens.slice(at), await group.load());
  const command = COMMANDS.find((c) => c.name === name);
  if (!command) throw new UsageError(`error: unknown command '${name}'`);
  const parsed = parseTokens(tokens.slice(at + 1), [...(command.options ?? []), URL_OPTION]);
  if (parsed.help) {
    process.stdout.write(commandHelp(PROGRAM.name, command));
    return 0;
  }
  checkArgs(command, parsed.args);
  await command.run(parsed.args, { ...global.flags, ...parsed.flags });
  return typeof process.exitCode === 'number' ? process.exitCode : 0;
}

/** Where the command name is: the first token that is not a global option (or `--url`'s value). */
function commandIndex(tokens: readonly string[]): number {
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i] ?? '';
    if (token === '--url') i++;
    else if (!token.startsWith('-')) return i;
  }
  return -1;
}

function listing() {
  return [
    ...COMMANDS.map((c) => ({ term: termOf(c), description: c.description })),
    ...Object.entries(COMMANDER_GROUPS).map(([term, g]) => ({ term, description: g.description })),
  ];
}

async function runWithCommander(tokens: readonly string[], register: Register): Promise<number> {
  const { Command, CommanderError } = await import('commander');
  const program = new Command(PROGRAM.name).option(URL_OPTION.flags, URL_OPTION.description).exitOverride();
  register(program);
  try {
    await program.parseAsync([...tokens], { from: 'user' });
    return 0;
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode === 0 ? 0 : 125;
    throw error;
  }
}

function describeError(error: unknown): string {
  if (error instanceof CrucibleError) {
    return `${error.message}${error.field ? ` (field: ${error.field})` : ''} [${error.code}]`;
  }
  if (error instanceof CrucibleUnreachableError) {
    return `${error.message}; start one with \`crucible serve\` or set CRUCIBLE_URL`;
  }
  return error instanceof Error ? error.message : String(error);
}
