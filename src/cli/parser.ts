/**
 * A small command-line parser for the `crucible` commands. Not commander: loading commander costs about 25 ms
 * (it requires child_process and fs, whose public facades pull in streams and readline), a quarter of a Node
 * start, on every command. This covers what the commands use: positional arguments, options with a value,
 * flags, `--no-…` negations, repeatable options, defaults, `--` and help text in commander's layout.
 */

export interface OptionSpec {
  /** As commander writes it: `-t, --timeout <seconds>`, `--json`, `--no-local`. */
  readonly flags: string;
  readonly description: string;
  readonly defaultValue?: string;
  /** Repeatable option: folds each value into the previous (starting from `initial`). */
  readonly collect?: {
    readonly initial: unknown;
    readonly add: (value: string, previous: unknown) => unknown;
  };
}

export interface CommandSpec {
  readonly name: string;
  readonly description: string;
  /** `<name>` required, `[name]` optional, in order. */
  readonly args?: readonly {
    readonly name: string;
    readonly description: string;
    readonly optional?: boolean;
    /** The last argument only: takes every remaining word (`install ID…`). */
    readonly variadic?: boolean;
  }[];
  readonly options?: readonly OptionSpec[];
  /** Printed after the generated help (exit codes, examples). */
  readonly helpAfter?: string;
  readonly run: (args: readonly string[], flags: Flags) => Promise<void>;
}

export type Flags = Readonly<Record<string, unknown>>;

/** Bad usage: the message is printed with a pointer to --help, and the exit code is 125. */
export class UsageError extends Error {}

interface ParsedOption {
  readonly short: string | undefined;
  readonly long: string;
  /** camelCase key in the flags object (`--dry-run` → `dryRun`; `--no-local` → `local`). */
  readonly key: string;
  readonly takesValue: boolean;
  readonly negates: boolean;
  readonly spec: OptionSpec;
}

function parseFlags(spec: OptionSpec): ParsedOption {
  const match = /^(?:-(\w), )?--([\w-]+)(?: <[^>]+>)?$/.exec(spec.flags);
  if (!match) throw new Error(`bad option spec "${spec.flags}"`);
  const long = match[2] ?? '';
  const negates = long.startsWith('no-');
  const name = negates ? long.slice(3) : long;
  return {
    short: match[1],
    long,
    key: name.replace(/-(\w)/g, (_, c: string) => c.toUpperCase()),
    takesValue: spec.flags.includes('<'),
    negates,
    spec,
  };
}

/** Defaults first: a negatable flag is true until negated; a repeatable one starts from its initial value. */
function initialFlags(options: readonly ParsedOption[]): Record<string, unknown> {
  const flags: Record<string, unknown> = {};
  for (const o of options) {
    if (o.negates) flags[o.key] = true;
    else if (o.spec.collect) flags[o.key] = o.spec.collect.initial;
    else if (o.spec.defaultValue !== undefined) flags[o.key] = o.spec.defaultValue;
  }
  return flags;
}

export interface Parsed {
  readonly args: string[];
  readonly flags: Record<string, unknown>;
  readonly help: boolean;
}

/** Splits `tokens` into positional arguments and flags per `specs`; throws UsageError on what it does not know. */
export function parseTokens(tokens: readonly string[], specs: readonly OptionSpec[]): Parsed {
  const options = specs.map(parseFlags);
  const flags = initialFlags(options);
  const args: string[] = [];
  let help = false;
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i] ?? '';
    if (token === '--') {
      args.push(...tokens.slice(i + 1));
      break;
    }
    if (token === '-h' || token === '--help') {
      help = true;
      continue;
    }
    if (!token.startsWith('-') || token === '-') {
      args.push(token);
      continue;
    }
    const eq = token.indexOf('=');
    const name = eq > 0 ? token.slice(0, eq) : token;
    const option = options.find((o) => `--${o.long}` === name || (o.short && `-${o.short}` === name));
    if (!option) throw new UsageError(`error: unknown option '${name}'`);
    if (!option.takesValue) {
      if (eq > 0) throw new UsageError(`error: option '${option.spec.flags}' takes no value`);
      flags[option.key] = !option.negates;
      continue;
    }
    const value = eq > 0 ? token.slice(eq + 1) : tokens[++i];
    if (value === undefined) throw new UsageError(`error: option '${option.spec.flags}' argument missing`);
    flags[option.key] = option.spec.collect ? option.spec.collect.add(value, flags[option.key]) : value;
  }
  return { args, flags, help };
}

/** Checks the positional arguments against the command's: missing required ones and extra ones are errors. */
export function checkArgs(command: CommandSpec, args: readonly string[]): void {
  const declared = command.args ?? [];
  const missing = declared.find((a, i) => !a.optional && args[i] === undefined);
  if (missing) throw new UsageError(`error: missing required argument '${missing.name}'`);
  if (args.length > declared.length && !declared.at(-1)?.variadic) {
    throw new UsageError(
      `error: too many arguments${declared.length ? ` for '${command.name}'` : ''}. Expected ${declared.length} ` +
        `argument${declared.length === 1 ? '' : 's'} but got ${args.length}.`,
    );
  }
}

/** `run [options] <file>`: how a command is listed and used. */
export function termOf(command: Pick<CommandSpec, 'name' | 'args' | 'options'>): string {
  const args = (command.args ?? []).map((a) => (a.optional ? `[${a.name}]` : `<${a.name}>`));
  return [command.name, ...(command.options?.length ? ['[options]'] : []), ...args].join(' ');
}

const WIDTH = 80;

/** Two columns, the second wrapped to the terminal width commander uses (80), as commander lays them out. */
export function columns(rows: readonly (readonly [string, string])[]): string {
  const left = Math.max(...rows.map(([term]) => term.length));
  return rows
    .map(([term, text]) => {
      const indent = 2 + left + 2;
      return `  ${term.padEnd(left)}  ${wrap(text, WIDTH - indent).join(`\n${' '.repeat(indent)}`)}`.trimEnd();
    })
    .join('\n');
}

function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  return [...lines, line];
}

function optionRows(options: readonly OptionSpec[]): [string, string][] {
  return options.map((o) => [
    o.flags,
    o.defaultValue === undefined ? o.description : `${o.description} (default: "${o.defaultValue}")`,
  ]);
}

export const HELP_OPTION: OptionSpec = { flags: '-h, --help', description: 'display help for command' };

/** `crucible <command> --help`. */
export function commandHelp(program: string, command: CommandSpec): string {
  const parts = [`Usage: ${program} ${termOf(command)}`, '', command.description];
  if (command.args?.length) {
    parts.push('', 'Arguments:', columns(command.args.map((a) => [a.name, a.description])));
  }
  parts.push('', 'Options:', columns(optionRows([...(command.options ?? []), HELP_OPTION])));
  return `${parts.join('\n')}\n${command.helpAfter ?? ''}`;
}

/** `crucible --help`: usage, global options and every command with its summary. */
export function programHelp(
  program: { readonly name: string; readonly description: string; readonly options: readonly OptionSpec[] },
  commands: readonly { readonly term: string; readonly description: string }[],
): string {
  return [
    `Usage: ${program.name} [options] [command]`,
    '',
    program.description,
    '',
    'Options:',
    columns(optionRows([...program.options, HELP_OPTION])),
    '',
    'Commands:',
    columns([
      ...commands.map((c) => [c.term, c.description] as [string, string]),
      ['help [command]', 'display help for command'],
    ]),
    '',
  ].join('\n');
}
