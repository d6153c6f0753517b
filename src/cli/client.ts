import type { EvaluationView } from '../api/views.js';

export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly field: string | null;

  constructor(status: number, code: string, message: string, field: string | null) {
    super(message);
    this.status = status;
    this.code = code;
    this.field = field;
  }
}

/** The server could not be reached at all (nothing listening, DNS failure). */
export class UnreachableError extends Error {}

export interface LogLine {
  readonly seq: number;
  readonly stream: 'stdout' | 'stderr';
  readonly at: string;
  readonly data?: string;
  readonly base64?: string;
}

export interface ListResponse {
  readonly items: EvaluationView[];
  readonly nextCursor: string | null;
}

/** A small typed client of the HTTP API; the CLI uses nothing else to talk to a server. */
export class ApiClient {
  readonly baseUrl: string;

  constructor(baseUrl: string) {
    this.baseUrl = baseUrl.replace(/\/+$/, '');
  }

  submit(body: Record<string, unknown>): Promise<EvaluationView> {
    return this.#json('POST', '/v1/evaluations', body);
  }

  get(id: string, waitSeconds = 0): Promise<EvaluationView> {
    const query = waitSeconds > 0 ? `?wait=${waitSeconds}` : '';
    return this.#json('GET', `/v1/evaluations/${encodeURIComponent(id)}${query}`);
  }

  list(query: Record<string, string | undefined>): Promise<ListResponse> {
    const params = new URLSearchParams();
    for (const [key, value] of Object.entries(query)) if (value !== undefined) params.set(key, value);
    return this.#json('GET', `/v1/evaluations?${params.toString()}`);
  }

  cancel(id: string): Promise<EvaluationView> {
    return this.#json('DELETE', `/v1/evaluations/${encodeURIComponent(id)}`);
  }

  /** Log lines as they arrive (NDJSON), until the evaluation ends when `follow` is set. */
  async *logs(id: string, follow: boolean, stream = 'all'): AsyncGenerator<LogLine> {
    const response = await this.#fetch(
      'GET',
      `/v1/evaluations/${encodeURIComponent(id)}/logs?follow=${follow}&stream=${stream}`,
    );
    if (!response.body) return;
    const decoder = new TextDecoder();
    let pending = '';
    for await (const bytes of response.body) {
      pending += decoder.decode(bytes, { stream: true });
      let newline: number;
      while ((newline = pending.indexOf('\n')) >= 0) {
        const line = pending.slice(0, newline);
        pending = pending.slice(newline + 1);
        if (line.trim()) yield JSON.parse(line) as LogLine;
      }
    }
  }

  async #json<T>(method: string, path: string, body?: unknown): Promise<T> {
    const response = await this.#fetch(method, path, body);
    return (await response.json()) as T;
  }

  async #fetch(method: string, path: string, body?: unknown): Promise<Response> {
    let response: Response;
    try {
      response = await fetch(this.baseUrl + path, {
        method,
        ...(body === undefined
          ? {}
          : { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }),
      });
    } catch (error) {
      const cause = (error as { cause?: { code?: string } }).cause;
      throw new UnreachableError(
        `cannot reach the Crucible server at ${this.baseUrl} (${cause?.code ?? String(error)}); ` +
          'start one with `npx crucible serve` or set CRUCIBLE_URL',
      );
    }
    if (!response.ok) {
      const text = await response.text();
      let parsed: { error?: { code?: string; message?: string; field?: string | null } } = {};
      try {
        parsed = JSON.parse(text) as typeof parsed;
      } catch {
        parsed = { error: { message: text } };
      }
      throw new ApiError(
        response.status,
        parsed.error?.code ?? 'http_error',
        parsed.error?.message ?? `HTTP ${response.status}`,
        parsed.error?.field ?? null,
      );
    }
    return response;
  }
}

export function decodeLogLine(line: LogLine): Buffer {
  return line.base64 !== undefined
    ? Buffer.from(line.base64, 'base64')
    : Buffer.from(line.data ?? '', 'utf8');
}
