import type { RejectCode } from '../protocol/codes.ts';
import {
  PROTOCOL_VERSION,
  type DebitReply,
  type DebitRequestBody,
  type ErrorReply,
  type VoidReply,
  type VoidReplyBody,
  type VoidRequestBody,
} from '../protocol/messages.ts';
import type { Decision } from './rules.ts';

/**
 * The reply to a decided debit: what was asked, what was taken, what remains to pay (R9), in the request's
 * mode. `guaranteed`: for an offline sale, what the Region's offline guarantee covers (taken + guaranteed
 * + remainingToPay = requested); left out when 0.
 */
export function debitReply(req: DebitRequestBody, d: Decision, decidedAt: number, guaranteed = 0): DebitReply {
  const common = { txnId: req.txnId, terminalId: req.terminalId, benefit: req.benefit, unit: req.unit, requested: req.amount, decidedAt, mode: req.mode };
  const body: DebitReply['body'] =
    d.status === 'approved'
      ? {
          ...common,
          status: 'approved',
          taken: d.taken,
          remainingToPay: d.remainingToPay,
          ...(d.balanceAfter === undefined ? {} : { balanceAfter: d.balanceAfter }),
          ...(guaranteed > 0 ? { guaranteed } : {}),
        }
      : {
          ...common,
          status: 'declined',
          code: d.code,
          taken: 0,
          remainingToPay: req.amount,
          ...(d.balanceAfter === undefined ? {} : { balanceAfter: d.balanceAfter }),
        };
  return { v: PROTOCOL_VERSION, type: 'debit.reply', corr: req.txnId, body };
}

/** The reply to a void: whether the target's debit was given back (`undone`) or will never be applied (`prevented`). */
export function voidReply(v: VoidRequestBody, r: VoidOutcome, decidedAt: number): VoidReply {
  return { v: PROTOCOL_VERSION, type: 'void.reply', corr: v.txnId, body: { txnId: v.txnId, terminalId: v.terminalId, target: v.target, result: r.result, ...(r.code ? { code: r.code } : {}), decidedAt } };
}

/** What a void did (gateway/ledger/sql/voids.ts). */
export interface VoidOutcome {
  readonly result: VoidReplyBody['result'];
  readonly code?: VoidReplyBody['code'];
}

/** A request refused before any rule ran. `corr` is '' when the request could not be read. */
export function errorReply(corr: string, code: RejectCode, message: string, decidedAt: number): ErrorReply {
  return { v: PROTOCOL_VERSION, type: 'error', corr: corr.slice(0, 64), body: { code, message: message.slice(0, 500), decidedAt } };
}
