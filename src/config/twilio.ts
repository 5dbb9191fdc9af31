/** The Twilio account: its webhooks are accepted and its REST API performs the bridge's actions. */
import { z } from 'zod';
import { ACCOUNT_SID } from '../formats';
import { setting, type Rule, type ValuesOf } from './parse';
import { credential, httpUrl } from './values';

export const title = 'Twilio';

export const settings = {
  TWILIO_ACCOUNT_SID: setting(z.string({ error: 'is required' }).regex(ACCOUNT_SID, 'must look like AC followed by 32 hex digits'), {
    description: 'Twilio account: verifies webhooks and calls the REST API',
    example: 'AC0123456789abcdef0123456789abcdef (Twilio Console > Account Info)',
    deploy: { how: 'ask', heroku: "Twilio Account SID (AC followed by 32 hex digits), from the Twilio Console's Account Info." },
    dotenv: { value: 'ACxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx' },
  }),
  TWILIO_AUTH_TOKEN: setting(credential(16, 'a Twilio auth token'), {
    description: 'Verifies X-Twilio-Signature and authenticates REST requests',
    example: '<the 32-character Auth Token from Twilio Console > Account Info>',
    secret: true,
    deploy: { how: 'ask', heroku: "Twilio Auth Token, from the Twilio Console's Account Info. Verifies Twilio's webhook signatures and authenticates REST calls." },
    docs: 'with previous',
    dotenv: { comment: false, value: 'your_twilio_auth_token' },
  }),
  TWILIO_API_BASE_URL: setting(httpUrl.default('https://api.twilio.com'), {
    description: 'Where the Twilio REST API is (change only for testing against a local stand-in)',
  }),
};

type Values = ValuesOf<typeof settings>;

export const rules: readonly Rule[] = [];

export function twilioOf(e: Pick<Values, 'TWILIO_ACCOUNT_SID' | 'TWILIO_AUTH_TOKEN' | 'TWILIO_API_BASE_URL'>) {
  return { accountSid: e.TWILIO_ACCOUNT_SID, authToken: e.TWILIO_AUTH_TOKEN, apiBaseUrl: e.TWILIO_API_BASE_URL };
}

export function toConfig(e: Values) {
  return { twilio: twilioOf(e) };
}
