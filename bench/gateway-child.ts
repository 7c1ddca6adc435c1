/**
 * A second gateway for the region bench (bench/region.ts), in its own process: the configuration in
 * PASSERELLE_BENCH_GATEWAY (JSON, over the defaults); prints `ready` once it serves, stops on SIGTERM.
 */
import { silentLogger } from '../common/log.ts';
import { loadGatewayConfig } from '../gateway/config.ts';
import { startGateway } from '../gateway/server.ts';

const gateway = await startGateway(loadGatewayConfig(undefined, JSON.parse(process.env.PASSERELLE_BENCH_GATEWAY ?? '{}') as Record<string, unknown>), { log: silentLogger });
process.stdout.write('ready\n');
process.once('SIGTERM', () => {
  void gateway.close().then(() => process.exit(0));
});
