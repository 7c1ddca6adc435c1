import fc from 'fast-check';
import mqttPacket from 'mqtt-packet';
import { describe, expect, it } from 'vitest';
import { fixedHeader } from '../tests/helpers/mqtt-bytes.ts';
import { PacketSizeScanner, type PacketLimits } from './mqtt-guard.ts';

const LIMITS: PacketLimits = { maxConnectBytes: 512, maxPacketBytes: 17 * 1024 };

const connect = (password = 'x'.repeat(120)) =>
  mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, keepalive: 30, clientId: 'T-LIB-LYON-01', username: 'T-LIB-LYON-01', password: Buffer.from(password) });
const publish = (bytes: number) => mqttPacket.generate({ cmd: 'publish', topic: 'passerelle/v1/terminal/T-LIB-LYON-01/request', payload: Buffer.alloc(bytes, 0x41), qos: 1, messageId: 7, retain: false, dup: false });

/** A fixed header declaring `length` bytes, and nothing after it. */
const header = (type: number, length: number) => fixedHeader(type, length);

describe('MQTT packet size scanner', () => {
  it('lets a real CONNECT, then requests and pings through, whole or byte by byte', () => {
    const stream = Buffer.concat([connect(), publish(16 * 1024), mqttPacket.generate({ cmd: 'pingreq' }), publish(10)]);
    expect(new PacketSizeScanner(LIMITS).feed(stream)).toBeNull();
    const s = new PacketSizeScanner(LIMITS);
    for (const b of stream) expect(s.feed(Buffer.from([b]))).toBeNull();
  });

  it('refuses a CONNECT declaring 250 MB on the length bytes, before any of its body', () => {
    const v = new PacketSizeScanner(LIMITS).feed(header(1, 250 * 1024 * 1024));
    expect(v).toEqual({ kind: 'too-large', declared: expect.any(Number), limit: 512, first: true });
    // Already on the second length byte: the rest never has to arrive.
    expect(new PacketSizeScanner(LIMITS).feed(header(1, 250 * 1024 * 1024).subarray(0, 3))).toMatchObject({ kind: 'too-large' });
  });

  it('refuses a later packet over its own limit, and anything but a CONNECT first', () => {
    const s = new PacketSizeScanner(LIMITS);
    expect(s.feed(connect())).toBeNull();
    expect(s.feed(header(3, 17 * 1024 + 1))).toMatchObject({ kind: 'too-large', limit: 17 * 1024, first: false });
    expect(new PacketSizeScanner(LIMITS).feed(publish(10))).toEqual({ kind: 'not-connect', type: 3 });
  });

  it('refuses a length of five varint bytes', () => {
    const s = new PacketSizeScanner({ maxConnectBytes: 512, maxPacketBytes: Number.MAX_SAFE_INTEGER });
    expect(s.feed(connect())).toBeNull();
    expect(s.feed(Buffer.from([0x30, 0x80, 0x80, 0x80, 0x80, 0x01]))).toEqual({ kind: 'malformed-length' });
  });

  it('whatever the chunking of a valid stream, it never complains; whatever garbage, it never throws', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 20_000 }), { maxLength: 6 }), fc.array(fc.integer({ min: 1, max: 4096 }), { minLength: 1, maxLength: 20 }), (sizes, cuts) => {
        const stream = Buffer.concat([connect(), ...sizes.map((n) => publish(Math.min(n, 16 * 1024)))]);
        const s = new PacketSizeScanner(LIMITS);
        let at = 0;
        for (let i = 0; at < stream.length; i++) {
          const n = cuts[i % cuts.length]!;
          expect(s.feed(stream.subarray(at, at + n))).toBeNull();
          at += n;
        }
      }),
    );
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2048 }), (junk) => {
        const v = new PacketSizeScanner(LIMITS).feed(junk);
        expect(v === null || typeof v.kind === 'string').toBe(true);
      }),
    );
  });
});
