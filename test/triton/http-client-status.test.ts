/**
 * How TritonHttpClient classifies a load's HTTP status: Triton's own refusals (400) are a failed
 * load, so the deploy rolls back; an overloaded or unavailable server (429, 5xx) is retried.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TritonHttpClient } from '../../shared/adapters/triton';
import { TritonLoadError } from '../../shared/ports/triton';
import { RetryableError } from '../../shared/runtime/errors';

let server: Server;
let url = '';
let answer = 200;

beforeAll(async () => {
  server = createServer((req, res) => {
    req.resume();
    res
      .writeHead(answer, { 'content-type': 'application/json' })
      .end(JSON.stringify({ error: `status ${answer}` }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise<void>((r) => server.close(() => r()));
});

describe('TritonHttpClient.load', () => {
  it.each([
    { status: 400, error: TritonLoadError, reason: 'MODEL_LOAD_FAILED' },
    { status: 429, error: RetryableError, reason: 'TRITON_UNAVAILABLE' },
    { status: 500, error: RetryableError, reason: 'TRITON_UNAVAILABLE' },
    { status: 503, error: RetryableError, reason: 'TRITON_UNAVAILABLE' },
  ])('HTTP $status -> $reason', async ({ status, error, reason }) => {
    answer = status;
    const err = await new TritonHttpClient(url).load('m').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(error);
    expect(err).toMatchObject({ reason });
    if (status !== 400) expect(err).not.toBeInstanceOf(TritonLoadError);
  });
});
