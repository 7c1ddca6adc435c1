import { maskCardNumber } from '../protocol/card.ts';
import { CODES } from '../protocol/codes.ts';
import { defaultVerifier, type Verifier } from '../protocol/crypto.ts';
import { isPasserelleError } from '../protocol/errors.ts';
import { decodeFrameWithin, verifyFrame } from '../protocol/frame.ts';
import { parseJson } from '../protocol/messages.ts';
import { HotlistDoc, MAX_PUSH_BYTES, POLICY_TOPIC, PolicyDoc, HOTLIST_TOPIC } from '../protocol/offline.ts';
import { keyFingerprint } from './devices/pinpad/messages.ts';
import type { Clock, QrSource } from './bindings.ts';
import type { CardChecker } from './card-reader.ts';
import type { ContactlessReader } from './devices/contactless.ts';
import type { PadStatus } from './devices/pinpad/client.ts';
import type { Link, LinkRefusal } from './link.ts';

/**
 * `passerelle terminal doctor`: the technician's self-test. Each check drives a real device (or the real
 * link) once and says, in French, what it found and what to do when it failed. The checks run in the
 * order a technician fixes things: readers, card, pad, QR, link, clock. Nothing is sold and nothing is
 * written to the outbox. The terminal service must be stopped first: the reader, the serial ports and
 * the terminal's MQTT client id are exclusive.
 */

export type CheckStatus = 'ok' | 'warn' | 'fail' | 'skipped';

export interface CheckResult {
  readonly id: string;
  readonly label: string;
  readonly status: CheckStatus;
  /** What was found, in French. */
  readonly detail: string;
  /** What to do about it, in French (failures and warnings). */
  readonly fix?: string;
}

/** The pad as the doctor needs it (SerialPinPad). */
export interface DoctorPad {
  status(): Promise<PadStatus>;
  showText(lines: readonly string[]): Promise<void>;
  beep(count?: number, durationMs?: number): Promise<void>;
}

export interface DoctorParts {
  readonly clock: Clock;
  readonly contactless?: ContactlessReader;
  readonly cardChecker?: CardChecker;
  readonly pad?: DoctorPad;
  /** The gateway's box key the pad must hold (its fingerprint is compared). */
  readonly gatewayBoxPublicKey: Uint8Array;
  readonly gatewaySignPublicKey: Uint8Array;
  /** The built-in test frame decoder: a rendered 1280×720 frame with a known text, and its decoder. */
  readonly qrSelfTest?: () => { expected: string; decoded: string };
  /** The configured QR device (camera or scanner): the technician shows the test card's QR code. */
  readonly qr?: QrSource;
  /** A link to the gateway (not started): the doctor starts it, waits for the signed documents, stops it. */
  readonly link?: Link;
  readonly verifier?: Verifier;
  /** How long each interactive step waits (present the card, show the QR code, gateway answers). */
  readonly waitMs?: number;
  /** Configured devices that could not be opened (terminal/devices/open.ts), reported as failures. */
  readonly unavailable?: ReadonlyMap<'nfc' | 'pad' | 'qr', Error>;
  /** Called before a step that waits for the technician ("Présentez la carte de test…"). */
  readonly prompt?: (text: string) => void;
}

const DEFAULT_WAIT_MS = 20_000;
/** How far ahead of the gateway's last signed hotlist a clock may be: the hotlist is re-signed every minute. */
const CLOCK_AHEAD_MAX_MS = 90_000;
/** A clock behind a time the gateway signed is wrong by at least that much. */
const CLOCK_BEHIND_MAX_MS = 5_000;

export async function runDoctor(p: DoctorParts): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  const readers = await checkReaders(p);
  results.push(readers);
  results.push(readers.status === 'ok' ? await checkCard(p) : skipped('nfc-card', 'Carte de test', 'pas de lecteur sans contact'));
  results.push(await checkPad(p));
  results.push(checkQrDecoder(p));
  results.push(await checkQrDevice(p));
  const link = await checkLink(p);
  results.push(...link);
  return results;
}

async function checkReaders(p: DoctorParts): Promise<CheckResult> {
  const label = 'Lecteur sans contact';
  const openError = p.unavailable?.get('nfc');
  if (openError) return fail('nfc-reader', label, frOf(openError), 'Installez pcscd et libpcsclite (paquets Debian pcscd libpcsclite1), puis relancez.');
  if (!p.contactless) return skipped('nfc-reader', label, 'aucun lecteur configuré');
  // PC/SC lists readers a moment after it starts; give it a short while.
  const until = p.clock.monotonicMs() + Math.min(3000, waitMs(p));
  while (p.contactless.readers().length === 0 && p.clock.monotonicMs() < until) await sleep(p.clock, 100);
  const names = p.contactless.readers();
  if (names.length === 0) {
    return fail('nfc-reader', label, 'aucun lecteur trouvé', 'Branchez le lecteur sans contact (USB) et vérifiez que le service pcscd tourne : systemctl status pcscd');
  }
  return ok('nfc-reader', label, names.join(', '));
}

async function checkCard(p: DoctorParts): Promise<CheckResult> {
  const label = 'Carte de test';
  if (!p.contactless || !p.cardChecker) return skipped('nfc-card', label, 'aucun lecteur configuré');
  p.prompt?.('Présentez la carte de test sur le lecteur sans contact…');
  const ac = new AbortController();
  const cancel = p.clock.setTimer(waitMs(p), () => ac.abort(new Error('timeout')));
  try {
    const session = await p.contactless.waitForCard(ac.signal);
    const card = await p.cardChecker.check(session);
    return ok('nfc-card', label, `carte ${maskCardNumber(card.cardNumber)} authentique, valable jusqu'au ${card.expiry} (lecteur ${card.reader})`);
  } catch (e) {
    if (ac.signal.aborted) return fail('nfc-card', label, `aucune carte présentée en ${Math.round(waitMs(p) / 1000)} s`, 'Posez la carte de test à plat sur le lecteur et relancez le test.');
    return fail('nfc-card', label, frOf(e), cardFix(e));
  } finally {
    cancel();
  }
}

function cardFix(e: unknown): string {
  if (isPasserelleError(e, 'CARD_NOT_GENUINE')) return "Carte refusée comme non authentique : vérifiez que le terminal a les clés publiques de la passerelle en service (gateway-public.json), sinon la carte est une copie.";
  if (isPasserelleError(e, 'CARD_NOT_PASS_REGION')) return "Ce n'est pas une carte Pass'Région : utilisez la carte de test fournie par la Région.";
  if (isPasserelleError(e, 'CARD_EXPIRED')) return 'La carte de test est expirée : demandez-en une nouvelle à la Région.';
  if (isPasserelleError(e, 'NFC_READER_UNAVAILABLE')) return 'Le lecteur a disparu pendant la lecture : vérifiez son câble USB.';
  return 'Laissez la carte posée pendant toute la lecture et relancez le test.';
}

async function checkPad(p: DoctorParts): Promise<CheckResult> {
  const label = 'Clavier code (PIN pad)';
  const openError = p.unavailable?.get('pad');
  if (openError) return fail('pad', label, frOf(openError), 'Branchez le clavier et vérifiez le port série de la configuration (devices.pad.path) et ses droits (groupe dialout).');
  if (!p.pad) return skipped('pad', label, 'aucun clavier configuré');
  try {
    const st = await p.pad.status();
    const expected = keyFingerprint(p.gatewayBoxPublicKey).toString('hex');
    if (!st.keyLoaded || st.keyFingerprint !== expected) {
      return fail('pad', label, `${st.model} ${st.firmware} : clé ${st.keyLoaded ? st.keyFingerprint : 'absente'}, attendue ${expected}`, "Le clavier n'a pas la clé de cette passerelle : faites recharger sa clé par la Région (injection de clé), il ne peut pas chiffrer les codes.");
    }
    await p.pad.showText(['Test technicien', 'Clavier OK']);
    await p.pad.beep(1, 100);
    return ok('pad', label, `${st.model} ${st.firmware}, clé ${st.keyFingerprint} : message affiché et bip envoyé`);
  } catch (e) {
    return fail('pad', label, frOf(e), 'Vérifiez le câble série du clavier et le port indiqué dans la configuration (devices.pad.path), puis relancez.');
  }
}

function checkQrDecoder(p: DoctorParts): CheckResult {
  const label = 'Décodage QR (image de test 1280×720)';
  if (!p.qrSelfTest) return skipped('qr-decoder', label, 'non demandé');
  try {
    const { expected, decoded } = p.qrSelfTest();
    if (decoded !== expected) return fail('qr-decoder', label, `lu « ${decoded} » au lieu de « ${expected} »`, 'Réinstallez le logiciel du terminal.');
    return ok('qr-decoder', label, 'image de test décodée');
  } catch (e) {
    return fail('qr-decoder', label, frOf(e), 'Réinstallez le logiciel du terminal.');
  }
}

async function checkQrDevice(p: DoctorParts): Promise<CheckResult> {
  const label = 'Lecteur QR';
  const openError = p.unavailable?.get('qr');
  if (openError) return fail('qr-device', label, frOf(openError), 'Branchez le lecteur QR et vérifiez sa configuration (devices.qr : port série, ou commande de capture de la caméra).');
  if (!p.qr) return skipped('qr-device', label, 'aucune caméra ni douchette configurée');
  p.prompt?.('Présentez le QR code de la carte de test devant le lecteur QR…');
  const ac = new AbortController();
  const cancel = p.clock.setTimer(waitMs(p), () => ac.abort(new Error('timeout')));
  try {
    const text = await p.qr.waitForCode(ac.signal);
    return ok('qr-device', label, `QR code lu (${text.length} caractères)`);
  } catch (e) {
    if (ac.signal.aborted) return fail('qr-device', label, `aucun QR code lu en ${Math.round(waitMs(p) / 1000)} s`, "Vérifiez que l'objectif est propre et bien orienté vers le comptoir, puis relancez.");
    return fail('qr-device', label, frOf(e), 'Vérifiez le câble et la configuration du lecteur QR (devices.qr).');
  } finally {
    cancel();
  }
}

/**
 * The link and the clock: connect as this terminal, wait for the gateway's retained offline policy and
 * hotlist, check their signatures with the provisioned gateway key, and compare the terminal's clock
 * with the hotlist's signed time. The gateway re-signs the hotlist every minute, so the terminal's clock
 * may not be behind that time, nor much ahead of it.
 */
async function checkLink(p: DoctorParts): Promise<CheckResult[]> {
  const linkLabel = 'Liaison avec la passerelle';
  const clockLabel = 'Horloge';
  if (!p.link) return [skipped('gateway-link', linkLabel, 'non demandé'), skipped('clock', clockLabel, 'sans liaison')];
  const got = await listen(p);
  if (!got.up && got.refusal) return refused(got.refusal);
  const link = !got.up
    ? fail('gateway-link', linkLabel, `pas de connexion en ${Math.round(waitMs(p) / 1000)} s`, "Vérifiez le réseau (câble, Wi-Fi ou 4G), l'adresse gatewayUrl de la configuration et que ce terminal est bien enregistré à la passerelle.")
    : got.badSignature
      ? fail('gateway-link', linkLabel, 'connecté, mais un document ne porte pas la signature de la passerelle', "Les clés publiques de la passerelle (gateway-public.json) ne sont pas les bonnes : reprenez-les auprès de la Région.")
      : ok('gateway-link', linkLabel, `connecté ; règles hors ligne ${got.policyVersion === undefined ? 'absentes' : `v${got.policyVersion}`}, liste des cartes bloquées ${got.hotlistAt === undefined ? 'absente' : 'reçue'}`);
  return [link, clockCheck(p, got.hotlistAt, got.receivedAt)];
}

/**
 * The broker answered and refused the terminal: the network is fine, the refusal's code says what to fix.
 * A refused connect token is most often the clock, so the clock check shows the terminal's time.
 */
function refused(r: LinkRefusal): CheckResult[] {
  const detail = `${CODES[r.code].fr} (${r.code}, ${CODES[r.code].num} ; réponse MQTT ${r.returnCode} « ${r.reason} »)`;
  const time = `heure du terminal ${new Date(r.at).toISOString()}`;
  if (r.code === 'LINK_NOT_AUTHORIZED') {
    return [
      fail('gateway-link', 'Liaison avec la passerelle', detail, "Ce terminal n'est pas enregistré à la passerelle, ou la Région l'a désactivé : vérifiez son identifiant (terminalId) et demandez à la Région de l'enregistrer, de le réactiver ou un code d'installation."),
      skipped('clock', 'Horloge', `${time} ; sans liaison, pas d'heure signée à comparer`),
    ];
  }
  return [
    fail('gateway-link', 'Liaison avec la passerelle', detail, "Réglez l'heure du terminal (NTP) : un jeton de connexion daté de plus de quelques minutes d'écart avec la passerelle est refusé. Si l'heure est juste, la clé du terminal n'est plus celle que la passerelle connaît : réinstallez-le avec un nouveau code d'installation."),
    warn('clock', 'Horloge', `${time} : connexion refusée, l'heure est la première cause à vérifier`, "Comparez avec l'heure légale (NTP) et relancez le test."),
  ];
}

function clockCheck(p: DoctorParts, signedAt: number | undefined, localAt: number | undefined): CheckResult {
  const label = 'Horloge';
  if (signedAt === undefined || localAt === undefined) return skipped('clock', label, "pas d'heure signée reçue de la passerelle");
  const aheadMs = localAt - signedAt;
  const text = `heure du terminal ${new Date(localAt).toISOString()}, dernière heure signée par la passerelle ${new Date(signedAt).toISOString()}`;
  if (aheadMs < -CLOCK_BEHIND_MAX_MS) return fail('clock', label, `${text} : le terminal retarde d'au moins ${Math.round(-aheadMs / 1000)} s`, "Réglez l'heure du terminal (NTP) : hors ligne, il refuserait les ventes.");
  if (aheadMs > CLOCK_AHEAD_MAX_MS) return warn('clock', label, `${text} : le terminal avance peut-être de ${Math.round(aheadMs / 1000)} s (ou la passerelle ne republie plus sa liste)`, "Vérifiez l'heure du terminal (NTP) et relancez le test.");
  return ok('clock', label, `${text} : écart compatible (moins de ${Math.round(CLOCK_AHEAD_MAX_MS / 1000)} s)`);
}

interface Heard {
  up: boolean;
  refusal?: LinkRefusal;
  badSignature: boolean;
  policyVersion?: number;
  hotlistAt?: number;
  receivedAt?: number;
}

async function listen(p: DoctorParts): Promise<Heard> {
  const link = p.link!;
  const heard: Heard = { up: false, badSignature: false };
  const verifier = p.verifier ?? defaultVerifier();
  let done: () => void = () => {};
  const finished = new Promise<void>((resolve) => (done = resolve));
  const verified = (payload: Buffer): Buffer | undefined => {
    try {
      const frame = decodeFrameWithin(payload, MAX_PUSH_BYTES);
      if (verifyFrame(frame, p.gatewaySignPublicKey, verifier)) return frame.message;
    } catch {
      // Unreadable counts as not signed.
    }
    heard.badSignature = true;
    return undefined;
  };
  // Done once the link is up (subscribed to its reply topic) and both signed documents arrived: retained
  // documents can arrive before the subscription is acknowledged, or on a connection that is then refused.
  const complete = (): void => {
    if (heard.up && heard.policyVersion !== undefined && heard.hotlistAt !== undefined) done();
  };
  link.start({
    reply: () => {},
    up: () => {
      heard.up = true;
      complete();
    },
    down: () => {},
    // The broker answered with a refusal: waiting longer would only repeat it.
    refused: (r) => {
      heard.refusal = r;
      done();
    },
    push: (topic, payload) => {
      const message = verified(payload);
      if (!message) return done();
      try {
        if (topic === POLICY_TOPIC) heard.policyVersion = parseJson(PolicyDoc, message, 'offline policy').body.version;
        if (topic === HOTLIST_TOPIC) {
          heard.hotlistAt = parseJson(HotlistDoc, message, 'hotlist').body.issuedAt;
          heard.receivedAt = p.clock.now();
        }
      } catch {
        heard.badSignature = true;
      }
      complete();
    },
  });
  const cancel = p.clock.setTimer(waitMs(p), done);
  await finished;
  cancel();
  await link.stop();
  return heard;
}

/** The checklist as a technician reads it. */
export function formatChecklist(results: readonly CheckResult[]): string {
  const mark: Record<CheckStatus, string> = { ok: '[ OK ]', warn: '[ ?? ]', fail: '[ÉCHEC]', skipped: '[ -- ]' };
  const lines = ['Autotest du terminal Passerelle', ''];
  for (const r of results) {
    lines.push(`${mark[r.status]} ${r.label} : ${r.detail}`);
    if (r.fix) lines.push(`         → ${r.fix}`);
  }
  const failed = results.filter((r) => r.status === 'fail').length;
  const warned = results.filter((r) => r.status === 'warn').length;
  lines.push('', failed === 0 ? (warned === 0 ? 'Tout est en ordre : le terminal peut encaisser.' : `${warned} point(s) à vérifier.`) : `${failed} point(s) à corriger avant la mise en service.`);
  return lines.join('\n') + '\n';
}

function frOf(e: unknown): string {
  if (isPasserelleError(e)) return `${CODES[e.code].fr} (${e.code}, ${e.num}) : ${e.message}`;
  return e instanceof Error ? e.message : String(e);
}

const waitMs = (p: DoctorParts): number => p.waitMs ?? DEFAULT_WAIT_MS;
const sleep = (clock: Clock, ms: number): Promise<void> => new Promise((r) => clock.setTimer(ms, r));
const ok = (id: string, label: string, detail: string): CheckResult => ({ id, label, status: 'ok', detail });
const warn = (id: string, label: string, detail: string, fix: string): CheckResult => ({ id, label, status: 'warn', detail, fix });
const fail = (id: string, label: string, detail: string, fix: string): CheckResult => ({ id, label, status: 'fail', detail, fix });
const skipped = (id: string, label: string, detail: string): CheckResult => ({ id, label, status: 'skipped', detail });
