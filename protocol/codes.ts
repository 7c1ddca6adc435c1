/**
 * The one table of outcome and error codes.
 *
 * Every operating error and every decline in Passerelle carries one of these codes. The string code is
 * the stable identifier (it travels on the wire and in logs); the number is for displays and receipts
 * that only have room for digits. Ranges group the codes by who raises them:
 *
 *   1xx  declines decided by the gateway's rules (the sale is refused; nothing is debited)
 *   2xx  requests rejected by the gateway before any rule runs (malformed, unauthenticated, conflicting)
 *   3xx  errors raised on the terminal (devices, the link, replies it cannot trust)
 *   4xx  errors raised while starting or running a process (config, ports, keys, storage)
 *   5xx  refusals of the admin and partner HTTP API and the operator's commands
 *
 * `docs/codes.md` is generated from this table (`passerelle codes --markdown`) and a test keeps them equal.
 */

export type CodeCategory = 'decline' | 'reject' | 'terminal' | 'process' | 'admin';

export interface CodeInfo {
  readonly num: number;
  readonly category: CodeCategory;
  /** What the display or the partner reads, in French. */
  readonly fr: string;
  /** What an operator or a developer reads, in English. */
  readonly en: string;
  /** True when sending the same request again later may succeed. */
  readonly retryable: boolean;
  /**
   * The HTTP status of an API answer with this code, where it differs from its category's (a decline 422,
   * a rejected request 400, anything else 500).
   */
  readonly http?: number;
}

const CATEGORY_HTTP: Readonly<Record<CodeCategory, number>> = { decline: 422, reject: 400, terminal: 500, process: 500, admin: 500 };

/** The HTTP status of an API answer carrying this code. */
export function httpStatusOf(code: Code): number {
  const c: CodeInfo = CODES[code];
  return c.http ?? CATEGORY_HTTP[c.category];
}

export const CODES = {
  // 1xx: declines (rules)
  CARD_UNKNOWN: { num: 101, category: 'decline', retryable: false, fr: 'Carte inconnue', en: 'No card with this number exists in the ledger.' },
  CARD_BLOCKED: { num: 102, category: 'decline', retryable: false, fr: 'Carte en opposition', en: 'The card is opposed (lost, stolen, broken or replaced); it may not be debited (R4).' },
  BENEFIT_NOT_ALLOWED: { num: 103, category: 'decline', retryable: false, fr: 'Avantage non autorisé pour ce partenaire', en: "The partner's type does not allow debiting this benefit (R10)." },
  NO_SUCH_BENEFIT: { num: 104, category: 'decline', retryable: false, fr: "Cette carte n'a pas cet avantage", en: 'The card holds no wallet for this benefit.' },
  BENEFIT_EXHAUSTED: { num: 105, category: 'decline', retryable: false, fr: 'Avantage épuisé', en: 'The wallet for this benefit is at zero; nothing can be taken (R9).' },
  PIN_REQUIRED: { num: 106, category: 'decline', retryable: false, fr: 'Code secret requis', en: 'A QR sale needs the secret code typed on the PIN pad (R2).' },
  PIN_INCORRECT: { num: 107, category: 'decline', retryable: false, fr: 'Code secret incorrect', en: 'The secret code does not match the one the youth set (R3).' },
  PIN_NOT_SET: { num: 108, category: 'decline', retryable: false, fr: "Code secret non défini : à créer dans l'espace personnel", en: 'The youth has not set a secret code yet, so no QR sale is possible (R3).' },
  TERMINAL_INACTIVE: { num: 109, category: 'decline', retryable: false, fr: 'Terminal désactivé', en: 'The terminal is known but deactivated; it may not debit.' },
  CONVENTION_INVALID: { num: 110, category: 'decline', retryable: false, fr: 'Convention de partenariat non valide à cette date', en: "The partner's convention does not cover the sale date (R10)." },
  BENEFIT_SUSPENDED: { num: 111, category: 'decline', retryable: false, fr: 'Avantage suspendu par la Région', en: 'The Region suspended this benefit (or all benefits) of the youth for the campaign (R5).' },
  BENEFIT_EXPIRED: { num: 112, category: 'decline', retryable: false, fr: 'Avantage expiré', en: "The benefit's validity window has ended; unspent value went back to the Region (R6, R7)." },
  BENEFIT_NOT_YET_VALID: { num: 113, category: 'decline', retryable: false, fr: "Avantage pas encore utilisable", en: "The benefit's validity window has not started yet (R6)." },
  PIN_LOCKED: { num: 114, category: 'decline', retryable: false, fr: 'Code secret bloqué après trop d’essais : contacter la Région', en: 'Wrong codes from several partners (nine from at least three, or thirty in all, since the last right one) locked the secret code; the Region unlocks it or the youth sets a new one (R3).' },
  GROUP_NOT_ALLOWED: { num: 115, category: 'decline', http: 422, retryable: false, fr: 'Avantage non utilisable pour un groupe', en: 'Group sales are for the shows and cinema benefits only, never first aid (R12).' },
  TXN_VOIDED: { num: 116, category: 'decline', retryable: false, fr: 'Vente annulée par le terminal', en: 'The terminal voided this request (no reply in time, or power cut before the result was shown); it is never applied.' },
  OFFLINE_POLICY_BREACH: { num: 117, category: 'decline', retryable: false, fr: 'Vente hors ligne hors des limites : non garantie', en: 'An offline sale broke the signed offline policy the terminal held (limit, stale hotlist, hotlisted card, unknown policy): it is settled by the rules alone, without the Region guarantee, and the breach is recorded.' },
  CARD_NOT_AUTHENTICATED: { num: 118, category: 'decline', retryable: false, fr: 'Carte non authentifiée : vente refusée', en: "An NFC sale without the card's valid signature of it: no key recorded for the card, a signature that does not verify with it, or a proof already used by another sale. No card was present for this sale." },
  PIN_TRIES_EXCEEDED: { num: 119, category: 'decline', retryable: false, fr: "Trop d'essais du code aujourd'hui : réessayer demain ou présenter la carte", en: 'Three wrong codes at this partner today, or six in all today: no more tries of the code until the next day (R3). The card (NFC) still works without a code.' },
  PIN_INCORRECT_BLOCKED: { num: 120, category: 'decline', retryable: false, fr: "Code secret incorrect, et trop d'essais : code bloqué jusqu'à demain (la carte sans contact reste utilisable)", en: 'A wrong code that was the last try allowed today: the third at this partner or the sixth in all today (R3). The youth learns at once that the code is stopped until the next day.' },
  PIN_INCORRECT_LOCKED: { num: 121, category: 'decline', retryable: false, fr: 'Code secret incorrect : code bloqué après trop d’essais, contacter la Région', en: 'A wrong code that locked the code (the ninth from three partners, or the thirtieth, since the last right one; R3): the Region unlocks it or the youth sets a new one.' },

  // 2xx: rejected requests (before any rule)
  BAD_FRAME: { num: 201, category: 'reject', retryable: false, fr: 'Message illisible', en: 'The MQTT payload is not a well-formed signed frame.' },
  BAD_SIGNATURE: { num: 202, category: 'reject', retryable: false, fr: 'Signature invalide', en: "The signature does not verify with the key registered for this terminal." },
  BAD_SCHEMA: { num: 203, category: 'reject', http: 400, retryable: false, fr: 'Message invalide', en: 'The message does not match its schema (a field is missing, mistyped or out of range).' },
  TXN_CONFLICT: { num: 204, category: 'reject', retryable: false, fr: 'Transaction en conflit', en: 'A request with this transaction id was already received with different content; the new one is refused and logged.' },
  TERMINAL_UNKNOWN: { num: 205, category: 'reject', retryable: false, fr: 'Terminal inconnu', en: 'No terminal with this id is registered with the gateway.' },
  TOPIC_MISMATCH: { num: 206, category: 'reject', retryable: false, fr: 'Terminal non conforme', en: 'The terminal id in the message differs from the one in the topic it was published on.' },
  UNIT_MISMATCH: { num: 207, category: 'reject', retryable: false, fr: 'Unité incorrecte', en: "The request's unit is not the benefit's unit (cents for money, entries for cinema)." },
  PIN_BLOCK_INVALID: { num: 208, category: 'reject', retryable: false, fr: 'Code secret illisible', en: 'The sealed PIN block cannot be opened with the gateway key, or was sealed for another transaction.' },
  UNSUPPORTED_VERSION: { num: 209, category: 'reject', retryable: false, fr: 'Version non prise en charge', en: 'The envelope carries a protocol version this gateway does not speak.' },
  CARD_NUMBER_INVALID: { num: 210, category: 'reject', http: 422, retryable: false, fr: 'Numéro de carte invalide', en: 'The card number is not 16 digits with a valid Luhn check digit.' },
  SEQ_CONFLICT: { num: 212, category: 'reject', retryable: false, fr: 'Numéro de séquence déjà utilisé', en: "A different record already holds this terminal's sequence number: the terminal's outbox was reset or altered. Refused and recorded as a chain break." },
  GATEWAY_BUSY: { num: 211, category: 'reject', http: 503, retryable: true, fr: 'Serveur occupé, nouvel essai', en: 'The gateway is at its queue limit; the terminal resends the same request later.' },
  RATE_LIMITED: { num: 213, category: 'reject', http: 429, retryable: true, fr: 'Trop de demandes : nouvel essai dans un instant', en: 'A terminal, a token or an address sent more requests than its limit allows; nothing was recorded. Send the same request again after the delay given (HTTP 429 with Retry-After; a terminal resends on its own schedule).' },

  // 3xx: terminal
  REPLY_BAD_SIGNATURE: { num: 301, category: 'terminal', retryable: true, fr: 'Réponse non authentique ignorée', en: "A reply did not verify with the gateway's key; it is ignored and the request stays pending." },
  REPLY_UNEXPECTED: { num: 302, category: 'terminal', retryable: false, fr: 'Réponse inattendue', en: 'A reply names a transaction this terminal has not got pending.' },
  NO_REPLY: { num: 303, category: 'terminal', retryable: true, fr: 'Pas de réponse du serveur : vente non faite', en: 'No reply arrived within the sale timeout and the sale could not be accepted offline: the terminal voids the request (a void record goes to the gateway) and the sale is refused.' },
  CARD_READ_FAILED: { num: 304, category: 'terminal', retryable: true, fr: 'Lecture de la carte impossible', en: 'The NFC reader could not read the card.' },
  QR_UNREADABLE: { num: 305, category: 'terminal', retryable: true, fr: 'QR code illisible', en: 'No QR code could be decoded from the frame.' },
  QR_PAYLOAD_INVALID: { num: 306, category: 'terminal', retryable: false, fr: "QR code non reconnu : ce n'est pas un Pass'Région", en: "The QR code decodes, but its content is not a Pass'Région credential." },
  PIN_ENTRY_CANCELLED: { num: 307, category: 'terminal', retryable: false, fr: 'Saisie du code annulée', en: 'The youth or the cashier cancelled the code entry.' },
  PIN_ENTRY_TIMEOUT: { num: 308, category: 'terminal', retryable: true, fr: 'Délai de saisie du code dépassé', en: 'No code was entered on the PIN pad within the timeout.' },
  AMOUNT_INVALID: { num: 309, category: 'terminal', http: 422, retryable: false, fr: 'Montant invalide', en: 'The amount is not a whole number of cents (or entries) within the allowed range.' },
  SALE_IN_PROGRESS: { num: 310, category: 'terminal', retryable: true, fr: 'Une vente est déjà en cours', en: 'A sale was started while another one is still in progress.' },
  OUTBOX_FULL: { num: 311, category: 'terminal', retryable: true, fr: "Trop de ventes en attente d'envoi", en: 'The outbox holds its maximum number of unsent requests; no new sale starts until some are acknowledged.' },
  SALE_CANCELLED: { num: 313, category: 'terminal', retryable: false, fr: 'Vente annulée', en: 'The cashier cancelled the sale before it was recorded; nothing was sent.' },
  OFFLINE_NO_POLICY: { num: 314, category: 'terminal', retryable: true, fr: 'Hors ligne : terminal sans règles hors ligne', en: 'The link is down and the terminal holds no valid signed offline policy (or the policy disables offline sales).' },
  OFFLINE_AMOUNT_LIMIT: { num: 315, category: 'terminal', retryable: false, fr: 'Hors ligne : montant trop élevé', en: 'The link is down and the amount exceeds the offline maximum per sale.' },
  OFFLINE_CARD_LIMIT: { num: 316, category: 'terminal', retryable: false, fr: 'Hors ligne : limite du jour atteinte pour cette carte', en: "The link is down and this card reached the offline count or amount allowed per day on this terminal." },
  OFFLINE_PENDING_LIMIT: { num: 317, category: 'terminal', retryable: true, fr: "Hors ligne : trop de ventes en attente d'envoi", en: 'The link is down and the offline sales waiting to be sent reached the total allowed per terminal.' },
  OFFLINE_TOO_LONG: { num: 318, category: 'terminal', retryable: true, fr: 'Hors ligne depuis trop longtemps', en: 'The terminal has had no contact with the gateway for longer than the offline policy allows.' },
  OFFLINE_HOTLIST_STALE: { num: 319, category: 'terminal', retryable: true, fr: 'Hors ligne : liste des cartes bloquées trop ancienne', en: 'The hotlist held by the terminal is older than the policy allows, so no offline sale is accepted.' },
  OFFLINE_CARD_HOTLISTED: { num: 320, category: 'terminal', retryable: false, fr: 'Carte refusée hors ligne', en: 'The card is on the hotlist (opposed, suspended or soft-blocked after an offline loss): no offline sale.' },
  OFFLINE_QR_REFUSED: { num: 321, category: 'terminal', retryable: true, fr: 'Hors ligne : QR code impossible, présentez la carte', en: 'QR sales need the secret code checked by the gateway, so they are never accepted offline.' },
  CLOCK_UNTRUSTED: { num: 322, category: 'terminal', retryable: true, fr: "Hors ligne : horloge du terminal à vérifier", en: "The terminal's clock differs from the gateway's signed time by more than the policy allows (or went back): no offline sale." },
  QUEUE_NOT_EMPTY: { num: 323, category: 'terminal', retryable: true, fr: "Mise à jour refusée : des ventes attendent d'être envoyées", en: 'The update waited (bounded) for the outbox to send every record and hear the gateway acknowledge it, and it did not: nothing was switched; the terminal sells again. Retry once the gateway is reachable.' },
  CARD_NOT_GENUINE: { num: 324, category: 'terminal', retryable: false, fr: 'Carte non authentique : refusée', en: "The card's credential is not signed by the Region's issuer key, or the card could not sign the terminal's challenge with the key of its credential (a copied card number or UID)." },
  CARD_EXPIRED: { num: 325, category: 'terminal', retryable: false, fr: 'Carte expirée', en: "The card's issuer-signed credential is past its expiry date." },
  CARD_NOT_PASS_REGION: { num: 326, category: 'terminal', retryable: false, fr: "Carte non reconnue : ce n'est pas une carte Pass'Région", en: "The card in the field does not hold the Pass'Région application (SELECT of our AID failed)." },
  CARD_REMOVED: { num: 327, category: 'terminal', retryable: true, fr: 'Carte retirée trop tôt : présentez-la à nouveau', en: 'The card left the field during the exchange; nothing was recorded and the terminal reads again.' },
  NFC_READER_UNAVAILABLE: { num: 328, category: 'terminal', retryable: true, fr: 'Lecteur sans contact indisponible', en: 'No contactless reader is connected, or the reader was unplugged or failed during the exchange.' },
  CARD_RESPONSE_INVALID: { num: 329, category: 'terminal', retryable: true, fr: 'Réponse de la carte illisible', en: 'The card answered an APDU with a malformed response (length, status word or TLV).' },
  PAD_UNAVAILABLE: { num: 330, category: 'terminal', retryable: true, fr: 'Clavier code indisponible', en: 'The PIN pad did not answer after the retries, or its serial port is closed or gone.' },
  PAD_FRAME_INVALID: { num: 331, category: 'terminal', retryable: true, fr: 'Clavier code : message illisible', en: 'Bytes from (or to) the PIN pad do not form a valid frame (start byte, length, CRC, command); the parser resynchronises.' },
  PAD_ERROR: { num: 332, category: 'terminal', retryable: false, fr: 'Clavier code en erreur', en: 'The PIN pad refused a command (no key loaded, busy, bad argument) and said why in its reply.' },
  QR_EXPIRED: { num: 333, category: 'terminal', retryable: true, fr: "QR code de l'application expiré : actualisez-le", en: "The app's QR code is signed but past its short validity (or dated in the future beyond the allowed skew)." },
  QR_NOT_GENUINE: { num: 334, category: 'terminal', retryable: false, fr: 'QR code falsifié : refusé', en: "The app's QR code does not verify with the Region's issuer key (tampered or forged)." },
  QR_READER_UNAVAILABLE: { num: 335, category: 'terminal', retryable: true, fr: 'Lecteur QR indisponible', en: 'The camera or the serial QR scanner is not connected or stopped sending.' },
  LINK_REFUSED: { num: 336, category: 'terminal', retryable: true, fr: "Connexion refusée par le serveur : vérifier l'heure du terminal, sinon le réinstaller", en: "The broker refused the terminal's connect token (MQTT CONNACK 4, bad username or password): its time is more than mqtt.connectTokenMaxAgeS from the gateway's clock (the terminal's clock is off: set it, NTP), or not later than the last token admitted (the clock went back), or it is not signed with the key the gateway holds for this terminal (enrolled again with another key: install the terminal again). The link keeps trying; sales are judged offline meanwhile." },
  LINK_NOT_AUTHORIZED: { num: 337, category: 'terminal', retryable: true, fr: 'Connexion refusée : terminal inconnu ou désactivé, contacter la Région', en: 'The broker does not admit this terminal id (MQTT CONNACK 5, not authorized): no terminal with this id is registered or enrolled at the gateway, or the Region deactivated it. The link keeps trying; sales are judged offline meanwhile.' },
  NFC_DRIVER_MISSING: { num: 338, category: 'terminal', retryable: false, fr: 'Pilote du lecteur sans contact absent : installer les paquets pcscd et libpcsclite-dev, puis lancer « npm install nfc-pcsc »', en: "The terminal's config asks for a PC/SC contactless reader, but the optional nfc-pcsc package is not installed (its native part needs libpcsclite-dev to build) or cannot be loaded by this Node; the gateway and QR sales do not need it." },
  ENROLMENT_ANSWER_INVALID: { num: 339, category: 'terminal', retryable: false, fr: "Réponse d'installation non authentique : vérifier l'adresse du serveur, puis recommencer avec un nouveau code", en: "The enrolment answer's MAC (keyed with the typed code), its gateway signature or its binding to this device's key does not hold, or it names another gateway key than the pinned one (--gateway-key): it did not come from the gateway that made the code. Nothing is written; the code may have been used, so ask the Region for a new one and check the gateway URL." },
  TERMINAL_ALREADY_ENROLLED: { num: 340, category: 'terminal', retryable: false, fr: 'Terminal déjà installé dans ce dossier : choisir un dossier vide', en: 'The enrolment directory already holds a terminal.json, a key or an outbox (which may hold unsent sales): enrolment never overwrites them. Enrol into an empty directory.' },
  GATEWAY_UNREACHABLE: { num: 341, category: 'terminal', retryable: true, fr: 'Serveur injoignable : vérifier le réseau et son adresse, puis recommencer', en: "The gateway's HTTP address could not be reached or gave no valid answer (network down, wrong URL, TLS failure, timeout)." },
  TERMINAL_STOPPING: { num: 342, category: 'terminal', retryable: true, fr: "Terminal en cours d'arrêt : réessayer dans un instant", en: 'The terminal service is stopping (SIGTERM, an update): it finishes the sale in progress and takes no new one.' },
  UPDATE_IN_PROGRESS: { num: 343, category: 'terminal', retryable: true, fr: 'Mise à jour en cours : les ventes reprennent dans un instant', en: 'The terminal is being updated (passerelle terminal update): it takes no new sale until the update ends or its bound passes.' },
  UPDATE_ROLLED_BACK: { num: 344, category: 'terminal', retryable: false, fr: "Mise à jour annulée : l'ancienne version est rétablie", en: 'The new version did not come up, did not open its devices or did not reach the gateway within the bound: the previous version is back in force and running. The queue was never touched.' },
  REQUEST_REJECTED: { num: 312, category: 'terminal', retryable: false, fr: 'Vente refusée par le serveur', en: 'The gateway rejected the request (see the 2xx code it gave); it will not be resent.' },

  // 4xx: process
  CONFIG_INVALID: { num: 401, category: 'process', retryable: false, fr: 'Configuration invalide', en: 'The configuration does not match its schema; the message names the path.' },
  PORT_IN_USE: { num: 402, category: 'process', retryable: false, fr: 'Port déjà utilisé', en: 'A listening port from the configuration is already taken by another process.' },
  KEY_FILE_INVALID: { num: 403, category: 'process', retryable: false, fr: 'Fichier de clés invalide', en: 'A key file is unreadable or not of the expected form.' },
  LEDGER_FAILED: { num: 404, category: 'process', http: 503, retryable: true, fr: 'Registre indisponible', en: 'A ledger transaction failed; the batch is rolled back and nothing is replied, so terminals resend.' },
  BROKER_AUTH_FAILED: { num: 405, category: 'process', retryable: false, fr: 'Connexion au serveur refusée', en: 'The MQTT broker refused the connection credentials of this terminal.' },
  DATA_INVALID: { num: 406, category: 'process', http: 422, retryable: false, fr: 'Données refusées : une valeur est incorrecte ou incohérente (le détail est donné avec ce code)', en: 'Seed or provisioning data is inconsistent (unknown partner or campaign, a value out of range, bad key); the message says which.' },
  BROKER_UNAVAILABLE: { num: 407, category: 'process', http: 503, retryable: true, fr: 'Serveur de messages indisponible, réessayer', en: "The external MQTT broker did not carry out a gateway's account command (a terminal's enrolment or switch-off) in time or refused it; nothing was changed in the ledger: try again, and check the broker and the gateway's admin role on it." },

  // 5xx: admin and partner API, operator commands
  UNAUTHENTICATED: { num: 501, category: 'admin', http: 401, retryable: false, fr: 'Authentification requise', en: 'The request carries no valid API token.' },
  FORBIDDEN: { num: 502, category: 'admin', http: 403, retryable: false, fr: 'Action non autorisée pour ce rôle', en: "The token's role (operator, technician, partner) may not do this, or a partner asked for another partner's data." },
  NOT_FOUND: { num: 503, category: 'admin', http: 404, retryable: false, fr: 'Introuvable', en: 'No card, partner, terminal, campaign, sale or statement has this id.' },
  SALE_UNKNOWN: { num: 504, category: 'admin', http: 404, retryable: false, fr: 'Vente introuvable', en: 'No approved sale has this transaction id.' },
  ALREADY_CORRECTED: { num: 505, category: 'admin', http: 409, retryable: false, fr: 'Vente déjà annulée ou contre-passée', en: 'A sale is cancelled or reversed at most once.' },
  NOT_SAME_DAY: { num: 506, category: 'admin', http: 409, retryable: false, fr: "Annulation possible le jour de la vente seulement : s'adresser à la Région", en: 'A partner cancels its own sale only on the local day of the sale; later, the Region reverses it.' },
  NOT_YOUR_SALE: { num: 507, category: 'admin', http: 403, retryable: false, fr: "Cette vente n'a pas été faite par votre établissement", en: 'A partner may cancel only its own sales.' },
  CARD_NOT_ACTIVE: { num: 508, category: 'admin', http: 409, retryable: false, fr: 'Carte déjà en opposition', en: 'The card is already opposed; oppose the active card of the dossier.' },
  GROUP_CONFLICT: { num: 509, category: 'admin', http: 409, retryable: false, fr: 'Vente de groupe déjà enregistrée avec un autre contenu', en: 'A group sale with this id was already recorded with different content.' },
  PERIOD_INVALID: { num: 510, category: 'admin', http: 422, retryable: false, fr: 'Période de relevé invalide', en: 'A statement period must be two dates in order, already ended, not overlapping an earlier statement of the partner.' },
  BULK_LOAD_INVALID: { num: 511, category: 'admin', http: 422, retryable: false, fr: 'Fichier de chargement refusé', en: 'The load file has bad rows (listed by line number); nothing was loaded.' },
  INTERNAL_ERROR: { num: 512, category: 'admin', retryable: true, fr: 'Erreur interne : réessayer, puis signaler le numéro de requête', en: 'An unexpected failure; the gateway logged it under the request id given, and nothing of it is shown.' },
  SALE_GUARANTEED: { num: 513, category: 'admin', retryable: false, fr: 'Vente hors ligne garantie par la Région : pas de correction', en: "An offline sale the Region's guarantee paid (in whole or in part) cannot be cancelled or reversed: the Region settles it with the partner directly." },
  ENROLMENT_CODE_INVALID: { num: 514, category: 'admin', http: 401, retryable: false, fr: "Code d'installation inconnu ou erroné : vérifier la saisie", en: 'No enrolment code has this id, or its secret part is wrong; each wrong try counts against the code.' },
  ENROLMENT_CODE_USED: { num: 515, category: 'admin', http: 409, retryable: false, fr: "Code d'installation déjà utilisé : en demander un nouveau à la Région", en: 'This enrolment code already enrolled a terminal; a code is single-use.' },
  ENROLMENT_CODE_EXPIRED: { num: 516, category: 'admin', http: 410, retryable: false, fr: "Code d'installation expiré : en demander un nouveau à la Région", en: 'This enrolment code is past its expiry.' },
  ENROLMENT_CODE_EXHAUSTED: { num: 517, category: 'admin', http: 403, retryable: false, fr: "Code d'installation bloqué après trop d'essais erronés : en demander un nouveau à la Région", en: 'Too many wrong tries were made with this enrolment code; it can no longer be used, even with the right secret.' },
  ENROLMENT_CODE_REVOKED: { num: 518, category: 'admin', http: 410, retryable: false, fr: "Code d'installation annulé par la Région", en: 'The Region revoked this enrolment code before it was used.' },
  CARD_ALREADY_PERSONALISED: { num: 519, category: 'admin', http: 409, retryable: false, fr: "Carte déjà personnalisée avec une autre puce", en: 'The card already has a chip key recorded; a different chip replaces it only when asked explicitly (replace: true), which the audit log records.' },
  GROUP_NOT_APPROVED: { num: 520, category: 'admin', http: 422, retryable: false, fr: 'Vente de groupe refusée : liste non approuvée par la Région', en: "A group sale must name a list the Region approved for this partner, benefit and outing, still valid, every card on it and not yet paid under it, the amount within the list's maximum per youth." },
  ALREADY_EXISTS: { num: 521, category: 'admin', http: 409, retryable: false, fr: 'Existe déjà : vérifier l’identifiant saisi, ou modifier la fiche existante', en: 'A campaign, partner, terminal, card, dossier, code or list with this id is already recorded; nothing was changed.' },
  NOTHING_TO_STATE: { num: 522, category: 'admin', http: 422, retryable: false, fr: 'Aucune vente ni correction à relever pour ce partenaire sur la période', en: 'The partner has no sale or correction to put on a statement for this period (none recorded, or its convention did not cover it); no empty statement is made.' },
  CARD_ACTIVE_EXISTS: { num: 523, category: 'admin', http: 409, retryable: false, fr: "Ce dossier a déjà une carte active : faire opposition sur l'ancienne carte en donnant celle-ci comme remplaçante", en: 'A dossier has at most one active card (R1, R4): a new card for it is issued through the opposition of the current one.' },
  LOGIN_FAILED: { num: 524, category: 'admin', http: 401, retryable: false, fr: 'Adresse e-mail ou mot de passe incorrect', en: 'A web login with an unknown e-mail or a wrong password (the answer does not say which).' },
  ACCOUNT_LOCKED: { num: 525, category: 'admin', http: 423, retryable: true, fr: 'Compte verrouillé après plusieurs mots de passe erronés : réessayer plus tard ou demander une nouvelle invitation', en: 'Too many wrong passwords in a row: the web account takes no login until its lock time has passed.' },
  CSRF_INVALID: { num: 526, category: 'admin', http: 403, retryable: false, fr: 'Formulaire expiré ou envoyé d’ailleurs : recharger la page et recommencer', en: "A web form posted without this session's anti-forgery token (or with a wrong one): nothing was done." },
  INVITATION_INVALID: { num: 527, category: 'admin', http: 410, retryable: false, fr: 'Lien d’invitation inconnu, déjà utilisé ou expiré : en demander un nouveau', en: 'The invitation link is unknown, already used or past its expiry.' },
  PASSWORD_WEAK: { num: 528, category: 'admin', http: 422, retryable: false, fr: 'Mot de passe trop court : 12 caractères au moins, et les deux saisies identiques', en: 'A new password shorter than 12 characters, longer than 200, or not typed the same twice.' },
  SECRET_CODE_FORMAT: { num: 529, category: 'admin', http: 422, retryable: false, fr: 'Le code secret du jeune compte 4 chiffres', en: 'The secret code typed at the web counter is not 4 digits.' },
} as const satisfies Record<string, CodeInfo>;

export type Code = keyof typeof CODES;

export const DECLINE_CODES = (Object.keys(CODES) as Code[]).filter((c) => CODES[c].category === 'decline');
export const REJECT_CODES = (Object.keys(CODES) as Code[]).filter((c) => CODES[c].category === 'reject');

export type DeclineCode = {
  [K in Code]: (typeof CODES)[K]['category'] extends 'decline' ? K : never;
}[Code];
export type RejectCode = {
  [K in Code]: (typeof CODES)[K]['category'] extends 'reject' ? K : never;
}[Code];

export function isCode(value: string): value is Code {
  return Object.hasOwn(CODES, value);
}

/** A code of the rejected-request category (2xx), by the table, not by its number. */
export function isRejectCode(code: Code): code is RejectCode {
  return CODES[code].category === 'reject';
}

/** The markdown table in `docs/codes.md`. */
export function codesMarkdown(): string {
  const lines = [
    '# Outcome and error codes',
    '',
    'Generated from `protocol/codes.ts` by `passerelle codes --markdown`; a test keeps this file equal to it.',
    '',
    '| ranges | raised by |',
    '|---|---|',
    '| 1xx | declines decided by the gateway rules: the sale is refused and nothing is debited |',
    '| 2xx | requests rejected by the gateway before any rule: malformed, unauthenticated, conflicting |',
    '| 3xx | the terminal: devices, the link, replies it cannot trust |',
    '| 4xx | a process starting or running: config, ports, keys, storage |',
    '| 5xx | the admin and partner API, and operator commands |',
    '',
    '| # | code | category | HTTP | retryable | shown (fr) | meaning |',
    '|---|---|---|---|---|---|---|',
  ];
  for (const code of Object.keys(CODES) as Code[]) {
    const c: CodeInfo = CODES[code];
    lines.push(`| ${c.num} | \`${code}\` | ${c.category} | ${httpStatusOf(code)} | ${c.retryable ? 'yes' : 'no'} | ${c.fr} | ${c.en} |`);
  }
  return lines.join('\n') + '\n';
}
