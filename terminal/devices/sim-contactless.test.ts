import { describe, expect, it } from 'vitest';
import { contactlessContract, mirror, mirrorCard, rejectionCode, type ContactlessHarness } from './contactless.contract.ts';
import { SimContactlessReader } from './sim-contactless.ts';

function simHarness(): ContactlessHarness {
  const sim = new SimContactlessReader();
  return {
    reader: sim,
    // Nothing here polls, so the timings are only as long as timer jitter on a busy machine requires.
    timing: { timeoutMs: 1000, slowTimeoutMs: 30, slowDelayMs: 400, noticeMs: 1000 },
    present: async (card) => sim.present(card),
    remove: async () => sim.remove(),
    removeDuringNextApdu: () => sim.inject({ kind: 'remove' }),
    answerNextAfter: (ms) => sim.inject({ kind: 'delay', ms }),
    unplug: async () => {
      sim.unplug();
      sim.remove();
    },
    plug: async () => sim.plug(),
    received: () => sim.received,
    openAnother: async () => new SimContactlessReader(),
    close: () => sim.close(),
  };
}

contactlessContract('simulated reader', async () => simHarness());

describe('SimContactlessReader', () => {
  const READ = Buffer.from('80ca000100', 'hex');

  it('records each exchange, including the APDU a card took before it left', async () => {
    const sim = new SimContactlessReader();
    const waiting = sim.waitForCard(new AbortController().signal);
    sim.present(mirrorCard('04aa'));
    const s = await waiting;
    await s.transmit(READ, 1000);
    sim.inject({ kind: 'remove' });
    expect(await rejectionCode(s.transmit(Buffer.from('00b0000000', 'hex'), 1000))).toBe('CARD_REMOVED');
    expect(sim.received).toEqual([READ, Buffer.from('00b0000000', 'hex')]);
    expect(sim.exchanges).toEqual([
      { reader: sim.name, apdu: READ, response: mirror(READ) },
      { reader: sim.name, apdu: Buffer.from('00b0000000', 'hex'), response: null },
    ]);
    await sim.close();
  });

  it('a plugged-in reader sees the card already in its field, as a real one does', async () => {
    const sim = new SimContactlessReader({ plugged: false });
    expect(sim.readers()).toEqual([]);
    sim.present(mirrorCard('04bb'));
    const waiting = sim.waitForCard(new AbortController().signal);
    sim.plug();
    expect((await waiting).uid).toBe('04bb');
    await sim.close();
  });

  it('a card presented while nobody waits is not delivered until it is presented again', async () => {
    const sim = new SimContactlessReader();
    sim.present(mirrorCard('04cc'));
    const waiting = sim.waitForCard(AbortSignal.timeout(50));
    expect(await rejectionCode(waiting)).toMatch(/^other: .*TimeoutError/);
    const again = sim.waitForCard(new AbortController().signal);
    sim.present(mirrorCard('04cc'));
    expect((await again).uid).toBe('04cc');
    await sim.close();
  });

  it('a response without a status word, or a card that throws, is CARD_READ_FAILED', async () => {
    const sim = new SimContactlessReader();
    let answer: () => Buffer = () => Buffer.from([0x90]);
    const waiting = sim.waitForCard(new AbortController().signal);
    sim.present({ uid: '04dd', handle: () => answer() });
    const s = await waiting;
    expect(await rejectionCode(s.transmit(READ, 1000))).toBe('CARD_READ_FAILED');
    answer = () => {
      throw new Error('antenna fault');
    };
    expect(await rejectionCode(s.transmit(READ, 1000))).toBe('CARD_READ_FAILED');
    expect(s.gone.aborted).toBe(false);
    await sim.close();
    expect(isGoneWith(s.gone, 'NFC_READER_UNAVAILABLE')).toBe(true);
  });

  it('a slow card set at presentation answers every exchange late', async () => {
    const sim = new SimContactlessReader();
    const waiting = sim.waitForCard(new AbortController().signal);
    sim.present(mirrorCard('04ee'), { delayMs: 300 });
    const s = await waiting;
    expect(await rejectionCode(s.transmit(READ, 20))).toBe('CARD_READ_FAILED');
    expect(await rejectionCode(s.transmit(READ, 20))).toBe('CARD_READ_FAILED');
    sim.remove();
    await sim.close();
  });

  it('bounds its queues: waiters and faults', () => {
    const sim = new SimContactlessReader({ waitersMax: 2 });
    const ac = new AbortController();
    void sim.waitForCard(ac.signal).catch(() => {});
    void sim.waitForCard(ac.signal).catch(() => {});
    expect(() => sim.waitForCard(ac.signal)).toThrow(/at most 2/);
    ac.abort();
    for (let i = 0; i < 64; i++) sim.inject({ kind: 'delay', ms: 1 });
    expect(() => sim.inject({ kind: 'delay', ms: 1 })).toThrow(/at most 64/);
  });
});

function isGoneWith(signal: AbortSignal, code: string): boolean {
  const reason: unknown = signal.reason;
  return signal.aborted && typeof reason === 'object' && reason !== null && (reason as { code?: unknown }).code === code;
}
