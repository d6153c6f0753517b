/** Every status an evaluation can have, in lifecycle order. */
export const STATUSES = [
  'queued',
  'starting',
  'running',
  'succeeded',
  'failed',
  'timed_out',
  'cancelled',
  'error',
] as const;
export type Status = (typeof STATUSES)[number];

export const TERMINAL_STATUSES = ['succeeded', 'failed', 'timed_out', 'cancelled', 'error'] as const;
export type TerminalStatus = (typeof TERMINAL_STATUSES)[number];

export const ACTIVE_STATUSES = ['starting', 'running'] as const;

export function isTerminal(status: Status): status is TerminalStatus {
  return (TERMINAL_STATUSES as readonly string[]).includes(status);
}

export function isActive(status: Status): boolean {
  return status === 'starting' || status === 'running';
}

/**
 * Position in the forward-only lifecycle. All terminal statuses share the last rank: once an evaluation is
 * terminal nothing moves it again, whichever terminal event arrives second.
 */
export function statusRank(status: Status): number {
  switch (status) {
    case 'queued':
      return 0;
    case 'starting':
      return 1;
    case 'running':
      return 2;
    case 'succeeded':
    case 'failed':
    case 'timed_out':
    case 'cancelled':
    case 'error':
      return 3;
  }
}
