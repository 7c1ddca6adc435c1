import { Command, InvalidArgumentError } from 'commander';
import { VERSION } from '../common/version.ts';
import { codesMarkdown, CODES, type Code } from '../protocol/codes.ts';
import { isPasserelleError } from '../protocol/errors.ts';
import { SIM_DEFAULTS } from './sim-defaults.ts';

/** The `passerelle` command line. Every operating error ends with its stable code and a non-zero exit. */

/**
 * An action whose module is loaded only when its command runs: each command pulls in only its own part of
 * the code (a token listing does not compile the gateway, the bench and the device stacks), so a command
 * starts in a fraction of the time.
 */
function lazy<M, K extends keyof M>(load: () => Promise<M>, name: K): (...args: unknown[]) => Promise<void> {
  return async (...args) => {
    await ((await load())[name] as (...a: unknown[]) => unknown)(...args);
  };
}
const operator = () => import('./operator.ts');

// Output piped into a command that stops reading (`| head`) is not an error worth a stack trace.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(0);
  throw e;
});

function port(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError('a port is an integer from 0 to 65535');
  return n;
}

const program = new Command()
  .name('passerelle')
  .description("Pass'Région terminals and gateway: run the gateway, simulated terminals, the demo and the benchmark.")
  .version(VERSION);

const gateway = program.command('gateway').description('the gateway: embedded MQTT broker, rules, ledger, HTTP API');
gateway
  .command('start')
  .description('start the gateway (embedded broker, SQLite ledger under the data directory, demo data on first start)')
  .option('-c, --config <file>', 'JSON config file (see gateway/config.ts for every key)')
  .option('--data-dir <dir>', 'directory for the ledger and the keys (default: data)')
  .option('--mqtt-port <port>', 'embedded MQTT broker port (default: 1884)', port)
  .option('--http-port <port>', 'HTTP API port (default: 8080)', port)
  .option('--no-seed-demo', 'do not seed the demo data into an empty ledger')
  .action(lazy(() => import('./gateway.ts'), 'startGatewayCommand'));

program
  .command('demo')
  .description('start a gateway on free ports and run scripted sales on simulated terminals, printed as their displays show them')
  .option('--keep', 'keep the temporary data directory')
  .action(lazy(() => import('./demo.ts'), 'runDemo'));

const sim = program.command('sim').description('simulated terminals and card holders against a running gateway');
sim
  .command('sale')
  .description('one sale on a simulated terminal, any terminal whose key is given (a demo terminal by default); the card is personalised through the API with an operator token (exit 0 when the sale ends as asked)')
  .option('-t, --terminal <id>', 'terminal id, e.g. T-LIB-LYON-01 (a demo terminal, or the one a key file is for)')
  .option('--key-file <file>', "the terminal's private key: its base64url seed (with -t), {\"terminalId\", \"seed\"}, or a list of them")
  .option('-c, --config <file>', "a terminal's config (terminal/config.ts): its id, gatewayUrl, keyFile, gatewayKeysFile and outbox")
  .option('--gateway-keys <file>', "the gateway's public keys (default: <data-dir>/gateway-public.json)")
  .option('--holder <name>', 'demo card holder, e.g. "Léa Martin"')
  .option('--card <number>', 'card number (instead of --holder)')
  .requiredOption('-b, --benefit <code>', 'benefit code, e.g. LEISURE_BOOKS, SPORT, CINEMA')
  .requiredOption('-a, --amount <amount>', 'price in euros (12,50) or, for cinema and museums, a number of entries')
  .option('--qr', 'show the QR code instead of tapping the card (then the code is typed on the pad)')
  .option('--code <pin>', 'code typed on the pad for a QR sale (default: the demo holder’s code)')
  .option('--offline', 'cut the link before the sale (accepted offline), restore it, and print the settlement (exit 0 when approved)')
  .option('--repeat <content>', 'then send the request again under its id: same (the original reply is expected), other (other content: TXN_CONFLICT is expected), or same,other')
  .option('--token <token>', 'operator token to personalise the card through the API (default: the demo operator token of the data directory)')
  .option('--replace-chip', 'the card already has another chip: give it this simulator’s (audited)')
  .option('--data-dir <dir>', 'data directory of the gateway (demo terminal keys and cards, gateway public keys, demo tokens); the simulator keeps its outboxes and chips under <dir>/sim', SIM_DEFAULTS.dataDir)
  .option('--gateway <url>', `MQTT URL of the gateway (default: the terminal config's gatewayUrl, or ${SIM_DEFAULTS.mqttUrl})`)
  .option('--http <url>', `HTTP URL of the gateway, to personalise the card (default: ${SIM_DEFAULTS.httpUrl})`)
  .action(lazy(() => import('./sim.ts'), 'simSale'));

const terminal = program.command('terminal').description('commands run on a terminal by its technician');
terminal
  .command('doctor')
  .description("self-test: finds the reader and the pad, reads the test card, shows a message on the pad, decodes a test frame and the QR reader, checks the gateway link and the clock; prints a checklist (exit 1 if a check failed). Stop the terminal service first.")
  .requiredOption('-c, --config <file>', "the terminal's JSON config (terminal/config.ts: devices, keyFile, gatewayKeysFile, gatewayUrl)")
  .option('--wait <seconds>', 'how long each step waits for the technician (card, QR code) or the gateway', '20')
  .option('--no-link', 'skip the gateway link and clock checks (no network at hand)')
  .action(lazy(() => import('./terminal.ts'), 'terminalDoctorCommand'));

terminal
  .command('start')
  .description('run the terminal service on the devices its config names, until SIGTERM: sells online and offline, sends its queue when the gateway is reachable, takes sales on its loopback control endpoint; JSON log lines on stdout')
  .requiredOption('-c, --config <file>', "the terminal's JSON config (written by terminal enrol)")
  .option('--log-level <level>', 'debug, info, warn or error', 'info')
  .action(lazy(() => import('./terminal.ts'), 'terminalStartCommand'));
terminal
  .command('update')
  .description("install a new version beside the one in force and switch to it only once the queue is drained (else QUEUE_NOT_EMPTY, nothing switched); the new version must come up with its devices and reach the gateway, or the previous one is put back (UPDATE_ROLLED_BACK)")
  .requiredOption('--release <dir>', 'the new version: a directory with package.json, bin/ and node_modules/ built for this terminal')
  .requiredOption('-c, --config <file>', "the terminal's JSON config (to reach the running service)")
  .option('--root <dir>', 'where releases/<version> and the current symlink live', '/opt/passerelle')
  .option('--drain-timeout <seconds>', 'how long to wait for the queue to be sent', '120')
  .option('--check-timeout <seconds>', 'how long the new version has to come up ready', '60')
  .action(lazy(() => import('./terminal.ts'), 'terminalUpdateCommand'));
terminal
  .command('enrol')
  .description("enrol this terminal: makes its key on the device, sends the public key with the Region's enrolment code, checks the signed answer and writes terminal.json, terminal.key (0600) and gateway-public.json into an empty directory")
  .requiredOption('--gateway <url>', "the gateway's HTTP address, e.g. https://passerelle.example or http://127.0.0.1:8080")
  .requiredOption('--code <code>', 'the enrolment code the Region gave, e.g. K7M2-9QXF-3RTB-HW4D')
  .option('--dir <dir>', 'where to write the terminal (an empty or new directory)', '.')
  .option('--gateway-key <key>', "the gateway's signing key (base64url) to pin, when the Region gives it with the code")
  .option('--pad <path>', 'the serial PIN pad, e.g. /dev/serial/by-id/usb-…')
  .option('--scanner <path>', 'a serial QR scanner')
  .option('--no-nfc', 'no contactless reader')
  .action(lazy(() => import('./terminal.ts'), 'terminalEnrolCommand'));

const cards = program.command('cards').description("the Region's card operations on the ledger file");
cards
  .command('load <file>')
  .description('load a start-of-year CSV of cards and benefits (format: gateway/bulk/cards-csv.ts); all or nothing')
  .option('-c, --config <file>', 'JSON config file naming the data directory and ledger file')
  .option('--data-dir <dir>', 'directory of the ledger (default: data)')
  .option('--at <datetime>', 'date the load (ISO 8601; default now): the driving-licence aid runs 24 months from it')
  .option('--create-campaigns', 'create a campaign the file names and the ledger lacks, with the default windows')
  .action(lazy(operator, 'cardsLoadCommand'));

const token = program.command('token').description('HTTP API tokens (on the ledger file; a running gateway sees changes at once)');
const ledgerOptions = (c: Command) =>
  c.option('-c, --config <file>', 'JSON config file naming the data directory and ledger file').option('--data-dir <dir>', 'directory of the ledger (default: data)');
ledgerOptions(
  token
    .command('create')
    .description('create an API token and print it (once): operator (the Region), technician, or partner')
    .requiredOption('--name <name>', 'who holds it, e.g. "Région - service Pass\'Région"')
    .requiredOption('--role <role>', 'operator | technician | partner')
    .option('--partner <id>', 'the partner a partner token sees, e.g. P-LIB-LYON'),
).action(lazy(operator, 'tokenCreateCommand'));
ledgerOptions(token.command('list').description('tokens in force, by id')).action(lazy(operator, 'tokenListCommand'));
ledgerOptions(token.command('revoke <id>').description('revoke a token by its id (from token list)')).action(lazy(operator, 'tokenRevokeCommand'));

const web = program.command('web').description("the partners' web space and the Region's console (docs/web.md)");
ledgerOptions(
  web
    .command('invite')
    .description('make a web account and print its single-use invitation link (once)')
    .requiredOption('--email <address>', 'the person\'s e-mail address (their login)')
    .requiredOption('--name <name>', 'their first and last name')
    .requiredOption('--role <role>', 'operator | technician (the Region) | manager | cashier | accountant (a partner, with --partner)')
    .option('--partner <id>', 'the partner of a partner role, e.g. P-LIB-LYON')
    .option('--url <origin>', 'where the web space is opened, e.g. https://pass.example.fr', 'http://127.0.0.1:8080')
    .option('--days <n>', 'how long the link is valid, 1 to 30 days', '7'),
).action(lazy(operator, 'webInviteCommand'));
ledgerOptions(
  web
    .command('link')
    .description("a new single-use link for an existing account's password (printed once); the old password works until it is used")
    .requiredOption('--email <address>', 'the account')
    .option('--url <origin>', 'where the web space is opened', 'http://127.0.0.1:8080')
    .option('--days <n>', 'how long the link is valid, 1 to 30 days', '7'),
).action(lazy(operator, 'webLinkCommand'));

program
  .command('codes')
  .description('print the table of outcome and error codes')
  .option('--markdown', 'as the markdown of docs/codes.md')
  .action((o: { markdown?: boolean }) => {
    if (o.markdown) process.stdout.write(codesMarkdown());
    else for (const code of Object.keys(CODES) as Code[]) console.log(`${CODES[code].num}  ${code.padEnd(22)} ${CODES[code].fr}`);
  });

program
  .command('bench')
  .description('online debits through the real path, the start-of-year bulk load, the durable outbox commit, the drain of 10,000 offline sales, tap-to-approval and till-to-result; a human summary and one JSON line per scenario')
  .option('--quick', 'short phases (a smoke run, not a measurement)')
  .option('--scenario <names>', 'only these scenarios, comma-separated: online-debit, bulk-load, outbox-commit, offline-drain, tap-to-approval, till-to-result')
  .action(lazy(() => import('../bench/run.ts'), 'runBench'));

try {
  await program.parseAsync(process.argv);
} catch (e) {
  if (isPasserelleError(e)) {
    console.error(`passerelle: ${e.code} (${e.num}): ${e.message}`);
    // The French text too: a technician or a partner may be the one reading.
    console.error(`  ${e.fr}`);
  } else {
    console.error('passerelle: unexpected error:', e);
  }
  process.exitCode = 1;
}
