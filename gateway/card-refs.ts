import { createCipheriv, createDecipheriv, hkdfSync } from 'node:crypto';
import { isValidCardNumber } from '../protocol/card.ts';

/**
 * Opaque references to cards, for an operator who found a card by its holder's name and must act on it
 * without its number ever leaving the gateway (the API shows numbers masked). A reference is the card
 * number (16 ASCII digits: exactly one AES block) encrypted with AES-256 under a key derived from the
 * gateway's own secret: stable across restarts and across gateways that share the keys, meaningless to
 * anyone else, and turned back into the number with no table to keep. It is a handle, not a secret: it is
 * only accepted behind the operator's token, like the number itself.
 */

/** `C` and 22 base64url characters. */
export const CARD_REF_PATTERN = '^C[A-Za-z0-9_-]{22}$';
const CARD_REF = new RegExp(CARD_REF_PATTERN);

export interface CardRefs {
  ref(cardNumber: string): string;
  /** The card number a reference stands for, or undefined for a string that is no reference of ours. */
  cardNumber(ref: string): string | undefined;
}

export function cardRefs(secret: Uint8Array): CardRefs {
  const key = Buffer.from(hkdfSync('sha256', secret, Buffer.alloc(0), 'passerelle/card-ref/v1', 32));
  // One block, no chaining and no padding: ECB is exactly the one-block permutation wanted here.
  const run = (decrypt: boolean, block: Buffer): Buffer => {
    const c = decrypt ? createDecipheriv('aes-256-ecb', key, null) : createCipheriv('aes-256-ecb', key, null);
    c.setAutoPadding(false);
    return Buffer.concat([c.update(block), c.final()]);
  };
  return {
    ref(cardNumber) {
      if (!isValidCardNumber(cardNumber)) throw new Error(`not a card number: ${cardNumber.length} characters`);
      return `C${run(false, Buffer.from(cardNumber, 'ascii')).toString('base64url')}`;
    },
    cardNumber(ref) {
      if (!CARD_REF.test(ref)) return undefined;
      const block = Buffer.from(ref.slice(1), 'base64url');
      if (block.length !== 16) return undefined;
      const number = run(true, block).toString('latin1');
      return isValidCardNumber(number) ? number : undefined;
    },
  };
}
