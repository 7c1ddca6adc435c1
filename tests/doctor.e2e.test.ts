import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../common/log.ts';
import { cardNumberFrom } from '../protocol/card.ts';
import { fromB64url, nodeSigner } from '../protocol/crypto.ts';
import { personaliseCard } from '../simulators/card.ts';
import { SimPadDevice } from '../simulators/pinpad.ts';
import { renderQrFrame } from '../simulators/qr-render.ts';
import { systemClock } from '../terminal/bindings.ts';
import { CardChecker } from '../terminal/card-reader.ts';
import { openMockCable, type MockCable } from '../terminal/devices/pinpad/mock-cable.ts';
import { SerialPinPad } from '../terminal/devices/pinpad/client.ts';
import { SimContactlessReader } from '../terminal/devices/sim-contactless.ts';
import { formatChecklist, runDoctor, type DoctorParts } from '../terminal/doctor.ts';
import { MqttLink } from '../terminal/link.ts';
import { decodeQrFrame } from '../terminal/qr-decode.ts';
import { SimQrCamera } from '../simulators/sim-bindings.ts';
import { issuerKeysOf } from '../protocol/gateway-keys.ts';
import { freshClaims } from './helpers/raw-terminal.ts';
import { World } from './helpers/world.ts';

const TID = 'T-LIB-LYON-01';
const CARD = cardNumberFrom('825000000000123');
let world: World;
let cables: MockCable[] = [];

beforeAll(async () => {
  world = new World();
  await world.startGateway();
});
afterAll(async () => {
  for (const c of cables) await c.close();
  await world.close();
});

/** Every part of a healthy terminal, simulated where a device is needed; the link and gateway are real. */
async function parts(over: { padKey?: Uint8Array; signKey?: Uint8Array; clockShiftMs?: number } = {}): Promise<DoctorParts & { reader: SimContactlessReader; pad: SerialPinPad; device: SimPadDevice; camera: SimQrCamera }> {
  const keys = world.gateway.keys;
  const cable = await openMockCable(`doctor-${randomBytes(4).toString('hex')}`);
  cables.push(cable);
  const device = new SimPadDevice(cable.pad, { gatewayBoxPublicKey: over.padKey ?? keys.boxPublicKey, model: 'SIM-PAD', firmware: '1.0.0' });
  const pad = new SerialPinPad(cable.terminal, { replyTimeoutMs: 200, interByteTimeoutMs: 100, retries: 2 });
  const reader = new SimContactlessReader();
  const camera = new SimQrCamera();
  const link = new MqttLink({
    url: world.gateway.mqttUrl,
    terminalId: TID,
    signer: nodeSigner(fromB64url(world.key(TID).seed, 32, 'seed')),
    tokens: {
      connectClaims: () => ({ ...freshClaims(TID), ...(over.clockShiftMs ? { ms: Date.now() + over.clockShiftMs } : {}) }),
      connectAdmitted: () => {},
      connectRefused: () => {},
    },
    clock: systemClock,
    backoff: { baseMs: 20, maxMs: 200 },
    connectTimeoutMs: 2000,
    keepaliveS: 30,
    log: silentLogger,
  });
  return {
    clock: systemClock,
    contactless: reader,
    cardChecker: new CardChecker({ issuerKeys: issuerKeysOf(keys), clock: systemClock }),
    pad,
    device,
    reader,
    camera,
    qr: camera,
    gatewayBoxPublicKey: keys.boxPublicKey,
    gatewaySignPublicKey: over.signKey ?? keys.signPublicKey,
    qrSelfTest: () => ({ expected: 'PR1:T:DOCTOR', decoded: decodeQrFrame(renderQrFrame('PR1:T:DOCTOR')) }),
    link,
    waitMs: 3000,
  };
}

describe('passerelle terminal doctor', () => {
  it('a healthy terminal: every check passes, the pad shows the test message and beeps', async () => {
    const p = await parts();
    const card = personaliseCard({ cardNumber: CARD, expiry: '2099-12-31', issuer: world.gateway.keys.issuer });
    const results = await runDoctor({
      ...p,
      prompt: (text) => {
        if (text.includes('carte de test')) setTimeout(() => p.reader.present(card), 20);
        if (text.includes('QR code')) p.camera.show(renderQrFrame('PR1:C:' + CARD));
      },
    });
    const text = formatChecklist(results);
    expect(results.map((r) => [r.id, r.status]), text).toEqual([
      ['nfc-reader', 'ok'],
      ['nfc-card', 'ok'],
      ['pad', 'ok'],
      ['qr-decoder', 'ok'],
      ['qr-device', 'ok'],
      ['gateway-link', 'ok'],
      ['clock', 'ok'],
    ]);
    expect(text).toContain('Tout est en ordre');
    expect(text).toContain('8250********1230');
    expect(text).not.toContain(CARD);
    expect(p.device.texts.at(-1)).toEqual(['Test technicien', 'Clavier OK']);
    expect(p.device.beeps).toHaveLength(1);
  });

  it('says what to fix: no reader, a copied card, a pad with another key, a wrong gateway key', async () => {
    const p = await parts({ padKey: randomBytes(32), signKey: nodeSigner(randomBytes(32)).publicKey });
    const card = personaliseCard({ cardNumber: CARD, expiry: '2099-12-31', issuer: world.gateway.keys.issuer }).clone();
    const results = await runDoctor({ ...p, qr: undefined, prompt: (t) => t.includes('carte de test') && setTimeout(() => p.reader.present(card), 20) });
    const byId = Object.fromEntries(results.map((r) => [r.id, r]));
    expect(byId['nfc-card']).toMatchObject({ status: 'fail', detail: expect.stringContaining('CARD_NOT_GENUINE') });
    expect(byId['pad']).toMatchObject({ status: 'fail', fix: expect.stringContaining('clé') });
    expect(byId['qr-device']?.status).toBe('skipped');
    expect(byId['gateway-link']).toMatchObject({ status: 'fail', detail: expect.stringContaining('signature') });
    expect(formatChecklist(results)).toMatch(/3 point\(s\) à corriger/);

    p.reader.unplug();
    const none = await runDoctor({ ...p, link: undefined, qr: undefined, waitMs: 300 });
    expect(none[0]).toMatchObject({ id: 'nfc-reader', status: 'fail', fix: expect.stringContaining('pcscd') });
    expect(none[1]?.status).toBe('skipped');
  });

  it('a terminal the broker refuses (its clock three days behind): the link check names LINK_REFUSED, the clock is to check', async () => {
    const p = await parts({ clockShiftMs: -3 * 86_400_000 });
    const results = await runDoctor({ ...p, qr: undefined, waitMs: 800 });
    const byId = Object.fromEntries(results.map((r) => [r.id, r]));
    expect(byId['gateway-link']).toMatchObject({ status: 'fail', detail: expect.stringContaining('LINK_REFUSED, 336'), fix: expect.stringContaining("Réglez l'heure du terminal") });
    expect(byId['gateway-link']?.detail).toContain('Bad username or password');
    expect(byId['clock']).toMatchObject({ status: 'warn', detail: expect.stringContaining('connexion refusée') });
  });

  it('a silent pad and an absent card fail within the wait, without hanging', async () => {
    const p = await parts();
    p.device.silence(true);
    const results = await runDoctor({ ...p, link: undefined, qr: undefined, waitMs: 500 });
    const byId = Object.fromEntries(results.map((r) => [r.id, r]));
    expect(byId['nfc-card']).toMatchObject({ status: 'fail', detail: expect.stringContaining('aucune carte') });
    expect(byId['pad']).toMatchObject({ status: 'fail', detail: expect.stringContaining('PAD_UNAVAILABLE') });
  });
});
