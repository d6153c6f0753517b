/** Signs a message per Standard Webhooks: the `webhook-signature` header value (`v1,<base64>`). */
export type Sign = (id: string, timestamp: Date, body: string) => Promise<string>;

/**
 * A signer over the `standardwebhooks` package, loaded on the first signature: a server that never delivers a
 * webhook never loads it. `secret` is base64, optionally prefixed `whsec_` (as the package takes it).
 */
export function standardSigner(secret: string): Sign {
  let webhook: Promise<{ sign(id: string, timestamp: Date, body: string): string }> | undefined;
  return async (id, timestamp, body) => {
    webhook ??= import('standardwebhooks').then(({ Webhook }) => new Webhook(secret));
    return (await webhook).sign(id, timestamp, body);
  };
}

/**
 * Whether a secret is usable: base64 (optionally `whsec_`-prefixed) of at least 16 bytes. Checked at start-up,
 * without loading the package, so a bad secret stops the server rather than every delivery.
 */
export function secretProblem(secret: string): string | null {
  const encoded = secret.startsWith('whsec_') ? secret.slice('whsec_'.length) : secret;
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(encoded) || encoded.length % 4 !== 0) {
    return 'the webhook secret must be base64 (optionally prefixed whsec_)';
  }
  if (Buffer.from(encoded, 'base64').length < 16) return 'the webhook secret must be at least 16 bytes';
  return null;
}
