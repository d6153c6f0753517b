import { PRIORITIES, priorityRank, type Priority } from '../core/index.js';

export interface QueueEntry {
  readonly id: string;
  readonly priority: Priority;
  /** Epoch milliseconds when the evaluation was submitted. */
  readonly enqueuedAt: number;
}

interface HeapItem extends QueueEntry {
  readonly key: number;
  readonly order: number;
}

/**
 * Priority queue with aging, as a binary heap on a key that never changes while an entry waits:
 * `key = enqueuedAt + rank × agingMs`. An entry that has waited `agingMs` longer than another beats it by one
 * priority level, so `high` runs before `normal` before `low`, FIFO within a level, and `low` waits at most
 * about 2 × agingMs behind a steady stream of `high`. Pure: no clock, no I/O.
 */
export class PriorityQueue {
  readonly #agingMs: number;
  readonly #heap: HeapItem[] = [];
  /** Live entries; removed ids stay in the heap until they surface (lazy deletion keeps cancel O(1)). */
  readonly #live = new Map<string, HeapItem>();
  #order = 0;

  constructor(agingMs: number) {
    this.#agingMs = agingMs;
  }

  get size(): number {
    return this.#live.size;
  }

  has(id: string): boolean {
    return this.#live.has(id);
  }

  push(entry: QueueEntry): void {
    if (this.#live.has(entry.id)) return;
    const item: HeapItem = {
      ...entry,
      key: entry.enqueuedAt + priorityRank(entry.priority) * this.#agingMs,
      order: this.#order++,
    };
    this.#live.set(entry.id, item);
    this.#heap.push(item);
    this.#siftUp(this.#heap.length - 1);
  }

  remove(id: string): boolean {
    return this.#live.delete(id);
  }

  pop(): QueueEntry | undefined {
    while (this.#heap.length > 0) {
      const top = this.#heap[0]!;
      const last = this.#heap.pop()!;
      if (this.#heap.length > 0) {
        this.#heap[0] = last;
        this.#siftDown(0);
      }
      if (this.#live.get(top.id) === top) {
        this.#live.delete(top.id);
        return { id: top.id, priority: top.priority, enqueuedAt: top.enqueuedAt };
      }
    }
    return undefined;
  }

  countsByPriority(): Record<Priority, number> {
    const counts = Object.fromEntries(PRIORITIES.map((p) => [p, 0])) as Record<Priority, number>;
    for (const item of this.#live.values()) counts[item.priority] += 1;
    return counts;
  }

  #less(a: HeapItem, b: HeapItem): boolean {
    return a.key < b.key || (a.key === b.key && a.order < b.order);
  }

  #siftUp(index: number): void {
    const heap = this.#heap;
    while (index > 0) {
      const parent = (index - 1) >> 1;
      if (!this.#less(heap[index]!, heap[parent]!)) return;
      [heap[index], heap[parent]] = [heap[parent]!, heap[index]!];
      index = parent;
    }
  }

  #siftDown(index: number): void {
    const heap = this.#heap;
    for (;;) {
      const left = 2 * index + 1;
      const right = left + 1;
      let smallest = index;
      if (left < heap.length && this.#less(heap[left]!, heap[smallest]!)) smallest = left;
      if (right < heap.length && this.#less(heap[right]!, heap[smallest]!)) smallest = right;
      if (smallest === index) return;
      [heap[index], heap[smallest]] = [heap[smallest]!, heap[index]!];
      index = smallest;
    }
  }
}
