/**
 * The job that sends a text, on the call-actions queue. Its kind names the BullMQ job and starts its id
 * (`send_sms-CA…-1`, the text's id), so it is part of what a deployment keeps across versions.
 */
export interface SendSmsJob {
  kind: 'send_sms';
  /** The text's id on the call's texts record. */
  id: string;
  callSid: string;
}
