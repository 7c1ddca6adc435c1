import { describe, expect, it } from 'vitest';
import { codeOf } from '../tests/helpers/errors.ts';
import { addressList } from './http.ts';

describe('who may read /metrics', () => {
  it('takes addresses and CIDR ranges, IPv4, IPv6 and IPv4 seen through IPv6', () => {
    const allowed = addressList(['127.0.0.1', '::1', '10.0.0.0/8', 'fd00::/8']);
    expect(['127.0.0.1', '::1', '10.20.30.40', '::ffff:10.1.2.3', 'fd12::1'].map(allowed)).toEqual([true, true, true, true, true]);
    expect(['127.0.0.2', '11.0.0.1', '::2', 'fe80::1', '::ffff:192.168.1.1', 'nonsense'].map(allowed)).toEqual([false, false, false, false, false, false]);
    expect(addressList([])('127.0.0.1')).toBe(false);
  });

  it('refuses what is not an address or a range, naming it', async () => {
    expect(await codeOf(() => addressList(['localhost']))).toBe('CONFIG_INVALID');
    expect(await codeOf(() => addressList(['10.0.0.0/33']))).toBe('CONFIG_INVALID');
    expect(await codeOf(() => addressList(['::/129']))).toBe('CONFIG_INVALID');
  });
});
