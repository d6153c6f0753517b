import { describe, expect, it } from 'vitest';
import { configInput, serveCommand } from '../../src/cli/commands/serve.js';
import { parseTokens } from '../../src/cli/parser.js';
import { configFromEnv, ServerConfigSchema, withWebhookFlags } from '../../src/config/index.js';

const secret = Buffer.alloc(24, 7).toString('base64');

describe('webhook configuration', () => {
  it('is off by default', () => {
    const config = ServerConfigSchema.parse(configFromEnv({}));
    expect(config.webhooks).toEqual({ allowPrivate: false });
  });

  it('reads CRUCIBLE_WEBHOOK_SECRET and CRUCIBLE_WEBHOOK_ALLOW_PRIVATE, flags over them', () => {
    const env = configFromEnv({
      CRUCIBLE_WEBHOOK_SECRET: `whsec_${secret}`,
      CRUCIBLE_WEBHOOK_ALLOW_PRIVATE: 'on',
    });
    expect(ServerConfigSchema.parse(env).webhooks).toEqual({ secret: `whsec_${secret}`, allowPrivate: true });
    const flagged = withWebhookFlags(configFromEnv({}), { webhookSecret: secret, webhookAllowPrivate: true });
    expect(ServerConfigSchema.parse(flagged).webhooks).toEqual({ secret, allowPrivate: true });
  });

  it('crucible serve takes --webhook-secret and --webhook-allow-private', () => {
    const tokens = ['--webhook-secret', secret, '--webhook-allow-private'];
    const { flags } = parseTokens(tokens, serveCommand.options ?? []);
    const config = ServerConfigSchema.parse(configInput(configFromEnv({}), flags));
    expect(config.webhooks).toEqual({ secret, allowPrivate: true });
  });

  it.each(['not base64!', 'whsec_', Buffer.alloc(8).toString('base64')])('refuses the secret %j', (bad) => {
    const parsed = ServerConfigSchema.safeParse(configFromEnv({ CRUCIBLE_WEBHOOK_SECRET: bad }));
    expect(parsed.success).toBe(false);
    expect(parsed.error?.issues[0]?.path).toEqual(['webhooks', 'secret']);
  });
});
