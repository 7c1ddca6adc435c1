import pino, { type Logger } from 'pino';

export type { Logger };

/**
 * Card numbers, PIN blocks, key material and broker passwords are redacted from the first line written,
 * wherever they appear in a logged object (top level or one level down).
 */
export const REDACT_PATHS = [
  'cardNumber',
  'pinBlock',
  'seed',
  'secretKey',
  'password',
  'token',
  '*.cardNumber',
  '*.pinBlock',
  '*.seed',
  '*.secretKey',
  '*.password',
  '*.token',
  '*.credential.cardNumber',
  '*.credential.pinBlock',
];

export function createLogger(opts: { level?: string; name?: string; destination?: pino.DestinationStream } = {}): Logger {
  return pino(
    { name: opts.name ?? 'passerelle', level: opts.level ?? 'info', redact: { paths: REDACT_PATHS, censor: '[redacted]' } },
    opts.destination ?? pino.destination({ fd: 1, sync: false }),
  );
}

/** A namespaced child logger: `log.child({ ns: 'gateway.pipeline' })`. */
export function ns(log: Logger, name: string): Logger {
  return log.child({ ns: name });
}

export const silentLogger: Logger = pino({ level: 'silent' });
