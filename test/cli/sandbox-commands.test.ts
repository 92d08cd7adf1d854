import { describe, expect, it } from 'vitest';
import { main } from '../../cli/inferctl';
import { parseDuration } from '../../cli/load';
import { objectFileName } from '../../cli/upload';

async function run(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await main(argv, {
    stdout: { write: (t: string) => (out += t) },
    stderr: { write: (t: string) => (err += t) },
  });
  return { code, out, err };
}

describe('usage errors of the sandbox commands say what to write (exit 2)', () => {
  it.each([
    { argv: ['tick', '--at', '2026-12-02'], message: /--at needs an RFC 3339 time with a zone/ },
    { argv: ['tick', '--at', '2026-12-02T22:00:00'], message: /--at needs an RFC 3339 time/ },
    { argv: ['alert'], message: /say what the incident does/ },
    { argv: ['alert', 'reopen', '--policy', 'p'], message: /give open or close, not "reopen"/ },
    { argv: ['alert', 'open'], message: /--policy NAME is required/ },
    { argv: ['alert', 'open', '--policy', 'p', '--label', 'nokey'], message: /--label needs key=value/ },
    { argv: ['load', 'add', '--rps', '10'], message: /give both --rps N and --for DURATION/ },
    {
      argv: ['load', 'add', '--rps', '0', '--for', '1s'],
      message: /--rps needs requests per second, 1-1000/,
    },
    { argv: ['load', 'add', '--rps', '5', '--for', '11m'], message: /--for needs a duration up to 10m/ },
    { argv: ['upload', 'model.onnx'], message: /--model NAME is required/ },
    {
      argv: ['upload', 'model.onnx', '--model', 'a', '--version', '01'],
      message: /--version needs a positive integer/,
    },
    { argv: ['upload'], message: /give the model file or directory to upload/ },
    { argv: ['status', 'extra'], message: /unexpected argument "extra"/ },
  ])('inferctl $argv', async ({ argv, message }) => {
    // Act
    const r = await run(argv);

    // Assess
    expect(r.code).toBe(2);
    expect(r.err).toMatch(message);
  });

  it('a tick cannot be both --at and --security (exit 1, says which to drop)', async () => {
    // Act
    const r = await run(['tick', '--security', '--at', '2026-12-02T22:00:00Z']);

    // Assess
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/drop --at or --security/);
  });

  it('lists every command in its help', async () => {
    // Act
    const r = await run(['--help']);

    // Assess
    for (const c of ['alert', 'load', 'logs', 'status', 'tick', 'upload', 'plan', 'inspect', 'manifests']) {
      expect(r.out).toMatch(new RegExp(`^  ${c} `, 'm'));
    }
  });
});

describe('helpers', () => {
  it.each([
    ['30s', 30_000],
    ['2m', 120_000],
    ['1m30s', 90_000],
    ['500ms', 500],
    ['1h', 3_600_000],
  ])('duration %s', (raw, ms) => {
    expect(parseDuration(raw)).toBe(ms);
  });

  it.each(['', '10', '1x', 's', '0s', '1m 2s'])('not a duration: %j', (raw) => {
    expect(() => parseDuration(raw)).toThrow();
  });

  it.each([
    ['/x/add-dynamic-batch.onnx', 'model.onnx'],
    ['engine.plan', 'model.plan'],
    ['model.pt', 'model.pt'],
    ['config.pbtxt', 'config.pbtxt'],
    ['weights.bin', 'weights.bin'],
  ])('uploads %s as %s', (file, name) => {
    expect(objectFileName(file)).toBe(name);
  });
});
