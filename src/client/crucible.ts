import type { Agent } from 'node:http';
import { readEvents, readLogs } from './follow.js';
import { Transport, type RetryOptions } from './transport.js';
import { Sandboxes } from './sandbox.js';
import {
  isTerminal,
  type Evaluation,
  type EvaluationSummary,
  type Health,
  type ListQuery,
  type LogLine,
  type LogStream,
  type Page,
  type QueueStats,
  type Readiness,
  type Submission,
  type Transition,
  type WebhookDeliveries,
} from './types.js';
import type { Batch, SubmittedBatch } from './types.js';
import type { CreatedToken, NewToken, TokenInfo } from './types.js';
import type { UsageQuery, UsageReport } from './types.js';
import type { LanguageList } from './types.js';
import type { ArtifactDownload, ArtifactList, PruneReport, PruneRequest } from './types.js';

export const DEFAULT_URL = 'http://127.0.0.1:8080';

export interface CrucibleOptions {
  /** The server; default `CRUCIBLE_URL`, else http://127.0.0.1:8080. */
  readonly baseUrl?: string;
  /** Sent as `Authorization: Bearer <token>`; default `CRUCIBLE_TOKEN`. */
  readonly token?: string;
  /** Retries of 429/502/503/504 and connection errors; `{ attempts: 1 }` turns them off. */
  readonly retry?: RetryOptions;
  /** Extra headers on every request. */
  readonly headers?: Readonly<Record<string, string>>;
  /** The `http.Agent` (or `https.Agent`) for every request: keep-alive, proxies, sockets of your own. */
  readonly agent?: Agent;
}

export interface CallOptions {
  readonly signal?: AbortSignal;
}

export interface SubmitOptions extends CallOptions {
  /**
   * Names this logical submission: the server runs a key once and answers repeats with the first evaluation.
   * Default: a random UUID per `submit` call, reused by its retries. Pass your own to make retries of your
   * own (after a crash, say) safe too.
   */
  readonly idempotencyKey?: string;
}

export interface RunOptions extends SubmitOptions {
  /** Told the evaluation's id as soon as it is accepted (to cancel it, say). */
  readonly onSubmitted?: (submitted: { readonly id: string }) => void;
  /** Each line of output as it is produced; without it `run` only waits for the end. */
  readonly onOutput?: (line: LogLine) => void;
}

export interface BatchOptions extends CallOptions {
  /** Merged into every item's labels (an item's own label wins). */
  readonly labels?: Readonly<Record<string, string>>;
  /** POSTed, signed, once every item is done (the server needs --webhook-secret). */
  readonly webhook?: { readonly url: string };
  /** As for `submit`: default a random UUID per call, reused by its retries. */
  readonly idempotencyKey?: string;
}

export interface WaitOptions extends CallOptions {
  /** Give up after this long and answer the evaluation as it is then (default: no limit). */
  readonly timeoutSeconds?: number;
}

export interface LogsOptions extends CallOptions {
  /** Keep streaming until the evaluation ends (default false: what is stored now). */
  readonly follow?: boolean;
  readonly stream?: LogStream | 'all';
  /** Only lines with a larger seq: resume after the last line you have. */
  readonly after?: number;
}

export interface EventsOptions extends CallOptions {
  /** Resume after this transition seq (an SSE id); default 0, the whole history. */
  readonly after?: number;
  /** Wait before reconnecting a dropped stream (default: the server's advice, 1 s). */
  readonly reconnectDelayMs?: number;
}

/** The longest `?wait=` the server holds a request. */
const MAX_WAIT_SECONDS = 300;

/**
 * The Crucible HTTP API as typed methods. Every call retries 429/503 and connection errors with jittered
 * backoff (honouring `Retry-After`); failures throw `CrucibleError` (the API's code, message and field) or
 * `CrucibleUnreachableError`. Loads nothing of the server.
 *
 * @example
 * const crucible = new Crucible({ baseUrl: 'http://127.0.0.1:8080' });
 * const submitted = await crucible.submit({ language: 'python', code: 'print(1)' });
 * for await (const line of crucible.follow(submitted.id)) process.stdout.write(line.data ?? '');
 * const done = await crucible.wait(submitted.id);
 */
export class Crucible {
  readonly baseUrl: string;
  readonly #transport: Transport;
  readonly #maxReconnects: number;
  /** Interactive sandboxes: `crucible.sandboxes.create()` → a `Sandbox` (exec, files, pty, hibernate). */
  readonly sandboxes: Sandboxes;

  constructor(options: CrucibleOptions | string = {}) {
    const opts = typeof options === 'string' ? { baseUrl: options } : options;
    const token = opts.token ?? process.env.CRUCIBLE_TOKEN;
    this.#transport = new Transport(
      opts.baseUrl ?? process.env.CRUCIBLE_URL ?? DEFAULT_URL,
      { ...(token ? { authorization: `Bearer ${token}` } : {}), ...opts.headers },
      opts.retry,
      opts.agent,
    );
    this.baseUrl = this.#transport.baseUrl;
    this.#maxReconnects = Math.max(0, (opts.retry?.attempts ?? 5) - 1);
    this.sandboxes = new Sandboxes(this.#transport);
  }

  /** `POST /v1/evaluations`, with an `Idempotency-Key` so a retried submission never runs twice. */
  submit(submission: Submission, options: SubmitOptions = {}): Promise<Evaluation> {
    return this.#transport.json(submitRequest(submission, options, ''));
  }

  /** `GET /v1/evaluations/{id}`; with `waitSeconds` (≤ 300) the server holds it until the evaluation ends. */
  get(id: string, waitSeconds = 0, options: CallOptions = {}): Promise<Evaluation> {
    const query = waitSeconds > 0 ? `?wait=${Math.min(waitSeconds, MAX_WAIT_SECONDS)}` : '';
    return this.#transport.json({
      method: 'GET',
      path: `${evaluationPath(id)}${query}`,
      signal: options.signal,
    });
  }

  /** The evaluation once it is terminal (or, past `timeoutSeconds`, as it is then). */
  async wait(id: string, options: WaitOptions = {}): Promise<Evaluation> {
    const deadline =
      options.timeoutSeconds === undefined ? Infinity : Date.now() + options.timeoutSeconds * 1000;
    for (;;) {
      const left = Math.ceil((deadline - Date.now()) / 1000);
      const evaluation = await this.get(id, Math.max(0, Math.min(MAX_WAIT_SECONDS, left)), options);
      if (isTerminal(evaluation.status) || left <= 0) return evaluation;
    }
  }

  /** One page of `GET /v1/evaluations`, newest first; pass `nextCursor` back as `cursor` for the next. */
  list(query: ListQuery = {}, options: CallOptions = {}): Promise<Page> {
    const params = new URLSearchParams();
    for (const [key, value] of Object.entries(query)) {
      if (value !== undefined && value !== null) params.set(key, String(value));
    }
    const search = params.size > 0 ? `?${params.toString()}` : '';
    return this.#transport.json({ method: 'GET', path: `/v1/evaluations${search}`, signal: options.signal });
  }

  /** Every evaluation matching `query`, page after page. */
  async *listAll(
    query: Omit<ListQuery, 'cursor'> = {},
    options: CallOptions = {},
  ): AsyncGenerator<EvaluationSummary> {
    let cursor: string | null = null;
    do {
      const page: Page = await this.list({ ...query, ...(cursor ? { cursor } : {}) }, options);
      yield* page.items;
      cursor = page.nextCursor;
    } while (cursor);
  }

  /** `DELETE /v1/evaluations/{id}`: cancels it (idempotent; a finished evaluation is left as it is). */
  cancel(id: string, options: CallOptions = {}): Promise<Evaluation> {
    return this.#transport.json({ method: 'DELETE', path: evaluationPath(id), signal: options.signal });
  }

  /** Every recorded status change of one evaluation, oldest first. */
  async transitions(id: string, options: CallOptions = {}): Promise<Transition[]> {
    const page = await this.#transport.json<{ items: Transition[] }>({
      method: 'GET',
      path: `${evaluationPath(id)}/transitions`,
      signal: options.signal,
    });
    return page.items;
  }

  /**
   * Log lines, oldest first; with `follow`, until the evaluation ends. Resumes after a disconnect from the
   * last seq received: no line is lost or repeated. `logs(id, true)` is short for `follow(id)`.
   */
  logs(id: string, options?: LogsOptions): AsyncGenerator<LogLine>;
  logs(id: string, follow: boolean, stream?: LogStream | 'all'): AsyncGenerator<LogLine>;
  logs(id: string, options: LogsOptions | boolean = {}, stream?: LogStream | 'all'): AsyncGenerator<LogLine> {
    const opts: LogsOptions =
      typeof options === 'boolean' ? { follow: options, ...(stream ? { stream } : {}) } : options;
    return this.#readLogs(id, opts, () => undefined);
  }

  /** `seen` is told each evaluation fetched to check whether a follow that ended is really over. */
  #readLogs(
    id: string,
    options: LogsOptions,
    seen: (evaluation: Evaluation) => void,
  ): AsyncGenerator<LogLine> {
    return readLogs({
      transport: this.#transport,
      maxReconnects: this.#maxReconnects,
      evaluationId: id,
      follow: options.follow === true,
      stream: options.stream,
      after: options.after,
      signal: options.signal,
      isFinished: async () => {
        const evaluation = await this.get(id, 0, options);
        seen(evaluation);
        return isTerminal(evaluation.status);
      },
    });
  }

  /**
   * Submits, hands each line of output to `onOutput` as it is produced (when given), and answers the
   * evaluation once it is terminal: `submit`, `follow` and `wait` in one call, with one request fewer.
   */
  async run(submission: Submission, options: RunOptions = {}): Promise<Evaluation> {
    if (!options.onOutput) return this.#submitAndWait(submission, options);
    const submitted = await this.submit(submission, options);
    options.onSubmitted?.(submitted);
    let final: Evaluation | undefined;
    if (options.onOutput) {
      const lines = this.#readLogs(submitted.id, { follow: true, signal: options.signal }, (evaluation) => {
        final = evaluation;
      });
      for await (const line of lines) options.onOutput(line);
    }
    return final && isTerminal(final.status) ? final : this.wait(submitted.id, options);
  }

  /**
   * `POST /v1/evaluations?wait=300`: one request where submit-then-wait takes two. The server sends the status
   * and `Location` at once and the body when the evaluation ends; a body cut short (the connection dropped, the
   * server restarted) is asked for again by id, as is one that is not terminal yet.
   */
  async #submitAndWait(submission: Submission, options: RunOptions): Promise<Evaluation> {
    const answer = await this.#transport.send(
      submitRequest(submission, options, `?wait=${MAX_WAIT_SECONDS}`),
    );
    const id = idOfLocation(answer.headers.location);
    if (id !== undefined) options.onSubmitted?.({ id });
    let evaluation: Evaluation;
    try {
      evaluation = JSON.parse(await answer.text()) as Evaluation;
    } catch (error) {
      if (id === undefined || options.signal?.aborted) throw error;
      return this.wait(id, options);
    }
    if (id === undefined) options.onSubmitted?.(evaluation);
    return isTerminal(evaluation.status) ? evaluation : this.wait(evaluation.id, options);
  }

  /** The output as it is produced, until the evaluation ends (resuming after disconnects). */
  follow(id: string, options: Omit<LogsOptions, 'follow'> = {}): AsyncGenerator<LogLine> {
    return this.logs(id, { ...options, follow: true });
  }

  /** Every status transition (SSE `GET /v1/events`), for as long as you read; resumes with Last-Event-ID. */
  events(options: EventsOptions = {}): AsyncGenerator<Transition> {
    return readEvents({
      transport: this.#transport,
      maxReconnects: this.#maxReconnects,
      after: options.after,
      reconnectDelayMs: options.reconnectDelayMs,
      signal: options.signal,
    });
  }

  /** `GET /v1/evaluations/{id}/deliveries`: its webhook delivery and every attempt, oldest first. */
  deliveries(id: string, options: CallOptions = {}): Promise<WebhookDeliveries> {
    return this.#transport.json({
      method: 'GET',
      path: `${evaluationPath(id)}/deliveries`,
      signal: options.signal,
    });
  }

  /**
   * `POST /v1/batches`: up to 1,000 submissions stored at once (all or none: one bad item throws
   * `CrucibleError` with `field` like `items.7.code`). Answers the batch id and the evaluation ids in item order.
   */
  submitBatch(items: readonly Submission[], options: BatchOptions = {}): Promise<SubmittedBatch> {
    const body = {
      items,
      ...(options.labels ? { labels: options.labels } : {}),
      ...(options.webhook ? { webhook: options.webhook } : {}),
    };
    return this.#transport.json({
      method: 'POST',
      path: '/v1/batches',
      body,
      headers: { 'idempotency-key': options.idempotencyKey ?? newIdempotencyKey() },
      signal: options.signal,
    });
  }

  /** `GET /v1/batches/{id}`: counts by status; with `waitSeconds` (≤ 300) held until every item is done. */
  batch(id: string, waitSeconds = 0, options: CallOptions = {}): Promise<Batch> {
    const query = waitSeconds > 0 ? `?wait=${Math.min(waitSeconds, MAX_WAIT_SECONDS)}` : '';
    return this.#transport.json({
      method: 'GET',
      path: `/v1/batches/${encodeURIComponent(id)}${query}`,
      signal: options.signal,
    });
  }

  /** The batch once every item is done (or, past `timeoutSeconds`, as it is then). */
  async waitBatch(id: string, options: WaitOptions = {}): Promise<Batch> {
    const deadline =
      options.timeoutSeconds === undefined ? Infinity : Date.now() + options.timeoutSeconds * 1000;
    for (;;) {
      const left = Math.ceil((deadline - Date.now()) / 1000);
      const batch = await this.batch(id, Math.max(0, Math.min(MAX_WAIT_SECONDS, left)), options);
      if (batch.done || left <= 0) return batch;
    }
  }

  /** `GET /v1/evaluations/{id}/artifacts`: the files kept from its `/artifacts`, and those dropped. */
  artifacts(id: string, options: CallOptions = {}): Promise<ArtifactList> {
    return this.#transport.json({
      method: 'GET',
      path: `${evaluationPath(id)}/artifacts`,
      signal: options.signal,
    });
  }

  /**
   * `GET /v1/evaluations/{id}/artifacts/{name}`: one artifact's bytes, streamed; `range` (inclusive, as
   * HTTP's) asks for part of it. Read `body` to the end (or abort `signal`) to free the connection.
   */
  async artifact(
    id: string,
    name: string,
    options: CallOptions & { range?: { start: number; end?: number } } = {},
  ): Promise<ArtifactDownload> {
    const path = `${evaluationPath(id)}/artifacts/${name.split('/').map(encodeURIComponent).join('/')}`;
    const range = options.range;
    const answer = await this.#transport.send({
      method: 'GET',
      path,
      signal: options.signal,
      ...(range ? { headers: { range: `bytes=${range.start}-${range.end ?? ''}` } } : {}),
    });
    return {
      contentType: String(answer.headers['content-type'] ?? 'application/octet-stream'),
      size: Number(answer.headers['content-length'] ?? 0),
      body: answer.body,
    };
  }

  /** `POST /v1/prune` (admins): one retention pass now (docs/retention.md); `dryRun` only counts. */
  prune(request: PruneRequest = {}, options: CallOptions = {}): Promise<PruneReport> {
    return this.#transport.json({ method: 'POST', path: '/v1/prune', body: request, signal: options.signal });
  }

  /** `GET /v1/queue`: queued counts by priority, running count, capacity. */
  queue(options: CallOptions = {}): Promise<QueueStats> {
    return this.#transport.json({ method: 'GET', path: '/v1/queue', signal: options.signal });
  }

  /** `GET /metrics`: the answering replica's Prometheus metrics, as text. */
  async metrics(options: CallOptions = {}): Promise<string> {
    const answer = await this.#transport.send({ method: 'GET', path: '/metrics', signal: options.signal });
    return answer.text();
  }

  /** `GET /healthz`: the process answers. */
  health(options: CallOptions = {}): Promise<Health> {
    return this.#transport.json({ method: 'GET', path: '/healthz', signal: options.signal });
  }

  /** `GET /readyz`: `{ status: 'ready' }`, or `{ status: 'starting' }` while the server recovers. */
  async ready(options: CallOptions = {}): Promise<Readiness> {
    const response = await this.#transport.send(
      { method: 'GET', path: '/readyz', signal: options.signal },
      [503],
    );
    return JSON.parse(await response.text()) as Readiness;
  }

  /** `GET /v1/version` (contract v1.1). */
  version(options: CallOptions = {}): Promise<{ version: string }> {
    return this.#transport.json({ method: 'GET', path: '/v1/version', signal: options.signal });
  }

  /** `POST /v1/tokens` (admins): a new token; its secret is in the answer only, never again. */
  createToken(token: NewToken, options: CallOptions = {}): Promise<CreatedToken> {
    return this.#transport.json({ method: 'POST', path: '/v1/tokens', body: token, signal: options.signal });
  }

  /** `GET /v1/tokens` (admins): every token, oldest first, without secrets. */
  async tokens(options: CallOptions = {}): Promise<TokenInfo[]> {
    const page = await this.#transport.json<{ items: TokenInfo[] }>({
      method: 'GET',
      path: '/v1/tokens',
      signal: options.signal,
    });
    return page.items;
  }

  /**
   * `GET /v1/usage`: wall, CPU and memory × time of evaluations that finished in [from, to), by user or by a
   * label's value (docs/usage.md). Users get their own usage, admins everyone's.
   */
  usage(query: UsageQuery = {}, options: CallOptions = {}): Promise<UsageReport> {
    const params = new URLSearchParams();
    for (const [key, value] of Object.entries(query) as [string, Date | string | undefined][]) {
      if (value !== undefined) params.set(key, value instanceof Date ? value.toISOString() : value);
    }
    const search = params.size > 0 ? `?${params.toString()}` : '';
    return this.#transport.json({ method: 'GET', path: `/v1/usage${search}`, signal: options.signal });
  }

  /**
   * `GET /v1/languages`: every language with the version the server runs it with, and the install command
   * of those not installed there.
   *
   * @example
   * const { items } = await crucible.languages();
   * console.log(items.filter((l) => l.installed).map((l) => `${l.id} ${l.version}`));
   */
  languages(options: CallOptions = {}): Promise<LanguageList> {
    return this.#transport.json({ method: 'GET', path: '/v1/languages', signal: options.signal });
  }

  /** `DELETE /v1/tokens/{id}` (admins): the token stops authenticating at once. */
  async revokeToken(id: string, options: CallOptions = {}): Promise<void> {
    const answer = await this.#transport.send({
      method: 'DELETE',
      path: `/v1/tokens/${encodeURIComponent(id)}`,
      signal: options.signal,
    });
    // Read to the end (empty, 204), so the connection goes back to the pool.
    await answer.text();
  }
}

function submitRequest(submission: Submission, options: SubmitOptions, query: string) {
  return {
    method: 'POST' as const,
    path: `/v1/evaluations${query}`,
    body: submission,
    headers: { 'idempotency-key': options.idempotencyKey ?? newIdempotencyKey() },
    signal: options.signal,
  };
}

/** The id in a `Location: /v1/evaluations/{id}` header. */
function idOfLocation(location: string | undefined): string | undefined {
  const match = location?.match(/\/v1\/evaluations\/([^/?#]+)$/);
  return match?.[1] === undefined ? undefined : decodeURIComponent(match[1]);
}

function evaluationPath(id: string): string {
  return `/v1/evaluations/${encodeURIComponent(id)}`;
}

/**
 * A random (version 4) UUID from the kernel's CSPRNG. Read from /dev/urandom with `fs`, which every Node
 * process has loaded: loading node:crypto for one UUID costs a short-lived CLI ~7 ms, the global `crypto`
 * (WebCrypto) more. Where there is no /dev/urandom, node:crypto's.
 */
function newIdempotencyKey(): string {
  const bytes = Buffer.alloc(16);
  try {
    const fs = process.getBuiltinModule('node:fs');
    const fd = fs.openSync('/dev/urandom', 'r');
    try {
      if (fs.readSync(fd, bytes, 0, 16, null) !== 16) throw new Error('short read from /dev/urandom');
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    return process.getBuiltinModule('node:crypto').randomUUID();
  }
  bytes[6] = (bytes[6]! & 0x0f) | 0x40;
  bytes[8] = (bytes[8]! & 0x3f) | 0x80;
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
