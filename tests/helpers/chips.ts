import { createHash } from 'node:crypto';
import type { Ledger } from '../../gateway/ledger/ledger.ts';
import { saleChallenge, challengeMessage } from '../../protocol/card-app.ts';
import { nodeSigner, type Signer } from '../../protocol/crypto.ts';
import type { CardProof, DebitRequestBody } from '../../protocol/messages.ts';
import { CardBureau } from '../../simulators/sim-bindings.ts';

/**
 * Test chips: one fixed chip per card number (its seed derives from the number), so a test process, a
 * child terminal process and the gateway's ledger agree on it without passing keys around. Test data only:
 * anyone can derive these seeds.
 */

export function testChipSeed(cardNumber: string): Uint8Array {
  return createHash('sha256').update(`passerelle test chip\0${cardNumber}`).digest();
}

const chips = new Map<string, Signer>();

export function testChip(cardNumber: string): Signer {
  let chip = chips.get(cardNumber);
  if (!chip) {
    chip = nodeSigner(testChipSeed(cardNumber));
    chips.set(cardNumber, chip);
  }
  return chip;
}

/** Record the test chip's key for these cards, as personalisation does; cards the ledger does not know are skipped. */
export async function registerTestChips(ledger: Ledger, cardNumbers: readonly string[], at = Date.now()): Promise<void> {
  await ledger.atomically(async () => {
    for (const n of cardNumbers) if (await ledger.card(n)) await ledger.setCardKey(n, testChip(n).publicKey, '2099-12-31', at);
  });
}

/** A card bureau handing out the test chips, registering each with the ledger when one is given. */
export function testBureau(issuer: Signer, ledger?: Ledger): CardBureau {
  // The bureau hands a card out at once; its chip is registered before the next I/O on the SQLite ledger
  // (its calls settle as microtasks), so before any tap of it.
  return new CardBureau(issuer, { chipSeed: testChipSeed, ...(ledger ? { register: (n: string) => void registerTestChips(ledger, [n]) } : {}) });
}

/** The test chip's signature of a sale (what the card answers at the tap), for requests built by hand. */
export function testProof(b: Pick<DebitRequestBody, 'txnId' | 'terminalId' | 'benefit' | 'amount' | 'unit'>, cardNumber: string, at = 1_700_000_000_000, ref = b.txnId): CardProof {
  const sale = { ref, terminalId: b.terminalId, benefit: b.benefit, amount: b.amount, unit: b.unit, at };
  return { ref, at, sig: Buffer.from(testChip(cardNumber).sign(challengeMessage(saleChallenge(sale)))).toString('base64url') };
}
