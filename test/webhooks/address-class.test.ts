import { describe, expect, it } from 'vitest';
import { classifyAddress, isAllowedTarget, type AddressClass } from '../../src/core/index.js';

const cases: [string, AddressClass | null][] = [
  ['8.8.8.8', 'public'],
  ['1.1.1.1', 'public'],
  ['127.0.0.1', 'loopback'],
  ['127.255.255.254', 'loopback'],
  ['10.1.2.3', 'private'],
  ['172.16.0.1', 'private'],
  ['172.31.255.255', 'private'],
  ['172.32.0.1', 'public'],
  ['192.168.1.1', 'private'],
  ['169.254.1.1', 'link_local'],
  ['169.254.169.254', 'metadata'],
  ['169.254.170.2', 'metadata'],
  ['100.100.100.200', 'metadata'],
  ['100.64.0.1', 'cgnat'],
  ['100.127.255.255', 'cgnat'],
  ['100.128.0.1', 'public'],
  ['0.0.0.0', 'unspecified'],
  ['0.1.2.3', 'unspecified'],
  ['224.0.0.1', 'multicast'],
  ['239.255.255.250', 'multicast'],
  ['255.255.255.255', 'multicast'],
  ['240.0.0.1', 'reserved'],
  ['192.0.2.10', 'reserved'],
  ['198.18.0.1', 'reserved'],
  ['::', 'unspecified'],
  ['::1', 'loopback'],
  ['[::1]', 'loopback'],
  ['0:0:0:0:0:0:0:1', 'loopback'],
  ['2606:4700:4700::1111', 'public'],
  ['fc00::1', 'private'],
  ['fd12:3456::1', 'private'],
  ['fd00:ec2::254', 'metadata'],
  ['fe80::1%eth0', 'link_local'],
  ['febf::1', 'link_local'],
  ['fec0::1', 'private'],
  ['ff02::1', 'multicast'],
  ['2001:db8::1', 'reserved'],
  ['::ffff:127.0.0.1', 'loopback'],
  ['::ffff:7f00:1', 'loopback'],
  ['::ffff:169.254.169.254', 'metadata'],
  ['::ffff:8.8.8.8', 'public'],
  ['::10.0.0.1', 'private'],
  ['64:ff9b::a00:1', 'private'],
  ['64:ff9b::808:808', 'public'],
  ['2002:c0a8:101::1', 'private'],
  ['2002:808:808::1', 'public'],
  ['example.com', null],
  ['1.2.3', null],
  ['256.1.1.1', null],
  ['1:2:3:4:5:6:7:8:9', null],
  ['1::2::3', null],
  ['::ffff:1.2.3.999', null],
  ['12345::', null],
];

describe('classifyAddress', () => {
  it.each(cases)('%s is %s', (address, expected) => {
    expect(classifyAddress(address)).toBe(expected);
  });
});

describe('isAllowedTarget', () => {
  it('admits only public addresses by default', () => {
    expect(isAllowedTarget('public', false)).toBe(true);
    for (const kind of ['loopback', 'private', 'link_local', 'cgnat', 'reserved', 'metadata'] as const) {
      expect(isAllowedTarget(kind, false)).toBe(false);
    }
  });

  it('admits internal networks with --webhook-allow-private, never metadata, unspecified or multicast', () => {
    for (const kind of ['loopback', 'private', 'link_local', 'cgnat', 'reserved'] as const) {
      expect(isAllowedTarget(kind, true)).toBe(true);
    }
    for (const kind of ['metadata', 'unspecified', 'multicast'] as const) {
      expect(isAllowedTarget(kind, true)).toBe(false);
    }
  });
});
