import { callSidOfTransfer, type WarmTransferFailure } from '../../calls/record';
import type { CallRepository } from '../../calls/repository';
import type { Config } from '../../config';
import { joinJobId, outcomeJobId } from './jobs';
import { CALLER_GONE_SENTENCE, NO_LONGER_NEEDED } from './processor';
import { addCallAction, type CallActionQueue } from '../../jobs/queues';
import type { Logger } from '../../observability/logger';
import { sayAndHangupTwiml } from '../../twilio/twiml';
import { joinConferenceTwiml, warmTransferPromptTwiml, warmTransferRoom } from './twiml';
import { warmTransferUrl } from './twilio';

export interface WarmTransferCallbacksDeps {
  config: Pick<Config, 'publicUrl' | 'warmTransfer'>;
  calls: CallRepository;
  queue: CallActionQueue;
  logger: Logger;
}

/** Seconds the person has to press a key once the summary has been said. */
export const ACCEPT_TIMEOUT_S = 8;


/** Twilio's final statuses of the person's leg, as the reason the transfer failed if nothing decided it before. */
const LEG_END_REASON: Readonly<Record<string, WarmTransferFailure>> = {
  busy: 'busy',
  'no-answer': 'no_answer',
  failed: 'failed',
  canceled: 'canceled',
  // Answered, then ended before any key: the person (or a voicemail that AMD missed) hung up.
  completed: 'hung_up',
};

/**
 * Twilio's requests about a warm transfer's leg, each signed and carrying the transfer's id: the person
 * picks up (the summary and the accept prompt), presses a key (accept, or decline), the leg ends, or AMD
 * hears a machine. And the caller's own call ending while the person is rung. Whatever decides the
 * transfer first decides it (see CallRepository); a failure queues one outcome job, which ends the
 * person's leg and tells the agent.
 */
export class WarmTransferCallbacks {
  constructor(private readonly deps: WarmTransferCallbacksDeps) {}

  /** The answer URL: the summary and the prompt, or a sentence and a hang-up if the transfer is over. */
  async answer(id: string, legSid: string): Promise<string> {
    const log = this.deps.logger.child({ transferId: id, legSid });
    const link = await this.deps.calls.linkWarmLeg(id, legSid);
    const transfer = await this.deps.calls.findWarmTransfer(id);
    if (!transfer || link === 'failed' || link === 'other' || transfer.status === 'transfer_failed') {
      log.info({ status: transfer?.status, reason: transfer?.reason }, 'the person answered a transfer that is over');
      return sayAndHangupTwiml(transfer?.reason === 'caller_hung_up' ? CALLER_GONE_SENTENCE : NO_LONGER_NEEDED);
    }
    log.info('the person answered: playing the summary');
    const { acceptDigit } = this.deps.config.warmTransfer;
    return warmTransferPromptTwiml({
      summary: transfer.summary,
      acceptDigit,
      gatherUrl: warmTransferUrl(this.deps.config.publicUrl, 'gather', id),
      timeoutS: ACCEPT_TIMEOUT_S,
    });
  }

  /** The key pressed (none after the timeout): the accept key joins the conference; anything else declines. */
  async gather(id: string, legSid: string, digits: string): Promise<string> {
    const log = this.deps.logger.child({ transferId: id, legSid, digits: digits || undefined });
    await this.deps.calls.linkWarmLeg(id, legSid);
    if (digits !== this.deps.config.warmTransfer.acceptDigit) {
      const reason: WarmTransferFailure = digits ? 'declined' : 'no_response';
      // The person hears goodbye and their leg ends by itself: the outcome job need not end it.
      await this.failed(id, reason, false, log);
      return sayAndHangupTwiml('Thank you. Goodbye.');
    }
    const accepted = await this.deps.calls.acceptWarmTransfer(id);
    if (accepted === 'caller_gone') {
      log.info('the person accepted, but the caller had hung up');
      return sayAndHangupTwiml(CALLER_GONE_SENTENCE);
    }
    if (accepted !== 'accepted') {
      log.info({ accepted }, 'the person accepted a transfer that is over');
      return sayAndHangupTwiml(NO_LONGER_NEEDED);
    }
    const transfer = await this.deps.calls.findWarmTransfer(id);
    await addCallAction(this.deps.queue, { kind: 'warm_transfer_join', callSid: callSidOf(id), callId: transfer?.callId, transferId: id }, joinJobId(id));
    log.info({ destination: transfer?.label }, 'the person accepted: joining the caller');
    return joinConferenceTwiml(warmTransferRoom(id), { starts: true });
  }

  /** The leg ended: if nothing decided the transfer before, how it ended is why it failed. */
  async legEnded(id: string, legSid: string, callStatus: string): Promise<void> {
    const log = this.deps.logger.child({ transferId: id, legSid, callStatus });
    await this.deps.calls.linkWarmLeg(id, legSid);
    const reason = LEG_END_REASON[callStatus];
    if (reason) await this.failed(id, reason, false, log);
  }

  /** AMD's verdict: a machine (or a fax) cannot take the call. */
  async machineDetection(id: string, legSid: string, answeredBy: string): Promise<void> {
    if (!answeredBy.startsWith('machine_') && answeredBy !== 'fax') return;
    const log = this.deps.logger.child({ transferId: id, legSid, answeredBy });
    await this.deps.calls.linkWarmLeg(id, legSid);
    await this.failed(id, 'voicemail', true, log);
  }

  /** The caller's call ended: a transfer still ringing is canceled, so the person is not rung for nobody. */
  async callerGone(callSid: string): Promise<void> {
    const transfer = await this.deps.calls.warmTransfer(callSid);
    if (!transfer || (transfer.status !== 'transfer_placing' && transfer.status !== 'transfer_ringing')) return;
    await this.failed(transfer.id, 'caller_hung_up', true, this.deps.logger.child({ transferId: transfer.id, callSid }));
  }

  private async failed(id: string, reason: WarmTransferFailure, endLeg: boolean, log: Logger): Promise<void> {
    const result = await this.deps.calls.failWarmTransfer(id, reason);
    if (!result.failed) return;
    const transfer = await this.deps.calls.findWarmTransfer(id);
    await addCallAction(
      this.deps.queue,
      { kind: 'warm_transfer_outcome', callSid: callSidOf(id), callId: transfer?.callId, transferId: id, label: transfer?.label ?? 'the person', reason, endLeg },
      outcomeJobId(id),
    );
    log.info({ reason }, 'warm transfer failed: ending the leg and telling the agent');
  }
}

function callSidOf(id: string): string {
  return callSidOfTransfer(id) ?? '';
}
