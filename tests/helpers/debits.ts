import { benefitUnit, type Benefit } from '../../protocol/benefits.ts';
import { requestFingerprint } from '../../protocol/debit.ts';
import { GENESIS_HASH } from '../../protocol/offline.ts';
import { uuidv7 } from '../../protocol/uuid7.ts';
import type { DebitRequestBody } from '../../protocol/messages.ts';
import type { DebitItem } from '../../gateway/ledger/ledger.ts';
import type { CardProofCheck, PinCheck } from '../../gateway/rules.ts';
import { testProof } from './chips.ts';

let seq = 0;

/**
 * A well-formed NFC debit body, signed by the card's test chip (tests/helpers/chips.ts); override what the
 * test is about. The gateway accepts the card's signature once the test chip is registered for the card.
 */
export function debitBody(o: { terminalId: string; cardNumber: string; benefit: Benefit; amount: number } & Partial<DebitRequestBody>): DebitRequestBody {
  const txnId = o.txnId ?? uuidv7();
  const unit = o.unit ?? benefitUnit(o.benefit);
  const createdAt = o.createdAt ?? 1_700_000_000_000;
  return {
    txnId,
    terminalId: o.terminalId,
    seq: o.seq ?? ++seq,
    prev: o.prev ?? GENESIS_HASH,
    createdAt,
    mode: o.mode ?? 'online',
    hotlist: o.hotlist ?? 0,
    policy: o.policy ?? 0,
    credential: o.credential ?? { kind: 'nfc', cardNumber: o.cardNumber, proof: testProof({ txnId, terminalId: o.terminalId, benefit: o.benefit, amount: o.amount, unit }, o.cardNumber, createdAt) },
    benefit: o.benefit,
    amount: o.amount,
    unit,
  };
}

/** A ledger item as the pipeline makes it: the code already checked, the card's proof too (ok unless said). */
export function debitItem(body: DebitRequestBody, pin: PinCheck = 'not-needed', proof: CardProofCheck = body.credential.kind === 'nfc' ? 'ok' : 'not-needed'): DebitItem {
  return { body, fingerprint: requestFingerprint(body), pin, proof };
}
