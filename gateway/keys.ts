import { existsSync, readFileSync } from 'node:fs';
import { writeAtomic } from '../common/files.ts';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import nacl from 'tweetnacl';
import { b64url, fromB64url, nodeSigner, type Signer } from '../protocol/crypto.ts';
import { PasserelleError } from '../protocol/errors.ts';
import { publicKeysJson, type GatewayPublicKeys } from '../protocol/gateway-keys.ts';

/**
 * The gateway's keys: Ed25519 to sign replies, offline policies and hotlists; X25519 to open the PIN
 * blocks sealed on the pads; and the Region's card issuer key (Ed25519, index 1), which signs card
 * credentials and app QR codes (docs/card-application.md). The issuer key is kept apart from the reply
 * key so that either can be rotated or moved to an HSM without touching the other. Created on first
 * start in `<dataDir>/gateway-keys.json` (mode 0600); a file from before the issuer key gets one added.
 * The public halves go to `<dataDir>/gateway-public.json`, which technicians give to terminals when they
 * provision them.
 */

export const KEYS_FILE = 'gateway-keys.json';
export const PUBLIC_FILE = 'gateway-public.json';

export interface GatewayKeys extends GatewayPublicKeys {
  readonly signer: Signer;
  readonly signSeed: Uint8Array;
  readonly boxSecretKey: Uint8Array;
  readonly issuer: Signer;
  readonly issuerSeed: Uint8Array;
}

export function gatewayKeysFrom(signSeed: Uint8Array, boxSecretKey: Uint8Array, issuerSeed: Uint8Array): GatewayKeys {
  const signer = nodeSigner(signSeed);
  const issuer = nodeSigner(issuerSeed);
  return {
    signer,
    signSeed,
    signPublicKey: signer.publicKey,
    boxSecretKey,
    boxPublicKey: nacl.box.keyPair.fromSecretKey(boxSecretKey).publicKey,
    issuer,
    issuerSeed,
    issuerPublicKey: issuer.publicKey,
  };
}

export function generateGatewayKeys(): GatewayKeys {
  return gatewayKeysFrom(randomBytes(32), randomBytes(32), randomBytes(32));
}

export function loadOrCreateGatewayKeys(dataDir: string): GatewayKeys {
  const file = join(dataDir, KEYS_FILE);
  const existing = existsSync(file) ? readKeys(file) : undefined;
  const keys = existing?.keys ?? generateGatewayKeys();
  if (!existing?.complete) writeAtomic(file, keysJson(keys), 0o600);
  writePublicKeys(dataDir, keys);
  return keys;
}

/**
 * `gateway-public.json`: what a terminal is given at provisioning (the gateway's public keys, and the
 * broker's TLS certificate to pin when it speaks TLS). Public: 0644.
 */
export function writePublicKeys(dataDir: string, keys: GatewayPublicKeys, mqttCertPem?: string): void {
  const doc = { ...publicKeysJson(keys), ...(mqttCertPem ? { mqttCertPem } : {}) };
  writeAtomic(join(dataDir, PUBLIC_FILE), JSON.stringify(doc, null, 2) + '\n', 0o644);
}

function keysJson(keys: GatewayKeys): string {
  return JSON.stringify({ version: 1, signSeed: b64url(keys.signSeed), boxSecretKey: b64url(keys.boxSecretKey), issuerSeed: b64url(keys.issuerSeed) });
}

/**
 * The gateway's keys from its data directory, without creating any: the demo simulators use the issuer
 * key to personalise simulated cards, as the Region's card bureau would.
 */
export function readGatewayKeys(dataDir: string): GatewayKeys {
  const file = join(dataDir, KEYS_FILE);
  if (!existsSync(file)) throw new PasserelleError('KEY_FILE_INVALID', `${file} does not exist: is the gateway started with ${dataDir} as its data directory?`);
  return readKeys(file).keys;
}

/** Read the key file; one written before the issuer key existed gets a new issuer key (`complete: false`). */
function readKeys(file: string): { keys: GatewayKeys; complete: boolean } {
  let raw: { version?: unknown; signSeed?: unknown; boxSecretKey?: unknown; issuerSeed?: unknown };
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new PasserelleError('KEY_FILE_INVALID', `${file}: ${(e as Error).message}`);
  }
  if (raw.version !== 1) throw new PasserelleError('KEY_FILE_INVALID', `${file}: unknown version`);
  const complete = raw.issuerSeed !== undefined;
  const issuerSeed = complete ? fromB64url(String(raw.issuerSeed), 32, `${file} issuerSeed`) : randomBytes(32);
  const keys = gatewayKeysFrom(fromB64url(String(raw.signSeed), 32, `${file} signSeed`), fromB64url(String(raw.boxSecretKey), 32, `${file} boxSecretKey`), issuerSeed);
  return { keys, complete };
}
