import { createHash } from 'node:crypto';
import { saleProofMessage, type CardSale } from '../protocol/card-app.ts';
import { nodeSigner, type Signer } from '../protocol/crypto.ts';
import type { CardProof } from '../protocol/messages.ts';

/**
 * The benchmark's cards' chips: one per card number, its seed derived from the number, so the seeding
 * (which records each chip's public key, as personalisation does) and the load generator (which answers
 * for the cards at each sale) agree without passing keys. Benchmark data only.
 */
const chips = new Map<string, Signer>();

export function benchChip(cardNumber: string): Signer {
  let chip = chips.get(cardNumber);
  if (!chip) {
    chip = nodeSigner(createHash('sha256').update(`passerelle bench chip\0${cardNumber}`).digest());
    chips.set(cardNumber, chip);
  }
  return chip;
}

/** The card's signature of a sale, as it answers at the tap (protocol/card-app.ts `saleChallenge`). */
export function benchProof(cardNumber: string, sale: CardSale): CardProof {
  return { ref: sale.ref, at: sale.at, sig: Buffer.from(benchChip(cardNumber).sign(saleProofMessage(sale))).toString('base64url') };
}
