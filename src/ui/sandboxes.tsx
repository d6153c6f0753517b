import type { ComponentType } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { call, type Sandbox } from './api.js';
import { Choice } from './fields.js';
import { ago } from './format.js';
import type { TerminalProps } from './terminal.js';

/** Sandboxes have no event stream (`/v1/events` carries evaluations only): the views poll this often. */
const POLL_MS = 2000;

function useSandboxes(): [Sandbox[] | null, () => void] {
  const [items, setItems] = useState<Sandbox[] | null>(null);
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let stopped = false;
    const load = () =>
      call<{ items: Sandbox[] }>('GET', '/v1/sandboxes')
        .then((r) => !stopped && setItems(r.items))
        .catch(() => undefined);
    void load();
    const timer = setInterval(() => void load(), POLL_MS);
    return () => {
      stopped = true;
      clearInterval(timer);
    };
  }, [tick]);
  return [items, () => setTick((t) => t + 1)];
}

/** Hibernate, resume and terminate: the buttons a sandbox in this status accepts. */
function SandboxActions({ sandbox, changed }: { sandbox: Sandbox; changed: (s: Sandbox) => void }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const act = (method: string, url: string) => async () => {
    setBusy(true);
    setError(null);
    try {
      changed(await call<Sandbox>(method, url));
    } catch (e) {
      setError((e as Error).message);
    } finally {
      setBusy(false);
    }
  };
  const base = `/v1/sandboxes/${encodeURIComponent(sandbox.id)}`;
  const label = (verb: string) => `${verb} ${sandbox.id}`;
  return (
    <span class="actions">
      {sandbox.status === 'ready' ? (
        <button
          type="button"
          disabled={busy}
          aria-label={label('Hibernate')}
          onClick={act('POST', `${base}/hibernate`)}
        >
          Hibernate
        </button>
      ) : null}
      {sandbox.status === 'hibernated' ? (
        <button
          type="button"
          disabled={busy}
          aria-label={label('Resume')}
          onClick={act('POST', `${base}/resume`)}
        >
          Resume
        </button>
      ) : null}
      {sandbox.status !== 'terminated' ? (
        <button type="button" disabled={busy} aria-label={label('Terminate')} onClick={act('DELETE', base)}>
          Terminate
        </button>
      ) : null}
      {error ? <span role="alert">{error}</span> : null}
    </span>
  );
}

function CreateSandbox({ languages, created }: { languages: string[]; created: (s: Sandbox) => void }) {
  const [language, setLanguage] = useState(languages.includes('python') ? 'python' : (languages[0] ?? ''));
  const [memoryMb, setMemoryMb] = useState('256');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const submit = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      created(await call<Sandbox>('POST', '/v1/sandboxes', { language, memoryMb: Number(memoryMb) }));
    } catch (e) {
      setError((e as Error).message);
    } finally {
      setBusy(false);
    }
  };
  return (
    <form class="sandbox-new" onSubmit={submit} aria-label="New sandbox">
      <Choice label="Language" name="language" value={language} options={languages} onChange={setLanguage} />
      <label>
        Memory (MB)
        <input
          type="number"
          min="16"
          name="memoryMb"
          value={memoryMb}
          onInput={(e) => setMemoryMb(e.currentTarget.value)}
        />
      </label>
      <button type="submit" disabled={busy}>
        {busy ? 'Creating…' : 'Create sandbox'}
      </button>
      {error ? <p role="alert">{error}</p> : null}
    </form>
  );
}

/** `#/sandboxes`: every sandbox the caller may see, with its status and actions; a form to create one. */
export function SandboxList({
  languages,
  navigate,
}: {
  languages: string[];
  navigate: (hash: string) => void;
}) {
  const [items, reload] = useSandboxes();
  return (
    <section class="sandboxes" aria-label="Sandboxes">
      <h2>Sandboxes</h2>
      <CreateSandbox languages={languages} created={(s) => navigate(`#/s/${encodeURIComponent(s.id)}`)} />
      {!items ? (
        <p class="muted">Loading…</p>
      ) : items.length === 0 ? (
        <p class="empty muted">No sandboxes yet.</p>
      ) : (
        <table class="sandbox-table" data-count={items.length}>
          <thead>
            <tr>
              <th scope="col">Sandbox</th>
              <th scope="col">Status</th>
              <th scope="col">Language</th>
              <th scope="col">Memory</th>
              <th scope="col">Last active</th>
              <th scope="col">Actions</th>
            </tr>
          </thead>
          <tbody>
            {items.map((s) => (
              <tr key={s.id} data-sandbox={s.id}>
                <td>
                  <a href={`#/s/${encodeURIComponent(s.id)}`}>{s.id}</a>
                </td>
                <td>
                  <span class={`status status-${s.status}`} data-status={s.status}>
                    {s.status}
                  </span>
                </td>
                <td>{s.language}</td>
                <td class="num">{s.memoryMb} MB</td>
                <td>{ago(s.lastActiveAt)}</td>
                <td>
                  <SandboxActions sandbox={s} changed={reload} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

/** `#/s/ID`: one sandbox, its actions and, while it is ready, its live terminal. */
export function SandboxPage({ id }: { id: string }) {
  const [sandbox, setSandbox] = useState<Sandbox | null>(null);
  const [error, setError] = useState<string | null>(null);
  // xterm.js is the largest part of this page: its own chunk, loaded only here.
  const [Terminal, setTerminal] = useState<ComponentType<TerminalProps> | null>(null);
  useEffect(() => {
    void import('./terminal.js').then((m) => setTerminal(() => m.SandboxTerminal));
  }, []);
  useEffect(() => {
    let stopped = false;
    const load = () =>
      call<Sandbox>('GET', `/v1/sandboxes/${encodeURIComponent(id)}`)
        .then((s) => !stopped && (setSandbox(s), setError(null)))
        .catch((e: Error) => !stopped && setError(e.message));
    void load();
    const timer = setInterval(() => void load(), POLL_MS);
    return () => {
      stopped = true;
      clearInterval(timer);
    };
  }, [id]);
  if (error && !sandbox) return <p role="alert">{error}</p>;
  if (!sandbox) return <p class="muted">Loading…</p>;
  return (
    <section class="sandbox" aria-label={`Sandbox ${sandbox.id}`}>
      <div class="evaluation-head">
        <h2>{sandbox.id}</h2>
        <span class={`status status-${sandbox.status}`} data-status={sandbox.status}>
          {sandbox.status}
        </span>
        <span class="muted">
          {sandbox.language} · {sandbox.memoryMb} MB · {sandbox.runtime}
        </span>
        <SandboxActions sandbox={sandbox} changed={setSandbox} />
      </div>
      {sandbox.error ? <p role="alert">{sandbox.error}</p> : null}
      {sandbox.status === 'ready' ? (
        Terminal ? (
          <Terminal key={sandbox.id} id={sandbox.id} />
        ) : (
          <p class="muted">Loading the terminal…</p>
        )
      ) : (
        <p class="muted">
          {sandbox.status === 'hibernated'
            ? 'Hibernated: resume it to open its terminal.'
            : `No terminal: the sandbox is ${sandbox.status}.`}
        </p>
      )}
    </section>
  );
}
