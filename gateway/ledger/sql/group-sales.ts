import { createHash } from 'node:crypto';
import type { Benefit } from '../../../protocol/benefits.ts';
import { assert, PasserelleError } from '../../../protocol/errors.ts';
import { decide, groupListRefusal, groupRefusal } from '../../rules.ts';
import type { GroupList, GroupSale, GroupSaleLine, GroupSaleResult, GroupSaleLedger } from '../ledger.ts';
import type { SqlStore } from './store.ts';
import type { PartnerCache } from './rows.ts';
import { recordSale } from './journal.ts';
import { chooseWallet, walletSnapshot } from './wallet-choice.ts';

/** Group sales (R12): a school's outing paid youth by youth from a list the Region approved. */
export class SqlGroupSales implements GroupSaleLedger {
  readonly #st: SqlStore;

  constructor(st: SqlStore) {
    this.#st = st;
  }

  async groupSale(g: GroupSale): Promise<GroupSaleResult> {
    const refused = groupRefusal('group', { benefit: g.benefit, cardNumbers: g.cardNumbers, perYouth: g.amount });
    if (refused) throw new PasserelleError(refused.code, refused.message);
    const fingerprint = createHash('sha256').update(JSON.stringify([g.partnerId, g.listId, g.benefit, g.amount, g.cardNumbers, g.reference])).digest('hex');
    return await this.#st.db.transaction(async (): Promise<GroupSaleResult> => {
      const prior = await this.#st.db.prepare<[string], { fingerprint: string; result: string }>('SELECT fingerprint, result FROM group_sales WHERE id = ?').get(g.groupId);
      if (prior) {
        if (prior.fingerprint !== fingerprint) throw new PasserelleError('GROUP_CONFLICT', `group ${g.groupId} was recorded with other content`);
        return { groupId: g.groupId, fresh: false, lines: JSON.parse(prior.result) as GroupSaleLine[] };
      }
      await this.#checkGroupList(g);
      const partner = await this.#st.partnerCache(g.partnerId);
      const lines: GroupSaleLine[] = [];
      for (const [i, n] of g.cardNumbers.entries()) lines.push(await this.#groupLine(g, partner, n, `${g.groupId}:${i + 1}`));
      const paid = this.#st.db.prepare<[string, string, string]>('UPDATE group_list_cards SET paid_by = ? WHERE list_id = ? AND card_number = ?');
      for (const line of lines) if (line.status === 'approved') await paid.run(g.groupId, g.listId, line.cardNumber);
      await this.#st.db.prepare('INSERT INTO group_sales (id, partner_id, fingerprint, result, at) VALUES (?, ?, ?, ?, ?)').run(g.groupId, g.partnerId, fingerprint, JSON.stringify(lines), g.at);
      return { groupId: g.groupId, fresh: true, lines };
    });
  }

  /** The list the group comes from, as rules.ts `groupListRefusal` judges it: anything amiss refuses the whole group. */
  async #checkGroupList(g: GroupSale): Promise<void> {
    const list = await this.#st.db.prepare<[string], { partner_id: string; benefit: string; max_per_youth: number; valid_until: number }>('SELECT * FROM group_lists WHERE id = ?').get(g.listId);
    const unpaid = async () =>
      new Set((await this.#st.db.prepare<[string], { card_number: string }>('SELECT card_number FROM group_list_cards WHERE list_id = ? AND paid_by IS NULL').all(g.listId)).map((r) => r.card_number));
    const refused = groupListRefusal(g, list && { partnerId: list.partner_id, benefit: list.benefit, maxPerYouth: list.max_per_youth, validUntil: list.valid_until, unpaid: await unpaid() });
    if (refused) throw new PasserelleError('GROUP_NOT_APPROVED', `group ${g.groupId}: ${refused}`);
  }

  async addGroupList(l: GroupList): Promise<void> {
    const refused = groupRefusal('list', { benefit: l.benefit, cardNumbers: l.cardNumbers, perYouth: l.maxPerYouth });
    if (refused) throw new PasserelleError(refused.code, refused.message);
    await this.#st.run(
      async () =>
        await this.#st.db.transaction(async () => {
          await this.#st.db
            .prepare('INSERT INTO group_lists (id, partner_id, benefit, reference, max_per_youth, valid_until, created_at, created_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?)')
            .run(l.id, l.partnerId, l.benefit, l.reference, l.maxPerYouth, l.validUntil, l.createdAt, l.createdBy);
          const card = this.#st.db.prepare<[string, string]>('INSERT INTO group_list_cards (list_id, card_number) VALUES (?, ?)');
          for (const n of l.cardNumbers) await card.run(l.id, n);
        }),
      `group list ${l.id}`,
    );
  }

  async groupList(id: string): Promise<(GroupList & { paid: string[] }) | undefined> {
    const r = await this.#st.db
      .prepare<[string], { id: string; partner_id: string; benefit: Benefit; reference: string; max_per_youth: number; valid_until: number; created_at: number; created_by: string }>('SELECT * FROM group_lists WHERE id = ?')
      .get(id);
    if (!r) return undefined;
    const cards = await this.#st.db.prepare<[string], { card_number: string; paid_by: string | null }>('SELECT card_number, paid_by FROM group_list_cards WHERE list_id = ? ORDER BY card_number').all(id);
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
  async #groupLine(g: GroupSale, partner: PartnerCache, cardNumber: string, txnId: string): Promise<GroupSaleLine> {
    const card = await this.#st.s.card.get(cardNumber);
    const choice = card ? await chooseWallet(this.#st, card, g.benefit, g.at) : undefined;
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
    await recordSale(this.#st, { txnId, partner, terminalId: null, groupId: g.groupId, card, wallet: choice.wallet, taken: d.taken, saleAt: g.at, at: g.at });
    return { cardNumber, txnId, status: 'approved', taken: d.taken, remainingToPay: d.remainingToPay };
  }
}
