/**
 * The largest Retell call object an event carries. Retell's holds the transcript three ways (text, with
 * word timings, with tool calls), MiBs for a long call: it is cut down to this, the word timings first.
 */
export const RETELL_CALL_MAX_BYTES = 256 * 1024;

/** The transcripts as lists of utterances, each with its words' timings. */
const UTTERANCE_LISTS = ['transcript_object', 'transcript_with_tool_calls', 'scrubbed_transcript_with_tool_calls'] as const;

/** Kept whatever the size: what identifies the call and says how it went. */
const ALWAYS_KEPT = new Set(['call_id', 'call_type', 'agent_id', 'agent_version', 'call_status', 'direction', 'from_number', 'to_number', 'start_timestamp', 'end_timestamp', 'duration_ms', 'disconnection_reason', 'call_analysis', 'metadata']);

const size = (v: unknown) => Buffer.byteLength(JSON.stringify(v) ?? '', 'utf8');

/**
 * Retell's call object for `call.analyzed`, at most `maxBytes` as JSON: whole when it fits; otherwise
 * without the words' timings, then without the utterance lists, then without the largest remaining
 * fields (never the call's identity or its analysis). `trimmed` names what was left out.
 */
export function trimRetellCall(call: Record<string, unknown>, maxBytes = RETELL_CALL_MAX_BYTES): { retell: Record<string, unknown>; trimmed?: string[] } {
  if (size(call) <= maxBytes) return { retell: call };
  const out: Record<string, unknown> = { ...call };
  const trimmed: string[] = [];

  for (const field of UTTERANCE_LISTS) {
    const list = out[field];
    if (!Array.isArray(list) || !list.some((u) => typeof u === 'object' && u !== null && 'words' in u)) continue;
    out[field] = list.map((u: unknown) => {
      if (typeof u !== 'object' || u === null || !('words' in u)) return u;
      const { words: _words, ...rest } = u as Record<string, unknown>;
      return rest;
    });
    trimmed.push(`${field}[].words`);
  }
  for (const field of UTTERANCE_LISTS) {
    if (size(out) <= maxBytes) break;
    if (!(field in out)) continue;
    delete out[field];
    trimmed.push(field);
  }
  // Still too large (a huge transcript or metadata): the largest fields go, one by one.
  while (size(out) > maxBytes) {
    const largest = Object.keys(out)
      .filter((k) => !ALWAYS_KEPT.has(k))
      .sort((a, b) => size(out[b]) - size(out[a]))[0];
    if (!largest) break;
    delete out[largest];
    trimmed.push(largest);
  }
  return { retell: out, trimmed };
}
