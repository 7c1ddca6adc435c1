import { type Verifier, SIGNATURE_BYTES } from './crypto.ts';
import { PasserelleError } from './errors.ts';
import { HASH_BYTES, MAX_TREE_SIZE, leafHash, rootFromPath, rootMessage } from './merkle.ts';

/**
 * Signed frames: the bytes of one MQTT payload. The JSON message is carried verbatim after an ASCII
 * header, so a signature covers exactly the bytes that were sent, with no canonicalisation step, and the
 * payload stays readable in `mosquitto_sub`.
 *
 *   direct: `S1.<signature>.<json>`                              signature over the JSON bytes
 *   batch:  `M1.<signature>.<size>.<index>.<audit path>.<json>`  signature over the batch's Merkle root
 *
 * `<signature>` is 64 bytes in base64url (86 chars); `<audit path>` is 0–16 hashes of 32 bytes,
 * concatenated and base64url-encoded (RFC 9162 inclusion proof of the JSON bytes in a tree of `size`).
 * Terminals sign requests directly; the gateway signs one root per group-commit batch (see merkle.ts).
 */

export const MAX_FRAME_BYTES = 16 * 1024;
const SIG_CHARS = 86;
const MAX_PATH_HASHES = 16;
const DOT = 0x2e;
const BRACE = 0x7b;

export interface DirectFrame {
  readonly mode: 'direct';
  readonly signature: Uint8Array;
  readonly message: Buffer;
}

export interface BatchFrame {
  readonly mode: 'batch';
  readonly signature: Uint8Array;
  readonly size: number;
  readonly index: number;
  readonly path: Buffer[];
  readonly message: Buffer;
}

export type SignedFrame = DirectFrame | BatchFrame;

function sigText(signature: Uint8Array): string {
  if (signature.length !== SIGNATURE_BYTES) throw new RangeError('signature must be 64 bytes');
  return Buffer.from(signature).toString('base64url');
}

export function encodeDirect(message: Uint8Array, signature: Uint8Array): Buffer {
  return Buffer.concat([Buffer.from(`S1.${sigText(signature)}.`, 'ascii'), message]);
}

export function encodeBatch(message: Uint8Array, signature: Uint8Array, size: number, index: number, path: readonly Buffer[]): Buffer {
  const header = `M1.${sigText(signature)}.${size}.${index}.${Buffer.concat(path).toString('base64url')}.`;
  return Buffer.concat([Buffer.from(header, 'ascii'), message]);
}

const B64URL = /^[A-Za-z0-9_-]*$/;

function bad(reason: string): PasserelleError {
  return new PasserelleError('BAD_FRAME', `bad frame: ${reason}`, { reason });
}

/**
 * Split a payload into its parts; anything malformed or oversized is BAD_FRAME. The header is read as
 * latin1, never 'ascii': Node's ascii decoding drops the high bit, so 0xCD would pass for 'M'.
 */
export function decodeFrame(payload: Uint8Array): SignedFrame {
  return decodeFrameWithin(payload, MAX_FRAME_BYTES);
}

/** The same, for a document larger than a request may be (a pushed hotlist). */
export function decodeFrameWithin(payload: Uint8Array, maxBytes: number): SignedFrame {
  const buf = Buffer.isBuffer(payload) ? payload : Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
  if (buf.length > maxBytes) throw bad(`payload of ${buf.length} bytes exceeds ${maxBytes}`);
  if (buf.length < 3 + SIG_CHARS + 3) throw bad('payload too short');
  const mode = buf.toString('latin1', 0, 3);
  if (mode !== 'S1.' && mode !== 'M1.') throw bad('unknown frame kind');
  const signature = decodeB64(buf.toString('latin1', 3, 3 + SIG_CHARS), 'signature');
  if (signature.length !== SIGNATURE_BYTES || buf[3 + SIG_CHARS] !== DOT) throw bad('malformed signature');
  let at = 3 + SIG_CHARS + 1;
  if (mode === 'S1.') return { mode: 'direct', signature, message: jsonPart(buf, at) };
  const size = numberField(buf, at, 'size');
  at = size.next;
  const index = numberField(buf, at, 'index');
  at = index.next;
  const end = buf.indexOf(DOT, at);
  if (end < 0 || end - at > Math.ceil((MAX_PATH_HASHES * HASH_BYTES * 4) / 3)) throw bad('malformed audit path');
  const raw = decodeB64(buf.toString('latin1', at, end), 'audit path');
  if (raw.length % HASH_BYTES !== 0) throw bad('audit path is not whole hashes');
  const path: Buffer[] = [];
  for (let i = 0; i < raw.length; i += HASH_BYTES) path.push(raw.subarray(i, i + HASH_BYTES));
  if (size.value < 1 || size.value > MAX_TREE_SIZE || index.value >= size.value) throw bad('index outside the tree');
  return { mode: 'batch', signature, size: size.value, index: index.value, path, message: jsonPart(buf, end + 1) };
}

/**
 * Strict base64url: the last character of an encoding has spare bits a lenient decoder ignores, so two
 * texts would decode to one signature. Only the canonical text is accepted: one frame, one spelling.
 */
function decodeB64(text: string, what: string): Buffer {
  if (!B64URL.test(text)) throw bad(`${what} is not base64url`);
  const bytes = Buffer.from(text, 'base64url');
  if (bytes.toString('base64url') !== text) throw bad(`${what} is not canonical base64url`);
  return bytes;
}

function numberField(buf: Buffer, at: number, what: string): { value: number; next: number } {
  const end = buf.indexOf(DOT, at);
  if (end <= at || end - at > 5) throw bad(`malformed ${what}`);
  const text = buf.toString('latin1', at, end);
  if (!/^(0|[1-9][0-9]*)$/.test(text)) throw bad(`malformed ${what}`);
  return { value: Number(text), next: end + 1 };
}

function jsonPart(buf: Buffer, at: number): Buffer {
  if (buf[at] !== BRACE) throw bad('message is not a JSON object');
  return buf.subarray(at);
}

/**
 * Remembers batch signatures already verified, so many simulated terminals in one process check each
 * batch once. Keyed by the signature; a hit counts only if the signed bytes and the key are exactly those
 * verified, so a valid signature paired with another root is still refused. Bounded; a real terminal
 * receives one reply per batch and gains nothing from it.
 */
export class VerifiedRoots {
  readonly #seen = new Map<string, { readonly signed: Buffer; readonly publicKey: Uint8Array }>();
  readonly #max: number;
  constructor(max = 4096) {
    this.#max = max;
  }
  has(signature: Uint8Array, signed: Buffer, publicKey: Uint8Array): boolean {
    const hit = this.#seen.get(Buffer.from(signature).toString('latin1'));
    return hit !== undefined && hit.signed.equals(signed) && Buffer.from(hit.publicKey).equals(publicKey);
  }
  add(signature: Uint8Array, signed: Buffer, publicKey: Uint8Array): void {
    if (this.#seen.size >= this.#max) this.#seen.clear();
    this.#seen.set(Buffer.from(signature).toString('latin1'), { signed, publicKey });
  }
}

/** Check a frame's signature with the signer's public key. */
export function verifyFrame(frame: SignedFrame, publicKey: Uint8Array, verifier: Verifier, roots?: VerifiedRoots): boolean {
  if (frame.mode === 'direct') return verifier.verify(frame.message, frame.signature, publicKey);
  const root = rootFromPath(leafHash(frame.message), frame.index, frame.size, frame.path);
  if (!root) return false;
  const signed = rootMessage(frame.size, root);
  if (roots?.has(frame.signature, signed, publicKey)) return true;
  const ok = verifier.verify(signed, frame.signature, publicKey);
  if (ok) roots?.add(frame.signature, signed, publicKey);
  return ok;
}
