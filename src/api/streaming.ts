import { once } from 'node:events';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { CrucibleError } from '../core/index.js';
import { toErrorResponse } from './errors.js';

/** Bounds the number of open streaming responses, in all and per client address. */
export class StreamLimiter {
  readonly #max: number;
  readonly #maxPerClient: number;
  readonly #perClient = new Map<string, number>();
  #open = 0;

  constructor(max: number, maxPerClient: number) {
    this.#max = max;
    this.#maxPerClient = maxPerClient;
  }

  get open(): number {
    return this.#open;
  }

  /** Takes a slot or throws `too_many_streams`; the returned function gives it back (once). */
  acquire(client: string): () => void {
    const mine = this.#perClient.get(client) ?? 0;
    if (this.#open >= this.#max || mine >= this.#maxPerClient) {
      throw new CrucibleError('too_many_streams', 'too many open streams; close one and retry', null);
    }
    this.#open++;
    this.#perClient.set(client, mine + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#open--;
      const left = (this.#perClient.get(client) ?? 1) - 1;
      if (left === 0) this.#perClient.delete(client);
      else this.#perClient.set(client, left);
    };
  }
}

export interface StreamOptions {
  readonly contentType: string;
  /** Sent every so often while idle so proxies keep the connection open; SSE only. */
  readonly heartbeat?: string;
  readonly heartbeatMs?: number;
  /**
   * The last frame of a stream that ended on an error (a follower dropped as too slow, a store failure), so a
   * client can tell "dropped" from "finished" and knows to resume.
   */
  readonly errorFrame: (body: ReturnType<typeof toErrorResponse>['body']) => string;
}

export const SSE: StreamOptions = {
  contentType: 'text/event-stream; charset=utf-8',
  heartbeat: ':\n\n',
  errorFrame: (body) => `event: error\ndata: ${JSON.stringify(body)}\n\n`,
};

export const NDJSON: StreamOptions = {
  contentType: 'application/x-ndjson; charset=utf-8',
  errorFrame: (body) => `${JSON.stringify(body)}\n`,
};

/**
 * Writes an async sequence of text frames to the response, honouring backpressure: while the client does not
 * read, the producer is not pulled, so the server buffers one frame, not the whole history. Takes one of the
 * limiter's slots for the client (or answers 429) and gives it back when the stream ends.
 */
export async function streamFrames(
  request: FastifyRequest,
  reply: FastifyReply,
  streams: StreamLimiter,
  produce: (signal: AbortSignal) => AsyncIterable<string>,
  options: StreamOptions,
): Promise<void> {
  const release = streams.acquire(request.ip);
  const abort = new AbortController();
  const res = reply.raw;
  reply.hijack();
  res.writeHead(200, {
    'content-type': options.contentType,
    'cache-control': 'no-cache, no-transform',
    connection: 'keep-alive',
    'x-accel-buffering': 'no',
  });
  res.flushHeaders();
  const onClose = () => abort.abort();
  request.raw.on('close', onClose);
  res.on('close', onClose);
  const heartbeat =
    options.heartbeat === undefined
      ? undefined
      : setInterval(() => res.write(options.heartbeat ?? ''), options.heartbeatMs ?? 15_000);
  try {
    for await (const frame of produce(abort.signal)) {
      if (abort.signal.aborted) break;
      // `once` with a signal removes its listeners when either side fires: no listener piles up per stall.
      if (!res.write(frame)) await once(res, 'drain', { signal: abort.signal }).catch(() => undefined);
    }
  } catch (error) {
    if (!abort.signal.aborted) res.write(options.errorFrame(toErrorResponse(error).body));
  } finally {
    clearInterval(heartbeat);
    request.raw.off('close', onClose);
    release();
    res.end();
  }
}
