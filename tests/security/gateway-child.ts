/**
 * A gateway in its own process, for the fuzz run (its memory is measured from outside, alone). The
 * configuration overrides come as JSON in PASSERELLE_CHILD ({ dataDir, overrides }); the ports it bound
 * are written to `<dataDir>/ports.json` before it prints `ready`. SIGTERM stops it gracefully.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { mergeConfig } from '../../common/config.ts';
import { silentLogger } from '../../common/log.ts';
import { loadGatewayConfig } from '../../gateway/config.ts';
import { startGateway } from '../../gateway/server.ts';

const cfg = JSON.parse(process.env.PASSERELLE_CHILD ?? '{}') as { dataDir: string; overrides: Record<string, unknown> };
const config = loadGatewayConfig(undefined, mergeConfig({ dataDir: cfg.dataDir, mqtt: { port: 0 }, http: { port: 0 }, log: { level: 'silent' } }, cfg.overrides));
const gateway = await startGateway(config, { log: silentLogger });
writeFileSync(join(cfg.dataDir, 'ports.json'), JSON.stringify({ mqttPort: gateway.mqttPort, httpPort: gateway.httpPort }));
process.stdout.write('ready\n');
process.once('SIGTERM', () => {
  void gateway.close().then(() => process.exit(0));
});
