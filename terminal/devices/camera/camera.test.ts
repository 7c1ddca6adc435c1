import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync, renameSync, utimesSync, existsSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import fc from 'fast-check';
import jpeg from 'jpeg-js';
import { PasserelleError, isPasserelleError } from '../../../protocol/errors.ts';
import { settledCode, until } from '../../../tests/helpers/errors.ts';
import { mjpegStream, renderBlankFrame, renderQrFrame } from '../../../simulators/qr-render.ts';
import type { FrameSource } from './frame-source.ts';
import { MjpegSplitter } from './mjpeg-splitter.ts';
import { MjpegStreamFrameSource } from './mjpeg-stream.ts';
import { CameraQrSource } from './qr-source.ts';
import { DirectoryFrameSource } from './spool.ts';

const CARD_QR = 'PR1:C:4970123456789012';
const codeOf = (p: Promise<unknown>) => settledCode(p);

const never = (): AbortSignal => new AbortController().signal;

/**
 * Options that let every frame be decoded: a clock that jumps a second at each reading, so the decode
 * rate bound never skips a frame. Tests of the bound itself use their own clock.
 */
function unbounded(): { monotonicMs: () => number } {
  let nowMs = 0;
  return { monotonicMs: () => (nowMs += 1000) };
}

const tinyJpegs = new Map<string, Buffer>();

/** A small real JPEG, e.g. for the splitter; `seed` varies its content. Memoised: properties reuse them. */
function tinyJpeg(seed: number, side = 16): Buffer {
  const key = `${seed}/${side}`;
  const known = tinyJpegs.get(key);
  if (known !== undefined) return known;
  const made = encodeTinyJpeg(seed, side);
  tinyJpegs.set(key, made);
  return made;
}

function encodeTinyJpeg(seed: number, side: number): Buffer {
  const data = Buffer.alloc(side * side * 4);
  for (let i = 0; i < data.length; i++) data[i] = (i * 31 + seed * 17) & 0xff;
  return jpeg.encode({ data, width: side, height: side }, 70).data;
}

/** A JPEG with an APP1 segment holding an EXIF-like thumbnail, whose own FF D9 is not the frame's end. */
function jpegWithThumbnail(seed: number): Buffer {
  const frame = tinyJpeg(seed);
  const thumb = tinyJpeg(seed + 1, 8);
  const payload = Buffer.concat([Buffer.from('Exif\0\0', 'latin1'), thumb]);
  const app1 = Buffer.alloc(4);
  app1.writeUInt16BE(0xffe1, 0);
  app1.writeUInt16BE(payload.length + 2, 2);
  return Buffer.concat([frame.subarray(0, 2), app1, payload, frame.subarray(2)]);
}

/** Feeds `bytes` to a splitter in chunks cut at `cuts`. */
function split(splitter: MjpegSplitter, bytes: Buffer, cuts: number[] = []): Buffer[] {
  const frames: Buffer[] = [];
  let start = 0;
  for (const cut of [...cuts].sort((a, b) => a - b)) {
    const end = Math.min(bytes.length, Math.max(start, cut));
    frames.push(...splitter.push(bytes.subarray(start, end)));
    start = end;
  }
  frames.push(...splitter.push(bytes.subarray(start)));
  return frames;
}


/** Frames handed out one every 10 ms of a hand-moved clock (which a slow decoder may move too), then the source ends. */
function framesEvery10Ms(frames: Buffer[]): { source: FrameSource; clock: { ms: number } } {
  const clock = { ms: 0 };
  const source: FrameSource = {
    nextFrame: async () => {
      clock.ms += 10;
      const f = frames.shift();
      if (f === undefined) throw new PasserelleError('QR_READER_UNAVAILABLE', 'over');
      return f;
    },
    close: async () => {},
  };
  return { source, clock };
}
describe('MjpegSplitter', () => {
  const frames = [tinyJpeg(1), tinyJpeg(2), tinyJpeg(3)];

  it('splits concatenated JPEGs, whatever the chunking', () => {
    const stream = mjpegStream(frames);
    for (const cuts of [[], [1], [2, 3, 500], Array.from({ length: 200 }, (_, i) => i * 7)]) {
      const out = split(new MjpegSplitter(), stream, cuts);
      expect(out.map((f) => f.toString('hex'))).toEqual(frames.map((f) => f.toString('hex')));
    }
  });

  it('skips garbage between frames and counts it', () => {
    const s = new MjpegSplitter();
    const out = split(s, Buffer.concat([Buffer.from('garbage'), frames[0] ?? Buffer.alloc(0), Buffer.from([0xff, 0x00, 0x12]), frames[1] ?? Buffer.alloc(0)]));
    expect(out).toEqual([frames[0], frames[1]]);
    expect(s.stats.garbageBytes).toBe(10);
  });

  it('does not cut a frame at the end of an embedded thumbnail', () => {
    const withThumb = jpegWithThumbnail(5);
    expect(split(new MjpegSplitter(), Buffer.concat([withThumb, frames[0] ?? Buffer.alloc(0)]), [40])).toEqual([withThumb, frames[0]]);
    expect(jpeg.decode(withThumb).width).toBe(16);
  });

  it('drops a truncated frame when the next one starts, and keeps the next one', () => {
    const first = frames[0] ?? Buffer.alloc(0);
    const s = new MjpegSplitter();
    const out = split(s, Buffer.concat([first.subarray(0, first.length - 40), frames[1] ?? Buffer.alloc(0)]));
    expect(out).toEqual([frames[1]]);
    expect(s.stats.brokenFrames).toBe(1);
  });

  it('drops a frame larger than the bound, and keeps the next one', () => {
    const big = renderBlankFrame({ width: 320, height: 240, noise: 40, format: 'jpeg' });
    const s = new MjpegSplitter(4096);
    const out = split(s, Buffer.concat([big, frames[2] ?? Buffer.alloc(0)]), [1000, 3000, 9000]);
    expect(out).toEqual([frames[2]]);
    expect(s.stats.oversizedFrames).toBeGreaterThanOrEqual(1);
  });

  it('recovers every frame from garbage without FF bytes, however chunked (property)', () => {
    const garbage = fc.uint8Array({ maxLength: 50 }).map((g) => Buffer.from(g.map((b) => (b === 0xff ? 0xfe : b))));
    fc.assert(
      fc.property(fc.array(fc.tuple(garbage, fc.integer({ min: 0, max: 12 })), { minLength: 1, maxLength: 5 }), fc.array(fc.nat(3000)), (parts, cuts) => {
        const expected = parts.map(([, seed]) => (seed % 7 === 0 ? jpegWithThumbnail(seed) : tinyJpeg(seed)));
        const bytes = Buffer.concat(parts.flatMap(([g], i) => [g, expected[i] ?? Buffer.alloc(0)]));
        // Compared as hex: a deep equality of Buffers goes byte by byte through the matcher and is slow.
        const hex = (frames: Buffer[]): string[] => frames.map((f) => f.toString('hex'));
        expect(hex(split(new MjpegSplitter(), bytes, cuts))).toEqual(hex(expected));
      }),
      { seed: 11, numRuns: 100 },
    );
  });

  it('random and mutated streams: no crash, bounded frames that start with SOI and end with EOI (property)', () => {
    const valid = mjpegStream([tinyJpeg(1), jpegWithThumbnail(2), tinyJpeg(3)]);
    const mutated = fc
      .array(fc.tuple(fc.nat(valid.length - 1), fc.integer({ min: 0, max: 255 })), { maxLength: 20 })
      .map((edits) => {
        const b = Buffer.from(valid);
        for (const [at, v] of edits) b[at] = v;
        return b;
      });
    const input = fc.oneof(mutated, fc.uint8Array({ maxLength: 3000 }).map((u) => Buffer.from(u)));
    fc.assert(
      fc.property(input, fc.array(fc.nat(3000), { maxLength: 8 }), (bytes, cuts) => {
        for (const frame of split(new MjpegSplitter(1024), bytes, cuts)) {
          expect(frame.length).toBeLessThanOrEqual(1024);
          expect(frame.subarray(0, 2).toString('hex')).toBe('ffd8');
          expect(frame.subarray(-2).toString('hex')).toBe('ffd9');
        }
      }),
      { seed: 12, numRuns: 300 },
    );
  });
});

/** A scripted frame source: hands out the given frames, then fails as an ended camera would. */
class ScriptedFrames implements FrameSource {
  readonly #frames: Buffer[];
  constructor(frames: Buffer[]) {
    this.#frames = [...frames];
  }
  async nextFrame(signal: AbortSignal): Promise<Buffer> {
    if (signal.aborted) throw signal.reason;
    const frame = this.#frames.shift();
    if (frame === undefined) throw new PasserelleError('QR_READER_UNAVAILABLE', 'script over');
    return frame;
  }
  async close(): Promise<void> {}
}

/** A decoder stand-in: the frame's text says what to do, so the policy is tested without images. */
function scriptedDecode(frame: Buffer): string {
  const text = frame.toString('utf8');
  if (text.startsWith('code:')) return text.slice(5);
  throw new PasserelleError('QR_UNREADABLE', 'scripted', { reason: text });
}
const scripted = (...items: string[]): Buffer[] => items.map((s) => Buffer.from(s));

describe('CameraQrSource policy (scripted frames and decoder)', () => {
  it('skips frames without a code and returns the first code', async () => {
    const camera = new CameraQrSource(new ScriptedFrames(scripted('not-found', 'decoder-error', 'not-found', 'code:hello')), { decode: scriptedDecode, ...unbounded() });
    expect(await camera.waitForCode(never())).toBe('hello');
    expect(camera.stats).toMatchObject({ frames: 4, decoded: 1, noCode: 3 });
  });

  it('rejects QR_UNREADABLE after N frames in a row with a code seen but not decodable', async () => {
    const frames = scripted('checksum', 'format', 'checksum', 'not-found', 'checksum', 'code:late');
    const camera = new CameraQrSource(new ScriptedFrames(frames), { decode: scriptedDecode, unreadableFramesMax: 3, ...unbounded() });
    await expect(camera.waitForCode(never())).rejects.toMatchObject({ code: 'QR_UNREADABLE', details: { frames: 3 } });
    // The next wait starts afresh, sees one more unreadable frame, then the code.
    expect(await camera.waitForCode(never())).toBe('late');
  });

  it('a frame without a code breaks the run', async () => {
    const frames = scripted('checksum', 'checksum', 'not-found', 'checksum', 'checksum', 'code:ok');
    const camera = new CameraQrSource(new ScriptedFrames(frames), { decode: scriptedDecode, unreadableFramesMax: 3, ...unbounded() });
    expect(await camera.waitForCode(never())).toBe('ok');
  });

  it('rejects QR_READER_UNAVAILABLE after M frames in a row that are not images', async () => {
    const frames = scripted('not-image', 'corrupt-jpeg', 'not-found', 'not-image', 'corrupt-png', 'bad-size', 'code:never');
    const camera = new CameraQrSource(new ScriptedFrames(frames), { decode: scriptedDecode, brokenFramesMax: 3, ...unbounded() });
    expect(await codeOf(camera.waitForCode(never()))).toBe('QR_READER_UNAVAILABLE');
  });

  it('rejects QR_READER_UNAVAILABLE when the source ends, and wraps other source failures', async () => {
    expect(await codeOf(new CameraQrSource(new ScriptedFrames([])).waitForCode(never()))).toBe('QR_READER_UNAVAILABLE');
    const failing: FrameSource = { nextFrame: () => Promise.reject(new Error('EIO')), close: async () => {} };
    expect(await codeOf(new CameraQrSource(failing).waitForCode(never()))).toBe('QR_READER_UNAVAILABLE');
  });

  it('bounds the decode rate: frames arriving faster are skipped, not decoded', async () => {
    // Each frame arrives 10 ms after the previous one (100 frames/s); decoding is instantaneous.
    const { source, clock } = framesEvery10Ms(scripted(...Array.from({ length: 30 }, () => 'not-found'), 'code:x', 'code:y'));
    const camera = new CameraQrSource(source, { decode: scriptedDecode, decodesPerSecondMax: 10, monotonicMs: () => clock.ms });
    const text = await camera.waitForCode(never());
    expect(camera.stats.decoded + camera.stats.noCode).toBe(4); // 0, 100, 200, 300 ms: 3 misses, 1 code
    expect(camera.stats.skippedBusy).toBe(camera.stats.frames - 4);
    expect(['x', 'y']).toContain(text);
  });

  it('bounds the share of time spent decoding when decoding is slow', async () => {
    const { source, clock } = framesEvery10Ms(scripted(...Array.from({ length: 20 }, () => 'not-found')));
    // A 100 ms decode with at most 50 % busy: after each decode, 100 ms without decoding.
    const slowDecode = (frame: Buffer): string => {
      clock.ms += 100;
      return scriptedDecode(frame);
    };
    const camera = new CameraQrSource(source, { decode: slowDecode, decodesPerSecondMax: 100, decodeBusyFractionMax: 0.5, monotonicMs: () => clock.ms });
    expect(await codeOf(camera.waitForCode(never()))).toBe('QR_READER_UNAVAILABLE');
    // 20 frames over 20 × 10 ms of arrival plus 100 ms per decode: decodes at 10, 220, 430, …
    expect(camera.stats.noCode).toBeLessThan(camera.stats.frames);
    expect(camera.stats.skippedBusy).toBeGreaterThan(0);
  });

  it('passes the abort reason through', async () => {
    const ac = new AbortController();
    const stream = new PassThrough();
    const camera = new CameraQrSource(new MjpegStreamFrameSource(stream));
    const pending = camera.waitForCode(ac.signal);
    ac.abort(new Error('sale over'));
    await expect(pending).rejects.toThrow('sale over');
    await camera.close();
  });

  it('fuzz: random frames through the real decoder give a code or a clean QR error, never a crash', async () => {
    const png = renderQrFrame('fuzz', { width: 160, height: 120, moduleSizePx: 3 });
    const jpg = renderQrFrame('fuzz', { width: 160, height: 120, moduleSizePx: 3, format: 'jpeg' });
    const frame = fc.oneof(
      fc.uint8Array({ maxLength: 2000 }).map((u) => Buffer.from(u)),
      fc.tuple(fc.constantFrom(png, jpg), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 8 })).map(([base, edits]) => {
        const b = Buffer.from(base);
        for (const [at, v] of edits) b[at % b.length] = v;
        return b;
      }),
      fc.constantFrom(png, jpg).map((b) => b.subarray(0, Math.floor(b.length / 2))),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(frame, { minLength: 1, maxLength: 4 }), async (frames) => {
        const camera = new CameraQrSource(new ScriptedFrames(frames), { ...unbounded(), unreadableFramesMax: 2, brokenFramesMax: 2 });
        try {
          expect(await camera.waitForCode(never())).toBe('fuzz');
        } catch (e) {
          expect(isPasserelleError(e) && ['QR_UNREADABLE', 'QR_READER_UNAVAILABLE'].includes(e.code)).toBe(true);
        }
      }),
      { seed: 13, numRuns: 60 },
    );
  });
});

describe('CameraQrSource over real 1280x720 frames', () => {
  let blankJpeg: Buffer;
  let qrJpeg: Buffer;
  let damagedJpeg: Buffer;
  let qrPng: Buffer;

  beforeAll(() => {
    blankJpeg = renderBlankFrame({ format: 'jpeg', noise: 6, seed: 3 });
    qrJpeg = renderQrFrame(CARD_QR, { format: 'jpeg', jpegQuality: 80, noise: 8, blurRadiusPx: 1, seed: 4, offsetX: 200, offsetY: 150 });
    damagedJpeg = renderQrFrame(CARD_QR, { format: 'jpeg', damageModules: 25, seed: 5 });
    qrPng = renderQrFrame(CARD_QR, { noise: 8, seed: 6 });
  });

  it('reads a code from a Motion-JPEG stream, after frames of the empty counter', async () => {
    const stream = new PassThrough();
    const frames = new MjpegStreamFrameSource(stream, { maxQueuedFrames: 8 });
    const camera = new CameraQrSource(frames, { ...unbounded() });
    const pending = camera.waitForCode(never());
    // Written in odd-sized pieces, as a pipe delivers them.
    const bytes = Buffer.concat([Buffer.from('ffmpeg banner'), blankJpeg, blankJpeg, qrJpeg]);
    for (let at = 0; at < bytes.length; at += 65_536) stream.write(bytes.subarray(at, at + 65_536));
    expect(await pending).toBe(CARD_QR);
    expect(camera.stats.noCode).toBe(2);
    await camera.close();
  });

  it('says QR_UNREADABLE after repeated frames of a damaged code', async () => {
    const stream = new PassThrough();
    const camera = new CameraQrSource(new MjpegStreamFrameSource(stream, { maxQueuedFrames: 8 }), { unreadableFramesMax: 3, ...unbounded() });
    const pending = camera.waitForCode(never());
    stream.write(mjpegStream([damagedJpeg, damagedJpeg, damagedJpeg]));
    await expect(pending).rejects.toMatchObject({ code: 'QR_UNREADABLE', details: { reason: 'checksum' } });
    await camera.close();
  });

  it('says QR_READER_UNAVAILABLE when the stream ends', async () => {
    const stream = new PassThrough();
    const camera = new CameraQrSource(new MjpegStreamFrameSource(stream));
    const pending = camera.waitForCode(never());
    stream.end(blankJpeg);
    expect(await codeOf(pending)).toBe('QR_READER_UNAVAILABLE');
  });

  it('keeps only the newest frames while nobody reads', async () => {
    const stream = new PassThrough();
    const source = new MjpegStreamFrameSource(stream, { maxQueuedFrames: 1 });
    stream.write(mjpegStream([qrJpeg, blankJpeg]));
    await until(() => source.stats.frames === 2, 'both frames to be split');
    expect(source.droppedStale).toBe(1);
    expect((await source.nextFrame(never())).equals(blankJpeg)).toBe(true);
    await source.close();
  });

  it('runs a capture command and reads its standard output', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'passerelle-mjpeg-'));
    try {
      const file = join(dir, 'capture.mjpeg');
      writeFileSync(file, mjpegStream([blankJpeg, qrJpeg]));
      // `cat` stands for ffmpeg: it writes the frames, then exits like a camera unplugged.
      const source = MjpegStreamFrameSource.spawn(['cat', file], { maxQueuedFrames: 8 });
      const camera = new CameraQrSource(source, { ...unbounded() });
      expect(await camera.waitForCode(never())).toBe(CARD_QR);
      expect(await codeOf(camera.waitForCode(never()))).toBe('QR_READER_UNAVAILABLE');
      await camera.close();
      const missing = MjpegStreamFrameSource.spawn([join(dir, 'no-such-capture-program')]);
      expect(await codeOf(missing.nextFrame(never()))).toBe('QR_READER_UNAVAILABLE');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  describe('spool directory', () => {
    let dir = '';
    beforeAll(() => {
      dir = mkdtempSync(join(tmpdir(), 'passerelle-spool-'));
    });
    afterAll(() => {
      rmSync(dir, { recursive: true, force: true });
    });

    /** Writes a frame the way a capture program must: under a dot name, then renamed. */
    function drop(name: string, bytes: Buffer, mtimeS?: number): void {
      const tmp = join(dir, `.${name}.tmp`);
      writeFileSync(tmp, bytes);
      if (mtimeS !== undefined) utimesSync(tmp, mtimeS, mtimeS);
      renameSync(tmp, join(dir, name));
    }

    it('reads frames oldest first, deletes them, and ignores other files', async () => {
      const nowS = Math.floor(Date.now() / 1000);
      drop('b.jpg', blankJpeg, nowS - 1);
      drop('a.png', qrPng, nowS - 2);
      writeFileSync(join(dir, 'notes.txt'), 'not a frame');
      writeFileSync(join(dir, '.half-written.jpg'), 'x');
      const source = new DirectoryFrameSource(dir, { pollIntervalMs: 5 });
      expect((await source.nextFrame(never())).equals(qrPng)).toBe(true);
      expect((await source.nextFrame(never())).equals(blankJpeg)).toBe(true);
      expect(readdirSync(dir).sort()).toEqual(['.half-written.jpg', 'notes.txt']);
    });

    it('feeds the camera: PNG and JPEG frames, blank ones skipped', async () => {
      const source = new DirectoryFrameSource(dir, { pollIntervalMs: 5 });
      const camera = new CameraQrSource(source, { ...unbounded() });
      const pending = camera.waitForCode(never());
      drop('1.jpg', blankJpeg);
      await until(() => !existsSync(join(dir, '1.jpg')), 'the first frame to be taken');
      drop('2.jpeg', qrJpeg);
      expect(await pending).toBe(CARD_QR);
      expect(camera.stats.noCode).toBe(1);
    });

    it('deletes stale and oversized frames unread', async () => {
      const nowS = Math.floor(Date.now() / 1000);
      drop('old.jpg', qrJpeg, nowS - 3600);
      drop('big.png', Buffer.alloc(5000));
      const source = new DirectoryFrameSource(dir, { pollIntervalMs: 5, maxFrameBytes: 4000, maxFrameAgeMs: 60_000 });
      const ac = new AbortController();
      const pending = source.nextFrame(ac.signal);
      await until(() => source.stats.stale === 1 && source.stats.oversized === 1, 'the bad frames to be deleted');
      ac.abort(new Error('sale over'));
      await expect(pending).rejects.toThrow('sale over');
      expect(existsSync(join(dir, 'old.jpg')) || existsSync(join(dir, 'big.png'))).toBe(false);
    });

    it('is unavailable when the directory does not exist', async () => {
      const source = new DirectoryFrameSource(join(dir, 'missing'));
      expect(await codeOf(source.nextFrame(never()))).toBe('QR_READER_UNAVAILABLE');
    });
  });
});
