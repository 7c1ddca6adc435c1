import { isBenefit, type Benefit } from '../../../protocol/benefits.ts';
import { isValidCardNumber, maskCardNumber } from '../../../protocol/card.ts';
import { PasserelleError } from '../../../protocol/errors.ts';
import { replacementFeeWallet, type PinGate } from '../../rules.ts';
import type { CardRecord, CardSearch, IssueCard, Opposition, OppositionResult, Suspension, CardLedger } from '../ledger.ts';
import type { SqlStore } from './store.ts';
import type { WalletRow, CardRow, HotlistTx } from './rows.ts';
import { transfer, account } from './journal.ts';
import { chooseWallet } from './wallet-choice.ts';
import { hotlistVersion, hotlistRefresh, hotlistDossier } from './hotlist.ts';
import { pinGateOf } from './pins.ts';

/** Chip keys kept in memory: the cards seen in a busy period, not the Region's whole population. */
const CARD_KEY_CACHE = 100_000;

/** Cards and their dossiers: issue, search, chip keys, the secret code (R3), opposition and replacement (R4), suspension (R5). */
export class SqlCards implements CardLedger {
  readonly #st: SqlStore;

  constructor(st: SqlStore) {
    this.#st = st;
  }

  async card(number: string): Promise<CardRecord | undefined> {
    const r = await this.#st.s.card.get(number);
    return r && { number: r.number, dossierId: r.dossier_id, holder: r.holder, status: r.status, pinHash: r.pin_hash, pinFailures: r.pin_failures };
  }

  async searchCards(q: CardSearch, limit: number): Promise<CardRecord[]> {
    const where: string[] = [];
    const args: (string | number)[] = [];
    const words = q.holder === undefined ? [] : holderWords(q.holder);
    if (q.holder !== undefined) {
      if (words.length === 0) throw new PasserelleError('DATA_INVALID', 'a name to search needs at least one letter or digit');
      // Each word quoted (no query syntax gets through) and taken as a prefix; all must match. SQLite's
      // FTS5 table, or PostgreSQL's full-text index over the names without accents (the same words found).
      if (this.#st.db.dialect === 'sqlite') {
        where.push('c.dossier_id IN (SELECT dossier_id FROM holder_search WHERE holder_search MATCH ?)');
        args.push(words.map((w) => `"${w.replace(/"/g, '""')}"*`).join(' AND '));
      } else {
        where.push("c.dossier_id IN (SELECT dossier_id FROM holder_search WHERE to_tsvector('simple', f_unaccent(holder)) @@ to_tsquery('simple', f_unaccent(?)))");
        args.push(words.map((w) => `'${w.replace(/'/g, "''")}':*`).join(' & '));
      }
    }
    if (q.dossierId !== undefined) {
      where.push('c.dossier_id = ?');
      args.push(q.dossierId);
    }
    if (q.first4 !== undefined || q.last4 !== undefined) {
      if (!/^[0-9]{4}$/.test(q.first4 ?? '0000') || !/^[0-9]{4}$/.test(q.last4 ?? '0000')) throw new PasserelleError('DATA_INVALID', 'the first and last four digits of a card are four digits each');
      where.push('c.number LIKE ?');
      args.push(`${q.first4 ?? '____'}________${q.last4 ?? '____'}`);
    }
    if (where.length === 0) throw new PasserelleError('DATA_INVALID', 'search by name, dossier or the first and last four digits of the card');
    const rows = await this.#st.db
      .prepare<(string | number)[], CardRow>(
        `SELECT c.number, c.dossier_id, d.holder, c.status, d.pin_hash, d.pin_failures, d.suspensions, c.opposed_at
         FROM cards c JOIN dossiers d ON d.id = c.dossier_id WHERE ${where.join(' AND ')}
         ORDER BY c.status = 'opposed', d.holder, c.issued_at DESC LIMIT ?`,
      )
      .all(...args, limit);
    return rows.map((r) => ({ number: r.number, dossierId: r.dossier_id, holder: r.holder, status: r.status, pinHash: r.pin_hash, pinFailures: r.pin_failures }));
  }

  async issueCard(c: IssueCard): Promise<void> {
    if (!isValidCardNumber(c.number)) throw new PasserelleError('DATA_INVALID', 'card number fails its Luhn check');
    const dossierId = c.dossierId ?? `D-${c.number}`;
    await this.#st.run(
      async () =>
        await this.#st.db.transaction(async () => {
          const known = await this.#st.s.dossier.get(dossierId);
          if (known && await this.#st.db.prepare("SELECT 1 FROM cards WHERE dossier_id = ? AND status = 'active'").get(dossierId)) {
            // One active card per dossier (R1, R4): the new card replaces the old one through an opposition.
            throw new PasserelleError('CARD_ACTIVE_EXISTS', `dossier ${dossierId} already has an active card: oppose it, with this card as its replacement`);
          }
          if (!known) {
            await this.#st.s.insertDossier.run(dossierId, c.holder, c.pinHash);
            await this.#st.s.indexHolder.run(c.holder, dossierId);
          }
          await this.#st.s.insertCard.run(c.number, dossierId, c.at ?? Date.now());
          if (known) await hotlistRefresh(this.#st, c.number, {}, c.at ?? Date.now());
        }),
      'card',
    );
  }

  async setCardKey(cardNumber: string, publicKey: Uint8Array, expiry: string, at: number): Promise<void> {
    if (publicKey.length !== 32) throw new PasserelleError('DATA_INVALID', 'a chip key is 32 bytes');
    this.#st.cardKeys.delete(cardNumber);
    await this.#st.run(
      async () =>
        await this.#st.db.transaction(async () => {
          await this.#st.db
            .prepare(
              `INSERT INTO card_keys (card_number, public_key, expiry, recorded_at) VALUES (?, ?, ?, ?)
               ON CONFLICT (card_number) DO UPDATE SET public_key = excluded.public_key, expiry = excluded.expiry, recorded_at = excluded.recorded_at`,
            )
            .run(cardNumber, Buffer.from(publicKey), expiry, at);
          // A card on the hotlist is published by its chip key's tag: a new key makes a new version.
          if ((await this.#st.s.hotlistRow.get(cardNumber))?.reason) {
            const version = await hotlistVersion(this.#st) + 1;
            await this.#st.s.putMeta.run('hotlist_version', version);
            await this.#st.s.putHotlistVersion.run(version, at);
            await this.#st.db.prepare('UPDATE hotlist SET version = ?, changed_at = ? WHERE card_number = ?').run(version, at, cardNumber);
          }
        }),
      `chip key of card ${maskCardNumber(cardNumber)}`,
    );
  }

  async cardKey(cardNumber: string): Promise<{ readonly publicKey: Uint8Array; readonly expiry: string } | undefined> {
    let k = this.#st.cardKeys.get(cardNumber);
    if (!k) {
      const r = await this.#st.s.cardKey.get(cardNumber);
      if (!r) return undefined;
      if (this.#st.cardKeys.size >= CARD_KEY_CACHE) this.#st.cardKeys.clear();
      // The same array each time, so the verifier's cache of key objects finds it by identity.
      k = { publicKey: new Uint8Array(r.public_key), expiry: r.expiry };
      if (this.#st.mayCache) this.#st.cardKeys.set(cardNumber, k);
    }
    return k;
  }

  async cardKeys(cardNumbers: readonly string[]): Promise<Map<string, Uint8Array>> {
    const out = new Map<string, Uint8Array>();
    for (const n of cardNumbers) {
      const r = await this.#st.s.cardKey.get(n);
      if (r) out.set(n, new Uint8Array(r.public_key));
    }
    return out;
  }

  async setPin(cardNumber: string, pinHash: string | null): Promise<void> {
    const card = await this.#st.cardOrThrow(cardNumber);
    await this.#st.db.transaction(async () => {
      await this.#st.db.prepare('UPDATE dossiers SET pin_hash = ?, pin_failures = 0 WHERE id = ?').run(pinHash, card.dossier_id);
      await this.#st.s.clearPinTries.run(card.dossier_id);
    });
  }

  async unlockPin(cardNumber: string): Promise<void> {
    const card = await this.#st.cardOrThrow(cardNumber);
    await this.#st.db.transaction(async () => {
      await this.#st.s.setPinFailures.run(0, card.dossier_id);
      await this.#st.s.clearPinTries.run(card.dossier_id);
    });
  }

  async pinGate(cardNumber: string, partnerId: string | null, at: number): Promise<PinGate> {
    const card = await this.#st.s.card.get(cardNumber);
    return card ? await pinGateOf(this.#st, card, partnerId, at, 'incorrect') : 'open';
  }

  async oppose(o: Opposition): Promise<OppositionResult> {
    const card = await this.#st.cardOrThrow(o.cardNumber);
    if (card.status !== 'active') throw new PasserelleError('CARD_NOT_ACTIVE', `card ${maskCardNumber(o.cardNumber)} is already opposed`);
    if (o.replacement && !isValidCardNumber(o.replacement.number)) throw new PasserelleError('DATA_INVALID', 'replacement card number fails its Luhn check');
    return await this.#st.db.transaction(async (): Promise<OppositionResult> => {
      await this.#st.db
        .prepare("UPDATE cards SET status = 'opposed', opposed_at = ?, opposed_reason = ?, replaced_by = ? WHERE number = ?")
        .run(o.at, o.reason, o.replacement?.number ?? null, o.cardNumber);
      const fee = o.reason === 'school_change' ? undefined : await this.#takeFee(card, o.at);
      await this.#st.db
        .prepare('INSERT INTO oppositions (card_number, reason, at, fee_cents, fee_account, replacement) VALUES (?, ?, ?, ?, ?, ?)')
        .run(o.cardNumber, o.reason, o.at, fee ? this.#st.rules.replacementFeeCents : 0, fee?.wallet.id ?? null, o.replacement?.number ?? null);
      if (o.replacement) {
        await this.#st.run(async () => await this.#st.s.insertCard.run(o.replacement!.number, card.dossier_id, o.at), 'replacement card');
      }
      // The opposed card goes on the hotlist; the replacement only if the dossier is suspended.
      const hv: HotlistTx = {};
      await hotlistRefresh(this.#st, o.cardNumber, hv, o.at);
      if (o.replacement) await hotlistRefresh(this.#st, o.replacement.number, hv, o.at);
      return {
        feeCents: fee ? this.#st.rules.replacementFeeCents : 0,
        feeFrom: fee ? { benefit: fee.wallet.benefit, campaign: fee.wallet.campaign } : null,
        replacement: o.replacement?.number ?? null,
      };
    });
  }

  /** R4: the fee, from the wallet rules.ts `replacementFeeWallet` picks among those a sale would use now. */
  async #takeFee(card: CardRow, at: number): Promise<{ wallet: WalletRow } | undefined> {
    // The wallet a sale would use now, for each benefit the fee may come from; the rule picks among them.
    const usable = new Map<Benefit, { wallet: WalletRow; balance: number; access: boolean }>();
    for (const benefit of this.#st.rules.replacementFeeOrder) {
      const choice = await chooseWallet(this.#st, card, benefit, at);
      if ('wallet' in choice) usable.set(benefit, { wallet: choice.wallet, balance: choice.wallet.balance, access: choice.wallet.access === 1 });
    }
    const chosen = replacementFeeWallet(this.#st.rules, (benefit) => usable.get(benefit));
    if (!chosen) return undefined;
    const fees = await account(this.#st, 'fees:replacement', { kind: 'fees', unit: 'cent' });
    await transfer(this.#st, null, 'fee', chosen.wallet.id, fees, this.#st.rules.replacementFeeCents, 'cent', at);
    return { wallet: chosen.wallet };
  }

  async suspend(s: Suspension): Promise<void> {
    const card = await this.#st.cardOrThrow(s.cardNumber);
    const benefits = suspended(s.benefit);
    if (!await this.#st.s.campaign.get(s.campaign)) throw new PasserelleError('NOT_FOUND', `no campaign ${s.campaign}`);
    if (!s.reason.trim()) throw new PasserelleError('DATA_INVALID', 'a suspension needs a reason');
    await this.#st.db.transaction(async () => {
      const insert = this.#st.db.prepare('INSERT INTO suspensions (dossier_id, benefit, campaign, reason, at) VALUES (?, ?, ?, ?, ?)');
      for (const b of benefits) await insert.run(card.dossier_id, b, s.campaign, s.reason, s.at);
      await this.#st.db.prepare('UPDATE dossiers SET suspensions = suspensions + ? WHERE id = ?').run(benefits.length, card.dossier_id);
      await hotlistDossier(this.#st, card.dossier_id, s.at);
    });
  }

  async liftSuspension(cardNumber: string, benefit: Benefit | readonly Benefit[] | null, campaign: string, at: number): Promise<void> {
    const card = await this.#st.cardOrThrow(cardNumber);
    const benefits = suspended(benefit);
    await this.#st.db.transaction(async () => {
      const lift = this.#st.db.prepare('UPDATE suspensions SET lifted_at = ? WHERE dossier_id = ? AND benefit IS NOT DISTINCT FROM ? AND campaign = ? AND lifted_at IS NULL');
      let n = 0;
      for (const b of benefits) n += (await lift.run(at, card.dossier_id, b, campaign)).changes;
      if (n === 0) throw new PasserelleError('NOT_FOUND', 'no such suspension in force');
      await this.#st.db.prepare('UPDATE dossiers SET suspensions = suspensions - ? WHERE id = ?').run(n, card.dossier_id);
      await hotlistDossier(this.#st, card.dossier_id, at);
    });
  }
}

/** The rows a suspension writes or lifts: one per benefit named, or one null row for the whole campaign. */
function suspended(benefit: Benefit | readonly Benefit[] | null): (Benefit | null)[] {
  const list = benefit === null ? [null] : typeof benefit === 'string' ? [benefit] : [...new Set(benefit)];
  if (list.length === 0) throw new PasserelleError('DATA_INVALID', 'name the benefits to suspend, or none for all of them');
  for (const b of list) if (b !== null && !isBenefit(b)) throw new PasserelleError('DATA_INVALID', `unknown benefit ${String(b)}`);
  return list;
}

/** The words of a name to search, as the full-text index splits them (letters and digits of any script). */
function holderWords(text: string): string[] {
  return text.split(/[^\p{L}\p{N}]+/u).filter((w) => w.length > 0).slice(0, 8);
}
