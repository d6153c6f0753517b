import { useState } from 'preact/hooks';
import type { Timings } from './api.js';
import { ms, time } from './format.js';

interface Stage {
  readonly key: string;
  readonly label: string;
  readonly from: keyof Timings;
  readonly to: keyof Timings;
  /** A Kubernetes sub-stage of `start`, drawn indented. */
  readonly platform?: boolean;
}

const STAGES: readonly Stage[] = [
  { key: 'queue', label: 'Queue', from: 'submittedAt', to: 'dispatchedAt' },
  { key: 'start', label: 'Start', from: 'dispatchedAt', to: 'startedAt' },
  { key: 'job_create', label: 'Job created', from: 'dispatchedAt', to: 'jobCreatedAt', platform: true },
  { key: 'pod_schedule', label: 'Pod scheduled', from: 'jobCreatedAt', to: 'podScheduledAt', platform: true },
  {
    key: 'container_start',
    label: 'Container started',
    from: 'podScheduledAt',
    to: 'containerStartedAt',
    platform: true,
  },
  { key: 'run', label: 'Run', from: 'startedAt', to: 'finishedAt' },
  { key: 'store', label: 'Store', from: 'finishedAt', to: 'storedAt' },
];

interface Bar extends Stage {
  readonly start: number;
  readonly end: number;
  readonly fromIso: string;
  readonly toIso: string;
}

/** The stages an evaluation reached, each with its two stored timestamps. */
export function barsOf(timings: Timings): Bar[] {
  const bars: Bar[] = [];
  for (const stage of STAGES) {
    const fromIso = timings[stage.from];
    const toIso = timings[stage.to];
    if (!fromIso || !toIso) continue;
    // Kubernetes' whole-second stamps may read before Crucible's ms ones: never before the submission.
    const start = Math.max(Date.parse(fromIso), Date.parse(timings.submittedAt));
    bars.push({ ...stage, start, end: Math.max(start, Date.parse(toIso)), fromIso, toIso });
  }
  return bars;
}

const ROW = 28;
const LABEL = 170;
const WIDTH = 1100;

/**
 * The lifecycle as a chart: one bar per stage on a shared time axis, hover or focus (Tab) for the exact
 * times. Kubernetes' own stages (one-second stamps from the API server) are drawn under `Start`.
 */
export function Timeline({ timings }: { timings: Timings }) {
  const [active, setActive] = useState<Bar | null>(null);
  const bars = barsOf(timings);
  if (bars.length === 0) return <p class="muted">Not dispatched yet.</p>;
  const t0 = Date.parse(timings.submittedAt);
  const t1 = Math.max(...bars.map((b) => b.end), t0 + 1);
  const scale = (WIDTH - LABEL - 60) / (t1 - t0);
  const height = bars.length * ROW + 24;
  return (
    <figure class="timeline" aria-label="Lifecycle timeline">
      <svg viewBox={`0 0 ${WIDTH} ${height}`} width="100%" role="list">
        {bars.map((bar, i) => {
          const x = LABEL + (bar.start - t0) * scale;
          const w = Math.max(2, (bar.end - bar.start) * scale);
          const y = i * ROW + 4;
          const duration = ms(bar.end - bar.start);
          return (
            <g
              key={bar.key}
              role="listitem"
              tabIndex={0}
              data-stage={bar.key}
              aria-label={`${bar.label}: ${duration}, ${time(bar.fromIso)} to ${time(bar.toIso)}`}
              onMouseEnter={() => setActive(bar)}
              onMouseLeave={() => setActive(null)}
              onFocus={() => setActive(bar)}
              onBlur={() => setActive(null)}
            >
              <text x={bar.platform ? 16 : 4} y={y + 17} class="stage-label">
                {bar.label}
              </text>
              <rect class={`bar bar-${bar.key}`} x={x} y={y + 4} width={w} height={ROW - 10} rx={3} />
              <text x={x + w + 6} y={y + 17} class="stage-duration">
                {duration}
              </text>
            </g>
          );
        })}
        <line x1={LABEL} x2={WIDTH - 60} y1={height - 16} y2={height - 16} class="axis" />
        <text x={LABEL} y={height - 2} class="axis-label">
          0
        </text>
        <text x={WIDTH - 60} y={height - 2} class="axis-label" text-anchor="end">
          {ms(t1 - t0)}
        </text>
      </svg>
      <figcaption class="tooltip" aria-live="polite">
        {active
          ? `${active.label}: ${ms(active.end - active.start)} — ${active.from} ${active.fromIso} → ${active.to} ${active.toIso}`
          : 'Hover or focus a bar for its exact times.'}
        {bars.some((b) => b.platform) ? (
          <span class="muted"> Kubernetes stages use the API server's one-second timestamps.</span>
        ) : null}
      </figcaption>
    </figure>
  );
}
