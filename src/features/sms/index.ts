/**
 * Texts from the agent: `send_sms` renders one of SMS_TEMPLATES with the agent's variables, to the other
 * party of the call (or an allowed number), and the worker sends it once through Twilio's Messages API;
 * Twilio's status callbacks become `sms.*` events; an opt-out keyword texted to the bridge's numbers
 * puts the sender on the do-not-call list.
 */
export { sendSmsFunction } from './function';
export { type SendSmsJob } from './jobs';
export { SMS_DEADLINE_MS, SmsSender } from './processor';
export { SMS_ID, type SmsMessage } from './record';
export { MAX_TEXTS_PER_CALL, smsKeys, SmsRepository } from './repository';
export { isOptOut, OPT_OUT_KEYWORDS, smsRoutes } from './routes';
export { MAX_VARIABLE_CHARS, renderTemplate } from './text';
export { SMS_PATHS, smsStatusUrl } from './twilio';
