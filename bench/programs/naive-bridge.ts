/**
 * The yardstick: the few-line voice webhook from Retell's "dial to SIP URI" guide, as most integrations
 * start. It registers the call with retell-sdk on its defaults (Node's built-in fetch, 2 retries,
 * 60 s timeout) and answers `<Dial><Sip>`. No signature check, no dedupe (every repeat of a CallSid
 * registers another Retell call), no fallback (a Retell error is an HTTP 500, which the caller hears
 * as Twilio's application-error message).
 *
 * Env: PORT, RETELL_API_KEY, RETELL_BASE_URL, RETELL_AGENT_ID.
 */
import express from 'express';
import Retell from 'retell-sdk';
import { twiml } from 'twilio';

const client = new Retell({ apiKey: process.env.RETELL_API_KEY ?? '', baseURL: process.env.RETELL_BASE_URL });
const agentId = process.env.RETELL_AGENT_ID ?? '';

const app = express();
app.use(express.urlencoded({ extended: false }));

app.post('/twilio/voice', async (req, res) => {
  const phoneCallResponse = await client.call.registerPhoneCall({
    agent_id: agentId,
    from_number: req.body.From,
    to_number: req.body.To,
    direction: 'inbound',
  });
  const voiceResponse = new twiml.VoiceResponse();
  const dial = voiceResponse.dial();
  dial.sip(`sip:${phoneCallResponse.call_id}@sip.retellai.com`);
  res.set('Content-Type', 'text/xml');
  res.send(voiceResponse.toString());
});

const server = app.listen(Number(process.env.PORT ?? 3001), '127.0.0.1');
process.on('SIGTERM', () => {
  server.close(() => process.exit(0));
  server.closeAllConnections();
});
