/**
 * The pre-dial hook's settings: what they parse into, and how a bad value stops start-up naming the
 * variable (an http URL in production, a timeout out of bounds).
 */
import { loadConfig } from '../../src/config';
import { configProblems as problems, PRODUCTION_PUBLIC_URL, testEnv } from '../support/bridge';

describe('pre-dial hook settings', () => {
  it('when none is set, then there is no hook and the timeout is 2000 ms', () => {
    expect(loadConfig(testEnv()).outbound.predial).toEqual({ url: undefined, timeoutMs: 2000 });
  });

  it('when they are set, then they are parsed', () => {
    const config = loadConfig(testEnv({ PREDIAL_WEBHOOK_URL: 'https://crm.example.com/bridge/predial?tenant=acme', PREDIAL_WEBHOOK_TIMEOUT_MS: '750' }));
    expect(config.outbound.predial).toEqual({ url: 'https://crm.example.com/bridge/predial?tenant=acme', timeoutMs: 750 });
  });

  it('when NODE_ENV=production and the URL is http, then start-up stops, naming it and suggesting https', () => {
    const env = { NODE_ENV: 'production', PUBLIC_URL: PRODUCTION_PUBLIC_URL, PREDIAL_WEBHOOK_URL: 'http://crm.example.com/predial' };
    expect(problems(env)).toContainEqual(expect.stringMatching(/^PREDIAL_WEBHOOK_URL must be an https URL when NODE_ENV=production/));
    expect(problems({ ...env, PREDIAL_WEBHOOK_URL: 'https://crm.example.com/predial' }).filter((p) => p.startsWith('PREDIAL'))).toEqual([]);
  });

  it.each([
    [{ PREDIAL_WEBHOOK_URL: 'crm.example.com/predial' }, /^PREDIAL_WEBHOOK_URL /],
    [{ PREDIAL_WEBHOOK_URL: 'ftp://crm.example.com/predial' }, /^PREDIAL_WEBHOOK_URL /],
    [{ PREDIAL_WEBHOOK_TIMEOUT_MS: 'soon' }, /^PREDIAL_WEBHOOK_TIMEOUT_MS must be a number of milliseconds/],
    [{ PREDIAL_WEBHOOK_TIMEOUT_MS: '50' }, /^PREDIAL_WEBHOOK_TIMEOUT_MS must be at least 100/],
    [{ PREDIAL_WEBHOOK_TIMEOUT_MS: '60000' }, /^PREDIAL_WEBHOOK_TIMEOUT_MS must be at most 10000/],
  ])('when %j, then start-up stops naming the variable', (env, message) => {
    expect(problems(env)).toEqual([expect.stringMatching(message)]);
  });
});
