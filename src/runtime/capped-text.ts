/** Keeps the first `max` bytes written to it (compile output, each test's stdout and stderr). */
export class CappedText {
  readonly #chunks: Buffer[] = [];
  #size = 0;
  truncated = false;
  constructor(readonly max: number) {}
  add(data: Buffer): void {
    const room = this.max - this.#size;
    if (data.length > room) this.truncated = true;
    if (room <= 0) return;
    const kept = data.length > room ? data.subarray(0, room) : data;
    this.#chunks.push(kept);
    this.#size += kept.length;
  }
  text(): string {
    return Buffer.concat(this.#chunks).toString('utf8');
  }
}
