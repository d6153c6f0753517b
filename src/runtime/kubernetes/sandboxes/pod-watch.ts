import type { V1Pod } from '@kubernetes/client-node';
import type { Readable } from 'node:stream';
import { jitteredBackoff, pause } from '../backoff.js';
import { KubeError } from '../kube-client.js';

export interface PodSource {
  /** Opens `watch=true` on the one pod (fieldSelector metadata.name) from `resourceVersion`. */
  watch(resourceVersion: string, signal: AbortSignal): Promise<Readable>;
  /** The pod now (null when it does not exist): where a watch whose resourceVersion expired starts again. */
  read(): Promise<V1Pod | null>;
}

interface WatchEvent {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  object: V1Pod & { code?: number };
}

class Expired extends Error {}

/**
 * Follows one pod through watch events, from `resourceVersion` on, calling `onPod` with each state (null when
 * deleted) until it returns true or `signal` aborts. Nothing is polled: a watch the server ends is reopened
 * from the last resourceVersion seen (bookmarks included); an expired one (410) restarts from a read of the
 * pod; a failed connection is retried with jittered backoff.
 */
export async function followPod(
  source: PodSource,
  resourceVersion: string,
  onPod: (pod: V1Pod | null) => boolean,
  signal: AbortSignal,
  backoff: { initialMs: number; maxMs: number },
): Promise<void> {
  let rv = resourceVersion;
  let failures = 0;
  while (!signal.aborted) {
    try {
      const body = await source.watch(rv, signal);
      failures = 0;
      let buffered = '';
      for await (const chunk of body as AsyncIterable<Buffer>) {
        buffered += chunk.toString('utf8');
        let newline: number;
        while ((newline = buffered.indexOf('\n')) >= 0) {
          const line = buffered.slice(0, newline).trim();
          buffered = buffered.slice(newline + 1);
          if (!line) continue;
          const event = JSON.parse(line) as WatchEvent;
          if (event.type === 'ERROR')
            throw event.object.code === 410 ? new Expired() : new KubeError('watch error', 0);
          rv = event.object.metadata?.resourceVersion ?? rv;
          if (event.type === 'BOOKMARK') continue;
          if (onPod(event.type === 'DELETED' ? null : event.object)) return;
        }
      }
    } catch (error) {
      if (signal.aborted) return;
      if (error instanceof Expired || (error instanceof KubeError && error.code === 410)) {
        const pod = await source.read().catch(() => undefined);
        if (pod === undefined) {
          failures += 1;
        } else {
          if (onPod(pod)) return;
          rv = pod?.metadata?.resourceVersion ?? rv;
          continue;
        }
      } else {
        failures += 1;
      }
      await pause(jitteredBackoff(failures, backoff.initialMs, backoff.maxMs), signal).catch(() => undefined);
    }
  }
}
