import { useEffect, useState } from 'preact/hooks';
import { call } from './api.js';
import { Choice } from './fields.js';

const PRIORITIES = ['high', 'normal', 'low'];

import type { CodeEditor } from './editor.js';

type Editor = typeof CodeEditor;

const SAMPLES: Record<string, string> = {
  python:
    'import sys\nprint("hello from Crucible")\nprint("\\033[32mgreen\\033[0m")\nprint("to stderr", file=sys.stderr)\n',
  javascript: 'console.log("hello from Crucible");\nconsole.error("to stderr");\n',
};

/** A new evaluation: language, code (CodeMirror), stdin, priority, timeout and labels. */
export function SubmitPage({
  languages,
  navigate,
}: {
  languages: string[];
  navigate: (hash: string) => void;
}) {
  const [language, setLanguage] = useState(
    languages.includes('python') ? 'python' : (languages[0] ?? 'python'),
  );
  const [code, setCode] = useState(SAMPLES[language] ?? '');
  const [stdin, setStdin] = useState('');
  const [priority, setPriority] = useState('normal');
  const [timeout, setTimeoutSeconds] = useState('30');
  const [labels, setLabels] = useState('');
  const [error, setError] = useState<string | null>(null);
  // CodeMirror is most of the bundle: loaded only when this form opens, not for the first paint.
  const [Editor, setEditor] = useState<Editor | null>(null);
  useEffect(() => {
    void import('./editor.js').then((m) => setEditor(() => m.CodeEditor));
  }, []);
  const submit = async (event: Event) => {
    event.preventDefault();
    setError(null);
    try {
      const pairs = labels
        .split(',')
        .map((l) => l.trim())
        .filter(Boolean)
        .map((l) => l.split('=') as [string, string]);
      const submitted = await call<{ id: string }>('POST', '/v1/evaluations', {
        language,
        code,
        stdin,
        priority,
        timeoutSeconds: Number(timeout),
        labels: Object.fromEntries(pairs.map(([k, v]) => [k, v ?? ''])),
      });
      navigate(`#/e/${submitted.id}`);
    } catch (e) {
      setError((e as Error).message);
    }
  };
  return (
    <form class="submit" onSubmit={submit} aria-label="New evaluation">
      <h2>New evaluation</h2>
      <div class="fields">
        <Choice
          label="Language"
          name="language"
          value={language}
          options={languages}
          onChange={setLanguage}
        />
        <Choice
          label="Priority"
          name="priority"
          value={priority}
          options={PRIORITIES}
          onChange={setPriority}
        />
        <label>
          Timeout (s)
          <input
            type="number"
            min="1"
            value={timeout}
            onInput={(e) => setTimeoutSeconds(e.currentTarget.value)}
          />
        </label>
        <label>
          Labels
          <input
            placeholder="team=evals, run=7"
            value={labels}
            onInput={(e) => setLabels(e.currentTarget.value)}
          />
        </label>
      </div>
      {Editor ? (
        <Editor language={language} value={code} onChange={setCode} />
      ) : (
        <textarea
          class="editor-fallback"
          rows={12}
          value={code}
          onInput={(e) => setCode(e.currentTarget.value)}
        />
      )}
      <label class="stdin">
        stdin
        <textarea rows={3} value={stdin} onInput={(e) => setStdin(e.currentTarget.value)} />
      </label>
      {error ? <p role="alert">{error}</p> : null}
      <button type="submit">Run</button>
    </form>
  );
}
