import { Duplex } from 'node:stream';
import type { Socket } from 'node:net';

/**
 * A limit on every MQTT packet, enforced before anything is buffered.
 *
 * The broker's parser (mqtt-packet under aedes) gathers a packet's bytes until its declared length has
 * arrived, whatever that length: three unauthenticated sockets declaring 250 MB CONNECTs took the gateway
 * from 156 MB to 876 MB. Here every byte from a socket passes a scanner that reads each packet's fixed
 * header (type, then the "remaining length" varint of at most four bytes) as it streams by, and the socket
 * is destroyed the moment a declared length is over the limit: the first packet must be a CONNECT of at
 * most `maxConnectBytes`, every later one at most `maxPacketBytes`. The scanner holds a few integers, so a
 * connection costs the broker at most one packet under the limit plus the stream's high-water mark.
 */

export interface PacketLimits {
  /** The first packet: a CONNECT with a client id, a username and a connect token. */
  readonly maxConnectBytes: number;
  /** Any later packet (a signed request is at most 16 KiB plus its topic). */
  readonly maxPacketBytes: number;
}

export type Violation =
  | { readonly kind: 'too-large'; readonly declared: number; readonly limit: number; readonly first: boolean }
  | { readonly kind: 'not-connect'; readonly type: number }
  | { readonly kind: 'malformed-length' };

const CONNECT = 1;

/** Follows the packet boundaries of one MQTT byte stream; pure state, no buffering. */
export class PacketSizeScanner {
  readonly #limits: PacketLimits;
  #state: 'header' | 'length' | 'body' = 'header';
  #first = true;
  #length = 0;
  #multiplier = 1;
  #lengthBytes = 0;
  #remaining = 0;

  constructor(limits: PacketLimits) {
    this.#limits = limits;
  }

  /** Scan the next bytes; the first violation found, or null. After a violation, stop feeding. */
  feed(chunk: Uint8Array): Violation | null {
    let i = 0;
    while (i < chunk.length) {
      if (this.#state === 'body') {
        const take = Math.min(this.#remaining, chunk.length - i);
        this.#remaining -= take;
        i += take;
        if (this.#remaining === 0) this.#state = 'header';
        continue;
      }
      const byte = chunk[i++]!;
      if (this.#state === 'header') {
        const type = byte >> 4;
        if (this.#first && type !== CONNECT) return { kind: 'not-connect', type };
        this.#state = 'length';
        this.#length = 0;
        this.#multiplier = 1;
        this.#lengthBytes = 0;
        continue;
      }
      // The remaining length: 7 bits a byte, least significant first, at most four bytes (MQTT 3.1.1 §2.2.3).
      this.#length += (byte & 0x7f) * this.#multiplier;
      this.#multiplier *= 128;
      this.#lengthBytes++;
      const limit = this.#first ? this.#limits.maxConnectBytes : this.#limits.maxPacketBytes;
      // Checked on every byte, so a length is refused before its last byte even arrives.
      if (this.#length > limit) return { kind: 'too-large', declared: this.#length, limit, first: this.#first };
      if (byte & 0x80) {
        if (this.#lengthBytes === 4) return { kind: 'malformed-length' };
        // Another byte follows, so (in the minimal encoding every client writes) the length is at least the
        // next byte's weight: a 250 MB declaration is refused on its third byte.
        if (this.#multiplier > limit) return { kind: 'too-large', declared: this.#length + this.#multiplier, limit, first: this.#first };
        continue;
      }
      this.#first = false;
      this.#remaining = this.#length;
      this.#state = this.#remaining === 0 ? 'header' : 'body';
    }
    return null;
  }
}

/**
 * The socket as aedes sees it: a Duplex that passes bytes through once the scanner has seen them, with
 * back-pressure (the socket pauses while aedes is not reading). `remoteAddress` names the peer for the
 * broker's per-address limits.
 */
export class GuardedSocket extends Duplex {
  readonly socket: Socket;
  readonly remoteAddress: string;
  readonly #scanner: PacketSizeScanner;

  constructor(socket: Socket, limits: PacketLimits, onViolation: (v: Violation) => void) {
    super({ allowHalfOpen: false });
    this.socket = socket;
    this.remoteAddress = socket.remoteAddress ?? 'unknown';
    this.#scanner = new PacketSizeScanner(limits);
    socket.on('data', (chunk: Buffer) => {
      const v = this.#scanner.feed(chunk);
      if (v) {
        onViolation(v);
        this.destroy();
        return;
      }
      if (!this.push(chunk)) socket.pause();
    });
    socket.on('end', () => this.push(null));
    socket.on('error', (err) => this.destroy(err));
    socket.on('close', () => this.destroy());
  }

  override _read(): void {
    this.socket.resume();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    // Accepted as soon as the socket accepts it, like a bare socket: waiting for each chunk's flush would
    // report back-pressure on every burst and hold the broker's delivery slots.
    this.#settle(this.socket.write(chunk), callback);
  }

  // mqtt-packet writes a packet in several pieces between cork() and uncork(): they reach the socket as one
  // write (one system call), as they would on a bare socket.
  override _writev(chunks: { chunk: Buffer }[], callback: (error?: Error | null) => void): void {
    this.socket.cork();
    let accepted = true;
    for (const c of chunks) accepted = this.socket.write(c.chunk) && accepted;
    this.socket.uncork();
    this.#settle(accepted, callback);
  }

  #settle(accepted: boolean, callback: (error?: Error | null) => void): void {
    if (accepted) callback();
    else this.socket.once('drain', () => callback());
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.socket.end(callback);
  }

  override _destroy(err: Error | null, callback: (error?: Error | null) => void): void {
    this.socket.destroy();
    callback(err);
  }
}
