/**
 * The fault injector's random faults: statuses drawn from a list, dropped connections at a rate,
 * and a seed that makes a run's sequence of faults reproduce exactly.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalServer, startLocalServer } from '../../infra/local/common/server';

let server: LocalServer;

beforeAll(async () => {
  server = await startLocalServer((_req, res) => {
    res.writeHead(200).end('ok');
  });
});
afterAll(async () => {
  await server?.close();
});

/** 60 sequential requests: each one's status, or 'drop' when the connection was destroyed. */
async function run(): Promise<Array<number | 'drop'>> {
  const out: Array<number | 'drop'> = [];
  for (let i = 0; i < 60; i++) {
    try {
      const res = await fetch(`${server.url}/x`, { headers: { connection: 'close' } });
      await res.arrayBuffer();
      out.push(res.status);
    } catch {
      out.push('drop');
    }
  }
  return out;
}

describe('seeded random faults', () => {
  it('repeat the same sequence for the same seed, and another for another seed', async () => {
    // Act
    const config = { errorRate: 0.2, errorStatuses: [429, 500, 503], dropRate: 0.1 };
    server.faults.set({ ...config, seed: 7 });
    const first = await run();
    server.faults.set({ ...config, seed: 7 });
    const again = await run();
    server.faults.set({ ...config, seed: 8 });
    const other = await run();
    server.faults.clear();

    // Assess
    expect(again).toEqual(first);
    expect(other).not.toEqual(first);
    expect(new Set(first.filter((s) => s !== 200))).toEqual(new Set([429, 500, 503, 'drop']));
    expect(first.filter((s) => s === 200).length).toBeGreaterThan(30);
  });

  it('count what they injected', async () => {
    server.faults.set({ dropRate: 1, seed: 1 });
    await run();
    expect(server.faults.injected).toBe(60);
    server.faults.clear();
  });
});
