import { useState } from 'preact/hooks';
import { call, token } from './api.js';

/** Asked for when authentication is on and no valid token is stored; the token stays in this browser. */
export function Login({ onLogin }: { onLogin: () => void }) {
  const [value, setValue] = useState('');
  const [error, setError] = useState<string | null>(null);
  const submit = async (event: Event) => {
    event.preventDefault();
    token.set(value.trim());
    try {
      await call('GET', '/v1/evaluations?limit=1');
      onLogin();
    } catch (e) {
      token.clear();
      setError((e as Error).message);
    }
  };
  return (
    <form class="login" onSubmit={submit} aria-label="Sign in">
      <h2>Sign in</h2>
      <p class="muted">This server needs a token (crucible token create --user NAME prints one).</p>
      <label>
        Token
        <input
          type="password"
          autoComplete="current-password"
          value={value}
          onInput={(e) => setValue(e.currentTarget.value)}
        />
      </label>
      {error ? <p role="alert">{error}</p> : null}
      <button type="submit">Sign in</button>
    </form>
  );
}
