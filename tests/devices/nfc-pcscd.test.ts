import { spawn } from 'node:child_process';
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { PcscContactlessReader } from '../../terminal/devices/pcsc.ts';
import { contactlessContract, expectNextCardWorks, mirror, mirrorCard, presentAndWait, rejectionCode, type ContactlessHarness, type ContractCard } from '../../terminal/devices/contactless.contract.ts';
import { VpcdCard } from '../../simulators/vpcd-card.ts';
import { startPcscd, VPCD_READER_NAME, waitUntil, type Pcscd } from '../helpers/pcscd.ts';

/**
 * The PC/SC reader for real: a private pcscd (tests/helpers/pcscd.ts) with vsmartcard's virtual reader,
 * and cards emulated in Node speaking the vpcd protocol. Nothing is skipped: without pcscd or the vpcd
 * driver, these tests fail and say what to install.
 *
 * pcscd polls the virtual reader every 400 ms, so a card is seen 0.1–0.8 s after it enters or leaves the
 * field; the timings below leave room for that on a busy two-core machine and assert no speed.
 */

const TIMING = { timeoutMs: 4000, slowTimeoutMs: 400, slowDelayMs: 2500, noticeMs: 5000 };
const READY_MS = 10_000;

/** The world around the PC/SC reader: pcscd as the reader's power, VpcdCards as the cards. */
class PcscdHarness implements ContactlessHarness {
  readonly timing = TIMING;
  readonly reader: PcscContactlessReader;
  readonly pcscd: Pcscd;
  readonly cards: VpcdCard[] = [];
  readonly #others: PcscContactlessReader[] = [];

  private constructor(pcscd: Pcscd) {
    this.pcscd = pcscd;
    this.reader = new PcscContactlessReader({ reconnectMaxMs: 500 });
  }

  static async start(): Promise<PcscdHarness> {
    const pcscd = await startPcscd();
    console.log(`[devices] NFC tests against real pcscd ${pcscd.version} with vsmartcard-vpcd on 127.0.0.1:${pcscd.vpcdPort}`);
    const h = new PcscdHarness(pcscd);
    await h.#waitForReader();
    return h;
  }

  get card(): VpcdCard | undefined {
    return this.cards.at(-1);
  }

  async present(card: ContractCard, o: { uid?: boolean } = {}): Promise<void> {
    await this.remove();
    const vpcd = new VpcdCard({ port: this.pcscd.vpcdPort, uid: o.uid === false ? undefined : card.uid, handler: (apdu) => card.handle(apdu) });
    this.cards.push(vpcd);
    await vpcd.insert();
  }

  async remove(): Promise<void> {
    await this.card?.remove();
    // The next card must be a new arrival for PC/SC, so wait until the reader has seen this one go.
    await waitUntil(() => !this.reader.cardPresent(VPCD_READER_NAME), TIMING.noticeMs, 'the reader to see the card leave');
  }

  removeDuringNextApdu(): void {
    this.card?.inject({ kind: 'drop' });
  }

  answerNextAfter(ms: number): void {
    this.card?.inject({ kind: 'delay', ms });
  }

  async unplug(): Promise<void> {
    await this.pcscd.stop('SIGTERM');
  }

  async plug(): Promise<void> {
    if (!this.pcscd.running) await this.pcscd.start();
    await this.#waitForReader();
  }

  received(): Buffer[] {
    // The UID pseudo-APDU (class FF) is for the reader, not the card.
    return this.cards.flatMap((c) => c.received).filter((a) => a[0] !== 0xff);
  }

  async openAnother(): Promise<PcscContactlessReader> {
    const other = new PcscContactlessReader();
    this.#others.push(other);
    await waitUntil(() => other.readers().includes(VPCD_READER_NAME), READY_MS, 'a second PC/SC context to list the reader');
    return other;
  }

  /** The contract suite closes its harness; this one is shared by the whole file, which disposes of it. */
  async close(): Promise<void> {}

  async dispose(): Promise<void> {
    try {
      await Promise.all(this.cards.map((c) => c.remove()));
      await Promise.all([this.reader, ...this.#others].map((r) => r.close()));
    } finally {
      await this.pcscd.dispose();
    }
  }

  async #waitForReader(): Promise<void> {
    await waitUntil(() => this.reader.readers().includes(VPCD_READER_NAME), READY_MS, `the reader to list ${VPCD_READER_NAME}:\n${this.pcscd.log()}`);
  }
}

// One pcscd for the whole file: started by whichever suite runs first, stopped after the last.
let shared: Promise<PcscdHarness> | undefined;
const harness = (): Promise<PcscdHarness> => (shared ??= PcscdHarness.start());
afterAll(async () => {
  await (await shared?.catch(() => undefined))?.dispose();
});

contactlessContract('PC/SC (nfc-pcsc) over a private pcscd with vsmartcard-vpcd', harness);

describe('PcscContactlessReader against a private pcscd', () => {
  let h: PcscdHarness;
  beforeAll(async () => {
    h = await harness();
  });
  // Whatever a test did to pcscd or the field (even when it failed), the next one starts from a running
  // pcscd and an empty field.
  afterEach(async () => {
    await h.plug();
    await h.remove();
  });

  const READ = Buffer.from('80ca000100', 'hex');

  it('pcscd killed during an exchange: NFC_READER_UNAVAILABLE at once; when it restarts the reader recovers by itself', async () => {
    const s = await presentAndWait(h, mirrorCard('04000000000101'));
    h.answerNextAfter(TIMING.slowDelayMs);
    const apdu = Buffer.from('00b0000c0d', 'hex'); // sent by no other test
    const pending = rejectionCode(s.transmit(apdu, TIMING.timeoutMs));
    await expect.poll(() => h.received().some((a) => a.equals(apdu)), { timeout: TIMING.noticeMs }).toBe(true);
    await h.pcscd.stop('SIGKILL');
    expect(await pending).toBe('NFC_READER_UNAVAILABLE');
    expect(s.gone.aborted).toBe(true);
    await expect.poll(() => h.reader.readers(), { timeout: TIMING.noticeMs }).toEqual([]);
    // The emulated card lost its link with the reader too.
    await expect.poll(() => h.card?.inserted, { timeout: TIMING.noticeMs }).toBe(false);
    const waiting = h.reader.waitForCard(AbortSignal.timeout(READY_MS * 2));
    waiting.catch(() => {});
    await h.pcscd.start();
    await waitUntil(() => h.reader.readers().includes(VPCD_READER_NAME), READY_MS, 'the reader to come back');
    await h.present(mirrorCard('04000000000102'));
    const next = await waiting;
    expect(next.uid).toBe('04000000000102');
    expect(await next.transmit(READ, TIMING.timeoutMs)).toEqual(mirror(READ));
  });

  it('passes a card answer through untouched (judging it is the card application’s job), but one too short for a status word is CARD_READ_FAILED', async () => {
    const s = await presentAndWait(h, mirrorCard('04000000000103'));
    h.card!.inject({ kind: 'garbage', bytes: Buffer.from('0badc0de', 'hex') });
    expect(await s.transmit(READ, TIMING.timeoutMs)).toEqual(Buffer.from('0badc0de', 'hex'));
    h.card!.inject({ kind: 'garbage', bytes: Buffer.from([0x61]) });
    expect(await rejectionCode(s.transmit(READ, TIMING.timeoutMs))).toBe('CARD_READ_FAILED');
    expect(s.gone.aborted).toBe(false);
    expect(await s.transmit(READ, TIMING.timeoutMs)).toEqual(mirror(READ));
  });

  it('a card that does not answer the UID pseudo-APDU is delivered with uid ""', async () => {
    const waiting = h.reader.waitForCard(AbortSignal.timeout(TIMING.noticeMs));
    waiting.catch(() => {});
    await h.present({ uid: '04000000000104', handle: (apdu) => (apdu[0] === 0xff ? Buffer.from('6e00', 'hex') : mirror(apdu)) }, { uid: false });
    const s = await waiting;
    expect(s.uid).toBe('');
    expect(await s.transmit(READ, TIMING.timeoutMs)).toEqual(mirror(READ));
    await h.remove();
    await expectNextCardWorks(h);
  });

  it('close() releases every native handle: a process that used the reader exits by itself', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pcsc-exit-'));
    try {
      const script = join(dir, 'use-reader.mts');
      const pcscUrl = pathToFileURL(join(import.meta.dirname, '../../terminal/devices/pcsc.ts')).href;
      writeFileSync(script, childScript(pcscUrl));
      await h.present(mirrorCard('04000000000105'));
      const child = spawn(process.execPath, ['--import', 'tsx', script], { stdio: ['ignore', 'pipe', 'pipe'], env: process.env });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (out += d.toString()));
      const code = await new Promise<number | string>((resolve) => {
        const timer = setTimeout(() => {
          child.kill('SIGKILL');
          resolve('still running 15 s later: a handle leaked');
        }, 15_000);
        child.once('exit', (c) => {
          clearTimeout(timer);
          resolve(c ?? 'killed');
        });
      });
      expect({ code, out: out.trim() }).toEqual({ code: 0, out: `card 04000000000105 answered ${mirror(READ).toString('hex')}; closed` });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 30_000);
});

/**
 * A process that finds the card already in the field when its reader starts, talks to it, closes the
 * reader, and must then exit on its own (it sets no exit code and calls no process.exit).
 */
function childScript(pcscUrl: string): string {
  return `
import { PcscContactlessReader } from ${JSON.stringify(pcscUrl)};
const reader = new PcscContactlessReader();
const session = await reader.waitForCard(AbortSignal.timeout(10000));
const answer = await session.transmit(Buffer.from('80ca000100', 'hex'), 4000);
await reader.close();
console.log('card ' + session.uid + ' answered ' + answer.toString('hex') + '; closed');
`;
}
