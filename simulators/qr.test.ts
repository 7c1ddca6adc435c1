import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { PNG } from 'pngjs';
import { mjpegStream, renderBlankFrame, renderQrFrame } from './qr-render.ts';
import { decodeQrFrame } from '../terminal/qr-decode.ts';
import { isPasserelleError } from '../protocol/errors.ts';

/** Runs `fn` and returns the QR_UNREADABLE reason it threw, failing the test on anything else. */
function unreadableReason(fn: () => unknown): unknown {
  try {
    fn();
  } catch (e) {
    expect(isPasserelleError(e, 'QR_UNREADABLE')).toBe(true);
    return isPasserelleError(e) ? e.details?.['reason'] : undefined;
  }
  throw new Error('expected decodeQrFrame to throw');
}

function blankFrame(width: number, height: number): Buffer {
  const png = new PNG({ width, height });
  png.data.fill(200);
  return PNG.sync.write(png);
}

describe('renderQrFrame / decodeQrFrame round trips', () => {
  const payloads = [
    'hi',
    'PR1:C:4970123456789012',
    'PR1:C:4970123456789012;M:PASSREGION-0042;T:20240611T101500Z;N:7', // 60+ chars, mixed case
    'Crème brûlée à Noël, façade, œuvre — 日本語',
    '0123456789',
  ];
  for (const text of payloads) {
    it(`reads back ${JSON.stringify(text)}`, () => {
      expect(decodeQrFrame(renderQrFrame(text))).toBe(text);
    });
  }

  it('produces a 1280x720 PNG by default', () => {
    const png = PNG.sync.read(renderQrFrame('size'));
    expect([png.width, png.height]).toEqual([1280, 720]);
  });

  it('reads a code placed off-centre, near a corner', () => {
    const frame = renderQrFrame('PR1:C:4970123456789012', { offsetX: 40, offsetY: 380 });
    expect(decodeQrFrame(frame)).toBe('PR1:C:4970123456789012');
  });

  it('reads a noisy frame', () => {
    const frame = renderQrFrame('PR1:C:4970123456789012', { noise: 10, seed: 42 });
    expect(decodeQrFrame(frame)).toBe('PR1:C:4970123456789012');
  });

  it('reads 4 px modules', () => {
    expect(decodeQrFrame(renderQrFrame('small modules', { moduleSizePx: 4 }))).toBe('small modules');
  });

  it('accepts a plain Uint8Array', () => {
    expect(decodeQrFrame(new Uint8Array(renderQrFrame('bytes')))).toBe('bytes');
  });

  it('renders JPEG, blurred and damaged frames deterministically', () => {
    const opts = { width: 320, height: 240, moduleSizePx: 4, format: 'jpeg', blurRadiusPx: 1, damageModules: 10, noise: 5, seed: 9 } as const;
    const a = renderQrFrame('seeded', opts);
    expect(a.subarray(0, 3).toString('hex')).toBe('ffd8ff');
    expect(a.equals(renderQrFrame('seeded', opts))).toBe(true);
    expect(a.equals(renderQrFrame('seeded', { ...opts, damageModules: 11 }))).toBe(false);
    expect(mjpegStream([a, a]).length).toBe(2 * a.length);
  });

  it('is deterministic for a given seed', () => {
    const a = renderQrFrame('seeded', { noise: 30, seed: 7, width: 320, height: 240, moduleSizePx: 4 });
    const b = renderQrFrame('seeded', { noise: 30, seed: 7, width: 320, height: 240, moduleSizePx: 4 });
    const c = renderQrFrame('seeded', { noise: 30, seed: 8, width: 320, height: 240, moduleSizePx: 4 });
    expect(a.equals(b)).toBe(true);
    expect(a.equals(c)).toBe(false);
  });

  it('reads random ASCII payloads (property)', { timeout: 60_000 }, () => {
    const payload = fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 120 });
    const options = fc.record({ noise: fc.integer({ min: 0, max: 10 }), seed: fc.integer({ min: 0, max: 1_000_000 }) });
    fc.assert(
      fc.property(payload, options, (text, opts) => {
        // A smaller frame keeps the property fast; the code still has 4 px modules.
        const frame = renderQrFrame(text, { ...opts, width: 640, height: 480, moduleSizePx: 4 });
        expect(decodeQrFrame(frame)).toBe(text);
      }),
      { seed: 20240611, numRuns: 40 },
    );
  });
});

describe('renderQrFrame argument checks', () => {
  it('rejects empty text', () => {
    expect(() => renderQrFrame('')).toThrow(RangeError);
  });

  it('rejects text longer than 1000 chars', () => {
    expect(() => renderQrFrame('a'.repeat(1001))).toThrow(/1001 chars/);
  });

  it('rejects a code that does not fit in the frame', () => {
    expect(() => renderQrFrame('hello', { width: 100, height: 100 })).toThrow(/does not fit/);
    expect(() => renderQrFrame('hello', { offsetX: 1200 })).toThrow(/does not fit/);
  });

  it('rejects out-of-range camera options', () => {
    expect(() => renderQrFrame('hello', { format: 'jpeg', jpegQuality: 0 })).toThrow(RangeError);
    expect(() => renderQrFrame('hello', { blurRadiusPx: 5 })).toThrow(RangeError);
    expect(() => renderQrFrame('hello', { damageModules: -1 })).toThrow(RangeError);
    expect(() => renderBlankFrame({ width: 0 })).toThrow(RangeError);
  });

  it('rejects out-of-range options', () => {
    expect(() => renderQrFrame('hello', { noise: 65 })).toThrow(RangeError);
    expect(() => renderQrFrame('hello', { moduleSizePx: 2.5 })).toThrow(RangeError);
    expect(() => renderQrFrame('hello', { offsetX: -1 })).toThrow(RangeError);
  });
});

describe('decodeQrFrame failures are QR_UNREADABLE', () => {
  it('blank frame', () => {
    expect(unreadableReason(() => decodeQrFrame(blankFrame(1280, 720)))).toBe('not-found');
  });

  it('random bytes', () => {
    const bytes = Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919 + 13) % 256));
    expect(unreadableReason(() => decodeQrFrame(bytes))).toBe('not-image');
  });

  it('empty input', () => {
    expect(unreadableReason(() => decodeQrFrame(new Uint8Array(0)))).toBe('not-image');
  });

  it('truncated PNG', () => {
    const frame = renderQrFrame('truncated');
    expect(unreadableReason(() => decodeQrFrame(frame.subarray(0, Math.floor(frame.length / 2))))).toBe('corrupt-png');
    expect(unreadableReason(() => decodeQrFrame(frame.subarray(0, 20)))).toBe('corrupt-png');
  });

  it('PNG with a flipped byte in its pixel data', () => {
    const frame = Buffer.from(renderQrFrame('crc'));
    frame[frame.length - 20] = (frame[frame.length - 20] ?? 0) ^ 0xff;
    expect(unreadableReason(() => decodeQrFrame(frame))).toBe('corrupt-png');
  });

  it('PNG header declaring 100000x100000, refused before any pixel is read', () => {
    const frame = Buffer.from(renderQrFrame('huge'));
    frame.writeUInt32BE(100_000, 16);
    frame.writeUInt32BE(100_000, 20);
    expect(unreadableReason(() => decodeQrFrame(frame))).toBe('bad-size');
  });

  it('PNG header declaring a zero width', () => {
    const frame = Buffer.from(renderQrFrame('zero'));
    frame.writeUInt32BE(0, 16);
    expect(unreadableReason(() => decodeQrFrame(frame))).toBe('bad-size');
  });
});
