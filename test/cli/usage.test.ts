import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { timeOf } from '../../src/cli/commands/usage.js';
import { runCli } from '../support/cli-main.js';
import { FakeRuntime, measuredRun } from '../support/fake-runtime.js';
import { inProcess, type InProcess } from '../support/in-process.js';

const ADMIN = 'bootstrap-admin-token-for-the-usage-cli-tests';
let harness: InProcess;
let url: string;
const tokens: Record<string, string> = {};

beforeAll(async () => {
  harness = await inProcess({
    runtime: new FakeRuntime({ script: measuredRun }),
    adminToken: ADMIN,
    authRequired: true,
  });
  const app = await harness.api();
  url = await app.listen({ host: '127.0.0.1', port: 0 });
  const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
  for (const user of ['alice', 'bob']) {
    const answer = await app.inject({
      method: 'POST',
      url: '/v1/tokens',
      headers: bearer(ADMIN),
      payload: { user },
    });
    tokens[user] = answer.json<{ token: string }>().token;
  }
  const runs: [string, string, Record<string, string>][] = [
    ['alice', '2000 1500 64 0', { team: 'red' }],
    ['alice', '1000 250 32 1', { team: 'red' }],
    ['bob', '500 500 16 0', { team: 'blue' }],
    ['bob', '4000 0 1 0', {}],
  ];
  for (const [user, code, labels] of runs) {
    const answer = await app.inject({
      method: 'POST',
      url: '/v1/evaluations',
      headers: bearer(tokens[user]!),
      payload: { language: 'python', code, labels },
    });
    await harness.service.wait(answer.json<{ id: string }>().id, 5_000);
  }
});
afterAll(async () => {
  vi.unstubAllEnvs();
  await harness?.close();
});

/** Runs `crucible --url URL …args` in-process with CRUCIBLE_TOKEN = `token`. */
function crucible(token: string, ...args: string[]) {
  return runCli(url, args, token);
}

/** The table's rows as arrays of cells (columns are separated by two or more spaces). */
const cells = (stdout: string) =>
  stdout
    .trimEnd()
    .split('\n')
    .slice(1)
    .map((line) => line.split(/ {2,}/));

describe('crucible usage', () => {
  it("prints a table by label with totals (an admin sees everyone's)", async () => {
    // Runs "finish" seconds ahead of now (their reported wall time), so the window ends tomorrow.
    const tomorrow = new Date(Date.now() + 86_400_000).toISOString();
    const ahead = await crucible(ADMIN, 'usage', '--from', '-1d', '--to', tomorrow, '--by', 'label:team');
    expect(ahead.stderr).toBe('');
    expect(ahead.code).toBe(0);
    expect(ahead.stdout).toMatch(/^evaluations finished from \S+Z to \S+Z, by label:team\n/);
    expect(cells(ahead.stdout)).toEqual([
      ['TEAM', 'EVALS', 'OK', 'FAILED', 'TIMEOUT', 'CANCEL', 'ERROR', 'WALL s', 'CPU s', 'MEM MiB·s'],
      ['blue', '1', '1', '0', '0', '0', '0', '0.5', '0.5', '8.0'],
      ['red', '2', '1', '1', '0', '0', '0', '3.0', '1.8', '160.0'],
      ['(none)', '1', '1', '0', '0', '0', '0', '4.0', '0.0', '4.0'],
      ['TOTAL', '4', '3', '1', '0', '0', '0', '7.5', '2.3', '172.0'],
    ]);
  });

  it("a user sees their own usage only; --json prints the server's report", async () => {
    const tomorrow = new Date(Date.now() + 86_400_000).toISOString();
    const run = await crucible(tokens['bob']!, 'usage', '--to', tomorrow, '--json');
    expect(run.code).toBe(0);
    const report = JSON.parse(run.stdout) as {
      groupBy: string;
      items: { key: string; evaluations: number }[];
    };
    expect(report.groupBy).toBe('user');
    expect(report.items.map((i) => [i.key, i.evaluations])).toEqual([['bob', 2]]);
  });

  it("refuses a bad --by before calling, and shows the server's 400 for a bad --from", async () => {
    const by = await crucible(ADMIN, 'usage', '--by', 'team');
    expect(by.code).toBe(125);
    expect(by.stderr).toContain('--by is user or label:KEY');
    const from = await crucible(ADMIN, 'usage', '--from', 'last tuesday');
    expect(from.code).toBe(125);
    expect(from.stderr).toMatch(/from must be an ISO 8601 time/);
  });

  it('reads relative times against now', () => {
    const now = new Date('2026-03-08T12:00:00.000Z');
    expect(timeOf('-7d', now)).toBe('2026-03-01T12:00:00.000Z');
    expect(timeOf('-12h', now)).toBe('2026-03-08T00:00:00.000Z');
    expect(timeOf('-30m', now)).toBe('2026-03-08T11:30:00.000Z');
    expect(timeOf('-2w', now)).toBe('2026-02-22T12:00:00.000Z');
    expect(timeOf('now', now)).toBe('2026-03-08T12:00:00.000Z');
    expect(timeOf('2026-03-01', now)).toBe('2026-03-01');
  });
});
