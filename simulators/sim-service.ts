import type { Logger } from '../common/log.ts';
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
