import { authHeaders } from './api.js';

/**
 * Reads a streaming response line by line with `fetch` (EventSource cannot send the Authorization header).
 * Resolves when the stream ends or `signal` aborts.
 */
async function readLines(url: string, accept: string, signal: AbortSignal, line: (text: string) => void) {
  const response = await fetch(url, { headers: { ...authHeaders(), accept }, signal });
  if (!response.ok || !response.body) throw new Error(`${url}: ${response.status}`);
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let pending = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    pending += value;
    let newline = pending.indexOf('\n');
    while (newline >= 0) {
      line(pending.slice(0, newline));
      pending = pending.slice(newline + 1);
      newline = pending.indexOf('\n');
    }
  }
}

/**
 * Follows `/v1/events` after `seq`, reconnecting (with `?after=` the last seen id, so without gaps) when the
 * connection drops, until `signal` aborts.
 */
export async function followEvents(
  after: number,
  signal: AbortSignal,
  onTransition: (data: unknown, seq: number) => void,
): Promise<void> {
  let last = after;
  while (!signal.aborted) {
    let id = 0;
    let event = '';
    let data = '';
    try {
      await readLines(`/v1/events?after=${last}`, 'text/event-stream', signal, (line) => {
        if (line.startsWith('id: ')) id = Number(line.slice(4));
        else if (line.startsWith('event: ')) event = line.slice(7);
        else if (line.startsWith('data: ')) data += line.slice(6);
        else if (line === '') {
          if (event === 'transition' && data) {
            last = Math.max(last, id);
            onTransition(JSON.parse(data), id);
          }
          [id, event, data] = [0, '', ''];
        }
      });
    } catch {
      if (signal.aborted) return;
    }
    // The server asks for 1 s between reconnects (`retry: 1000`).
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
}

/** Follows an evaluation's log (NDJSON) until it ends. */
export async function followLogs(id: string, signal: AbortSignal, onLine: (line: unknown) => void) {
  await readLines(
    `/v1/evaluations/${encodeURIComponent(id)}/logs?follow=true`,
    'application/x-ndjson',
    signal,
    (text) => {
      if (text.trim()) onLine(JSON.parse(text));
    },
  );
}
