import type { Crucible, NewSandbox, Sandbox, SandboxInfo } from '../../client/index.js';
import { table } from '../../format/table.js';
import { UsageError, type CommandSpec, type Flags } from '../parser.js';
import { clientOf } from './client-of.js';

function needId(id: string | undefined, action: string): string {
  if (!id) throw new UsageError(`error: sandbox ${action} needs a sandbox ID`);
  return id;
}

function wholeNumber(flags: Flags, key: string, flag: string): number | undefined {
  const value = flags[key];
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new UsageError(`error: ${flag} must be a whole number > 0`);
  return n;
}

/** `--env K=V` repeated. */
const envCollector = {
  initial: undefined,
  add: (value: string, previous: unknown): Record<string, string> => {
    const eq = value.indexOf('=');
    if (eq <= 0) throw new UsageError(`error: --env takes NAME=VALUE, not ${JSON.stringify(value)}`);
    return { ...(previous as Record<string, string> | undefined), [value.slice(0, eq)]: value.slice(eq + 1) };
  },
};

function newSandboxOf(flags: Flags): NewSandbox {
  const memoryMb = wholeNumber(flags, 'memory', '--memory');
  const idle = wholeNumber(flags, 'idleTimeout', '--idle-timeout');
  return {
    ...(typeof flags.language === 'string' ? { language: flags.language } : {}),
    ...(memoryMb === undefined ? {} : { memoryMb }),
    ...(idle === undefined ? {} : { idleTimeoutSeconds: idle }),
    ...(flags.env ? { env: flags.env as Record<string, string> } : {}),
  };
}

function sandboxTable(items: readonly SandboxInfo[]): string {
  const rows = items.map((s) => [
    s.id,
    s.status,
    s.language,
    String(s.memoryMb),
    s.lastActiveAt,
    s.user ?? '-',
  ]);
  return table([['ID', 'STATUS', 'LANGUAGE', 'MEMORY MB', 'LAST ACTIVE', 'USER'], ...rows]);
}

/** Streams an exec to this terminal's stdout and stderr; answers the command's exit code (128+N by signal). */
async function execTo(
  sandbox: Sandbox,
  command: readonly string[],
  timeoutSeconds?: number,
): Promise<number> {
  for await (const line of sandbox.execStream(command, timeoutSeconds ? { timeoutSeconds } : {})) {
    if ('seq' in line) {
      (line.stream === 'stderr' ? process.stderr : process.stdout).write(line.data);
      continue;
    }
    if (!line.exit) {
      process.stderr.write('crucible: the exec was lost (its sandbox went away)\n');
      return 125;
    }
    if (line.exit.timedOut) process.stderr.write(`crucible: timed out after ${timeoutSeconds ?? 60} s\n`);
    if (line.exit.oomKilled) process.stderr.write('crucible: killed: out of memory\n');
    return line.exit.code ?? 128 + signalNumber(line.exit.signal);
  }
  return 125;
}

function signalNumber(name: string | null): number {
  return (
    ({ SIGINT: 2, SIGKILL: 9, SIGTERM: 15, SIGSEGV: 11, SIGABRT: 6 } as Record<string, number>)[name ?? ''] ??
    1
  );
}

/**
 * `crucible sandbox shell ID`: this terminal, in raw mode, attached to the sandbox's PTY session — keys
 * (Ctrl-C included) go to the shell, its output comes back, and window resizes follow. Answers the
 * shell's exit code.
 */
async function shell(sandbox: Sandbox, session: string | undefined): Promise<number> {
  const input = process.stdin;
  const output = process.stdout;
  const pty = await sandbox.pty({
    cols: output.columns ?? 80,
    rows: output.rows ?? 24,
    ...(session ? { session } : {}),
  });
  pty.onData((data) => output.write(data));
  const onResize = () => pty.resize(output.columns ?? 80, output.rows ?? 24);
  const onKeys = (data: Buffer) => pty.write(data);
  output.on('resize', onResize);
  if (input.isTTY) input.setRawMode(true);
  input.on('data', onKeys);
  input.resume();
  try {
    const exit = await pty.closed;
    return exit.code ?? 0;
  } finally {
    input.off('data', onKeys);
    output.off('resize', onResize);
    if (input.isTTY) input.setRawMode(false);
    input.pause();
  }
}

async function run(
  client: Crucible,
  action: string,
  id: string | undefined,
  rest: readonly string[],
  flags: Flags,
) {
  const print = (value: unknown) => process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
  switch (action) {
    case 'create': {
      const sandbox = await client.sandboxes.create(newSandboxOf(flags));
      return flags.json ? print(sandbox.info) : void process.stdout.write(`${sandbox.id}\n`);
    }
    case 'ls': {
      const items = await client.sandboxes.list();
      return flags.json ? print(items) : void process.stdout.write(`${sandboxTable(items)}\n`);
    }
    case 'exec': {
      if (rest.length === 0)
        throw new UsageError('error: sandbox exec needs a command: crucible sandbox exec ID -- CMD…');
      const sandbox = await client.sandboxes.get(needId(id, action));
      process.exitCode = await execTo(sandbox, rest, wholeNumber(flags, 'timeout', '--timeout'));
      return;
    }
    case 'shell': {
      const sandbox = await client.sandboxes.get(needId(id, action));
      process.exitCode = await shell(sandbox, typeof flags.session === 'string' ? flags.session : undefined);
      return;
    }
    case 'rm':
    case 'hibernate':
    case 'resume': {
      const sandbox = await client.sandboxes.get(needId(id, action));
      const info = action === 'rm' ? await sandbox.terminate() : await sandbox[action]();
      return flags.json ? print(info) : void process.stdout.write(`${info.id} ${info.status}\n`);
    }
    default:
      throw new UsageError(
        `error: unknown sandbox action '${action}' (create, exec, shell, ls, rm, hibernate, resume)`,
      );
  }
}

/** exec's command: every word after `--` (a variadic argument). */
const COMMAND_ARG = {
  name: 'command',
  description: 'exec: the command after --',
  optional: true,
  variadic: true,
};

/** `crucible sandbox create|exec ID -- CMD…|shell ID|ls|rm ID|hibernate ID|resume ID`. */
export const sandboxCommand: CommandSpec = {
  name: 'sandbox',
  description: 'interactive sandboxes: create, exec ID -- CMD…, shell ID, ls, rm ID, hibernate ID, resume ID',
  args: [
    { name: 'action', description: 'create | exec | shell | ls | rm | hibernate | resume' },
    { name: 'id', description: 'the sandbox', optional: true },
    COMMAND_ARG,
  ],
  options: [
    { flags: '--language <id>', description: 'create: the language (default python)' },
    { flags: '--memory <mb>', description: 'create: memory of the whole sandbox, MB' },
    {
      flags: '--idle-timeout <s>',
      description: 'create: hibernate after this many idle seconds (default 300)',
    },
    {
      flags: '--env <name=value>',
      description: 'create: environment of every exec (repeatable)',
      collect: envCollector,
    },
    { flags: '--timeout <s>', description: 'exec: wall-time limit of the command (default 60)' },
    { flags: '--session <name>', description: 'shell: the PTY session to join (default main)' },
    { flags: '--json', description: 'print JSON' },
  ],
  helpAfter:
    '\nExamples:\n  id=$(crucible sandbox create --env MODE=dev)\n  crucible sandbox exec $id -- python3 -c "print(1)"\n' +
    '  crucible sandbox shell $id\n  crucible sandbox hibernate $id\n  crucible sandbox rm $id\n' +
    'exec exits with the command’s exit code (128+N when killed by signal N; 125 when Crucible failed).\n',
  run: async ([action = '', id, ...rest], flags) => {
    await run(clientOf(flags), action, id, rest, flags);
  },
};
