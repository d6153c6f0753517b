import type { NewToken } from '../../client/index.js';
import { table } from '../../format/table.js';
import { UsageError, type CommandSpec, type Flags } from '../parser.js';
import { clientOf } from './client-of.js';

/** A quota flag: a whole number ≥ 0, or absent. */
function quotaOf(flags: Flags, key: string, flag: string): number | undefined {
  const value = flags[key];
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new UsageError(`error: ${flag} must be a whole number ≥ 0`);
  return n;
}

function newTokenOf(flags: Flags): NewToken {
  const user = flags.user;
  if (typeof user !== 'string' || user === '') throw new UsageError('error: token create needs --user NAME');
  const maxRunning = quotaOf(flags, 'maxRunning', '--max-running');
  const maxQueued = quotaOf(flags, 'maxQueued', '--max-queued');
  const ratePerMinute = quotaOf(flags, 'ratePerMinute', '--rate-per-minute');
  return {
    user,
    ...(flags.admin === true ? { admin: true } : {}),
    ...(maxRunning === undefined ? {} : { maxRunning }),
    ...(maxQueued === undefined ? {} : { maxQueued }),
    ...(ratePerMinute === undefined ? {} : { ratePerMinute }),
  };
}

const dash = (n: number | null) => (n === null ? '-' : String(n));

/** `crucible token create|ls|revoke`: the admin calls of `/v1/tokens`, with the CLI's `CRUCIBLE_TOKEN`. */
export const tokenCommand: CommandSpec = {
  name: 'token',
  description: 'manage API tokens (admins): create --user NAME, ls, revoke ID',
  args: [
    { name: 'action', description: 'create | ls | revoke' },
    { name: 'id', description: 'the token to revoke', optional: true },
  ],
  options: [
    { flags: '--user <name>', description: 'create: the user the token authenticates as' },
    { flags: '--admin', description: 'create: an admin token (sees and manages everything)' },
    { flags: '--max-running <n>', description: 'create: evaluations running at once' },
    { flags: '--max-queued <n>', description: 'create: evaluations waiting at once' },
    { flags: '--rate-per-minute <n>', description: 'create: submissions per minute' },
    { flags: '--json', description: 'print JSON' },
  ],
  helpAfter:
    '\nThe server must know the caller: set CRUCIBLE_TOKEN to an admin token (at first, CRUCIBLE_ADMIN_TOKEN).\n' +
    'Examples:\n  crucible token create --user alice --max-running 4\n  crucible token ls\n' +
    '  crucible token revoke tok_AbCdEf012345\n',
  run: async ([action = '', id], flags) => {
    const client = clientOf(flags);
    const print = (value: unknown): void => {
      process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
    };
    if (action === 'create') {
      if (id !== undefined) throw new UsageError('error: token create takes no id');
      const created = await client.createToken(newTokenOf(flags));
      if (flags.json) return print(created);
      process.stdout.write(
        `${created.token}\n` +
          `token ${created.id} for user ${created.user}${created.admin ? ' (admin)' : ''}: ` +
          'shown once, the server keeps only its hash\n',
      );
      return;
    }
    if (action === 'ls') {
      const tokens = await client.tokens();
      if (flags.json) return print(tokens);
      const rows = tokens.map((t) => [
        t.id,
        t.user,
        t.admin ? 'yes' : 'no',
        dash(t.maxRunning),
        dash(t.maxQueued),
        dash(t.ratePerMinute),
        t.createdAt,
      ]);
      process.stdout.write(
        `${table([['ID', 'USER', 'ADMIN', 'MAX RUNNING', 'MAX QUEUED', 'RATE/MIN', 'CREATED'], ...rows])}\n`,
      );
      return;
    }
    if (action === 'revoke') {
      if (id === undefined) throw new UsageError("error: token revoke needs the token's id");
      await client.revokeToken(id);
      process.stdout.write(`revoked ${id}\n`);
      return;
    }
    throw new UsageError(`error: unknown token action '${action}' (create, ls or revoke)`);
  },
};
