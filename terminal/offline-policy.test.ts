import { describe, expect, it } from 'vitest';
import { DEFAULT_OFFLINE_LIMITS } from '../protocol/offline.ts';
import { offlineDecision, trustedGatewayNow, type OfflineView } from './offline-policy.ts';

const NOW = Date.UTC(2026, 8, 15, 10, 0, 0);
const MIN = 60_000;

function view(o: Partial<OfflineView> = {}): OfflineView {
  return {
    policy: { version: 2, issuedAt: NOW - 3_600_000, limits: DEFAULT_OFFLINE_LIMITS },
    hotlist: { version: 7, issuedAt: NOW - 5 * MIN },
    cardHotlisted: null,
    cardToday: { count: 0, cents: 0 },
    pending: { count: 0, cents: 0 },
    clock: { now: NOW, lastContact: { gatewayAt: NOW - 10 * MIN, localAt: NOW - 10 * MIN } },
    ...o,
  };
}

const nfc = (amount: number) => ({ credential: 'nfc' as const, unit: 'cent' as const, amount });

describe('offline decision', () => {
  it('accepts a sale within every limit', () => {
    expect(offlineDecision(nfc(1500), view())).toEqual({ ok: true });
  });

  it('refuses without a policy, with a disabled one, and always for QR codes', () => {
    expect(offlineDecision(nfc(100), view({ policy: undefined }))).toEqual({ ok: false, code: 'OFFLINE_NO_POLICY' });
    const disabled = view({ policy: { version: 3, issuedAt: NOW, limits: { ...DEFAULT_OFFLINE_LIMITS, enabled: false } } });
    expect(offlineDecision(nfc(100), disabled)).toEqual({ ok: false, code: 'OFFLINE_NO_POLICY' });
    expect(offlineDecision({ credential: 'qr', unit: 'cent', amount: 100 }, view())).toEqual({ ok: false, code: 'OFFLINE_QR_REFUSED' });
  });

  it('each limit names its own refusal', () => {
    const l = DEFAULT_OFFLINE_LIMITS;
    expect(offlineDecision(nfc(l.maxSaleCents + 1), view())).toMatchObject({ code: 'OFFLINE_AMOUNT_LIMIT' });
    expect(offlineDecision({ credential: 'nfc', unit: 'entry', amount: l.maxSaleEntries + 1 }, view())).toMatchObject({ code: 'OFFLINE_AMOUNT_LIMIT' });
    expect(offlineDecision(nfc(100), view({ cardToday: { count: l.perCardDayCount, cents: 0 } }))).toMatchObject({ code: 'OFFLINE_CARD_LIMIT' });
    expect(offlineDecision(nfc(100), view({ cardToday: { count: 0, cents: l.perCardDayCents - 99 } }))).toMatchObject({ code: 'OFFLINE_CARD_LIMIT' });
    expect(offlineDecision(nfc(100), view({ pending: { count: l.maxPendingCount, cents: 0 } }))).toMatchObject({ code: 'OFFLINE_PENDING_LIMIT' });
    expect(offlineDecision(nfc(100), view({ pending: { count: 0, cents: l.maxPendingCents } }))).toMatchObject({ code: 'OFFLINE_PENDING_LIMIT' });
    expect(offlineDecision(nfc(100), view({ cardHotlisted: 'soft' }))).toMatchObject({ code: 'OFFLINE_CARD_HOTLISTED' });
  });

  it('a hotlist older than the bound, or none at all, stops offline acceptance', () => {
    const old = view({ hotlist: { version: 7, issuedAt: NOW - DEFAULT_OFFLINE_LIMITS.hotlistMaxAgeMs - 11 * MIN } });
    expect(offlineDecision(nfc(100), old)).toMatchObject({ code: 'OFFLINE_HOTLIST_STALE' });
    expect(offlineDecision(nfc(100), view({ hotlist: { version: 0, issuedAt: 0 } }))).toMatchObject({ code: 'OFFLINE_HOTLIST_STALE' });
  });

  it('too long without the gateway stops offline acceptance', () => {
    const since = DEFAULT_OFFLINE_LIMITS.maxOfflineMs + MIN;
    const v = view({ clock: { now: NOW, lastContact: { gatewayAt: NOW - since, localAt: NOW - since } }, hotlist: { version: 7, issuedAt: NOW - since } });
    expect(offlineDecision(nfc(100), v)).toMatchObject({ code: 'OFFLINE_TOO_LONG' });
  });

  it('a clock the terminal cannot trust stops offline acceptance', () => {
    const bound = DEFAULT_OFFLINE_LIMITS.clockSkewMaxMs;
    // Never heard the gateway: no reference at all.
    expect(offlineDecision(nfc(100), view({ clock: { now: NOW } }))).toMatchObject({ code: 'CLOCK_UNTRUSTED' });
    // The gateway's signed time differed from ours by more than the bound.
    const skewed = { now: NOW, lastContact: { gatewayAt: NOW - 10 * MIN, localAt: NOW - 10 * MIN - bound - 1 } };
    expect(offlineDecision(nfc(100), view({ clock: skewed }))).toMatchObject({ code: 'CLOCK_UNTRUSTED' });
    // The clock was set back past the last contact.
    const back = { now: NOW, lastContact: { gatewayAt: NOW + bound + MIN, localAt: NOW + bound + MIN } };
    expect(offlineDecision(nfc(100), view({ clock: back }))).toMatchObject({ code: 'CLOCK_UNTRUSTED' });
    // Wall time moved on much more than the monotonic clock did: someone set it forward.
    const jumped = { now: NOW, lastContact: { gatewayAt: NOW - 10 * MIN, localAt: NOW - 10 * MIN }, monotonicSinceContactMs: 10 * MIN - bound - 1 - 60_000 };
    expect(offlineDecision(nfc(100), view({ clock: jumped }))).toMatchObject({ code: 'CLOCK_UNTRUSTED' });
    // A small skew is corrected, not refused.
    const small = { now: NOW, lastContact: { gatewayAt: NOW - 10 * MIN + 30_000, localAt: NOW - 10 * MIN }, monotonicSinceContactMs: 10 * MIN };
    expect(trustedGatewayNow(small, bound)).toBe(NOW + 30_000);
  });
});
