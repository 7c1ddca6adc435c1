import { Type } from '@sinclair/typebox';
import { defaultWindows, type BenefitWindow } from '../../campaigns.ts';
import { allow } from '../auth.ts';
import type { Api, ApiDeps } from '../deps.ts';
import { ERRORS } from '../errors.ts';
import { Benefit, CampaignId, IsoDate, meta, Obj } from '../schemas.ts';
import { CampaignView, campaignView } from '../views.ts';

import { sweepExpired } from '../../expiry.ts';

/** Campaigns (R6–R8) and the expiry run (R7): the Region's calendar. */

const WindowIn = Type.Union([
  Obj({ benefit: Benefit, from: IsoDate, to: IsoDate }, 'Usable from the first local day to the last, both included'),
  Obj({ benefit: Benefit, months: Type.Integer({ minimum: 1, maximum: 120 }) }, 'Usable this many months from its loading'),
]);

const NewCampaign = Obj({
  id: CampaignId,
  windows: Type.Optional(Type.Array(WindowIn, { minItems: 1, description: 'Defaults to the 2022/2023 windows of source 003 carried to this campaign' })),
});

const ExpiryView = Obj({
  at: Type.String({ format: 'date-time' }),
  wallets: Type.Integer({ description: 'Wallets whose window had ended and were emptied' }),
  returned: Obj({ cent: Type.Integer(), entry: Type.Integer() }, 'What went back to the Region, per unit'),
});

export function campaignRoutes(api: Api, { ledger, now }: ApiDeps): void {
  api.get(
    '/campaigns',
    { config: allow('operator'), schema: { ...meta('campaigns', 'List the campaigns and their validity windows'), response: { 200: Obj({ campaigns: Type.Array(CampaignView) }), ...ERRORS } } },
    async () => ({ campaigns: (await ledger.campaigns()).map(campaignView) }),
  );

  api.post(
    '/campaigns',
    { config: allow('operator'), schema: { ...meta('campaigns', 'Create a campaign'), body: NewCampaign, response: { 201: CampaignView, ...ERRORS } } },
    async (req, reply) => {
      const windows: readonly BenefitWindow[] = req.body.windows ?? defaultWindows(req.body.id);
      const def = { id: req.body.id, windows };
      await ledger.addCampaign(def);
      return reply.code(201).send(campaignView(def));
    },
  );

  api.post(
    '/expiry-runs',
    {
      config: allow('operator'),
      schema: { ...meta('campaigns', 'Return the unspent value of every ended wallet to the Region (R7)'), response: { 200: ExpiryView, ...ERRORS } },
    },
    async () => {
      const at = now();
      const r = await sweepExpired(ledger, at);
      return { at: new Date(at).toISOString(), wallets: r.wallets, returned: r.returned };
    },
  );
}
