import { Counter, Gauge, type Registry } from 'prom-client';

/** What retention and the stores report to `GET /metrics` (docs/retention.md). */
export interface StorageTelemetry {
  /** Bytes the database takes (SQLite pages; PostgreSQL tables with indexes and TOAST). */
  storeBytes(): Promise<number>;
  /** Free bytes on the data directory's filesystem. */
  freeBytes?(): Promise<number>;
  /** Totals pruned by this replica since it started. */
  pruned(): { readonly evaluations: number; readonly objects: number };
}

export function storageMetrics(registry: Registry, storage: StorageTelemetry): void {
  new Gauge({
    name: 'crucible_store_bytes',
    help: 'Bytes the database takes',
    registers: [registry],
    async collect() {
      this.set(await storage.storeBytes());
    },
  });
  if (storage.freeBytes) {
    const free = storage.freeBytes.bind(storage);
    new Gauge({
      name: 'crucible_data_free_bytes',
      help: 'Free bytes on the data directory’s filesystem (new work is refused below --min-free-mb)',
      registers: [registry],
      async collect() {
        this.set(await free());
      },
    });
  }
  // Counters that read the retention service's totals at each scrape.
  const counter = (
    name: string,
    help: string,
    pick: (p: ReturnType<StorageTelemetry['pruned']>) => number,
  ) => {
    let reported = 0;
    new Counter({
      name,
      help,
      registers: [registry],
      collect() {
        const now = pick(storage.pruned());
        this.inc(now - reported);
        reported = now;
      },
    });
  };
  counter(
    'crucible_pruned_evaluations_total',
    'Evaluations deleted by retention on this replica',
    (p) => p.evaluations,
  );
  counter(
    'crucible_pruned_objects_total',
    'Objects (artifacts, logs) deleted by retention on this replica',
    (p) => p.objects,
  );
}
