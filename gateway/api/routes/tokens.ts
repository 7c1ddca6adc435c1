import { Type } from '@sinclair/typebox';
import { PasserelleError } from '../../../protocol/errors.ts';
import { actorOf, allow } from '../auth.ts';
import type { Api, ApiDeps } from '../deps.ts';
import { ERRORS } from '../errors.ts';
import { meta, Obj, Text } from '../schemas.ts';
import { iso } from '../views.ts';
import { createApiToken, revokeApiToken, tokenId } from '../tokens.ts';

/**
 * API tokens (operator): the Region issues a token to each partner's staff and each technician, and
 * revokes it when they leave. A token is shown once, at creation; afterwards only its id (the first 16
 * hex digits of its hash) names it.
 */

const Role = Type.Union([Type.Literal('operator'), Type.Literal('technician'), Type.Literal('partner')]);
const TokenInfo = Obj({
  id: Type.String({ description: 'Names the token for revocation; not a secret' }),
  name: Type.String(),
  role: Role,
  partnerId: Type.Union([Type.String(), Type.Null()]),
  createdAt: Type.String({ format: 'date-time' }),
});
const NewToken = Obj({
  name: Text(80, 'Who holds it'),
  role: Role,
  partnerId: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: 'For a partner token: the partner it sees' })),
});
const TokenParams = Obj({ tokenId: Type.String({ pattern: '^[0-9a-f]{16}$' }) });

export function tokenRoutes(api: Api, { ledger, now }: ApiDeps): void {
  api.get(
    '/tokens',
    { config: allow('operator'), schema: { ...meta('tokens', 'Tokens in force (never the tokens themselves)'), response: { 200: Type.Array(TokenInfo), ...ERRORS } } },
    async () => (await ledger.apiTokens()).map((t) => ({ ...t, createdAt: iso(t.createdAt) })),
  );

  api.post(
    '/tokens',
    {
      config: allow('operator'),
      schema: { ...meta('tokens', 'Create a token; the response is the only time it is shown'), body: NewToken, response: { 201: Obj({ id: Type.String(), token: Type.String() }), ...ERRORS } },
    },
    async (req, reply) => {
      const token = await createApiToken(ledger, { ...req.body, actor: actorOf(req) }, now());
      return reply.code(201).send({ id: tokenId(token), token });
    },
  );

  api.delete(
    '/tokens/:tokenId',
    { config: allow('operator'), schema: { ...meta('tokens', 'Revoke a token: it is refused from the next request'), params: TokenParams, response: { 204: Type.Null(), ...ERRORS } } },
    async (req, reply) => {
      if (!await revokeApiToken(ledger, req.params.tokenId, now(), actorOf(req))) throw new PasserelleError('NOT_FOUND', `no token ${req.params.tokenId} in force`);
      return reply.code(204).send(null);
    },
  );
}
