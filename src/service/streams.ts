import {
  CrucibleError,
  isTerminal,
  type LogChunk,
  type OutputStream,
  type Transition,
} from '../core/index.js';
import type { EventBus } from '../events/index.js';
import type { EvaluationStore } from '../store/store.js';

/** A follower that falls this far behind is dropped; it can resume from its last id. */
export const DEFAULT_MAX_BACKLOG = 10_000;

function slowConsumer(resumeHint: string): CrucibleError {
  return new CrucibleError('slow_consumer', `client fell too far behind and was dropped; ${resumeHint}`);
}

/**
 * A queue filled by bus listeners and drained by an async generator. Subscribing before reading the store
 * and skipping what the store already returned is what makes resume gap-free and duplicate-free.
 */
class Inbox<T> {
  readonly items: T[] = [];
  readonly #maxBacklog: number;
  #wake: (() => void) | null = null;
  closed = false;
  overflowed = false;

  constructor(maxBacklog: number) {
    this.#maxBacklog = maxBacklog;
  }

  push(item: T): void {
    if (this.items.length >= this.#maxBacklog) this.overflowed = true;
    else this.items.push(item);
    this.notify();
  }

  notify(): void {
    this.#wake?.();
    this.#wake = null;
  }

  next(signal: AbortSignal | undefined): Promise<void> {
    if (this.items.length > 0 || this.closed || signal?.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      // One listener per wait, removed when the wait ends either way: a long follow does not pile them up.
      const onAbort = () => wake();
      const wake = () => {
        signal?.removeEventListener('abort', onAbort);
        this.#wake = null;
        resolve();
      };
      this.#wake = wake;
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }
}

/** Every transition with `seq > afterSeq`: first from the store, then live, in order, without gaps. */
export async function* followTransitions(
  store: EvaluationStore,
  bus: EventBus,
  afterSeq: number,
  signal?: AbortSignal,
  maxBacklog = DEFAULT_MAX_BACKLOG,
): AsyncGenerator<Transition> {
  const inbox = new Inbox<Transition>(maxBacklog);
  const unsubscribe = bus.onTransition(({ transition }) => inbox.push(transition));
  let last = afterSeq;
  try {
    for (;;) {
      const page = await store.transitionsAfter(last, 1000);
      for (const transition of page) {
        last = transition.seq;
        yield transition;
      }
      if (page.length < 1000) break;
    }
    while (!signal?.aborted) {
      await inbox.next(signal);
      if (inbox.overflowed) throw slowConsumer('reconnect with Last-Event-ID to resume');
      for (let t = inbox.items.shift(); t; t = inbox.items.shift()) {
        if (t.seq <= last) continue;
        last = t.seq;
        yield t;
      }
    }
  } finally {
    unsubscribe();
  }
}

export interface LogFollowOptions {
  readonly stream?: OutputStream;
  readonly afterSeq?: number;
  readonly follow: boolean;
  readonly signal?: AbortSignal;
  readonly maxBacklog?: number;
}

/**
 * An evaluation's log chunks, oldest first. With `follow`, keeps going until the evaluation is terminal: the
 * service stores every chunk before it publishes the terminal transition, so nothing is missed at the end.
 */
export async function* followLogs(
  store: EvaluationStore,
  bus: EventBus,
  evaluationId: string,
  options: LogFollowOptions,
): AsyncGenerator<LogChunk> {
  const inbox = new Inbox<LogChunk>(options.maxBacklog ?? DEFAULT_MAX_BACKLOG);
  const offLog = bus.onLog(evaluationId, (chunk) => inbox.push(chunk));
  const offTransition = bus.onTransition(({ transition }) => {
    if (transition.evaluationId === evaluationId && isTerminal(transition.to)) {
      inbox.closed = true;
      inbox.notify();
    }
  });
  const wanted = (chunk: LogChunk) => !options.stream || chunk.stream === options.stream;
  let last = options.afterSeq ?? 0;
  try {
    const evaluation = await store.get(evaluationId);
    const alreadyTerminal = !evaluation || isTerminal(evaluation.status);
    for (const chunk of await store.readLogs(evaluationId, { afterSeq: last })) {
      last = chunk.seq;
      if (wanted(chunk)) yield chunk;
    }
    if (!options.follow || alreadyTerminal) return;
    while (!options.signal?.aborted) {
      await inbox.next(options.signal);
      if (inbox.overflowed) throw slowConsumer('resume with ?after=<last seq>');
      for (let c = inbox.items.shift(); c; c = inbox.items.shift()) {
        if (c.seq <= last) continue;
        last = c.seq;
        if (wanted(c)) yield c;
      }
      if (inbox.closed) return;
    }
  } finally {
    offLog();
    offTransition();
  }
}
