import { BarcodeFormat, EncodeHintType, QRCodeWriter, WriterException, type BitMatrix } from '@zxing/library';
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import { mulberry32 } from '../common/random.ts';

export type FrameFormat = 'png' | 'jpeg';

export interface QrFrameOptions {
  width?: number;
  height?: number;
  moduleSizePx?: number;
  offsetX?: number;
  offsetY?: number;
  /** Amplitude of the per-pixel noise in grey levels, 0..64. */
  noise?: number;
  seed?: number;
  /** PNG (lossless) or JPEG, the two forms a camera hands over. Default PNG. */
  format?: FrameFormat;
  /** JPEG quality 1..100; webcams and ffmpeg's MJPEG output sit around 75–90. Default 85. */
  jpegQuality?: number;
  /** Radius of a box blur in pixels, 0..4, imitating a lens slightly out of focus. Default 0. */
  blurRadiusPx?: number;
  /**
   * Number of data modules flipped (seeded), 0..2000, imitating a scratched card or a cracked phone
   * screen: the finder patterns stay intact, so a decoder sees a code but cannot correct its errors.
   * About 25 defeat a card code (version 2); an app code (version 6) needs about 60.
   */
  damageModules?: number;
}

/** Options for a frame with no code in it: what the camera sees most of the day. */
export type BlankFrameOptions = Pick<QrFrameOptions, 'width' | 'height' | 'noise' | 'seed' | 'format' | 'jpegQuality' | 'blurRadiusPx'>;

const MAX_TEXT_LENGTH = 1000;
const MAX_NOISE = 64;
const MAX_BLUR_RADIUS_PX = 4;
const MAX_DAMAGE_MODULES = 2000;
// Finder patterns with their separators (and the format information beside them) span 9 modules.
const FINDER_AREA_MODULES = 9;
const TIMING_LINE_MODULE = 6;
// The alignment pattern is 5x5; one more module around it keeps its edges clean.
const ALIGNMENT_GUARD_MODULES = 3;
const QUIET_ZONE_MODULES = 4;

// Camera frames are never pure black or white: a grey table, a whitish card, inked modules.
const BACKGROUND_GREY = 190;
const PAPER_GREY = 228;
const INK_GREY = 36;

/**
 * Paints `text` as a QR code (error correction M, 4-module quiet zone) into a greyscale-looking
 * RGBA PNG (or a JPEG) imitating a camera frame. Deterministic: same arguments, same bytes.
 * Throws RangeError on bad arguments: this is a simulator API, misuse is a programmer error.
 */
export function renderQrFrame(text: string, opts: QrFrameOptions = {}): Buffer {
  checkText(text);
  const width = checkInt('width', opts.width ?? 1280, 1, 8192);
  const height = checkInt('height', opts.height ?? 720, 1, 8192);
  const moduleSizePx = checkInt('moduleSizePx', opts.moduleSizePx ?? 8, 1, 64);
  const seed = checkInt('seed', opts.seed ?? 1, -(2 ** 31), 2 ** 32 - 1);
  const damageModules = checkInt('damageModules', opts.damageModules ?? 0, 0, MAX_DAMAGE_MODULES);

  const modules = encodeModules(text);
  const side = modules.getWidth() * moduleSizePx;
  if (side > width || side > height) throw notFitting(side, modules.getWidth(), moduleSizePx, width, height);
  const offsetX = checkInt('offsetX', opts.offsetX ?? Math.floor((width - side) / 2), 0, width);
  const offsetY = checkInt('offsetY', opts.offsetY ?? Math.floor((height - side) / 2), 0, height);
  if (offsetX + side > width || offsetY + side > height) {
    throw notFitting(side, modules.getWidth(), moduleSizePx, width, height, `at offset (${offsetX}, ${offsetY})`);
  }
  if (damageModules > 0) damageCode(modules, damageModules, seed);

  const grey = new Uint8Array(width * height).fill(BACKGROUND_GREY);
  paintCode(grey, width, modules, moduleSizePx, offsetX, offsetY);
  return finishFrame(grey, width, height, opts);
}

/** A frame of the empty counter: background, optional blur and noise, no code. */
export function renderBlankFrame(opts: BlankFrameOptions = {}): Buffer {
  const width = checkInt('width', opts.width ?? 1280, 1, 8192);
  const height = checkInt('height', opts.height ?? 720, 1, 8192);
  return finishFrame(new Uint8Array(width * height).fill(BACKGROUND_GREY), width, height, opts);
}

/** Optics, then sensor, then encoder: blur, noise, and PNG or JPEG bytes. */
function finishFrame(grey: Uint8Array, width: number, height: number, opts: BlankFrameOptions): Buffer {
  const noise = checkInt('noise', opts.noise ?? 0, 0, MAX_NOISE);
  const seed = checkInt('seed', opts.seed ?? 1, -(2 ** 31), 2 ** 32 - 1);
  const blurRadiusPx = checkInt('blurRadiusPx', opts.blurRadiusPx ?? 0, 0, MAX_BLUR_RADIUS_PX);
  const jpegQuality = checkInt('jpegQuality', opts.jpegQuality ?? 85, 1, 100);
  const format = opts.format ?? 'png';
  if (format !== 'png' && format !== 'jpeg') throw new RangeError(`format must be 'png' or 'jpeg', got ${String(format)}`);

  if (blurRadiusPx > 0) boxBlur(grey, width, height, blurRadiusPx);
  if (noise > 0) addNoise(grey, noise, seed);
  return format === 'png' ? toPng(grey, width, height) : toJpeg(grey, width, height, jpegQuality);
}

/** A concatenation of JPEG frames, as `ffmpeg -f mjpeg -` writes them on its standard output. */
export function mjpegStream(frames: readonly Buffer[]): Buffer {
  return Buffer.concat(frames);
}

function notFitting(side: number, n: number, size: number, width: number, height: number, where = ''): RangeError {
  return new RangeError(
    `QR code of ${side}x${side} px (${n} modules of ${size} px, quiet zone included) ` +
      `does not fit in a ${width}x${height} frame${where ? ' ' + where : ''}`,
  );
}

function checkText(text: string): void {
  if (typeof text !== 'string' || text.length === 0) throw new RangeError('QR text must be a non-empty string');
  if (text.length > MAX_TEXT_LENGTH) {
    throw new RangeError(`QR text is ${text.length} chars long, the maximum is ${MAX_TEXT_LENGTH}`);
  }
}

function checkInt(name: string, value: number, min: number, max: number): number {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(`${name} must be an integer in ${min}..${max}, got ${value}`);
  }
  return value;
}

/** One matrix cell per module, quiet zone included; true = dark. */
function encodeModules(text: string): BitMatrix {
  // The writer's hints are an untyped Map; UTF-8 (with its ECI header) keeps accents intact,
  // whereas the library default, ISO-8859-1, would silently mangle anything outside Latin-1.
  const hints = new Map<EncodeHintType, unknown>([
    [EncodeHintType.ERROR_CORRECTION, 'M'],
    [EncodeHintType.MARGIN, QUIET_ZONE_MODULES],
    [EncodeHintType.CHARACTER_SET, 'UTF-8'],
  ]);
  try {
    // Asking for 0x0 makes the writer use its minimum scale: exactly one pixel per module.
    return new QRCodeWriter().encode(text, BarcodeFormat.QR_CODE, 0, 0, hints);
  } catch (e) {
    if (e instanceof WriterException) throw new RangeError(`QR text cannot be encoded: ${e.message}`, { cause: e });
    throw e;
  }
}

function paintCode(grey: Uint8Array, width: number, modules: BitMatrix, size: number, ox: number, oy: number): void {
  const n = modules.getWidth();
  for (let my = 0; my < n; my++) {
    for (let mx = 0; mx < n; mx++) {
      const shade = modules.get(mx, my) ? INK_GREY : PAPER_GREY;
      for (let dy = 0; dy < size; dy++) {
        const start = (oy + my * size + dy) * width + ox + mx * size;
        grey.fill(shade, start, start + size);
      }
    }
  }
}

/**
 * Flips `count` distinct modules of the code outside the finder patterns and timing lines, so that the
 * code is still found but its Reed-Solomon correction (level M, about 15 %) gives up.
 */
function damageCode(modules: BitMatrix, count: number, seed: number): void {
  const margin = QUIET_ZONE_MODULES;
  const n = modules.getWidth() - 2 * margin;
  const candidates: number[] = [];
  for (let y = 0; y < n; y++) {
    for (let x = 0; x < n; x++) {
      if (!isFunctionModule(x, y, n)) candidates.push(y * n + x);
    }
  }
  const next = mulberry32(seed ^ 0x5eed);
  const flips = Math.min(count, candidates.length);
  // A partial Fisher-Yates shuffle picks distinct modules, so a flip is never undone by a second one.
  for (let i = 0; i < flips; i++) {
    const j = i + Math.floor(next() * (candidates.length - i));
    const picked = candidates[j] ?? 0;
    candidates[j] = candidates[i] ?? 0;
    modules.flip(margin + (picked % n), margin + Math.floor(picked / n));
  }
}

/**
 * Modules a detector needs to find the code and its version: finder patterns with format information,
 * timing lines, the bottom-right alignment pattern (the one zxing looks for) and the version blocks.
 */
function isFunctionModule(x: number, y: number, n: number): boolean {
  const f = FINDER_AREA_MODULES;
  const inFinder = (x < f && y < f) || (x >= n - f && y < f) || (x < f && y >= n - f);
  const timing = x === TIMING_LINE_MODULE || y === TIMING_LINE_MODULE;
  // Version 1 (21 modules) has no alignment pattern; from version 2 one is centred 7 modules from the corner.
  const alignment = n > 21 && Math.abs(x - (n - 7)) <= ALIGNMENT_GUARD_MODULES && Math.abs(y - (n - 7)) <= ALIGNMENT_GUARD_MODULES;
  // From version 7 (45 modules) two 6x3 blocks beside the finders carry the version number.
  const version = n >= 45 && ((x >= n - 11 && x < n - 8 && y < 6) || (y >= n - 11 && y < n - 8 && x < 6));
  return inFinder || timing || alignment || version;
}

/** A separable box blur, rows then columns, with a running sum: O(pixels) whatever the radius. */
function boxBlur(grey: Uint8Array, width: number, height: number, radius: number): void {
  const line = new Uint8Array(Math.max(width, height));
  for (let y = 0; y < height; y++) blurLine(grey, y * width, 1, width, radius, line);
  for (let x = 0; x < width; x++) blurLine(grey, x, width, height, radius, line);
}

function blurLine(grey: Uint8Array, start: number, step: number, length: number, radius: number, line: Uint8Array): void {
  for (let i = 0; i < length; i++) line[i] = grey[start + i * step] ?? 0;
  // Edges repeat the first and last pixel, as a camera sees more of the same table past the border.
  const at = (i: number): number => line[Math.min(length - 1, Math.max(0, i))] ?? 0;
  let sum = 0;
  for (let i = -radius; i <= radius; i++) sum += at(i);
  const span = 2 * radius + 1;
  for (let i = 0; i < length; i++) {
    grey[start + i * step] = Math.round(sum / span);
    sum += at(i + radius + 1) - at(i - radius);
  }
}

function addNoise(grey: Uint8Array, amplitude: number, seed: number): void {
  const next = mulberry32(seed);
  const span = 2 * amplitude + 1;
  for (let i = 0; i < grey.length; i++) {
    const delta = Math.floor(next() * span) - amplitude;
    grey[i] = Math.min(255, Math.max(0, (grey[i] ?? 0) + delta));
  }
}

function toPng(grey: Uint8Array, width: number, height: number): Buffer {
  const png = new PNG({ width, height });
  for (let i = 0; i < grey.length; i++) {
    const v = grey[i] ?? 0;
    const p = i * 4;
    png.data[p] = v;
    png.data[p + 1] = v;
    png.data[p + 2] = v;
    png.data[p + 3] = 255;
  }
  return PNG.sync.write(png);
}

function toJpeg(grey: Uint8Array, width: number, height: number, quality: number): Buffer {
  const rgba = Buffer.alloc(width * height * 4);
  for (let i = 0; i < grey.length; i++) {
    const v = grey[i] ?? 0;
    rgba.fill(v, i * 4, i * 4 + 3);
    rgba[i * 4 + 3] = 255;
  }
  return jpeg.encode({ data: rgba, width, height }, quality).data;
}
