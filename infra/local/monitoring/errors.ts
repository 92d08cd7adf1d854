/** Errors in the shape Google APIs put on the wire: `{"error":{code,message,status,details}}`. */

const HTTP_OF_STATUS: Record<string, number> = {
  INVALID_ARGUMENT: 400,
  FAILED_PRECONDITION: 400,
  OUT_OF_RANGE: 400,
  UNAUTHENTICATED: 401,
  PERMISSION_DENIED: 403,
  NOT_FOUND: 404,
  ALREADY_EXISTS: 409,
  ABORTED: 409,
  RESOURCE_EXHAUSTED: 429,
  INTERNAL: 500,
  UNIMPLEMENTED: 501,
  UNAVAILABLE: 503,
  DEADLINE_EXCEEDED: 504,
};

/** The canonical status Google uses for an HTTP code, for injected faults. */
export function statusOfHttp(code: number): string {
  const byCode: Record<number, string> = {
    400: 'INVALID_ARGUMENT',
    401: 'UNAUTHENTICATED',
    403: 'PERMISSION_DENIED',
    404: 'NOT_FOUND',
    409: 'ABORTED',
    429: 'RESOURCE_EXHAUSTED',
    500: 'INTERNAL',
    501: 'UNIMPLEMENTED',
    503: 'UNAVAILABLE',
    504: 'DEADLINE_EXCEEDED',
  };
  return byCode[code] ?? (code >= 500 ? 'UNKNOWN' : 'FAILED_PRECONDITION');
}

export class MonitoringApiError extends Error {
  override name = 'MonitoringApiError';
  readonly status: string;
  readonly httpStatus: number;

  constructor(status: string, message: string) {
    super(message);
    this.status = status;
    this.httpStatus = HTTP_OF_STATUS[status] ?? 500;
  }

  toJSON(): { error: { code: number; message: string; status: string } } {
    return { error: { code: this.httpStatus, message: this.message, status: this.status } };
  }
}

export function invalidArgument(message: string): MonitoringApiError {
  return new MonitoringApiError('INVALID_ARGUMENT', message);
}

/** `Field X had an invalid value of "V": why` (or without the value), the API's usual wording. */
export function invalidField(field: string, why: string, value?: string): MonitoringApiError {
  const of = value === undefined ? '' : ` of "${value}"`;
  return invalidArgument(`Field ${field} had an invalid value${of}: ${why}`);
}

export function notFound(message: string): MonitoringApiError {
  return new MonitoringApiError('NOT_FOUND', message);
}
