import { Readable } from 'node:stream';
import type { ArtifactDropReason } from '../core/index.js';

/**
 * One entry a runtime found in a finished run's `/artifacts`. Regular files carry their bytes; anything
 * else (a symlink, a device, a hard link) is reported with `body: null` and never followed.
 */
export type CollectedFile =
  | { readonly name: string; readonly size: number; readonly kind: 'file'; readonly body: Readable }
  | { readonly name: string; readonly size: number; readonly kind: 'other'; readonly body: null }
  /** Found and not sent by the collector itself (the Kubernetes runner enforces the cap in the pod). */
  | {
      readonly name: string;
      readonly size: number;
      readonly kind: 'dropped';
      readonly reason: ArtifactDropReason;
      readonly body: null;
    };

const BLOCK = 512;

/** Pulls exact byte counts out of a chunked stream. */
class ByteReader {
  readonly #chunks: AsyncIterator<Buffer>;
  #buffer: Buffer = Buffer.alloc(0);
  #done = false;

  constructor(stream: AsyncIterable<Buffer>) {
    this.#chunks = stream[Symbol.asyncIterator]();
  }

  async #fill(): Promise<boolean> {
    if (this.#done) return false;
    const next = await this.#chunks.next();
    if (next.done) {
      this.#done = true;
      return false;
    }
    this.#buffer = this.#buffer.length === 0 ? next.value : Buffer.concat([this.#buffer, next.value]);
    return true;
  }

  /** Exactly `n` bytes, or null at a clean end of the stream (no byte of them read). */
  async exact(n: number): Promise<Buffer | null> {
    while (this.#buffer.length < n) {
      if (!(await this.#fill())) {
        if (this.#buffer.length === 0) return null;
        throw new Error('the artifacts archive ended inside a block');
      }
    }
    const out = this.#buffer.subarray(0, n);
    this.#buffer = this.#buffer.subarray(n);
    return out;
  }

  /** Up to `max` bytes available now (at least one), or null at the end. */
  async some(max: number): Promise<Buffer | null> {
    if (this.#buffer.length === 0 && !(await this.#fill())) return null;
    const out = this.#buffer.subarray(0, max);
    this.#buffer = this.#buffer.subarray(out.length);
    return out;
  }
}

function text(block: Buffer, start: number, length: number): string {
  const field = block.subarray(start, start + length);
  const end = field.indexOf(0);
  return field.subarray(0, end < 0 ? field.length : end).toString('utf8');
}

/** tar numbers: octal text, or GNU base-256 when the first byte's high bit is set. */
function numberField(block: Buffer, start: number, length: number): number {
  const field = block.subarray(start, start + length);
  if ((field[0]! & 0x80) !== 0) {
    let value = 0;
    for (let i = 1; i < field.length; i++) value = value * 256 + field[i]!;
    return value;
  }
  const digits = text(block, start, length).trim();
  return digits === '' ? 0 : parseInt(digits, 8);
}

function checksumOk(block: Buffer): boolean {
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : block[i]!;
  return sum === numberField(block, 148, 8);
}

/** `path=` of a pax extended header's records (`<len> key=value\n`…). */
function paxPath(data: Buffer): string | undefined {
  let found: string | undefined;
  let at = 0;
  while (at < data.length) {
    const space = data.indexOf(0x20, at);
    if (space < 0) break;
    const length = parseInt(data.subarray(at, space).toString('ascii'), 10);
    if (!Number.isFinite(length) || length <= 0) break;
    const record = data.subarray(space + 1, at + length - 1).toString('utf8');
    const eq = record.indexOf('=');
    if (record.slice(0, eq) === 'path') found = record.slice(eq + 1);
    at += length;
  }
  return found;
}

/** `./dir/file` → `dir/file`; the archive's root entry → ''. */
function relativeName(name: string): string {
  return name
    .replace(/^(\.\/)+/, '')
    .replace(/^\/+/, '')
    .replace(/\/+$/, '');
}

/**
 * The entries of a tar stream (GNU or POSIX, as `tar -cf - .` writes them) one at a time. Each file's body
 * must be consumed or abandoned before asking for the next entry: what the consumer left unread is skipped.
 * Directories are not reported (their files are); names are relative to the archive's root.
 */
export async function* readTarEntries(stream: AsyncIterable<Buffer>): AsyncGenerator<CollectedFile> {
  const reader = new ByteReader(stream);
  let longName: string | undefined;
  for (;;) {
    const header = await reader.exact(BLOCK);
    if (header === null || header.every((byte) => byte === 0)) return;
    if (!checksumOk(header)) throw new Error('the artifacts archive has a corrupt header');
    const type = String.fromCharCode(header[156]!);
    const size = numberField(header, 124, 12);
    const padded = Math.ceil(size / BLOCK) * BLOCK;
    const prefix = text(header, 345, 155);
    const plain = prefix ? `${prefix}/${text(header, 0, 100)}` : text(header, 0, 100);
    if (type === 'L' || type === 'x') {
      const data = (await reader.exact(padded)) ?? Buffer.alloc(0);
      longName = type === 'L' ? text(data, 0, size) : (paxPath(data.subarray(0, size)) ?? longName);
      continue;
    }
    const name = relativeName(longName ?? plain);
    longName = undefined;
    if (type === 'g' || type === 'K' || type === '5' || name === '') {
      await skip(reader, padded);
      continue;
    }
    if (type !== '0' && type !== '\0' && type !== '7') {
      await skip(reader, padded);
      yield { name, size: 0, kind: 'other', body: null };
      continue;
    }
    let remaining = size;
    const body = Readable.from(
      (async function* () {
        while (remaining > 0) {
          const piece = await reader.some(Math.min(remaining, 64 * 1024));
          if (piece === null) throw new Error('the artifacts archive ended inside a file');
          remaining -= piece.length;
          yield Buffer.from(piece);
        }
      })(),
      { objectMode: false },
    );
    yield { name, size, kind: 'file', body };
    body.destroy();
    await skip(reader, remaining + (padded - size));
  }
}

async function skip(reader: ByteReader, bytes: number): Promise<void> {
  for (let left = bytes; left > 0;) {
    const piece = await reader.some(left);
    if (piece === null) throw new Error('the artifacts archive ended early');
    left -= piece.length;
  }
}
