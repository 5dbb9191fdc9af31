/**
 * docs/events.md is the catalogue users build their receivers from: one example body for every event type
 * the bridge emits, each with the fields the interface promises for its type.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { EVENT_TYPES, type EventType } from '../../src/features/events';

const doc = readFileSync(path.resolve(__dirname, '../../docs/events.md'), 'utf8');
const examples = [...doc.matchAll(/```json\n([\s\S]*?)```/g)]
  .map((m) => JSON.parse(m[1]!) as { type?: string; timestamp?: string; data?: Record<string, unknown> })
  .filter((b) => typeof b.type === 'string' && b.data);

/** The fields each type's `data` has at least (the interface's table). */
const REQUIRED: Record<EventType, readonly string[]> = {
  'call.started': ['call_sid', 'retell_call_id', 'direction', 'from', 'to', 'agent_id'],
  'call.ended': ['call_sid', 'retell_call_id', 'direction', 'from', 'to', 'twilio_status', 'duration_s'],
  'call.analyzed': ['call_sid', 'retell_call_id', 'retell'],
  'transfer.started': ['call_sid', 'kind', 'destination', 'to'],
  'transfer.completed': ['call_sid', 'kind', 'destination', 'to'],
  'transfer.failed': ['call_sid', 'kind', 'destination', 'to', 'reason'],
  'outbound.status': ['id', 'status', 'call_sid'],
  'outbound.completed': ['id', 'status', 'call_sid', 'outcome', 'answered_by'],
  'campaign.task.completed': ['campaign_id', 'task_id', 'to', 'outcome', 'attempts'],
  'campaign.completed': ['campaign_id', 'status', 'counts'],
  'recording.consent': ['call_sid', 'consent'],
  'recording.completed': ['call_sid', 'recording_sid', 'url', 'duration_s', 'channels'],
  'sms.sent': ['message_sid', 'to', 'template', 'call_sid'],
  'sms.delivered': ['message_sid', 'to', 'template', 'call_sid'],
  'sms.failed': ['message_sid', 'to', 'template', 'call_sid', 'error_code'],
};

describe('docs/events.md', () => {
  it.each(EVENT_TYPES.map((t) => [t]))('when %s is looked up, then it has one example body with its documented fields', (type) => {
    const found = examples.filter((e) => e.type === type);
    expect(found).toHaveLength(1);
    const [example] = found;
    expect(Number.isNaN(Date.parse(example!.timestamp ?? ''))).toBe(false);
    expect(Object.keys(example!.data!)).toEqual(expect.arrayContaining([...REQUIRED[type]]));
    expect(doc).toContain(`\`${type}\``);
  });

  it('when its examples are read, then every one is of a type the bridge emits', () => {
    expect(examples.map((e) => e.type).filter((t) => !EVENT_TYPES.includes(t as EventType))).toEqual([]);
  });
});
