/** Why a command was refused. The HTTP layer maps each code to a status in one place. */
export type DomainErrorCode =
  | 'EmailTaken'
  | 'UserNotFound'
  | 'UserAlreadyExists'
  | 'FunctionNotFound'
  | 'FunctionAlreadyExists'
  | 'NotFunctionOwner'
  | 'InvalidCredentials'
  | 'TooManyAttempts'
  | 'LimitReached'
  | 'ExecutionNotFound'
  | 'NotExecutionOwner'
  | 'ExecutionAlreadyExists'
  | 'IdempotencyKeyReused'
  | 'DeadLetterNotFound'
  | 'VersionConflict'
  | 'PreconditionFailed'
  | 'VersionNotFound'
  | 'DeadLetterNotRedrivable'
  | 'JobBusUnavailable'
  | 'ImageNotFound'
  | 'RegistryUnavailable'
  | 'StreamNotFound'
  | 'AccountNotFound'
  | 'SecretNotFound'
  | 'UnknownSecret'
  | 'SecretInUse'
  | 'SecretMissing'
  | 'VariableTwice'
  | 'KeyStoreUnavailable'
  | 'SecretsTooLarge';

export class DomainError extends Error {
  override readonly name = 'DomainError';
  constructor(
    readonly code: DomainErrorCode,
    message: string,
    /** For TooManyAttempts, LimitReached and the unavailable ones: when the caller may try again. */
    readonly retryAfterSeconds?: number,
    /** Facts the answer carries besides the message (a problem's extension members). */
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
  }
}
