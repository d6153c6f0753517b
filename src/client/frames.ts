/** Splits a byte stream into text lines (without the line break); a last line with no break is yielded too. */
export async function* linesOf(body: AsyncIterable<Uint8Array>): AsyncGenerator<string> {
  const decoder = new TextDecoder();
  let pending = '';
  for await (const bytes of body) {
    pending += decoder.decode(bytes, { stream: true });
    let newline: number;
    while ((newline = pending.indexOf('\n')) >= 0) {
      const line = pending.slice(0, newline);
      pending = pending.slice(newline + 1);
      yield line.endsWith('\r') ? line.slice(0, -1) : line;
    }
  }
  pending += decoder.decode();
  if (pending) yield pending;
}

/** One Server-Sent Event as the spec dispatches it (comments and empty events are not). */
export interface SseEvent {
  readonly id: string | undefined;
  readonly event: string;
  readonly data: string;
  /** The server's `retry:` advice in ms, when this frame carried one. */
  readonly retryMs: number | undefined;
}

/**
 * Parses `text/event-stream` per the HTML spec: `field: value` lines, a blank line dispatches. Yields
 * `retry`-only frames too (with `data` empty and `event` ''), so the caller can learn the reconnect delay.
 */
export async function* sseEventsOf(body: AsyncIterable<Uint8Array>): AsyncGenerator<SseEvent> {
  let id: string | undefined;
  let event = '';
  let data: string[] = [];
  let retryMs: number | undefined;
  for await (const line of linesOf(body)) {
    if (line === '') {
      if (data.length > 0 || retryMs !== undefined) {
        yield { id, event: data.length > 0 ? event || 'message' : '', data: data.join('\n'), retryMs };
      }
      id = undefined;
      event = '';
      data = [];
      retryMs = undefined;
      continue;
    }
    if (line.startsWith(':')) continue;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'data') data.push(value);
    else if (field === 'event') event = value;
    else if (field === 'id' && !value.includes('\0')) id = value;
    else if (field === 'retry' && /^\d+$/.test(value)) retryMs = Number(value);
  }
}
