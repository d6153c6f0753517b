import http from 'node:http';
import { connect } from 'node:net';
import Fastify from 'fastify';
import { expect, test } from 'vitest';
import { describeSandboxed } from '../support/requirements.js';
import { NDJSON, StreamLimiter, streamFrames } from '../../src/api/streaming.js';
import { removeDataDir, startTestServer, useTestServer, type TestServer } from '../support/server.js';
import { eventually, postJson, rawRequest, vmRssKb } from './support.js';

let server: TestServer;
useTestServer({ args: ['--concurrency', '1'] }, (s) => (server = s));

/** Opens a streaming GET from a given loopback address; resolves once the status line arrived. */
function openStream(
  url: string,
  localAddress: string,
): Promise<{ status: number; body: string; close: () => void }> {
  return new Promise((resolve, reject) => {
    const request = http.get(
      url,
      { agent: false, localAddress, headers: { accept: 'text/event-stream' } },
      (res) => {
        if (res.statusCode !== 200) {
          let body = '';
          res.on('data', (chunk: Buffer) => (body += chunk.toString()));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body, close: () => undefined }));
          return;
        }
        res.on('error', () => undefined);
        resolve({ status: 200, body: '', close: () => request.destroy() });
      },
    );
    request.on('error', reject);
  });
}

async function openStreams(): Promise<number> {
  const metrics = await rawRequest(`${server.url}/metrics`);
  return Number(/^crucible_open_streams (\d+)/m.exec(metrics.body)?.[1] ?? NaN);
}

describeSandboxed('request size', () => {
  test.each([
    ['with a Content-Length', { 'content-length': String(8 * 1024 * 1024) }],
    ['chunked, without a Content-Length', { 'transfer-encoding': 'chunked' }],
  ])('an oversized body %s is refused with 400 payload_too_large', async (_name, headers) => {
    const body = Buffer.alloc(8 * 1024 * 1024, 0x61);
    const response = await postJson(server.url, body, headers);
    expect(response.status).toBe(400);
    expect(JSON.parse(response.body)).toMatchObject({ error: { code: 'payload_too_large', field: 'body' } });
    expect((await rawRequest(`${server.url}/healthz`)).status).toBe(200);
  });

  test('a lying Content-Length is refused', async () => {
    const answer = await new Promise<string>((resolve, reject) => {
      const socket = connect(Number(new URL(server.url).port), '127.0.0.1');
      let data = '';
      socket.on('data', (chunk) => (data += chunk.toString()));
      socket.on('end', () => resolve(data));
      socket.on('error', reject);
      socket.end(
        'POST /v1/evaluations HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n' +
          'content-length: 999999999999\r\nconnection: close\r\n\r\n{}',
      );
    });
    expect(answer).toMatch(/^HTTP\/1\.1 400/);
    expect(answer).toContain('"payload_too_large"');
  });
});

describeSandboxed('rate limit', () => {
  test('a per-client request limit answers 429 in the error shape, other clients and health checks unaffected', async () => {
    const limited = await startTestServer({ args: ['--rate-limit', '5'] });
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 7; i++) {
        statuses.push((await rawRequest(`${limited.url}/v1/queue`, { localAddress: '127.0.0.1' })).status);
      }
      expect(statuses).toEqual([200, 200, 200, 200, 200, 429, 429]);
      const refused = await rawRequest(`${limited.url}/v1/queue`, { localAddress: '127.0.0.1' });
      expect(JSON.parse(refused.body)).toMatchObject({ error: { code: 'rate_limited', field: null } });
      expect(refused.headers['retry-after']).toBeDefined();
      // Submissions count too.
      expect((await postJson(limited.url, '{"language":"bash","code":"true"}')).status).toBe(429);
      // Liveness stays answerable, and a different client has its own budget.
      expect((await rawRequest(`${limited.url}/healthz`, { localAddress: '127.0.0.1' })).status).toBe(200);
      expect((await rawRequest(`${limited.url}/v1/queue`, { localAddress: '127.0.0.2' })).status).toBe(200);
    } finally {
      await limited.stop();
      await removeDataDir(limited.dataDir);
    }
  });
});

describeSandboxed('streaming connections', () => {
  test('SSE and log-follow streams are bounded per client, and closed ones give their slot back', async () => {
    const finished = await server.client.submit({ language: 'bash', code: 'echo hi' });
    await server.client.get(finished.id, 30);
    const streams: { close: () => void }[] = [];
    try {
      // The default allows 100 open streams per client address.
      for (let i = 0; i < 100; i++) {
        const s = await openStream(`${server.url}/v1/events`, '127.0.0.3');
        expect(s.status).toBe(200);
        streams.push(s);
      }
      expect(await openStreams()).toBe(100);
      const refused = await openStream(`${server.url}/v1/events`, '127.0.0.3');
      expect(refused.status).toBe(429);
      expect(JSON.parse(refused.body)).toMatchObject({ error: { code: 'too_many_streams' } });
      const logs = await openStream(
        `${server.url}/v1/evaluations/${finished.id}/logs?follow=true`,
        '127.0.0.3',
      );
      expect(logs.status).toBe(429);
      // Another client is not starved by this one.
      const other = await openStream(`${server.url}/v1/events`, '127.0.0.4');
      expect(other.status).toBe(200);
      streams.push(other);
      // A client that goes away gives its slot back.
      streams.shift()!.close();
      expect(await eventually(async () => (await openStreams()) === 100)).toBe(true);
      const again = await openStream(`${server.url}/v1/events`, '127.0.0.3');
      expect(again.status).toBe(200);
      streams.push(again);
    } finally {
      for (const s of streams) s.close();
    }
    expect(await eventually(async () => (await openStreams()) === 0)).toBe(true);
  });

  test('a client that stops reading cannot make the server buffer without limit (streamFrames)', async () => {
    // An endless producer behind the real streaming helper: only backpressure can stop it.
    const app = Fastify();
    let produced = 0;
    let aborted = false;
    const limiter = new StreamLimiter(1, 1);
    const frame = 'x'.repeat(64 * 1024);
    app.get('/flood', async (request, reply) => {
      await streamFrames(
        request,
        reply,
        limiter,
        async function* (signal) {
          signal.addEventListener('abort', () => (aborted = true));
          for (let i = 0; i < 1_000_000 && !signal.aborted; i++) {
            produced += frame.length;
            yield frame;
          }
        },
        { ...NDJSON, contentType: 'text/plain' },
      );
    });
    await app.listen({ host: '127.0.0.1', port: 0 });
    const port = (app.server.address() as { port: number }).port;
    const socket = connect(port, '127.0.0.1');
    socket.on('error', () => undefined);
    try {
      socket.write('GET /flood HTTP/1.1\r\nhost: x\r\n\r\n');
      socket.pause();
      // Wait until the producer stalls: no progress for 300 ms (bounded to 10 s).
      let last = -1;
      const stalled = await eventually(async () => {
        if (produced === last && produced > 0) return true;
        last = produced;
        await new Promise((resolve) => setTimeout(resolve, 300));
        return false;
      }, 10_000);
      expect(stalled).toBe(true);
      // Kernel socket buffers (tcp_rmem + tcp_wmem maxima, 36 MiB here) plus one frame, never the stream.
      expect(produced).toBeLessThan(64 * 1024 * 1024);
      socket.destroy();
      expect(await eventually(() => limiter.open === 0 && aborted)).toBe(true);
    } finally {
      socket.destroy();
      await app.close();
    }
  });

  test('log followers that never read neither wedge nor grow the server', async () => {
    const pid = server.process.pid!;
    // A program that writes its whole output cap, followed by clients that never read.
    const flood = await server.client.submit({
      language: 'python',
      code: 'import os, time\nfor _ in range(16):\n    os.write(1, b"y" * (64 << 10))\ntime.sleep(1)',
    });
    const before = vmRssKb(pid);
    const sockets = Array.from({ length: 20 }, () => {
      const socket = connect(Number(new URL(server.url).port), '127.0.0.5');
      socket.on('error', () => undefined);
      socket.write(`GET /v1/evaluations/${flood.id}/logs?follow=true HTTP/1.1\r\nhost: x\r\n\r\n`);
      socket.pause();
      return socket;
    });
    try {
      const done = await server.client.get(flood.id, 30);
      expect(done.status).toBe('succeeded');
      // The whole 1 MiB history fits the kernel's socket buffers, so these streams may already have ended:
      // the endless-producer test above is the one that shows backpressure. Here: nothing wedges or grows.
      expect((await rawRequest(`${server.url}/healthz`)).status).toBe(200);
      expect(vmRssKb(pid) - before).toBeLessThan(64 * 1024);
    } finally {
      for (const s of sockets) s.destroy();
    }
    expect(await eventually(async () => (await openStreams()) === 0)).toBe(true);
  });
});
