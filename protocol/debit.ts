import { hash } from 'node:crypto';
import { benefitUnit } from './benefits.ts';
import { isValidCardNumber } from './card.ts';
import { PasserelleError } from './errors.ts';
import {
  DebitRequest,
  MAX_SALE_ENTRIES,
  PROTOCOL_VERSION,
  parseCanonicalJson,
  TerminalRecord,
  type DebitRequestBody,
  type VoidRequest,
  type VoidRequestBody,
} from './messages.ts';

/** The envelope around a debit request body. */
export function debitRequest(body: DebitRequestBody): DebitRequest {
  return { v: PROTOCOL_VERSION, type: 'debit.request', corr: body.txnId, body };
}

export function encodeJson(message: unknown): Buffer {
  return Buffer.from(JSON.stringify(message), 'utf8');
}

/**
 * The checks a schema cannot express. `topicTerminalId` is the terminal the broker let publish, so a
 * body naming another terminal is refused before its signature is even considered.
 */
export function checkDebitRequest(req: DebitRequest, topicTerminalId: string): void {
  const b = req.body;
  if (req.corr !== b.txnId) throw new PasserelleError('BAD_SCHEMA', 'corr must equal body.txnId for a debit');
  if (b.terminalId !== topicTerminalId) {
    throw new PasserelleError('TOPIC_MISMATCH', `body names terminal ${b.terminalId}, topic names ${topicTerminalId}`);
  }
  if (!isValidCardNumber(b.credential.cardNumber)) throw new PasserelleError('CARD_NUMBER_INVALID');
  if (b.unit !== benefitUnit(b.benefit)) {
    throw new PasserelleError('UNIT_MISMATCH', `${b.benefit} is counted in ${benefitUnit(b.benefit)}, not ${b.unit}`);
  }
  if (b.unit === 'entry' && b.amount > MAX_SALE_ENTRIES) {
    throw new PasserelleError('BAD_SCHEMA', `/body/amount: at most ${MAX_SALE_ENTRIES} entries per sale`, { path: '/body/amount' });
  }
}

/** Parse and check a debit request's JSON bytes (after its signature was verified). */
export function parseDebitRequest(message: Uint8Array, topicTerminalId: string): DebitRequest {
  const req = parseCanonicalJson(DebitRequest, message, 'debit request');
  checkDebitRequest(req, topicTerminalId);
  return req;
}

/** The envelope around a void. */
export function voidRequest(body: VoidRequestBody): VoidRequest {
  return { v: PROTOCOL_VERSION, type: 'debit.void', corr: body.txnId, body };
}

/** Parse and check any record a terminal publishes (a sale or a void), after its signature was verified. */
export function parseTerminalRecord(message: Uint8Array, topicTerminalId: string): DebitRequest | VoidRequest {
  const rec = parseCanonicalJson(TerminalRecord, message, 'terminal record');
  if (rec.type === 'debit.request') {
    checkDebitRequest(rec, topicTerminalId);
    return rec;
  }
  const b = rec.body;
  if (rec.corr !== b.txnId) throw new PasserelleError('BAD_SCHEMA', 'corr must equal body.txnId for a void');
  if (b.terminalId !== topicTerminalId) {
    throw new PasserelleError('TOPIC_MISMATCH', `body names terminal ${b.terminalId}, topic names ${topicTerminalId}`);
  }
  if (b.target === b.txnId) throw new PasserelleError('BAD_SCHEMA', '/body/target: a void cannot void itself', { path: '/body/target' });
  return rec;
}

/** What makes two voids "the same" (see requestFingerprint). */
export function voidFingerprint(b: VoidRequestBody): string {
  return hash('sha256', ['void', b.txnId, b.terminalId, b.seq, b.prev, b.createdAt, b.target, b.reason].join('\x1f'), 'base64url');
}

/**
 * What makes two requests "the same": every field of the sale, in a fixed order, hashed. A resend carries
 * the same bytes; a different request reusing a transaction id differs here and is refused (TXN_CONFLICT).
 */
export function requestFingerprint(b: DebitRequestBody): string {
  const c = b.credential;
  const secret = c.kind === 'qr' ? [c.pinBlock] : [c.proof.ref, c.proof.at, c.proof.sig];
  const fields = [b.txnId, b.terminalId, b.seq, b.prev, b.createdAt, b.mode, b.hotlist, b.policy, c.kind, c.cardNumber, ...secret, b.benefit, b.amount, b.unit];
  return hash('sha256', fields.join('\x1f'), 'base64url');
}
