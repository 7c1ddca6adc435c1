import type { RejectCode } from '../protocol/codes.ts';
import type { Signer, Verifier } from '../protocol/crypto.ts';
import { debitRequest, encodeJson } from '../protocol/debit.ts';
import { PasserelleError } from '../protocol/errors.ts';
import { decodeFrame, encodeDirect, verifyFrame } from '../protocol/frame.ts';
import { DebitRequest, MAX_SALE_ENTRIES, parseJson, Reply } from '../protocol/messages.ts';
import { MAX_SALE_CENTS } from '../protocol/money.ts';
import type { FaultyLink } from './faulty-link.ts';

/**
 * A request sent again under its transaction id, as a developer testing an integration needs to: with the
 * same content (a terminal resending after a lost reply: the gateway answers with its original reply) or
 * with other content (a bug or a forgery: the gateway refuses it with TXN_CONFLICT and applies nothing).
 * The terminal's outbox is not touched: the repeat goes straight to the link, signed with the terminal's key.
 */

export type RepeatContent = 'same' | 'other';

export type RepeatAnswer =
  /** A debit reply for the id: its message bytes, and whether they are the reply the terminal recorded first. */
  | { readonly kind: 'reply'; readonly status: 'approved' | 'declined'; readonly message: Buffer; readonly original: boolean }
  | { readonly kind: 'rejected'; readonly code: RejectCode };

/** The same request with its amount one unit off (one cent or one entry), signed again by the terminal. */
export function otherContent(frame: Buffer, signer: Signer): { frame: Buffer; amount: number } {
  const body = parseJson(DebitRequest, decodeFrame(frame).message, 'debit request').body;
  const max = body.unit === 'entry' ? MAX_SALE_ENTRIES : MAX_SALE_CENTS;
  const amount = body.amount < max ? body.amount + 1 : body.amount - 1;
  const message = encodeJson(debitRequest({ ...body, amount }));
  return { frame: encodeDirect(message, signer.sign(message)), amount };
}

export interface AnswerWatch {
  readonly link: FaultyLink;
  readonly txnId: string;
  /** The reply the terminal recorded for this id (the outbox's), to compare the repeat's answer with. */
  readonly recorded: Buffer | null;
  readonly gatewaySignPublicKey: Uint8Array;
  readonly verifier: Verifier;
  readonly timeoutMs: number;
}

/**
 * The gateway's next answer naming `txnId` (signature checked), or NO_REPLY after the timeout. Watching
 * starts before the request is sent (the answer may come back at once); `cancel` stops the watch, its timer
 * included, when the request could not be sent after all (the answer then never settles).
 */
export function nextAnswer(w: AnswerWatch): { readonly answer: Promise<RepeatAnswer>; cancel(): void } {
  let stop = (): void => {};
  const answer = new Promise<RepeatAnswer>((resolve, reject) => {
    const finish = (a: RepeatAnswer) => {
      stop();
      resolve(a);
    };
    const unwatch = w.link.watchReplies((payload) => {
      const reply = verifiedReply(payload, w);
      if (!reply) return;
      const { message, parsed } = reply;
      if (parsed.type === 'debit.reply' && parsed.body.txnId === w.txnId) {
        finish({ kind: 'reply', status: parsed.body.status, message, original: w.recorded !== null && message.equals(w.recorded) });
      } else if (parsed.type === 'error' && parsed.corr === w.txnId) {
        finish({ kind: 'rejected', code: parsed.body.code });
      }
    });
    const timer = setTimeout(() => {
      unwatch();
      reject(new PasserelleError('NO_REPLY', `no answer from the gateway to the repeat of ${w.txnId} within ${w.timeoutMs} ms`));
    }, w.timeoutMs);
    stop = () => {
      clearTimeout(timer);
      unwatch();
    };
  });
  return { answer, cancel: () => stop() };
}

function verifiedReply(payload: Buffer, w: AnswerWatch): { message: Buffer; parsed: Reply } | undefined {
  try {
    const frame = decodeFrame(payload);
    if (!verifyFrame(frame, w.gatewaySignPublicKey, w.verifier)) return undefined;
    const message = Buffer.from(frame.message);
    return { message, parsed: parseJson(Reply, message, 'reply') };
  } catch {
    // The runtime logs what it cannot read; a watcher only looks for its answer.
    return undefined;
  }
}
