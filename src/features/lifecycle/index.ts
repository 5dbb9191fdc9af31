/** A call's progress whatever its direction: Twilio's status callback and Retell's call events. */
export { lifecycleRoutes, WEBHOOK_BODY_LIMIT_BYTES } from './routes';
