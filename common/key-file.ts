import { readFileSync } from 'node:fs';
import { PasserelleError } from '../protocol/errors.ts';
import { fromB64url } from '../protocol/crypto.ts';
import { parsePublicKeys, type GatewayPublicKeys } from '../protocol/gateway-keys.ts';

/**
 * Terminal key files, read the same way everywhere (the terminal's own command, the simulator, the demo
 * gateway): a terminal's `keyFile` holds only its Ed25519 seed in base64url; a list file holds
 * `{ terminalId, seed }` entries (the demo terminals, a developer's keys). A bad file fails with
 * KEY_FILE_INVALID naming it and what is wrong.
 */

export interface TerminalKeyEntry {
  readonly terminalId: string;
  /** base64url of the 32-byte seed. */
  readonly seed: string;
}

export function readKeyFileText(file: string): string {
  try {
    return readFileSync(file, 'utf8').trim();
  } catch (e) {
    throw new PasserelleError('KEY_FILE_INVALID', `${file}: ${(e as Error).message}`);
  }
}

/** A file holding only a seed, or undefined when the text is something else (a list, say). */
export function seedOf(text: string, file: string): Uint8Array | undefined {
  return /^[A-Za-z0-9_-]{43}$/.test(text) ? fromB64url(text, 32, `${file} seed`) : undefined;
}

/** A terminal's keyFile: its seed alone. */
export function readSeedFile(file: string): Uint8Array {
  const seed = seedOf(readKeyFileText(file), file);
  if (!seed) throw new PasserelleError('KEY_FILE_INVALID', `${file}: not a base64url Ed25519 seed (43 characters)`);
  return seed;
}

/** `{ terminalId, seed }` or a list of them, each checked. */
export function terminalKeyList(text: string, file: string): TerminalKeyEntry[] {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new PasserelleError('KEY_FILE_INVALID', `${file}: neither a base64url seed nor JSON (${(e as Error).message})`);
  }
  const list = Array.isArray(json) ? (json as unknown[]) : [json];
  return list.map((k, i) => {
    const { terminalId, seed } = (k ?? {}) as { terminalId?: unknown; seed?: unknown };
    if (typeof terminalId !== 'string' || typeof seed !== 'string' || !/^[A-Za-z0-9_-]{43}$/.test(seed)) {
      throw new PasserelleError('KEY_FILE_INVALID', `${file}: entry ${i + 1} needs "terminalId" and "seed" (32 bytes in base64url)`);
    }
    return { ...(k as object), terminalId, seed } as TerminalKeyEntry;
  });
}

/** The gateway's public keys a terminal was provisioned with (`gateway-public.json`). */
export function readPublicKeys(file: string): GatewayPublicKeys {
  let json: unknown;
  try {
    json = JSON.parse(readKeyFileText(file));
  } catch (e) {
    throw new PasserelleError('KEY_FILE_INVALID', `${file}: ${(e as Error).message}`);
  }
  return parsePublicKeys(json, file);
}
