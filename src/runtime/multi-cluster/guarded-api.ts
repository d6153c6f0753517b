import type { V1Job } from '@kubernetes/client-node';
import { KubeError, toKubeError, type KubeApi, type ProjectKubeApi } from '../kubernetes/kube-client.js';
import { EVALUATION_LABEL } from '../kubernetes/names.js';

interface JobCreates {
  inFlight: number;
  /** Woken each time the last create in flight has settled. */
  idle: (() => void)[];
  /** A create was answered, or failed in a way that does not prove the server never saw it. */
  mayHaveLanded: boolean;
  abandoned: boolean;
}

/**
 * The one cluster's API as its `KubernetesRuntime` uses it, watched on the way through, so a start can be
 * moved to another cluster only when this one provably never received the Job: every create of it failed
 * with a refused connection (nothing reached the server) and none is in flight. A create that timed out,
 * was reset mid-request or answered anything at all may have made the Job: such a start stays on its
 * cluster. Once a start was moved, further creates of that Job here are refused, so it can never run twice.
 */
/** Wraps a call so that a failure without an HTTP answer triggers a health probe. */
type Watched = <A extends unknown[], T>(call: (...args: A) => Promise<T>) => (...args: A) => Promise<T>;

export class GuardedApi {
  readonly api: KubeApi;
  readonly #creates = new Map<string, JobCreates>();

  constructor(
    inner: KubeApi,
    /** Called on any failed call that did not get an HTTP answer: the health check probes at once. */
    onUnreachable: () => void,
  ) {
    const watched: Watched =
      <A extends unknown[], T>(call: (...args: A) => Promise<T>) =>
      async (...args: A): Promise<T> => {
        try {
          return await call(...args);
        } catch (error) {
          if (toKubeError(error).code === 0) onUnreachable();
          throw error;
        }
      };
    this.api = {
      namespace: inner.namespace,
      createConfigMap: watched((c) => inner.createConfigMap(c)),
      createJob: watched((job) => this.#createJob(inner, job)),
      deleteJob: watched((name) => inner.deleteJob(name)),
      deleteConfigMaps: watched((selector) => inner.deleteConfigMaps(selector)),
      ensureNetworkPolicy: watched((policy) => inner.ensureNetworkPolicy(policy)),
      listResourceQuotas: watched(() => inner.listResourceQuotas()),
      listJobs: watched((query) => inner.listJobs(query)),
      listPods: watched((query) => inner.listPods(query)),
      watch: watched((kind, query, signal) => inner.watch(kind, query, signal)),
      log: watched((query, signal) => inner.log(query, signal)),
      close: () => inner.close(),
      ...(inner.projects ? { projects: this.#guardProjects(inner.projects, watched) } : {}),
    };
  }

  /**
   * Project namespaces on this cluster, with the same guard: a project's Job create is recorded like any
   * other, so a start is moved to another cluster only when its Job provably never reached this one.
   */
  #guardProjects(projects: ProjectKubeApi, watched: Watched): ProjectKubeApi {
    return {
      ensureNamespace: watched((namespace) => projects.ensureNamespace(namespace)),
      deleteNamespace: watched((name) => projects.deleteNamespace(name)),
      allNamespaces: {
        listJobs: watched((query) => projects.allNamespaces.listJobs(query)),
        listPods: watched((query) => projects.allNamespaces.listPods(query)),
        watch: watched((kind, query, signal) => projects.allNamespaces.watch(kind, query, signal)),
      },
      inNamespace: (namespace) => {
        const api = projects.inNamespace(namespace);
        return {
          ...api,
          createConfigMap: watched((c) => api.createConfigMap(c)),
          createJob: watched((job) => this.#createJob(api, job)),
          deleteJob: watched((name) => api.deleteJob(name)),
          deleteConfigMaps: watched((selector) => api.deleteConfigMaps(selector)),
          ensureNetworkPolicy: watched((policy) => api.ensureNetworkPolicy(policy)),
          ensureResourceQuota: watched((quota) => api.ensureResourceQuota(quota)),
          ensureLimitRange: watched((range) => api.ensureLimitRange(range)),
          log: watched((query, signal) => api.log(query, signal)),
        };
      },
    };
  }

  /** True when no create of this evaluation's Job can have reached the server. */
  neverCreated(label: string): boolean {
    const creates = this.#creates.get(label);
    return !creates || (creates.inFlight === 0 && !creates.mayHaveLanded);
  }

  /** False once a create may have made the Job; true while it may still turn out never created. */
  undecided(label: string): boolean {
    return !this.#creates.get(label)?.mayHaveLanded;
  }

  /** Resolves when no create of this Job is in flight (at once when none is). */
  whenIdle(label: string): Promise<void> {
    const creates = this.#entry(label);
    if (creates.inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => creates.idle.push(resolve));
  }

  /** No create of this Job is sent from now on (it runs elsewhere, or has been given up). */
  abandon(label: string): void {
    this.#entry(label).abandoned = true;
  }

  /** Forgets an evaluation once it is over here. */
  forget(label: string): void {
    this.#creates.delete(label);
  }

  async #createJob(inner: KubeApi, job: V1Job): Promise<'created' | 'exists'> {
    const label = job.metadata?.labels?.[EVALUATION_LABEL] ?? '';
    const creates = this.#entry(label);
    // 400: not retryable, so the runtime's retry loop stops at once.
    if (creates.abandoned)
      throw new KubeError(`Job ${job.metadata?.name} was placed on another cluster`, 400);
    creates.inFlight += 1;
    try {
      const answer = await inner.createJob(job);
      creates.mayHaveLanded = true;
      return answer;
    } catch (error) {
      if (!/ECONNREFUSED/.test(toKubeError(error).message)) creates.mayHaveLanded = true;
      throw error;
    } finally {
      creates.inFlight -= 1;
      if (creates.inFlight === 0) for (const wake of creates.idle.splice(0)) wake();
    }
  }

  #entry(label: string): JobCreates {
    let creates = this.#creates.get(label);
    if (!creates) {
      creates = { inFlight: 0, idle: [], mayHaveLanded: false, abandoned: false };
      this.#creates.set(label, creates);
    }
    return creates;
  }
}
