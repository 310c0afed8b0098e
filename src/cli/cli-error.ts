/**
 * A failure the command line explains in one line of its own: not logged in, a name that
 * matches two functions, a damaged credentials file. `slug` names it for `--json`
 * (`urn:faasbox:cli:<slug>`), as the api's problem types do.
 */
export class CliError extends Error {
  override readonly name = 'CliError';
  constructor(
    message: string,
    readonly slug: string,
    readonly exitCode = 1,
  ) {
    super(message);
  }
}
