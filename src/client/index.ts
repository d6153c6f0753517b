/**
 * The Crucible SDK: `import { Crucible } from 'crucible'`. It depends on nothing but Node's `http`, so it
 * loads fast (the CLI uses it on its start-up path) and never pulls in the server.
 */
export {
  Crucible,
  DEFAULT_URL,
  type BatchOptions,
  type CallOptions,
  type CrucibleOptions,
  type EventsOptions,
  type LogsOptions,
  type RunOptions,
  type SubmitOptions,
  type WaitOptions,
} from './crucible.js';
export { CrucibleError, CrucibleUnreachableError } from './errors.js';
export type { RetryEvent, RetryOptions } from './transport.js';
export * from './types.js';
export { decodeLogLine } from './log-line.js';
export { Sandbox, Sandboxes } from './sandbox.js';
export type * from './sandbox.js';
