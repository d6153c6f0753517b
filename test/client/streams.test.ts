import type http from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { Crucible, CrucibleError, type LogLine, type Transition } from '../../src/client/index.js';
import { ScriptedServer, apiError, evaluation, json, type RecordedRequest } from './scripted-server.js';

const servers: ScriptedServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function serve(script: (req: RecordedRequest, res: http.ServerResponse, i: number) => void) {
  const server = ScriptedServer.start(script);
  servers.push(server);
  await server.ready();
  return new Crucible({ baseUrl: server.url, retry: { attempts: 4, baseDelayMs: 5, maxDelayMs: 20 } });
}

function transition(seq: number): Transition {
  return {
    seq,
    evaluationId: `ev_${seq}`,
    from: 'queued',
    to: 'starting',
    at: '2026-01-01T00:00:00Z',
    reason: null,
  };
}

const frame = (t: Transition) => `id: ${t.seq}\nevent: transition\ndata: ${JSON.stringify(t)}\n\n`;

function logLine(seq: number): LogLine {
  return { seq, stream: seq % 2 ? 'stdout' : 'stderr', at: '2026-01-01T00:00:00Z', data: `line ${seq}\n` };
}

const ndjson = (seq: number) => `${JSON.stringify(logLine(seq))}\n`;

async function take<T>(iterator: AsyncIterable<T>, count: number): Promise<T[]> {
  const seen: T[] = [];
  for await (const item of iterator) {
    seen.push(item);
    if (seen.length === count) break;
  }
  return seen;
}

describe('SDK event stream', () => {
  it('resumes a stream cut mid-event with Last-Event-ID: no gap, no duplicate', async () => {
    const lastEventIds: (string | undefined)[] = [];
    const crucible = await serve((req, res) => {
      lastEventIds.push(req.headers['last-event-id'] as string | undefined);
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      if (lastEventIds.length === 1) {
        // Two whole events, then half of the third, then the connection dies.
        res.write(`retry: 1000\n\n${frame(transition(1))}${frame(transition(2))}`);
        res.write(frame(transition(3)).slice(0, 20), () => res.socket?.resetAndDestroy());
      } else {
        // A server may repeat the event at the resume point: the SDK must not yield it twice.
        res.write(`${frame(transition(2))}${frame(transition(3))}${frame(transition(4))}`);
      }
    });
    const seen = await take(crucible.events({ reconnectDelayMs: 5 }), 4);
    expect(seen.map((t) => t.seq)).toEqual([1, 2, 3, 4]);
    expect(seen[2]).toEqual(transition(3));
    expect(lastEventIds).toEqual([undefined, '2']);
  });

  it('reconnects a stream the server ended, from where it was', async () => {
    const lastEventIds: (string | undefined)[] = [];
    const crucible = await serve((req, res) => {
      lastEventIds.push(req.headers['last-event-id'] as string | undefined);
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      const from = Number(req.headers['last-event-id'] ?? 10);
      res.end(`: heartbeat\n\n${frame(transition(from + 1))}`);
    });
    const seen = await take(crucible.events({ after: 10, reconnectDelayMs: 5 }), 3);
    expect(seen.map((t) => t.seq)).toEqual([11, 12, 13]);
    expect(lastEventIds).toEqual(['10', '11', '12']);
  });
});

describe('SDK streams the server ends early', () => {
  it('resumes events after an error frame (a reader dropped as too slow)', async () => {
    const lastEventIds: (string | undefined)[] = [];
    const crucible = await serve((req, res) => {
      lastEventIds.push(req.headers['last-event-id'] as string | undefined);
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      if (lastEventIds.length === 1) {
        res.end(
          `${frame(transition(1))}event: error\ndata: ${JSON.stringify(apiError('slow_consumer', 'dropped'))}\n\n`,
        );
      } else res.write(frame(transition(2)));
    });
    const seen = await take(crucible.events({ reconnectDelayMs: 5 }), 2);
    expect(seen.map((t) => t.seq)).toEqual([1, 2]);
    expect(lastEventIds).toEqual([undefined, '1']);
  });

  it('resumes logs after an error line, and gives up when every resume is refused the same way', async () => {
    const dropped = `${JSON.stringify(apiError('slow_consumer', 'client fell too far behind'))}\n`;
    const crucible = await serve((req, res, i) => {
      res.writeHead(200, { 'content-type': 'application/x-ndjson' });
      res.end(i === 0 ? ndjson(1) + dropped : dropped);
    });
    const seqs: number[] = [];
    const error = await (async () => {
      for await (const line of crucible.logs('ev_1', { follow: true })) seqs.push(line.seq);
    })().catch((e: unknown) => e);
    expect(seqs).toEqual([1]);
    expect(error).toBeInstanceOf(CrucibleError);
    expect(error).toMatchObject({ code: 'slow_consumer', message: 'client fell too far behind' });
  });
});

describe('SDK log follow', () => {
  it('resumes after the last seq received when the stream breaks, and reads what a cut stream never sent', async () => {
    const crucible = await serve((req, res, i) => {
      const url = new URL(req.url, 'http://x');
      if (url.pathname === '/v1/evaluations/ev_1') return json(res, 200, evaluation({ status: 'succeeded' }));
      res.writeHead(200, { 'content-type': 'application/x-ndjson' });
      if (i === 0) {
        expect(url.searchParams.get('follow')).toBe('true');
        res.write(ndjson(1) + ndjson(2) + ndjson(3).slice(0, 10), () => res.socket?.resetAndDestroy());
      } else if (i === 1) {
        expect(url.searchParams.get('after')).toBe('2');
        expect(url.searchParams.get('follow')).toBe('true');
        res.end(ndjson(3));
      } else {
        // After the follow ended at the terminal status: one read without follow from the last seq.
        expect(url.searchParams.get('follow')).toBe('false');
        expect(url.searchParams.get('after')).toBe('3');
        res.end(ndjson(3) + ndjson(4));
      }
    });
    const lines: LogLine[] = [];
    for await (const line of crucible.follow('ev_1')) lines.push(line);
    expect(lines).toEqual([1, 2, 3, 4].map(logLine));
  });

  it('reopens a follow the server ended while the evaluation still runs', async () => {
    let status = 'running';
    const crucible = await serve((req, res) => {
      const url = new URL(req.url, 'http://x');
      if (url.pathname === '/v1/evaluations/ev_1') return json(res, 200, evaluation({ status }));
      const after = Number(url.searchParams.get('after') ?? 0);
      res.writeHead(200, { 'content-type': 'application/x-ndjson' });
      if (after === 2) status = 'succeeded';
      res.end(after < 3 ? ndjson(after + 1) : '');
    });
    const seqs: number[] = [];
    for await (const line of crucible.logs('ev_1', { follow: true })) seqs.push(line.seq);
    expect(seqs).toEqual([1, 2, 3]);
  });

  it('reads once without follow, filtering by stream', async () => {
    const urls: string[] = [];
    const crucible = await serve((req, res) => {
      urls.push(req.url);
      res.writeHead(200, { 'content-type': 'application/x-ndjson' });
      res.end(ndjson(2));
    });
    const lines = await take(crucible.logs('ev_1', { stream: 'stderr' }), 10);
    expect(lines).toEqual([logLine(2)]);
    expect(urls).toEqual(['/v1/evaluations/ev_1/logs?follow=false&stream=stderr']);
  });
});
