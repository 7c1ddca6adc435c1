import type { FastifyBaseLogger, FastifyInstance, RawReplyDefaultExpression, RawRequestDefaultExpression, RawServerDefault } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { Signer } from '../../protocol/crypto.ts';
import type { CardRefs } from '../card-refs.ts';
import type { EnrolmentContext } from '../enrolment.ts';
import type { TerminalSettings } from '../../protocol/terminal-settings.ts';
import type { Ledger } from '../ledger/ledger.ts';
import type { BankAccount } from '../reimbursement/types.ts';

/** A fastify scope whose routes take TypeBox schemas. */
export type Api = FastifyInstance<RawServerDefault, RawRequestDefaultExpression, RawReplyDefaultExpression, FastifyBaseLogger, TypeBoxTypeProvider>;

export interface ApiConfig {
  /** The Region's account that pays partners (debtor of every SEPA file). */
  readonly debtor: BankAccount;
  /** The largest card load file accepted, in bytes. */
  readonly bulkLoadMaxBytes: number;
  /** The fleet view calls a terminal online when its last heartbeat is at most this old (gateway config fleet.onlineWithinS). */
  readonly fleetOnlineWithinS: number;
}

/**
 * Fictional, valid by its check digits (the same default as the gateway config's `sepa` section): the
 * real account comes from the configuration.
 */
export const DEFAULT_API_CONFIG: ApiConfig = {
  debtor: { name: 'Region Auvergne-Rhone-Alpes', iban: 'FR7630001007941234567890185', bic: 'BDFEFRPPCCT' },
  // A start-of-year file for 370,000 youths is some 40 MB; 200 MiB leaves room for long names and columns.
  bulkLoadMaxBytes: 200 * 1024 * 1024,
  // Two and a half heartbeats of the terminals' default 60 s.
  fleetOnlineWithinS: 150,
};

/**
 * What the API needs of the rest of the gateway to manage the fleet: the enrolment answer's contents
 * (gateway/enrolment.ts) and a way to drop a terminal's live broker connection when its key is replaced or
 * it is switched off.
 */
export type FleetDeps = EnrolmentContext & {
  readonly disconnect: (terminalId: string) => void;
  /** A terminal switched back on may connect again (an external broker had disabled its account). */
  readonly allow?: (terminalId: string) => Promise<void>;
  /** Push a terminal's new settings (gateway/settings-publisher.ts). */
  readonly publishSettings: (s: TerminalSettings) => void;
};

export interface ApiDeps {
  readonly ledger: Ledger;
  /** The clock, injected so tests decide what "today" is (same-day cancels, statement periods, expiry). */
  readonly now: () => number;
  readonly config: ApiConfig;
  /** The Region's card issuer key (gateway/keys.ts): signs card credentials at personalisation. */
  readonly issuer: Signer;
  /** Opaque card references (gateway/card-refs.ts): the card search gives them, card routes take them. */
  readonly cardRefs: CardRefs;
  readonly fleet: FleetDeps;
}
