/**
 * What an operator sees of a call: its record, its actions and their jobs, its recording and texts, an
 * outbound call's request.
 * `npm run inspect` prints it.
 */
export { CallReports, type ActionReport, type CallReport, type JobReport, type OutboundReport, type TextReport } from './call-report';
