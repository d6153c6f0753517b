import http from 'node:http';
import https from 'node:https';
import type { LookupFunction } from 'node:net';
import type { CheckedTarget } from './target-guard.js';

export interface SendOptions {
  readonly target: CheckedTarget;
  readonly body: string;
  readonly headers: Readonly<Record<string, string>>;
  /** The whole attempt — connect, send, answer — must be over by then. */
  readonly timeoutMs: number;
  /** At most this much of the answer is read; the rest is not waited for. */
  readonly maxResponseBytes: number;
  readonly signal?: AbortSignal;
}

export type SendResult =
  | { readonly ok: true; readonly statusCode: number }
  | { readonly ok: false; readonly statusCode: number | null; readonly error: string };

/**
 * One POST to a checked target. The connection goes to the checked address only (the lookup is pinned, so
 * the name is not resolved again behind the guard's back); TLS still verifies the certificate against the
 * host name. Redirects are not followed (node:http never does): a 3xx is a failed attempt. A fresh
 * connection each time (`agent: false`): a pooled socket to the same host could be one opened to another
 * address.
 */
export function send(options: SendOptions): Promise<SendResult> {
  const { target } = options;
  const pinned: LookupFunction = (_hostname, lookupOptions, callback) => {
    if (lookupOptions.all) callback(null, [{ address: target.address, family: target.family }]);
    else callback(null, target.address, target.family);
  };
  const client = target.url.protocol === 'https:' ? https : http;
  return new Promise<SendResult>((resolve) => {
    let settled = false;
    const finish = (result: SendResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
      request.destroy();
      resolve(result);
    };
    const request = client.request(target.url, {
      method: 'POST',
      agent: false,
      lookup: pinned,
      headers: { ...options.headers, 'content-length': String(Buffer.byteLength(options.body)) },
    });
    // A status that came in time counts even if the body is still coming: only the status is wanted.
    let answered: { status: number; location: string | undefined } | undefined;
    const timer = setTimeout(
      () =>
        finish(
          answered
            ? resultOf(answered.status, answered.location)
            : { ok: false, statusCode: null, error: `no answer within ${options.timeoutMs / 1000} s` },
        ),
      options.timeoutMs,
    );
    const onAbort = () =>
      finish({ ok: false, statusCode: null, error: 'the server stopped during the attempt' });
    options.signal?.addEventListener('abort', onAbort, { once: true });
    request.on('error', (error) => finish({ ok: false, statusCode: null, error: error.message }));
    request.on('response', (response) => {
      const status = response.statusCode ?? 0;
      answered = { status, location: response.headers.location };
      let read = 0;
      const done = () => finish(resultOf(status, response.headers.location));
      response.on('data', (chunk: Buffer) => {
        read += chunk.length;
        if (read >= options.maxResponseBytes) done();
      });
      response.on('end', done);
      response.on('error', done);
    });
    request.end(options.body);
  });
}

function resultOf(status: number, location: string | undefined): SendResult {
  if (status >= 200 && status < 300) return { ok: true, statusCode: status };
  if (status >= 300 && status < 400) {
    const to = location ? ` to ${location.slice(0, 200)}` : '';
    return { ok: false, statusCode: status, error: `answered ${status}; redirects${to} are not followed` };
  }
  return { ok: false, statusCode: status, error: `answered ${status}` };
}
