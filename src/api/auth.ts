import type { FastifyInstance, FastifyRequest } from 'fastify';
import { CrucibleError } from '../core/index.js';
import { anonymousCaller, type Caller, type EvaluationService } from '../service/index.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** Who is calling, set by the auth hook before any handler runs; routes hand it to the service. */
    caller: Caller;
  }
}

/** `public`: no token needed; `user`: any valid token; `admin`: an admin token. */
export type Access = 'public' | 'user' | 'admin';

/**
 * Every route that is not `user` (the default, so a new route needs a token unless listed here). The service
 * still scopes what a `user` route sees and refuses what only admins may do; this table only decides who
 * may knock. `/metrics` and `/openapi.json` are public: Prometheus scrapes without a token, neither carries
 * an evaluation, a user name or a secret (docs/auth.md).
 */
export const ROUTE_ACCESS: Readonly<Record<string, Access>> = {
  'GET /healthz': 'public',
  'GET /readyz': 'public',
  'GET /metrics': 'public',
  'GET /v1/version': 'public',
  'GET /openapi.json': 'public',
  // The dashboard's page and assets carry no data; it calls /v1 with the user's token (docs/dashboard.md).
  'GET /': 'public',
  'GET /ui/:file': 'public',
  'GET /ui/session': 'public',
  'POST /v1/tokens': 'admin',
  'GET /v1/tokens': 'admin',
  'DELETE /v1/tokens/:id': 'admin',
  'POST /v1/projects': 'admin',
  'DELETE /v1/projects/:id': 'admin',
  'POST /v1/prune': 'admin',
};

/** The access of the route a request matched (HEAD as its GET); `user` for routes not listed, unknown URLs too. */
export function accessOf(method: string, url: string | undefined): Access {
  if (url === undefined) return 'user';
  return ROUTE_ACCESS[`${method === 'HEAD' ? 'GET' : method} ${url}`] ?? 'user';
}

/** The WebSocket subprotocol that carries a bearer token: `bearer.<token>`. */
export const BEARER_PROTOCOL_PREFIX = 'bearer.';

/**
 * The bearer token of a request, or null without a well-formed `Authorization: Bearer …`. A browser's
 * WebSocket cannot set headers, so an upgrade may carry it as the subprotocol `bearer.<token>` instead (as
 * Kubernetes does): not a cookie, so another site cannot ride the user's session (docs/dashboard.md).
 */
function bearerOf(request: FastifyRequest): string | null {
  const header = request.headers.authorization;
  if (typeof header !== 'string') return bearerOfUpgrade(request);
  const match = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header);
  return match?.[1] ?? null;
}

function bearerOfUpgrade(request: FastifyRequest): string | null {
  const protocols = request.headers['sec-websocket-protocol'];
  if (typeof protocols !== 'string' || request.headers.upgrade?.toLowerCase() !== 'websocket') return null;
  const offered = protocols.split(',').map((p) => p.trim());
  const bearer = offered.find((p) => p.startsWith(BEARER_PROTOCOL_PREFIX));
  return bearer ? bearer.slice(BEARER_PROTOCOL_PREFIX.length) || null : null;
}

export interface AuthOptions {
  /** Authentication is on: every non-public route needs a token. Off: everyone is an anonymous admin. */
  readonly required: boolean;
  readonly service: EvaluationService;
}

/**
 * The API's one authentication point: an `onRequest` hook that sets `request.caller` (401 `unauthenticated`
 * with `WWW-Authenticate: Bearer` for a missing or unknown token, 403 `forbidden` for an admin route called
 * without an admin token). Runs before body parsing, so an unauthenticated upload is not read.
 */
export function installAuth(app: FastifyInstance, options: AuthOptions): void {
  app.decorateRequest('caller', null as unknown as Caller);
  app.addHook('onRequest', async (request, reply) => {
    // A refused WebSocket upgrade is answered on the raw socket, which nothing else ends (the WebSocket
    // plugin's own hooks never ran): end it once the answer is out, or it stays open and server.close() waits.
    if (request.headers.upgrade !== undefined) {
      reply.raw.once('finish', () => {
        if (reply.raw.statusCode >= 400) request.raw.socket.destroy();
      });
    }
    if (!options.required) {
      request.caller = anonymousCaller(request.ip);
      return;
    }
    const access = accessOf(request.method, request.routeOptions.url);
    if (access === 'public') {
      // Public routes use no caller; this one may do nothing (not an admin while authentication is on).
      request.caller = { ...anonymousCaller(request.ip), admin: false };
      return;
    }
    const bearer = bearerOf(request);
    const caller = bearer === null ? null : await options.service.tokens.authenticate(bearer);
    if (!caller) {
      throw new CrucibleError(
        'unauthenticated',
        bearer === null
          ? 'this call needs "Authorization: Bearer <token>" (set CRUCIBLE_TOKEN for the CLI and SDK)'
          : 'unknown or revoked token',
        null,
      );
    }
    if (access === 'admin' && !caller.admin) {
      throw new CrucibleError('forbidden', 'this call needs an admin token', null);
    }
    request.caller = caller;
  });
}
