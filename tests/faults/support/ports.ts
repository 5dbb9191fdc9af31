export { freePort } from '../../support/ports';
export { sleep, waitFor } from '../../support/wait';
