import { benefitUnit, type Benefit } from '../../protocol/benefits.ts';
import { requestFingerprint } from '../../protocol/debit.ts';
import { GENESIS_HASH } from '../../protocol/offline.ts';
import { uuidv7 } from '../../protocol/uuid7.ts';
import type { DebitRequestBody } from '../../protocol/messages.ts';
import type { DebitItem } from '../../gateway/ledger/ledger.ts';
import type { PinCheck } from '../../gateway/rules.ts';

let seq = 0;

/** A well-formed NFC debit body; override what the test is about. */
export function debitBody(o: { terminalId: string; cardNumber: string; benefit: Benefit; amount: number } & Partial<DebitRequestBody>): DebitRequestBody {
  return {
    txnId: o.txnId ?? uuidv7(),
    terminalId: o.terminalId,
    seq: o.seq ?? ++seq,
    prev: o.prev ?? GENESIS_HASH,
    createdAt: o.createdAt ?? 1_700_000_000_000,
    mode: o.mode ?? 'online',
    hotlist: o.hotlist ?? 0,
    policy: o.policy ?? 0,
    credential: o.credential ?? { kind: 'nfc', cardNumber: o.cardNumber },
    benefit: o.benefit,
    amount: o.amount,
    unit: o.unit ?? benefitUnit(o.benefit),
  };
}

export function debitItem(body: DebitRequestBody, pin: PinCheck = 'not-needed'): DebitItem {
  return { body, fingerprint: requestFingerprint(body), pin };
}
