import type { IncomingMessage } from 'node:http';
import type { KObject } from './store.js';

/**
 * Server-side printing: `kubectl get` asks for a `meta.k8s.io/v1` Table (`Accept: …;as=Table;…`) and
 * prints its columns. For a custom resource they are Name, then the CRD's `additionalPrinterColumns`
 * (values at their JSONPath; `date` columns as the server's human-readable age), `Age` alone when none.
 */

export interface PrinterColumn {
  name: string;
  type: string;
  jsonPath: string;
  description?: string;
}

export function wantsTable(req: IncomingMessage): boolean {
  return /as=Table/.test(req.headers.accept ?? '');
}

/** A value at a simple JSONPath (`.status.phase`), as printer columns name them. */
function at(object: unknown, jsonPath: string): unknown {
  return jsonPath
    .split('.')
    .filter(Boolean)
    .reduce<unknown>(
      (o, k) => (o && typeof o === 'object' ? (o as Record<string, unknown>)[k] : undefined),
      object,
    );
}

/** "5s", "3m", "2h": `duration.HumanDuration` of the time since, coarsened. */
function age(timestamp: string): string {
  const seconds = Math.max(0, Math.floor((Date.now() - Date.parse(timestamp)) / 1000));
  if (seconds < 120) return `${seconds}s`;
  if (seconds < 3600 * 2) return `${Math.floor(seconds / 60)}m`;
  return `${Math.floor(seconds / 3600)}h`;
}

export function table(columns: PrinterColumn[] | undefined, items: KObject[], resourceVersion: string) {
  const printed = columns ?? [{ name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' }];
  return {
    kind: 'Table',
    apiVersion: 'meta.k8s.io/v1',
    metadata: { resourceVersion },
    columnDefinitions: [
      { name: 'Name', type: 'string', format: 'name', description: 'Name of the object.', priority: 0 },
      ...printed.map((c) => ({
        name: c.name,
        type: c.type,
        format: '',
        description: c.description ?? '',
        priority: 0,
      })),
    ],
    rows: items.map((item) => ({
      cells: [
        item.metadata.name,
        ...printed.map((c) => {
          const value = at(item, c.jsonPath);
          if (value === undefined || value === null) return null;
          return c.type === 'date' && typeof value === 'string' ? age(value) : value;
        }),
      ],
      object: { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: item.metadata },
    })),
  };
}
