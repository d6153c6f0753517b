import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod';
import { CrucibleError } from '../core/index.js';

interface ErrorBody {
  error: { code: string; message: string; field: string | null };
}

/** Fastify's own errors that describe a bad request, mapped to our codes. The issue asks 400 for each. */
const FASTIFY_CODES: Record<string, { code: CrucibleError['code']; field: string | null }> = {
  FST_ERR_CTP_INVALID_MEDIA_TYPE: { code: 'unsupported_media_type', field: 'content-type' },
  FST_ERR_CTP_BODY_TOO_LARGE: { code: 'payload_too_large', field: 'body' },
  FST_ERR_CTP_EMPTY_JSON_BODY: { code: 'invalid_json', field: 'body' },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: { code: 'invalid_request', field: 'content-length' },
  // Router errors (through `frameworkErrors`): otherwise Fastify answers them in its own shape.
  FST_ERR_BAD_URL: { code: 'invalid_request', field: 'url' },
  FST_ERR_MAX_PARAM_LENGTH: { code: 'invalid_request', field: 'url' },
  FST_ERR_ASYNC_CONSTRAINT: { code: 'invalid_request', field: 'url' },
};

/** The one place an error becomes an HTTP answer. */
export function toErrorResponse(error: unknown): { status: number; body: ErrorBody } {
  if (error instanceof CrucibleError) {
    return { status: error.httpStatus, body: bodyOf(error.code, error.message, error.field) };
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
    return { status: 400, body: bodyOf(mapped.code, fastifyError.message ?? mapped.code, mapped.field) };
  }
  if (fastifyError.statusCode && fastifyError.statusCode >= 400 && fastifyError.statusCode < 500) {
    return {
      status: fastifyError.statusCode,
      body: bodyOf('invalid_request', fastifyError.message ?? 'bad request', null),
    };
  }
  return { status: 500, body: bodyOf('internal', 'internal error; see the server log', null) };
}

export function handleError(error: unknown, request: FastifyRequest, reply: FastifyReply): void {
  const { status, body } = toErrorResponse(error);
  if (status >= 500) request.log.error({ err: error }, 'request failed');
  void reply.status(status).send(body);
}

function bodyOf(code: string, message: string, field: string | null): ErrorBody {
  return { error: { code, message, field } };
}
