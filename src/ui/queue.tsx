import { useEffect, useState } from 'preact/hooks';
import { call, type QueueStats } from './api.js';
import { live } from './live.js';

/** Queue depth by priority, running against capacity, and this replica's slots; refreshed on transitions. */
export function QueuePage() {
  const [stats, setStats] = useState<QueueStats | null>(null);
  useEffect(() => {
    let pending: ReturnType<typeof setTimeout> | null = null;
    const load = () =>
      void call<QueueStats>('GET', '/v1/queue')
        .then(setStats)
        .catch(() => undefined);
    load();
    // Many transitions a second under load: one read per 250 ms is enough for a person.
    const unsubscribe = live.subscribe(() => {
      pending ??= setTimeout(() => {
        pending = null;
        load();
      }, 250);
    });
    return () => {
      unsubscribe();
      if (pending) clearTimeout(pending);
    };
  }, []);
  if (!stats) return <p class="muted">Loading…</p>;
  const max = Math.max(1, stats.queued.high, stats.queued.normal, stats.queued.low);
  const used = Math.min(1, (stats.running + stats.awaitingAdmission) / Math.max(1, stats.capacity));
  return (
    <section class="queue" aria-label="Queue and capacity">
      <h2>Queue and capacity</h2>
      <div
        class="capacity"
        role="meter"
        aria-valuemin={0}
        aria-valuemax={stats.capacity}
        aria-valuenow={stats.running}
      >
        <div class="capacity-fill" style={{ width: `${used * 100}%` }} />
        <span>
          {stats.running} running
          {stats.awaitingAdmission ? ` + ${stats.awaitingAdmission} awaiting admission` : ''} of{' '}
          {stats.capacity}
        </span>
      </div>
      <table>
        <caption>Queued by priority</caption>
        <tbody>
          {(['high', 'normal', 'low'] as const).map((priority) => (
            <tr key={priority} data-priority={priority}>
              <th scope="row">{priority}</th>
              <td class="num">{stats.queued[priority]}</td>
              <td class="bar-cell">
                <div
                  class={`qbar qbar-${priority}`}
                  style={{ width: `${(stats.queued[priority] / max) * 100}%` }}
                />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <p class="muted">
        Replica {stats.replica.id}: {stats.replica.running} of {stats.replica.slots} slots
        {stats.replica.working ? '' : ' (serving the API only; another replica works)'}
      </p>
    </section>
  );
}
