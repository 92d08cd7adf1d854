/** Errors in the shape Google APIs put on the wire: `{"error":{code,message,status,details}}`. */
import { HTTP_OF_STATUS } from '../common/google-errors';

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
