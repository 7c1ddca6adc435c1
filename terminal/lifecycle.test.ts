import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { DebitReplyBody } from '../protocol/messages.ts';
import { initialState, step, type Effect, type Event, type State } from './lifecycle.ts';
import { screenText } from './screens.ts';

const TXN = '11111111-2222-4333-8444-555555555555';
const CARD = '8250123456789014';
/** The card's signature of the sale: the lifecycle carries it, never judges it. */
const proof = (ref: string) => ({ ref, at: 1_700_000_000_000, sig: 'A'.repeat(86) });

function run(events: Event[], from: State = initialState): { state: State; effects: Effect[] } {
  let state = from;
  const effects: Effect[] = [];
  for (const e of events) {
    const s = step(state, e);
    state = s.state;
    effects.push(...s.effects);
  }
  return { state, effects };
}

function reply(o: Partial<DebitReplyBody> = {}): DebitReplyBody {
  return {
    txnId: TXN,
    terminalId: 'T-LIB-01',
    status: 'approved',
    benefit: 'LEISURE_BOOKS',
    unit: 'cent',
    requested: 1250,
    taken: 1250,
    remainingToPay: 0,
    balanceAfter: 250,
    decidedAt: 1,
    mode: 'online',
    ...o,
  };
}

const shown = (effects: Effect[]) => effects.filter((e) => e.kind === 'show').map((e) => (e.kind === 'show' ? screenText(e.screen) : ''));
const nb = (s: string) => s.replace(/(\d) €/g, '$1\u00a0€');

describe('payment lifecycle', () => {
  it('NFC sale: present, commit before anything is sent, then the approval with both amounts (R9)', () => {
    const { state, effects } = run([
      { type: 'START', benefit: 'LEISURE_BOOKS', amount: 1250 },
      { type: 'CARD', cardNumber: CARD, txnId: TXN, proof: proof(TXN) },
      { type: 'COMMITTED', txnId: TXN },
      { type: 'REPLY', reply: reply() },
    ]);
    expect(effects.map((e) => e.kind)).toEqual(['show', 'readCredential', 'stopReading', 'commit', 'show', 'startReplyTimer', 'stopReplyTimer', 'show', 'finished']);
    expect(effects.find((e) => e.kind === 'commit')).toMatchObject({ txnId: TXN, credential: { kind: 'nfc', cardNumber: CARD }, sale: { amount: 1250, unit: 'cent' } });
    expect(state).toMatchObject({ tag: 'finished', outcome: { kind: 'approved', txnId: TXN } });
    expect(shown(effects).at(-1)).toBe(nb("PAIEMENT ACCEPTÉ\nLivres loisirs\nPris sur l'avantage : 12,50 €\nReste à payer : 0,00 €\nSolde restant : 2,50 €"));
  });

  it('QR sale asks for the code and commits the sealed block, never the code itself', () => {
    const { effects } = run([
      { type: 'START', benefit: 'SPORT', amount: 3000 },
      { type: 'QR', cardNumber: CARD, txnId: TXN },
      { type: 'PIN_SEALED', pinBlock: 'sealed-block' },
    ]);
    expect(effects.find((e) => e.kind === 'askPin')).toMatchObject({ txnId: TXN });
    expect(effects.find((e) => e.kind === 'commit')).toMatchObject({ credential: { kind: 'qr', cardNumber: CARD, pinBlock: 'sealed-block' } });
    expect(shown(effects)).toContain('Tapez votre code secret\nsur le clavier');
  });

  it('R9 partial debit shows what was taken and what remains to pay', () => {
    const { effects } = run([
      { type: 'START', benefit: 'LEISURE_BOOKS', amount: 2000 },
      { type: 'CARD', cardNumber: CARD, txnId: TXN, proof: proof(TXN) },
      { type: 'COMMITTED', txnId: TXN },
      { type: 'REPLY', reply: reply({ requested: 2000, taken: 1500, remainingToPay: 500, balanceAfter: 0 }) },
    ]);
    expect(shown(effects).at(-1)).toBe(nb("PAIEMENT PARTIEL ACCEPTÉ\nLivres loisirs\nPris sur l'avantage : 15,00 €\nReste à payer : 5,00 €\nSolde restant : 0,00 €"));
  });

  it('a decline says why in French and that everything remains to pay', () => {
    const { state, effects } = run([
      { type: 'START', benefit: 'SPORT', amount: 3000 },
      { type: 'CARD', cardNumber: CARD, txnId: TXN, proof: proof(TXN) },
      { type: 'COMMITTED', txnId: TXN },
      { type: 'REPLY', reply: reply({ status: 'declined', code: 'CARD_BLOCKED', benefit: 'SPORT', requested: 3000, taken: 0, remainingToPay: 3000 }) },
    ]);
    expect(state).toMatchObject({ outcome: { kind: 'declined' } });
    expect(shown(effects).at(-1)).toBe(nb('PAIEMENT REFUSÉ\nCarte en opposition\nLicence sportive\nReste à payer : 30,00 €'));
  });

  it('cinema amounts are entries, and the youth pays 1 € per entry at the counter', () => {
    const { effects } = run([
      { type: 'START', benefit: 'CINEMA', amount: 2 },
      { type: 'CARD', cardNumber: CARD, txnId: TXN, proof: proof(TXN) },
      { type: 'COMMITTED', txnId: TXN },
      { type: 'REPLY', reply: reply({ benefit: 'CINEMA', unit: 'entry', requested: 2, taken: 2, remainingToPay: 0, balanceAfter: 3 }) },
    ]);
    expect(shown(effects)[0]).toContain('Montant : 2\u00a0entrées');
    expect(shown(effects).at(-1)).toContain('Solde restant : 3\u00a0entrées');
    expect(shown(effects).at(-1)).toContain('À payer au guichet : 2,00\u00a0€');
  });

  it('a museum visit is shown as a free entry', () => {
    const { effects } = run([
      { type: 'START', benefit: 'MUSEUM', amount: 1 },
      { type: 'CARD', cardNumber: CARD, txnId: TXN, proof: proof(TXN) },
      { type: 'COMMITTED', txnId: TXN },
      { type: 'REPLY', reply: reply({ benefit: 'MUSEUM', unit: 'entry', requested: 1, taken: 1, remainingToPay: 0 }) },
    ]);
    expect(shown(effects).at(-1)).toBe('ENTRÉE ACCEPTÉE\nMusées et expositions\nEntrées : 1\nAccès gratuit');
  });

  it('a failed read shows why and reads again; the sale goes on', () => {
    const { state, effects } = run([
      { type: 'START', benefit: 'SPORT', amount: 3000 },
      { type: 'CREDENTIAL_FAILED', code: 'QR_UNREADABLE' },
    ]);
    expect(state.tag).toBe('awaitingCredential');
    expect(effects.filter((e) => e.kind === 'readCredential')).toHaveLength(2);
    expect(shown(effects).at(-1)).toContain('QR code illisible');
  });

  it('cancelling before the commit records nothing; after the commit the cancel is ignored', () => {
    const before = run([{ type: 'START', benefit: 'SPORT', amount: 3000 }, { type: 'CANCEL' }]);
    expect(before.state).toMatchObject({ tag: 'finished', outcome: { kind: 'cancelled', code: 'SALE_CANCELLED' } });
    expect(before.effects.some((e) => e.kind === 'commit')).toBe(false);
    const after = run([{ type: 'START', benefit: 'SPORT', amount: 3000 }, { type: 'CARD', cardNumber: CARD, txnId: TXN, proof: proof(TXN) }, { type: 'CANCEL' }]);
    expect(after.state.tag).toBe('committing');
  });

  it('a reply for another transaction is ignored; a timeout asks for the fallback (void, then offline judgement)', () => {
    const { state, effects } = run([
      { type: 'START', benefit: 'SPORT', amount: 3000 },
      { type: 'CARD', cardNumber: CARD, txnId: TXN, proof: proof(TXN) },
      { type: 'COMMITTED', txnId: TXN },
      { type: 'REPLY', reply: reply({ txnId: '99999999-2222-4333-8444-555555555555' }) },
      { type: 'REPLY_TIMEOUT', txnId: TXN },
    ]);
    expect(state).toMatchObject({ tag: 'fallingBack', txnId: TXN });
    expect(effects.at(-1)).toMatchObject({ kind: 'fallback', txnId: TXN, credential: { kind: 'nfc', cardNumber: CARD, proof: proof(TXN) } });
    // A late reply cannot flip the result once the fallback started.
    expect(step(state, { type: 'REPLY', reply: reply() }).state).toBe(state);
  });

  it('three outcomes, each said plainly: accepted offline is provisional, refused says why', () => {
    const start: Event[] = [
      { type: 'START', benefit: 'SPORT', amount: 3000 },
      { type: 'CARD', cardNumber: CARD, txnId: TXN, proof: proof(TXN) },
    ];
    const offline = run([...start, { type: 'OFFLINE_ACCEPTED', txnId: TXN }]);
    expect(offline.state).toMatchObject({ tag: 'finished', outcome: { kind: 'offline', txnId: TXN } });
    expect(shown(offline.effects).at(-1)).toContain('ACCEPTÉ HORS LIGNE');
    expect(shown(offline.effects).at(-1)).toContain('provisoire');
    const refused = run([...start, { type: 'OFFLINE_REFUSED', code: 'OFFLINE_AMOUNT_LIMIT' }]);
    expect(refused.state).toMatchObject({ outcome: { kind: 'refused', code: 'OFFLINE_AMOUNT_LIMIT' } });
    expect(shown(refused.effects).at(-1)).toContain('PAIEMENT REFUSÉ\nHors ligne : montant trop élevé');
    const timedOut = run([...start, { type: 'COMMITTED', txnId: TXN }, { type: 'REPLY_TIMEOUT', txnId: TXN }, { type: 'OFFLINE_REFUSED', code: 'NO_REPLY' }]);
    expect(timedOut.state).toMatchObject({ outcome: { kind: 'refused', code: 'NO_REPLY' } });
  });

  it('a PIN entry cancelled or timed out ends the sale before anything is recorded', () => {
    const { state, effects } = run([
      { type: 'START', benefit: 'SPORT', amount: 3000 },
      { type: 'QR', cardNumber: CARD, txnId: TXN },
      { type: 'PIN_FAILED', code: 'PIN_ENTRY_TIMEOUT' },
    ]);
    expect(state).toMatchObject({ outcome: { kind: 'cancelled', code: 'PIN_ENTRY_TIMEOUT' } });
    expect(effects.some((e) => e.kind === 'commit')).toBe(false);
  });

  it('refuses amounts that are not whole units in range', () => {
    for (const amount of [0, -1, 12.5, 1_000_001]) {
      expect(run([{ type: 'START', benefit: 'SPORT', amount }]).state).toMatchObject({ outcome: { kind: 'cancelled', code: 'AMOUNT_INVALID' } });
    }
    expect(run([{ type: 'START', benefit: 'CINEMA', amount: 51 }]).state).toMatchObject({ outcome: { code: 'AMOUNT_INVALID' } });
  });

  it('RESET returns to idle only from a finished sale', () => {
    const mid = run([{ type: 'START', benefit: 'SPORT', amount: 3000 }, { type: 'RESET' }]);
    expect(mid.state.tag).toBe('awaitingCredential');
    const end = run([{ type: 'START', benefit: 'SPORT', amount: 3000 }, { type: 'CANCEL' }, { type: 'RESET' }]);
    expect(end.state.tag).toBe('idle');
  });

  it('over any sequence of events: at most one commit, one finish, and no commit after a finish', () => {
    const event = fc.oneof(
      fc.constant<Event>({ type: 'START', benefit: 'SPORT', amount: 100 }),
      fc.constant<Event>({ type: 'CARD', cardNumber: CARD, txnId: TXN, proof: proof(TXN) }),
      fc.constant<Event>({ type: 'QR', cardNumber: CARD, txnId: TXN }),
      fc.constant<Event>({ type: 'CREDENTIAL_FAILED', code: 'CARD_READ_FAILED' }),
      fc.constant<Event>({ type: 'PIN_SEALED', pinBlock: 'b' }),
      fc.constant<Event>({ type: 'PIN_FAILED', code: 'PIN_ENTRY_CANCELLED' }),
      fc.constant<Event>({ type: 'COMMITTED', txnId: TXN }),
      fc.constant<Event>({ type: 'COMMIT_FAILED', code: 'OUTBOX_FULL' }),
      fc.constant<Event>({ type: 'REPLY', reply: reply() }),
      fc.constant<Event>({ type: 'REJECTED', txnId: TXN, code: 'BAD_SIGNATURE' }),
      fc.constant<Event>({ type: 'REPLY_TIMEOUT', txnId: TXN }),
      fc.constant<Event>({ type: 'OFFLINE_ACCEPTED', txnId: TXN }),
      fc.constant<Event>({ type: 'OFFLINE_REFUSED', code: 'NO_REPLY' }),
      fc.constant<Event>({ type: 'CANCEL' }),
    );
    fc.assert(
      fc.property(fc.array(event, { maxLength: 30 }), (events) => {
        const { effects } = run(events);
        const kinds = effects.map((e) => e.kind);
        expect(kinds.filter((k) => k === 'commit').length).toBeLessThanOrEqual(1);
        expect(kinds.filter((k) => k === 'fallback').length).toBeLessThanOrEqual(1);
        expect(kinds.filter((k) => k === 'finished').length).toBeLessThanOrEqual(1);
        const fin = kinds.indexOf('finished');
        if (fin >= 0) expect(kinds.slice(fin + 1)).toEqual([]);
        // A sale whose commit succeeded (it reached awaitingReply) ends only by its reply, a rejection or a
        // timeout, never "cancelled": it exists on disk and will reach the gateway.
        let state: State = initialState;
        let committed = false;
        for (const e of events) {
          state = step(state, e).state;
          if (state.tag === 'awaitingReply') committed = true;
        }
        if (committed && state.tag === 'finished') expect(state.outcome.kind).not.toBe('cancelled');
      }),
      { numRuns: 500 },
    );
  });
});
