import { type Router, type Request } from 'express';
import { z } from 'zod';
import { orStoreUnavailable } from '../../calls/errors';
import { WARM_TRANSFER_ID } from '../../calls/record';
import type { WarmTransferCallbacks } from './callbacks';
import { WARM_TRANSFER_PATHS } from './twilio';
import { callForm, statusForm } from '../../twilio/forms';
import { accountForm, amdRoute, queryId, sendTwiml, twilioRouter, type TwilioRoutesDeps } from '../../twilio/webhook';

/** A request about the leg: its CallSid and AccountSid. */
const legForm = callForm({});

const gatherForm = legForm.extend({
  Digits: z.string({ error: 'Digits must be given once' }).max(16, 'Digits must be at most 16 characters').optional(),
});

export interface TwilioWarmTransferRoutesDeps extends TwilioRoutesDeps {
  callbacks: WarmTransferCallbacks;
}

/** The transfer's id every callback URL carries (`?x=warm_transfer-CA…-1`); it is covered by the signature. */
const transferId = (req: Request) => queryId(req, 'x', WARM_TRANSFER_ID, 'a warm transfer id (warm_transfer-CA…-n)');

/** Twilio's requests about a warm transfer's leg (signed, with the URLs the worker gave calls.create). */
export function twilioWarmTransferRoutes(deps: TwilioWarmTransferRoutesDeps): Router {
  const { config, callbacks } = deps;
  const { router, verified } = twilioRouter(deps);

  router.post(WARM_TRANSFER_PATHS.answer, ...verified, async (req, res) => {
    const form = accountForm(config, legForm, req);
    const id = transferId(req);
    sendTwiml(res, await orStoreUnavailable(() => callbacks.answer(id, form.CallSid)));
  });

  router.post(WARM_TRANSFER_PATHS.gather, ...verified, async (req, res) => {
    const form = accountForm(config, gatherForm, req);
    const id = transferId(req);
    sendTwiml(res, await orStoreUnavailable(() => callbacks.gather(id, form.CallSid, form.Digits ?? '')));
  });

  router.post(WARM_TRANSFER_PATHS.status, ...verified, async (req, res) => {
    const form = accountForm(config, statusForm, req);
    const id = transferId(req);
    await orStoreUnavailable(() => callbacks.legEnded(id, form.CallSid, form.CallStatus));
    res.status(204).end();
  });

  amdRoute({ router, verified }, config, WARM_TRANSFER_PATHS.amd, transferId, (id, legSid, answeredBy) =>
    orStoreUnavailable(() => callbacks.machineDetection(id, legSid, answeredBy)),
  );

  return router;
}
