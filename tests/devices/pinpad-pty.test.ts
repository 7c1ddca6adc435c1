import { SerialPort } from 'serialport';
import nacl from 'tweetnacl';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { isPasserelleError } from '../../protocol/errors.ts';
import { openPin } from '../../protocol/pin.ts';
import { SimPadDevice } from '../../simulators/pinpad.ts';
import { SerialPinPad } from '../../terminal/devices/pinpad/client.ts';
import { keyFingerprint } from '../../terminal/devices/pinpad/messages.ts';
import { type PtyPair, requireSocat, startPtyPair } from '../helpers/pty.ts';

/**
 * The PIN pad protocol over a real pseudo-terminal pair (socat): the driver and the simulated pad each
 * open their end with the real serialport binding at 115200 baud, as on the counter. A fresh pair per test
 * keeps bytes left in one test's tty buffers out of the next.
 */

const TXN = '0190a6f2-5b1c-7d3e-8f40-0a0b0c0d0e0f';
const PROMPT = 'Montant : 8,00 €\nCode secret :';
const SETTLE_BOUND_MS = 5_000;

interface Rig {
  readonly pair: PtyPair;
  readonly terminalPort: SerialPort;
  readonly padPort: SerialPort;
  readonly pad: SimPadDevice;
  readonly client: SerialPinPad;
  readonly gateway: nacl.BoxKeyPair;
}

let r: Rig;

function openPort(path: string): Promise<SerialPort> {
  return new Promise((resolve, reject) => {
    const port: SerialPort = new SerialPort({ path, baudRate: 115200 }, (err) => (err ? reject(err) : resolve(port)));
  });
}

function closePort(port: SerialPort): Promise<void> {
  if (!port.isOpen) return Promise.resolve();
  return new Promise((resolve) => port.close(() => resolve()));
}

/** The promise's rejection code, or a failure if it neither settles within the bound nor rejects. */
async function codeWithin(p: Promise<unknown>, boundMs = SETTLE_BOUND_MS): Promise<string> {
  let stop = (): void => {};
  const hang = new Promise<string>((resolve) => {
    const t = setTimeout(() => resolve(`still pending after ${boundMs} ms`), boundMs);
    stop = () => clearTimeout(t);
  });
  const settled = p.then(
    () => 'resolved',
    (e: unknown) => (isPasserelleError(e) ? e.code : `other: ${String(e)}`),
  );
  const code = await Promise.race([settled, hang]);
  stop();
  return code;
}

beforeAll(async () => {
  requireSocat();
  const probe = await startPtyPair();
  console.log(`[devices] PIN pad tests over a real socat pty pair: ${probe.terminalPath} <-> ${probe.padPath} (pid ${probe.pid}, a fresh pair per test)`);
  await probe.stop();
});

beforeEach(async () => {
  const pair = await startPtyPair();
  const gateway = nacl.box.keyPair();
  const [terminalPort, padPort] = await Promise.all([openPort(pair.terminalPath), openPort(pair.padPath)]);
  const pad = new SimPadDevice(padPort, { gatewayBoxPublicKey: gateway.publicKey, model: 'PTY-PAD', firmware: '3.1.0', eventRetryMs: 100 });
  const client = new SerialPinPad(terminalPort, { replyTimeoutMs: 150, retries: 2, interByteTimeoutMs: 50, heartbeatMs: 250, pinTimeoutS: 5, pinGraceMs: 1_000 });
  r = { pair, terminalPort, padPort, pad, client, gateway };
});

afterEach(async () => {
  r.client.close();
  r.pad.detach();
  await Promise.all([closePort(r.terminalPort), closePort(r.padPort)]);
  await r.pair.stop();
});

describe('PIN pad over a real pty pair', () => {
  it('reads the status and the key fingerprint', async () => {
    expect(await r.client.status()).toEqual({
      model: 'PTY-PAD',
      firmware: '3.1.0',
      state: 'idle',
      keyLoaded: true,
      keyFingerprint: keyFingerprint(r.gateway.publicKey).toString('hex'),
    });
  });

  it('shows text', async () => {
    await r.client.showText(['Carte acceptée', 'Merci !']);
    expect(r.pad.texts).toEqual([['Carte acceptée', 'Merci !']]);
  });

  it('round-trips a sealed code that only the gateway opens', async () => {
    r.pad.type('4096');
    const block = await r.client.requestSealedCode(TXN, PROMPT, new AbortController().signal);
    expect(openPin(block, TXN, r.gateway.secretKey)).toBe('4096');
    expect(r.pad.entries[0]).toMatchObject({ txnId: TXN, prompt: ['Montant : 8,00 €', 'Code secret :'], outcome: 'sealed' });
  });

  it('skips injected garbage and still works', async () => {
    r.pad.sendGarbage(Buffer.from([0xde, 0xad, 0xbe, 0xef, 0x02, 0xff, 0xff, 0x00]));
    expect((await r.client.status()).state).toBe('idle');
    r.pad.type('1234');
    const block = await r.client.requestSealedCode(TXN, PROMPT, new AbortController().signal);
    expect(openPin(block, TXN, r.gateway.secretKey)).toBe('1234');
    expect(r.client.stats.garbageBytes + r.client.stats.badLength).toBeGreaterThan(0);
  });

  it('gives PAD_UNAVAILABLE when the pad is silent', async () => {
    r.pad.silence(true);
    expect(await codeWithin(r.client.status())).toBe('PAD_UNAVAILABLE');
  });

  it('gives PAD_UNAVAILABLE, without hanging, when the pad end is closed during an entry', async () => {
    // Handled from the start: the rejection may come while the test is still unplugging.
    const outcome = codeWithin(r.client.requestSealedCode(TXN, PROMPT, new AbortController().signal));
    await r.pad.whenEntering();
    await closePort(r.padPort);
    expect(await outcome).toBe('PAD_UNAVAILABLE');
  });

  it('gives PAD_UNAVAILABLE, without hanging, when the cable goes (socat killed)', async () => {
    // Handled from the start: the rejection may come while the test is still unplugging.
    const outcome = codeWithin(r.client.requestSealedCode(TXN, PROMPT, new AbortController().signal));
    await r.pad.whenEntering();
    await r.pair.stop();
    expect(r.pair.running).toBe(false);
    expect(await outcome).toBe('PAD_UNAVAILABLE');
    expect(await codeWithin(r.client.status())).toBe('PAD_UNAVAILABLE');
  });
});
