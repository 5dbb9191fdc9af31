/** The data fields a line shows, in this order, when an event has them. */
const SHOWN = ['call_sid', 'id', 'status', 'outcome', 'kind', 'destination', 'direction', 'from', 'to', 'reason', 'twilio_status', 'duration_s', 'agent_id', 'retell_call_id', 'outbound_id', 'campaign_id', 'task_id'];

/** One readable line for an event: its type and its main fields (nested objects such as Retell's call left out). */
export function describeEvent(e: { type: string; data: Record<string, unknown> }): string {
  const fields = SHOWN.filter((k) => e.data[k] !== undefined && typeof e.data[k] !== 'object').map((k) => `${k}=${String(e.data[k])}`);
  if (e.type === 'call.analyzed') {
    const analysis = (e.data.retell as { call_analysis?: { call_summary?: unknown } } | undefined)?.call_analysis;
    if (typeof analysis?.call_summary === 'string') fields.push(`summary="${analysis.call_summary.slice(0, 80)}"`);
  }
  return `${e.type.padEnd(18)} ${fields.join(' ')}`;
}

