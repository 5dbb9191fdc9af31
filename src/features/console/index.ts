/**
 * The operator's console: what an operator sees of calls and events. Pages under /admin (the recent
 * calls, one call's timeline, the events with a redeliver button) behind ADMIN_PASSWORD, and the call
 * report `npm run inspect` prints: a call's record, its actions and their jobs, its recording, texts,
 * Twilio requests and events, an outbound call's request.
 */
export { CallReports, type ActionReport, type CallReport, type JobReport, type OutboundReport, type TextReport } from './call-report';
export { ConsoleService, FILTER_SCAN_MAX, STATE_FILTERS, type CallListPage, type CallListQuery } from './service';
export { consoleRoutes, type ConsoleRoutesDeps } from './routes';
export { adminGuard, ADMIN_REALM, CsrfTokens, isAdminPath } from './guard';
export { escapeHtml, maskNumber, CONTENT_SECURITY_POLICY } from './html';
export { timelineOf, type TimelineEntry } from './timeline';
