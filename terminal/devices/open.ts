import { SerialPort } from 'serialport';
import type { Logger } from '../../common/log.ts';
import { PasserelleError } from '../../protocol/errors.ts';
import type { Clock, QrSource } from '../bindings.ts';
import type { DevicesConfig } from '../config.ts';
import { MjpegStreamFrameSource } from './camera/mjpeg-stream.ts';
import { CameraQrSource } from './camera/qr-source.ts';
import { DirectoryFrameSource } from './camera/spool.ts';
import type { ContactlessReader } from './contactless.ts';
import { PcscContactlessReader } from './pcsc.ts';
import { SerialPinPad } from './pinpad/client.ts';
import { SerialQrScanner } from './qr-scanner.ts';

/**
 * Opens the real devices a terminal's config names: the contactless reader through pcscd, the PIN pad on
 * its serial port, the QR reader (serial scanner or camera). The one place that turns device config into
 * drivers, shared by the runtime's composition root and the technician's self-test. A device that cannot
 * be opened is reported with its code and the others still open, so the self-test can say what is wrong
 * with each.
 */

export interface OpenedDevices {
  readonly contactless?: ContactlessReader;
  readonly pad?: SerialPinPad;
  readonly qr?: QrSource & { close(): Promise<void> };
  /** Devices that could not be opened, by name, with the reason. */
  readonly failures: ReadonlyMap<'nfc' | 'pad' | 'qr', PasserelleError>;
  close(): Promise<void>;
}

export async function openDevices(config: DevicesConfig, o: { clock: Clock; log?: Logger }): Promise<OpenedDevices> {
  const failures = new Map<'nfc' | 'pad' | 'qr', PasserelleError>();
  let contactless: ContactlessReader | undefined;
  if (config.nfc.enabled) {
    try {
      contactless = new PcscContactlessReader(o.log ? { log: o.log } : {});
    } catch (e) {
      // The PC/SC library itself cannot load (libpcsclite missing): the self-test says so.
      failures.set('nfc', e instanceof PasserelleError ? e : new PasserelleError('NFC_READER_UNAVAILABLE', String(e), {}, { cause: e }));
    }
  }
  let pad: SerialPinPad | undefined;
  let padPort: SerialPort | undefined;
  if (config.pad) {
    try {
      padPort = await openSerial(config.pad.path, config.pad.baudRate, 'PAD_UNAVAILABLE', 'PIN pad');
      pad = new SerialPinPad(padPort, { replyTimeoutMs: config.pad.replyTimeoutMs, retries: config.pad.retries, clock: o.clock, interByteTimeoutMs: Math.min(200, Math.floor(config.pad.replyTimeoutMs / 2)) });
      // A pad left in an entry by a terminal that restarted refuses the next one as busy: start clean.
      await pad.cancel().catch(() => undefined);
    } catch (e) {
      failures.set('pad', asError(e, 'PAD_UNAVAILABLE'));
    }
  }
  let qr: (QrSource & { close(): Promise<void> }) | undefined;
  try {
    qr = await openQr(config.qr);
  } catch (e) {
    failures.set('qr', asError(e, 'QR_READER_UNAVAILABLE'));
  }
  return {
    ...(contactless ? { contactless } : {}),
    ...(pad ? { pad } : {}),
    ...(qr ? { qr } : {}),
    failures,
    async close() {
      pad?.close();
      if (padPort?.isOpen) await new Promise<void>((r) => padPort!.close(() => r()));
      await qr?.close();
      await contactless?.close();
    },
  };
}

async function openQr(config: DevicesConfig['qr']): Promise<(QrSource & { close(): Promise<void> }) | undefined> {
  switch (config.kind) {
    case 'none':
      return undefined;
    case 'scanner':
      return SerialQrScanner.open({ path: config.path, baudRate: config.baudRate });
    case 'camera-command':
      return new CameraQrSource(MjpegStreamFrameSource.spawn(config.argv));
    case 'camera-directory':
      return new CameraQrSource(new DirectoryFrameSource(config.dir));
  }
}

function openSerial(path: string, baudRate: number, code: 'PAD_UNAVAILABLE', what: string): Promise<SerialPort> {
  const port = new SerialPort({ path, baudRate, autoOpen: false });
  return new Promise((resolve, reject) => {
    port.open((err) => (err ? reject(new PasserelleError(code, `the ${what} port ${path} cannot be opened: ${err.message}`, { path }, { cause: err })) : resolve(port)));
  });
}

function asError(e: unknown, code: 'PAD_UNAVAILABLE' | 'QR_READER_UNAVAILABLE'): PasserelleError {
  return e instanceof PasserelleError ? e : new PasserelleError(code, e instanceof Error ? e.message : String(e), {}, { cause: e });
}
