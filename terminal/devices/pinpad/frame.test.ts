import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type PasserelleError, isPasserelleError } from '../../../protocol/errors.ts';
import { FrameParser, MAX_FRAME_BYTES, MAX_PAYLOAD_BYTES, STX, crc16, encodeFrame } from './frame.ts';

function collect(opts: { nowMs?: () => number } = {}): { parser: FrameParser; errors: PasserelleError[] } {
  const errors: PasserelleError[] = [];
  const parser = new FrameParser({ ...opts, onError: (e) => errors.push(e) });
  return { parser, errors };
}

function reasons(errors: PasserelleError[]): unknown[] {
  return errors.map((e) => e.details?.['reason']);
}

/** Split `bytes` at the given cut points (any numbers; taken modulo the length). */
function chunked(bytes: Uint8Array, cuts: readonly number[]): Uint8Array[] {
  const points = [...new Set(cuts.map((c) => (bytes.length === 0 ? 0 : c % bytes.length)))].sort((a, b) => a - b);
  const out: Uint8Array[] = [];
  let start = 0;
  for (const p of points) {
    out.push(bytes.subarray(start, p));
    start = p;
  }
  out.push(bytes.subarray(start));
  return out;
}

describe('CRC-16/CCITT-FALSE', () => {
  it('gives the standard check value for "123456789"', () => {
    expect(crc16(Buffer.from('123456789', 'ascii'))).toBe(0x29b1);
  });

  it('is 0xFFFF over nothing (its initial value)', () => {
    expect(crc16(new Uint8Array())).toBe(0xffff);
  });
});

describe('frame encoding', () => {
  it('lays out STX, length, payload and CRC over length and payload', () => {
    const frame = encodeFrame(Buffer.from([0x01, 0x10]));
    expect([...frame.subarray(0, 5)]).toEqual([STX, 0x00, 0x02, 0x01, 0x10]);
    expect(frame.readUInt16BE(5)).toBe(crc16(frame, 1, 5));
  });

  it('refuses an empty or over-long payload with PAD_FRAME_INVALID', () => {
    for (const size of [0, MAX_PAYLOAD_BYTES + 1]) {
      expect(() => encodeFrame(new Uint8Array(size))).toThrow(expect.objectContaining({ code: 'PAD_FRAME_INVALID' }));
    }
  });
});

describe('frame parser', () => {
  it('finds a frame delivered one byte at a time', () => {
    const { parser } = collect();
    const frame = encodeFrame(Buffer.from('hello'));
    const found = [...frame].flatMap((b) => parser.push(Uint8Array.of(b)));
    expect(found.map((f) => f.toString())).toEqual(['hello']);
    expect(parser.stats.frames).toBe(1);
  });

  it('finds back-to-back frames in one chunk', () => {
    const { parser } = collect();
    const found = parser.push(Buffer.concat([encodeFrame(Buffer.from('a')), encodeFrame(Buffer.from('bc'))]));
    expect(found.map((f) => f.toString())).toEqual(['a', 'bc']);
  });

  it('skips garbage between frames and counts it', () => {
    const { parser, errors } = collect();
    const found = parser.push(Buffer.concat([Buffer.from([0xff, 0x00, 0x41]), encodeFrame(Buffer.from('ok')), Buffer.from([0x99])]));
    expect(found.map((f) => f.toString())).toEqual(['ok']);
    expect(parser.stats.garbageBytes).toBe(4);
    expect(reasons(errors)).toEqual(['garbage', 'garbage']);
    expect(errors.every((e) => isPasserelleError(e, 'PAD_FRAME_INVALID'))).toBe(true);
  });

  it('rejects a bad CRC and resynchronises on the next STX', () => {
    const { parser, errors } = collect();
    const bad = encodeFrame(Buffer.from('bad'));
    bad[bad.length - 1] = (bad[bad.length - 1] as number) ^ 0x01;
    const found = parser.push(Buffer.concat([bad, encodeFrame(Buffer.from('good'))]));
    expect(found.map((f) => f.toString())).toEqual(['good']);
    expect(parser.stats.badCrc).toBe(1);
    expect(reasons(errors)).toContain('bad-crc');
  });

  it('rejects a zero or over-long length at once', () => {
    const { parser, errors } = collect();
    const found = parser.push(Buffer.concat([Buffer.from([STX, 0x00, 0x00]), Buffer.from([STX, 0xff, 0xff]), encodeFrame(Buffer.from('x'))]));
    expect(found.map((f) => f.toString())).toEqual(['x']);
    expect(parser.stats.badLength).toBe(2);
    expect(reasons(errors).filter((r) => r === 'bad-length')).toHaveLength(2);
  });

  it('finds a frame right after a stray STX, because STX read as a length is out of range', () => {
    const { parser } = collect();
    const found = parser.push(Buffer.concat([Buffer.from([STX]), encodeFrame(Buffer.from('after'))]));
    expect(found.map((f) => f.toString())).toEqual(['after']);
  });

  it('drops a partial frame cut by a silence longer than the inter-byte timeout', () => {
    let now = 0;
    const { parser, errors } = collect({ nowMs: () => now });
    // A stray STX with a plausible length would otherwise swallow the next frame.
    expect(parser.push(Buffer.from([STX, 0x00, 0x40, 0x01]))).toEqual([]);
    now += 1_000;
    expect(parser.push(encodeFrame(Buffer.from('next'))).map((f) => f.toString())).toEqual(['next']);
    expect(parser.stats.truncated).toBe(1);
    expect(reasons(errors)).toContain('truncated');
  });

  it('survives a listener that throws', () => {
    const parser = new FrameParser({
      onError: () => {
        throw new Error('bad listener');
      },
    });
    expect(parser.push(Buffer.concat([Buffer.from([0x55]), encodeFrame(Buffer.from('y'))])).map((f) => f.toString())).toEqual(['y']);
  });
});

describe('frame parser under fuzzing', () => {
  const payloadArb = fc.uint8Array({ minLength: 1, maxLength: 64 });

  it('never throws, never holds more than one frame, and reports only PAD_FRAME_INVALID errors with a reason', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 3000 }), fc.array(fc.nat(), { maxLength: 20 }), (bytes, cuts) => {
        const { parser, errors } = collect();
        for (const chunk of chunked(bytes, cuts)) {
          parser.push(chunk);
          expect(parser.buffered).toBeLessThan(MAX_FRAME_BYTES);
        }
        for (const e of errors) {
          expect(isPasserelleError(e, 'PAD_FRAME_INVALID')).toBe(true);
          expect(['bad-crc', 'bad-length', 'garbage', 'truncated']).toContain(e.details?.['reason']);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('finds every valid frame embedded in garbage, however the bytes are chunked', () => {
    // Garbage is free of STX here; garbage that holds STX is covered by the silence test below.
    const garbageArb = fc.uint8Array({ maxLength: 40 }).map((g) => g.map((b) => (b === STX ? 0x03 : b)));
    fc.assert(
      fc.property(fc.array(fc.tuple(garbageArb, payloadArb), { minLength: 1, maxLength: 8 }), garbageArb, fc.array(fc.nat(), { maxLength: 12 }), (parts, tail, cuts) => {
        const stream = Buffer.concat([...parts.flatMap(([g, p]) => [g, encodeFrame(p)]), tail]);
        const { parser } = collect();
        const found = chunked(stream, cuts).flatMap((c) => parser.push(c));
        expect(found.map((f) => Buffer.from(f).toString('hex'))).toEqual(parts.map(([, p]) => Buffer.from(p).toString('hex')));
      }),
      { numRuns: 300 },
    );
  });

  it('finds a valid frame after any garbage once the line has been quiet', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), payloadArb, (garbage, payload) => {
        let now = 0;
        const { parser } = collect({ nowMs: () => now });
        parser.push(garbage);
        now += 1_000;
        const found = parser.push(encodeFrame(payload));
        expect(found.map((f) => Buffer.from(f).toString('hex'))).toContain(Buffer.from(payload).toString('hex'));
      }),
      { numRuns: 300 },
    );
  });

  it('never accepts a mutated frame as the original, and still finds the frame that follows', () => {
    const mutation = fc.oneof(
      fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
      fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
      fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }),
    );
    fc.assert(
      fc.property(payloadArb, mutation, payloadArb, (payload, m, nextPayload) => {
        const frame = Buffer.from(encodeFrame(payload));
        const at = m.at % frame.length;
        let mutated: Buffer;
        if (m.kind === 'flip') {
          frame[at] = (frame[at] as number) ^ (1 << m.bit);
          mutated = frame;
        } else if (m.kind === 'truncate') {
          mutated = frame.subarray(0, at);
        } else {
          mutated = Buffer.concat([frame.subarray(0, at + 1), Buffer.from([m.byte]), frame.subarray(at + 1)]);
        }
        let now = 0;
        const { parser, errors } = collect({ nowMs: () => now });
        const first = parser.push(mutated);
        // Every single-bit error and every burst up to 16 bits is caught by a CRC-16.
        if (m.kind === 'flip') expect(first.map((f) => Buffer.from(f).toString('hex'))).not.toContain(Buffer.from(payload).toString('hex'));
        now += 1_000;
        const next = parser.push(encodeFrame(nextPayload));
        expect(next.map((f) => Buffer.from(f).toString('hex'))).toContain(Buffer.from(nextPayload).toString('hex'));
        expect(errors.every((e) => isPasserelleError(e, 'PAD_FRAME_INVALID'))).toBe(true);
      }),
      { numRuns: 500 },
    );
  });
});
