import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SerialPort } from 'serialport';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../common/log.ts';
import { PUBLIC_FILE } from '../../gateway/keys.ts';
import { issuerKeysOf } from '../../protocol/gateway-keys.ts';
import { CODES } from '../../protocol/codes.ts';
import { fromB64url, nodeSigner } from '../../protocol/crypto.ts';
import { personaliseCard, type SimPassCard } from '../../simulators/card.ts';
import { testChipSeed } from '../helpers/chips.ts';
import { SimPadDevice } from '../../simulators/pinpad.ts';
import { VpcdCard } from '../../simulators/vpcd-card.ts';
import { systemClock } from '../../terminal/bindings.ts';
import { CardAppNfcReader, CardChecker } from '../../terminal/card-reader.ts';
import { parseConfig } from '../../common/config.ts';
import { TerminalConfigSchema } from '../../terminal/config.ts';
import { PcscContactlessReader } from '../../terminal/devices/pcsc.ts';
import { SerialPinPad } from '../../terminal/devices/pinpad/client.ts';
import { SerialQrScanner } from '../../terminal/devices/qr-scanner.ts';
import { screenText } from '../../terminal/screens.ts';
import { RecordingDisplay, RecordingPrinter } from '../../simulators/sim-bindings.ts';
import { createTerminal, type Terminal } from '../../terminal/terminal.ts';
import { holder, World } from '../helpers/world.ts';
import { startPcscd, VPCD_READER_NAME, waitUntil, type Pcscd } from '../helpers/pcscd.ts';
import { startPtyPair, type PtyPair } from '../helpers/pty.ts';

/**
 * A terminal on real device stacks, end to end: the card over a private pcscd with vsmartcard-vpcd (the
 * card application emulated in Node on the vpcd socket), the PIN pad and the QR scanner each on a real
 * socat pseudo-terminal pair, a real gateway with its broker and ledger. First the technician's
 * `passerelle terminal doctor` as a child process, then sales through the runtime with the same drivers,
 * with device faults in between. Nothing here is skipped.
 */

const TID = 'T-LIB-LYON-01';
let world: World;
let pcscd: Pcscd;
let padPair: PtyPair;
let scannerPair: PtyPair;
let card: SimPassCard;
let configFile: string;

function openPort(path: string): Promise<SerialPort> {
  return new Promise((resolve, reject) => {
    const port: SerialPort = new SerialPort({ path, baudRate: 115200 }, (err) => (err ? reject(err) : resolve(port)));
  });
}

const closePort = (port: SerialPort): Promise<void> => (port.isOpen ? new Promise((r) => port.close(() => r())) : Promise.resolve());

beforeAll(async () => {
  pcscd = await startPcscd();
  [padPair, scannerPair] = await Promise.all([startPtyPair(), startPtyPair()]);
  console.log(
    `[devices] terminal end to end: real pcscd ${pcscd.version} + vsmartcard-vpcd on 127.0.0.1:${pcscd.vpcdPort}, PIN pad on pty ${padPair.terminalPath}, QR scanner on pty ${scannerPair.terminalPath}`,
  );
  world = new World();
  await world.startGateway();
  const lea = holder('Léa Martin');
  // Léa's card carries her test chip, which the World recorded for her card.
  card = personaliseCard({ cardNumber: lea.cardNumber, expiry: '2099-12-31', issuer: world.gateway.keys.issuer, cardSeed: testChipSeed(lea.cardNumber) });
  const keyFile = join(world.dir, 'terminal.key');
  writeFileSync(keyFile, world.key(TID).seed + '\n', { mode: 0o600 });
  configFile = join(world.dir, 'terminal.json');
  writeFileSync(
    configFile,
    JSON.stringify({
      terminalId: TID,
      gatewayUrl: world.gateway.mqttUrl,
      outboxFile: join(world.dir, 'outbox-devices.sqlite'),
      benefits: ['LEISURE_BOOKS'],
      keyFile,
      gatewayKeysFile: join(world.dir, PUBLIC_FILE),
      devices: { nfc: { enabled: true }, pad: { path: padPair.terminalPath, replyTimeoutMs: 300 }, qr: { kind: 'scanner', path: scannerPair.terminalPath } },
    }),
  );
}, 30_000);

afterAll(async () => {
  await world?.close();
  await Promise.all([padPair?.stop(), scannerPair?.stop()]);
  await pcscd?.dispose();
}, 30_000);

/** Insert the card on the vpcd reader; resolves once PC/SC saw it leave again after `remove()`. */
async function insert(c: SimPassCard): Promise<VpcdCard> {
  const vpcd = new VpcdCard({ port: pcscd.vpcdPort, uid: c.uid, handler: (apdu) => c.handle(apdu), connectTimeoutMs: 8000 });
  await vpcd.insert();
  return vpcd;
}

describe('a terminal on real device stacks', () => {
  describe('sales through the runtime', () => {
    let terminal: Terminal;
    let reader: PcscContactlessReader;
    let padPort: SerialPort;
    let scannerPort: SerialPort;
    let pad: SimPadDevice;
    let display: RecordingDisplay;
    let terminalPad: SerialPinPad;
    let terminalPadPort: SerialPort;
    let scanner: SerialQrScanner;

    beforeAll(async () => {
      padPort = await openPort(padPair.padPath);
      scannerPort = await openPort(scannerPair.padPath);
      pad = new SimPadDevice(padPort, { gatewayBoxPublicKey: world.gateway.keys.boxPublicKey });
      const config = parseConfig(TerminalConfigSchema, JSON.parse((await import('node:fs')).readFileSync(configFile, 'utf8')), configFile);
      reader = new PcscContactlessReader({ reconnectMaxMs: 500 });
      terminalPadPort = await openPort(padPair.terminalPath);
      terminalPad = new SerialPinPad(terminalPadPort, { replyTimeoutMs: 300, retries: 2 });
      scanner = await SerialQrScanner.open({ path: scannerPair.terminalPath, baudRate: 115200 });
      display = new RecordingDisplay();
      terminal = createTerminal(config, {
        bindings: {
          nfc: new CardAppNfcReader(reader, new CardChecker({ issuerKeys: issuerKeysOf(world.gateway.keys), clock: systemClock })),
          qr: scanner,
          pad: terminalPad,
          display,
          printer: new RecordingPrinter(),
          clock: systemClock,
        },
        signer: nodeSigner(fromB64url(world.key(TID).seed, 32, 'seed')),
        gatewaySignPublicKey: world.gateway.keys.signPublicKey,
        issuerPublicKey: world.gateway.keys.issuerPublicKey,
        log: silentLogger,
      });
      await waitUntil(() => terminal.runtime.linkUp() && reader.readers().includes(VPCD_READER_NAME), 10_000, 'the link and the reader');
    }, 30_000);

    afterAll(async () => {
      await terminal?.close();
      terminalPad?.close();
      await scanner?.close();
      await reader?.close();
      pad?.detach();
      await Promise.all([closePort(padPort), closePort(scannerPort), closePort(terminalPadPort)]);
    }, 30_000);

    it('an NFC sale over PC/SC is approved and debited once; a card pulled away mid-exchange is shown and read again', async () => {
      const before = await world.gateway.ledger.walletBalance(card.cardNumber, 'LEISURE_BOOKS') ?? 0;
      const sale = terminal.runtime.sale('LEISURE_BOOKS', 150);
      // The first presentation leaves the field during the exchange.
      const first = new VpcdCard({ port: pcscd.vpcdPort, uid: card.uid, handler: (apdu) => card.handle(apdu), connectTimeoutMs: 8000 });
      // The reader's UID request goes first; the card leaves during the card application's SELECT.
      first.inject({ kind: 'delay', ms: 0 });
      first.inject({ kind: 'drop' });
      await first.insert();
      await waitUntil(() => display.screens.some((s) => s.lines[0] === CODES.CARD_REMOVED.fr || s.lines[0] === CODES.CARD_READ_FAILED.fr), 10_000, `the removal on the display (shown: ${display.screens.map((x) => x.lines[0]).join(' | ')})`);
      await first.remove();
      await waitUntil(() => !reader.cardPresent(VPCD_READER_NAME), 5000, 'the reader to see the card leave');
      const again = await insert(card);
      const outcome = await sale;
      await again.remove();
      expect(outcome).toMatchObject({ kind: 'approved', reply: { taken: 150 } });
      expect(await world.gateway.ledger.walletBalance(card.cardNumber, 'LEISURE_BOOKS')).toBe(before - 150);
      expect(await world.gateway.ledger.transfersForTxn((outcome as { txnId: string }).txnId)).toHaveLength(1);
    }, 40_000);

    it('a QR sale: the scanner reads the card QR, the pad seals the code over the pty, the sale is approved', async () => {
      const hugo = holder('Hugo Bernard');
      const sale = terminal.runtime.sale('LEISURE_BOOKS', 200);
      await waitUntil(() => display.last !== undefined && screenText(display.last).includes('Présentez'), 5000, 'the sale screen');
      scannerPort.write(`PR1:C:${hugo.cardNumber}\r\n`);
      await pad.whenEntering(5000);
      pad.type(hugo.pin!);
      await expect(sale).resolves.toMatchObject({ kind: 'approved', reply: { taken: 200 } });
      expect(pad.entries.at(-1)).toMatchObject({ outcome: 'sealed' });
    }, 30_000);

    it('a silent pad ends the sale cleanly with its message; the next customer is served', async () => {
      const hugo = holder('Hugo Bernard');
      const sale = terminal.runtime.sale('LEISURE_BOOKS', 200);
      await waitUntil(() => display.last !== undefined && screenText(display.last).includes('Présentez'), 5000, 'the sale screen');
      pad.silence(true);
      scannerPort.write(`PR1:C:${hugo.cardNumber}\r\n`);
      const outcome = await sale;
      expect(outcome).toMatchObject({ kind: 'cancelled', code: 'PAD_UNAVAILABLE' });
      expect(display.screens.map(screenText).join('\n')).toContain(CODES.PAD_UNAVAILABLE.fr);
      pad.silence(false);
      const next = terminal.runtime.sale('LEISURE_BOOKS', 100);
      const v = await insert(card);
      await expect(next).resolves.toMatchObject({ kind: 'approved' });
      await v.remove();
    }, 40_000);
  });

  it('passerelle terminal doctor passes every check: reader, test card, pad, QR decoder and scanner, link, clock', async () => {
    const padPort = await openPort(padPair.padPath);
    const scannerPort = await openPort(scannerPair.padPath);
    const pad = new SimPadDevice(padPort, { gatewayBoxPublicKey: world.gateway.keys.boxPublicKey, model: 'PTY-PAD', firmware: '2.0.0' });
    let vpcd: VpcdCard | undefined;
    try {
      const child = spawn(process.execPath, ['bin/passerelle.mjs', 'terminal', 'doctor', '-c', configFile, '--wait', '15'], {
        env: { ...process.env, PCSCLITE_CSOCK_NAME: pcscd.socketPath },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      let err = '';
      child.stderr.on('data', (d: Buffer) => (err += d.toString()));
      child.stdout.on('data', (d: Buffer) => {
        const text = d.toString();
        out += text;
        if (text.includes('carte de test')) void insert(card).then((v) => (vpcd = v));
        if (text.includes('QR code de la carte')) scannerPort.write(`PR1:C:${card.cardNumber}\r\n`);
      });
      const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
      expect(code, `${out}\n${err}`).toBe(0);
      expect(out).toContain('Tout est en ordre');
      for (const line of ['Lecteur sans contact : Virtual PCD', 'Carte de test : carte', 'Clavier code (PIN pad) : PTY-PAD 2.0.0', 'Lecteur QR : QR code lu', 'Liaison avec la passerelle : connecté', 'Horloge']) {
        expect(out).toContain(line);
      }
      expect(pad.texts.at(-1)).toEqual(['Test technicien', 'Clavier OK']);
    } finally {
      await vpcd?.remove();
      pad.detach();
      await Promise.all([closePort(padPort), closePort(scannerPort)]);
    }
  }, 60_000);
});
