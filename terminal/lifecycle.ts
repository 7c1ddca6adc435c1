import { benefitUnit, type Benefit } from '../protocol/benefits.ts';
import type { Code, RejectCode } from '../protocol/codes.ts';
import type { CardProof, DebitReplyBody } from '../protocol/messages.ts';
import { MAX_SALE_CENTS } from '../protocol/money.ts';
import { MAX_SALE_ENTRIES } from '../protocol/messages.ts';
import { screens, type Screen } from './screens.ts';
import type { CredentialDraft, Outcome, Sale } from './sale.ts';

/**
 * The payment lifecycle of one sale, as a pure state machine: `step(state, event)` returns the next state
 * and the effects the runtime must carry out. No clock, no I/O, no randomness here: ids and times arrive
 * in events, so every path is testable step by step.
 *
 *   idle ─START─▶ awaitingCredential ─CARD──────────────────────────▶ committing ─COMMITTED (online)─▶ awaitingReply
 *                      │  ▲                                               ▲  │                             │
 *                      │  └─CREDENTIAL_FAILED (show, read again)          │  ├─OFFLINE_ACCEPTED─▶ finished (accepted offline)
 *                      └─QR─▶ awaitingPin ─PIN_SEALED─────────────────────┘  └─OFFLINE_REFUSED──▶ finished (refused)
 *                                   └─PIN_FAILED─▶ finished (cancelled)
 *   awaitingReply ─REPLY─▶ finished (approved | declined)
 *                 └─REPLY_TIMEOUT─▶ fallingBack ─OFFLINE_ACCEPTED─▶ finished (accepted offline)
 *                                               └─OFFLINE_REFUSED──▶ finished (refused: no reply)
 *   awaitingCredential / awaitingPin ─CANCEL─▶ finished (cancelled)      finished ─RESET─▶ idle
 *
 * Three outcomes for a committed sale, never a silent flip: approved online, accepted offline
 * (provisional), declined (by the gateway, or refused by the terminal). The runtime decides at commit
 * time whether the sale goes online (link up) or is judged offline by the signed policy. When an online
 * request gets no reply in time, the runtime voids it (a void record goes to the gateway, which undoes it
 * if it was applied) and judges the sale offline instead, in one outbox transaction.
 *
 * The commit effect always comes before anything else is shown or sent: a sale the cashier saw exists on
 * disk first.
 *
 * Once a sale is committed to the outbox it cannot be cancelled from here: it exists, and it will reach
 * the gateway with its id. Before the commit nothing has been recorded, so cancelling is free.
 */

export type State =
  | { readonly tag: 'idle' }
  | { readonly tag: 'awaitingCredential'; readonly sale: Sale }
  | { readonly tag: 'awaitingPin'; readonly sale: Sale; readonly txnId: string; readonly cardNumber: string }
  | { readonly tag: 'committing'; readonly sale: Sale; readonly txnId: string; readonly credential: CredentialDraft }
  | { readonly tag: 'awaitingReply'; readonly sale: Sale; readonly txnId: string; readonly credential: CredentialDraft }
  | { readonly tag: 'fallingBack'; readonly sale: Sale; readonly txnId: string }
  | { readonly tag: 'finished'; readonly outcome: Outcome };

export type Event =
  | { readonly type: 'START'; readonly benefit: Benefit; readonly amount: number }
  /** A card read and authenticated; it signed the sale `txnId` (its proof). */
  | { readonly type: 'CARD'; readonly cardNumber: string; readonly txnId: string; readonly proof: CardProof }
  | { readonly type: 'QR'; readonly cardNumber: string; readonly txnId: string }
  | { readonly type: 'CREDENTIAL_FAILED'; readonly code: Code }
  | { readonly type: 'PIN_SEALED'; readonly pinBlock: string }
  | { readonly type: 'PIN_FAILED'; readonly code: Code }
  /** An online request is on disk (and handed to the link). */
  | { readonly type: 'COMMITTED'; readonly txnId: string }
  /** The sale was judged offline and committed as accepted offline (its id may differ after a fallback). */
  | { readonly type: 'OFFLINE_ACCEPTED'; readonly txnId: string }
  | { readonly type: 'OFFLINE_REFUSED'; readonly code: Code }
  | { readonly type: 'COMMIT_FAILED'; readonly code: Code }
  | { readonly type: 'REPLY'; readonly reply: DebitReplyBody }
  | { readonly type: 'REJECTED'; readonly txnId: string; readonly code: RejectCode }
  | { readonly type: 'REPLY_TIMEOUT'; readonly txnId: string }
  | { readonly type: 'CANCEL' }
  | { readonly type: 'RESET' };

export type Effect =
  | { readonly kind: 'show'; readonly screen: Screen }
  | { readonly kind: 'readCredential' }
  | { readonly kind: 'stopReading' }
  | { readonly kind: 'askPin'; readonly txnId: string; readonly sale: Sale }
  | { readonly kind: 'commit'; readonly txnId: string; readonly sale: Sale; readonly credential: CredentialDraft }
  | { readonly kind: 'startReplyTimer'; readonly txnId: string }
  /** No reply in time: void the online request and judge the sale offline, in one outbox transaction. */
  | { readonly kind: 'fallback'; readonly txnId: string; readonly sale: Sale; readonly credential: CredentialDraft }
  | { readonly kind: 'stopReplyTimer' }
  | { readonly kind: 'finished'; readonly outcome: Outcome };

export interface Step {
  readonly state: State;
  readonly effects: readonly Effect[];
}

export const initialState: State = { tag: 'idle' };

const stay = (state: State): Step => ({ state, effects: [] });

/** Why a sale cannot start with this amount, or null when it can. */
export function invalidAmount(benefit: Benefit, amount: number): string | null {
  const max = benefitUnit(benefit) === 'entry' ? MAX_SALE_ENTRIES : MAX_SALE_CENTS;
  if (!Number.isSafeInteger(amount) || amount < 1 || amount > max) return `amount must be an integer from 1 to ${max}`;
  return null;
}

export function step(state: State, event: Event): Step {
  if (event.type === 'RESET') return state.tag === 'finished' || state.tag === 'idle' ? { state: initialState, effects: [{ kind: 'show', screen: screens.idle() }] } : stay(state);
  switch (state.tag) {
    case 'idle':
      return event.type === 'START' ? start(event.benefit, event.amount) : stay(state);
    case 'awaitingCredential':
      return onAwaitingCredential(state, event);
    case 'awaitingPin':
      return onAwaitingPin(state, event);
    case 'committing':
      if (event.type === 'COMMITTED' && event.txnId === state.txnId) {
        return {
          state: { tag: 'awaitingReply', sale: state.sale, txnId: state.txnId, credential: state.credential },
          effects: [{ kind: 'startReplyTimer', txnId: state.txnId }],
        };
      }
      if (event.type === 'COMMIT_FAILED') return finish({ kind: 'cancelled', code: event.code });
      return onOfflineJudged(state, event);
    case 'awaitingReply':
      return onAwaitingReply(state, event);
    case 'fallingBack':
      return onOfflineJudged(state, event);
    case 'finished':
      return stay(state);
  }
}

function start(benefit: Benefit, amount: number): Step {
  if (invalidAmount(benefit, amount)) return finish({ kind: 'cancelled', code: 'AMOUNT_INVALID' });
  const sale: Sale = { benefit, unit: benefitUnit(benefit), amount };
  return { state: { tag: 'awaitingCredential', sale }, effects: [{ kind: 'show', screen: screens.present(sale) }, { kind: 'readCredential' }] };
}

function onAwaitingCredential(state: Extract<State, { tag: 'awaitingCredential' }>, event: Event): Step {
  switch (event.type) {
    case 'CARD': {
      const credential: CredentialDraft = { kind: 'nfc', cardNumber: event.cardNumber, proof: event.proof };
      return {
        state: { tag: 'committing', sale: state.sale, txnId: event.txnId, credential },
        effects: [{ kind: 'stopReading' }, { kind: 'commit', txnId: event.txnId, sale: state.sale, credential }, { kind: 'show', screen: screens.sending() }],
      };
    }
    case 'QR':
      return {
        state: { tag: 'awaitingPin', sale: state.sale, txnId: event.txnId, cardNumber: event.cardNumber },
        effects: [{ kind: 'stopReading' }, { kind: 'show', screen: screens.typeCode() }, { kind: 'askPin', txnId: event.txnId, sale: state.sale }],
      };
    case 'CREDENTIAL_FAILED':
      // A bad read is not the end of the sale: say why and wait for another try (or a cancel).
      return { state, effects: [{ kind: 'show', screen: screens.readAgain(state.sale, event.code) }, { kind: 'readCredential' }] };
    case 'CANCEL':
      return finish({ kind: 'cancelled', code: 'SALE_CANCELLED' }, [{ kind: 'stopReading' }]);
    default:
      return stay(state);
  }
}

function onAwaitingPin(state: Extract<State, { tag: 'awaitingPin' }>, event: Event): Step {
  switch (event.type) {
    case 'PIN_SEALED': {
      const credential: CredentialDraft = { kind: 'qr', cardNumber: state.cardNumber, pinBlock: event.pinBlock };
      return {
        state: { tag: 'committing', sale: state.sale, txnId: state.txnId, credential },
        effects: [{ kind: 'commit', txnId: state.txnId, sale: state.sale, credential }, { kind: 'show', screen: screens.sending() }],
      };
    }
    case 'PIN_FAILED':
      return finish({ kind: 'cancelled', code: event.code });
    case 'CANCEL':
      return finish({ kind: 'cancelled', code: 'PIN_ENTRY_CANCELLED' });
    default:
      return stay(state);
  }
}

function onAwaitingReply(state: Extract<State, { tag: 'awaitingReply' }>, event: Event): Step {
  const stop: Effect = { kind: 'stopReplyTimer' };
  if (event.type === 'REPLY' && event.reply.txnId === state.txnId) {
    const kind = event.reply.status === 'approved' ? 'approved' : 'declined';
    return finish({ kind, txnId: state.txnId, reply: event.reply }, [stop]);
  }
  if (event.type === 'REJECTED' && event.txnId === state.txnId) return finish({ kind: 'rejected', txnId: state.txnId, code: event.code }, [stop]);
  if (event.type === 'REPLY_TIMEOUT' && event.txnId === state.txnId) {
    return {
      state: { tag: 'fallingBack', sale: state.sale, txnId: state.txnId },
      effects: [{ kind: 'fallback', txnId: state.txnId, sale: state.sale, credential: state.credential }],
    };
  }
  return stay(state);
}

/** The runtime judged the sale offline (at commit, or after a reply timeout). */
function onOfflineJudged(state: Extract<State, { tag: 'committing' | 'fallingBack' }>, event: Event): Step {
  if (event.type === 'OFFLINE_ACCEPTED') return finish({ kind: 'offline', txnId: event.txnId, sale: state.sale });
  if (event.type === 'OFFLINE_REFUSED') return finish({ kind: 'refused', code: event.code, sale: state.sale });
  return stay(state);
}

function finish(outcome: Outcome, before: Effect[] = []): Step {
  return { state: { tag: 'finished', outcome }, effects: [...before, { kind: 'show', screen: screens.outcome(outcome) }, { kind: 'finished', outcome }] };
}
