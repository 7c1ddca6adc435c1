import { statSync } from 'node:fs';
import { loadCardsFile } from '../gateway/bulk/load-file.ts';
import { createProgress } from '../gateway/bulk/progress.ts';
import type { BadRow } from '../gateway/bulk/types.ts';
import { openConfiguredLedger, withConfiguredLedger, type LedgerFileOptions } from './ledger-file.ts';
import { isPasserelleError, PasserelleError } from '../protocol/errors.ts';
import { createApiToken, revokeApiToken, tokenId } from '../gateway/api/tokens.ts';
import type { ApiRole, WebRole } from '../gateway/ledger/ledger.ts';
import { createInvitation } from '../gateway/web/users.ts';
import { newInvitation } from '../gateway/web/passwords.ts';

export interface CardsLoadOptions extends LedgerFileOptions {
  /** ISO date-time the load is dated at (default now). */
  readonly at?: string;
  readonly createCampaigns?: boolean;
}

/**
 * `passerelle cards load FILE`: the Region's start-of-year load, straight into the ledger file named by
 * the configuration. Bad rows are listed by line number and nothing is loaded (exit code 2).
 */
export async function cardsLoadCommand(file: string, o: CardsLoadOptions): Promise<void> {
  const at = o.at === undefined ? Date.now() : Date.parse(o.at);
  if (Number.isNaN(at)) throw new Error(`--at: not a date: ${o.at}`);
  const { ledger, where: ledgerFile } = await openConfiguredLedger(o);
  const reading = createProgress({ total: statSync(file).size, label: 'reading', unit: 'bytes' });
  let loading: ReturnType<typeof createProgress> | undefined;
  try {
    const r = await loadCardsFile(ledger, file, {
      at,
      createMissingCampaigns: o.createCampaigns === true,
      onReadProgress: (bytes) => reading.update(bytes),
      onLoadProgress: (rows, total) => {
        if (!loading) {
          reading.stop();
          loading = createProgress({ total, label: 'loading cards' });
        }
        loading.update(rows);
      },
    });
    loading?.stop();
    process.stdout.write(`${r.cards} cards and ${r.loads} benefits loaded into ${ledgerFile} (read ${(r.readMs / 1000).toFixed(1)} s, loaded ${(r.loadMs / 1000).toFixed(1)} s)\n`);
  } catch (e) {
    reading.stop();
    loading?.stop();
    if (isPasserelleError(e, 'BULK_LOAD_INVALID')) {
      const errors = e.details?.errors as BadRow[] | undefined;
      if (errors) for (const b of errors) process.stderr.write(`line ${b.line}: ${b.message}\n`);
      else process.stderr.write(`${e.message}\n`);
      process.stderr.write(`${String(e.details?.errorCount ?? 1)} problem(s); nothing was loaded.\n`);
      process.exitCode = 2;
      return;
    }
    throw e;
  } finally {
    await ledger.close();
  }
}

export interface TokenCreateOptions extends LedgerFileOptions {
  readonly name: string;
  readonly role: string;
  readonly partner?: string;
}

/** `passerelle token create`: an HTTP API token, printed once; only its hash is kept. */
export async function tokenCreateCommand(o: TokenCreateOptions): Promise<void> {
  if (!isApiRole(o.role)) throw new Error(`--role must be operator, technician or partner, not ${o.role}`);
  const role = o.role;
  const token = await withConfiguredLedger(o, async (ledger) => await createApiToken(ledger, { name: o.name, role, actor: 'cli', ...(o.partner ? { partnerId: o.partner } : {}) }, Date.now()));
  process.stdout.write(`${token}\n`);
  process.stderr.write(`${o.role} token "${o.name}" (id ${tokenId(token)}) created; it is shown only now: keep it secret.\n`);
}

function isApiRole(role: string): role is ApiRole {
  return role === 'operator' || role === 'technician' || role === 'partner';
}

/** `passerelle token list`: tokens in force, by id (never the tokens themselves). */
export async function tokenListCommand(o: LedgerFileOptions): Promise<void> {
  for (const t of await withConfiguredLedger(o, async (ledger) => await ledger.apiTokens())) {
    process.stdout.write(`${t.id}  ${t.role.padEnd(10)} ${(t.partnerId ?? '-').padEnd(14)} ${new Date(t.createdAt).toISOString()}  ${t.name}\n`);
  }
}

/** `passerelle token revoke ID`: refused from the next request on (a running gateway reads the same file). */
export async function tokenRevokeCommand(id: string, o: LedgerFileOptions): Promise<void> {
  if (!await withConfiguredLedger(o, async (ledger) => await revokeApiToken(ledger, id, Date.now(), 'cli'))) {
    throw new PasserelleError('NOT_FOUND', `no token ${id} in force (see passerelle token list)`);
  }
  process.stderr.write(`token ${id} revoked\n`);
}

export interface WebInviteOptions extends LedgerFileOptions {
  readonly email: string;
  readonly name: string;
  readonly role: string;
  readonly partner?: string;
  /** The address people open the web space at, e.g. https://pass.example.fr (default http://127.0.0.1:8080). */
  readonly url?: string;
  readonly days?: string;
}

/**
 * `passerelle web invite`: a web account with a single-use invitation link, printed once (the first
 * Region operator is made this way; then operators and managers invite from the pages).
 */
export async function webInviteCommand(o: WebInviteOptions): Promise<void> {
  const roles: readonly WebRole[] = ['operator', 'technician', 'manager', 'cashier', 'accountant'];
  if (!(roles as readonly string[]).includes(o.role)) throw new Error(`--role must be one of ${roles.join(', ')}, not ${o.role}`);
  const days = o.days === undefined ? 7 : Number(o.days);
  if (!Number.isInteger(days) || days < 1 || days > 30) throw new Error(`--days must be 1 to 30, not ${o.days}`);
  const base = (o.url ?? 'http://127.0.0.1:8080').replace(/\/+$/, '');
  if (!/^https?:\/\/[^/\s]+$/.test(base)) throw new Error(`--url must be the web space's origin, e.g. https://pass.example.fr, not ${o.url}`);
  const secret = await withConfiguredLedger(o, async (ledger) => await createInvitation(ledger, { email: o.email, name: o.name, role: o.role as WebRole, partnerId: o.partner ?? null, invitedBy: 'cli', ttlMs: days * 86_400_000 }, Date.now()));
  process.stdout.write(`${base}/invitation/${secret}\n`);
  process.stderr.write(`${o.role} ${o.email} invited: send this link to them (valid ${days} days, once); it is shown only now.\n`);
}

export interface WebLinkOptions extends LedgerFileOptions {
  readonly email: string;
  readonly url?: string;
  readonly days?: string;
}

/**
 * `passerelle web link`: a new single-use link for an existing account (a partner's manager or an
 * operator who lost their password); its password stays valid until the link is used. Audited.
 */
export async function webLinkCommand(o: WebLinkOptions): Promise<void> {
  const days = o.days === undefined ? 7 : Number(o.days);
  if (!Number.isInteger(days) || days < 1 || days > 30) throw new Error(`--days must be 1 to 30, not ${o.days}`);
  const base = (o.url ?? 'http://127.0.0.1:8080').replace(/\/+$/, '');
  if (!/^https?:\/\/[^/\s]+$/.test(base)) throw new Error(`--url must be the web space's origin, e.g. https://pass.example.fr, not ${o.url}`);
  const secret = await withConfiguredLedger(o, async (ledger) => {
    const u = await ledger.webUserByEmail(o.email);
    if (!u || u.disabledAt !== null) throw new PasserelleError('NOT_FOUND', `no enabled web account ${o.email}`);
    const inv = newInvitation();
    const at = Date.now();
    await ledger.renewInvitation(u.id, inv.hash, at + days * 86_400_000);
    await ledger.addAudit({ at, actor: 'cli', action: 'web-user.link-renewed', subject: u.email, details: null });
    return inv.secret;
  });
  process.stdout.write(`${base}/invitation/${secret}\n`);
  process.stderr.write(`new link for ${o.email}: valid ${days} days, once; it is shown only now.\n`);
}
