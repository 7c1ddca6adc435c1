import type { Unit } from '../protocol/benefits.ts';
import type { Code } from '../protocol/codes.ts';
import type { HotlistReason } from '../protocol/offline.ts';
import type { PolicyState } from './outbox-store.ts';

/**
 * May the terminal accept this sale without the gateway? A pure function of what the terminal holds:
 * the signed policy, the hotlist, its own offline sales, and what it knows of the time. The checks run in
 * a fixed order, and the first that fails names the refusal shown to the cashier (see docs/offline.md).
 */

export interface ClockView {
  /** The terminal's wall clock now. */
  readonly now: number;
  /**
   * The last signed gateway time heard, and the local wall clock at that moment; absent when the
   * terminal never heard one (a new terminal sells offline only after its first contact).
   */
  readonly lastContact?: { readonly gatewayAt: number; readonly localAt: number };
  /**
   * Wall-clock time elapsed since that contact as measured by the monotonic clock, when the contact
   * happened in this process run; lets a clock set forward or back while offline be noticed.
   */
  readonly monotonicSinceContactMs?: number;
}

export interface OfflineView {
  readonly policy: PolicyState | undefined;
  readonly hotlist: { readonly version: number; readonly issuedAt: number };
  readonly cardHotlisted: HotlistReason | null;
  /** This card's offline sales on this terminal today (local Paris day). */
  readonly cardToday: { readonly count: number; readonly cents: number };
  /** Offline sales waiting to be settled on this terminal. */
  readonly pending: { readonly count: number; readonly cents: number };
  readonly clock: ClockView;
}

export interface OfflineSale {
  readonly credential: 'nfc' | 'qr';
  readonly unit: Unit;
  readonly amount: number;
}

export type OfflineDecision = { readonly ok: true } | { readonly ok: false; readonly code: Code };

const refuse = (code: Code): OfflineDecision => ({ ok: false, code });

/** The terminal's estimate of the gateway's clock now, or null when its own clock cannot be trusted. */
export function trustedGatewayNow(clock: ClockView, skewMaxMs: number): number | null {
  const c = clock.lastContact;
  if (!c) return null;
  const skew = c.gatewayAt - c.localAt;
  if (Math.abs(skew) > skewMaxMs) return null;
  const wallElapsed = clock.now - c.localAt;
  // The clock went back past the last contact: it was set wrong.
  if (wallElapsed < -skewMaxMs) return null;
  // In this process run the monotonic clock is the reference: wall time that drifted from it was set.
  if (clock.monotonicSinceContactMs !== undefined && Math.abs(wallElapsed - clock.monotonicSinceContactMs) > skewMaxMs) return null;
  return clock.now + skew;
}

export function offlineDecision(sale: OfflineSale, v: OfflineView): OfflineDecision {
  const p = v.policy;
  if (!p || !p.limits.enabled) return refuse('OFFLINE_NO_POLICY');
  const l = p.limits;
  // The gateway checks the secret code; offline nobody can (docs/offline.md, "QR codes").
  if (sale.credential === 'qr') return refuse('OFFLINE_QR_REFUSED');
  const gatewayNow = trustedGatewayNow(v.clock, l.clockSkewMaxMs);
  if (gatewayNow === null) return refuse('CLOCK_UNTRUSTED');
  if (gatewayNow - v.clock.lastContact!.gatewayAt > l.maxOfflineMs) return refuse('OFFLINE_TOO_LONG');
  if (v.hotlist.issuedAt === 0 || gatewayNow - v.hotlist.issuedAt > l.hotlistMaxAgeMs) return refuse('OFFLINE_HOTLIST_STALE');
  if (v.cardHotlisted !== null) return refuse('OFFLINE_CARD_HOTLISTED');
  const cents = sale.unit === 'cent' ? sale.amount : 0;
  if (sale.amount > (sale.unit === 'cent' ? l.maxSaleCents : l.maxSaleEntries)) return refuse('OFFLINE_AMOUNT_LIMIT');
  if (v.cardToday.count + 1 > l.perCardDayCount || v.cardToday.cents + cents > l.perCardDayCents) return refuse('OFFLINE_CARD_LIMIT');
  if (v.pending.count + 1 > l.maxPendingCount || v.pending.cents + cents > l.maxPendingCents) return refuse('OFFLINE_PENDING_LIMIT');
  return { ok: true };
}
