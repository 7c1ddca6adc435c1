import { Type, type TProperties } from '@sinclair/typebox';
import { BENEFIT_CODES, PARTNER_TYPE_CODES, type Benefit as BenefitCode, type PartnerType as PartnerTypeCode } from '../../protocol/benefits.ts';
import { CARD_NUMBER_PATTERN } from '../../protocol/card.ts';
import { CARD_REF_PATTERN } from '../card-refs.ts';
import { TERMINAL_ID_PATTERN } from '../../protocol/topics.ts';
import { CAMPAIGN_PATTERN } from '../campaigns.ts';
import type { ApiRole } from '../ledger/ledger.ts';

/**
 * The TypeBox building blocks of the admin API's request and response schemas. Every object is closed
 * (`additionalProperties: false`): a request with an unknown field (a `pin`, say) is refused instead of
 * being silently ignored, and a response can only carry what its schema names.
 */

/** One of a list of strings, as a plain `enum` (clearer in OpenAPI and in refusals than a union of constants). */
export const literals = <T extends string>(values: readonly T[], description?: string) =>
  Type.Unsafe<T>({ type: 'string', enum: [...values], ...(description === undefined ? {} : { description }) });

/** A closed object. */
export const Obj = <T extends TProperties>(props: T, description?: string) =>
  Type.Object(props, { additionalProperties: false, ...(description === undefined ? {} : { description }) });

export const CardNumber = Type.String({ pattern: CARD_NUMBER_PATTERN, description: '16-digit card number (Luhn-checked by the ledger)' });
/** A card route's `{cardNumber}`: the number, or the reference the card search gave (gateway/card-refs.ts). */
export const CardNumberOrRef = Type.String({
  pattern: `^(?:${CARD_NUMBER_PATTERN.slice(1, -1)}|${CARD_REF_PATTERN.slice(1, -1)})$`,
  description: "16-digit card number, or the card's reference from the card search (C and 22 characters)",
});
/** What a response shows of a card number: `1000********0017`. */
export const MaskedCard = Type.String({ description: 'Masked card number: the first four and last four digits' });
export const CampaignId = Type.String({ pattern: CAMPAIGN_PATTERN, description: 'Campaign (school year), e.g. 2022-2023' });
/**
 * Partner ids are upper-case, at most 24 characters: statement ids and SEPA references are built from
 * them and a SEPA end-to-end id holds 35 characters at most.
 */
export const PartnerId = Type.String({ pattern: '^[A-Z0-9][A-Z0-9-]{1,23}$', description: 'Partner id, e.g. P-LIB-LYON' });
/** A device's id; `WEB-…` ids belong to the partners' web counter (gateway/ledger/registry.ts) and are never registered nor enrolled. */
export const TerminalId = Type.String({ pattern: `^(?!WEB-)${TERMINAL_ID_PATTERN.slice(1)}`, description: 'Terminal id, e.g. T-LIB-LYON-01 (not starting with WEB-)' });
export const TxnId = Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9:-]{0,79}$', description: 'Transaction id of a sale (a UUID, or `<groupId>:<n>` for a group line)' });
export const GroupId = Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9-]{0,39}$', description: 'Group sale id, minted by the caller; repeating it returns the original lines' });
export const StatementId = Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9-]{0,63}$', description: 'Statement id' });
export const IsoDate = Type.String({ pattern: '^[0-9]{4}-[0-9]{2}-[0-9]{2}$', description: 'Local date (Europe/Paris), YYYY-MM-DD' });
export const Timestamp = Type.String({ format: 'date-time', description: 'Instant, ISO 8601 in UTC' });
export const Benefit = literals<BenefitCode>(BENEFIT_CODES, 'Benefit code');
export const PartnerType = literals<PartnerTypeCode>(PARTNER_TYPE_CODES, 'Partnership type (R10)');
export const Unit = literals(['cent', 'entry'] as const, 'cent: money in cents; entry: cinema or museum entries');
export const Role = literals<ApiRole>(['operator', 'technician', 'partner']);
export const Text = (maxLength: number, description: string) => Type.String({ minLength: 1, maxLength, description });
/** An amount in its unit, with the same amount as a French reader sees it (`12,50 €`, `3 entrées`). */
export const Amount = { amount: Type.Integer(), amountText: Type.String({ description: 'French rendering, e.g. 12,50 € or 3 entrées' }) };

export const NoContent = Type.Null({ description: 'No content' });

/** An OpenAPI response that is a file rather than JSON (CSV, XML). */
export const FileResponse = (mediaType: string, description: string) => ({
  description,
  content: { [mediaType]: { schema: Type.String({ description }) } },
});

/** OpenAPI metadata common to every authenticated route. */
export function meta(tag: string, summary: string, description?: string) {
  return { tags: [tag], summary, ...(description === undefined ? {} : { description }), security: [{ bearerAuth: [] }] };
}
