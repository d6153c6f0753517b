import { AnsiUp } from 'ansi_up';
import { useEffect, useRef, useState } from 'preact/hooks';
import type { LogLine } from './api.js';
import { followLogs } from './stream.js';

const decoder = new TextDecoder();

function textOf(line: LogLine): string {
  if (line.data !== undefined) return line.data;
  const raw = Uint8Array.from(atob(line.base64 ?? ''), (c) => c.charCodeAt(0));
  return decoder.decode(raw, { stream: true });
}

/** stdout and stderr side by side, streamed while the evaluation runs, ANSI colours rendered. */
export function LogView({ id, truncated }: { id: string; truncated: { stdout: boolean; stderr: boolean } }) {
  const [out, setOut] = useState({ stdout: '', stderr: '' });
  const [ended, setEnded] = useState(false);
  useEffect(() => {
    const controller = new AbortController();
    let buffered = { stdout: '', stderr: '' };
    let scheduled = false;
    // Many chunks a frame: render once per frame.
    const flush = () => {
      scheduled = false;
      setOut({ ...buffered });
    };
    followLogs(id, controller.signal, (value) => {
      const line = value as LogLine;
      buffered = { ...buffered, [line.stream]: buffered[line.stream] + textOf(line) };
      if (!scheduled) {
        scheduled = true;
        requestAnimationFrame(flush);
      }
    })
      .then(() => setEnded(true))
      .catch(() => undefined);
    return () => controller.abort();
  }, [id]);
  return (
    <div class="logs">
      {(['stdout', 'stderr'] as const).map((stream) => (
        <Pane key={stream} stream={stream} text={out[stream]} truncated={truncated[stream]} ended={ended} />
      ))}
    </div>
  );
}

function Pane(props: { stream: 'stdout' | 'stderr'; text: string; truncated: boolean; ended: boolean }) {
  const ref = useRef<HTMLPreElement>(null);
  const ansi = useRef(new AnsiUp());
  // ansi_up escapes HTML in the program's output before adding its colour spans.
  const html = ansi.current.ansi_to_html(props.text);
  useEffect(() => {
    const pre = ref.current;
    if (pre && pre.scrollHeight - pre.scrollTop - pre.clientHeight < 80) pre.scrollTop = pre.scrollHeight;
  }, [html]);
  return (
    <section class="pane" aria-label={props.stream}>
      <h3>
        {props.stream}
        {props.truncated ? (
          <span class="badge warn" data-truncated={props.stream}>
            truncated
          </span>
        ) : null}
        {!props.ended ? <span class="badge live">live</span> : null}
      </h3>
      <pre ref={ref} class={`log log-${props.stream}`} data-stream={props.stream} tabIndex={0}>
        <code dangerouslySetInnerHTML={{ __html: html }} />
      </pre>
      {props.truncated ? (
        <p class="muted">Output past the limit (limits.maxOutputBytes) was dropped.</p>
      ) : null}
    </section>
  );
}
