import type { Twilio } from 'twilio';

/**
 * Calls from `from` to `to` that Twilio created at or after `since`, newest first: the way to learn
 * whether a `calls.create` whose answer never arrived (a timeout, a worker killed mid-request) was
 * carried out, since the API takes no idempotency key. `date_created` has whole seconds, and the
 * clocks of Twilio and this machine differ a little, hence the margin.
 */
export async function findCallsCreatedSince(
  client: Twilio,
  q: { to: string; from: string; since: Date; marginMs?: number },
): Promise<Array<{ sid: string; status: string; dateCreated: Date }>> {
  const earliest = q.since.getTime() - (q.marginMs ?? 5000);
  const calls = await client.calls.list({ to: q.to, from: q.from, limit: 20, pageSize: 20 });
  return calls
    .filter((c) => c.dateCreated instanceof Date && c.dateCreated.getTime() >= earliest)
    .map((c) => ({ sid: c.sid, status: c.status, dateCreated: c.dateCreated }));
}
