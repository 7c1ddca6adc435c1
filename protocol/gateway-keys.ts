import { b64url, fromB64url } from './crypto.ts';
import { PasserelleError } from './errors.ts';

/**
 * The gateway's public keys, as every terminal holds them from its provisioning (`gateway-public.json`,
 * the enrolment answer): the key that signs replies, policies and hotlists; the key the PIN pad seals codes
 * to; and the Region's card issuer key, known by its index (credentials carry it). Shared by the gateway,
 * which makes them, and the terminals and simulators, which check against them.
 */

/** The index terminals know the current issuer key by (credentials carry it). */
export const ISSUER_KEY_INDEX = 1;

export interface GatewayPublicKeys {
  readonly signPublicKey: Uint8Array;
  readonly boxPublicKey: Uint8Array;
  readonly issuerPublicKey: Uint8Array;
  /** The broker's TLS certificate (PEM) a terminal pins, when the broker speaks TLS. */
  readonly mqttCertPem?: string;
}

/** The issuer keys a terminal trusts, by index, from the provisioned public keys. */
export function issuerKeysOf(keys: Pick<GatewayPublicKeys, 'issuerPublicKey'>): Map<number, Uint8Array> {
  return new Map([[ISSUER_KEY_INDEX, keys.issuerPublicKey]]);
}

export function publicKeysJson(keys: GatewayPublicKeys): { signPublicKey: string; boxPublicKey: string; issuerPublicKey: string } {
  return { signPublicKey: b64url(keys.signPublicKey), boxPublicKey: b64url(keys.boxPublicKey), issuerPublicKey: b64url(keys.issuerPublicKey) };
}

/** The public keys from their JSON form (`publicKeysJson`, plus the broker certificate); `source` names it in errors. */
export function parsePublicKeys(json: unknown, source: string): GatewayPublicKeys {
  if (typeof json !== 'object' || json === null) throw new PasserelleError('KEY_FILE_INVALID', `${source}: not an object of public keys`);
  const raw = json as { signPublicKey?: unknown; boxPublicKey?: unknown; issuerPublicKey?: unknown; mqttCertPem?: unknown };
  return {
    signPublicKey: fromB64url(String(raw.signPublicKey), 32, `${source} signPublicKey`),
    boxPublicKey: fromB64url(String(raw.boxPublicKey), 32, `${source} boxPublicKey`),
    issuerPublicKey: fromB64url(String(raw.issuerPublicKey), 32, `${source} issuerPublicKey`),
    ...(typeof raw.mqttCertPem === 'string' ? { mqttCertPem: raw.mqttCertPem } : {}),
  };
}
