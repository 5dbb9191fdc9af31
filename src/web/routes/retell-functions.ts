import { Router, type Request, type Response } from 'express';
import { z } from 'zod';
import type { ByteBudget } from '../../http/byte-budget';
import { speakable } from '../../formats';
import { HttpError } from '../../http/errors';
import { parseOr400 } from '../../http/validate';
import type { Logger } from '../../observability/logger';
import type { Metrics } from '../../observability/metrics';
import { retellSigned } from '../../retell/webhook';
import type { CallFunctions, FunctionOutcome, FunctionOutcomeKind } from '../../services/call-functions';

const callRef = z.looseObject({
  call_id: z.string({ error: 'call.call_id is required' }).min(1).max(128),
  metadata: z.unknown().optional(),
  from_number: z.string().max(256).optional(),
  to_number: z.string().max(256).optional(),
  direction: z.string().max(32).optional(),
});

const functionCall = z.looseObject({
  name: z.string().max(64).optional(),
  call: z.unknown().refine((v) => v !== undefined, {
    message: "call is missing: turn off 'Payload: args only' in the function's settings so Retell sends the call",
  }).pipe(callRef),
  args: z.record(z.string(), z.unknown()).default({}),
});

/**
 * A sentence the caller will hear. The caller steers what the agent writes, so characters XML cannot
 * carry (control characters, lone surrogates) are removed here, when the function call arrives, rather
 * than failing the TwiML later in the worker; nothing left means no message.
 */
const message = z.string().max(500).transform(speakable).optional();

const transferArgs = z.object({
  destination: z.string({ error: 'args.destination is required' }).trim().min(1, 'args.destination must not be empty').max(128),
  caller_id: z.enum(['caller', 'business']).optional(),
  message,
});

const warmTransferArgs = z.object({
  destination: transferArgs.shape.destination,
  // Said to the person taking the call, so cleaned like any sentence the caller steers.
  summary: z
    .string({ error: 'args.summary is required: a sentence or two for the person taking the call' })
    .max(600, 'args.summary must be at most 600 characters')
    .transform(speakable)
    .pipe(z.string({ error: 'args.summary must not be empty' }).trim().min(1, 'args.summary must not be empty')),
});

const endCallArgs = z.object({ message });

export const FUNCTION_NAMES = ['transfer_call', 'end_call', 'warm_transfer'] as const;
type FunctionName = (typeof FUNCTION_NAMES)[number];

/** What Retell is told for each outcome: it retries 5xx, and the agent reads the sentence either way. */
const HTTP_STATUS: Readonly<Record<FunctionOutcomeKind, number>> = {
  queued: 200,
  repeat: 200,
  unknown_call: 404,
  conflict: 409,
  ended: 410,
  not_allowed: 422,
  unavailable: 503,
};

/**
 * Largest function call read. Retell sends the call object with the transcript so far: a few hundred
 * KiB for a long call, so 2 MiB leaves room without letting one request hold much memory.
 */
export const FUNCTION_BODY_LIMIT_BYTES = 2 * 1024 * 1024;

export interface RetellFunctionRoutesDeps {
  apiKey: string;
  functions: CallFunctions;
  /** Bodies read before their signature is checked, shared with the other unauthenticated routes. */
  budget: ByteBudget;
  logger: Logger;
  metrics: Metrics;
}

/**
 * Retell custom functions. Each has its own URL, and `POST /retell/functions` dispatches on the
 * body's `name`, so an agent can be set up either way.
 *
 * A signature covers the body and a timestamp, not the URL, so a signed body could be replayed to
 * another function's URL: each URL acts only on a body whose `name` is its own function.
 */
export function retellFunctionRoutes(deps: RetellFunctionRoutesDeps): Router {
  const { functions, metrics } = deps;
  const router = Router();
  const signed = retellSigned({
    apiKey: deps.apiKey,
    limitBytes: FUNCTION_BODY_LIMIT_BYTES,
    budget: deps.budget,
    onRefused: () => metrics.signatureRefusals.inc({ source: 'retell' }),
  });

  const run = async (route: FunctionName | undefined, req: Request, res: Response) => {
    const body = parseOr400(functionCall, req.body);
    const name = route ?? body.name;
    if (!FUNCTION_NAMES.includes(name as FunctionName)) {
      throw new HttpError(400, `name must be one of ${FUNCTION_NAMES.join(', ')}`);
    }
    if (body.name !== name) {
      throw new HttpError(400, `name ${JSON.stringify(body.name ?? null)} is not ${name}, the function of this URL: name the Retell function ${name}`);
    }
    let answer: FunctionOutcome;
    if (name === 'transfer_call') answer = await functions.transfer(body.call, parseOr400(transferArgs, body.args));
    else if (name === 'warm_transfer') answer = await functions.warmTransfer(body.call, parseOr400(warmTransferArgs, body.args));
    else answer = await functions.endCall(body.call, parseOr400(endCallArgs, body.args));
    metrics.functionCalls.inc({ name, outcome: answer.outcome });
    res.status(HTTP_STATUS[answer.outcome]).json({ status: answer.status, result: answer.result, ...(answer.jobId ? { job_id: answer.jobId } : {}) });
  };

  router.post('/retell/functions/transfer_call', signed, (req, res) => run('transfer_call', req, res));
  router.post('/retell/functions/end_call', signed, (req, res) => run('end_call', req, res));
  router.post('/retell/functions/warm_transfer', signed, (req, res) => run('warm_transfer', req, res));
  router.post('/retell/functions', signed, (req, res) => run(undefined, req, res));
  return router;
}
