import { expect, test } from 'vitest';
import { describeSandboxed } from '../support/requirements.js';
import { useTestServer, type TestServer } from '../support/server.js';
import { TERMINAL, postJson, rawRequest, transitions } from './support.js';

let server: TestServer;
useTestServer({ args: ['--concurrency', '1'] }, (s) => (server = s));

interface ErrorBody {
  error: { code: string; message: string; field: string | null };
}

const valid = { language: 'bash', code: 'echo ok' };
const json = (value: unknown) => JSON.stringify(value);
const labels = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, 'v']));

/** [name, raw body, expected code, expected field, content type] */
const BAD_BODIES: [string, string | Buffer, string, string | null, string?][] = [
  [
    'code over the size bound',
    json({ ...valid, code: 'x'.repeat(512 * 1024 + 1) }),
    'invalid_request',
    'code',
  ],
  ['NUL byte in code', json({ ...valid, code: 'echo \u0000' }), 'invalid_request', 'code'],
  ['lone surrogate in code', '{"language":"bash","code":"\\ud800"}', 'invalid_request', 'code'],
  ['lone surrogate in stdin', '{"language":"bash","code":"x","stdin":"\\udfff"}', 'invalid_request', 'stdin'],
  [
    'invalid UTF-8 bytes',
    Buffer.from('{"language":"bash","code":"\xff\xfe"}', 'latin1'),
    'invalid_json',
    'body',
  ],
  [
    'stdin over the size bound',
    json({ ...valid, stdin: 'y'.repeat(1024 * 1024 + 1) }),
    'invalid_request',
    'stdin',
  ],
  ['code of the wrong type', json({ ...valid, code: { a: 1 } }), 'invalid_request', 'code'],
  ['missing code', json({ language: 'bash' }), 'invalid_request', 'code'],
  ['missing language', json({ code: 'x' }), 'invalid_request', 'language'],
  ['unknown language', json({ ...valid, language: 'cobol' }), 'invalid_request', 'language'],
  ['language of the wrong type', json({ ...valid, language: 1 }), 'invalid_request', 'language'],
  ['timeout too small', json({ ...valid, timeoutSeconds: 0 }), 'invalid_request', 'timeoutSeconds'],
  ['timeout too large', json({ ...valid, timeoutSeconds: 601 }), 'invalid_request', 'timeoutSeconds'],
  ['timeout not whole', json({ ...valid, timeoutSeconds: 1.5 }), 'invalid_request', 'timeoutSeconds'],
  ['timeout as a string', json({ ...valid, timeoutSeconds: '5' }), 'invalid_request', 'timeoutSeconds'],
  [
    'timeout overflowing to Infinity',
    '{"language":"bash","code":"x","timeoutSeconds":1e400}',
    'invalid_request',
    'timeoutSeconds',
  ],
  ['memory too small', json({ ...valid, memoryMb: 15 }), 'invalid_request', 'memoryMb'],
  ['memory too large', json({ ...valid, memoryMb: 4097 }), 'invalid_request', 'memoryMb'],
  ['memory negative', json({ ...valid, memoryMb: -1 }), 'invalid_request', 'memoryMb'],
  ['memory as a boolean', json({ ...valid, memoryMb: true }), 'invalid_request', 'memoryMb'],
  ['memory null', json({ ...valid, memoryMb: null }), 'invalid_request', 'memoryMb'],
  ['unknown priority', json({ ...valid, priority: 'urgent' }), 'invalid_request', 'priority'],
  ['priority of the wrong type', json({ ...valid, priority: 2 }), 'invalid_request', 'priority'],
  [
    'label key with a bad first character',
    json({ ...valid, labels: { '-bad': 'v' } }),
    'invalid_request',
    'labels.-bad',
  ],
  [
    'label key too long',
    json({ ...valid, labels: { ['a'.repeat(64)]: 'v' } }),
    'invalid_request',
    `labels.${'a'.repeat(64)}`,
  ],
  ['label value too long', json({ ...valid, labels: { k: 'a'.repeat(64) } }), 'invalid_request', 'labels.k'],
  ['label value of the wrong type', json({ ...valid, labels: { k: 5 } }), 'invalid_request', 'labels.k'],
  ['label value with a space', json({ ...valid, labels: { k: 'a b' } }), 'invalid_request', 'labels.k'],
  ['labels as an array', json({ ...valid, labels: ['a'] }), 'invalid_request', 'labels'],
  ['too many labels', json({ ...valid, labels: labels(17) }), 'invalid_request', 'labels'],
  ['unknown field', json({ ...valid, evil: 1 }), 'invalid_request', 'evil'],
  ['body is an array', '[]', 'invalid_request', 'body'],
  ['body is null', 'null', 'invalid_request', 'body'],
  ['body is a string', '"x"', 'invalid_request', 'body'],
  ['malformed JSON', '{"language":', 'invalid_json', 'body'],
  ['empty body', '', 'invalid_json', 'body'],
  ['trailing garbage', `${json(valid)} x`, 'invalid_json', 'body'],
  [
    'deeply nested JSON',
    `{"language":"bash","code":"x","labels":${'['.repeat(5000)}${']'.repeat(5000)}}`,
    'invalid_json',
    'body',
  ],
  ['nested beyond 16 levels', `${'['.repeat(17)}${']'.repeat(17)}`, 'invalid_json', 'body'],
  ['__proto__ key', '{"language":"bash","code":"x","__proto__":{"polluted":1}}', 'invalid_json', 'body'],
  [
    '__proto__ key in labels',
    '{"language":"bash","code":"x","labels":{"__proto__":{"polluted":"1"}}}',
    'invalid_json',
    'body',
  ],
  [
    'escaped __proto__ key',
    '{"language":"bash","code":"x","\\u005f_proto__":{"polluted":1}}',
    'invalid_json',
    'body',
  ],
  [
    'constructor.prototype',
    '{"language":"bash","code":"x","constructor":{"prototype":{"polluted":1}}}',
    'invalid_json',
    'body',
  ],
  ['text/plain content type', json(valid), 'unsupported_media_type', 'content-type', 'text/plain'],
  [
    'form content type',
    'language=bash&code=x',
    'unsupported_media_type',
    'content-type',
    'application/x-www-form-urlencoded',
  ],
  ['json-lookalike content type', json(valid), 'unsupported_media_type', 'content-type', 'application/jsonx'],
  ['oversized body', json({ ...valid, code: 'x'.repeat(3 * 1024 * 1024) }), 'payload_too_large', 'body'],
];

describeSandboxed('bad submissions are answered 400 with a code and the offending field', () => {
  test.each(BAD_BODIES)('%s', async (_name, body, code, field, contentType) => {
    const before = await countEvaluations();
    const response = await postJson(server.url, body, contentType ? { 'content-type': contentType } : {});
    expect(response.status).toBe(400);
    const parsed = JSON.parse(response.body) as ErrorBody;
    expect(parsed.error.code).toBe(code);
    expect(parsed.error.field).toBe(field);
    expect(parsed.error.message.length).toBeGreaterThan(0);
    expect(await countEvaluations()).toBe(before);
  });

  test('a request without a content type is refused', async () => {
    const response = await rawRequest(`${server.url}/v1/evaluations`, { method: 'POST', body: json(valid) });
    expect(response.status).toBe(400);
    expect((JSON.parse(response.body) as ErrorBody).error).toMatchObject({
      code: 'unsupported_media_type',
      field: 'content-type',
    });
  });

  test('prototype pollution attempts leave Object.prototype alone and create nothing', async () => {
    // Even if a parser let them through, zod's strict object would refuse the unknown key; check both ends.
    const response = await postJson(
      server.url,
      '{"language":"bash","code":"x","labels":{"constructor":"x"}}',
    );
    // "constructor" alone is a legal label key: accepted as data, not as a prototype.
    expect(response.status).toBe(202);
    const created = JSON.parse(response.body) as { id: string; labels: Record<string, string> };
    expect(created.labels).toEqual({ constructor: 'x' });
    await server.client.cancel(created.id);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  test.each([
    ['over-long id', `/v1/evaluations/${'a'.repeat(300)}`, 'url'],
    ['malformed percent-encoding', '/v1/evaluations/%zz', 'url'],
    ['wait out of range', '/v1/evaluations/x?wait=-1', 'wait'],
    ['wait not a number', '/v1/evaluations/x?wait=abc', 'wait'],
    ['unknown query parameter', '/v1/evaluations/x?evil=1', 'evil'],
    ['list limit out of range', '/v1/evaluations?limit=100000', 'limit'],
    ['unknown status filter', '/v1/evaluations?status=pwned', 'status'],
    ['label filter without =', '/v1/evaluations?label=abc', 'label'],
    ['logs stream unknown', '/v1/evaluations/x/logs?stream=stdin', 'stream'],
    ['events after negative', '/v1/events?after=-1', 'after'],
  ])('GET with %s is answered 400', async (_name, url, field) => {
    const response = await rawRequest(`${server.url}${url}`);
    expect(response.status).toBe(400);
    const parsed = JSON.parse(response.body) as ErrorBody;
    expect(parsed.error.code).toBe('invalid_request');
    expect(parsed.error.field).toBe(field);
  });

  test('a bad Last-Event-ID header is answered 400', async () => {
    const response = await rawRequest(`${server.url}/v1/events`, { headers: { 'last-event-id': 'abc' } });
    expect(response.status).toBe(400);
    expect((JSON.parse(response.body) as ErrorBody).error.field).toBe('last-event-id');
  });
});

describeSandboxed('fuzzing', () => {
  test('1,200 mutated bodies: no 5xx, every refusal well-formed, no half-created evaluation', async () => {
    const random = mulberry32(0xc0ffee);
    const before = await listIds();
    const accepted = new Set<string>();
    const statuses = new Map<number, number>();
    const bodies = Array.from({ length: 1200 }, () => mutate(random));
    for (let i = 0; i < bodies.length; i += 24) {
      await Promise.all(
        bodies.slice(i, i + 24).map(async ({ body, contentType }) => {
          const response = await postJson(server.url, body, { 'content-type': contentType });
          statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
          expect([202, 400], `status for ${String(body).slice(0, 200)}`).toContain(response.status);
          const parsed = JSON.parse(response.body) as ErrorBody & { id?: string };
          if (response.status === 202) {
            accepted.add(parsed.id!);
            // Keep the lone slot free: the accepted ones need not run.
            await server.client.cancel(parsed.id!);
          } else {
            expect(typeof parsed.error.code).toBe('string');
            expect(typeof parsed.error.message).toBe('string');
            expect(parsed.error.field === null || typeof parsed.error.field === 'string').toBe(true);
          }
        }),
      );
    }
    // The mutations exercise both outcomes.
    expect(statuses.get(400) ?? 0).toBeGreaterThan(600);
    expect(accepted.size).toBeGreaterThan(20);
    // Every evaluation the store holds was answered 202, and every 202 exists: nothing half-created.
    const after = (await listIds()).filter((id) => !before.includes(id));
    expect(new Set(after)).toEqual(accepted);
    for (const id of accepted) {
      const e = await server.client.get(id, 30);
      expect(TERMINAL).toContain(e.status);
      const terminal = (await transitions(server, id)).filter((t) => TERMINAL.includes(t.to));
      expect(terminal).toHaveLength(1);
    }
    expect((await rawRequest(`${server.url}/healthz`)).status).toBe(200);
  });
});

async function listIds(): Promise<string[]> {
  const ids: string[] = [];
  let cursor: string | null = null;
  for (let page = 0; page < 100; page++) {
    const result = await server.client.list({ limit: '500', cursor: cursor ?? undefined });
    ids.push(...result.items.map((e) => e.id));
    cursor = result.nextCursor;
    if (!cursor) break;
  }
  return ids;
}

async function countEvaluations(): Promise<number> {
  return (await listIds()).length;
}

function mulberry32(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const FIELDS = ['language', 'code', 'stdin', 'timeoutSeconds', 'memoryMb', 'priority', 'labels'];
const ODD_VALUES: unknown[] = [
  null,
  true,
  false,
  0,
  -1,
  1.5,
  1e308,
  -0,
  2 ** 53 + 1,
  '',
  ' ',
  '5',
  'python',
  'high',
  'x'.repeat(70),
  '\u0000',
  '\ud800',
  '\u202e',
  [],
  [1],
  {},
  { a: 'b' },
  { 'a b': 'c' },
  { k: null },
  { ['k'.repeat(64)]: 'v' },
  { constructor: 'x' },
  { toString: 'x' },
  { hasOwnProperty: 'x' },
  16,
  600,
  601,
  4096,
  4097,
];
const ODD_BYTES = [
  0x00, 0x22, 0x5c, 0x7b, 0x7d, 0x5b, 0x5d, 0x3a, 0x2c, 0xff, 0xc3, 0xe2, 0x80, 0x0a, 0x30, 0x2d,
];
const CONTENT_TYPES = [
  'application/json',
  'application/json',
  'application/json',
  'application/json; charset=utf-8',
  'text/plain',
  'application/octet-stream',
  'multipart/form-data; boundary=x',
  'application/json-seq',
];

/** One mutated submission: a structural change, byte-level damage, or both. */
function mutate(random: () => number): { body: string | Buffer; contentType: string } {
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  const body: Record<string, unknown> = {
    language: pick(['python', 'javascript', 'bash']),
    code: 'echo fuzz',
    priority: pick(['low', 'normal', 'high']),
    timeoutSeconds: 5,
    labels: { team: 'fuzz' },
  };
  const structural = Math.floor(random() * 4);
  for (let i = 0; i < structural; i++) {
    const action = random();
    const field = random() < 0.1 ? pick(['evil', '__proto__', 'constructor', 'prototype', '']) : pick(FIELDS);
    if (action < 0.3) delete body[field];
    else if (action < 0.8) body[field] = pick(ODD_VALUES);
    else body[field] = { nested: pick(ODD_VALUES) };
  }
  let text = JSON.stringify(body);
  if (random() < 0.05) text = text.replace('"labels":', '"__proto__":');
  if (random() < 0.05) text = `${'['.repeat(10 + Math.floor(random() * 40))}${text}`;
  let bytes = Buffer.from(text, 'utf8');
  if (random() < 0.45) {
    const damage = 1 + Math.floor(random() * 4);
    for (let i = 0; i < damage; i++) {
      const at = Math.floor(random() * bytes.length);
      const kind = random();
      if (kind < 0.4) bytes[at] = pick(ODD_BYTES);
      else if (kind < 0.7)
        bytes = Buffer.concat([bytes.subarray(0, at), Buffer.from([pick(ODD_BYTES)]), bytes.subarray(at)]);
      else if (kind < 0.9) bytes = Buffer.concat([bytes.subarray(0, at), bytes.subarray(at + 1)]);
      else bytes = bytes.subarray(0, at);
    }
  }
  return { body: bytes, contentType: random() < 0.1 ? pick(CONTENT_TYPES) : 'application/json' };
}
