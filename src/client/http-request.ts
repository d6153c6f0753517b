import type { Agent, IncomingMessage } from 'node:http';

/** What the SDK sends: a method, a full URL, headers and an optional text body. */
export interface HttpRequest {
  readonly method: string;
  readonly url: URL;
  readonly headers: Readonly<Record<string, string>>;
  readonly body?: string | Buffer | undefined;
  readonly signal?: AbortSignal | undefined;
  /** Node's default (the global agent) when not given. */
  readonly agent?: Agent | undefined;
}

/** An answer whose body is still unread: iterate it (bytes) or read it whole. */
export interface HttpAnswer {
  readonly status: number;
  readonly headers: IncomingMessage['headers'];
  readonly body: AsyncIterable<Uint8Array>;
  text(): Promise<string>;
}

/**
 * One HTTP exchange over `node:http` (or `node:https`, loaded only for https URLs). Not `fetch`: in Node the
 * first `fetch` loads and instantiates undici (a large bundle and a WebAssembly parser), about 80 ms of CPU,
 * which a CLI that does two requests cannot afford; `node:http` costs a fraction. Rejects with the socket's
 * error (its `code`, e.g. ECONNREFUSED) or, when the signal aborts, with the signal's reason.
 */
export function exchange(request: HttpRequest): Promise<HttpAnswer> {
  // Not `import … from 'node:http'`: an ESM import of a builtin evaluates every export, and node:http's lazy
  // ones load undici (~80 ms). getBuiltinModule hands over the module object as it is, on first use only
  // (`crucible --help` never loads it).
  const module = process.getBuiltinModule(request.url.protocol === 'https:' ? 'node:https' : 'node:http');
  return new Promise<HttpAnswer>((resolve, reject) => {
    if (request.signal?.aborted) return reject(request.signal.reason as Error);
    const headers: Record<string, string> = { ...request.headers };
    if (request.body !== undefined) headers['content-length'] = String(Buffer.byteLength(request.body));
    const options = { method: request.method, headers, ...(request.agent ? { agent: request.agent } : {}) };
    const req = module.request(request.url, options, (res) => {
      request.signal?.removeEventListener('abort', onAbort);
      if (request.signal) {
        // The body may be read long after: an abort then ends its iteration with the signal's reason.
        const signal = request.signal;
        const onBodyAbort = () => res.destroy(signal.reason as Error);
        signal.addEventListener('abort', onBodyAbort, { once: true });
        res.once('close', () => signal.removeEventListener('abort', onBodyAbort));
      }
      // Errors reach whoever reads the body (the iterator rethrows them); this keeps an unread one from throwing.
      res.on('error', () => undefined);
      resolve({
        status: res.statusCode ?? 0,
        headers: res.headers,
        body: res,
        text: () => readText(res),
      });
    });
    const onAbort = () => req.destroy(request.signal?.reason as Error);
    request.signal?.addEventListener('abort', onAbort, { once: true });
    // `on`, not `once`: a socket can fail again after the first error, and an unheard 'error' would throw.
    req.on('error', (error) => {
      request.signal?.removeEventListener('abort', onAbort);
      reject(error);
    });
    req.end(request.body);
  });
}

/**
 * The whole body as text, read with 'data'/'end' events: a `for await` over the response loads and runs the
 * streams' async-iterator machinery, a few ms of a short CLI run for a body that is one chunk.
 */
function readText(res: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    res.on('data', (chunk: Buffer) => chunks.push(chunk));
    res.once('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    res.once('error', reject);
    // Closed without 'end': the connection dropped mid-body (an abort destroys it with its reason first).
    res.once('close', () => {
      if (!res.complete) reject(res.errored ?? new Error('the connection closed before the answer ended'));
    });
  });
}
