/** The command line asked for something that cannot be: exit status 2, like a usage error. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}
