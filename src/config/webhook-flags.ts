import type { ServerConfigInput } from './config.js';

/**
 * The `crucible serve` options for webhooks, in the CLI parser's shape, and how they fold into the config
 * (flags over the environment). Kept here so the serve command adds them with one spread and one call.
 */
export const WEBHOOK_SERVE_OPTIONS = [
  {
    flags: '--webhook-secret <base64>',
    description:
      'sign webhooks with this secret, base64 (whsec_ prefix allowed), at least 16 bytes; prefer the env CRUCIBLE_WEBHOOK_SECRET (a flag shows in ps)',
  },
  {
    flags: '--webhook-allow-private',
    description:
      'allow webhook receivers on loopback, private, link-local and CGNAT addresses (env CRUCIBLE_WEBHOOK_ALLOW_PRIVATE=on); metadata addresses stay refused',
  },
] as const;

export function withWebhookFlags(
  input: ServerConfigInput,
  flags: Readonly<Record<string, unknown>>,
): ServerConfigInput {
  const secret = flags['webhookSecret'];
  return {
    ...input,
    webhooks: {
      ...input.webhooks,
      ...(typeof secret === 'string' ? { secret } : {}),
      ...(flags['webhookAllowPrivate'] === true ? { allowPrivate: true } : {}),
    },
  };
}
