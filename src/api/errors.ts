import type { IncomingMessage } from 'node:http';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod';
import { CrucibleError, type ErrorCode } from '../core/index.js';
import type { Logger } from '../service/index.js';

interface ErrorBody {
  error: { code: string; message: string; field: string | null };
}

/** The HTTP status of each domain error code: the only place the two meet. */
const HTTP_STATUS: Record<ErrorCode, number> = {
  invalid_request: 400,
  invalid_json: 400,
  unsupported_media_type: 415,
  // The contract answers every bad submission with 400, an oversized one included.
  payload_too_large: 400,
  unknown_language: 400,
  language_not_installed: 400,
  not_found: 404,
  unauthenticated: 401,
  forbidden: 403,
  idempotency_conflict: 409,
  already_exists: 409,
  rate_limited: 429,
  quota_exceeded: 429,
  too_many_streams: 429,
  slow_consumer: 429,
  not_ready: 503,
  storage_full: 503,
  range_not_satisfiable: 416,
  internal: 500,
};

/** Fastify's own errors that describe a bad request, mapped to our codes. The issue asks 400 for each. */
const FASTIFY_CODES: Record<string, { code: ErrorCode; field: string | null }> = {
  FST_ERR_CTP_INVALID_MEDIA_TYPE: { code: 'unsupported_media_type', field: 'content-type' },
  FST_ERR_CTP_BODY_TOO_LARGE: { code: 'payload_too_large', field: 'body' },
  FST_ERR_CTP_EMPTY_JSON_BODY: { code: 'invalid_json', field: 'body' },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: { code: 'invalid_request', field: 'content-length' },
  // Router errors (through `frameworkErrors`): otherwise Fastify answers them in its own shape.
  FST_ERR_BAD_URL: { code: 'invalid_request', field: 'url' },
  FST_ERR_MAX_PARAM_LENGTH: { code: 'invalid_request', field: 'url' },
  FST_ERR_ASYNC_CONSTRAINT: { code: 'invalid_request', field: 'url' },
};

export interface ErrorHandlerOptions {
  readonly log: Logger;
  /** The request body limit, named in the `payload_too_large` message. */
  readonly bodyLimitBytes: number;
  /**
   * How much of an oversized body is read and discarded so the client, still sending, gets to read the answer
   * (a server that answers and closes mid-upload gives Node's fetch and Python's urllib EPIPE instead).
   */
  readonly discardBytes?: number;
  readonly discardMs?: number;
}

/** Maps any error to the answer a client sees. */
export function toErrorResponse(
  error: unknown,
  bodyLimitBytes?: number,
): { status: number; body: ErrorBody } {
  if (error instanceof CrucibleError) {
    return { status: HTTP_STATUS[error.code], body: bodyOf(error.code, error.message, error.field) };
  }
  if (hasZodFastifySchemaValidationErrors(error)) {
    const first = error.validation[0];
    const path = (first?.instancePath ?? '').split('/').filter(Boolean);
    const keys = first?.params.keys;
    const unknownKey =
      first?.keyword === 'unrecognized_keys' && Array.isArray(keys) ? String(keys[0]) : undefined;
    const field = [...path, ...(unknownKey ? [unknownKey] : [])].join('.') || error.validationContext || null;
    const message =
      unknownKey !== undefined ? `unknown field "${unknownKey}"` : (first?.message ?? 'invalid');
    const text = field && !message.startsWith(field) ? `${field}: ${message}` : message;
    return { status: 400, body: bodyOf('invalid_request', text, field) };
  }
  const fastifyError = error as Partial<FastifyError>;
  const mapped = fastifyError.code ? FASTIFY_CODES[fastifyError.code] : undefined;
  if (mapped) {
    const message =
      mapped.code === 'payload_too_large' && bodyLimitBytes !== undefined
        ? `request body is larger than the limit of ${bodyLimitBytes} bytes (code and stdin bounds plus JSON)`
        : (fastifyError.message ?? mapped.code);
    // Every malformed request Fastify itself detects answers 400, as the contract asks of bad submissions.
    return { status: 400, body: bodyOf(mapped.code, message, mapped.field) };
  }
  if (fastifyError.statusCode && fastifyError.statusCode >= 400 && fastifyError.statusCode < 500) {
    return {
      status: fastifyError.statusCode,
      body: bodyOf('invalid_request', fastifyError.message ?? 'bad request', null),
    };
  }
  return { status: 500, body: bodyOf('internal', 'internal error; see the server log', null) };
}

/** The API's one error handler: logs what the client is told to look up, answers in our error shape. */
export function createErrorHandler(options: ErrorHandlerOptions) {
  return async (error: unknown, request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const { status, body } = toErrorResponse(error, options.bodyLimitBytes);
    if (status >= 500) {
      const detail = error instanceof Error ? (error.stack ?? error.message) : String(error);
      options.log.error(`${request.method} ${request.url} failed: ${detail}`);
    }
    // RFC 6750: a 401 names the scheme the client should use.
    if (body.error.code === 'unauthenticated')
      void reply.header('www-authenticate', 'Bearer realm="crucible"');
    // A per-user rate limit says when the window has room again (`RateLimited` from the service).
    const retryAfter = (error as { retryAfterSeconds?: unknown }).retryAfterSeconds;
    if (typeof retryAfter === 'number') void reply.header('retry-after', String(retryAfter));
    if (body.error.code === 'payload_too_large') {
      await discardBody(request.raw, options.discardBytes ?? 64 * 1024 * 1024, options.discardMs ?? 10_000);
      // What is left unread (past the discard bound) must not be parsed as the next request.
      void reply.header('connection', 'close');
    }
    await reply.status(status).send(body);
  };
}

/** Reads and drops the rest of a request body, up to `maxBytes` or `maxMs`, whichever comes first. */
function discardBody(raw: IncomingMessage, maxBytes: number, maxMs: number): Promise<void> {
  // A declared length past the bound will not be read anyway: answer at once rather than after the bound.
  const declared = Number(raw.headers['content-length'] ?? 0);
  if (raw.complete || raw.destroyed || declared > maxBytes) return Promise.resolve();
  return new Promise((resolve) => {
    let seen = 0;
    const done = () => {
      clearTimeout(timer);
      raw.off('data', onData);
      raw.off('end', done);
      raw.off('error', done);
      raw.off('close', done);
      resolve();
    };
    const onData = (chunk: Buffer) => {
      seen += chunk.length;
      if (seen > maxBytes) done();
    };
    const timer = setTimeout(done, maxMs);
    raw.on('data', onData);
    raw.on('end', done);
    raw.on('error', done);
    raw.on('close', done);
    raw.resume();
  });
}

function bodyOf(code: string, message: string, field: string | null): ErrorBody {
  return { error: { code, message, field } };
}
