import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Storage } from '@google-cloud/storage';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalServer, startLocalServer } from '../../infra/local/common/server';
import { gcsByteSource } from '../../shared/adapters/storage';
import { readOnnxSignature } from '../../shared/onnx/reader';
import { BufferedByteReader, fileByteSource, memoryByteSource } from '../../shared/onnx/source';
import { addDynamicBatchModel, encodeModel } from './build-onnx';

const bytes0to255 = Uint8Array.from({ length: 256 }, (_, i) => i);

describe('fileByteSource', () => {
  let dir: string;
  let path: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'onnx-source-'));
    path = join(dir, 'data.bin');
    await writeFile(path, bytes0to255);
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('reads ranges, returns fewer bytes at the end, and counts what it read', async () => {
    // Prepare
    const source = fileByteSource(path);

    // Act
    const size = await source.size();
    const middle = await source.read(10, 5);
    const tail = await source.read(250, 100);
    const past = await source.read(300, 10);
    await source.close?.();
    await source.close?.();

    // Assess
    expect(size).toBe(256);
    expect(Array.from(middle)).toEqual([10, 11, 12, 13, 14]);
    expect(Array.from(tail)).toEqual([250, 251, 252, 253, 254, 255]);
    expect(past.byteLength).toBe(0);
    expect(source.bytesRead).toBe(11);
  });

  it('rejects a negative range', async () => {
    const source = fileByteSource(path);
    await expect(source.read(-1, 4)).rejects.toThrow('non-negative');
    await source.close?.();
  });
});

describe('BufferedByteReader', () => {
  it('serves small reads from one window and skips without reading', async () => {
    // Prepare
    const data = new Uint8Array(10_000).map((_, i) => i % 251);
    const source = memoryByteSource(data);
    const reader = new BufferedByteReader(source, data.byteLength, 64);

    // Act
    const a = await reader.readBytes(3);
    const b = await reader.readBytes(3);
    reader.skip(9_000);
    const c = await reader.readBytes(2);

    // Assess
    expect(Array.from(a)).toEqual([0, 1, 2]);
    expect(Array.from(b)).toEqual([3, 4, 5]);
    expect(Array.from(c)).toEqual([9006 % 251, 9007 % 251]);
    expect(reader.position).toBe(9008);
    expect(source.bytesRead).toBe(128);
  });

  it('reads a field larger than the window directly, and stops at the end', async () => {
    // Prepare
    const source = memoryByteSource(bytes0to255);
    const reader = new BufferedByteReader(source, 256, 16);

    // Act
    const big = await reader.readBytes(100);
    reader.skip(150);
    const end = await reader.readBytes(20);

    // Assess
    expect(big.byteLength).toBe(100);
    expect(big[99]).toBe(99);
    expect(Array.from(end)).toEqual([250, 251, 252, 253, 254, 255]);
  });
});

/** The two JSON API routes gcsByteSource uses: object metadata and ranged media downloads. */
function fakeGcs(objects: Map<string, Uint8Array>, log: string[]) {
  return (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const match = /\/b\/([^/]+)\/o\/([^/]+)$/.exec(url.pathname);
    const key = match ? `${match[1]}/${decodeURIComponent(match[2] ?? '')}` : '';
    const body = objects.get(key);
    if (req.method !== 'GET' || body === undefined) {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { code: 404, message: 'No such object' } }));
      return;
    }
    if (url.searchParams.get('alt') !== 'media') {
      log.push('metadata');
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ bucket: match?.[1], name: match?.[2], size: String(body.byteLength) }));
      return;
    }
    const range = /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? '');
    if (!range) {
      log.push('full');
      res.writeHead(200, { 'content-length': body.byteLength });
      res.end(body);
      return;
    }
    const start = Number(range[1]);
    const end = Math.min(Number(range[2]), body.byteLength - 1);
    log.push(`range ${start}-${end}`);
    const part = body.subarray(start, end + 1);
    res.writeHead(206, {
      'content-length': part.byteLength,
      'content-range': `bytes ${start}-${end}/${body.byteLength}`,
    });
    res.end(part);
  };
}

describe('gcsByteSource against a local Cloud Storage endpoint', () => {
  const log: string[] = [];
  const model = encodeModel({
    ...addDynamicBatchModel(),
    initializers: [{ name: 'W', dataType: 1, dims: [1 << 20], raw: new Uint8Array(4 << 20) }],
  });
  let server: LocalServer;
  let storage: Storage;

  beforeAll(async () => {
    server = await startLocalServer(fakeGcs(new Map([['models/m/1/model.onnx', model]]), log));
    storage = new Storage({ apiEndpoint: server.url, projectId: 'test-project' });
  });
  afterAll(async () => {
    await server.close();
  });

  it('reads the signature with ranged GETs and never downloads the weights', async () => {
    // Prepare
    log.length = 0;
    const source = gcsByteSource(storage.bucket('models').file('m/1/model.onnx'));

    // Act
    const sig = await readOnnxSignature(source, { windowBytes: 8192 });

    // Assess
    expect(sig.inputs.map((i) => i.name)).toEqual(['X']);
    expect(sig.outputs.map((o) => o.name)).toEqual(['Y']);
    expect(log[0]).toBe('metadata');
    expect(log).not.toContain('full');
    expect(log.filter((l) => l.startsWith('range')).length).toBeLessThanOrEqual(3);
    expect(source.bytesRead).toBeLessThan(3 * 8192);
  });

  it('with the size known, reads the signature without a metadata request', async () => {
    // Prepare
    log.length = 0;
    const source = gcsByteSource(storage.bucket('models').file('m/1/model.onnx'), {
      size: model.byteLength,
    });

    // Act
    const sig = await readOnnxSignature(source, { windowBytes: 8192 });

    // Assess
    expect(sig.outputs.map((o) => o.name)).toEqual(['Y']);
    expect(log).not.toContain('metadata');
    expect(log[0]).toBe('range 0-8191');
    expect(log.filter((l) => l.startsWith('range')).length).toBeLessThanOrEqual(3);
  });

  it('reads a small model whose size is known in one ranged GET, with the same signature', async () => {
    // Prepare
    const small = encodeModel(addDynamicBatchModel());
    const smallServer = await startLocalServer(fakeGcs(new Map([['models/small.onnx', small]]), log));
    const smallStorage = new Storage({ apiEndpoint: smallServer.url, projectId: 'test-project' });
    const file = () => smallStorage.bucket('models').file('small.onnx');
    try {
      log.length = 0;
      const unknown = await readOnnxSignature(gcsByteSource(file()));
      const withMetadata = [...log];
      log.length = 0;

      // Act
      const known = await readOnnxSignature(gcsByteSource(file(), { size: small.byteLength }));

      // Assess
      expect(known).toEqual(unknown);
      expect(withMetadata).toEqual(['metadata', `range 0-${small.byteLength - 1}`]);
      expect(log).toEqual([`range 0-${small.byteLength - 1}`]);
    } finally {
      await smallServer.close();
    }
  });

  it.each([-1, 1.5, Number.NaN])('refuses a known size of %s before any request', (size) => {
    log.length = 0;
    expect(() => gcsByteSource(storage.bucket('models').file('m/1/model.onnx'), { size })).toThrow(
      /is not a byte count/,
    );
    expect(log).toEqual([]);
  });

  it('surfaces a missing object as an error from the client', async () => {
    // Prepare
    const source = gcsByteSource(storage.bucket('models').file('nope.onnx'));

    // Act / Assess
    await expect(readOnnxSignature(source)).rejects.toMatchObject({ code: 404 });
  });
});
