import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One span as OTLP/JSON carries it (ids in hex, times in nanoseconds as strings). */
export interface ReceivedSpan {
  readonly traceId: string;
  readonly spanId: string;
  readonly parentSpanId: string;
  readonly name: string;
  readonly startMs: number;
  readonly endMs: number;
  readonly attributes: Record<string, unknown>;
  readonly service: string;
}

interface OtlpJson {
  resourceSpans?: {
    resource?: { attributes?: OtlpAttribute[] };
    scopeSpans?: {
      spans?: {
        traceId: string;
        spanId: string;
        parentSpanId?: string;
        name: string;
        startTimeUnixNano: string | number;
        endTimeUnixNano: string | number;
        attributes?: OtlpAttribute[];
      }[];
    }[];
  }[];
}
interface OtlpAttribute {
  key: string;
  value: { stringValue?: string; intValue?: string | number; boolValue?: boolean };
}

const nanosToMs = (nanos: string | number) => Number(BigInt(nanos) / 1000n) / 1000;
const attributes = (list: OtlpAttribute[] = []) =>
  Object.fromEntries(list.map((a) => [a.key, a.value.stringValue ?? a.value.intValue ?? a.value.boolValue]));

/**
 * An OTLP/HTTP receiver (JSON encoding, `POST /v1/traces`) for tests, plus `POST /hook` answering 204 and
 * keeping each request's headers (a webhook receiver). Waiters are resolved as spans arrive: no polling.
 */
export class OtlpReceiver {
  readonly spans: ReceivedSpan[] = [];
  readonly hooks: IncomingHttpHeaders[] = [];
  #waiters: { done: () => boolean; resolve: () => void }[] = [];
  #server: Server;

  private constructor(server: Server) {
    this.#server = server;
  }

  static async start(): Promise<OtlpReceiver> {
    const server = createServer();
    const receiver = new OtlpReceiver(server);
    server.on('request', (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        if (req.url === '/hook') receiver.hooks.push(req.headers);
        else if (req.url === '/v1/traces')
          receiver.#accept(JSON.parse(Buffer.concat(chunks).toString()) as OtlpJson);
        res.writeHead(req.url === '/hook' ? 204 : 200, { 'content-type': 'application/json' });
        res.end(req.url === '/hook' ? undefined : '{}');
        receiver.#wake();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return receiver;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
  }

  /** Resolves once `done` holds for what has arrived. */
  until(done: () => boolean): Promise<void> {
    if (done()) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push({ done, resolve }));
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }

  #accept(body: OtlpJson): void {
    for (const resource of body.resourceSpans ?? []) {
      const service = String(attributes(resource.resource?.attributes)['service.name'] ?? '');
      for (const scope of resource.scopeSpans ?? []) {
        for (const span of scope.spans ?? []) {
          this.spans.push({
            traceId: span.traceId,
            spanId: span.spanId,
            parentSpanId: span.parentSpanId ?? '',
            name: span.name,
            startMs: nanosToMs(span.startTimeUnixNano),
            endMs: nanosToMs(span.endTimeUnixNano),
            attributes: attributes(span.attributes),
            service,
          });
        }
      }
    }
  }

  #wake(): void {
    this.#waiters = this.#waiters.filter((w) => (w.done() ? (w.resolve(), false) : true));
  }
}
