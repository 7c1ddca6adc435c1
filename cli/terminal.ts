import { parseConfig, readJsonFile } from '../common/config.ts';
import { issuerKeysOf } from '../protocol/gateway-keys.ts';
import { createLogger } from '../common/log.ts';
import { nodeSigner } from '../protocol/crypto.ts';
import { PasserelleError } from '../protocol/errors.ts';
import { renderQrFrame } from '../simulators/qr-render.ts';
import { systemClock } from '../terminal/bindings.ts';
import { CardChecker } from '../terminal/card-reader.ts';
import { TerminalConfigSchema } from '../terminal/config.ts';
import { openDevices } from '../terminal/devices/open.ts';
import { formatChecklist, runDoctor } from '../terminal/doctor.ts';
import { enrolTerminal } from '../terminal/enrol.ts';
import { provisioned, TerminalService } from '../terminal/service.ts';
import { updateTerminal } from '../terminal/update.ts';
import { MqttLink } from '../terminal/link.ts';
import { Outbox } from '../terminal/outbox.ts';
import { decodeQrFrame } from '../terminal/qr-decode.ts';

export interface DoctorOptions {
  readonly config: string;
  /** Seconds each interactive step waits. */
  readonly wait?: string;
  /** `--no-link`: skip the gateway link and the clock (commander sets `link: false`). */
  readonly link?: boolean;
}

/** What the built-in decoder test reads: a fixed text that no sale would accept. */
const SELF_TEST_TEXT = 'PR1:TEST:AUTOTEST-PASSERELLE';

/**
 * `passerelle terminal doctor -c terminal.json`: the technician's self-test on the terminal itself, with
 * the terminal service stopped (the reader, the serial ports and the MQTT client id are exclusive). Prints
 * the checklist; exits 1 when a check failed.
 */
export async function terminalDoctorCommand(o: DoctorOptions): Promise<void> {
  const config = parseConfig(TerminalConfigSchema, readJsonFile(o.config), o.config);
  const waitS = o.wait === undefined ? 20 : Number(o.wait);
  if (!Number.isInteger(waitS) || waitS < 1 || waitS > 600) throw new PasserelleError('CONFIG_INVALID', '--wait is a whole number of seconds from 1 to 600');
  const { seed, gateway } = provisioned(config, o.config);
  const log = createLogger({ level: 'warn', name: 'doctor' });
  const devices = await openDevices(config.devices, { clock: systemClock, log });
  // The link speaks as the terminal: its connect tokens follow the outbox's (single use, head declared).
  const outbox = o.link === false ? undefined : new Outbox({ file: config.outboxFile, maxPending: config.maxPending });
  const link =
    outbox === undefined
      ? undefined
      : new MqttLink({
          url: config.gatewayUrl,
          terminalId: config.terminalId,
          signer: nodeSigner(seed),
          tokens: outbox,
          ...(gateway.mqttCertPem ? { tls: { certPem: gateway.mqttCertPem } } : {}),
          clock: systemClock,
          backoff: { baseMs: config.backoffBaseMs, maxMs: config.backoffMaxMs },
          connectTimeoutMs: config.connectTimeoutMs,
          keepaliveS: config.keepaliveS,
          log,
        });
  try {
    const results = await runDoctor({
      clock: systemClock,
      ...(devices.contactless ? { contactless: devices.contactless } : {}),
      cardChecker: new CardChecker({ issuerKeys: issuerKeysOf(gateway), clock: systemClock, apduTimeoutMs: config.devices.nfc.apduTimeoutMs }),
      ...(devices.pad ? { pad: devices.pad } : {}),
      ...(devices.qr ? { qr: devices.qr } : {}),
      unavailable: devices.failures,
      gatewayBoxPublicKey: gateway.boxPublicKey,
      gatewaySignPublicKey: gateway.signPublicKey,
      qrSelfTest: () => ({ expected: SELF_TEST_TEXT, decoded: decodeQrFrame(renderQrFrame(SELF_TEST_TEXT, { format: 'jpeg', noise: 8 })) }),
      ...(link ? { link } : {}),
      waitMs: waitS * 1000,
      prompt: (text) => console.log(`>>> ${text}`),
    });
    process.stdout.write(formatChecklist(results));
    if (results.some((r) => r.status === 'fail')) process.exitCode = 1;
  } finally {
    await devices.close();
    outbox?.close();
  }
}

export interface EnrolCommandOptions {
  readonly gateway: string;
  readonly code: string;
  readonly dir: string;
  readonly gatewayKey?: string;
  readonly pad?: string;
  readonly scanner?: string;
  /** `--no-nfc` sets it false. */
  readonly nfc?: boolean;
}

/**
 * `passerelle terminal enrol --gateway URL --code CODE [--dir DIR]`: what the technician reads is in French,
 * with the paths and the next command.
 */
export async function terminalEnrolCommand(o: EnrolCommandOptions): Promise<void> {
  const e = await enrolTerminal({
    gatewayUrl: o.gateway,
    code: o.code,
    dir: o.dir,
    ...(o.gatewayKey ? { gatewayKey: o.gatewayKey } : {}),
    devices: {
      nfc: { enabled: o.nfc !== false },
      ...(o.pad ? { pad: { path: o.pad } } : {}),
      ...(o.scanner ? { qr: { kind: 'scanner', path: o.scanner } } : {}),
    },
  });
  const lines = [
    `Terminal ${e.fields.terminalId} installé pour ${e.fields.partnerName} (${e.fields.partnerId}).`,
    ...(e.fields.replaced ? ["Il remplace l'appareil précédent de ce numéro, dont la clé est refusée dès maintenant."] : []),
    `Prestations : ${e.fields.benefits.join(', ')}`,
    `Serveur : ${e.fields.mqtt.url}`,
    `Clé publique du terminal : ${e.publicKey}`,
    `Clé du serveur : ${e.fields.gateway.signPublicKey}`,
    `Configuration : ${e.configFile}`,
    `Démarrer : passerelle terminal start -c ${e.configFile}`,
  ];
  console.log(lines.join('\n'));
}

export interface StartCommandOptions {
  readonly config: string;
  readonly logLevel?: string;
}

/**
 * `passerelle terminal start -c terminal.json`: the terminal service in the foreground (systemd runs it:
 * deploy/passerelle-terminal.service), JSON log lines on stdout, until SIGTERM or SIGINT; then it stops as
 * terminal/service.ts says and exits 0.
 */
export async function terminalStartCommand(o: StartCommandOptions): Promise<void> {
  const log = createLogger({ name: 'terminal', level: o.logLevel ?? 'info' });
  const service = await TerminalService.start({ configFile: o.config, log });
  // A signal, or a shutdown asked on the control endpoint (an update): the supervisor starts the version in force.
  const signal = await Promise.race([
    new Promise<NodeJS.Signals>((resolve) => {
      process.once('SIGTERM', () => resolve('SIGTERM'));
      process.once('SIGINT', () => resolve('SIGINT'));
    }),
    service.whenStopped().then(() => 'shutdown' as const),
  ]);
  log.info({ signal }, 'stopping');
  try {
    await service.stop();
  } catch (e) {
    log.error({ err: e }, 'the stop failed; the queue is on disk and is checked at the next start');
    process.exitCode = 1;
  }
  // Device libraries may keep handles (pcscd's monitor): the service is stopped, so the process ends here.
  log.flush(() => process.exit());
}

export interface UpdateCommandOptions {
  readonly release: string;
  readonly config: string;
  readonly root: string;
  readonly drainTimeout: string;
  readonly checkTimeout: string;
}

/** `passerelle terminal update`: terminal/update.ts, with its progress in French for the technician. */
export async function terminalUpdateCommand(o: UpdateCommandOptions): Promise<void> {
  const seconds = (text: string, name: string) => {
    const n = Number(text);
    if (!Number.isInteger(n) || n < 1 || n > 3600) throw new PasserelleError('CONFIG_INVALID', `--${name} is a whole number of seconds from 1 to 3600`);
    return n;
  };
  const config = parseConfig(TerminalConfigSchema, readJsonFile(o.config), o.config);
  const log = createLogger({ level: 'warn', name: 'update' });
  const done = await updateTerminal({
    root: o.root,
    release: o.release,
    config,
    drainTimeoutS: seconds(o.drainTimeout, 'drain-timeout'),
    checkTimeoutS: seconds(o.checkTimeout, 'check-timeout'),
    log,
    say: (line) => console.log(line),
  });
  console.log(`Mise à jour terminée : version ${done.from} → ${done.to}.`);
}
