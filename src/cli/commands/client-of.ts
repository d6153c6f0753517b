import { Crucible, type CrucibleOptions } from '../../client/index.js';
import type { Flags } from '../parser.js';

/** The SDK client for the global `--url` (else the SDK's default: CRUCIBLE_URL, then http://127.0.0.1:8080). */
export function clientOf(flags: Flags): Crucible {
  return new Crucible(clientOptionsOf(flags));
}

export function clientOptionsOf(flags: Flags): CrucibleOptions {
  return typeof flags.url === 'string' ? { baseUrl: flags.url } : {};
}
