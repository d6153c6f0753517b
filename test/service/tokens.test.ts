import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CrucibleError } from '../../src/core/index.js';
import { SYSTEM_CALLER, tokenCaller } from '../../src/service/caller.js';
import { TOKEN_PREFIX, TokenService, hashToken, newTokenSecret } from '../../src/service/tokens.js';
import { createSqliteStore } from '../../src/store/sqlite/index.js';

const dir = mkdtempSync(join(tmpdir(), 'crucible-tokens-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('token secrets', () => {
  it('are 256 random bits after a recognizable prefix, and hash to SHA-256 hex', () => {
    const token = newTokenSecret();
    expect(token.startsWith(TOKEN_PREFIX)).toBe(true);
    expect(Buffer.from(token.slice(TOKEN_PREFIX.length), 'base64url')).toHaveLength(32);
    expect(newTokenSecret()).not.toBe(token);
    expect(hashToken('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  });
});

describe('TokenService on a stored database', () => {
  it('stores only the hash: the token is nowhere in the database files, and it authenticates', async () => {
    const path = join(dir, 'tokens.db');
    const store = createSqliteStore({ path });
    await store.migrate();
    const tokens = new TokenService({ store: store.tokens });
    const created = await tokens.create({ user: 'alice', maxRunning: 2 }, SYSTEM_CALLER);
    const caller = await tokens.authenticate(created.token);
    expect(caller).toMatchObject({ user: 'alice', admin: false, scope: 'user:alice' });
    expect(caller?.token).toMatchObject({ id: created.id, maxRunning: 2, maxQueued: null });

    const files = readdirSync(dir)
      .filter((name) => name.startsWith('tokens.db'))
      .map((name) => readFileSync(join(dir, name)));
    const bytes = Buffer.concat(files);
    expect(bytes.includes(Buffer.from(hashToken(created.token)))).toBe(true);
    expect(bytes.includes(Buffer.from(created.token))).toBe(false);
    expect(bytes.includes(Buffer.from(created.token.slice(TOKEN_PREFIX.length, 20)))).toBe(false);
    await store.close();
  });

  it('refuses a token one character off, a revoked one and one without the prefix', async () => {
    const store = createSqliteStore({ path: ':memory:' });
    await store.migrate();
    const tokens = new TokenService({ store: store.tokens });
    const { token, id } = await tokens.create({ user: 'bob' }, SYSTEM_CALLER);
    const last = token.at(-1) === 'A' ? 'B' : 'A';
    expect(await tokens.authenticate(token.slice(0, -1) + last)).toBeNull();
    expect(await tokens.authenticate(token.slice(TOKEN_PREFIX.length))).toBeNull();
    expect(await tokens.authenticate('')).toBeNull();
    await tokens.revoke(id, SYSTEM_CALLER);
    expect(await tokens.authenticate(token)).toBeNull();
    await store.close();
  });

  it('authenticates the bootstrap admin token, which is not stored and cannot be revoked over HTTP', async () => {
    const store = createSqliteStore({ path: ':memory:' });
    await store.migrate();
    const admin = 'a-bootstrap-token-of-some-length';
    const tokens = new TokenService({ store: store.tokens, adminToken: admin });
    expect(await tokens.canAuthenticate()).toBe(true);
    expect(await tokens.authenticate(admin)).toMatchObject({ user: 'admin', admin: true });
    expect(await tokens.authenticate(`${admin}x`)).toBeNull();
    expect(await tokens.list(SYSTEM_CALLER)).toEqual([]);
    await expect(tokens.revoke('bootstrap', SYSTEM_CALLER)).rejects.toMatchObject({
      code: 'invalid_request',
    });
    await store.close();
  });

  it('lets only admins create, list and revoke', async () => {
    const store = createSqliteStore({ path: ':memory:' });
    await store.migrate();
    const tokens = new TokenService({ store: store.tokens });
    expect(await tokens.canAuthenticate()).toBe(false);
    const made = await tokens.create({ user: 'carol' }, SYSTEM_CALLER);
    expect(await tokens.canAuthenticate()).toBe(true);
    const carol = tokenCaller(made);
    for (const attempt of [
      () => tokens.create({ user: 'mallory', admin: true }, carol),
      () => tokens.list(carol),
      () => tokens.revoke(made.id, carol),
    ]) {
      const error = await attempt().catch((e: unknown) => e);
      expect(error).toBeInstanceOf(CrucibleError);
      expect((error as CrucibleError).code).toBe('forbidden');
    }
    await store.close();
  });
});
