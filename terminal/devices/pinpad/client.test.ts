import { SerialPortMock } from 'serialport';
import nacl from 'tweetnacl';
import { afterEach, describe, expect, it } from 'vitest';
import { PasserelleError, isPasserelleError } from '../../../protocol/errors.ts';
import { formatEuros } from '../../../protocol/money.ts';
import { openPin } from '../../../protocol/pin.ts';
import { SimPadDevice, type SimPadOptions } from '../../../simulators/pinpad.ts';
import { SerialPinPad, type SerialPinPadOptions } from './client.ts';
import { FrameParser, encodeFrame } from './frame.ts';
import { type Message, MSG, decodeMessage, encodeMessage, keyFingerprint } from './messages.ts';
import { type MockCable, closePort, openMockCable } from './mock-cable.ts';

/**
 * The driver and the simulated pad talk through serialport's mock binding (two mock ports joined by a
 * null-modem cable), so every byte goes through the real SerialPortStream on both sides. Timeouts are
 * short so that the fault cases (resends, a silent pad) stay fast.
 */

const TXN = '0190a6f2-5b1c-7d3e-8f40-0a0b0c0d0e0f';
const OTHER_TXN = '0190a6f2-5b1c-7d3e-8f40-ffffffffffff';
/** The prompt as the runtime builds it, with the no-break spaces of French money formatting. */
const PROMPT = `Montant : ${formatEuros(123456)}\nCode secret :`;
// Long enough that a busy CI machine does not cause spurious resends (some tests count frames exactly).
const FAST: SerialPinPadOptions = { replyTimeoutMs: 150, retries: 2, interByteTimeoutMs: 50, heartbeatMs: 150, pinTimeoutS: 5, pinGraceMs: 500 };

interface Rig {
  readonly cable: MockCable;
  readonly pad: SimPadDevice;
  readonly client: SerialPinPad;
  readonly gateway: nacl.BoxKeyPair;
}

const rigs: Rig[] = [];
let counter = 0;

async function rig(padOpts: Partial<SimPadOptions> = {}, clientOpts: SerialPinPadOptions = {}): Promise<Rig> {
  const gateway = nacl.box.keyPair();
  const cable = await openMockCable(`pinpad-${process.pid}-${counter++}`);
  const pad = new SimPadDevice(cable.pad, { gatewayBoxPublicKey: gateway.publicKey, eventRetryMs: 40, ...padOpts });
  const client = new SerialPinPad(cable.terminal, { ...FAST, ...clientOpts });
  const r = { cable, pad, client, gateway };
  rigs.push(r);
  return r;
}

afterEach(async () => {
  for (const r of rigs.splice(0)) {
    r.client.close();
    r.pad.detach();
    await r.cable.close();
  }
});

/** Decode every frame in a byte recording (what one end of the cable wrote). */
function framesIn(recording: Buffer): Message[] {
  return new FrameParser().push(recording).map((p) => decodeMessage(p));
}

function recordingOf(port: SerialPortMock): Buffer {
  return port.port?.recording ?? Buffer.alloc(0);
}

async function rejection(p: Promise<unknown>): Promise<PasserelleError> {
  const err = await p.then(
    () => new Error('expected a rejection'),
    (e: unknown) => e,
  );
  if (!isPasserelleError(err)) throw err;
  return err;
}

async function eventually(check: () => boolean, what: string, timeoutMs = 2_000): Promise<void> {
  for (let waitedMs = 0; waitedMs < timeoutMs; waitedMs += 10) {
    if (check()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe('SerialPinPad commands', () => {
  it('shows two lines of French text on the pad', async () => {
    const { client, pad, cable } = await rig();
    await client.showText(['Bonjour !', 'Présentez la carte']);
    expect(pad.texts).toEqual([['Bonjour !', 'Présentez la carte']]);
    expect(framesIn(recordingOf(cable.terminal))).toEqual([{ type: 'SHOW_TEXT', seq: 1, lines: ['Bonjour !', 'Présentez la carte'] }]);
  });

  it('refuses over-long text before anything is sent', async () => {
    const { client, cable } = await rig();
    expect((await rejection(client.showText(['x'.repeat(21)]))).code).toBe('PAD_FRAME_INVALID');
    expect(recordingOf(cable.terminal)).toHaveLength(0);
  });

  it('beeps', async () => {
    const { client, pad } = await rig();
    await client.beep(2, 150);
    expect(pad.beeps).toEqual([{ count: 2, durationMs: 150 }]);
  });

  it('reports model, firmware, state and the fingerprint of the key the pad holds', async () => {
    const { client, gateway } = await rig({ model: 'PP-200', firmware: '2.4.1' });
    const status = await client.status();
    expect(status).toEqual({ model: 'PP-200', firmware: '2.4.1', state: 'idle', keyLoaded: true, keyFingerprint: keyFingerprint(gateway.publicKey).toString('hex') });
  });

  it('reports a pad without a key, and its NAK of REQUEST_PIN becomes PAD_ERROR no-key', async () => {
    const { client } = await rig({ gatewayBoxPublicKey: null });
    expect(await client.status()).toMatchObject({ keyLoaded: false, keyFingerprint: '0'.repeat(16) });
    const err = await rejection(client.requestSealedCode(TXN, PROMPT, new AbortController().signal));
    expect(err.code).toBe('PAD_ERROR');
    expect(err.details).toMatchObject({ status: 'no-key', command: 'REQUEST_PIN' });
  });
});

describe('SerialPinPad code entry', () => {
  it('returns a block only the gateway opens, bound to the transaction id; the code never crosses the line in clear', async () => {
    const { client, pad, gateway, cable } = await rig();
    pad.type('2580');
    const block = await client.requestSealedCode(TXN, PROMPT, new AbortController().signal);
    expect(openPin(block, TXN, gateway.secretKey)).toBe('2580');
    expect(() => openPin(block, OTHER_TXN, gateway.secretKey)).toThrow(expect.objectContaining({ code: 'PIN_BLOCK_INVALID' }));
    await eventually(() => pad.state === 'idle', 'the pad to go idle after the ACK');
    expect(pad.entries).toEqual([{ seq: 1, txnId: TXN, prompt: PROMPT.split('\n'), outcome: 'sealed', reported: true }]);
    expect(recordingOf(cable.pad).includes(Buffer.from('2580'))).toBe(false);
    expect(JSON.stringify([pad.entries, pad.texts])).not.toContain('2580');
  });

  it('cancels on the pad when the caller aborts, and rejects with the signal reason', async () => {
    const { client, pad } = await rig();
    const ac = new AbortController();
    const pending = client.requestSealedCode(TXN, PROMPT, ac.signal);
    await pad.whenEntering();
    const reason = new PasserelleError('PIN_ENTRY_TIMEOUT', 'the sale gave up');
    ac.abort(reason);
    await expect(pending).rejects.toBe(reason);
    await eventually(() => pad.entries[0]?.outcome === 'cancelled-by-terminal', 'the CANCEL to reach the pad');
    expect(pad.state).toBe('idle');
  });

  it('rejects at once, sending nothing, when the signal is already aborted', async () => {
    const { client, cable } = await rig();
    const reason = new Error('already');
    await expect(client.requestSealedCode(TXN, PROMPT, AbortSignal.abort(reason))).rejects.toBe(reason);
    expect(recordingOf(cable.terminal)).toHaveLength(0);
  });

  it('cancel() from the terminal rejects the entry with PIN_ENTRY_CANCELLED', async () => {
    const { client, pad } = await rig();
    // Handled from the start: the rejection may come while the test awaits something else.
    const pending = rejection(client.requestSealedCode(TXN, PROMPT, new AbortController().signal));
    await pad.whenEntering();
    await client.cancel();
    expect((await pending).code).toBe('PIN_ENTRY_CANCELLED');
    expect(pad.entries[0]?.outcome).toBe('cancelled-by-terminal');
  });

  it('turns the red key on the pad into PIN_ENTRY_CANCELLED', async () => {
    const { client, pad } = await rig();
    pad.pressCancel();
    expect((await rejection(client.requestSealedCode(TXN, PROMPT, new AbortController().signal))).code).toBe('PIN_ENTRY_CANCELLED');
    expect(pad.entries[0]?.outcome).toBe('cancelled');
  });

  it("turns the pad's timeout into PIN_ENTRY_TIMEOUT", async () => {
    const { client, pad } = await rig();
    // Handled from the start: the rejection may come while the test awaits something else.
    const pending = rejection(client.requestSealedCode(TXN, PROMPT, new AbortController().signal));
    await pad.whenEntering();
    pad.letTimeOut();
    expect((await pending).code).toBe('PIN_ENTRY_TIMEOUT');
  });

  it('refuses a second entry while one is under way', async () => {
    const { client, pad } = await rig();
    const first = client.requestSealedCode(TXN, PROMPT, new AbortController().signal);
    await pad.whenEntering();
    const err = await rejection(client.requestSealedCode(OTHER_TXN, PROMPT, new AbortController().signal));
    expect(err).toMatchObject({ code: 'PAD_ERROR', details: { status: 'busy' } });
    pad.type('1111');
    await first;
  });

  it('a pad busy with an entry NAKs SHOW_TEXT with busy', async () => {
    const { client, pad } = await rig();
    const pending = client.requestSealedCode(TXN, PROMPT, new AbortController().signal);
    await pad.whenEntering();
    expect(await rejection(client.showText(['Autre chose']))).toMatchObject({ code: 'PAD_ERROR', details: { status: 'busy', command: 'SHOW_TEXT' } });
    pad.type('1111');
    await pending;
  });
});

describe('SerialPinPad on a faulty line', () => {
  it('resends the same frame when a reply is lost, and the pad does not run the command twice', async () => {
    const { client, pad, cable } = await rig();
    pad.dropNextReplies(1);
    await client.beep(1, 100);
    const sent = framesIn(recordingOf(cable.terminal));
    expect(sent).toEqual([
      { type: 'BEEP', seq: 1, count: 1, durationMs: 100 },
      { type: 'BEEP', seq: 1, count: 1, durationMs: 100 },
    ]);
    expect(pad.beeps).toHaveLength(1);
    expect(client.stats.retries).toBe(1);
  });

  it('resends when a reply arrives corrupted, and counts the bad CRC', async () => {
    const { client, pad } = await rig();
    pad.corruptNextReply();
    expect((await client.status()).state).toBe('idle');
    expect(client.stats).toMatchObject({ badCrc: 1, retries: 1 });
  });

  it('gives PAD_UNAVAILABLE after the retries when the pad is silent', async () => {
    const { client, pad, cable } = await rig();
    pad.silence(true);
    const err = await rejection(client.status());
    expect(err.code).toBe('PAD_UNAVAILABLE');
    expect(framesIn(recordingOf(cable.terminal))).toHaveLength(3);
    // The pad answers again once it wakes up.
    pad.silence(false);
    expect((await client.status()).state).toBe('idle');
  });

  it('skips garbage between frames and counts it', async () => {
    const errors: PasserelleError[] = [];
    const { client, pad } = await rig({}, { onFrameError: (e) => errors.push(e) });
    pad.sendGarbage(Buffer.from([0xff, 0x00, 0x13, 0x37]));
    expect((await client.status()).state).toBe('idle');
    pad.sendGarbage(Buffer.from('bruit sur la ligne'));
    await client.showText(['Toujours là']);
    expect(client.stats.garbageBytes).toBeGreaterThanOrEqual(4 + 18);
    expect(errors.length).toBeGreaterThan(0);
    expect(errors.every((e) => e.code === 'PAD_FRAME_INVALID' && e.details?.['reason'] === 'garbage')).toBe(true);
  });

  it('recovers from a stray STX with a plausible length that swallows a reply', async () => {
    const { client, pad } = await rig();
    // 0x01F0 announces 496 bytes: the next reply disappears into this would-be frame until a silence ends it.
    pad.sendGarbage(Buffer.from([0x02, 0x01, 0xf0]));
    expect((await client.status()).state).toBe('idle');
    expect(client.stats.truncated + client.stats.badCrc).toBeGreaterThan(0);
  });

  it('does not restart the entry when REQUEST_PIN is resent after a lost ACK', async () => {
    const { client, pad, cable, gateway } = await rig();
    pad.dropNextReplies(1);
    const pending = client.requestSealedCode(TXN, PROMPT, new AbortController().signal);
    await eventually(() => framesIn(recordingOf(cable.terminal)).filter((m) => m.type === 'REQUEST_PIN').length === 2, 'the resent REQUEST_PIN');
    await eventually(() => client.stats.framesOut >= 2 && pad.sent.filter((r) => r.message.type === 'ACK').length >= 1, 'the second ACK');
    expect(pad.entries).toHaveLength(1);
    const requests = framesIn(recordingOf(cable.terminal)).filter((m) => m.type === 'REQUEST_PIN');
    expect(requests.map((m) => m.seq)).toEqual([1, 1]);
    pad.type('0000');
    expect(openPin(await pending, TXN, gateway.secretKey)).toBe('0000');
  });

  it('gets the result when the pad repeats a PIN_RESULT that was lost', async () => {
    const { client, pad, gateway } = await rig();
    const pending = client.requestSealedCode(TXN, PROMPT, new AbortController().signal);
    await pad.whenEntering();
    pad.dropNextReplies(1);
    pad.type('9876');
    expect(openPin(await pending, TXN, gateway.secretKey)).toBe('9876');
    const results = pad.sent.filter((r) => r.message.type === 'PIN_RESULT');
    expect(results.map((r) => r.fault)).toEqual(['dropped', undefined]);
  });

  it('ignores (and ACKs) a result for another seq, and a late repeat of a finished one', async () => {
    const { client, pad, cable, gateway } = await rig();
    const pending = client.requestSealedCode(TXN, PROMPT, new AbortController().signal);
    await pad.whenEntering();
    const stray = encodeFrame(encodeMessage({ type: 'PIN_RESULT', seq: 200, outcome: 'cancelled' }));
    cable.terminal.port?.emitData(stray);
    await eventually(() => pad.received.some((r) => r.message.type === 'ACK' && r.message.seq === 200), 'the ACK of the stray result');
    expect(client.stats.strayEvents).toBe(1);
    pad.type('1357');
    const block = await pending;
    expect(openPin(block, TXN, gateway.secretKey)).toBe('1357');
    // The same result again, as a pad whose ACK was lost would send it: ignored, acknowledged again.
    const late = encodeFrame(encodeMessage({ type: 'PIN_RESULT', seq: 1, outcome: 'sealed', block: Buffer.from(block, 'base64url') }));
    cable.terminal.port?.emitData(late);
    await eventually(() => client.stats.strayEvents === 2, 'the late result to be counted');
    expect((await client.status()).state).toBe('idle');
  });

  it('notices a pad that freezes during the entry (heartbeat) and gives PAD_UNAVAILABLE', async () => {
    const { client, pad } = await rig();
    // Handled from the start: the rejection may come while the test awaits something else.
    const pending = rejection(client.requestSealedCode(TXN, PROMPT, new AbortController().signal));
    await pad.whenEntering();
    pad.silence(true);
    expect((await pending).code).toBe('PAD_UNAVAILABLE');
  });

  it('gives PAD_UNAVAILABLE when the pad gives up reporting and goes idle', async () => {
    const { client, pad } = await rig({ eventRetries: 1 });
    // Handled from the start: the rejection may come while the test awaits something else.
    const pending = rejection(client.requestSealedCode(TXN, PROMPT, new AbortController().signal));
    await pad.whenEntering();
    pad.dropNextReplies(2);
    pad.type('2468');
    const err = await pending;
    expect(err.code).toBe('PAD_UNAVAILABLE');
    expect(err.message).toMatch(/idle/);
  });

  it('rejects everything pending with PAD_UNAVAILABLE when the port closes, and every later call at once', async () => {
    const { client, pad, cable } = await rig();
    // Handled from the start: the rejection may come while the test awaits something else.
    const pending = rejection(client.requestSealedCode(TXN, PROMPT, new AbortController().signal));
    await pad.whenEntering();
    await closePort(cable.terminal);
    expect((await pending).code).toBe('PAD_UNAVAILABLE');
    expect((await rejection(client.status())).code).toBe('PAD_UNAVAILABLE');
    expect(client.closed).toBe(true);
  });

  it('bounds the commands waiting behind the one in flight', async () => {
    const { client, pad } = await rig({}, { maxQueuedCommands: 2 });
    pad.silence(true);
    const calls = [client.beep(), client.beep(), client.beep()];
    const results = await Promise.allSettled(calls);
    const codes = results.map((r) => (r.status === 'rejected' && isPasserelleError(r.reason) ? r.reason.code : 'ok'));
    expect(codes).toEqual(['PAD_UNAVAILABLE', 'PAD_UNAVAILABLE', 'PAD_UNAVAILABLE']);
    expect((await rejection(calls[2] as Promise<void>)).message).toMatch(/already waiting/);
  });
});

describe('SerialPinPad against the bare mock binding', () => {
  it('sends frames the pad can parse and resends them identically, then gives up', async () => {
    const path = `/dev/mock-bare-${process.pid}`;
    SerialPortMock.binding.createPort(path, { echo: false, record: true });
    const port = new SerialPortMock({ path, baudRate: 115200 });
    const client = new SerialPinPad(port, FAST);
    try {
      const err = await rejection(client.status());
      expect(err.code).toBe('PAD_UNAVAILABLE');
      const recording = recordingOf(port);
      const single = encodeFrame(encodeMessage({ type: 'STATUS', seq: 1 }));
      expect(recording.equals(Buffer.concat([single, single, single]))).toBe(true);
    } finally {
      client.close();
      await closePort(port);
    }
  });

  it('answers a reply typed in by hand with emitData', async () => {
    const path = `/dev/mock-hand-${process.pid}`;
    SerialPortMock.binding.createPort(path, { echo: false, record: true });
    const port = new SerialPortMock({ path, baudRate: 115200 });
    const client = new SerialPinPad(port, { ...FAST, replyTimeoutMs: 500, interByteTimeoutMs: 100 });
    try {
      const pending = client.showText(['Salut']);
      await eventually(() => recordingOf(port).length > 0, 'the SHOW_TEXT frame');
      port.port?.emitData(Buffer.concat([Buffer.from([0x00]), encodeFrame(encodeMessage({ type: 'ACK', seq: 1, forType: MSG.SHOW_TEXT }))]));
      await pending;
      expect(client.stats).toMatchObject({ frames: 1, garbageBytes: 1, retries: 0 });
    } finally {
      client.close();
      await closePort(port);
    }
  });
});

describe('SimPadDevice', () => {
  it('NAKs an unknown command with unknown-command and a malformed one with bad-argument, naming their seq', async () => {
    const { pad, cable } = await rig();
    cable.terminal.write(encodeFrame(Uint8Array.from([7, 0x7f])));
    cable.terminal.write(encodeFrame(Uint8Array.from([8, MSG.BEEP, 0])));
    await eventually(() => pad.sent.length === 2, 'two NAKs');
    expect(pad.sent.map((r) => r.message)).toEqual([
      { type: 'NAK', seq: 7, forType: 0x7f, status: 'unknown-command' },
      { type: 'NAK', seq: 8, forType: MSG.BEEP, status: 'bad-argument' },
    ]);
    expect(pad.invalidMessages).toBe(2);
  });

  it('reports entering during an entry, and records no code, only that one was sealed', async () => {
    const { client, pad } = await rig();
    const pending = client.requestSealedCode(TXN, PROMPT, new AbortController().signal);
    await pad.whenEntering();
    expect((await client.status()).state).toBe('entering');
    pad.type('8642');
    await pending;
    expect(JSON.stringify({ entries: pad.entries, received: pad.received, texts: pad.texts })).not.toContain('8642');
    expect(pad.entries[0]?.outcome).toBe('sealed');
  });
});
