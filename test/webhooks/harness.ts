import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { evaluationWebhookBody } from '../../src/api/index.js';
import type { EvaluationService } from '../../src/service/index.js';
import type { AttemptRecord, EvaluationStore } from '../../src/store/store.js';
import { WebhookDeliveries, type WebhookDeliveriesOptions } from '../../src/webhooks/index.js';
import { FakeRuntime } from '../support/fake-runtime.js';
import { inProcess, type InProcess } from '../support/in-process.js';

export const SECRET = `whsec_${randomBytes(24).toString('base64')}`;

export interface ReceivedRequest {
  readonly url: string;
  readonly headers: Record<string, string>;
  readonly body: string;
}

/** How the receiver answers its nth request (from 1). */
export type Answer = (n: number, response: http.ServerResponse) => void;

/** A real HTTP receiver on 127.0.0.1 that records every request and answers as the test scripts it. */
export class Receiver {
  readonly requests: ReceivedRequest[] = [];
  readonly #server: http.Server;
  #answer: Answer;

  private constructor(answer: Answer) {
    this.#answer = answer;
    this.#server = http.createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        const headers = Object.fromEntries(
          Object.entries(request.headers).map(([k, v]) => [k, Array.isArray(v) ? v.join(',') : (v ?? '')]),
        );
        this.requests.push({ url: request.url ?? '', headers, body: Buffer.concat(chunks).toString('utf8') });
        this.#answer(this.requests.length, response);
      });
    });
  }

  static async start(answer: Answer): Promise<Receiver> {
    const receiver = new Receiver(answer);
    await new Promise<void>((resolve) => receiver.#server.listen(0, '127.0.0.1', resolve));
    return receiver;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}/hook`;
  }

  answer(answer: Answer): void {
    this.#answer = answer;
  }

  async close(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}

/** Every stored attempt outcome, awaitable by count. */
export class Attempts {
  readonly records: AttemptRecord[] = [];
  #waiters: { count: number; resolve: () => void }[] = [];

  readonly onAttempt = (record: AttemptRecord): void => {
    this.records.push(record);
    this.#waiters = this.#waiters.filter((w) =>
      w.count <= this.records.length ? (w.resolve(), false) : true,
    );
  };

  until(count: number): Promise<void> {
    if (this.records.length >= count) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push({ count, resolve }));
  }
}

export type SenderOptions = Partial<Omit<WebhookDeliveriesOptions, 'store' | 'payloadOf' | 'log' | 'owner'>>;

/** The real service, API and sender around a fake runtime (runs print their code and exit 0). */
export async function webhookServer(
  store: EvaluationStore,
  sender: SenderOptions | null,
  replicaId = 'test-replica',
): Promise<InProcess & { attempts: Attempts }> {
  const attempts = new Attempts();
  // The sender starts with the service, before `inProcess` hands the service over: its first pass waits.
  let started: (service: EvaluationService) => void = () => undefined;
  const service = new Promise<EvaluationService>((resolve) => (started = resolve));
  const webhooks =
    sender &&
    new WebhookDeliveries({
      store: store.webhooks!,
      owner: replicaId,
      secret: SECRET,
      allowPrivate: true,
      payloadOf: async (kind, id) =>
        kind === 'batch'
          ? ((await service).batches?.webhookBody(id) ?? null)
          : evaluationWebhookBody(await service, id),
      log: { warn: (m) => process.env['WH_DEBUG'] && console.error('WARN', m) },
      onAttempt: attempts.onAttempt,
      ...sender,
    });
  const server = await inProcess({
    runtime: new FakeRuntime(),
    store,
    replicaId,
    ...(webhooks ? { webhooks } : {}),
  });
  started(server.service);
  return { ...server, attempts };
}
