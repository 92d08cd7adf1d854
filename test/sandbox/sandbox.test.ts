import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

describe('npm start (the sandbox)', () => {
  it('builds and serves every function, and an upload to the incoming bucket ends served by Triton', async () => {
    // Prepare
    const dir = await mkdtemp(path.join(tmpdir(), 'inferplane-sandbox-'));
    try {
      // Act: the same script `npm start` runs, in its one-shot smoke mode.
      const child = spawn(
        process.execPath,
        ['--import', 'tsx', 'scripts/sandbox.ts', '--smoke', '--dir', dir],
        {
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      );
      let output = '';
      child.stdout.on('data', (c: Buffer) => {
        output += c.toString('utf8');
      });
      child.stderr.on('data', (c: Buffer) => {
        output += c.toString('utf8');
      });
      const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));

      // Assess
      expect(output).toContain('inferplane sandbox is up.');
      expect(output).toContain('[deployModel] INFO deployed add version 1 on triton-l4-spot');
      expect(output).toContain('smoke: add version 1 is READY');
      expect(code, output).toBe(0);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 180_000);
});
