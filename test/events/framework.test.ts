import type { AddressInfo } from 'node:net';
import * as functions from '@google-cloud/functions-framework';
import { getTestServer } from '@google-cloud/functions-framework/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { asHttp, deliveredCloudEvent, loadFixtures } from './fixtures';

/**
 * The fixtures claim to be deliveries that can be POSTed to a Functions Framework server as-is.
 * This proves it, and proves that `cloudEventFromBinaryHttp` (used by the other tests to skip the
 * server) builds the same object the framework hands to a handler.
 */
const FUNCTION_NAME = 'eventsFixtureCapture';
const received: unknown[] = [];
functions.cloudEvent(FUNCTION_NAME, (event: unknown) => {
  received.push(JSON.parse(JSON.stringify(event)));
});

const server = getTestServer(FUNCTION_NAME);
let baseUrl = '';

beforeAll(async () => {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
});

afterAll(async () => {
  await new Promise<void>((resolve, reject) => server.close((err) => (err ? reject(err) : resolve())));
});

const incoming = ['storage', 'monitoring', 'scheduler'].flatMap((source) =>
  loadFixtures(source).map((fixture) => ({ id: `${source}/${fixture.name}`, fixture })),
);

describe('fixtures POSTed to a Functions Framework server', () => {
  it.each(incoming)('$id reaches the handler as cloudEventFromBinaryHttp predicts', async ({ fixture }) => {
    // Prepare
    const http = asHttp(fixture);
    received.length = 0;

    // Act
    const response = await fetch(baseUrl, {
      method: 'POST',
      headers: http.headers,
      body: JSON.stringify(http.body),
    });

    // Assess
    expect(response.status).toBe(204);
    expect(received).toHaveLength(1);
    expect(received[0]).toEqual(deliveredCloudEvent(fixture));
  });
});
