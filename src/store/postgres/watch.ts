import { setTimeout as sleep } from 'node:timers/promises';
import { Client } from 'pg';
import type { StoreChange } from '../store.js';
import type { SchemaNames } from './sql.js';
import { parseTransitionPayload } from './transitions.js';

export interface WatchOptions {
  readonly url: string;
  readonly names: SchemaNames;
  readonly scrub: (error: unknown) => unknown;
  /** The tag this replica's store writes in its payloads. */
  readonly writerTag: string;
  /** First wait after a failed reconnect, doubled up to `maxBackoffMs`; defaults 100 ms and 5 s. */
  readonly backoffMs?: number;
  readonly maxBackoffMs?: number;
}

/**
 * LISTENs on the schema's channel on a dedicated connection (a pooled one would be handed to other queries).
 * Payloads: the transitions (JSON, see `parseTransitionPayload`) or '' (transitions too many to carry) for
 * transitions, an evaluation id for log chunks. When the connection is lost it reconnects
 * with backoff and then reports `resync`, since notifications sent meanwhile are gone.
 *
 * @throws the connection error when the first LISTEN fails (nothing keeps running then)
 */
export async function watchChanges(
  options: WatchOptions,
  listener: (change: StoreChange) => void,
): Promise<() => Promise<void>> {
  const watcher = new ChangeWatcher(options, listener);
  await watcher.start();
  return () => watcher.stop();
}

class ChangeWatcher {
  #client: Client | null = null;
  #reconnecting: Promise<void> | null = null;
  readonly #stopping = new AbortController();

  constructor(
    private readonly options: WatchOptions,
    private readonly listener: (change: StoreChange) => void,
  ) {}

  async start(): Promise<void> {
    this.#client = await this.#open();
  }

  async stop(): Promise<void> {
    this.#stopping.abort();
    await this.#reconnecting;
    const client = this.#client;
    this.#client = null;
    await client?.end().catch(() => {});
  }

  async #open(): Promise<Client> {
    const { url, names } = this.options;
    const client = new Client({
      connectionString: url,
      application_name: `crucible-watch:${names.schema}`,
      // A silently dropped TCP connection (no FIN) would otherwise leave us listening to nothing.
      keepAlive: true,
      keepAliveInitialDelayMillis: 10_000,
      connectionTimeoutMillis: 10_000,
    });
    client.on('error', () => this.#lost(client));
    client.on('end', () => this.#lost(client));
    client.on('notification', (message) => {
      if (message.channel !== names.channel) return;
      this.#deliver(changeOf(message.payload ?? '', this.options.writerTag));
    });
    try {
      await client.connect();
      await client.query(`LISTEN "${names.channel}"`);
      return client;
    } catch (error) {
      await client.end().catch(() => {});
      throw this.options.scrub(error);
    }
  }

  #lost(client: Client): void {
    if (client !== this.#client || this.#stopping.signal.aborted) return;
    this.#client = null;
    void client.end().catch(() => {});
    this.#reconnecting = this.#reconnect().finally(() => (this.#reconnecting = null));
  }

  async #reconnect(): Promise<void> {
    let backoff = this.options.backoffMs ?? 100;
    const maxBackoff = this.options.maxBackoffMs ?? 5000;
    while (!this.#stopping.signal.aborted) {
      try {
        const client = await this.#open();
        if (this.#stopping.signal.aborted) {
          await client.end().catch(() => {});
          return;
        }
        this.#client = client;
        this.#deliver({ kind: 'resync' });
        return;
      } catch {
        await sleep(backoff, undefined, { signal: this.#stopping.signal }).catch(() => {});
        backoff = Math.min(backoff * 2, maxBackoff);
      }
    }
  }

  /** The listener is the caller's: a throw from it must not take the connection (or the process) down. */
  #deliver(change: StoreChange): void {
    try {
      this.listener(change);
    } catch {
      // Ignored on purpose; the listener owns its errors.
    }
  }
}

function changeOf(payload: string, writerTag: string): StoreChange {
  if (payload === '') return { kind: 'transition' };
  try {
    const carried = parseTransitionPayload(payload, writerTag);
    return carried ? { kind: 'transition', ...carried } : { kind: 'log', evaluationId: payload };
  } catch {
    // Not what this version writes (a newer replica's?): the listener reads the store instead.
    return { kind: 'transition' };
  }
}
