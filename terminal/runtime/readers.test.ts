import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { cardNumberFrom } from '../../protocol/card.ts';
import { naclVerifier } from '../../protocol/crypto.ts';
import { PasserelleError } from '../../protocol/errors.ts';
import { hotlistTag } from '../../protocol/offline.ts';
import { systemClock, type NfcCard, type NfcReader, type PinPad, type QrSource } from '../bindings.ts';
import type { Event, State } from '../lifecycle.ts';
import type { Sale } from '../sale.ts';
import { CredentialReaders } from './readers.ts';

/** The read loops against devices scripted here: what they read goes out as lifecycle events. */

const SALE: Sale = { benefit: 'SPORT', unit: 'cent', amount: 700 };
const CARD = cardNumberFrom('825000000000001');
const KEY = randomBytes(32);

/** A device read that waits until it is aborted, as a reader with nothing in front of it does. */
const waitForAbort = (signal: AbortSignal) => new Promise<never>((_, reject) => signal.addEventListener('abort', () => reject(signal.reason as Error)));

function readers(devices: { nfc: NfcReader; qr?: QrSource; pad?: PinPad; state: State; pinTimeoutMs?: number }) {
  const events: Event[] = [];
  let n = 0;
  const r = new CredentialReaders({
    bindings: { nfc: devices.nfc, qr: devices.qr ?? { waitForCode: waitForAbort }, pad: devices.pad ?? { requestSealedCode: (_t, _p, s) => waitForAbort(s) }, clock: systemClock },
    terminalId: 'T-TEST-01',
    issuerPublicKey: new Uint8Array(32),
    verifier: naclVerifier,
    newTxnId: () => `txn-${++n}`,
    ...(devices.pinTimeoutMs ? { pinTimeoutMs: devices.pinTimeoutMs } : {}),
    state: () => devices.state,
    dispatch: (e) => void events.push(e),
  });
  return { r, events };
}

async function until(check: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !check(); i++) await new Promise((r) => setTimeout(r, 5));
  expect(check()).toBe(true);
}

describe('CredentialReaders', () => {
  it('a failed read is told and that device reads again; the card signs the sale under an id minted before the tap', async () => {
    const asked: unknown[] = [];
    let reads = 0;
    const nfc: NfcReader = {
      waitForCard: async (_signal, sale) => {
        asked.push(sale);
        if (++reads === 1) throw new PasserelleError('CARD_REMOVED');
        const card: NfcCard = { cardNumber: CARD, expiry: '2099-12-31', uid: '04', reader: 'sim', cardPublicKey: KEY, proof: { ref: sale!.ref, at: 1, sig: 's' } };
        return card;
      },
    };
    const { r, events } = readers({ nfc, state: { tag: 'awaitingCredential', sale: SALE } });
    r.read();
    await until(() => events.length === 2);
    expect(events).toEqual([
      { type: 'CREDENTIAL_FAILED', code: 'CARD_REMOVED' },
      { type: 'CARD', cardNumber: CARD, txnId: 'txn-2', proof: { ref: 'txn-2', at: 1, sig: 's' } },
    ]);
    expect(asked[1]).toEqual({ ref: 'txn-2', terminalId: 'T-TEST-01', benefit: 'SPORT', amount: 700, unit: 'cent' });
    expect(r.tapped).toEqual({ ref: 'txn-2', tag: hotlistTag(KEY) });
    r.stop();
  });

  it('a card that did not sign the sale is a failed read', async () => {
    const nfc: NfcReader = { waitForCard: async () => ({ cardNumber: CARD, expiry: '2099-12-31', uid: '04', reader: 'sim', cardPublicKey: KEY }) };
    const { r, events } = readers({ nfc, state: { tag: 'awaitingCredential', sale: SALE } });
    r.read();
    await until(() => events.length > 0);
    r.stopReading();
    expect(events[0]).toEqual({ type: 'CREDENTIAL_FAILED', code: 'CARD_READ_FAILED' });
  });

  it('a read stopped tells nothing; a PIN entry that takes too long fails with PIN_ENTRY_TIMEOUT', async () => {
    const { r, events } = readers({ nfc: { waitForCard: waitForAbort }, state: { tag: 'awaitingPin', sale: SALE, txnId: 't', cardNumber: CARD }, pinTimeoutMs: 20 });
    r.read();
    r.stopReading();
    r.askPin('t', SALE);
    await until(() => events.length > 0);
    expect(events).toEqual([{ type: 'PIN_FAILED', code: 'PIN_ENTRY_TIMEOUT' }]);
  });
});
