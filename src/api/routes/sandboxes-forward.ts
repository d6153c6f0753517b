import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { WebSocket, type RawData } from 'ws';
import type { SandboxService } from '../../service/sandboxes.js';

/**
 * Calls on a sandbox live on another replica are forwarded to that replica (docs/sandboxes.md "Several
 * replicas"): the same method, path, query, headers (the caller's credentials included: the owner
 * authenticates and authorises again) and body bytes, streamed both ways, so NDJSON exec streams and raw
 * file bodies pass unchanged. This header marks a forwarded call; a replica never forwards one again (a stale
 * owner answers 503 rather than loop).
 */
export const FORWARDED_HEADER = 'crucible-forwarded-by';

/** Hop-by-hop headers (RFC 9110 §7.6.1) are the connection's, not the call's. */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'upgrade',
  'te',
  'trailer',
  'host',
]);

function forwardedHeaders(headers: IncomingHttpHeaders, replica: string): IncomingHttpHeaders {
  const out: IncomingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers)) if (!HOP_BY_HOP.has(name)) out[name] = value;
  out[FORWARDED_HEADER] = replica;
  return out;
}

/** The sandbox id of a `/v1/sandboxes/{id}…` call that must run where the sandbox lives, or null. */
export function forwardableSandboxId(method: string, url: string): string | null {
  const match = /^\/v1\/sandboxes\/([^/?#]+)(\/[^?#]*)?/.exec(url);
  if (!match) return null;
  // Reading the record is answered by any replica (it only reads the store).
  if (match[2] === undefined && method === 'GET') return null;
  return decodeURIComponent(match[1]!);
}

/**
 * An `onRequest` hook (before the body is parsed, so the raw bytes can be streamed on): forwards the call
 * when its sandbox is live on another replica. WebSocket upgrades are relayed by the PTY route instead.
 */
export function forwardingHook(sandboxes: SandboxService, replica: string) {
  return async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    if (request.headers.upgrade) return;
    const id = forwardableSandboxId(request.method, request.url);
    if (id === null) return;
    const target = await sandboxes.ownerUrl(id, request.headers[FORWARDED_HEADER] !== undefined);
    if (target === null) return;
    reply.hijack();
    await forwardHttp(request, reply, new URL(request.url, target), replica);
  };
}

function forwardHttp(request: FastifyRequest, reply: FastifyReply, url: URL, replica: string) {
  return new Promise<void>((resolve) => {
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
    const out = send(url, {
      method: request.method,
      headers: forwardedHeaders(request.raw.headers, replica),
    });
    out.on('response', (answer) => {
      const headers = forwardedHeaders(answer.headers, replica);
      delete headers[FORWARDED_HEADER];
      reply.raw.writeHead(answer.statusCode ?? 502, headers as Record<string, string | string[]>);
      answer.pipe(reply.raw);
      answer.on('end', resolve);
      answer.on('error', () => resolve(void reply.raw.destroy()));
    });
    out.on('error', (error) => {
      if (!reply.raw.headersSent) {
        const body = JSON.stringify({
          error: {
            code: 'sandbox_unavailable',
            message: `the replica running this sandbox (${url.origin}) did not answer: ${error.message}`,
            field: null,
          },
        });
        reply.raw.writeHead(503, { 'content-type': 'application/json' }).end(body);
      } else reply.raw.destroy();
      resolve();
    });
    // The client going away ends the forwarded call too (an exec keeps running on its owner regardless).
    reply.raw.on('close', () => out.destroy());
    request.raw.pipe(out);
  });
}

/**
 * Relays a PTY WebSocket to the owner replica's same URL: frames both ways as they are (binary keys and
 * terminal bytes, text control frames), the close code and reason back to the viewer. The viewer's
 * subprotocols (`bearer.<token>`) and headers go along so the owner authenticates it.
 */
export function relayWebSocket(
  viewer: WebSocket,
  request: FastifyRequest,
  target: string,
  replica: string,
  early: readonly { data: RawData; binary: boolean }[],
): void {
  const url = new URL(request.url, target);
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  const protocols = (request.headers['sec-websocket-protocol'] ?? '')
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p !== '');
  const headers: Record<string, string> = { [FORWARDED_HEADER]: replica };
  if (request.headers.authorization) headers['authorization'] = request.headers.authorization;
  const owner = new WebSocket(url, protocols, { headers });
  const pending: { data: RawData; binary: boolean }[] = [...early];
  viewer.on('message', (data: RawData, binary: boolean) => {
    if (owner.readyState === WebSocket.OPEN) owner.send(data, { binary });
    else pending.push({ data, binary });
  });
  owner.on('open', () => {
    for (const { data, binary } of pending.splice(0)) owner.send(data, { binary });
  });
  owner.on('message', (data: RawData, binary: boolean) => viewer.send(data, { binary }));
  owner.on('close', (code: number, reason: Buffer) => viewer.close(validClose(code), reason));
  owner.on('error', (error: Error) => {
    if (viewer.readyState !== WebSocket.OPEN) return;
    const message = `the replica running this sandbox (${url.origin}) did not answer: ${error.message}`;
    viewer.send(JSON.stringify({ error: { code: 'sandbox_unavailable', message } }));
    viewer.close(4503, 'sandbox_unavailable');
  });
  viewer.on('close', () => owner.close());
}

/** 1005/1006 (no status, abnormal) may not be sent in a close frame. */
function validClose(code: number): number {
  return code === 1005 || code === 1006 ? 1011 : code;
}
