/**
 * Cold transfers and hang-ups: the agent's `transfer_call` and `end_call`, the one-action-per-call
 * machinery other features' actions go through, the destinations an agent may use, the job that performs
 * them on the live call, and the notice that tells the agent when one failed.
 */
export { actionFunctions, ActionRequests, destinationArg, notAllowed, numbersOf, refusal, spokenMessage } from './functions';
export { isAllowlisted, resolveDestination, resolveReferTarget, type ResolvedDestination } from './destinations';
export { ACTION_DEADLINE_MS, CallActionProcessor } from './processor';
export { AgentNotices } from './agent-notice';
export { noticeJobId, type ActionJob, type AgentNoticeJob, type EndCallJob, type TransferJob } from './jobs';
