import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../common/log.ts';
import type { Benefit } from '../protocol/benefits.ts';
import { b64url } from '../protocol/crypto.ts';
import type { GatewayPublicKeys } from '../protocol/gateway-keys.ts';
import { ScreenFeed } from '../terminal/devices/bindings.ts';
import { TerminalService } from '../terminal/service.ts';
import { simBindings, type CardSource, type SimBindings } from './sim-bindings.ts';

/**
 * The terminal service (terminal/service.ts) on simulated devices: the same service, control endpoint and
 * till link a terminal runs, with taps, QR codes and codes on the pad played by the caller. For the till
 * and cashier tests and the till benchmark.
 */

export interface SimService {
  readonly service: TerminalService;
  /** The simulated devices; the display is the service's screen feed. */
  readonly devices: Omit<SimBindings, 'display'> & { readonly display: ScreenFeed };
  close(): Promise<void>;
}

export async function startSimService(o: { readonly configFile: string; readonly gateway: GatewayPublicKeys; readonly cards: CardSource; readonly log: Logger }): Promise<SimService> {
  const devices = { ...simBindings({ gateway: o.gateway, cards: o.cards }), display: new ScreenFeed() };
  const service = await TerminalService.start({ configFile: o.configFile, log: o.log, devices: { bindings: devices } });
  return { service, devices, close: () => service.stop() };
}

/**
 * A terminal's files as enrolment would leave them, for a terminal the gateway already knows: its seed in
 * `<name>.key` (0600) and `<name>.json` naming it, the gateway's public keys file, an outbox beside them,
 * short reconnection delays and the control endpoint on a free port; `extra` adds or overrides keys (a till
 * link, devices, timeouts). Returns the config file.
 */
export function writeSimTerminalConfig(o: {
  readonly dir: string;
  readonly name: string;
  readonly terminalId: string;
  readonly seed: string | Uint8Array;
  readonly gatewayUrl: string;
  readonly gatewayKeysFile: string;
  readonly benefits: readonly Benefit[];
  readonly extra?: Readonly<Record<string, unknown>>;
}): string {
  const keyFile = join(o.dir, `${o.name}.key`);
  writeFileSync(keyFile, `${typeof o.seed === 'string' ? o.seed : b64url(o.seed)}\n`, { mode: 0o600 });
  const configFile = join(o.dir, `${o.name}.json`);
  writeFileSync(
    configFile,
    JSON.stringify({
      terminalId: o.terminalId,
      gatewayUrl: o.gatewayUrl,
      outboxFile: join(o.dir, `${o.name}-outbox.sqlite`),
      benefits: o.benefits,
      keyFile,
      gatewayKeysFile: o.gatewayKeysFile,
      backoffBaseMs: 20,
      backoffMaxMs: 200,
      devices: { nfc: { enabled: true } },
      control: { port: 0 },
      ...o.extra,
    }),
  );
  return configFile;
}
