import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { configInput } from '../../src/cli/commands/serve.js';
import { authRequired, isLoopbackHost } from '../../src/config/auth-flags.js';
import { ServerConfigSchema, configFromEnv } from '../../src/config/index.js';
import { startServer } from '../../src/server.js';
import { MemoryLogger } from '../support/in-process.js';

const dir = mkdtempSync(join(tmpdir(), 'crucible-auth-start-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const configOf = (env: NodeJS.ProcessEnv, flags: Record<string, unknown> = {}) =>
  ServerConfigSchema.parse(configInput(configFromEnv(env), flags));

describe('authentication mode', () => {
  it('is on beyond loopback and off on loopback, unless --auth or CRUCIBLE_AUTH says otherwise', () => {
    expect(authRequired(configOf({}))).toBe(false);
    expect(authRequired(configOf({ CRUCIBLE_HOST: '0.0.0.0' }))).toBe(true);
    expect(authRequired(configOf({ CRUCIBLE_HOST: '10.1.2.3' }))).toBe(true);
    expect(authRequired(configOf({ CRUCIBLE_HOST: '::' }))).toBe(true);
    expect(authRequired(configOf({ CRUCIBLE_HOST: '0.0.0.0', CRUCIBLE_AUTH: 'off' }))).toBe(false);
    expect(authRequired(configOf({ CRUCIBLE_AUTH: 'required' }))).toBe(true);
    expect(authRequired(configOf({ CRUCIBLE_AUTH: 'off' }, { auth: 'required' }))).toBe(true);
    expect(authRequired(configOf({ CRUCIBLE_HOST: '0.0.0.0' }, { auth: 'off' }))).toBe(false);
    for (const host of ['127.0.0.1', '127.1.2.3', 'localhost', '::1', '[::1]', '::ffff:127.0.0.1']) {
      expect(isLoopbackHost(host), host).toBe(true);
    }
    expect(() => configOf({ CRUCIBLE_AUTH: 'maybe' })).toThrow();
    expect(() => configOf({ CRUCIBLE_ADMIN_TOKEN: 'short' })).toThrow();
  });

  it('refuses to start on a non-loopback address with no way to authenticate', async () => {
    const config = configOf({ CRUCIBLE_HOST: '0.0.0.0', CRUCIBLE_DATA_DIR: join(dir, 'a') }, { port: '0' });
    await expect(startServer(config, new MemoryLogger())).rejects.toThrow(
      /authentication is on .*no way to authenticate: set CRUCIBLE_ADMIN_TOKEN/,
    );
    const required = configOf(
      { CRUCIBLE_AUTH: 'required', CRUCIBLE_DATA_DIR: join(dir, 'b') },
      { port: '0' },
    );
    await expect(startServer(required, new MemoryLogger())).rejects.toThrow(/no way to authenticate/);
  });
});
