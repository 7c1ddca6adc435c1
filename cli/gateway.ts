import { loadGatewayConfig } from '../gateway/config.ts';
import { startGateway } from '../gateway/server.ts';

export interface GatewayStartOptions {
  readonly config?: string;
  readonly dataDir?: string;
  readonly mqttPort?: number;
  readonly httpPort?: number;
  readonly seedDemo: boolean;
}

/** `passerelle gateway start`: run until SIGINT or SIGTERM, then stop in order. */
export async function startGatewayCommand(o: GatewayStartOptions): Promise<void> {
  const config = loadGatewayConfig(o.config, {
    dataDir: o.dataDir,
    mqtt: o.mqttPort === undefined ? undefined : { port: o.mqttPort },
    http: o.httpPort === undefined ? undefined : { port: o.httpPort },
    // commander sets seedDemo to true unless --no-seed-demo; a config file's own value wins over the default.
    seedDemo: o.seedDemo ? undefined : false,
  });
  const g = await startGateway(config);
  const log = (msg: string) => process.stderr.write(`${msg}\n`);
  log(`Passerelle gateway ready`);
  log(`  terminals (MQTT): ${g.mqttUrl}`);
  log(`  browsers (HTTP):  ${g.httpUrl}/healthz`);
  log(`  data:             ${config.dataDir} (ledger ${config.ledger.file}, keys, demo terminals)`);
  log(`  try:              npx passerelle sim sale -t T-LIB-LYON-01 --holder "Léa Martin" -b LEISURE_BOOKS -a 12,50`);
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log(`${signal}: stopping (finishing requests in flight)…`);
    g.close().then(
      () => process.exit(0),
      (e: unknown) => {
        console.error(e);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}
