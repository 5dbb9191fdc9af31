/** The Retell account, and which agent takes a call: by the number called, or the default agent. */
import { z } from 'zod';
import { metaOf, rule, setting, type ValuesOf } from './parse';
import { credential, e164, httpUrl, jsonObject, PLACEHOLDER } from './values';

export const title = 'Retell and agent routing';

export const settings = {
  RETELL_API_KEY: setting(credential(8, 'a Retell API key'), {
    description: 'Registers calls and verifies X-Retell-Signature (the key with the webhook badge)',
    example: '<the key with the webhook badge, Retell dashboard > API Keys>',
    secret: true,
    deploy: {
      how: 'ask',
      heroku: "Retell API key: the one with the webhook badge in the Retell dashboard (Settings > API Keys). Registers calls and verifies Retell's signatures.",
      renderNote: 'the key with the webhook badge',
    },
    docs: { meaning: "registers calls, verifies Retell's signatures (use the key with the webhook badge)" },
    dotenv: { comment: "Retell API key: registers calls and verifies Retell's signatures. Use the key with the webhook badge.", value: 'key_xxxxxxxxxxxxxxxxxxxxxxxx' },
  }),
  RETELL_BASE_URL: setting(httpUrl.default('https://api.retellai.com'), {
    description: 'Where the Retell API is',
    example: 'https://api.retellai.com',
    deploy: { how: 'group', heroku: 'Where the Retell API is. Leave as is.' },
    docs: { meaning: 'where the Retell API is' },
    dotenv: { comment: 'Where the Retell API is.' },
  }),
  RETELL_AGENT_ID: setting(
    z
      .string()
      .min(1)
      .refine((s) => !PLACEHOLDER.test(s), 'is still a placeholder (as in .env.example): put the real agent id here')
      .optional(),
    {
      description: 'Agent for numbers not in AGENT_ROUTES',
      example: 'agent_<id from the Retell dashboard>',
      deploy: { how: 'ask', heroku: 'Retell agent for calls to numbers not listed in AGENT_ROUTES (agent_...).' },
      docs: { default: 'required unless every number is routed', meaning: 'agent for numbers not in `AGENT_ROUTES`' },
      dotenv: { comment: 'Agent for calls to numbers not listed in AGENT_ROUTES (required unless every number is routed).', value: 'agent_xxxxxxxxxxxxxxxxxxxxxxxx' },
    },
  ),
  AGENT_ROUTES: setting(
    jsonObject(
      z.record(e164, z.string().min(1, 'agent ids must not be empty'), { error: 'must map E.164 numbers to agent ids' }),
      '{"+14155550100":"agent_abc"}',
    ),
    {
      description: 'Called number (E.164) -> Retell agent id',
      example: '{"+14155550100":"agent_abc"}',
      deploy: { how: 'group', heroku: 'JSON object: called number (E.164) -> agent id, e.g. {"+14155550100":"agent_sales"}.' },
      docs: { meaning: 'JSON: called number (E.164) → agent id' },
      dotenv: { comment: 'JSON object: called number (E.164) -> agent id, e.g. {"+14155550100":"agent_sales"}' },
    },
  ),
  RETELL_SIP_HOST: setting(
    z
      .string()
      .regex(/^[A-Za-z0-9.-]+(:\d+)?$/, 'must be a host name such as sip.retellai.com')
      .default('sip.retellai.com'),
    {
      description: 'Host in the SIP URI dialed for each registered call',
      example: 'sip.retellai.com',
      deploy: { how: 'group', heroku: 'Host in the SIP URI Twilio dials.' },
      docs: { meaning: 'host in the SIP URI' },
      dotenv: { comment: 'Host in the SIP URI Twilio dials.' },
    },
  ),
  SIP_TRANSPORT: setting(z.enum(['tcp', 'udp', 'tls']).default('tcp'), {
    description: 'Appended to the SIP URI as ;transport=',
    example: 'tcp',
    deploy: { how: 'group', heroku: 'SIP transport: tcp, udp or tls.' },
    docs: { meaning: '`tcp`, `udp` or `tls`' },
    dotenv: { comment: 'SIP transport appended as ;transport= (tcp, udp or tls). Retell recommends tcp.' },
  }),
  RETELL_TIMEOUT_MS: setting(
    z.coerce
      .number({ error: 'must be a number of milliseconds' })
      .int()
      .min(200, 'must be at least 200')
      .max(8000, 'must be at most 8000 so the answer fits in Twilio\'s 15 s webhook budget')
      .default(4000),
    {
      description: 'Per-request timeout for registering a call with Retell',
      example: '4000',
      deploy: { how: 'group', heroku: 'Milliseconds to wait for Retell to register a call before answering the fallback (200-8000).' },
      docs: { meaning: 'how long to wait for Retell to register a call before answering the fallback' },
      dotenv: { comment: 'Milliseconds to wait for Retell to register a call before answering the fallback (200-8000).' },
    },
  ),
};

type Values = ValuesOf<typeof settings>;

export const rules = [
  rule(settings, ['RETELL_AGENT_ID', 'AGENT_ROUTES'], (e) => {
    if (e.RETELL_AGENT_ID || Object.keys(e.AGENT_ROUTES).length > 0) return [];
    return [{ variable: 'RETELL_AGENT_ID', problem: 'is required unless AGENT_ROUTES routes numbers to agents', example: metaOf(settings.RETELL_AGENT_ID).example }];
  }),
];

export function toConfig(e: Values) {
  return {
    retell: {
      apiKey: e.RETELL_API_KEY,
      baseUrl: e.RETELL_BASE_URL,
      defaultAgentId: e.RETELL_AGENT_ID,
      agentRoutes: e.AGENT_ROUTES as Readonly<Record<string, string>>,
      sipHost: e.RETELL_SIP_HOST,
      sipTransport: e.SIP_TRANSPORT,
      timeoutMs: e.RETELL_TIMEOUT_MS,
    },
  };
}
