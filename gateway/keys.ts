import { chmodSync, existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import nacl from 'tweetnacl';
import { b64url, fromB64url, nodeSigner, type Signer } from '../protocol/crypto.ts';
import { PasserelleError } from '../protocol/errors.ts';

/**
 * The gateway's two keys: Ed25519 to sign replies (and later configs and hotlists), X25519 to open the
 * PIN blocks sealed on the pads. Created on first start in `<dataDir>/gateway-keys.json` (mode 0600);
 * the public halves go to `<dataDir>/gateway-public.json`, which technicians give to terminals when they
 * provision them.
 */

export const KEYS_FILE = 'gateway-keys.json';
export const PUBLIC_FILE = 'gateway-public.json';

export interface GatewayPublicKeys {
  readonly signPublicKey: Uint8Array;
  readonly boxPublicKey: Uint8Array;
}

export interface GatewayKeys extends GatewayPublicKeys {
  readonly signer: Signer;
  readonly signSeed: Uint8Array;
  readonly boxSecretKey: Uint8Array;
}

export function gatewayKeysFrom(signSeed: Uint8Array, boxSecretKey: Uint8Array): GatewayKeys {
  const signer = nodeSigner(signSeed);
  return { signer, signSeed, signPublicKey: signer.publicKey, boxSecretKey, boxPublicKey: nacl.box.keyPair.fromSecretKey(boxSecretKey).publicKey };
}

export function generateGatewayKeys(): GatewayKeys {
  return gatewayKeysFrom(randomBytes(32), randomBytes(32));
}

export function loadOrCreateGatewayKeys(dataDir: string): GatewayKeys {
  const file = join(dataDir, KEYS_FILE);
  let keys: GatewayKeys;
  if (existsSync(file)) {
    keys = readKeys(file);
  } else {
    keys = generateGatewayKeys();
    writeAtomic(file, JSON.stringify({ version: 1, signSeed: b64url(keys.signSeed), boxSecretKey: b64url(keys.boxSecretKey) }), 0o600);
  }
  writeAtomic(join(dataDir, PUBLIC_FILE), JSON.stringify(publicKeysJson(keys), null, 2) + '\n', 0o644);
  return keys;
}

function readKeys(file: string): GatewayKeys {
  let raw: { version?: unknown; signSeed?: unknown; boxSecretKey?: unknown };
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new PasserelleError('KEY_FILE_INVALID', `${file}: ${(e as Error).message}`);
  }
  if (raw.version !== 1) throw new PasserelleError('KEY_FILE_INVALID', `${file}: unknown version`);
  return gatewayKeysFrom(fromB64url(String(raw.signSeed), 32, `${file} signSeed`), fromB64url(String(raw.boxSecretKey), 32, `${file} boxSecretKey`));
}

export function publicKeysJson(keys: GatewayPublicKeys): { signPublicKey: string; boxPublicKey: string } {
  return { signPublicKey: b64url(keys.signPublicKey), boxPublicKey: b64url(keys.boxPublicKey) };
}

export function readPublicKeys(file: string): GatewayPublicKeys {
  let raw: { signPublicKey?: unknown; boxPublicKey?: unknown };
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new PasserelleError('KEY_FILE_INVALID', `${file}: ${(e as Error).message}`);
  }
  return {
    signPublicKey: fromB64url(String(raw.signPublicKey), 32, `${file} signPublicKey`),
    boxPublicKey: fromB64url(String(raw.boxPublicKey), 32, `${file} boxPublicKey`),
  };
}

export function writeAtomic(file: string, text: string, mode: number): void {
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSync(tmp, text, { mode });
  chmodSync(tmp, mode);
  renameSync(tmp, file);
}
