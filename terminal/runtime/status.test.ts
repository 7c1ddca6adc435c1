import { describe, expect, it } from 'vitest';
import type { LinkRefusal } from '../link.ts';
import type { OutboxStats } from '../outbox-store.ts';
import { screens, type Screen } from '../screens.ts';
import { StatusBar } from './status.ts';

/** The status bar over a link and an outbox reduced to what it reads. */

function bar() {
  const world = { up: true, refusal: undefined as LinkRefusal | undefined, idle: true, pending: 0, shown: [] as Screen[] };
  const stats = (): OutboxStats => ({ pending: world.pending, oldestPendingAt: world.pending ? 0 : null, offlinePending: 0, offlinePendingCents: 0 });
  const status = new StatusBar({
    link: { isUp: () => world.up, refusal: () => world.refusal },
    outbox: { stats },
    display: { show: (s) => world.shown.push(s) },
    clock: { now: () => 30_000 },
    idle: () => world.idle,
  });
  return { world, status };
}

describe('StatusBar', () => {
  it('tells the link: down, refused by the broker, up, or up with the gateway silent until it answers', () => {
    const { world, status } = bar();
    expect(status.linkStatus()).toEqual({ state: 'online' });
    status.gatewayWentSilent();
    expect([status.gatewaySilent, status.linkStatus()]).toEqual([true, { state: 'silent' }]);
    world.up = false;
    expect(status.linkStatus()).toEqual({ state: 'offline' });
    world.refusal = { code: 'LINK_NOT_AUTHORIZED', returnCode: 5, reason: 'not authorized', at: 0 };
    expect(status.linkStatus()).toEqual({ state: 'refused', code: 'LINK_NOT_AUTHORIZED' });
    world.up = true;
    expect(status.gatewayAnswered()).toBe(true);
    expect(status.gatewayAnswered()).toBe(false);
    expect(status.linkStatus()).toEqual({ state: 'online' });
  });

  it('draws every screen with the bar, and again when the bar changes: the idle screen, or the last one shown', () => {
    const { world, status } = bar();
    status.show(screens.idle());
    expect(world.shown.at(-1)?.footer).toBe('En ligne · aucune vente en attente');
    world.idle = false;
    status.show(screens.sending());
    status.changed();
    expect(world.shown).toHaveLength(2);
    world.up = false;
    world.pending = 1;
    status.changed();
    expect(world.shown.at(-1)).toEqual({ ...screens.sending(), footer: "HORS LIGNE · 1 en attente d'envoi (la plus ancienne depuis moins d'une minute)" });
    world.idle = true;
    status.changed();
    expect(world.shown.at(-1)?.lines).toEqual(screens.idle().lines);
  });
});
