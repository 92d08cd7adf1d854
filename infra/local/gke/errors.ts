/** Errors in the shape Google APIs put on the wire: `{"error":{code,message,status,details}}`. */
import { HTTP_OF_STATUS } from '../common/google-errors';

export class GkeApiError extends Error {
  override name = 'GkeApiError';
  readonly status: string;
  readonly httpStatus: number;
  readonly details: readonly Record<string, unknown>[];

  constructor(status: string, message: string, details: readonly Record<string, unknown>[] = []) {
    super(message);
    this.status = status;
    this.httpStatus = HTTP_OF_STATUS[status] ?? 500;
    this.details = details;
  }

  toJSON(): { error: Record<string, unknown> } {
    return {
      error: {
        code: this.httpStatus,
        message: this.message,
        status: this.status,
        ...(this.details.length > 0 ? { details: this.details } : {}),
      },
    };
  }
}

export function invalidArgument(problems: readonly string[]): GkeApiError {
  return new GkeApiError('INVALID_ARGUMENT', problems.join(' '));
}

export function notFound(what: string): GkeApiError {
  return new GkeApiError('NOT_FOUND', `Not found: ${what}.`);
}

/** What the real API answers when a cluster already runs a mutating operation. */
export function clusterBusy(operationId: string, clusterName: string): GkeApiError {
  return new GkeApiError('FAILED_PRECONDITION', `Cluster is running incompatible operation ${operationId}.`, [
    {
      '@type': 'type.googleapis.com/google.rpc.ErrorInfo',
      reason: 'CLUSTER_ALREADY_HAS_OPERATION',
      domain: 'container.googleapis.com',
      metadata: { operation: operationId, cluster: clusterName },
    },
  ]);
}
