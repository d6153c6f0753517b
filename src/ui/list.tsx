import { elementScroll, observeElementOffset, observeElementRect, Virtualizer } from '@tanstack/virtual-core';
import { useEffect, useLayoutEffect, useReducer, useRef, useState } from 'preact/hooks';
import { call, STATUSES, TERMINAL, type Evaluation } from './api.js';
import { Choice } from './fields.js';
import { ago, ms } from './format.js';
import { live } from './live.js';

interface Filters {
  status: string;
  language: string;
  label: string;
  user: string;
}

const ROW_HEIGHT = 36;
const PAGE = 200;

function query(filters: Filters, cursor: string | null): string {
  const params = new URLSearchParams({ limit: String(PAGE) });
  if (filters.status) params.set('status', filters.status);
  if (filters.label) params.set('label', filters.label);
  if (filters.user) params.set('user', filters.user);
  if (cursor) params.set('cursor', cursor);
  return `/v1/evaluations?${params}`;
}

function matches(e: Evaluation, f: Filters): boolean {
  if (f.status && e.status !== f.status) return false;
  if (f.language && e.language !== f.language) return false;
  if (f.user && e.user !== f.user) return false;
  if (f.label) {
    const [key, value] = f.label.split('=');
    if (key === undefined || e.labels[key] !== value) return false;
  }
  return true;
}

/**
 * Every evaluation, newest first, updated live from `/v1/events` (no refresh) and virtualised: only the rows
 * in view are in the DOM, so 10,000 cost what 30 do. Pages load as the list scrolls to its end.
 */
export function EvaluationList({ languages }: { languages: string[] }) {
  const [filters, setFilters] = useState<Filters>({ status: '', language: '', label: '', user: '' });
  const [items, setItems] = useState<Evaluation[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const loading = useRef(false);
  const filtersRef = useRef(filters);
  filtersRef.current = filters;

  const loadMore = async (reset: boolean) => {
    if (loading.current || (!reset && cursor === null)) return;
    loading.current = true;
    try {
      const page = await call<{ items: Evaluation[]; nextCursor: string | null }>(
        'GET',
        query(filters, reset ? null : cursor),
      );
      const kept = page.items.filter((e) => matches(e, filters));
      setItems((old) => (reset ? kept : [...old, ...kept]));
      setCursor(page.nextCursor);
      setError(null);
    } catch (e) {
      setError((e as Error).message);
    } finally {
      loading.current = false;
    }
  };

  useEffect(() => {
    void loadMore(true);
  }, [filters]);

  useEffect(
    () =>
      live.subscribe((t) => {
        if (t.from === null) {
          // A new evaluation: its list item, if it passes the filters.
          void call<Evaluation>('GET', `/v1/evaluations/${encodeURIComponent(t.evaluationId)}`).then((e) => {
            if (!matches(e, filtersRef.current)) return;
            setItems((old) => (old.some((o) => o.id === e.id) ? old : [e, ...old]));
          });
          return;
        }
        const replace = (patch: (e: Evaluation) => Evaluation) =>
          setItems((old) => {
            const index = old.findIndex((o) => o.id === t.evaluationId);
            if (index < 0) return old;
            const next = old.slice();
            next[index] = patch(old[index]!);
            return next;
          });
        replace((e) => ({ ...e, status: t.to }));
        // At the end, its durations and result: read it once.
        if (TERMINAL.has(t.to)) {
          void call<Evaluation>('GET', `/v1/evaluations/${encodeURIComponent(t.evaluationId)}`).then((e) =>
            replace(() => e),
          );
        }
      }),
    [],
  );

  const set = (key: keyof Filters) => (event: Event) =>
    setFilters({ ...filters, [key]: (event.currentTarget as HTMLInputElement).value });

  return (
    <section class="list" aria-label="Evaluations">
      <form class="filters" onSubmit={(e) => e.preventDefault()}>
        <Choice
          label="Status"
          name="status"
          value={filters.status}
          options={STATUSES}
          onChange={(status) => setFilters({ ...filters, status })}
          any="any"
        />
        <Choice
          label="Language"
          name="language"
          value={filters.language}
          options={languages}
          onChange={(language) => setFilters({ ...filters, language })}
          any="any"
        />
        <label>
          Label
          <input placeholder="key=value" value={filters.label} onChange={set('label')} name="label" />
        </label>
        <label>
          User
          <input placeholder="name" value={filters.user} onChange={set('user')} name="user" />
        </label>
      </form>
      {error ? <p role="alert">{error}</p> : null}
      <Rows items={items} onEnd={() => void loadMore(false)} />
    </section>
  );
}

function Rows({ items, onEnd }: { items: Evaluation[]; onEnd: () => void }) {
  const scroller = useRef<HTMLDivElement>(null);
  const [, rerender] = useReducer((n: number) => n + 1, 0);
  const virtualizer = useRef<Virtualizer<HTMLDivElement, HTMLElement> | null>(null);
  virtualizer.current ??= new Virtualizer<HTMLDivElement, HTMLElement>({
    count: items.length,
    getScrollElement: () => scroller.current,
    estimateSize: () => ROW_HEIGHT,
    overscan: 10,
    scrollToFn: elementScroll,
    observeElementRect,
    observeElementOffset,
    onChange: () => rerender(0),
  });
  const v = virtualizer.current;
  v.setOptions({ ...v.options, count: items.length });
  useEffect(() => v._didMount(), []);
  useLayoutEffect(() => v._willUpdate());
  const virtual = v.getVirtualItems();
  const last = virtual[virtual.length - 1];
  useEffect(() => {
    if (last && last.index >= items.length - 1) onEnd();
  }, [last?.index, items.length]);
  const now = Date.now();
  return (
    <div class="rows" ref={scroller} role="table" aria-rowcount={items.length} data-count={items.length}>
      <div role="row" class="row head">
        <span role="columnheader">Status</span>
        <span role="columnheader">Evaluation</span>
        <span role="columnheader">Language</span>
        <span role="columnheader">User</span>
        <span role="columnheader">Total</span>
        <span role="columnheader">Submitted</span>
      </div>
      <div style={{ height: `${v.getTotalSize()}px`, position: 'relative' }}>
        {virtual.map((row) => {
          const e = items[row.index]!;
          return (
            <div
              key={e.id}
              role="row"
              class="row"
              data-id={e.id}
              aria-rowindex={row.index + 2}
              style={{ transform: `translateY(${row.start}px)`, height: `${ROW_HEIGHT}px` }}
            >
              <span role="cell">
                <span class={`status status-${e.status}`} data-status={e.status}>
                  {e.status}
                </span>
              </span>
              <span role="cell" class="mono">
                <a href={`#/e/${e.id}`}>{e.id}</a>
              </span>
              <span role="cell">{e.language}</span>
              <span role="cell">{e.user ?? '—'}</span>
              <span role="cell">{ms(e.durations?.totalMs)}</span>
              <span role="cell" title={e.timings.submittedAt}>
                {ago(e.timings.submittedAt, now)}
              </span>
            </div>
          );
        })}
      </div>
      {items.length === 0 ? <p class="muted empty">No evaluations match.</p> : null}
    </div>
  );
}
