/**
 * This replica's admission control: a fixed number of slots, each held from the moment an evaluation is
 * claimed (or re-adopted) until its sandbox is gone. Which evaluation runs next is the store's decision
 * (`claimQueued`: priority order with aging, one global limit across replicas); how many at once on this
 * machine is this class's. Pure: no clock, no I/O.
 */
export class Slots {
  readonly capacity: number;
  readonly #held = new Set<string>();

  constructor(capacity: number) {
    this.capacity = capacity;
  }

  get used(): number {
    return this.#held.size;
  }

  get free(): number {
    return Math.max(0, this.capacity - this.#held.size);
  }

  /** Holds a slot (an adopted run may take one beyond capacity: it is already running). */
  occupy(id: string): void {
    this.#held.add(id);
  }

  /** True when `id` held a slot, which is now free. */
  release(id: string): boolean {
    return this.#held.delete(id);
  }
}
