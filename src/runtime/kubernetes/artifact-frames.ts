import { PassThrough } from 'node:stream';
import type { ArtifactDropReason } from '../../core/index.js';
import type { CollectedFile } from '../artifacts.js';

const REASONS: readonly ArtifactDropReason[] = ['over_cap', 'too_many', 'not_regular_file'];

/**
 * Turns the runner's artifact frames (runner/src/artifacts.rs: `a` a file begins, `d` its bytes, `A` one not
 * sent) back into the files a run left in `/artifacts`, for `RunObserver.artifact`. A file's body ends at the
 * next frame of another kind (the runner sends them all before its exit frame); one whose bytes fall short
 * of the size announced (a log cut off) fails its body, so it is never stored as if whole.
 */
export class ArtifactFrames {
  #current: { body: PassThrough; size: number; received: number } | null = null;

  constructor(private readonly emit: (file: CollectedFile) => void) {}

  /** One `a`, `d` or `A` frame's body (after its seq). */
  frame(tag: 'a' | 'd' | 'A', body: string): void {
    if (tag === 'd') {
      const current = this.#current;
      if (!current) return;
      const data = Buffer.from(body, 'base64');
      current.received += data.length;
      current.body.write(data);
      return;
    }
    this.close();
    const [nameField = '', sizeText = '0', reasonText = ''] = body.split(' ');
    const name = Buffer.from(nameField, 'base64').toString('utf8');
    const size = Number(sizeText) || 0;
    if (tag === 'a') {
      const stream = new PassThrough();
      this.#current = { body: stream, size, received: 0 };
      this.emit({ name, size, kind: 'file', body: stream });
      return;
    }
    const reason = REASONS.find((r) => r === reasonText) ?? 'not_regular_file';
    this.emit({ name, size, kind: 'dropped', reason, body: null });
  }

  /** Any other frame, or the end of the log: the file being sent is complete (or cut off). */
  close(): void {
    const current = this.#current;
    if (!current) return;
    this.#current = null;
    if (current.received >= current.size) current.body.end();
    else
      current.body.destroy(
        new Error(`the log ended inside an artifact (${current.received} of ${current.size} bytes)`),
      );
  }
}
