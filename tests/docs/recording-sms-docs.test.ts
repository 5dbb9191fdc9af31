/**
 * docs/sms.md and docs/recording.md are copied into Retell's dashboard and into .env files: their
 * function schemas parse and match what the bridge accepts, and their example settings start a bridge
 * that takes the documented function calls.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { loadConfig } from '../../src/config';
import { startBridge, testEnv } from '../support/bridge';
import { liveCall } from '../support/calls';
import { functionCallBody, postRetell } from '../support/retell-signing';

const ROOT = path.resolve(__dirname, '../..');
const read = (file: string) => readFileSync(path.join(ROOT, file), 'utf8');
const jsonBlocks = (text: string) => [...text.matchAll(/```json\n([\s\S]*?)```/g)].map((m) => JSON.parse(m[1]!) as Record<string, unknown>);
/** The settings in a doc's first bash block, as a .env would hold them. */
const exampleEnv = (text: string) =>
  Object.fromEntries(
    /```bash\n([\s\S]*?)```/
      .exec(text)![1]!
      .split('\n')
      .filter((l) => /^[A-Z_]+=/.test(l))
      .map((l) => {
        const [key, ...rest] = l.split('=');
        return [key!, rest.join('=').replace(/\s+#.*$/, '').replace(/^"(.*)"$/, '$1')];
      }),
  );

describe('docs/sms.md', () => {
  const doc = read('docs/sms.md');

  it('when its send_sms schema is read, then it is a JSON Schema with template required, variables an object of strings and to a string', () => {
    const schema = jsonBlocks(doc).find((b) => (b.properties as Record<string, unknown> | undefined)?.template);
    expect(schema).toMatchObject({
      type: 'object',
      properties: { template: { type: 'string' }, variables: { type: 'object', additionalProperties: { type: 'string', maxLength: 200 } }, to: { type: 'string' } },
      required: ['template'],
    });
  });

  it('when its example settings start a bridge, then the schema\'s templates are the configured ones and a documented call is sent', async () => {
    const env = exampleEnv(doc);
    const config = loadConfig(testEnv(env));
    const schema = jsonBlocks(doc).find((b) => (b.properties as Record<string, unknown> | undefined)?.template)!;
    expect((schema.properties as { template: { enum: string[] } }).template.enum).toEqual(Object.keys(config.sms.templates));

    const bridge = await startBridge({ ...env, SMS_FROM: '', SMS_ALLOWLIST: env.SMS_ALLOWLIST! });
    try {
      const { callId } = await liveCall(bridge);
      const res = await postRetell(bridge.url, '/retell/functions/send_sms', functionCallBody('send_sms', callId, { template: 'booking_link', variables: { name: 'Dana', ref: 'A1' } }));
      expect(res.status).toBe(200);
      expect(await res.json()).toMatchObject({ status: 'queued', result: 'Sending the text now.' });
    } finally {
      await bridge.close();
    }
  });
});

describe('docs/recording.md', () => {
  const doc = read('docs/recording.md');

  it('when its pause/resume schema is read, then it is an object without arguments, as the bridge takes', () => {
    expect(jsonBlocks(doc)).toContainEqual({ type: 'object', properties: {} });
  });

  it('when its example settings are loaded, then they are a dual recording with a disclosure, announced', () => {
    expect(loadConfig(testEnv(exampleEnv(doc))).recording).toEqual({ mode: 'dual', disclosure: 'This call is recorded for quality and training.', consent: 'announce' });
  });
});
