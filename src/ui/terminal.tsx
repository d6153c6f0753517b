import { Terminal } from '@xterm/xterm';
import { useEffect, useRef, useState } from 'preact/hooks';
import { ptySocket } from './api.js';

export interface TerminalProps {
  id: string;
}

/** Terminal colours from the page's theme variables, so the terminal follows dark and light. */
function themeOf(element: HTMLElement) {
  const css = getComputedStyle(element);
  const v = (name: string) => css.getPropertyValue(name).trim();
  return {
    background: v('--log'),
    foreground: v('--text'),
    cursor: v('--accent'),
    selectionBackground: v('--border'),
  };
}

/** Columns and rows that fit the element, from the cell size xterm rendered (no fit add-on needed). */
function fit(term: Terminal, element: HTMLElement): { cols: number; rows: number } {
  const screen = term.element?.querySelector('.xterm-screen')?.getBoundingClientRect();
  const width = screen && screen.width > 0 ? screen.width / term.cols : 9;
  const height = screen && screen.height > 0 ? screen.height / term.rows : 17;
  const style = getComputedStyle(element);
  const inner = (size: number, a: string, b: string) =>
    size - parseFloat(style.getPropertyValue(a)) - parseFloat(style.getPropertyValue(b));
  const cols = Math.floor(inner(element.clientWidth, 'padding-left', 'padding-right') / width);
  const rows = Math.floor(inner(element.clientHeight, 'padding-top', 'padding-bottom') / height);
  return { cols: Math.min(Math.max(cols, 20), 1000), rows: Math.min(Math.max(rows, 5), 1000) };
}

/**
 * A sandbox's shell in xterm.js over `GET /v1/sandboxes/{id}/pty`: keystrokes go out as binary frames, output
 * comes back as binary frames, a window resize sends `{"resize":{"cols","rows"}}`. Reconnecting (reload)
 * resumes the same shell with its recent output.
 */
export function SandboxTerminal({ id }: TerminalProps) {
  const host = useRef<HTMLDivElement>(null);
  const [state, setState] = useState<'connecting' | 'open' | 'closed'>('connecting');
  const [message, setMessage] = useState<string | null>(null);
  useEffect(() => {
    const element = host.current!;
    const term = new Terminal({
      fontSize: 14,
      cursorBlink: true,
      theme: themeOf(element),
      screenReaderMode: false,
    });
    term.open(element);
    const size = fit(term, element);
    term.resize(size.cols, size.rows);
    const socket = ptySocket(id, size);
    socket.binaryType = 'arraybuffer';
    const encoder = new TextEncoder();
    socket.onopen = () => {
      setState('open');
      term.focus();
    };
    socket.onmessage = (event: MessageEvent<ArrayBuffer | string>) => {
      if (typeof event.data !== 'string') return term.write(new Uint8Array(event.data));
      const frame = JSON.parse(event.data) as {
        exit?: { code: number | null; signal: string | null };
        error?: { message: string };
      };
      if (frame.exit) setMessage(`The shell ended (exit ${frame.exit.code ?? frame.exit.signal}).`);
      if (frame.error) setMessage(frame.error.message);
    };
    socket.onclose = (event) => {
      setState('closed');
      if (event.code !== 1000 && event.code !== 1005) setMessage((m) => m ?? `Disconnected (${event.code}).`);
    };
    // Tab belongs to the shell (completion); Escape then Tab moves focus on, so the terminal is no trap.
    let escaped = false;
    term.attachCustomKeyEventHandler((event) => {
      if (event.type !== 'keydown') return true;
      if (event.key === 'Tab' && escaped) return (escaped = false);
      escaped = event.key === 'Escape';
      return true;
    });
    const typed = term.onData((data) => {
      if (socket.readyState === WebSocket.OPEN) socket.send(encoder.encode(data));
    });
    const resized = term.onResize(({ cols, rows }) => {
      element.dataset['cols'] = String(cols);
      element.dataset['rows'] = String(rows);
      if (socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify({ resize: { cols, rows } }));
    });
    element.dataset['cols'] = String(size.cols);
    element.dataset['rows'] = String(size.rows);
    const refit = () => {
      const next = fit(term, element);
      if (next.cols !== term.cols || next.rows !== term.rows) term.resize(next.cols, next.rows);
    };
    addEventListener('resize', refit);
    // The theme toggle changes the page's variables: follow it.
    const themed = new MutationObserver(() => (term.options.theme = themeOf(element)));
    themed.observe(document.documentElement, { attributes: true, attributeFilter: ['data-theme'] });
    return () => {
      removeEventListener('resize', refit);
      themed.disconnect();
      typed.dispose();
      resized.dispose();
      socket.close();
      term.dispose();
    };
  }, [id]);
  return (
    <div class="terminal-wrap">
      <p class="muted terminal-state" aria-live="polite" data-state={state}>
        {state === 'open' ? 'Connected. ' : state === 'connecting' ? 'Connecting… ' : 'Closed. '}
        {message}
        {state === 'open' ? ' (Tab goes to the shell; Escape then Tab leaves the terminal.)' : null}
      </p>
      <div class="sandbox-terminal" ref={host} role="group" aria-label={`Terminal of ${id}`} />
    </div>
  );
}
