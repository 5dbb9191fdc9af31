/**
 * Warm transfer: the agent's `warm_transfer` rings a person while the agent stays with the caller; the
 * person hears the summary and accepts with a key, and the caller is moved into a conference with them.
 * On any failure the agent is told in its live call.
 */
export { WarmTransferCallbacks } from './callbacks';
export { warmTransferFunction } from './function';
export { joinJobId, outcomeJobId } from './jobs';
export { WarmTransferProcessor } from './processor';
export { twilioWarmTransferRoutes } from './routes';
export { warmTransferRoom } from './twiml';
