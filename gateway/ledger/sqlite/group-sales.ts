import { createHash } from 'node:crypto';
import type { Benefit } from '../../../protocol/benefits.ts';
import { assert, PasserelleError } from '../../../protocol/errors.ts';
import { decide, groupListRefusal, groupRefusal } from '../../rules.ts';
import type { GroupList, GroupSale, GroupSaleLine, GroupSaleResult, GroupSaleLedger } from '../ledger.ts';
import type { SqliteStore } from './store.ts';
import type { PartnerCache } from './rows.ts';
import { recordSale } from './journal.ts';
import { chooseWallet, walletSnapshot } from './wallet-choice.ts';
import type { Synchronous } from "./synchronous.ts";

/** Group sales (R12): a school's outing paid youth by youth from a list the Region approved. */
export class SqliteGroupSales implements Synchronous<GroupSaleLedger> {
  readonly #st: SqliteStore;

  constructor(st: SqliteStore) {
    this.#st = st;
  }

  groupSale(g: GroupSale): GroupSaleResult {
    const refused = groupRefusal('group', { benefit: g.benefit, cardNumbers: g.cardNumbers, perYouth: g.amount });
    if (refused) throw new PasserelleError(refused.code, refused.message);
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

  /** The list the group comes from, as rules.ts `groupListRefusal` judges it: anything amiss refuses the whole group. */
  #checkGroupList(g: GroupSale): void {
    const list = this.#st.db.prepare<[string], { partner_id: string; benefit: string; max_per_youth: number; valid_until: number }>('SELECT * FROM group_lists WHERE id = ?').get(g.listId);
    const unpaid = () =>
      new Set(this.#st.db.prepare<[string], { card_number: string }>('SELECT card_number FROM group_list_cards WHERE list_id = ? AND paid_by IS NULL').all(g.listId).map((r) => r.card_number));
    const refused = groupListRefusal(g, list && { partnerId: list.partner_id, benefit: list.benefit, maxPerYouth: list.max_per_youth, validUntil: list.valid_until, unpaid: unpaid() });
    if (refused) throw new PasserelleError('GROUP_NOT_APPROVED', `group ${g.groupId}: ${refused}`);
  }

  addGroupList(l: GroupList): void {
    const refused = groupRefusal('list', { benefit: l.benefit, cardNumbers: l.cardNumbers, perYouth: l.maxPerYouth });
    if (refused) throw new PasserelleError(refused.code, refused.message);
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
