/** The Retell account, and which agent takes a call: by the number called, or the default agent. */
import { z } from 'zod';
import { requirement, setting, type ValuesOf } from './parse';
import { credential, e164, httpUrl, jsonObject, milliseconds, notPlaceholder } from './values';

export const title = 'Retell and agent routing';

export const settings = {
  RETELL_API_KEY: setting(credential(8, 'a Retell API key'), {
    description: "Retell API key: registers calls and verifies Retell's signatures (use the key with the webhook badge)",
    example: '<the key with the webhook badge, Retell dashboard > API Keys>',
    secret: true,
    deploy: {
      how: 'ask',
      heroku: "Retell API key: the one with the webhook badge in the Retell dashboard (Settings > API Keys). Registers calls and verifies Retell's signatures.",
      renderNote: 'the key with the webhook badge',
    },
    dotenv: { value: 'key_xxxxxxxxxxxxxxxxxxxxxxxx' },
  }),
  RETELL_BASE_URL: setting(httpUrl.default('https://api.retellai.com'), {
    description: 'Where the Retell API is (change only for testing against a local stand-in)',
  }),
  RETELL_AGENT_ID: setting(notPlaceholder(z.string().min(1), 'the real agent id').optional(), {
    description: 'Agent for calls to numbers not listed in AGENT_ROUTES (required unless every number is routed)',
    example: 'agent_<id from the Retell dashboard>',
    deploy: { how: 'ask' },
    docs: { default: 'required unless every number is routed' },
    dotenv: { value: 'agent_xxxxxxxxxxxxxxxxxxxxxxxx' },
  }),
  AGENT_ROUTES: setting(
    jsonObject(
      z.record(e164, z.string().min(1, 'agent ids must not be empty'), { error: 'must map E.164 numbers to agent ids' }),
      '{"+14155550100":"agent_abc"}',
    ),
    {
      description: 'JSON object: called number (E.164) -> agent id, e.g. {"+14155550100":"agent_sales"}',
      example: '{"+14155550100":"agent_abc"}',
    },
  ),
  RETELL_SIP_HOST: setting(z.string().regex(/^[A-Za-z0-9.-]+(:\d+)?$/, 'must be a host name such as sip.retellai.com').default('sip.retellai.com'), {
    description: 'Host in the SIP URI Twilio dials',
  }),
  SIP_TRANSPORT: setting(z.enum(['tcp', 'udp', 'tls']).default('tcp'), {
    description: 'SIP transport appended to the SIP URI as ;transport= (tcp, udp or tls); Retell recommends tcp',
  }),
  RETELL_TIMEOUT_MS: setting(
    milliseconds({
      min: 200,
      minMessage: 'must be at least 200',
      max: 8000,
      maxMessage: "must be at most 8000 so the answer fits in Twilio's 15 s webhook budget",
      default: 4000,
    }),
    {
      description: 'Milliseconds to wait for Retell to register a call before answering the fallback (200-8000)',
    },
  ),
};

type Values = ValuesOf<typeof settings>;

export const rules = [
  requirement(
    settings,
    ['RETELL_AGENT_ID', 'AGENT_ROUTES'],
    'RETELL_AGENT_ID',
    (e) => Boolean(e.RETELL_AGENT_ID) || Object.keys(e.AGENT_ROUTES).length > 0,
    'is required unless AGENT_ROUTES routes numbers to agents',
  ),
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
