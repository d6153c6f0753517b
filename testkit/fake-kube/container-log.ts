import { StoreError } from './store.js';

const base = BigInt(Date.now()) * 1_000_000n - process.hrtime.bigint();
let last = 0n;

/** RFC3339Nano with nine fraction digits, strictly increasing, as the kubelet prints them. */
export function nanoTimestamp(): string {
  let now = base + process.hrtime.bigint();
  if (now <= last) now = last + 1n;
  last = now;
  const ms = Number(now / 1_000_000n);
  const iso = new Date(ms).toISOString().slice(0, 19);
  return `${iso}.${String(now % 1_000_000_000n).padStart(9, '0')}Z`;
}

interface Entry {
  readonly ts: string;
  readonly text: Buffer;
  /** The entry ends a line (CRI "F"); otherwise it is a partial line ("P"). */
  readonly full: boolean;
  /** The entry starts a line (the one before it ended one). */
  readonly start: boolean;
}

interface Follower {
  write(chunk: string | Buffer): void;
  end(): void;
  timestamps: boolean;
  isNewLine: boolean;
}

/**
 * One container's log as the kubelet keeps it: stdout and stderr interleaved in arrival order, one entry per
 * line or partial line, with no marker of which stream wrote it. Served like `kubectl logs`: with
 * `timestamps=true` the timestamp prefixes each line start only (partial continuations get none).
 */
export class ContainerLog {
  private readonly entries: Entry[] = [];
  private readonly followers = new Set<Follower>();
  ended = false;

  append(data: Buffer): void {
    let offset = 0;
    while (offset < data.length) {
      const newline = data.indexOf(0x0a, offset);
      const end = newline < 0 ? data.length : newline;
      const previous = this.entries[this.entries.length - 1];
      const start = !previous || previous.full;
      const entry = { ts: nanoTimestamp(), text: data.subarray(offset, end), full: newline >= 0, start };
      this.entries.push(entry);
      for (const follower of this.followers) this.send(follower, entry);
      offset = end + 1;
    }
  }

  close(): void {
    this.ended = true;
    for (const follower of this.followers) follower.end();
    this.followers.clear();
  }

  private send(follower: Follower, entry: Entry): void {
    const prefix = follower.timestamps && follower.isNewLine ? `${entry.ts} ` : '';
    follower.write(Buffer.concat([Buffer.from(prefix), entry.text, Buffer.from(entry.full ? '\n' : '')]));
    follower.isNewLine = entry.full;
  }

  serve(
    options: { follow: boolean; timestamps: boolean; sinceTime: string | null },
    write: (chunk: string | Buffer) => void,
    end: () => void,
  ): () => void {
    if (options.sinceTime && Number.isNaN(Date.parse(options.sinceTime))) {
      throw new StoreError(400, 'BadRequest', `invalid sinceTime ${options.sinceTime}`);
    }
    // sinceTime has second precision in the real API: a resumed read repeats up to a second of lines.
    const since = options.sinceTime ? options.sinceTime.slice(0, 19) : '';
    const follower: Follower = { write, end, timestamps: options.timestamps, isNewLine: true };
    let begun = false;
    for (const entry of this.entries) {
      begun ||= entry.ts.slice(0, 19) >= since && entry.start;
      if (begun) this.send(follower, entry);
    }
    if (!options.follow || this.ended) {
      setImmediate(end);
      return () => undefined;
    }
    this.followers.add(follower);
    return () => this.followers.delete(follower);
  }
}
