import { createHash } from 'node:crypto';
import type { Benefit } from '../../../protocol/benefits.ts';
import { assert, PasserelleError } from '../../../protocol/errors.ts';
import { decide, MAX_GROUP_SIZE } from '../../rules.ts';
import type { GroupList, GroupSale, GroupSaleLine, GroupSaleResult, GroupSaleLedger } from '../ledger.ts';
import type { SqliteStore } from './store.ts';
import type { PartnerCache } from './rows.ts';
import { recordSale } from './journal.ts';
import { chooseWallet, walletSnapshot } from './wallet-choice.ts';

/** Benefits a school may pay an outing with (R12): shows and cinema, never first aid. */
export const GROUP_BENEFITS: readonly Benefit[] = ['SHOWS', 'CINEMA'];

/** Group sales (R12): a school's outing paid youth by youth from a list the Region approved. */
export class SqliteGroupSales implements GroupSaleLedger {
  readonly #st: SqliteStore;

  constructor(st: SqliteStore) {
    this.#st = st;
  }

  groupSale(g: GroupSale): GroupSaleResult {
    if (!GROUP_BENEFITS.includes(g.benefit)) throw new PasserelleError('GROUP_NOT_ALLOWED', `group sales use ${GROUP_BENEFITS.join(' or ')}, not ${g.benefit}`);
    if (g.cardNumbers.length === 0 || g.cardNumbers.length > MAX_GROUP_SIZE) throw new PasserelleError('DATA_INVALID', `a group has 1..${MAX_GROUP_SIZE} youths`);
    if (new Set(g.cardNumbers).size !== g.cardNumbers.length) throw new PasserelleError('DATA_INVALID', 'a card appears twice in the group');
    if (!Number.isSafeInteger(g.amount) || g.amount < 1) throw new PasserelleError('DATA_INVALID', 'the amount per youth must be a positive integer');
    const fingerprint = createHash('sha256').update(JSON.stringify([g.partnerId, g.listId, g.benefit, g.amount, g.cardNumbers, g.reference])).digest('hex');
    return this.#st.db.transaction((): GroupSaleResult => {
      const prior = this.#st.db.prepare<[string], { fingerprint: string; result: string }>('SELECT fingerprint, result FROM group_sales WHERE id = ?').get(g.groupId);
      if (prior) {
        if (prior.fingerprint !== fingerprint) throw new PasserelleError('GROUP_CONFLICT', `group ${g.groupId} was recorded with other content`);
        return { groupId: g.groupId, fresh: false, lines: JSON.parse(prior.result) as GroupSaleLine[] };
      }
      this.#checkGroupList(g);
      const partner = this.#st.partnerCache(g.partnerId);
      const lines = g.cardNumbers.map((n, i) => this.#groupLine(g, partner, n, `${g.groupId}:${i + 1}`));
      const paid = this.#st.db.prepare<[string, string, string]>('UPDATE group_list_cards SET paid_by = ? WHERE list_id = ? AND card_number = ?');
      for (const line of lines) if (line.status === 'approved') paid.run(g.groupId, g.listId, line.cardNumber);
      this.#st.db.prepare('INSERT INTO group_sales (id, partner_id, fingerprint, result, at) VALUES (?, ?, ?, ?, ?)').run(g.groupId, g.partnerId, fingerprint, JSON.stringify(lines), g.at);
      return { groupId: g.groupId, fresh: true, lines };
    })();
  }

  /**
   * A group sale pays only youths the Region approved for this partner's outing (R12): the list exists, is
   * this partner's and benefit's, is still valid, covers the amount per youth, and holds every card of the
   * group not yet paid under it. Anything else refuses the whole group, nothing debited.
   */
  #checkGroupList(g: GroupSale): void {
    const list = this.#st.db.prepare<[string], { partner_id: string; benefit: string; max_per_youth: number; valid_until: number }>('SELECT * FROM group_lists WHERE id = ?').get(g.listId);
    const refuse = (why: string) => new PasserelleError('GROUP_NOT_APPROVED', `group ${g.groupId}: ${why}`);
    if (!list || list.partner_id !== g.partnerId) throw refuse(`no approved list ${g.listId} for partner ${g.partnerId}`);
    if (list.benefit !== g.benefit) throw refuse(`list ${g.listId} is for ${list.benefit}, not ${g.benefit}`);
    if (g.at > list.valid_until) throw refuse(`list ${g.listId} is no longer valid`);
    if (g.amount > list.max_per_youth) throw refuse(`list ${g.listId} allows at most ${list.max_per_youth} per youth`);
    const open = new Set(
      this.#st.db.prepare<[string], { card_number: string }>('SELECT card_number FROM group_list_cards WHERE list_id = ? AND paid_by IS NULL').all(g.listId).map((r) => r.card_number),
    );
    const outside = g.cardNumbers.filter((n) => !open.has(n)).length;
    if (outside > 0) throw refuse(`${outside} card(s) not on list ${g.listId}, or already paid under it`);
  }

  addGroupList(l: GroupList): void {
    if (!GROUP_BENEFITS.includes(l.benefit)) throw new PasserelleError('GROUP_NOT_ALLOWED', `group lists are for ${GROUP_BENEFITS.join(' or ')}, not ${l.benefit}`);
    if (l.cardNumbers.length === 0 || l.cardNumbers.length > MAX_GROUP_SIZE) throw new PasserelleError('DATA_INVALID', `a list has 1..${MAX_GROUP_SIZE} youths`);
    if (new Set(l.cardNumbers).size !== l.cardNumbers.length) throw new PasserelleError('DATA_INVALID', 'a card appears twice in the list');
    if (!Number.isSafeInteger(l.maxPerYouth) || l.maxPerYouth < 1) throw new PasserelleError('DATA_INVALID', 'the maximum per youth must be a positive integer');
    this.#st.run(
      () =>
        this.#st.db.transaction(() => {
          this.#st.db
            .prepare('INSERT INTO group_lists (id, partner_id, benefit, reference, max_per_youth, valid_until, created_at, created_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?)')
            .run(l.id, l.partnerId, l.benefit, l.reference, l.maxPerYouth, l.validUntil, l.createdAt, l.createdBy);
          const card = this.#st.db.prepare<[string, string]>('INSERT INTO group_list_cards (list_id, card_number) VALUES (?, ?)');
          for (const n of l.cardNumbers) card.run(l.id, n);
        })(),
      `group list ${l.id}`,
    );
  }

  groupList(id: string): (GroupList & { paid: string[] }) | undefined {
    const r = this.#st.db
      .prepare<[string], { id: string; partner_id: string; benefit: Benefit; reference: string; max_per_youth: number; valid_until: number; created_at: number; created_by: string }>('SELECT * FROM group_lists WHERE id = ?')
      .get(id);
    if (!r) return undefined;
    const cards = this.#st.db.prepare<[string], { card_number: string; paid_by: string | null }>('SELECT card_number, paid_by FROM group_list_cards WHERE list_id = ? ORDER BY card_number').all(id);
    return {
      id: r.id,
      partnerId: r.partner_id,
      benefit: r.benefit,
      reference: r.reference,
      cardNumbers: cards.map((c) => c.card_number),
      maxPerYouth: r.max_per_youth,
      validUntil: r.valid_until,
      createdAt: r.created_at,
      createdBy: r.created_by,
      paid: cards.filter((c) => c.paid_by !== null).map((c) => c.card_number),
    };
  }

  /** One youth of a group: the same rules as at a till (R9 partial debit included), no code asked. */
  #groupLine(g: GroupSale, partner: PartnerCache, cardNumber: string, txnId: string): GroupSaleLine {
    const card = this.#st.s.card.get(cardNumber);
    const choice = card ? chooseWallet(this.#st, card, g.benefit, g.at) : undefined;
    const d = decide(
      { benefit: g.benefit, amount: g.amount },
      {
        terminalActive: true,
        partnerType: partner.type,
        conventionValid: g.at >= partner.conventionStart && g.at < partner.conventionEnd,
        ...(card ? { card: { status: card.status, pinGate: 'open' as const } } : {}),
        ...walletSnapshot(choice),
        pin: 'not-needed',
        // The Region's approved list stands for the cards (see groupSale).
        cardProof: 'not-needed',
      },
    );
    if (d.status === 'declined') return { cardNumber, txnId, status: 'declined', code: d.code, taken: 0, remainingToPay: g.amount };
    assert(card && choice && 'wallet' in choice, 'an approved group line has a wallet');
    recordSale(this.#st, { txnId, partner, terminalId: null, groupId: g.groupId, card, wallet: choice.wallet, taken: d.taken, saleAt: g.at, at: g.at });
    return { cardNumber, txnId, status: 'approved', taken: d.taken, remainingToPay: d.remainingToPay };
  }
}
