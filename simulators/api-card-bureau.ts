import { maskCardNumber } from '../protocol/card.ts';
import { isCode } from '../protocol/codes.ts';
import { b64url, publicKeyFromSeed } from '../protocol/crypto.ts';
import { PasserelleError } from '../protocol/errors.ts';
import { cardFromCredential, type SimPassCard } from './card.ts';

/**
 * The card bureau as it really works, for simulators against a running gateway: the chip's key pair is
 * made here (on the chip), its public half goes to the gateway's personalisation route with an operator
 * token, and the issuer-signed credential that comes back is written on the emulated chip. Nothing here
 * holds or needs the gateway's issuer key, so a developer's simulator needs no gateway private file.
 */

export interface ApiPersonalisation {
  /** The gateway's HTTP API, e.g. `http://127.0.0.1:8080`. */
  readonly httpUrl: string;
  /** An operator token (docs/api.md). */
  readonly token: string;
  readonly cardNumber: string;
  /** The chip's private seed: a card's existing chip (the gateway already holds its key) or a new one. */
  readonly chipSeed: Uint8Array;
  /** The card's last valid day, `YYYY-MM-DD` (default 2099-12-31). */
  readonly expiry?: string;
  /** The card already has another chip, which this one replaces (audited by the gateway). */
  readonly replace?: boolean;
  /** How long to wait for the gateway's answer. */
  readonly timeoutMs?: number;
}

interface ApiError {
  readonly error?: { readonly code?: string; readonly message?: string };
}

export async function personaliseThroughApi(p: ApiPersonalisation): Promise<SimPassCard> {
  const url = `${p.httpUrl.replace(/\/+$/, '')}/api/v1/cards/${p.cardNumber}/credential`;
  const body = { cardPublicKey: b64url(publicKeyFromSeed(p.chipSeed)), expiry: p.expiry ?? '2099-12-31', ...(p.replace ? { replace: true } : {}) };
  let res: Response;
  try {
    res = await fetch(url, {
      method: 'POST',
      headers: { authorization: `Bearer ${p.token}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(p.timeoutMs ?? 10_000),
    });
  } catch (e) {
    throw new PasserelleError('NO_REPLY', `the gateway's HTTP API did not answer at ${p.httpUrl} (${(e as Error).message}): is the gateway started, is the URL right?`);
  }
  const answer = (await res.json().catch(() => ({}))) as ApiError & { credential?: unknown };
  if (res.status !== 201 || typeof answer.credential !== 'string') {
    const code = answer.error?.code;
    const why = answer.error?.message ?? `HTTP ${res.status}`;
    throw new PasserelleError(code !== undefined && isCode(code) ? code : 'DATA_INVALID', `card ${maskCardNumber(p.cardNumber)} not personalised by the gateway: ${why}`);
  }
  return cardFromCredential(Buffer.from(answer.credential, 'base64url'), p.chipSeed);
}
