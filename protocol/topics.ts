/**
 * MQTT topic names. aedes speaks MQTT 3.1.1 only, so nothing here relies on MQTT 5: the reply route is
 * in the topic name (one reply topic per terminal) and the correlation id is in the payload.
 *
 * Terminals publish requests on their own request topic and subscribe to their own reply topic; the
 * broker lets a terminal touch no other topic. At region scale several gateways split the requests with
 * a shared subscription (`$share/<group>/…`), which Mosquitto grants to 3.1.1 clients too.
 */

export const TOPIC_ROOT = 'passerelle/v1';

/** Terminal ids are topic segments, so they exclude `/`, `+`, `#` and anything not printable. */
export const TERMINAL_ID_PATTERN = '^[A-Z0-9][A-Z0-9-]{2,31}$';
const TERMINAL_ID_RE = new RegExp(TERMINAL_ID_PATTERN);

export function isTerminalId(value: string): boolean {
  return TERMINAL_ID_RE.test(value);
}

export function requestTopic(terminalId: string): string {
  return `${TOPIC_ROOT}/terminal/${terminalId}/request`;
}

export function replyTopic(terminalId: string): string {
  return `${TOPIC_ROOT}/terminal/${terminalId}/reply`;
}

/** Where a terminal reports its heartbeat (protocol/heartbeat.ts), at QoS 0: the next one replaces a lost one. */
export function statusTopic(terminalId: string): string {
  return `${TOPIC_ROOT}/terminal/${terminalId}/status`;
}

/** What a gateway subscribes to: every terminal's requests. */
export const REQUEST_FILTER = `${TOPIC_ROOT}/terminal/+/request`;

/** The same, split between the gateways of one group by the broker (region scale). */
export function sharedRequestFilter(group: string): string {
  return `$share/${group}/${REQUEST_FILTER}`;
}

/** And every terminal's heartbeats. */
export const STATUS_FILTER = `${TOPIC_ROOT}/terminal/+/status`;

export type TopicKind = 'request' | 'reply' | 'status' | 'settings';

/** `passerelle/v1/terminal/T-001/request` → `{ terminalId: 'T-001', kind: 'request' }`; anything else → null. */
export function parseTerminalTopic(topic: string): { terminalId: string; kind: TopicKind } | null {
  const parts = topic.split('/');
  if (parts.length !== 5 || `${parts[0]}/${parts[1]}` !== TOPIC_ROOT || parts[2] !== 'terminal') return null;
  const terminalId = parts[3] ?? '';
  const kind = parts[4];
  if (!isTerminalId(terminalId) || (kind !== 'request' && kind !== 'reply' && kind !== 'status' && kind !== 'settings')) return null;
  return { terminalId, kind };
}
