/**
 * Google's JSON API error shape, so the official client's error handling (`ApiError.code`,
 * `errors[].reason`, retry decisions) sees exactly what it sees from the real service.
 */
import type { ServerResponse } from 'node:http';
import type { InjectedErrorWriter } from '../common/server';

export type GcsReason =
  | 'notFound'
  | 'conditionNotMet'
  | 'conflict'
  | 'invalid'
  | 'invalidArgument'
  | 'required'
  | 'forbidden'
  | 'rateLimitExceeded'
  | 'backendError'
  | 'requestedRangeNotSatisfiable'
  | 'uploadBrokenConnection';

/** A failure the request handler turns into Google's error JSON. */
export class GcsError extends Error {
  override readonly name = 'GcsError';
  constructor(
    readonly code: number,
    readonly reason: GcsReason,
    message: string,
    readonly location?: { locationType: string; location: string },
  ) {
    super(message);
  }
}

export function errorBody(code: number, reason: GcsReason, message: string, location?: object) {
  return { error: { code, message, errors: [{ message, domain: 'global', reason, ...location }] } };
}

export function writeGcsError(res: ServerResponse, err: GcsError): void {
  const text = JSON.stringify(errorBody(err.code, err.reason, err.message, err.location));
  res.writeHead(err.code, {
    'content-type': 'application/json; charset=UTF-8',
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
}

const reasonForStatus: Record<number, GcsReason> = {
  400: 'invalid',
  401: 'required',
  403: 'forbidden',
  404: 'notFound',
  409: 'conflict',
  412: 'conditionNotMet',
  429: 'rateLimitExceeded',
};

/** Injected faults answer like a real GCS outage, so the client's retry logic classifies them. */
export const writeInjectedGcsError: InjectedErrorWriter = (res, status) => {
  writeGcsError(res, new GcsError(status, reasonForStatus[status] ?? 'backendError', 'injected fault'));
};

export const notFoundObject = (bucket: string, name: string) =>
  new GcsError(404, 'notFound', `No such object: ${bucket}/${name}`);

export const notFoundBucket = () => new GcsError(404, 'notFound', 'The specified bucket does not exist.');

export const conditionNotMet = (header: string) =>
  new GcsError(412, 'conditionNotMet', 'At least one of the pre-conditions you specified did not hold.', {
    locationType: 'header',
    location: header,
  });

export const invalid = (message: string) => new GcsError(400, 'invalid', message);
