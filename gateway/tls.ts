import { X509Certificate } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { isAbsolute, join } from 'node:path';
import { generate } from 'selfsigned';
import { PasserelleError } from '../protocol/errors.ts';
import { writeAtomic } from '../common/files.ts';

/**
 * MQTT over TLS for the embedded broker. Outside loopback the broker speaks only TLS (`mqtt.tls.mode`
 * `auto`, the default): connect tokens and requests never cross a network in clear. The certificate is
 * the gateway's own (self-signed, ECDSA P-256, ten years), made at first start in the data directory, or
 * files the Region provides. Terminals do not trust any authority for it: they pin this certificate, given
 * to them at enrolment (and in `gateway-public.json`), and refuse a broker that shows another one.
 */

export const TLS_CERT_FILE = 'mqtt-tls-cert.pem';
export const TLS_KEY_FILE = 'mqtt-tls-key.pem';

export interface BrokerTls {
  readonly certPem: string;
  readonly keyPem: string;
  /** SHA-256 of the certificate, as Node prints it (`AB:CD:…`): what terminals pin. */
  readonly fingerprint256: string;
}

export type TlsMode = 'auto' | 'on' | 'off';

/** Loopback addresses and `localhost`: the only places the broker may speak plain MQTT by default. */
export function isLoopback(host: string): boolean {
  if (host === 'localhost') return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  return host === '::1';
}

export function tlsWanted(mode: TlsMode, host: string): boolean {
  return mode === 'on' || (mode === 'auto' && !isLoopback(host));
}

/**
 * The broker's certificate and key: the files the configuration names, or the gateway's own in the data
 * directory, made on first use (the key file 0600). A file that does not parse stops the start with
 * KEY_FILE_INVALID naming it.
 */
export async function loadOrCreateBrokerTls(dataDir: string, host: string, files: { readonly certFile?: string; readonly keyFile?: string }): Promise<BrokerTls> {
  const at = (f: string) => (isAbsolute(f) ? f : join(dataDir, f));
  const certFile = at(files.certFile ?? TLS_CERT_FILE);
  const keyFile = at(files.keyFile ?? TLS_KEY_FILE);
  if (!existsSync(certFile) && !existsSync(keyFile) && files.certFile === undefined) {
    const altNames: { type: 2 | 7; value?: string; ip?: string }[] = [{ type: 2, value: 'localhost' }, { type: 7, ip: '127.0.0.1' }];
    if (host !== 'localhost' && host !== '127.0.0.1') altNames.push(isIP(host) ? { type: 7, ip: host } : { type: 2, value: host });
    const now = new Date();
    const pems = await generate([{ name: 'commonName', value: 'passerelle-gateway' }], {
      keyType: 'ec',
      curve: 'P-256',
      algorithm: 'sha256',
      notBeforeDate: now,
      notAfterDate: new Date(now.getTime() + 10 * 365 * 86_400_000),
      extensions: [
        { name: 'basicConstraints', cA: false, critical: true },
        { name: 'keyUsage', digitalSignature: true, critical: true },
        { name: 'extKeyUsage', serverAuth: true },
        { name: 'subjectAltName', altNames },
      ],
    });
    writeAtomic(keyFile, pems.private, 0o600);
    writeAtomic(certFile, pems.cert, 0o644);
  }
  let certPem: string;
  let keyPem: string;
  try {
    certPem = readFileSync(certFile, 'utf8');
    keyPem = readFileSync(keyFile, 'utf8');
    return { certPem, keyPem, fingerprint256: new X509Certificate(certPem).fingerprint256 };
  } catch (e) {
    throw new PasserelleError('KEY_FILE_INVALID', `the broker's TLS certificate or key (${certFile}, ${keyFile}) cannot be read: ${(e as Error).message}`);
  }
}
