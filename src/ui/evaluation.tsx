import { useEffect, useState } from 'preact/hooks';
import { call, TERMINAL, type Evaluation } from './api.js';
import { bytes, ms, time } from './format.js';
import { live } from './live.js';
import { LogView } from './log-view.js';
import { Timeline } from './timeline.js';

/** One evaluation: status, output streaming side by side, the timeline, resource use, cancel and resubmit. */
export function EvaluationPage({ id, navigate }: { id: string; navigate: (hash: string) => void }) {
  const [evaluation, setEvaluation] = useState<Evaluation | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    let current = true;
    const load = () =>
      call<Evaluation>('GET', `/v1/evaluations/${encodeURIComponent(id)}`)
        .then((e) => current && setEvaluation(e))
        .catch((e: Error) => current && setError(e.message));
    void load();
    const unsubscribe = live.subscribe((t) => {
      if (t.evaluationId === id) void load();
    });
    return () => {
      current = false;
      unsubscribe();
    };
  }, [id]);

  if (error) return <p role="alert">{error}</p>;
  if (!evaluation) return <p class="muted">Loading…</p>;
  const result = evaluation.result;
  const terminal = TERMINAL.has(evaluation.status);

  const cancel = async () => {
    setBusy(true);
    try {
      setEvaluation(await call<Evaluation>('DELETE', `/v1/evaluations/${encodeURIComponent(id)}`));
    } catch (e) {
      setError((e as Error).message);
    } finally {
      setBusy(false);
    }
  };
  const resubmit = async () => {
    setBusy(true);
    try {
      const source = await call<{ code: string; stdin: string }>(
        'GET',
        `/ui/evaluations/${encodeURIComponent(id)}/source`,
      );
      const submitted = await call<{ id: string }>('POST', '/v1/evaluations', {
        language: evaluation.language,
        code: source.code,
        stdin: source.stdin,
        priority: evaluation.priority,
        labels: evaluation.labels,
        timeoutSeconds: evaluation.limits.timeoutSeconds,
        memoryMb: evaluation.limits.memoryMb,
      });
      navigate(`#/e/${submitted.id}`);
    } catch (e) {
      setError((e as Error).message);
    } finally {
      setBusy(false);
    }
  };

  return (
    <article class="evaluation" aria-labelledby="evaluation-title">
      <header class="evaluation-head">
        <h2 id="evaluation-title">
          <code>{evaluation.id}</code>
        </h2>
        <span class={`status status-${evaluation.status}`} data-status={evaluation.status}>
          {evaluation.status}
        </span>
        <span class="muted">
          {evaluation.language} · {evaluation.runtime} · {evaluation.priority}
          {evaluation.user ? ` · ${evaluation.user}` : ''}
        </span>
        <span class="actions">
          <button type="button" onClick={cancel} disabled={busy || terminal}>
            Cancel
          </button>
          <button type="button" onClick={resubmit} disabled={busy}>
            Resubmit
          </button>
        </span>
      </header>
      {result?.message ? <p class="message">{result.message}</p> : null}
      <section aria-label="Lifecycle">
        <h3>Lifecycle</h3>
        <Timeline timings={evaluation.timings} />
      </section>
      <section aria-label="Output">
        <LogView
          id={evaluation.id}
          truncated={{ stdout: result?.stdoutTruncated ?? false, stderr: result?.stderrTruncated ?? false }}
        />
      </section>
      <section aria-label="Resources" class="facts">
        <h3>Resources and result</h3>
        <dl>
          <dt>Exit</dt>
          <dd>{result ? (result.signal ?? String(result.exitCode ?? '—')) : '—'}</dd>
          <dt>Reason</dt>
          <dd>{result?.reason ?? '—'}</dd>
          <dt>Wall time</dt>
          <dd>{ms(result?.durationMs)}</dd>
          <dt>CPU time</dt>
          <dd>{ms(result?.cpuTimeMs)}</dd>
          <dt>Peak memory</dt>
          <dd>
            {bytes(result?.peakMemoryBytes)} of {evaluation.limits.memoryMb} MiB
            {result?.memoryEnforcement ? ` (${result.memoryEnforcement})` : ''}
          </dd>
          <dt>Queue · start · run · store</dt>
          <dd>
            {ms(evaluation.durations.queueMs)} · {ms(evaluation.durations.startMs)} ·{' '}
            {ms(evaluation.durations.runMs)} · {ms(evaluation.durations.storeMs)} (total{' '}
            {ms(evaluation.durations.totalMs)})
          </dd>
          <dt>Submitted</dt>
          <dd>{time(evaluation.timings.submittedAt)}</dd>
          <dt>Labels</dt>
          <dd>
            {Object.entries(evaluation.labels)
              .map(([k, v]) => `${k}=${v}`)
              .join(', ') || '—'}
          </dd>
        </dl>
      </section>
    </article>
  );
}
