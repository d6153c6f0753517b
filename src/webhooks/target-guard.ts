import { lookup as dnsLookup } from 'node:dns/promises';
import { classifyAddress, isAllowedTarget } from '../core/index.js';

/** A name's addresses, as `dns.lookup(name, { all: true })` answers them. */
export type LookupAll = (hostname: string) => Promise<{ address: string; family: number }[]>;

export const systemLookup: LookupAll = (hostname) => dnsLookup(hostname, { all: true, verbatim: true });

/** The target may not be used: the message says why, without echoing more than the host. */
export class TargetRefused extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TargetRefused';
  }
}

export interface CheckedTarget {
  readonly url: URL;
  /** The address that was checked; the request connects to this one and no other (no second resolution). */
  readonly address: string;
  readonly family: 4 | 6;
}

export interface TargetPolicy {
  readonly allowPrivate: boolean;
  readonly lookup?: LookupAll;
}

/**
 * Resolves a webhook URL's host and checks every address it resolves to (a name that resolves to a public
 * and a private address is refused: which one a connection would use is not ours to pick). Run at submission
 * and again before every attempt, because the name may resolve elsewhere by then (DNS rebinding).
 *
 * @throws TargetRefused for a scheme other than http(s), a host that does not resolve, or a refused address
 */
export async function checkTarget(raw: string, policy: TargetPolicy): Promise<CheckedTarget> {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new TargetRefused('is not an absolute URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new TargetRefused('must be http or https');
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  const addresses =
    classifyAddress(host) !== null
      ? [{ address: host, family: host.includes(':') ? 6 : 4 }]
      : await resolve(host, policy.lookup ?? systemLookup);
  for (const { address } of addresses) {
    const kind = classifyAddress(address) ?? 'reserved';
    if (!isAllowedTarget(kind, policy.allowPrivate)) {
      const hint = policy.allowPrivate
        ? ''
        : ' (a receiver on an internal network needs --webhook-allow-private)';
      throw new TargetRefused(
        `host ${host} is a ${kind.replace('_', '-')} address (${address}), refused${hint}`,
      );
    }
  }
  const first = addresses[0]!;
  return { url, address: first.address, family: first.family === 6 ? 6 : 4 };
}

async function resolve(host: string, lookup: LookupAll): Promise<{ address: string; family: number }[]> {
  let addresses: { address: string; family: number }[];
  try {
    addresses = await lookup(host);
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    throw new TargetRefused(`host ${host} does not resolve${typeof code === 'string' ? ` (${code})` : ''}`);
  }
  if (addresses.length === 0) throw new TargetRefused(`host ${host} does not resolve`);
  return addresses;
}
