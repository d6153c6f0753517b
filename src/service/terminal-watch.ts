import { isTerminal } from '../core/index.js';
import type { EventBus } from '../events/index.js';

export interface TerminalWatch {
  /** Resolves once `ended` has answered true, `timeoutMs` has passed or the signal has aborted. */
  readonly over: Promise<void>;
  /** Stops listening (the bus, the timer, the signal); call it in a `finally`. */
  dispose(): void;
}

/**
 * Watches this replica's bus for evaluations reaching a terminal status, for a wait that reads the store
 * next: subscribed before the read, so a transition between the two is not missed. `ended` is told each
 * evaluation that ends and answers whether the wait is over.
 */
export function watchTerminals(
  bus: EventBus,
  timeoutMs: number,
  signal: AbortSignal | undefined,
  ended: (evaluationId: string) => boolean,
): TerminalWatch {
  let finish = (): void => undefined;
  const over = new Promise<void>((resolve) => (finish = resolve));
  const unsubscribe = bus.onTransition(({ transition }) => {
    if (isTerminal(transition.to) && ended(transition.evaluationId)) finish();
  });
  const timer = setTimeout(finish, Math.max(0, timeoutMs));
  signal?.addEventListener('abort', finish, { once: true });
  return {
    over,
    dispose: () => {
      unsubscribe();
      clearTimeout(timer);
      signal?.removeEventListener('abort', finish);
    },
  };
}
