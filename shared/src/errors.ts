/**
 * Errors are values with a code. The code travels unchanged from where the
 * error arises to the HTTP answer and to the job record.
 */
export const httpStatusByCode = {
  validation_failed: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  payload_too_large: 413,
  unsupported_media_type: 415,
  quota_exceeded: 429,
  rate_limited: 429,
  internal_error: 500,
  unavailable: 503,
} as const;

type HttpErrorCode = keyof typeof httpStatusByCode;

export interface ErrorBody {
  code: string;
  message: string;
  details?: unknown[];
}

export class AppError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly options: { details?: unknown[]; httpStatus?: number; retryable?: boolean } = {},
  ) {
    super(message);
    this.name = 'AppError';
  }

  get httpStatus(): number {
    return this.options.httpStatus ?? httpStatusByCode[this.code as HttpErrorCode] ?? 500;
  }

  /** Whether trying the same work again may succeed (network trouble, a busy database). */
  get retryable(): boolean {
    return this.options.retryable ?? false;
  }

  toBody(): ErrorBody {
    const body: ErrorBody = { code: this.code, message: this.message };
    if (this.options.details) body.details = this.options.details;
    return body;
  }
}

export const validationFailed = (message: string, details?: unknown[]) =>
  new AppError('validation_failed', message, details ? { details } : {});
export const notFound = (message: string) => new AppError('not_found', message);
export const conflict = (message: string, details?: unknown[]) =>
  new AppError('conflict', message, details ? { details } : {});
export const unavailable = (message: string) => new AppError('unavailable', message, { retryable: true });

export function isAppError(error: unknown): error is AppError {
  return error instanceof AppError;
}

/** An error as it is stored in a job record: code and message, never a stack. */
export function toErrorBody(error: unknown): ErrorBody {
  if (isAppError(error)) return { code: error.code, message: error.message };
  return {
    code: 'internal_error',
    message: 'an unexpected error occurred; the operators have the details in the logs',
  };
}
