import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { isPasserelleError } from '../protocol/errors.ts';
import { CONTACTLESS_ATR, VpcdCard, VpcdFramer, decodeVpcdMessage, encodeVpcdFrame, type VpcdFramerResult } from './vpcd-card.ts';

/** Feeds `stream` to a fresh framer cut at `cuts`, gathering every message and the first error. */
function frameInChunks(stream: Buffer, cuts: number[], maxMessageBytes?: number): { messages: Buffer[]; error: string | undefined; bufferedMax: number } {
  const framer = new VpcdFramer(maxMessageBytes);
  const points = [...new Set(cuts.map((c) => c % (stream.length + 1)))].sort((a, b) => a - b);
  const messages: Buffer[] = [];
  let error: string | undefined;
  let bufferedMax = 0;
  let from = 0;
  for (const to of [...points, stream.length]) {
    const r: VpcdFramerResult = framer.push(stream.subarray(from, to));
    messages.push(...r.messages);
    error ??= r.error?.code;
    bufferedMax = Math.max(bufferedMax, framer.bufferedBytes);
    from = to;
  }
  return { messages, error, bufferedMax };
}

const payload = fc.uint8Array({ minLength: 1, maxLength: 300 }).map((a) => Buffer.from(a));

describe('VpcdFramer', () => {
  it('yields the same messages whatever the chunking', () => {
    fc.assert(
      fc.property(fc.array(payload, { maxLength: 20 }), fc.array(fc.nat(), { maxLength: 40 }), (payloads, cuts) => {
        const stream = Buffer.concat(payloads.map(encodeVpcdFrame));
        const { messages, error } = frameInChunks(stream, cuts);
        expect(error).toBeUndefined();
        expect(messages).toEqual(payloads);
      }),
    );
  });

  it('never throws or hangs on hostile bytes, stays within its bound, and stops at the first bad length', () => {
    const max = 512;
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 4000 }), fc.array(fc.nat(), { maxLength: 40 }), (bytes, cuts) => {
        const { messages, error, bufferedMax } = frameInChunks(Buffer.from(bytes), cuts, max);
        expect(bufferedMax).toBeLessThanOrEqual(max);
        for (const m of messages) expect(m.length).toBeGreaterThanOrEqual(1);
        // Chunking never changes the verdict.
        const whole = frameInChunks(Buffer.from(bytes), [], max);
        expect(whole.messages).toEqual(messages);
        expect(whole.error).toBe(error);
      }),
    );
  });

  it('on a mutated valid stream: the messages before the damage survive, whatever the chunking', () => {
    fc.assert(
      fc.property(
        fc.array(payload, { minLength: 1, maxLength: 10 }),
        fc.nat(),
        fc.integer({ min: 0, max: 255 }),
        fc.array(fc.nat(), { maxLength: 20 }),
        (payloads, at, byte, cuts) => {
          const stream = Buffer.concat(payloads.map(encodeVpcdFrame));
          const i = at % stream.length;
          stream[i] = byte;
          const whole = frameInChunks(stream, []);
          const chunked = frameInChunks(stream, cuts);
          expect(chunked).toEqual({ ...whole, bufferedMax: chunked.bufferedMax });
          // Every message that ends before the damaged byte is intact.
          let end = 0;
          for (const [k, p] of payloads.entries()) {
            end += 2 + p.length;
            if (end > i) break;
            expect(whole.messages[k]).toEqual(p);
          }
        },
      ),
    );
  });

  it('reports a zero or oversized length as CARD_READ_FAILED, once, and then stays failed', () => {
    const framer = new VpcdFramer(100);
    const first = framer.push(Buffer.from([0x00, 0x00, 0x00, 0x01, 0x04]));
    expect(first.messages).toEqual([]);
    expect(isPasserelleError(first.error, 'CARD_READ_FAILED')).toBe(true);
    expect(first.error?.message).toMatch(/bad message length 0/);
    expect(framer.push(encodeVpcdFrame(Buffer.from([0x04]))).messages).toEqual([]);
    expect(new VpcdFramer(100).push(Buffer.from([0x00, 0x65])).error?.message).toMatch(/bad message length 101 \(allowed 1\.\.100\)/);
  });

  it('types messages: one byte is a control, more is an APDU', () => {
    expect(decodeVpcdMessage(Buffer.from([0x04]))).toEqual({ kind: 'get-atr' });
    expect(decodeVpcdMessage(Buffer.from([0x01]))).toEqual({ kind: 'power-on' });
    expect(decodeVpcdMessage(Buffer.from([0x00]))).toEqual({ kind: 'power-off' });
    expect(decodeVpcdMessage(Buffer.from([0x02]))).toEqual({ kind: 'reset' });
    expect(decodeVpcdMessage(Buffer.from([0x09]))).toEqual({ kind: 'unknown-control', code: 9 });
    expect(decodeVpcdMessage(Buffer.from('00a4', 'hex'))).toEqual({ kind: 'apdu', apdu: Buffer.from('00a4', 'hex') });
  });
});

/** A stand-in for vpcd: accepts the card, sends it messages, reads its answers. */
class FakeVpcd {
  readonly server = net.createServer();
  #socket: net.Socket | undefined;
  readonly #framer = new VpcdFramer();
  readonly #answers: Buffer[] = [];
  #notify: (() => void) | undefined;

  async listen(): Promise<number> {
    this.server.on('connection', (s) => {
      this.#socket = s;
      s.on('data', (d: Buffer) => {
        this.#answers.push(...this.#framer.push(d).messages);
        this.#notify?.();
      });
    });
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return (this.server.address() as net.AddressInfo).port;
  }

  async connected(): Promise<net.Socket> {
    await expect.poll(() => this.#socket !== undefined).toBe(true);
    return this.#socket!;
  }

  send(payload: Buffer): void {
    this.#socket!.write(encodeVpcdFrame(payload));
  }

  /** The next answer from the card, or null if it closed the connection or said nothing within `ms`. */
  async answer(ms = 2000): Promise<Buffer | null> {
    const deadline = Date.now() + ms;
    while (this.#answers.length === 0) {
      if (Date.now() > deadline || this.#socket?.readyState !== 'open') return null;
      await new Promise<void>((resolve) => {
        this.#notify = resolve;
        setTimeout(resolve, 20);
      });
    }
    return this.#answers.shift()!;
  }

  async close(): Promise<void> {
    this.#socket?.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

describe('VpcdCard against a stand-in vpcd', () => {
  let vpcd: FakeVpcd;
  let card: VpcdCard | undefined;
  afterEach(async () => {
    await card?.remove();
    await vpcd?.close();
  });

  async function insertCard(o: { uid?: string; delayMs?: number } = {}): Promise<void> {
    vpcd = new FakeVpcd();
    const port = await vpcd.listen();
    card = new VpcdCard({ port, ...o, handler: (apdu) => Buffer.concat([apdu.subarray(0, 2), Buffer.from('9000', 'hex')]) });
    await card.insert();
    await vpcd.connected();
  }

  it('answers GET ATR with its ATR, nothing to the other controls, and each APDU with its response', async () => {
    await insertCard();
    vpcd.send(Buffer.from([0x01])); // power on: no answer
    vpcd.send(Buffer.from([0x04]));
    expect(await vpcd.answer()).toEqual(CONTACTLESS_ATR);
    vpcd.send(Buffer.from('00a4040000', 'hex'));
    expect(await vpcd.answer()).toEqual(Buffer.from('00a49000', 'hex'));
    expect(card!.controls.get('power-on')).toBe(1);
    expect(card!.exchanges).toEqual([{ apdu: Buffer.from('00a4040000', 'hex'), response: Buffer.from('00a49000', 'hex') }]);
  });

  it('answers the UID pseudo-APDU itself when given a UID, as a reader would', async () => {
    await insertCard({ uid: '04a1b2c3' });
    vpcd.send(Buffer.from('ffca000000', 'hex'));
    expect(await vpcd.answer()).toEqual(Buffer.from('04a1b2c39000', 'hex'));
  });

  it('scripted faults: a late answer, garbage, then a dropped connection instead of an answer', async () => {
    await insertCard();
    card!.inject({ kind: 'delay', ms: 150 });
    card!.inject({ kind: 'garbage', bytes: Buffer.from('dead', 'hex') });
    card!.inject({ kind: 'drop' });
    const started = Date.now();
    vpcd.send(Buffer.from('00b0000001', 'hex'));
    expect(await vpcd.answer()).toEqual(Buffer.from('00b09000', 'hex'));
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
    vpcd.send(Buffer.from('00b0000002', 'hex'));
    expect(await vpcd.answer()).toEqual(Buffer.from('dead', 'hex'));
    vpcd.send(Buffer.from('00b0000003', 'hex'));
    expect(await vpcd.answer()).toBeNull();
    await expect.poll(() => card!.inserted).toBe(false);
    expect(card!.exchanges.map((e) => e.response?.toString('hex') ?? null)).toEqual(['00b09000', 'dead', null]);
  });

  it('leaves the field on a bad frame from vpcd, saying why', async () => {
    await insertCard();
    (await vpcd.connected()).write(Buffer.from([0x00, 0x00]));
    await expect.poll(() => card!.inserted).toBe(false);
    expect(isPasserelleError(card!.lastError, 'CARD_READ_FAILED')).toBe(true);
  });

  it('insert() fails with NFC_READER_UNAVAILABLE when nothing listens; remove() and insert() again work', async () => {
    vpcd = new FakeVpcd();
    const port = await vpcd.listen();
    await vpcd.close();
    const lonely = new VpcdCard({ port, handler: () => Buffer.from('9000', 'hex') });
    await expect(lonely.insert()).rejects.toMatchObject({ code: 'NFC_READER_UNAVAILABLE' });
    await insertCard();
    await card!.remove();
    expect(card!.inserted).toBe(false);
    await card!.insert();
    expect(card!.inserted).toBe(true);
  });
});
