import type { Job } from 'bullmq';
import type Retell from 'retell-sdk';
import type { Logger } from '../../observability/logger';
import { tellAgent } from '../../retell/live-call';
import type { AgentNoticeJob } from './jobs';

/**
 * What the agent is told when an action it asked for failed: what happened, that the caller is still
 * there, and what it may do. A person is waiting, so the agent hears it in the live call rather than not
 * at all (Retell has no other way to learn that a transfer it asked for never happened).
 */
export function failedActionContext(kind: 'transfer' | 'end_call', label: string | undefined): string {
  if (kind === 'transfer') {
    return (
      `The transfer to ${label ?? 'the person'} did not go through. You are still on the line with the caller. ` +
      'Tell them the transfer could not be completed and offer to try again or help another way.'
    );
  }
  return 'Hanging up did not work: you are still on the line with the caller. Say goodbye, or end the call again.';
}

/** Delivers agent notices: one Update Live Call each, retried on Retell's 5xx and network errors. */
export class AgentNotices {
  constructor(private readonly deps: { retell: Retell; timeoutMs: number; logger: Logger }) {}

  async process(job: Job<AgentNoticeJob>): Promise<'agent_told' | 'agent_gone'> {
    const { callSid, callId, context } = job.data;
    const told = await tellAgent(this.deps.retell, callId, context, this.deps.timeoutMs);
    this.deps.logger.info({ jobId: job.id, callSid, callId, told }, told ? 'the agent was told' : 'retell no longer has the call live: the agent could not be told');
    return told ? 'agent_told' : 'agent_gone';
  }
}
