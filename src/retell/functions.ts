import { Router, type Request, type Response } from 'express';
import { z } from 'zod';
import type { ByteBudget } from '../http/byte-budget';
import { HttpError } from '../http/errors';
import { parseOr400 } from '../http/validate';
import type { Metrics } from '../observability/metrics';
import { ATTR_CALL_SID, ATTR_RETELL_CALL_ID, withServerSpan } from '../observability/tracing';
import { retellSigned } from './webhook';

/** The part of Retell's call object (function calls and webhooks) used to find the Twilio call. */
export interface RetellCallRef {
  call_id: string;
  metadata?: unknown;
  from_number?: string;
  to_number?: string;
  direction?: string;
}

/** How a function call turned out; the route turns it into an HTTP status. */
export type FunctionOutcomeKind =
  /** The work was queued for the worker (or done at once). */
  | 'queued'
  /** A repeat of a request already taken: the same answer again. */
  | 'repeat'
  | 'unknown_call'
  | 'ended'
  /** Another action is under way or done on this call. */
  | 'conflict'
  /** What was asked for is not allowed (a destination, a number, a template). */
  | 'not_allowed'
  /** Redis (call store or queue) cannot be reached; the caller should retry. */
  | 'unavailable';

/** What the agent hears back: the outcome, a sentence it can use, and the work's state. */
export interface FunctionOutcome {
  outcome: FunctionOutcomeKind;
  /** A sentence for the agent. */
  result: string;
  /** The action's status (`queued`, `done`, `failed`), or the outcome when nothing was taken. */
  status: string;
  jobId?: string;
  callSid?: string;
}

/** One custom function an agent can call: its name (the URL's last segment), its arguments, what it does. */
export interface RetellFunction<A = unknown> {
  name: string;
  /** Validates `args`; a failure is a 400 naming the field. */
  args: z.ZodType<A>;
  run(call: RetellCallRef, args: A): Promise<FunctionOutcome>;
}

/** Declares a function with its arguments' type inferred from the schema. */
export function retellFunction<S extends z.ZodType>(name: string, args: S, run: (call: RetellCallRef, args: z.output<S>) => Promise<FunctionOutcome>): RetellFunction {
  return { name, args, run: run as RetellFunction['run'] };
}

const callRef = z.looseObject({
  call_id: z.string({ error: 'call.call_id is required' }).min(1).max(128),
  metadata: z.unknown().optional(),
  from_number: z.string().max(256).optional(),
  to_number: z.string().max(256).optional(),
  direction: z.string().max(32).optional(),
});

const functionCall = z.looseObject({
  name: z.string().max(64).optional(),
  call: z
    .unknown()
    .refine((v) => v !== undefined, { message: "call is missing: turn off 'Payload: args only' in the function's settings so Retell sends the call" })
    .pipe(callRef),
  args: z.record(z.string(), z.unknown()).default({}),
});

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
  functions: readonly RetellFunction[];
  /** Bodies read before their signature is checked, shared with the other unauthenticated routes. */
  budget: ByteBudget;
  metrics: Metrics;
}

/**
 * Retell custom functions. Each has its own URL (`/retell/functions/<name>`), and `POST /retell/functions`
 * dispatches on the body's `name`, so an agent can be set up either way.
 *
 * A signature covers the body and a timestamp, not the URL, so a signed body could be replayed to
 * another function's URL: each URL acts only on a body whose `name` is its own function.
 */
export function retellFunctionRoutes(deps: RetellFunctionRoutesDeps): Router {
  const { metrics } = deps;
  const byName = new Map(deps.functions.map((f) => [f.name, f]));
  const names = [...byName.keys()];
  const router = Router();
  const signed = retellSigned({
    apiKey: deps.apiKey,
    limitBytes: FUNCTION_BODY_LIMIT_BYTES,
    budget: deps.budget,
    onRefused: () => metrics.signatureRefusals.inc({ source: 'retell' }),
  });

  const run = async (route: string | undefined, req: Request, res: Response) => {
    const body = parseOr400(functionCall, req.body);
    const name = route ?? body.name;
    const fn = name === undefined ? undefined : byName.get(name);
    if (!fn) throw new HttpError(400, `name must be one of ${names.join(', ')}`);
    if (body.name !== fn.name) {
      throw new HttpError(400, `name ${JSON.stringify(body.name ?? null)} is not ${fn.name}, the function of this URL: name the Retell function ${fn.name}`);
    }
    const args = parseOr400(fn.args, body.args);
    await withServerSpan(`retell.function ${fn.name}`, req, req.route?.path as string, { [ATTR_RETELL_CALL_ID]: body.call.call_id, 'retell.function': fn.name }, async (span) => {
      const answer = await fn.run(body.call, args);
      metrics.functionCalls.inc({ name: fn.name, outcome: answer.outcome });
      if (span.isRecording()) span.setAttributes({ 'bridge.outcome': answer.outcome, ...(answer.callSid ? { [ATTR_CALL_SID]: answer.callSid } : {}) });
      res.status(HTTP_STATUS[answer.outcome]).json({ status: answer.status, result: answer.result, ...(answer.jobId ? { job_id: answer.jobId } : {}) });
    });
  };

  for (const name of names) router.post(`/retell/functions/${name}`, signed, (req, res) => run(name, req, res));
  router.post('/retell/functions', signed, (req, res) => run(undefined, req, res));
  return router;
}
