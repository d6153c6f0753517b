import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { runCli } from '../support/cli-main.js';
import { FakeRuntime } from '../support/fake-runtime.js';
import { inProcess, type InProcess } from '../support/in-process.js';

const ADMIN = 'bootstrap-admin-token-for-the-cli-tests';
let harness: InProcess;
let url: string;

beforeAll(async () => {
  harness = await inProcess({ runtime: new FakeRuntime(), adminToken: ADMIN, authRequired: true });
  url = await (await harness.api()).listen({ host: '127.0.0.1', port: 0 });
});
afterAll(async () => {
  vi.unstubAllEnvs();
  await harness?.close();
});

/** Runs `crucible --url URL …args` in-process with CRUCIBLE_TOKEN = `token`. */
function crucible(token: string, ...args: string[]) {
  return runCli(url, args, token);
}

describe('crucible token', () => {
  it('creates a token (printed once), lists it in a table and revokes it', async () => {
    const created = await crucible(ADMIN, 'token', 'create', '--user', 'alice', '--max-running', '2');
    expect(created.code).toBe(0);
    const [secret = '', note = ''] = created.stdout.split('\n');
    expect(secret).toMatch(/^cru_[A-Za-z0-9_-]{43}$/);
    const id = /token (tok_\S+) for user alice/.exec(note)?.[1];
    expect(id).toBeDefined();

    const listed = await crucible(ADMIN, 'token', 'ls');
    expect(listed.stdout).toMatch(/^ID\s+USER\s+ADMIN\s+MAX RUNNING\s+MAX QUEUED\s+RATE\/MIN\s+CREATED/);
    expect(listed.stdout).toMatch(new RegExp(`^${id}\\s+alice\\s+no\\s+2\\s+-\\s+-`, 'm'));
    expect(listed.stdout).not.toContain(secret);

    // The new token works for a user's call, not for an admin's.
    expect((await crucible(secret, 'ls')).code).toBe(0);
    const refused = await crucible(secret, 'token', 'ls');
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/forbidden|admin/);

    expect((await crucible(ADMIN, 'token', 'revoke', id!)).stdout).toBe(`revoked ${id}\n`);
    const gone = await crucible(secret, 'ls');
    expect(gone.code).not.toBe(0);
    expect(gone.stderr).toMatch(/unauthenticated|unknown or revoked token/);
  });

  it('says what is missing', async () => {
    const noUser = await crucible(ADMIN, 'token', 'create');
    expect(noUser.code).toBe(125);
    expect(noUser.stderr).toContain('--user');
    expect((await crucible(ADMIN, 'token', 'frobnicate')).stderr).toContain(
      "unknown token action 'frobnicate'",
    );
    expect((await crucible(ADMIN, 'token', 'revoke')).stderr).toContain("needs the token's id");
  });
});
