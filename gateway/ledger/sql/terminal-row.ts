import { assert } from '../../../protocol/errors.ts';
import { isPartnerType } from '../../../protocol/benefits.ts';
import { endOfRegionDay, startOfRegionDay } from '../../../common/paris-time.ts';
import type { PartnerCache, TerminalPartnerRow, TerminalRow } from './rows.ts';

/** What a debit needs of a partner row: its type, its convention as instants, its entry price. */
export function partnerCacheOf(p: { id: string; type: string; convention_from: string; convention_to: string; entry_price_cents: number }): PartnerCache {
  assert(isPartnerType(p.type), `partner ${p.id} has an unknown type ${p.type}`);
  return {
    id: p.id,
    type: p.type,
    conventionStart: startOfRegionDay(p.convention_from),
    conventionEnd: endOfRegionDay(p.convention_to),
    entryPriceCents: p.entry_price_cents,
  };
}

/** A terminal row joined with its partner's columns (`p_…`), as a debit needs it. */
export function terminalRowOf(r: TerminalPartnerRow): TerminalRow {
  const p = partnerCacheOf({ id: r.partner_id, type: r.p_type, convention_from: r.p_from, convention_to: r.p_to, entry_price_cents: r.p_price });
  return { id: r.id, partnerId: r.partner_id, publicKey: new Uint8Array(r.public_key), active: r.active === 1, partnerType: p.type, partner: p };
}
