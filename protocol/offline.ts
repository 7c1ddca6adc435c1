import { createHash, hash } from 'node:crypto';
import { Type, type Static } from '@sinclair/typebox';
import { DocVersion, EpochMs, PROTOCOL_VERSION } from './messages.ts';
import { TOPIC_ROOT } from './topics.ts';

/**
 * What the gateway pushes to every terminal for offline acceptance (see docs/offline.md): the offline
 * policy and the hotlist. Both are signed directly with the gateway's key (`S1.` frames) and published
 * retained, so a terminal that connects receives the current ones at once.
 */

/** Retained: the current offline policy. */
export const POLICY_TOPIC = `${TOPIC_ROOT}/offline/policy`;
/** Retained: the hotlist changes since the current base version (small, republished on every change). */
export const HOTLIST_TOPIC = `${TOPIC_ROOT}/offline/hotlist`;
/** Retained: the whole hotlist at the base version, for a terminal older than the base. */
export const HOTLIST_FULL_TOPIC = `${TOPIC_ROOT}/offline/hotlist-full`;

/** Pushed documents may be larger than a request frame (a full hotlist). */
export const MAX_PUSH_BYTES = 4 * 1024 * 1024;

export const OfflineLimits = Type.Object(
  {
    /** False: the Region allows no offline sale at all; every other field is then ignored. */
    enabled: Type.Boolean(),
    /** Most one offline sale may ask, in cents (money benefits) and in entries (cinema, museum). */
    maxSaleCents: Type.Integer({ minimum: 0, maximum: 100_000 }),
    maxSaleEntries: Type.Integer({ minimum: 0, maximum: 50 }),
    /** Per card per local (Paris) day, on one terminal: offline sales and their total in cents. */
    perCardDayCount: Type.Integer({ minimum: 0, maximum: 100 }),
    perCardDayCents: Type.Integer({ minimum: 0, maximum: 1_000_000 }),
    /** Per terminal: offline sales waiting to be sent, and their total in cents. */
    maxPendingCount: Type.Integer({ minimum: 0, maximum: 100_000 }),
    maxPendingCents: Type.Integer({ minimum: 0, maximum: 100_000_000 }),
    /** Longest time without any signed word from the gateway before offline sales stop. */
    maxOfflineMs: Type.Integer({ minimum: 0, maximum: 30 * 86_400_000 }),
    /** Oldest hotlist (by the gateway's signed issue time) a terminal may still sell offline with. */
    hotlistMaxAgeMs: Type.Integer({ minimum: 0, maximum: 30 * 86_400_000 }),
    /** Largest difference between the terminal's clock and the gateway's signed time. */
    clockSkewMaxMs: Type.Integer({ minimum: 0, maximum: 86_400_000 }),
  },
  { additionalProperties: false },
);
export type OfflineLimits = Static<typeof OfflineLimits>;

export const PolicyDoc = Type.Object(
  {
    v: Type.Literal(PROTOCOL_VERSION),
    type: Type.Literal('offline.policy'),
    body: Type.Object(
      {
        version: Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER }),
        issuedAt: EpochMs,
        limits: OfflineLimits,
      },
      { additionalProperties: false },
    ),
  },
  { additionalProperties: false },
);
export type PolicyDoc = Static<typeof PolicyDoc>;

/** Why a card is on the hotlist. `soft`: blocked for offline sales only, after an offline loss. */
export const HotlistReason = Type.Union([Type.Literal('opposed'), Type.Literal('suspended'), Type.Literal('soft')]);
export type HotlistReason = Static<typeof HotlistReason>;

/**
 * A card on the hotlist, named by its chip's public key, not its number: `hotlistTag(key)`, 16 bytes of
 * SHA-256 in base64url. Every terminal receives the list; it tells a terminal reading a card whether that
 * card is blocked, and tells nobody which card numbers are (a key is 256 random bits: the list cannot be
 * turned back into numbers, nor searched for a number without the card's credential).
 */
export const HotlistTag = Type.String({ pattern: '^[A-Za-z0-9_-]{22}$', description: "A card's hotlist tag (hotlistTag of its chip key)" });

export const HotlistEntry = Type.Object(
  {
    tag: HotlistTag,
    /** null: the card left the hotlist at this version. */
    reason: Type.Union([HotlistReason, Type.Null()]),
  },
  { additionalProperties: false },
);
export type HotlistEntry = Static<typeof HotlistEntry>;

/** The hotlist tag of a card, from its chip's public key (in the card's credential). */
export function hotlistTag(cardPublicKey: Uint8Array): string {
  return createHash('sha256').update('PR1-HOTLIST\0').update(cardPublicKey).digest().subarray(0, 16).toString('base64url');
}

/**
 * The hotlist as of `version`. `full`: `entries` is the whole list (every reason non-null) and replaces
 * what the terminal holds. Otherwise a delta: every card whose state changed after `base`; a terminal at
 * a version ≥ `base` applies it, one older needs the full list first.
 */
export const HotlistDoc = Type.Object(
  {
    v: Type.Literal(PROTOCOL_VERSION),
    type: Type.Literal('offline.hotlist'),
    body: Type.Object(
      {
        full: Type.Boolean(),
        base: DocVersion,
        version: DocVersion,
        issuedAt: EpochMs,
        entries: Type.Array(HotlistEntry, { maxItems: 200_000 }),
      },
      { additionalProperties: false },
    ),
  },
  { additionalProperties: false },
);
export type HotlistDoc = Static<typeof HotlistDoc>;

/** The `prev` of a terminal's first record: 32 zero bytes. */
export const GENESIS_HASH = Buffer.alloc(32).toString('base64url');

/** The chain hash of a record: SHA-256 of its exact message bytes (what its signature covers). */
export function chainHash(message: Uint8Array): string {
  return hash('sha256', message, 'base64url');
}

export const DEFAULT_OFFLINE_LIMITS: OfflineLimits = {
  enabled: true,
  maxSaleCents: 3000,
  maxSaleEntries: 2,
  perCardDayCount: 3,
  perCardDayCents: 6000,
  maxPendingCount: 2000,
  maxPendingCents: 2_000_000,
  maxOfflineMs: 24 * 3_600_000,
  hotlistMaxAgeMs: 24 * 3_600_000,
  clockSkewMaxMs: 5 * 60_000,
};
