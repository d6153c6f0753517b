import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Tracing } from './tracing.js';

const received = new WeakMap<FastifyRequest, number>();

/** The submissions whose answers name evaluations: one trace starts per evaluation named. */
function acceptedIds(request: FastifyRequest, reply: FastifyReply, payload: unknown): string[] {
  if (request.method !== 'POST' || reply.statusCode >= 300 || typeof payload !== 'string') return [];
  const route = request.routeOptions.url;
  if (route !== '/v1/evaluations' && route !== '/v1/batches') return [];
  try {
    const body = JSON.parse(payload) as { id?: unknown; evaluationIds?: unknown };
    if (route === '/v1/batches') {
      return Array.isArray(body.evaluationIds)
        ? body.evaluationIds.filter((id) => typeof id === 'string')
        : [];
    }
    return typeof body.id === 'string' ? [body.id] : [];
  } catch {
    // Not JSON (it always is for these routes): nothing to trace.
    return [];
  }
}

/**
 * Fastify hooks that start an evaluation's trace at its submission: the time the request arrived, the time
 * it was answered, and the caller's `traceparent`. Registered only when tracing is on.
 */
export function tracingHooks(app: FastifyInstance, tracing: Tracing): void {
  app.addHook('onRequest', async (request) => {
    if (request.method === 'POST') received.set(request, Date.now());
  });
  app.addHook('onSend', async (request, reply, payload) => {
    const ids = acceptedIds(request, reply, payload);
    if (ids.length === 0) return payload;
    const at = received.get(request) ?? Date.now();
    const header = request.headers['traceparent'];
    const traceparent = Array.isArray(header) ? header[0] : header;
    const now = Date.now();
    for (const id of ids) tracing.submitted(id, at, now, traceparent);
    return payload;
  });
}
