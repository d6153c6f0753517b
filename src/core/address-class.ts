/**
 * What kind of network an IP address belongs to, for the webhook SSRF guard: a webhook target is a URL the
 * submitter chose, and the server would otherwise POST wherever it points — its own loopback, the cluster's
 * private network, a cloud metadata service. Pure: parsing and prefix matching, no resolving.
 */
export type AddressClass =
  | 'public'
  | 'loopback'
  /** RFC 1918, IPv6 unique-local (fc00::/7) and the deprecated site-local fec0::/10. */
  | 'private'
  | 'link_local'
  /** Carrier-grade NAT, 100.64.0.0/10 (RFC 6598): shared, provider-internal address space. */
  | 'cgnat'
  /** A cloud provider's instance metadata service: credentials live there. */
  | 'metadata'
  | 'unspecified'
  /** Multicast, and the IPv4 limited broadcast. */
  | 'multicast'
  /** Documentation, benchmarking, IETF protocol assignments, 240/4 and other special-purpose ranges. */
  | 'reserved';

/** Refused whatever `--webhook-allow-private` says: never a receiver, and the metadata service is the prize. */
const ALWAYS_REFUSED: ReadonlySet<AddressClass> = new Set(['metadata', 'unspecified', 'multicast']);

/**
 * Whether a webhook may be sent to an address of this class. `allowPrivate` (`--webhook-allow-private`)
 * admits loopback, private, link-local, CGNAT and reserved addresses, for receivers on an internal network;
 * metadata services, the unspecified address and multicast are refused even then.
 */
export function isAllowedTarget(kind: AddressClass, allowPrivate: boolean): boolean {
  if (kind === 'public') return true;
  return allowPrivate && !ALWAYS_REFUSED.has(kind);
}

interface Range {
  readonly prefix: readonly number[];
  readonly bits: number;
  readonly kind: AddressClass;
}

const range = (prefix: readonly number[], bits: number, kind: AddressClass): Range => ({
  prefix,
  bits,
  kind,
});

/** Cloud metadata endpoints (AWS/GCP/Azure/OpenStack, AWS ECS task metadata, Alibaba, Azure's wire server). */
const METADATA_V4 = ['169.254.169.254', '169.254.170.2', '100.100.100.200', '168.63.129.16'];
/** AWS's IPv6 instance metadata endpoint. */
const METADATA_V6 = 'fd00:ec2::254';

/** Most specific first: the first match wins. */
const V4_RANGES: readonly Range[] = [
  range([0], 8, 'unspecified'),
  range([10], 8, 'private'),
  range([100, 64], 10, 'cgnat'),
  range([127], 8, 'loopback'),
  range([169, 254], 16, 'link_local'),
  range([172, 16], 12, 'private'),
  range([192, 0, 0], 24, 'reserved'),
  range([192, 0, 2], 24, 'reserved'),
  range([192, 88, 99], 24, 'reserved'),
  range([192, 168], 16, 'private'),
  range([198, 18], 15, 'reserved'),
  range([198, 51, 100], 24, 'reserved'),
  range([203, 0, 113], 24, 'reserved'),
  range([224], 4, 'multicast'),
  range([255, 255, 255, 255], 32, 'multicast'),
  range([240], 4, 'reserved'),
];

const V6_RANGES: readonly Range[] = [
  range([0x01, 0x00, 0, 0, 0, 0, 0, 0], 64, 'reserved'),
  range([0x20, 0x01, 0x0d, 0xb8], 32, 'reserved'),
  range([0x00, 0x64, 0xff, 0x9b, 0x00, 0x01], 48, 'private'),
  range([0xfc], 7, 'private'),
  range([0xfe, 0x80], 10, 'link_local'),
  range([0xfe, 0xc0], 10, 'private'),
  range([0xff], 8, 'multicast'),
];

/**
 * The class of an IP address (IPv4 dotted decimal, or IPv6 with an optional zone and embedded IPv4), or null
 * when the text is not an IP address. An IPv6 address that carries an IPv4 one (IPv4-mapped ::ffff:0:0/96,
 * IPv4-compatible ::/96, NAT64 64:ff9b::/96, 6to4 2002::/16) is classed by that IPv4 address: that is where
 * the packets end up.
 */
export function classifyAddress(text: string): AddressClass | null {
  const v4 = parseIpv4(text);
  if (v4) return classifyV4(v4);
  const v6 = parseIpv6(text);
  return v6 ? classifyV6(v6) : null;
}

function classifyV4(bytes: readonly number[]): AddressClass {
  if (METADATA_V4.includes(bytes.join('.'))) return 'metadata';
  return V4_RANGES.find((r) => matches(bytes, r))?.kind ?? 'public';
}

function classifyV6(bytes: readonly number[]): AddressClass {
  const zeros = (from: number, to: number) => bytes.slice(from, to).every((b) => b === 0);
  if (zeros(0, 16)) return 'unspecified';
  if (zeros(0, 15) && bytes[15] === 1) return 'loopback';
  const metadata = parseIpv6(METADATA_V6);
  if (metadata && metadata.every((b, i) => b === bytes[i])) return 'metadata';
  const mapped = zeros(0, 10) && bytes[10] === 0xff && bytes[11] === 0xff;
  const compatible = zeros(0, 12);
  const nat64 = matches(bytes, range([0x00, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0], 96, 'public'));
  if (mapped || compatible || nat64) return classifyV4(bytes.slice(12, 16));
  if (bytes[0] === 0x20 && bytes[1] === 0x02) return classifyV4(bytes.slice(2, 6));
  return V6_RANGES.find((r) => matches(bytes, r))?.kind ?? 'public';
}

function matches(bytes: readonly number[], r: Range): boolean {
  for (let bit = 0; bit < r.bits; bit += 8) {
    const left = Math.min(8, r.bits - bit);
    const mask = (0xff << (8 - left)) & 0xff;
    const index = bit / 8;
    if (((bytes[index] ?? 0) & mask) !== ((r.prefix[index] ?? 0) & mask)) return false;
  }
  return true;
}

/** Strict dotted decimal (the WHATWG URL parser already turned `127.1` or `0x7f.0.0.1` into this form). */
function parseIpv4(text: string): number[] | null {
  const parts = text.split('.');
  if (parts.length !== 4) return null;
  const bytes = parts.map((part) => (/^\d{1,3}$/.test(part) ? Number(part) : NaN));
  return bytes.every((b) => b <= 255) ? bytes : null;
}

function parseIpv6(input: string): number[] | null {
  let text = input.startsWith('[') && input.endsWith(']') ? input.slice(1, -1) : input;
  const zone = text.indexOf('%');
  if (zone >= 0) text = text.slice(0, zone);
  if (!text.includes(':')) return null;
  const lastColon = text.lastIndexOf(':');
  const tail = text.slice(lastColon + 1);
  if (tail.includes('.')) {
    const v4 = parseIpv4(tail);
    if (!v4) return null;
    const hex = (hi: number, lo: number) => ((hi << 8) | lo).toString(16);
    text = `${text.slice(0, lastColon + 1)}${hex(v4[0]!, v4[1]!)}:${hex(v4[2]!, v4[3]!)}`;
  }
  const halves = text.split('::');
  if (halves.length > 2) return null;
  const groupsOf = (part: string) => (part === '' ? [] : part.split(':'));
  const head = groupsOf(halves[0] ?? '');
  const rest = halves.length === 2 ? groupsOf(halves[1] ?? '') : [];
  const missing = 8 - head.length - rest.length;
  if (halves.length === 1 ? missing !== 0 : missing < 1) return null;
  const groups = [...head, ...Array<string>(halves.length === 2 ? missing : 0).fill('0'), ...rest];
  if (!groups.every((g) => /^[0-9a-f]{1,4}$/i.test(g))) return null;
  return groups.flatMap((g) => {
    const value = parseInt(g, 16);
    return [value >> 8, value & 0xff];
  });
}
