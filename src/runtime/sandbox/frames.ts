/** The agent protocol's frames (docs/sandboxes.md "Frames"): u32 BE header length, u32 BE body length, JSON, body. */

export const MAX_HEADER_BYTES = 64 * 1024;
export const MAX_BODY_BYTES = 16 * 1024 * 1024;

/** A decoded header: `type` (agent → host) or `op` (host → agent), `id`, and the op's own fields. */
export type AgentHeader = { readonly id: number; readonly type?: string; readonly op?: string } & Record<
  string,
  unknown
>;

export function encodeFrame(header: Record<string, unknown>, body?: Buffer): Buffer {
  const head = Buffer.from(JSON.stringify(header), 'utf8');
  const size = body?.length ?? 0;
  if (head.length > MAX_HEADER_BYTES) throw new Error(`frame header of ${head.length} bytes is too large`);
  if (size > MAX_BODY_BYTES) throw new Error(`frame body of ${size} bytes is too large`);
  const prefix = Buffer.allocUnsafe(8);
  prefix.writeUInt32BE(head.length, 0);
  prefix.writeUInt32BE(size, 4);
  return body && size > 0 ? Buffer.concat([prefix, head, body]) : Buffer.concat([prefix, head]);
}

/** Cuts a byte stream into frames; keeps the chunks of an incomplete frame without copying them repeatedly. */
export class FrameDecoder {
  #chunks: Buffer[] = [];
  #buffered = 0;

  /** @throws Error on lengths out of range or a header that is not a JSON object (the stream is unusable) */
  push(chunk: Buffer): Array<[AgentHeader, Buffer]> {
    this.#chunks.push(chunk);
    this.#buffered += chunk.length;
    const frames: Array<[AgentHeader, Buffer]> = [];
    for (;;) {
      if (this.#buffered < 8) return frames;
      const prefix = this.#peek(8);
      const headerLength = prefix.readUInt32BE(0);
      const bodyLength = prefix.readUInt32BE(4);
      if (headerLength === 0 || headerLength > MAX_HEADER_BYTES || bodyLength > MAX_BODY_BYTES) {
        throw new Error(`agent frame lengths out of range (${headerLength}, ${bodyLength})`);
      }
      const total = 8 + headerLength + bodyLength;
      if (this.#buffered < total) return frames;
      const frame = this.#take(total);
      const header = JSON.parse(frame.toString('utf8', 8, 8 + headerLength)) as unknown;
      if (typeof header !== 'object' || header === null || Array.isArray(header)) {
        throw new Error('agent frame header is not a JSON object');
      }
      frames.push([header as AgentHeader, frame.subarray(8 + headerLength)]);
    }
  }

  #peek(n: number): Buffer {
    const first = this.#chunks[0] as Buffer;
    if (first.length >= n) return first;
    const joined = Buffer.concat(this.#chunks);
    this.#chunks = [joined];
    return joined;
  }

  #take(n: number): Buffer {
    const first = this.#peek(n);
    const frame = first.subarray(0, n);
    const rest = first.subarray(n);
    this.#chunks[0] = rest;
    if (rest.length === 0) this.#chunks.shift();
    this.#buffered -= n;
    return frame;
  }
}
