import { isUtf8 } from 'node:buffer';
import type { FastifyReply } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { MAX_FILE_BYTES } from '../../runtime/sandbox/prepare.js';
import type { SandboxService } from '../../service/sandboxes.js';
import { SandboxError, type ExecEvent } from '../../service/sandboxes-types.js';
import type { ExecExit } from '../../store/store.js';
import { parseJsonBody } from '../json-body.js';
import { ErrorSchema, IdempotencyHeadersSchema } from '../schemas.js';
import { NDJSON, streamFrames, type StreamLimiter } from '../streaming.js';
import { forwardingHook } from './sandboxes-forward.js';
import { sandboxPtyRoute } from './sandboxes-pty.js';
import {
  ExecParams,
  ExecQuerySchema,
  ExecSchema,
  FilesQuery,
  ListQuery,
  LogsQuery,
  NewSandboxSchema,
  SandboxParams,
  SandboxSchema,
} from './sandboxes-schemas.js';

export interface SandboxRoutesOptions {
  readonly sandboxes: SandboxService;
  readonly streams: StreamLimiter;
}

const FILES_ROUTE = '/v1/sandboxes/:id/files';

const errors = {
  400: ErrorSchema,
  401: ErrorSchema,
  404: ErrorSchema,
  409: ErrorSchema,
  413: ErrorSchema,
  429: ErrorSchema,
  503: ErrorSchema,
};

/** Runs a service call; a sandbox-only error is answered here (its codes are not the shared API codes). */
export async function sandboxCall<T>(reply: FastifyReply, work: () => Promise<T>): Promise<T | null> {
  try {
    return await work();
  } catch (error) {
    if (!(error instanceof SandboxError)) throw error;
    await reply
      .status(error.status)
      .send({ error: { code: error.code, message: error.message, field: error.field } });
    return null;
  }
}

export function exitView(exit: ExecExit | null) {
  return exit
    ? {
        code: exit.exitCode,
        signal: exit.signal,
        timedOut: exit.timedOut,
        durationMs: exit.durationMs,
        oomKilled: exit.oomKilled,
        truncated: exit.truncated,
        cpuMs: exit.cpuMs,
        peakMemoryBytes: exit.peakMemoryBytes,
      }
    : null;
}

/** One NDJSON line: text chunks as `data`, others (not valid UTF-8 on their own) as `base64`. */
function ndjsonLine(execId: string, event: ExecEvent): string {
  if ('seq' in event) {
    const payload = isUtf8(event.data)
      ? { data: event.data.toString('utf8') }
      : { base64: event.data.toString('base64') };
    return `${JSON.stringify({ seq: event.seq, stream: event.stream, ...payload })}\n`;
  }
  return `${JSON.stringify({ exit: exitView(event.exit), status: event.status, execId })}\n`;
}

async function* lines(execId: string, events: AsyncIterable<ExecEvent>): AsyncGenerator<string> {
  for await (const event of events) yield ndjsonLine(execId, event);
}

/** The interactive sandbox calls of contract v1.1 (docs/sandboxes.md). */
export const sandboxRoutes: FastifyPluginAsyncZod<SandboxRoutesOptions> = async (
  app,
  { sandboxes, streams },
) => {
  // Several replicas: a call on a sandbox live on another one is forwarded there, before its body is read.
  if (sandboxes.replicaId !== null) app.addHook('onRequest', forwardingHook(sandboxes, sandboxes.replicaId));
  // File bodies are raw bytes of any type, JSON included (encapsulated: only these routes see these parsers).
  app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: MAX_FILE_BYTES }, (_req, body, done) =>
    done(null, body),
  );
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser(
    'application/json',
    { parseAs: 'buffer', bodyLimit: MAX_FILE_BYTES },
    (request, body, done) => {
      if (request.routeOptions.url === FILES_ROUTE) return done(null, body);
      try {
        done(null, parseJsonBody(body as Buffer));
      } catch (error) {
        done(error as Error, undefined);
      }
    },
  );

  app.post(
    '/v1/sandboxes',
    {
      schema: {
        summary: 'Create an interactive sandbox (ready when answered)',
        body: NewSandboxSchema,
        headers: IdempotencyHeadersSchema,
        response: { 201: SandboxSchema, ...errors },
      },
    },
    async (request, reply) => {
      const key = request.headers['idempotency-key'];
      const view = await sandboxCall(reply, () => sandboxes.create(request.caller, request.body, key));
      if (view) return reply.status(201).send(view);
      return reply;
    },
  );

  app.get(
    '/v1/sandboxes',
    {
      schema: {
        summary: 'List sandboxes, newest first',
        querystring: ListQuery,
        response: { 200: z.object({ items: z.array(SandboxSchema) }) },
      },
    },
    async (request) => ({ items: await sandboxes.list(request.caller, request.query.status) }),
  );

  app.get(
    '/v1/sandboxes/:id',
    {
      schema: { summary: 'One sandbox', params: SandboxParams, response: { 200: SandboxSchema, ...errors } },
    },
    async (request) => sandboxes.get(request.caller, request.params.id),
  );

  app.delete(
    '/v1/sandboxes/:id',
    {
      schema: {
        summary: 'Terminate a sandbox and delete its snapshot',
        params: SandboxParams,
        response: { 200: SandboxSchema, ...errors },
      },
    },
    async (request) => sandboxes.terminate(request.caller, request.params.id),
  );

  for (const action of ['hibernate', 'resume'] as const) {
    app.post(
      `/v1/sandboxes/:id/${action}`,
      {
        schema: {
          summary:
            action === 'hibernate'
              ? 'Snapshot the workspace to object storage and free the sandbox'
              : 'Restore a hibernated sandbox',
          params: SandboxParams,
          response: { 200: SandboxSchema, ...errors },
        },
      },
      async (request, reply) => {
        const view = await sandboxCall(reply, () => sandboxes[action](request.caller, request.params.id));
        return view ?? reply;
      },
    );
  }

  app.post(
    '/v1/sandboxes/:id/exec',
    {
      schema: {
        summary:
          'Run a command: an NDJSON stream of output lines and a last exit line, or one JSON object with ?wait=true',
        params: SandboxParams,
        querystring: ExecQuerySchema,
        headers: IdempotencyHeadersSchema,
        body: ExecSchema,
      },
    },
    async (request, reply) => {
      const key = request.headers['idempotency-key'];
      const handle = await sandboxCall(reply, () =>
        sandboxes.exec(request.caller, request.params.id, request.body, key),
      );
      if (!handle) return reply;
      if (request.query.wait === 'true') {
        const out = { stdout: [] as Buffer[], stderr: [] as Buffer[] };
        let end: Extract<ExecEvent, { exit: unknown }> | null = null;
        for await (const event of handle.follow(0)) {
          if ('seq' in event) out[event.stream].push(event.data);
          else end = event;
        }
        const exit = exitView(end?.exit ?? null);
        return reply.header('crucible-exec-id', handle.id).send({
          execId: handle.id,
          status: end?.status ?? 'lost',
          exitCode: exit?.code ?? null,
          signal: exit?.signal ?? null,
          timedOut: exit?.timedOut ?? false,
          oomKilled: exit?.oomKilled ?? false,
          truncated: exit?.truncated ?? false,
          stdout: Buffer.concat(out.stdout).toString('utf8'),
          stderr: Buffer.concat(out.stderr).toString('utf8'),
          durationMs: exit?.durationMs ?? null,
          cpuMs: exit?.cpuMs ?? null,
          peakMemoryBytes: exit?.peakMemoryBytes ?? null,
        });
      }
      reply.raw.setHeader('crucible-exec-id', handle.id);
      await streamFrames(
        request,
        reply,
        streams,
        (signal) => lines(handle.id, handle.follow(0, signal)),
        NDJSON,
      );
      return reply;
    },
  );

  app.get(
    '/v1/sandboxes/:id/execs/:execId/logs',
    {
      schema: {
        summary:
          "An exec's output after seq `after` (NDJSON, followed live while it runs), then its exit line",
        params: ExecParams,
        querystring: LogsQuery,
      },
    },
    async (request, reply) => {
      const { id, execId } = request.params;
      const handle = await sandboxes.execHandle(request.caller, id, execId);
      const after = request.query.after ?? 0;
      await streamFrames(
        request,
        reply,
        streams,
        (signal) => lines(execId, handle.follow(after, signal)),
        NDJSON,
      );
      return reply;
    },
  );

  app.get(
    '/v1/sandboxes/:id/files',
    {
      schema: {
        summary: 'A file of /workspace (bytes), or with list=true, glob=PATTERN or grep=TEXT a JSON answer',
        params: SandboxParams,
        querystring: FilesQuery,
      },
    },
    async (request, reply) => {
      const { id } = request.params;
      const { path, list, glob, grep } = request.query;
      const caller = request.caller;
      const answer = await sandboxCall(reply, async () => {
        if (list === 'true') return { entries: await sandboxes.listFiles(caller, id, path) };
        if (grep !== undefined) return sandboxes.grepFiles(caller, id, path, grep, glob);
        if (glob !== undefined) return sandboxes.globFiles(caller, id, path, glob);
        return sandboxes.readFile(caller, id, path);
      });
      if (answer === null) return reply;
      if (Buffer.isBuffer(answer)) return reply.type('application/octet-stream').send(answer);
      return reply.send(answer);
    },
  );

  app.put(
    '/v1/sandboxes/:id/files',
    {
      bodyLimit: MAX_FILE_BYTES,
      schema: {
        summary: 'Write a file (body = bytes; parents created)',
        params: SandboxParams,
        querystring: FilesQuery,
      },
    },
    async (request, reply) => {
      const body = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
      const done = await sandboxCall(reply, async () => {
        await sandboxes.writeFile(request.caller, request.params.id, request.query.path, body);
        return true;
      });
      return done ? reply.status(204).send() : reply;
    },
  );

  app.delete(
    '/v1/sandboxes/:id/files',
    {
      schema: {
        summary: 'Delete a file (a directory with recursive=true)',
        params: SandboxParams,
        querystring: FilesQuery,
      },
    },
    async (request, reply) => {
      const done = await sandboxCall(reply, async () => {
        await sandboxes.deleteFile(
          request.caller,
          request.params.id,
          request.query.path,
          request.query.recursive === 'true',
        );
        return true;
      });
      return done ? reply.status(204).send() : reply;
    },
  );

  const replica = sandboxes.replicaId;
  await app.register(sandboxPtyRoute, { sandboxes, ...(replica === null ? {} : { replica }) });
};
