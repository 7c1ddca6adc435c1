import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, rmSync, writeSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseConfig } from '../common/config.ts';
import { syncDir, writeAtomic } from '../common/files.ts';
import { isCode } from '../protocol/codes.ts';
import { brokerPassword } from '../protocol/connect-token.ts';
import { b64url, defaultVerifier, fromB64url, nodeSigner, publicKeyFromSeed, type Verifier } from '../protocol/crypto.ts';
import { openEnrolmentAnswer, parseEnrolmentCode, type EnrolmentFields } from '../protocol/enrolment.ts';
import { PasserelleError } from '../protocol/errors.ts';
import { publicKeysJson } from '../protocol/gateway-keys.ts';
import { TerminalConfigSchema, type TerminalConfig } from './config.ts';

/**
 * Enrolment on the device (`passerelle terminal enrol`): the terminal's Ed25519 key is made here and its
 * seed never leaves the directory (written 0600 before anything is sent); the public key goes to the
 * gateway with the enrolment code; the answer is trusted only once its MAC under the typed code, its
 * gateway signature and its binding to this key hold (protocol/enrolment.ts). Then the gateway's public
 * keys and a complete `terminal.json` are written, the config last: its presence means "enrolled".
 *
 * Enrolment never overwrites: a directory holding a config, a key or an outbox (which may hold unsent
 * sales) is refused with TERMINAL_ALREADY_ENROLLED. A refused or failed enrolment removes the key it made.
 */

export const ENROL_FILES = { config: 'terminal.json', key: 'terminal.key', gatewayKeys: 'gateway-public.json', outbox: 'outbox.sqlite' } as const;

/** Longest enrolment answer read (a broker certificate and the signed fields fit in a few kB). */
const MAX_ANSWER_BYTES = 64 * 1024;

export interface EnrolOptions {
  /** The gateway's HTTP address, e.g. https://passerelle.example or http://127.0.0.1:8080. */
  readonly gatewayUrl: string;
  readonly code: string;
  readonly dir: string;
  /** The gateway's signing key (base64url) to pin, as the Region gives it with the code; optional. */
  readonly gatewayKey?: string;
  /** Devices to write into the config, as in terminal.json, defaults filled (none: the PC/SC reader only). */
  readonly devices?: Readonly<Record<string, unknown>>;
  readonly timeoutMs?: number;
  readonly verifier?: Verifier;
  readonly fetch?: typeof fetch;
}

export interface Enrolled {
  readonly configFile: string;
  readonly config: TerminalConfig;
  readonly fields: EnrolmentFields;
  /** The terminal's public key (base64url), as the gateway holds it. */
  readonly publicKey: string;
}

export async function enrolTerminal(o: EnrolOptions): Promise<Enrolled> {
  const url = gatewayUrlOf(o.gatewayUrl);
  if (!parseEnrolmentCode(o.code)) throw new PasserelleError('ENROLMENT_CODE_INVALID', 'not an enrolment code: 16 characters in four groups, e.g. K7M2-9QXF-3RTB-HW4D');
  const pinned = o.gatewayKey === undefined ? undefined : fromB64url(o.gatewayKey, 32, '--gateway-key');
  const dir = resolve(o.dir);
  const files = { config: join(dir, ENROL_FILES.config), key: join(dir, ENROL_FILES.key), gatewayKeys: join(dir, ENROL_FILES.gatewayKeys), outbox: join(dir, ENROL_FILES.outbox) };
  const present = Object.values(files).filter((f) => existsSync(f));
  if (present.length > 0) throw new PasserelleError('TERMINAL_ALREADY_ENROLLED', `${present.join(', ')} already exist: enrol into an empty directory (an outbox may hold unsent sales)`);
  mkdirSync(dir, { recursive: true, mode: 0o700 });

  const seed = randomBytes(32);
  const publicKey = publicKeyFromSeed(seed);
  writeSeed(files.key, seed);
  try {
    // The broker password goes with the key: a gateway behind Mosquitto gives it to the broker.
    const mqttPassword = brokerPassword(nodeSigner(seed));
    const answer = await post(url, { code: o.code, publicKey: b64url(publicKey), mqttPassword }, o.timeoutMs ?? 15_000, o.fetch ?? fetch);
    const { fields, keys } = openEnrolmentAnswer(answer, o.code, publicKey, o.verifier ?? defaultVerifier(), pinned);
    writeAtomic(files.gatewayKeys, JSON.stringify({ ...publicKeysJson(keys), ...(keys.mqttCertPem ? { mqttCertPem: keys.mqttCertPem } : {}) }, null, 2) + '\n', 0o644);
    const config = parseConfig(
      TerminalConfigSchema,
      {
        terminalId: fields.terminalId,
        gatewayUrl: fields.mqtt.url,
        brokerAuth: fields.mqtt.auth ?? 'token',
        outboxFile: files.outbox,
        benefits: fields.benefits,
        keyFile: files.key,
        gatewayKeysFile: files.gatewayKeys,
        devices: o.devices ?? {},
        enrolment: { partnerId: fields.partnerId, partnerName: fields.partnerName, enrolledAt: new Date(fields.enrolledAt).toISOString(), gatewayHttpUrl: url.origin + url.pathname.replace(/\/$/, '') },
      },
      'enrolment answer',
    );
    writeAtomic(files.config, JSON.stringify(config, null, 2) + '\n', 0o600);
    return { configFile: files.config, config, fields, publicKey: b64url(publicKey) };
  } catch (e) {
    rmSync(files.key, { force: true });
    rmSync(files.gatewayKeys, { force: true });
    throw e;
  }
}

function gatewayUrlOf(text: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new PasserelleError('CONFIG_INVALID', `--gateway ${text}: not a URL (e.g. https://passerelle.example)`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new PasserelleError('CONFIG_INVALID', `--gateway ${text}: the gateway's HTTP address (http:// or https://), not ${url.protocol}`);
  return url;
}

/** The seed, base64url, created 0600 (never existing before), on disk before the public key is sent. */
function writeSeed(file: string, seed: Uint8Array): void {
  const fd = openSync(file, 'wx', 0o600);
  try {
    writeSync(fd, `${b64url(seed)}\n`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  syncDir(resolve(file, '..'));
}

interface Answer {
  readonly signed: string;
  readonly codeMac: string;
}

async function post(base: URL, body: { code: string; publicKey: string; mqttPassword: string }, timeoutMs: number, doFetch: typeof fetch): Promise<Answer> {
  const target = new URL('api/v1/enrolments', base.href.endsWith('/') ? base : new URL(`${base.href}/`));
  let res: Response;
  let text: string;
  try {
    res = await doFetch(target, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), signal: AbortSignal.timeout(timeoutMs), redirect: 'error' });
    text = await boundedText(res);
  } catch (e) {
    if (e instanceof PasserelleError) throw e;
    const cause = (e as { cause?: { code?: string; message?: string } }).cause;
    throw new PasserelleError('GATEWAY_UNREACHABLE', `${target.origin}: ${cause?.code ?? cause?.message ?? (e as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new PasserelleError('GATEWAY_UNREACHABLE', `${target.href} answered ${res.status} with something other than JSON: is it a Passerelle gateway?`);
  }
  if (!res.ok) {
    const err = (json as { error?: { code?: unknown; message?: unknown } }).error;
    if (typeof err?.code === 'string' && isCode(err.code)) throw new PasserelleError(err.code, `the gateway refused the enrolment: ${String(err.message ?? err.code)}`);
    throw new PasserelleError('GATEWAY_UNREACHABLE', `${target.href} answered ${res.status}`);
  }
  const a = json as Partial<Answer>;
  if (typeof a.signed !== 'string' || typeof a.codeMac !== 'string') throw new PasserelleError('ENROLMENT_ANSWER_INVALID', 'the enrolment answer has no signed fields or no MAC');
  return { signed: a.signed, codeMac: a.codeMac };
}

/** The body, refused past MAX_ANSWER_BYTES (a hostile or mistaken server cannot fill the memory). */
async function boundedText(res: Response): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of res.body ?? []) {
    size += (chunk as Uint8Array).byteLength;
    if (size > MAX_ANSWER_BYTES) throw new PasserelleError('GATEWAY_UNREACHABLE', `the answer exceeds ${MAX_ANSWER_BYTES} bytes: is it a Passerelle gateway?`);
    chunks.push(Buffer.from(chunk as Uint8Array));
  }
  return Buffer.concat(chunks).toString('utf8');
}
