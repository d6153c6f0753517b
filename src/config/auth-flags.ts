import type { ServerConfigInput } from './config.js';

/**
 * The `crucible serve` option for authentication, in the CLI parser's shape, and how it folds into the
 * config (the flag over `CRUCIBLE_AUTH`). docs/auth.md.
 */
export const AUTH_SERVE_OPTIONS = [
  {
    flags: '--auth <required|off>',
    description:
      'bearer tokens on every /v1 call but /v1/version (env CRUCIBLE_AUTH; default: required when --host is not loopback, off on loopback); the bootstrap admin token comes from the env CRUCIBLE_ADMIN_TOKEN',
  },
] as const;

export function withAuthFlags(
  input: ServerConfigInput,
  flags: Readonly<Record<string, unknown>>,
): ServerConfigInput {
  const mode = flags['auth'];
  return {
    ...input,
    auth: { ...input.auth, ...(typeof mode === 'string' ? { mode: mode as 'required' | 'off' } : {}) },
  };
}

/** Whether an address to listen on is loopback only: `localhost`, 127.0.0.0/8, `::1` (IPv4-mapped too). */
export function isLoopbackHost(host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (bare === 'localhost' || bare === '::1') return true;
  const v4 = bare.startsWith('::ffff:') ? bare.slice('::ffff:'.length) : bare;
  return /^127(\.\d{1,3}){3}$/.test(v4);
}

/** Authentication is on when asked for, and by default whenever the server listens beyond loopback. */
export function authRequired(config: {
  host: string;
  auth: { mode?: 'required' | 'off' | undefined };
}): boolean {
  if (config.auth.mode !== undefined) return config.auth.mode === 'required';
  return !isLoopbackHost(config.host);
}
