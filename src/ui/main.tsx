import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { call, onUnauthenticated, token } from './api.js';
import { EvaluationPage } from './evaluation.js';
import { EvaluationList } from './list.js';
import { live, loadSession } from './live.js';
import { Login } from './login.js';
import { QueuePage } from './queue.js';
import { SandboxList, SandboxPage } from './sandboxes.js';
import { SubmitPage } from './submit.js';
import './styles.css';

function useHash(): [string, (hash: string) => void] {
  const [hash, setHash] = useState(location.hash || '#/');
  useEffect(() => {
    const changed = () => setHash(location.hash || '#/');
    addEventListener('hashchange', changed);
    return () => removeEventListener('hashchange', changed);
  }, []);
  return [hash, (next) => (location.hash = next)];
}

function useTheme(): [string, () => void] {
  const initial =
    localStorage.getItem('crucible.theme') ??
    (matchMedia('(prefers-color-scheme: light)').matches ? 'light' : 'dark');
  const [theme, setTheme] = useState(initial);
  useEffect(() => {
    document.documentElement.dataset['theme'] = theme;
    localStorage.setItem('crucible.theme', theme);
  }, [theme]);
  return [theme, () => setTheme(theme === 'dark' ? 'light' : 'dark')];
}

function App() {
  const [hash, navigate] = useHash();
  const [theme, toggleTheme] = useTheme();
  const [ready, setReady] = useState(false);
  const [needsLogin, setNeedsLogin] = useState(false);
  const [languages, setLanguages] = useState<string[]>(['python', 'javascript']);
  const start = async () => {
    const session = await loadSession();
    if (session.authRequired && !token.get()) return setNeedsLogin(true);
    setNeedsLogin(false);
    live.start(session.seq);
    setReady(true);
    call<{ items: { id: string }[] }>('GET', '/v1/languages')
      .then((l) => setLanguages(l.items.map((i) => i.id)))
      .catch(() => undefined);
  };
  useEffect(() => {
    void start();
    return onUnauthenticated(() => {
      token.clear();
      setReady(false);
      setNeedsLogin(true);
    });
  }, []);

  const evaluation = /^#\/e\/(.+)$/.exec(hash)?.[1];
  const sandbox = /^#\/s\/(.+)$/.exec(hash)?.[1];
  const page = needsLogin ? (
    <Login onLogin={() => void start()} />
  ) : !ready ? (
    <p class="muted">Connecting…</p>
  ) : evaluation ? (
    <EvaluationPage key={evaluation} id={decodeURIComponent(evaluation)} navigate={navigate} />
  ) : sandbox ? (
    <SandboxPage key={sandbox} id={decodeURIComponent(sandbox)} />
  ) : hash === '#/sandboxes' ? (
    <SandboxList languages={languages} navigate={navigate} />
  ) : hash === '#/queue' ? (
    <QueuePage />
  ) : hash === '#/new' ? (
    <SubmitPage languages={languages} navigate={navigate} />
  ) : (
    <EvaluationList languages={languages} />
  );
  const link = (target: string, label: string) => (
    <a href={target} aria-current={hash === target ? 'page' : undefined}>
      {label}
    </a>
  );
  return (
    <>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header class="top">
        <h1>Crucible</h1>
        <nav aria-label="Main">
          {link('#/', 'Evaluations')}
          {link('#/queue', 'Queue')}
          {link('#/sandboxes', 'Sandboxes')}
          {link('#/new', 'New')}
        </nav>
        <button
          type="button"
          class="theme"
          onClick={toggleTheme}
          aria-label={`Switch to ${theme === 'dark' ? 'light' : 'dark'} theme`}
        >
          {theme === 'dark' ? '☀' : '☾'}
        </button>
      </header>
      <main id="main">{page}</main>
    </>
  );
}

render(<App />, document.getElementById('app')!);
