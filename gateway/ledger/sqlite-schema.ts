import { OFFLINE_BREACHES } from '../rules.ts';

/**
 * The SQLite ledger's schema. Integrity that money depends on is declared here, in SQL, so that no code
 * path above can break it: a wallet never goes below zero nor above what was loaded into it; a request id
 * moves money at most once per kind of movement; a sale is corrected at most once; a dossier has at most
 * one active card; a terminal's sequence number names one record only.
 *
 * Version 3 added offline acceptance: every terminal record with its place in the hash chain (`requests`
 * msg_hash and prev, unique by terminal and seq; `terminal_sync`, `chain_breaks`), voids (`voids`, request status 'void'), the offline policy versions,
 * the hotlist, offline sales and the Region's guarantee (`offline_sales`, `offline_losses`, the 'region'
 * account kind, the 'guarantee' transfer kind, `sales.guaranteed`).
 */

export const SCHEMA_VERSION = 7;

/** The oldest schema this gateway upgrades in place (older ones only ever held development data). */
export const FIRST_MIGRATED_VERSION = 3;

/** The offline sales table, by name: the schema makes it, the upgrade from version 3 rebuilds it. */
function offlineSalesTable(name: string): string {
  return `CREATE TABLE IF NOT EXISTS ${name} (
  txn_id TEXT PRIMARY KEY,
  terminal_id TEXT NOT NULL,
  seq INTEGER NOT NULL,
  card_number TEXT NOT NULL,
  benefit TEXT NOT NULL,
  unit TEXT NOT NULL,
  amount INTEGER NOT NULL CHECK (amount > 0),
  guaranteed INTEGER NOT NULL CHECK (guaranteed >= 0 AND guaranteed <= amount),
  breach TEXT CHECK (breach IN (${OFFLINE_BREACHES.map((b) => `'${b}'`).join(', ')})),
  sale_at INTEGER NOT NULL,
  recorded_at INTEGER NOT NULL,
  CHECK (breach IS NULL OR guaranteed = 0)
) STRICT;`;
}

/**
 * The journal of transfers, by name: the schema makes it, the upgrade from version 4 rebuilds it (SQLite
 * cannot change a CHECK in place). 'restore': value the expiry sweep returned to the Region brought back
 * to its wallet for an offline sale made inside the wallet's window that arrived after the sweep.
 */
function transfersTable(name: string): string {
  return `CREATE TABLE IF NOT EXISTS ${name} (
  id INTEGER PRIMARY KEY,
  txn_id TEXT,
  kind TEXT NOT NULL CHECK (kind IN ('load', 'debit', 'guarantee', 'cancellation', 'reversal', 'expiry', 'restore', 'fee')),
  debit_account INTEGER NOT NULL REFERENCES accounts(id),
  credit_account INTEGER NOT NULL REFERENCES accounts(id),
  amount INTEGER NOT NULL CHECK (amount > 0),
  unit TEXT NOT NULL,
  at INTEGER NOT NULL,
  CHECK (debit_account <> credit_account)
) STRICT;`;
}

/**
 * The youths' names for the operator's card search (issue 12): full-text, accents and case folded
 * ("leo" finds "Léo"), word prefixes ("mart*"), so a search never scans 370,000 dossiers on the gateway's
 * thread. The dossier id is stored beside the name (not a rowid reference, which a VACUUM may renumber).
 * The ledger writes it where it creates dossiers, not by a trigger: the start-of-year load indexes its
 * new names in one statement at its end (1.6 s for 370,000 names here, against 9 s row by row).
 */
const HOLDER_INDEX = `CREATE VIRTUAL TABLE IF NOT EXISTS holder_search USING fts5(holder, dossier_id UNINDEXED, tokenize = 'unicode61 remove_diacritics 2');`;

/**
 * What turns version N into N + 1 on an existing ledger, before SCHEMA runs: columns added to existing
 * tables, tables whose constraints change rebuilt (SCHEMA's CREATE … IF NOT EXISTS makes the new tables
 * and indexes). Version 4 is the trust issue (docs/security.md): demo tokens are marked, so a gateway
 * started without the demo withdraws them; offline sales keep their sequence number and the new kinds of
 * breach the gateway now judges from its own records.
 */
export const MIGRATIONS: Readonly<Record<number, string>> = {
  3: `ALTER TABLE api_tokens ADD COLUMN demo INTEGER NOT NULL DEFAULT 0 CHECK (demo IN (0, 1));
${offlineSalesTable('offline_sales_v4')}
INSERT INTO offline_sales_v4 (txn_id, terminal_id, seq, card_number, benefit, unit, amount, guaranteed, breach, sale_at, recorded_at)
  SELECT o.txn_id, o.terminal_id, r.seq, o.card_number, o.benefit, o.unit, o.amount, o.guaranteed, o.breach, o.sale_at, o.recorded_at
  FROM offline_sales o JOIN requests r ON r.txn_id = o.txn_id;
DROP TABLE offline_sales;
ALTER TABLE offline_sales_v4 RENAME TO offline_sales;
CREATE TABLE pin_tries (dossier_id TEXT NOT NULL REFERENCES dossiers(id), partner_id TEXT NOT NULL, day TEXT NOT NULL, failures INTEGER NOT NULL CHECK (failures > 0), PRIMARY KEY (dossier_id, partner_id, day)) STRICT, WITHOUT ROWID;
-- A code locked under version 3 (three wrong in a row) stays locked until the Region unlocks it.
INSERT INTO pin_tries (dossier_id, partner_id, day, failures) SELECT id, '(before v4)', '0000-00-00', 30 FROM dossiers WHERE pin_failures >= 3;`,
  // Version 5: the 'restore' transfer kind (late offline sales after expiry; its indexes come with SCHEMA)
  // and the holders' names indexed for the operator's card search (the ledger adds each new dossier's).
  4: `${transfersTable('transfers_v5')}
INSERT INTO transfers_v5 (id, txn_id, kind, debit_account, credit_account, amount, unit, at)
  SELECT id, txn_id, kind, debit_account, credit_account, amount, unit, at FROM transfers;
DROP TABLE transfers;
ALTER TABLE transfers_v5 RENAME TO transfers;
${HOLDER_INDEX}
INSERT INTO holder_search (holder, dossier_id) SELECT holder, id FROM dossiers;`,
  // Version 6: the terminals' latest heartbeats and their pushed settings, new tables the schema creates.
  5: '',
  // Version 7: the web space's accounts and the partners' convention signatures, new tables the schema creates.
  6: '',
};

export const SCHEMA = `
CREATE TABLE IF NOT EXISTS campaigns (
  id TEXT PRIMARY KEY CHECK (id GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9][0-9][0-9]'),
  windows TEXT NOT NULL,
  created_at INTEGER NOT NULL
) STRICT;
CREATE TABLE IF NOT EXISTS partners (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  type TEXT NOT NULL,
  convention_from TEXT NOT NULL,
  convention_to TEXT NOT NULL CHECK (convention_from <= convention_to),
  entry_price_cents INTEGER NOT NULL DEFAULT 0 CHECK (entry_price_cents >= 0),
  iban TEXT,
  bic TEXT
) STRICT;
CREATE TABLE IF NOT EXISTS partner_proofs (
  partner_id TEXT NOT NULL REFERENCES partners(id),
  school_year TEXT NOT NULL,
  recorded_at INTEGER NOT NULL,
  PRIMARY KEY (partner_id, school_year)
) STRICT;
CREATE TABLE IF NOT EXISTS terminals (
  id TEXT PRIMARY KEY,
  partner_id TEXT NOT NULL REFERENCES partners(id),
  public_key BLOB NOT NULL CHECK (length(public_key) = 32),
  active INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1))
) STRICT;
CREATE TABLE IF NOT EXISTS dossiers (
  id TEXT PRIMARY KEY,
  holder TEXT NOT NULL,
  pin_hash TEXT,
  pin_failures INTEGER NOT NULL DEFAULT 0 CHECK (pin_failures >= 0),
  -- Active suspensions, kept here so a debit looks the suspensions up only for the few dossiers that have one.
  suspensions INTEGER NOT NULL DEFAULT 0 CHECK (suspensions >= 0)
) STRICT;
CREATE TABLE IF NOT EXISTS cards (
  number TEXT PRIMARY KEY,
  dossier_id TEXT NOT NULL REFERENCES dossiers(id),
  status TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'opposed')),
  issued_at INTEGER NOT NULL,
  opposed_at INTEGER,
  opposed_reason TEXT CHECK (opposed_reason IN ('lost', 'stolen', 'broken', 'school_change')),
  replaced_by TEXT
) STRICT;
CREATE INDEX IF NOT EXISTS cards_by_dossier ON cards(dossier_id);
${HOLDER_INDEX}
CREATE UNIQUE INDEX IF NOT EXISTS one_active_card ON cards(dossier_id) WHERE status = 'active';
CREATE TABLE IF NOT EXISTS accounts (
  id INTEGER PRIMARY KEY,
  -- Funding, payable and fee accounts are found by code; a wallet by (dossier, benefit, campaign), so it
  -- carries no code: one index less to write for each of the two million wallets of a start-of-year load.
  code TEXT UNIQUE,
  -- 'region': the Region's own accounts outside any campaign (offline-guarantee:<unit>, docs/offline.md).
  kind TEXT NOT NULL CHECK (kind IN ('wallet', 'funding', 'payable', 'fees', 'region')),
  unit TEXT NOT NULL CHECK (unit IN ('cent', 'entry')),
  dossier_id TEXT REFERENCES dossiers(id),
  benefit TEXT,
  campaign TEXT,
  partner_id TEXT REFERENCES partners(id),
  access INTEGER NOT NULL DEFAULT 0 CHECK (access IN (0, 1)),
  loaded INTEGER NOT NULL DEFAULT 0 CHECK (loaded >= 0),
  valid_from INTEGER,
  valid_until INTEGER,
  debits INTEGER NOT NULL DEFAULT 0 CHECK (debits >= 0),
  credits INTEGER NOT NULL DEFAULT 0 CHECK (credits >= 0),
  CHECK ((kind = 'wallet') = (code IS NULL)),
  CHECK (kind <> 'wallet' OR (debits <= credits AND credits - debits <= loaded AND valid_from < valid_until))
) STRICT;
CREATE UNIQUE INDEX IF NOT EXISTS wallet_key ON accounts(dossier_id, benefit, campaign) WHERE kind = 'wallet';
-- The expiry sweep's range scan (R7): written once per wallet, when it is created; debits never touch it.
CREATE INDEX IF NOT EXISTS wallet_end ON accounts(valid_until) WHERE kind = 'wallet' AND access = 0;
-- How every account is named in reports and audit messages.
CREATE VIEW IF NOT EXISTS account_names AS
  SELECT id, coalesce(code, 'wallet:' || dossier_id || ':' || benefit || ':' || campaign) AS name FROM accounts;
${transfersTable('transfers')}
-- A request id moves money at most once per kind of movement, whatever happens above this table.
CREATE UNIQUE INDEX IF NOT EXISTS transfer_txn ON transfers(txn_id, kind) WHERE txn_id IS NOT NULL;
-- What the expiry sweep took from a wallet, and what late offline sales brought back of it (docs/offline.md,
-- "Late sales after expiry"): one entry per swept wallet, one per late sale; debits never touch them.
CREATE INDEX IF NOT EXISTS expiry_by_wallet ON transfers(debit_account) WHERE kind = 'expiry';
CREATE INDEX IF NOT EXISTS restore_by_wallet ON transfers(credit_account) WHERE kind = 'restore';
-- Every record a terminal published and the gateway decided (a sale or a void), with its reply, and its
-- place in the terminal's hash chain: msg_hash is the chain hash of its exact message bytes, prev the hash
-- it names as the previous record's (docs/offline.md).
-- A rowid table: rows (with their reply) are appended; only the small txn_id index takes random-ish
-- writes, and with time-ordered (UUIDv7) ids even those land at its end.
CREATE TABLE IF NOT EXISTS requests (
  id INTEGER PRIMARY KEY,
  txn_id TEXT NOT NULL UNIQUE,
  terminal_id TEXT NOT NULL REFERENCES terminals(id),
  seq INTEGER NOT NULL,
  fingerprint TEXT NOT NULL,
  -- 'void': a terminal's void record, its reply a void.reply.
  status TEXT NOT NULL CHECK (status IN ('approved', 'declined', 'void')),
  -- The sale's mode; NULL for a void.
  mode TEXT CHECK (mode IN ('online', 'offline')),
  code TEXT,
  reply BLOB NOT NULL,
  decided_at INTEGER NOT NULL,
  msg_hash TEXT NOT NULL,
  prev TEXT NOT NULL,
  CHECK ((status = 'void') = (mode IS NULL))
) STRICT;
-- A terminal's sequence number names one record only (a reuse is refused as a chain break).
CREATE UNIQUE INDEX IF NOT EXISTS request_seq ON requests(terminal_id, seq);
-- What the Region reimburses (R11): one line per approved sale and per correction, assigned to a statement
-- when the partner's period is closed.
CREATE TABLE IF NOT EXISTS sales (
  id INTEGER PRIMARY KEY,
  txn_id TEXT NOT NULL,
  kind TEXT NOT NULL CHECK (kind IN ('sale', 'cancellation', 'reversal')),
  partner_id TEXT NOT NULL REFERENCES partners(id),
  terminal_id TEXT,
  group_id TEXT,
  card_number TEXT NOT NULL,
  -- NULL only on a line the Region's offline guarantee pays whole: an unknown card has no dossier, a
  -- youth without the benefit has no wallet (and so no campaign) to take from.
  dossier_id TEXT,
  benefit TEXT NOT NULL,
  campaign TEXT,
  unit TEXT NOT NULL,
  quantity INTEGER NOT NULL CHECK (quantity <> 0 AND (kind = 'sale') = (quantity > 0)),
  -- The part of an offline sale's quantity the Region's guarantee covers (its 'guarantee' transfer); the
  -- rest came from the wallet (its 'debit' transfer). A guaranteed sale is never corrected.
  guaranteed INTEGER NOT NULL DEFAULT 0 CHECK (guaranteed >= 0 AND (guaranteed = 0 OR (kind = 'sale' AND guaranteed <= quantity))),
  amount_cents INTEGER NOT NULL CHECK ((kind = 'sale' AND amount_cents >= 0) OR (kind <> 'sale' AND amount_cents <= 0)),
  sale_at INTEGER NOT NULL,
  recorded_at INTEGER NOT NULL,
  reason TEXT,
  statement_id TEXT REFERENCES statements(id),
  CHECK ((dossier_id IS NOT NULL AND campaign IS NOT NULL) OR guaranteed = quantity)
) STRICT;
CREATE UNIQUE INDEX IF NOT EXISTS sale_txn ON sales(txn_id) WHERE kind = 'sale';
-- A sale is cancelled or reversed at most once.
CREATE UNIQUE INDEX IF NOT EXISTS one_correction ON sales(txn_id) WHERE kind <> 'sale';
CREATE INDEX IF NOT EXISTS sales_unstated ON sales(partner_id, recorded_at) WHERE statement_id IS NULL;
CREATE INDEX IF NOT EXISTS sales_by_statement ON sales(statement_id) WHERE statement_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS sales_by_dossier ON sales(dossier_id);
CREATE TABLE IF NOT EXISTS statements (
  id TEXT PRIMARY KEY,
  partner_id TEXT NOT NULL REFERENCES partners(id),
  period_from TEXT NOT NULL,
  period_to TEXT NOT NULL CHECK (period_from <= period_to),
  created_at INTEGER NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('ready', 'held', 'paid')),
  school_year TEXT NOT NULL,
  total_cents INTEGER NOT NULL,
  paid_at INTEGER,
  paid_by TEXT REFERENCES sepa_files(id),
  CHECK ((status = 'paid') = (paid_by IS NOT NULL))
) STRICT;
CREATE TABLE IF NOT EXISTS sepa_files (
  id TEXT PRIMARY KEY,
  created_at INTEGER NOT NULL,
  xml TEXT NOT NULL
) STRICT;
CREATE INDEX IF NOT EXISTS statements_by_partner ON statements(partner_id, period_from);
CREATE TABLE IF NOT EXISTS suspensions (
  id INTEGER PRIMARY KEY,
  dossier_id TEXT NOT NULL REFERENCES dossiers(id),
  benefit TEXT,
  campaign TEXT NOT NULL,
  reason TEXT NOT NULL,
  at INTEGER NOT NULL,
  lifted_at INTEGER
) STRICT;
-- Whole, not only the suspensions in force: an offline sale is judged by those in force at its time.
CREATE INDEX IF NOT EXISTS suspensions_by_dossier ON suspensions(dossier_id);
CREATE TABLE IF NOT EXISTS oppositions (
  id INTEGER PRIMARY KEY,
  card_number TEXT NOT NULL REFERENCES cards(number),
  reason TEXT NOT NULL,
  at INTEGER NOT NULL,
  fee_cents INTEGER NOT NULL CHECK (fee_cents >= 0),
  fee_account INTEGER REFERENCES accounts(id),
  replacement TEXT
) STRICT;
CREATE TABLE IF NOT EXISTS group_sales (
  id TEXT PRIMARY KEY,
  partner_id TEXT NOT NULL REFERENCES partners(id),
  fingerprint TEXT NOT NULL,
  result TEXT NOT NULL,
  at INTEGER NOT NULL
) STRICT;
CREATE TABLE IF NOT EXISTS ledger_meta (
  key TEXT PRIMARY KEY,
  value INTEGER NOT NULL
) STRICT;
CREATE TABLE IF NOT EXISTS conflicts (
  id INTEGER PRIMARY KEY,
  txn_id TEXT NOT NULL,
  terminal_id TEXT NOT NULL,
  fingerprint TEXT NOT NULL,
  at INTEGER NOT NULL
) STRICT;
CREATE TABLE IF NOT EXISTS api_tokens (
  token_hash TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  role TEXT NOT NULL CHECK (role IN ('operator', 'technician', 'partner')),
  partner_id TEXT REFERENCES partners(id),
  created_at INTEGER NOT NULL,
  revoked_at INTEGER,
  -- Made by the demo seeding: withdrawn when the gateway starts without the demo (seedDemo false).
  demo INTEGER NOT NULL DEFAULT 0 CHECK (demo IN (0, 1)),
  CHECK ((role = 'partner') = (partner_id IS NOT NULL))
) STRICT;
-- Per terminal: the lowest sequence number not yet received, the highest received, and the chain hash of
-- the record just below next_seq (GENESIS before any): kept in the record's own transaction, so gap
-- detection never scans the requests and a record in order checks its prev without a lookup.
CREATE TABLE IF NOT EXISTS terminal_sync (
  terminal_id TEXT PRIMARY KEY REFERENCES terminals(id),
  next_seq INTEGER NOT NULL CHECK (next_seq >= 1),
  max_seq INTEGER NOT NULL CHECK (max_seq >= next_seq - 1),
  head_hash TEXT NOT NULL
) STRICT;
CREATE TABLE IF NOT EXISTS chain_breaks (
  id INTEGER PRIMARY KEY,
  terminal_id TEXT NOT NULL,
  seq INTEGER NOT NULL,
  txn_id TEXT NOT NULL,
  kind TEXT NOT NULL CHECK (kind IN ('seq-reused', 'prev-mismatch')),
  at INTEGER NOT NULL
) STRICT;
CREATE INDEX IF NOT EXISTS chain_breaks_by_terminal ON chain_breaks(terminal_id, seq);
-- A void whose target was not applied (never received, or declined): the target, if it ever comes, is
-- declined TXN_VOIDED, if it comes from the same terminal (a void never touches another terminal's sale).
CREATE TABLE IF NOT EXISTS voids (
  target TEXT NOT NULL,
  terminal_id TEXT NOT NULL,
  void_txn_id TEXT NOT NULL,
  at INTEGER NOT NULL,
  PRIMARY KEY (target, terminal_id)
) STRICT, WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS offline_policies (
  version INTEGER PRIMARY KEY CHECK (version >= 1),
  limits TEXT NOT NULL,
  issued_at INTEGER NOT NULL
) STRICT;
-- The hotlist pushed to terminals: one row per card that was ever on it. reason NULL: the card left the
-- list at \`version\` (kept so a delta tells the terminals). \`since\`: the version at which its latest stay on
-- the list began. \`soft_at\`: soft-blocked after an offline loss (kept under a stronger reason, so lifting
-- an opposition or a suspension falls back to it).
CREATE TABLE IF NOT EXISTS hotlist (
  card_number TEXT PRIMARY KEY,
  reason TEXT CHECK (reason IN ('opposed', 'suspended', 'soft')),
  version INTEGER NOT NULL CHECK (version >= 1),
  since INTEGER,
  soft_at INTEGER,
  changed_at INTEGER NOT NULL,
  CHECK (reason IS NULL OR (since IS NOT NULL AND since <= version)),
  CHECK (reason IS NOT 'soft' OR soft_at IS NOT NULL)
) STRICT;
CREATE INDEX IF NOT EXISTS hotlist_by_version ON hotlist(version);
-- Every offline sale settled, with the policy breach that cost it the guarantee (NULL: none).
${offlineSalesTable('offline_sales')}
CREATE INDEX IF NOT EXISTS offline_sales_by_card_day ON offline_sales(terminal_id, card_number, sale_at);
CREATE INDEX IF NOT EXISTS offline_sales_by_seq ON offline_sales(terminal_id, seq);
-- When each hotlist version was made (the gateway's clock): which list a terminal had at a given moment.
CREATE TABLE IF NOT EXISTS hotlist_versions (
  version INTEGER PRIMARY KEY,
  at INTEGER NOT NULL
) STRICT;
CREATE INDEX IF NOT EXISTS hotlist_versions_by_time ON hotlist_versions(at);
-- What the Region's offline guarantee paid: one row per guaranteed sale, equal to its 'guarantee' transfer.
CREATE TABLE IF NOT EXISTS offline_losses (
  txn_id TEXT PRIMARY KEY,
  card_number TEXT NOT NULL,
  dossier_id TEXT,
  partner_id TEXT NOT NULL REFERENCES partners(id),
  terminal_id TEXT NOT NULL,
  benefit TEXT NOT NULL,
  unit TEXT NOT NULL,
  amount INTEGER NOT NULL CHECK (amount > 0),
  amount_cents INTEGER NOT NULL CHECK (amount_cents >= 0),
  reason TEXT NOT NULL,
  sale_at INTEGER NOT NULL,
  recorded_at INTEGER NOT NULL
) STRICT;
CREATE INDEX IF NOT EXISTS offline_losses_by_time ON offline_losses(recorded_at);
-- Who registered, enrolled, re-keyed, switched on or off which terminal, which enrolment codes were made,
-- used or tried wrongly, which chip keys and tokens were issued (docs/security.md). Appended, never changed.
CREATE TABLE IF NOT EXISTS audit_log (
  id INTEGER PRIMARY KEY,
  at INTEGER NOT NULL,
  actor TEXT NOT NULL,
  action TEXT NOT NULL,
  subject TEXT NOT NULL,
  details TEXT
) STRICT;
CREATE INDEX IF NOT EXISTS audit_by_subject ON audit_log(subject, id);
-- R12: the lists of youths the Region (for a school) approves for one partner's group outing; a group sale
-- names one and pays each card on it once.
CREATE TABLE IF NOT EXISTS group_lists (
  id TEXT PRIMARY KEY,
  partner_id TEXT NOT NULL REFERENCES partners(id),
  benefit TEXT NOT NULL,
  reference TEXT NOT NULL,
  max_per_youth INTEGER NOT NULL CHECK (max_per_youth > 0),
  valid_until INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  created_by TEXT NOT NULL
) STRICT;
CREATE TABLE IF NOT EXISTS group_list_cards (
  list_id TEXT NOT NULL REFERENCES group_lists(id),
  card_number TEXT NOT NULL,
  -- The group sale that paid this card under the list (NULL: not yet).
  paid_by TEXT,
  PRIMARY KEY (list_id, card_number)
) STRICT, WITHOUT ROWID;
-- R3: wrong secret codes since the last right one, per partner and Paris day (rules.ts PIN_TRIES).
CREATE TABLE IF NOT EXISTS pin_tries (
  dossier_id TEXT NOT NULL REFERENCES dossiers(id),
  partner_id TEXT NOT NULL,
  day TEXT NOT NULL,
  failures INTEGER NOT NULL CHECK (failures > 0),
  PRIMARY KEY (dossier_id, partner_id, day)
) STRICT, WITHOUT ROWID;
-- Each card's chip public key, recorded when the chip was personalised (gateway/personalise.ts): the
-- gateway checks every NFC sale's card signature with it. One chip per card number; a key names one card.
CREATE TABLE IF NOT EXISTS card_keys (
  card_number TEXT PRIMARY KEY REFERENCES cards(number),
  public_key BLOB NOT NULL UNIQUE CHECK (length(public_key) = 32),
  expiry TEXT NOT NULL,
  recorded_at INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
-- A card proof taken over by an offline sale from the online request it replaces (its \`ref\` names that
-- request): once only. A sale's own proof (ref = its id) needs no row, its id being unique already.
CREATE TABLE IF NOT EXISTS card_ref_uses (
  ref TEXT PRIMARY KEY,
  txn_id TEXT NOT NULL,
  terminal_id TEXT NOT NULL
) STRICT, WITHOUT ROWID;
-- What the gateway saw of each terminal's connections (gateway/contacts.ts): at each admitted connect,
-- the outbox head the terminal declared and the gateway's time. A record numbered above a contact's head
-- was made after that contact; one at or below it, before. The latest time per head is kept.
CREATE TABLE IF NOT EXISTS terminal_contacts (
  terminal_id TEXT NOT NULL,
  head_seq INTEGER NOT NULL CHECK (head_seq >= 0),
  at INTEGER NOT NULL,
  PRIMARY KEY (terminal_id, head_seq)
) STRICT, WITHOUT ROWID;
-- The time in the last connect token admitted per terminal: a later token must be later still (single use).
CREATE TABLE IF NOT EXISTS terminal_presence (
  terminal_id TEXT PRIMARY KEY,
  last_token_ms INTEGER NOT NULL,
  connected_at INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
-- The latest heartbeat each terminal reported (protocol/heartbeat.ts): what it says it runs and holds, and
-- when the gateway heard it. Evidence for the fleet view, never for money.
CREATE TABLE IF NOT EXISTS terminal_heartbeats (
  terminal_id TEXT PRIMARY KEY REFERENCES terminals(id),
  received_at INTEGER NOT NULL,
  sent_at INTEGER NOT NULL,
  started_at INTEGER NOT NULL,
  software TEXT NOT NULL,
  policy_version INTEGER,
  hotlist_version INTEGER,
  settings_version INTEGER,
  pending INTEGER NOT NULL CHECK (pending >= 0),
  oldest_pending_at INTEGER,
  offline_pending INTEGER NOT NULL CHECK (offline_pending >= 0),
  offline_pending_cents INTEGER NOT NULL CHECK (offline_pending_cents >= 0),
  devices TEXT NOT NULL,
  last_sale_at INTEGER
) STRICT, WITHOUT ROWID;
-- The settings the Region set for a terminal (protocol/terminal-settings.ts), pushed signed; the version
-- counts up per terminal.
CREATE TABLE IF NOT EXISTS terminal_settings (
  terminal_id TEXT PRIMARY KEY REFERENCES terminals(id),
  version INTEGER NOT NULL CHECK (version >= 1),
  issued_at INTEGER NOT NULL,
  issued_by TEXT NOT NULL,
  settings TEXT NOT NULL
) STRICT, WITHOUT ROWID;
-- Single-use, expiring codes an operator makes for one terminal id of one partner: the terminal presents
-- one with the public key it made, and exists from then on (gateway/enrolment.ts). Only a hash of the
-- secret part is kept.
CREATE TABLE IF NOT EXISTS enrolment_codes (
  id TEXT PRIMARY KEY,
  secret_hash TEXT NOT NULL,
  partner_id TEXT NOT NULL REFERENCES partners(id),
  terminal_id TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL CHECK (expires_at > created_at),
  max_tries INTEGER NOT NULL CHECK (max_tries >= 1),
  failures INTEGER NOT NULL DEFAULT 0 CHECK (failures >= 0),
  created_by TEXT NOT NULL,
  used_at INTEGER,
  revoked_at INTEGER
) STRICT;
-- The web space's people (gateway/web, docs/web.md): partner staff (partner_id set) and Region agents.
-- Only hashes of passwords and of invitation secrets are kept.
CREATE TABLE IF NOT EXISTS web_users (
  id TEXT PRIMARY KEY,
  email TEXT NOT NULL UNIQUE CHECK (email = lower(email)),
  name TEXT NOT NULL,
  role TEXT NOT NULL CHECK (role IN ('manager', 'cashier', 'accountant', 'operator', 'technician')),
  partner_id TEXT REFERENCES partners(id),
  password_hash TEXT,
  invite_hash TEXT UNIQUE,
  invite_expires_at INTEGER,
  failed_logins INTEGER NOT NULL DEFAULT 0 CHECK (failed_logins >= 0),
  locked_until INTEGER,
  session_epoch INTEGER NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL,
  invited_by TEXT NOT NULL,
  disabled_at INTEGER,
  CHECK ((partner_id IS NOT NULL) = (role IN ('manager', 'cashier', 'accountant'))),
  CHECK ((invite_hash IS NULL) = (invite_expires_at IS NULL))
) STRICT;
-- A partner's electronic signature of its convention: who, when, and the hash of the exact text signed.
CREATE TABLE IF NOT EXISTS convention_signatures (
  partner_id TEXT NOT NULL REFERENCES partners(id),
  document_id TEXT NOT NULL,
  document_sha256 TEXT NOT NULL CHECK (length(document_sha256) = 64),
  user_id TEXT NOT NULL REFERENCES web_users(id),
  signer_name TEXT NOT NULL,
  signed_at INTEGER NOT NULL,
  PRIMARY KEY (partner_id, document_id)
) STRICT, WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS sales_by_partner_time ON sales(partner_id, sale_at) WHERE kind = 'sale';
CREATE INDEX IF NOT EXISTS sales_by_time ON sales(sale_at) WHERE kind = 'sale';
-- A partner's request for a new terminal; the Region approves it (a terminal id and its enrolment code) or refuses it.
CREATE TABLE IF NOT EXISTS terminal_requests (
  id TEXT PRIMARY KEY,
  partner_id TEXT NOT NULL REFERENCES partners(id),
  requested_by TEXT NOT NULL REFERENCES web_users(id),
  site TEXT NOT NULL,
  note TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  status TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'approved', 'refused')),
  decided_by TEXT,
  decided_at INTEGER,
  terminal_id TEXT,
  code_id TEXT,
  refusal TEXT,
  CHECK ((status = 'approved') = (terminal_id IS NOT NULL AND code_id IS NOT NULL)),
  CHECK ((status = 'refused') = (refusal IS NOT NULL)),
  CHECK ((status = 'open') = (decided_at IS NULL))
) STRICT;
CREATE INDEX IF NOT EXISTS terminal_requests_by_partner ON terminal_requests(partner_id, created_at);
`;
