import { loadGatewayConfig, type GatewayConfig } from '../gateway/config.ts';
import { startGateway, type Gateway } from '../gateway/server.ts';
import { SIM_DEFAULTS } from './sim-defaults.ts';

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
  for (const line of readyBanner(g, config)) log(line);
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

/**
 * What the gateway prints once ready. Its "try" line is a command that works as printed against this very
 * gateway: its data directory and its ports (the ones it listens on, when started on port 0) are given
 * whenever they differ from what `sim sale` assumes.
 */
export function readyBanner(g: Pick<Gateway, 'mqttUrl' | 'httpUrl'>, config: Pick<GatewayConfig, 'dataDir' | 'seedDemo' | 'ledger'>): string[] {
  const where = [
    ...(config.dataDir === SIM_DEFAULTS.dataDir ? [] : ['--data-dir', shellQuote(config.dataDir)]),
    ...(g.mqttUrl === SIM_DEFAULTS.mqttUrl ? [] : ['--gateway', g.mqttUrl]),
    ...(g.httpUrl === SIM_DEFAULTS.httpUrl ? [] : ['--http', g.httpUrl]),
  ].join(' ');
  const sale = 'npx passerelle sim sale -t T-LIB-LYON-01 --holder "Léa Martin" -b LEISURE_BOOKS -a 12,50';
  return [
    'Passerelle gateway ready',
    `  terminals (MQTT): ${g.mqttUrl}`,
    `  browsers (HTTP):  ${g.httpUrl}/healthz`,
    `  data:             ${config.dataDir} (ledger ${config.ledger.file}, keys${config.seedDemo ? ', demo terminals' : ''})`,
    config.seedDemo
      ? `  try:              ${sale}${where ? ` ${where}` : ''}`
      : `  no demo data:     register a terminal (POST /api/v1/terminals), then npx passerelle sim sale --key-file <its key> --token <operator token> --card <number> -b … -a …${where ? ` ${where}` : ''}`,
  ];
}

/** A word as a POSIX shell reads it back: as is when it has nothing special, otherwise in single quotes. */
function shellQuote(word: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(word) ? word : `'${word.replaceAll("'", "'\\''")}'`;
}
