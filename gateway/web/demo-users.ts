import { randomBytes } from 'node:crypto';
import { uuidv7 } from '../../protocol/uuid7.ts';
import type { Ledger, WebRole } from '../ledger/ledger.ts';
import { hashPassword, newInvitation } from './passwords.ts';

/**
 * Demo only: one web account per role, with random passwords written (0600) to `demo-users.json` beside
 * the demo tokens, so the pages can be tried at once. Withdrawn with the rest of the demo: a gateway
 * started without it disables every `@demo.passerelle.invalid` account.
 */

export const DEMO_USERS_FILE = 'demo-users.json';
const DOMAIN = '@demo.passerelle.invalid';

export interface DemoUser {
  readonly email: string;
  readonly password: string;
  readonly role: WebRole;
  readonly partnerId: string | null;
}

const ACCOUNTS: readonly [key: string, name: string, role: WebRole, partnerId: string | null][] = [
  ['operator', 'Agent de la Région (démo)', 'operator', null],
  ['technician', 'Technicien (démo)', 'technician', null],
  ['manager', 'Responsable de la Librairie des Canuts (démo)', 'manager', 'P-LIB-LYON'],
  ['cashier', 'Caissière de la Librairie des Canuts (démo)', 'cashier', 'P-LIB-LYON'],
  ['accountant', 'Comptable de la Librairie des Canuts (démo)', 'accountant', 'P-LIB-LYON'],
  ['cinemaManager', 'Responsable du cinéma Les Lumières (démo)', 'manager', 'P-CIN-VBN'],
];

export async function seedDemoUsers(ledger: Ledger, at: number): Promise<Record<string, DemoUser>> {
  const out: Record<string, DemoUser> = {};
  for (const [key, name, role, partnerId] of ACCOUNTS) {
    const email = `${key.toLowerCase()}${DOMAIN}`;
    const password = randomBytes(12).toString('base64url');
    const id = `U-${uuidv7()}`;
    const inv = newInvitation();
    await ledger.addWebUser({ id, email, name, role, partnerId, inviteHash: inv.hash, inviteExpiresAt: at + 60_000, createdAt: at, invitedBy: 'demo' });
    await ledger.acceptInvitation(id, inv.hash, await hashPassword(password), at);
    out[key] = { email, password, role, partnerId };
  }
  return out;
}

/** Disable the demo's accounts; returns how many were still enabled. */
export async function disableDemoUsers(ledger: Ledger, partnerIds: readonly string[], at: number): Promise<number> {
  let n = 0;
  const users = [];
  for (const p of [null, ...partnerIds]) users.push(...(await ledger.webUsers(p)));
  for (const u of users) {
    if (u.email.endsWith(DOMAIN) && await ledger.disableWebUser(u.id, at)) n++;
  }
  return n;
}
