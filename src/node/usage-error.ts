/** The command line was used wrongly: exit 2 and show the usage. */
export class UsageError extends Error {}
