import { expect, it } from 'vitest';
import { describeSandboxed } from '../support/requirements.js';
import { decodeLogLine } from '../../src/client/index.js';
import { useTestServer, type TestServer } from '../support/server.js';
import { readSse } from '../support/sse.js';

let server: TestServer;
useTestServer({ args: ['--concurrency', '2'] }, (s) => (server = s));

interface TransitionData {
  seq: number;
  evaluationId: string;
  to: string;
}

async function collect(
  headers: Record<string, string>,
  until: (events: TransitionData[]) => boolean,
): Promise<TransitionData[]> {
  const abort = new AbortController();
  const seen: TransitionData[] = [];
  for await (const event of readSse(`${server.url}/v1/events`, headers, abort.signal)) {
    if (event.event !== 'transition') continue;
    const data = JSON.parse(event.data) as TransitionData;
    expect(event.id).toBe(String(data.seq));
    seen.push(data);
    if (until(seen)) break;
  }
  abort.abort();
  return seen;
}

describeSandboxed('event stream and logs', () => {
  it('streams every transition and resumes from Last-Event-ID without gaps or duplicates', async () => {
    const first = await server.client.submit({ language: 'bash', code: 'true' });
    await server.client.get(first.id, 30);
    // Read part of the history, then disconnect.
    const partial = await collect({}, (events) =>
      events.some((e) => e.evaluationId === first.id && e.to === 'running'),
    );
    const lastSeen = partial.at(-1)!.seq;
    // More happens while disconnected.
    const later = await Promise.all(
      [1, 2, 3].map(async () => (await server.client.submit({ language: 'bash', code: 'echo x' })).id),
    );
    await Promise.all(later.map((id) => server.client.get(id, 30)));
    const resumed = await collect({ 'last-event-id': String(lastSeen) }, (events) =>
      later.every((id) => events.some((e) => e.evaluationId === id && e.to === 'succeeded')),
    );
    const full = await collect({}, (events) => events.length >= partial.length + resumed.length);
    expect([...partial, ...resumed].map((e) => e.seq)).toEqual(full.map((e) => e.seq));
    expect(resumed[0]!.seq).toBeGreaterThan(lastSeen);
    for (const id of later) {
      expect(resumed.filter((e) => e.evaluationId === id).map((e) => e.to)).toEqual([
        'queued',
        'starting',
        'running',
        'succeeded',
      ]);
    }
  });

  it('delivers live transitions to a connected client', async () => {
    const abort = new AbortController();
    const events: TransitionData[] = [];
    const target: { id?: string } = {};
    let connected!: () => void;
    const open = new Promise<void>((resolve) => (connected = resolve));
    let sawEnd!: () => void;
    const ended = new Promise<void>((resolve) => (sawEnd = resolve));
    const done = () => events.some((x) => x.evaluationId === target.id && x.to === 'succeeded');
    const reading = (async () => {
      for await (const event of readSse(`${server.url}/v1/events`, {}, abort.signal)) {
        connected();
        if (event.event !== 'transition') continue;
        events.push(JSON.parse(event.data) as TransitionData);
        if (done()) sawEnd();
      }
    })();
    // Make sure history exists so the stream has something to send before the submission.
    const warmup = (await server.client.submit({ language: 'bash', code: 'true' })).id;
    await server.client.get(warmup, 30);
    await open;
    const e = await server.client.submit({ language: 'bash', code: 'true' });
    target.id = e.id;
    // Its end may have been read before its id was known here.
    if (done()) sawEnd();
    await ended;
    abort.abort();
    await reading;
    expect(events.filter((x) => x.evaluationId === e.id).map((x) => x.to)).toEqual([
      'queued',
      'starting',
      'running',
      'succeeded',
    ]);
  });

  it('follows logs live, before the program ends, and ends with the complete output', async () => {
    const code = [
      'import sys, time',
      'for i in range(5):',
      '    print(f"line {i}", flush=True)',
      '    print(f"err {i}", file=sys.stderr, flush=True)',
      '    time.sleep(0.1)',
    ].join('\n');
    const e = await server.client.submit({ language: 'python', code });
    let stdout = '';
    let stderr = '';
    let statusAtFirstChunk: string | undefined;
    for await (const line of server.client.logs(e.id, true)) {
      statusAtFirstChunk ??= (await server.client.get(e.id)).status;
      if (line.stream === 'stdout') stdout += decodeLogLine(line).toString();
      else stderr += decodeLogLine(line).toString();
    }
    expect(statusAtFirstChunk).toBe('running');
    expect(stdout).toBe('line 0\nline 1\nline 2\nline 3\nline 4\n');
    expect(stderr).toBe('err 0\nerr 1\nerr 2\nerr 3\nerr 4\n');
    expect((await server.client.get(e.id)).status).toBe('succeeded');
  });

  it('filters logs by stream and returns stored logs without follow', async () => {
    const e = await server.client.submit({ language: 'bash', code: 'echo out; echo err >&2' });
    await server.client.get(e.id, 30);
    const only: string[] = [];
    for await (const line of server.client.logs(e.id, false, 'stderr')) only.push(line.data ?? '');
    expect(only.join('')).toBe('err\n');
  });

  it('holds GET ?wait until the evaluation is terminal', async () => {
    const e = await server.client.submit({ language: 'bash', code: 'sleep 0.3; echo done' });
    const final = await server.client.get(e.id, 10);
    expect(final.status).toBe('succeeded');
    expect(final.result?.stdout).toBe('done\n');
  });
});
