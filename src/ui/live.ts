import { call, type Transition } from './api.js';
import { followEvents } from './stream.js';

type Listener = (t: Transition) => void;

/**
 * One `/v1/events` connection for the whole page: views subscribe to the transitions they show. Started after
 * the session's seq, so a view that listed first and subscribes now misses nothing.
 */
class LiveTransitions {
  #listeners = new Set<Listener>();
  #controller: AbortController | null = null;

  start(after: number): void {
    this.#controller?.abort();
    this.#controller = new AbortController();
    void followEvents(after, this.#controller.signal, (data) => {
      for (const listener of this.#listeners) listener(data as Transition);
    });
  }

  subscribe(listener: Listener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
}

export const live = new LiveTransitions();

export interface Session {
  authRequired: boolean;
  seq: number;
}

export const loadSession = () => call<Session>('GET', '/ui/session');
