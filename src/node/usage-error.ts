import { MycelError } from '../errors.js';

/** The command line was used wrongly: exit 2 and show the usage. */
export class UsageError extends MycelError {
  constructor(message: string) {
    super('USAGE', message);
  }
}
