import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { isPasserelleError } from '../../protocol/errors.ts';
import type { CardSession, ContactlessReader } from './contactless.ts';

/**
 * The one contract every ContactlessReader passes: the simulated reader in unit tests
 * (`sim-contactless.test.ts`) and the PC/SC reader against a real pcscd with vsmartcard-vpcd and a card
 * emulated in Node (`tests/devices/nfc-pcscd.test.ts`). A harness drives the world around the reader —
 * cards entering and leaving the field, faults, the reader vanishing — the way each implementation can.
 */

/** A card for the contract: a UID and an APDU handler (what `simulators/card.ts` provides). */
export interface ContractCard {
  readonly uid: string;
  handle(apdu: Buffer): Buffer | Promise<Buffer>;
}

export interface ContractTiming {
  /** A timeout no healthy exchange comes near, in ms. */
  readonly timeoutMs: number;
  /** The timeout given to an exchange with a slow card, in ms… */
  readonly slowTimeoutMs: number;
  /** …which answers only after this long (well above `slowTimeoutMs`), in ms. */
  readonly slowDelayMs: number;
  /** How long the reader may take to notice a change in the field, in ms (for polls, never for speed). */
  readonly noticeMs: number;
}

export interface ContactlessHarness {
  readonly reader: ContactlessReader;
  readonly timing: ContractTiming;
  /** A card enters the field (the one there leaves first). */
  present(card: ContractCard): Promise<void>;
  /** The card in the field leaves; resolves once the reader has seen it go. */
  remove(): Promise<void>;
  /** The next APDU reaches the card, which leaves the field instead of answering. */
  removeDuringNextApdu(): void;
  /** The card answers the next APDU only after `ms`. */
  answerNextAfter(ms: number): void;
  /** The reader vanishes, and the field with it (a card must be presented again afterwards). */
  unplug(): Promise<void>;
  /** The reader comes back (nothing happens if it is there); resolves once `reader.readers()` lists it. */
  plug(): Promise<void>;
  /** Command APDUs that reached a card, oldest first (pseudo-APDUs for the reader itself excluded). */
  received(): Buffer[];
  /** Another reader on the same hardware, closed by the test that opens it. */
  openAnother(): Promise<ContactlessReader>;
  close(): Promise<void>;
}

/** A card that answers every APDU with the APDU reversed and 90 00: easy to predict, unique per command. */
export function mirrorCard(uid: string): ContractCard {
  return { uid, handle: (apdu) => mirror(apdu) };
}

export function mirror(apdu: Buffer): Buffer {
  return Buffer.concat([Buffer.from(apdu).reverse(), Buffer.from([0x90, 0x00])]);
}

const SELECT = Buffer.from('00a404000aa000000000504153535245', 'hex');
const READ = Buffer.from('80ca000100', 'hex');

/** The code of a PasserelleError a promise rejected with ('none' if it resolved, 'other' for anything else). */
export async function rejectionCode(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'none';
  } catch (e) {
    return isPasserelleError(e) ? e.code : `other: ${String(e)}`;
  }
}

/** Waits for a card to be delivered while `card` is presented. */
export async function presentAndWait(h: ContactlessHarness, card: ContractCard): Promise<CardSession> {
  const waiting = h.reader.waitForCard(AbortSignal.timeout(h.timing.noticeMs * 4));
  // If presenting fails, the wait's own rejection must not surface later as an unhandled one.
  waiting.catch(() => {});
  await h.present(card);
  return waiting;
}

/** After any fault, the next card is delivered and talks normally. */
export async function expectNextCardWorks(h: ContactlessHarness, uid = '04c0ffee000001'): Promise<void> {
  const s = await presentAndWait(h, mirrorCard(uid));
  expect(s.uid).toBe(uid);
  expect(await s.transmit(READ, h.timing.timeoutMs)).toEqual(mirror(READ));
}

export function contactlessContract(name: string, makeHarness: () => Promise<ContactlessHarness>): void {
  describe(`ContactlessReader contract: ${name}`, () => {
    let h: ContactlessHarness;
    beforeAll(async () => {
      h = await makeHarness();
    });
    afterAll(async () => {
      await h?.close();
    });
    // Whatever a test left behind (even when it failed), the next one starts with the reader plugged and
    // an empty field.
    afterEach(async () => {
      await h.plug();
      await h.remove();
    });

    it('delivers a card presented while waiting, and its exchanges round-trip', async () => {
      const card = mirrorCard('04a1b2c3d4e5f6');
      const s = await presentAndWait(h, card);
      expect(h.reader.readers()).toContain(s.reader);
      expect(s.uid).toBe(card.uid);
      expect(s.gone.aborted).toBe(false);
      expect(await s.transmit(SELECT, h.timing.timeoutMs)).toEqual(mirror(SELECT));
      expect(await s.transmit(READ, h.timing.timeoutMs)).toEqual(mirror(READ));
      expect(h.received().slice(-2)).toEqual([SELECT, READ]);
    });

    it('card removed during an exchange: CARD_REMOVED, gone aborted, and the next card works', async () => {
      const s = await presentAndWait(h, mirrorCard('04000000000001'));
      h.removeDuringNextApdu();
      expect(await rejectionCode(s.transmit(SELECT, h.timing.timeoutMs))).toBe('CARD_REMOVED');
      await expect.poll(() => s.gone.aborted, { timeout: h.timing.noticeMs }).toBe(true);
      expect(isPasserelleError(s.gone.reason, 'CARD_REMOVED')).toBe(true);
      // Once gone, a session refuses at once with the same code.
      expect(await rejectionCode(s.transmit(READ, h.timing.timeoutMs))).toBe('CARD_REMOVED');
      await h.remove();
      await expectNextCardWorks(h);
    });

    it('slow card: CARD_READ_FAILED after timeoutMs, the card stays in the field, and the next card works', async () => {
      const t = h.timing;
      const s = await presentAndWait(h, mirrorCard('04000000000002'));
      h.answerNextAfter(t.slowDelayMs);
      const started = performance.now();
      expect(await rejectionCode(s.transmit(SELECT, t.slowTimeoutMs))).toBe('CARD_READ_FAILED');
      const elapsed = performance.now() - started;
      // Our own timeout fired: not before timeoutMs (less timer granularity), and before the card answered.
      expect(elapsed).toBeGreaterThanOrEqual(t.slowTimeoutMs - 2);
      expect(elapsed).toBeLessThan(t.slowDelayMs);
      expect(s.gone.aborted).toBe(false);
      await h.remove();
      await expect.poll(() => s.gone.aborted, { timeout: t.noticeMs }).toBe(true);
      expect(isPasserelleError(s.gone.reason, 'CARD_REMOVED')).toBe(true);
      await expectNextCardWorks(h);
    });

    it("an aborted waitForCard rejects with the signal's reason, and the next wait still gets the card", async () => {
      const reason = new Error('the cashier cancelled the sale');
      const ac = new AbortController();
      const waiting = h.reader.waitForCard(ac.signal);
      ac.abort(reason);
      await expect(waiting).rejects.toBe(reason);
      await expect(h.reader.waitForCard(AbortSignal.abort(reason))).rejects.toBe(reason);
      await expectNextCardWorks(h);
    });

    it('reader gone during an exchange: NFC_READER_UNAVAILABLE, gone aborted; a wait spans the outage and gets the next card', async () => {
      const t = h.timing;
      const s = await presentAndWait(h, mirrorCard('04000000000003'));
      h.answerNextAfter(t.slowDelayMs);
      const apdu = Buffer.from('00b0000a0b', 'hex'); // sent by no other test
      const pending = rejectionCode(s.transmit(apdu, t.timeoutMs));
      // Unplug only once the APDU is at the card, so the exchange is really in flight.
      await expect.poll(() => h.received().some((a) => a.equals(apdu)), { timeout: t.noticeMs }).toBe(true);
      await h.unplug();
      expect(await pending).toBe('NFC_READER_UNAVAILABLE');
      await expect.poll(() => s.gone.aborted, { timeout: t.noticeMs }).toBe(true);
      expect(isPasserelleError(s.gone.reason, 'NFC_READER_UNAVAILABLE')).toBe(true);
      expect(await rejectionCode(s.transmit(READ, t.timeoutMs))).toBe('NFC_READER_UNAVAILABLE');
      await expect.poll(() => h.reader.readers().length, { timeout: t.noticeMs }).toBe(0);
      const waiting = h.reader.waitForCard(AbortSignal.timeout(t.noticeMs * 8));
      waiting.catch(() => {});
      await h.plug();
      await h.present(mirrorCard('04000000000004'));
      const next = await waiting;
      expect(next.uid).toBe('04000000000004');
      expect(await next.transmit(READ, t.timeoutMs)).toEqual(mirror(READ));
    });

    it('close() rejects pending waits with NFC_READER_UNAVAILABLE and later calls too; closing twice is fine', async () => {
      const other = await h.openAnother();
      const waiting = rejectionCode(other.waitForCard(new AbortController().signal));
      await other.close();
      expect(await waiting).toBe('NFC_READER_UNAVAILABLE');
      expect(await rejectionCode(other.waitForCard(new AbortController().signal))).toBe('NFC_READER_UNAVAILABLE');
      await other.close();
      // The harness's own reader is unaffected.
      await expectNextCardWorks(h);
    });
  });
}
