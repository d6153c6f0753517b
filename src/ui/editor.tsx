import { javascript } from '@codemirror/lang-javascript';
import { python } from '@codemirror/lang-python';
import { Compartment, EditorState } from '@codemirror/state';
import { basicSetup, EditorView } from 'codemirror';
import { useEffect, useRef } from 'preact/hooks';

const modes: Record<string, () => ReturnType<typeof python>> = { python, javascript };

/** A CodeMirror editor; `onChange` gets the whole text on each edit. */
export function CodeEditor(props: { language: string; value: string; onChange: (code: string) => void }) {
  const host = useRef<HTMLDivElement>(null);
  const view = useRef<EditorView | null>(null);
  const mode = useRef(new Compartment());
  const onChange = useRef(props.onChange);
  onChange.current = props.onChange;
  useEffect(() => {
    view.current = new EditorView({
      parent: host.current!,
      state: EditorState.create({
        doc: props.value,
        extensions: [
          basicSetup,
          mode.current.of(modes[props.language]?.() ?? []),
          EditorView.updateListener.of((update) => {
            if (update.docChanged) onChange.current(update.state.doc.toString());
          }),
          EditorView.contentAttributes.of({ 'aria-label': 'Code' }),
        ],
      }),
    });
    return () => view.current?.destroy();
  }, []);
  useEffect(() => {
    view.current?.dispatch({ effects: mode.current.reconfigure(modes[props.language]?.() ?? []) });
  }, [props.language]);
  return <div class="editor" ref={host} />;
}
