import { Readable } from 'node:stream';
import type { ArtifactDropReason } from '../../core/index.js';
import type { CollectedFile } from '../artifacts.js';

const REASONS: readonly ArtifactDropReason[] = ['over_cap', 'too_many', 'not_regular_file'];
/** Bytes received and not yet read by the store before the log reader waits (`settled`). */
const MAX_BUFFERED = 8 * 1024 * 1024;

/**
 * Turns the runner's artifact frames (runner/src/artifacts.rs: `a` a file begins, `d` its bytes, `A` one not
 * sent) back into the files a run left in `/artifacts`, for `RunObserver.artifact`. A file's body ends at the
 * next frame of another kind (the runner sends them before its exit frame, or with tests after each test's
 * `r` frame, named `tests/<n>/…`: names are taken as sent); one whose bytes fall short
 * of the size announced (a log cut off) fails its body, so it is never stored as if whole.
 *
 * Memory: the service stores files one after another, so a later file's bytes wait for the earlier ones.
 * The log reader awaits `settled()` after each chunk: past 8 MiB not yet read it stops reading the pod log
 * until the store catches up (the kubelet keeps the log), instead of buffering a whole cap in memory.
 */
export class ArtifactFrames {
  #current: { body: Readable; size: number; received: number } | null = null;
  /** Bodies handed out and not yet read to their end. */
  readonly #unread = new Set<Readable>();
  #wake: (() => void)[] = [];
  #abandoned = false;
  /** When the store last asked for more of a file (progress while the log reader waits). */
  readAt = 0;

  constructor(private readonly emit: (file: CollectedFile) => void) {}

  /** One `a`, `d` or `A` frame's body (after its seq). */
  frame(tag: 'a' | 'd' | 'A', body: string): void {
    if (tag === 'd') {
      const current = this.#current;
      if (!current) return;
      const data = Buffer.from(body, 'base64');
      current.received += data.length;
      current.body.push(data);
      return;
    }
    this.close();
    const [nameField = '', sizeText = '0', reasonText = ''] = body.split(' ');
    const name = Buffer.from(nameField, 'base64').toString('utf8');
    const size = Number(sizeText) || 0;
    if (tag === 'a') {
      const stream = this.#track(
        new Readable({
          read: () => {
            this.readAt = Date.now();
            this.#notify();
          },
        }),
      );
      this.#current = { body: stream, size, received: 0 };
      this.emit({ name, size, kind: 'file', body: stream });
      return;
    }
    const reason = REASONS.find((r) => r === reasonText) ?? 'not_regular_file';
    this.emit({ name, size, kind: 'dropped', reason, body: null });
  }

  /** Resolves once at most 8 MiB of what arrived is still unread (at once when nobody waits to read it). */
  async settled(): Promise<void> {
    while (!this.#abandoned && this.#buffered() > MAX_BUFFERED) {
      await new Promise<void>((resolve) => this.#wake.push(resolve));
    }
  }

  /** The log is over (or no longer read): ends the current file and never makes a reader wait again. */
  abandon(): void {
    this.close();
    this.#abandoned = true;
    this.#notify();
  }

  #buffered(): number {
    let bytes = 0;
    for (const body of this.#unread) bytes += body.readableLength;
    return bytes;
  }

  #notify(): void {
    for (const wake of this.#wake.splice(0)) wake();
  }

  #track(body: Readable): Readable {
    this.#unread.add(body);
    const gone = () => {
      this.#unread.delete(body);
      this.#notify();
    };
    // `read` (above) asks for more once the store read the buffer down; 'end' / 'close': read or dropped.
    body.once('end', gone);
    body.once('close', gone);
    return body;
  }

  /** Any other frame, or the end of the log: the file being sent is complete (or cut off). */
  close(): void {
    const current = this.#current;
    if (!current) return;
    this.#current = null;
    if (current.received >= current.size) current.body.push(null);
    else
      current.body.destroy(
        new Error(`the log ended inside an artifact (${current.received} of ${current.size} bytes)`),
      );
  }
}
