/**
 * Where `passerelle sim` finds a gateway when not told: the defaults of `passerelle gateway start`. Apart
 * from cli/sim.ts so that the gateway's banner can print a `sim` command for its own data directory and
 * ports without loading the simulators.
 */
export const SIM_DEFAULTS = {
  dataDir: 'data',
  mqttUrl: 'mqtt://127.0.0.1:1884',
  httpUrl: 'http://127.0.0.1:8080',
} as const;
