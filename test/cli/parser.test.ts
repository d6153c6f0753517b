import { describe, expect, it } from 'vitest';
import {
  UsageError,
  checkArgs,
  commandHelp,
  parseTokens,
  type CommandSpec,
  type OptionSpec,
} from '../../src/cli/parser.js';

const OPTIONS: OptionSpec[] = [
  { flags: '-t, --timeout <seconds>', description: 'wall-time limit' },
  { flags: '--json', description: 'as JSON' },
  { flags: '--no-local', description: 'never in-process' },
  { flags: '--data-dir <dir>', description: 'where', defaultValue: '.crucible' },
  {
    flags: '--label <key=value>',
    description: 'repeatable',
    collect: { initial: [], add: (value, previous) => [...(previous as string[]), value] },
  },
];

describe('CLI parser', () => {
  it('reads values (spaced, glued with =, short), flags, negations, repeats and defaults', () => {
    const parsed = parseTokens(
      ['a.py', '-t', '5', '--json', '--label', 'a=1', '--label=b=2', '--no-local', '--', '--not-an-option'],
      OPTIONS,
    );
    expect(parsed).toEqual({
      args: ['a.py', '--not-an-option'],
      flags: { timeout: '5', json: true, local: false, dataDir: '.crucible', label: ['a=1', 'b=2'] },
      help: false,
    });
    expect(parseTokens(['--data-dir', '/d'], OPTIONS).flags).toMatchObject({ dataDir: '/d', local: true });
    expect(parseTokens(['-h'], OPTIONS).help).toBe(true);
  });

  it('refuses unknown options, a missing value and a value given to a flag', () => {
    expect(() => parseTokens(['--bogus'], OPTIONS)).toThrow(
      new UsageError("error: unknown option '--bogus'"),
    );
    expect(() => parseTokens(['--timeout'], OPTIONS)).toThrow(
      "option '-t, --timeout <seconds>' argument missing",
    );
    expect(() => parseTokens(['--json=yes'], OPTIONS)).toThrow("option '--json' takes no value");
  });

  it('checks the positional arguments', () => {
    const command: CommandSpec = {
      name: 'status',
      description: 'show one',
      args: [{ name: 'id', description: 'evaluation id' }],
      run: async () => undefined,
    };
    expect(() => checkArgs(command, [])).toThrow("error: missing required argument 'id'");
    expect(() => checkArgs(command, ['a', 'b'])).toThrow("too many arguments for 'status'");
    expect(() => checkArgs(command, ['a'])).not.toThrow();
  });

  it('lays out help as commander does: usage, description, arguments, options with defaults', () => {
    const command: CommandSpec = {
      name: 'run',
      description: 'submit a file',
      args: [{ name: 'file', description: 'source file to run' }],
      options: OPTIONS.slice(0, 4),
      helpAfter: '\nExamples:\n  crucible run hello.py\n',
      run: async () => undefined,
    };
    expect(commandHelp('crucible', command)).toBe(
      [
        'Usage: crucible run [options] <file>',
        '',
        'submit a file',
        '',
        'Arguments:',
        '  file  source file to run',
        '',
        'Options:',
        '  -t, --timeout <seconds>  wall-time limit',
        '  --json                   as JSON',
        '  --no-local               never in-process',
        '  --data-dir <dir>         where (default: ".crucible")',
        '  -h, --help               display help for command',
        '',
        'Examples:',
        '  crucible run hello.py',
        '',
      ].join('\n'),
    );
  });
});
