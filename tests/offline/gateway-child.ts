/**
 * A gateway process for the crash test: the real gateway on the data directory and MQTT port given in
 * PASSERELLE_CHILD ({ dataDir, mqttPort, offline }), killed with SIGKILL by the parent at random moments.
 * SIGTERM stops it gracefully (the final stop, before the ledger is read).
 */
import { mergeConfig } from '../../common/config.ts';
import { silentLogger } from '../../common/log.ts';
import { loadGatewayConfig } from '../../gateway/config.ts';
import { startGateway } from '../../gateway/server.ts';
import { CRASH_LIMITS } from './fixtures.ts';

// `overrides`: more configuration (a PostgreSQL ledger and an external broker, for the region crash test).
const cfg = JSON.parse(process.env.PASSERELLE_CHILD ?? '{}') as { dataDir: string; mqttPort: number; offline: Record<string, unknown>; overrides?: Record<string, unknown> };
const config = loadGatewayConfig(
  undefined,
  mergeConfig(
    {
      dataDir: cfg.dataDir,
      mqtt: { port: cfg.mqttPort },
      http: { port: 0 },
      log: { level: 'silent' },
      offline: cfg.offline,
      limits: CRASH_LIMITS,
      rules: { expirySweepS: 0 },
    },
    cfg.overrides ?? {},
  ),
);
const gateway = await startGateway(config, { log: silentLogger });
process.stdout.write('ready\n');
process.once('SIGTERM', () => {
  void gateway.close().then(() => process.exit(0));
});
