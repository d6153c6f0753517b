import { CrucibleError, formatUsageGroupBy, usageWindow, type UsageGroupBy } from '../core/index.js';
import type { UsageGroup, UsageStore } from '../store/store.js';
import type { Caller } from './caller.js';

/** What a report needs of its caller (docs/auth.md): a non-admin sees only their own evaluations' usage. */
export type UsageCaller = Pick<Caller, 'user' | 'admin'>;

export interface UsageRequest {
  /** Defaults: `to` now, `from` a week before `to`. */
  readonly from?: Date;
  readonly to?: Date;
  readonly groupBy: UsageGroupBy;
}

export interface UsageReport {
  /** The window covered, defaults filled in: evaluations that finished in [from, to). */
  readonly from: string;
  readonly to: string;
  readonly groupBy: string;
  readonly items: UsageGroup[];
}

/** Usage reports (docs/usage.md): the window checked, the caller's scope applied, the sums the store's. */
export class UsageService {
  readonly #store: UsageStore;
  readonly #now: () => Date;

  constructor(store: UsageStore, now: () => Date = () => new Date()) {
    this.#store = store;
    this.#now = now;
  }

  /**
   * @throws CrucibleError `invalid_request` for a window that is empty, reversed or too long; `forbidden` for a
   * non-admin caller without a user (nobody's usage to show)
   */
  async report(request: UsageRequest, caller: UsageCaller): Promise<UsageReport> {
    const { from, to } = usageWindow(request.from, request.to, this.#now());
    if (!caller.admin && caller.user === null) {
      throw new CrucibleError('forbidden', 'usage needs a token that names a user', null);
    }
    const items = await this.#store.usage({
      from: from.toISOString(),
      to: to.toISOString(),
      groupBy: request.groupBy,
      ...(caller.admin ? {} : { user: caller.user! }),
    });
    return {
      from: from.toISOString(),
      to: to.toISOString(),
      groupBy: formatUsageGroupBy(request.groupBy),
      items,
    };
  }
}
