/**
 * A gateway process for the crash test: the real gateway on the data directory and MQTT port given in
 * PASSERELLE_CHILD ({ dataDir, mqttPort, offline }), killed with SIGKILL by the parent at random moments.
 * SIGTERM stops it gracefully (the final stop, before the ledger is read).
 */
import { silentLogger } from '../../common/log.ts';
import { loadGatewayConfig } from '../../gateway/config.ts';
import { startGateway } from '../../gateway/server.ts';
import { CRASH_LIMITS } from './fixtures.ts';

const cfg = JSON.parse(process.env.PASSERELLE_CHILD ?? '{}') as { dataDir: string; mqttPort: number; offline: Record<string, unknown> };
const config = loadGatewayConfig(undefined, {
  dataDir: cfg.dataDir,
  mqtt: { port: cfg.mqttPort },
  http: { port: 0 },
  log: { level: 'silent' },
  offline: cfg.offline,
  limits: CRASH_LIMITS,
  rules: { expirySweepS: 0 },
});
const gateway = await startGateway(config, { log: silentLogger });
process.stdout.write('ready\n');
process.once('SIGTERM', () => {
  void gateway.close().then(() => process.exit(0));
});
