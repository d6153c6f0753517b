import type { ServerResponse } from 'node:http';
import { Readable } from 'node:stream';

/**
 * A JSON body known only later (an evaluation once it ends) whose status line and headers go out at once: the
 * client learns the `Location` (the id, to cancel it) while the body is still held. Sent as the reply's
 * payload, so Fastify's hooks still add their headers. The producer's signal aborts when the client goes away,
 * and a producer that fails cuts the body short, which a client reads as a dropped connection (the evaluation
 * itself was accepted: it asks again).
 */
export function heldJson(res: ServerResponse, produce: (signal: AbortSignal) => Promise<unknown>): Readable {
  const abort = new AbortController();
  let started = false;
  return new Readable({
    read() {
      if (started) return;
      started = true;
      // Fastify has set the headers by the time it pipes the body: send them without waiting for it.
      res.flushHeaders();
      produce(abort.signal).then(
        (value) => {
          this.push(JSON.stringify(value));
          this.push(null);
        },
        (error: unknown) => this.destroy(error instanceof Error ? error : new Error(String(error))),
      );
    },
    destroy(error, callback) {
      abort.abort();
      callback(error);
    },
  });
}

/** Aborts when the client is gone before the response has been sent whole. */
export function clientGone(res: ServerResponse): { signal: AbortSignal; dispose: () => void } {
  const abort = new AbortController();
  const onClose = () => {
    if (!res.writableFinished) abort.abort();
  };
  res.once('close', onClose);
  return { signal: abort.signal, dispose: () => res.off('close', onClose) };
}
