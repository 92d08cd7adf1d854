/**
 * Simulated inference on the local Triton: request validation in Triton's wording, outputs,
 * the capacity model (instances, queueing), statistics and the Prometheus metrics, and the
 * bounded load generator.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  generateLoad,
  memoryRepositoryReader,
  startTritonServer,
  type TritonServer,
} from '../../infra/local/triton';

const servers: TritonServer[] = [];
afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()));
});

const FILES = new Map<string, string>([
  [
    'batched/config.pbtxt',
    `name: "batched"
platform: "onnxruntime_onnx"
max_batch_size: 4
input [ { name: "x" data_type: TYPE_FP32 dims: [ -1, 2 ] } ]
output [ { name: "y" data_type: TYPE_FP32 dims: [ 3 ] }, { name: "z" data_type: TYPE_INT64 dims: [ 1 ] } ]
instance_group [ { count: 1 kind: KIND_GPU } ]`,
  ],
  ['batched/1/model.onnx', 'o'],
  [
    'fixed/config.pbtxt',
    `name: "fixed"
backend: "python"
input [ { name: "a" data_type: TYPE_INT32 dims: [ 2 ] }, { name: "b" data_type: TYPE_STRING dims: [ 1 ] } ]
output [ { name: "out" data_type: TYPE_BOOL dims: [ 2 ] } ]`,
  ],
  ['fixed/1/model.py', 'py'],
  [
    'wide/config.pbtxt',
    `name: "wide"
platform: "onnxruntime_onnx"
max_batch_size: 0
input [ { name: "x" data_type: TYPE_FP32 dims: [ 1 ] } ]
output [ { name: "y" data_type: TYPE_FP32 dims: [ 1 ] } ]
instance_group [ { count: 2 } ]`,
  ],
  ['wide/1/model.onnx', 'o'],
]);

let triton: TritonServer;
beforeAll(async () => {
  triton = await startTritonServer({
    repository: 'gs://unused/models',
    reader: memoryRepositoryReader(FILES),
    loadAllAtStart: true,
    computeMs: 20,
  });
  servers.push(triton);
});

async function infer(
  server: TritonServer,
  model: string,
  body: unknown,
): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(`${server.url}/v2/models/${model}/infer`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

/** Reads one sample of the metrics text, by metric name and label substring. */
async function metric(server: TritonServer, name: string, labels: string): Promise<number> {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && l.includes(labels));
  if (!line) throw new Error(`no ${name}{${labels}} in\n${text}`);
  return Number(line.slice(line.lastIndexOf(' ') + 1));
}

const x = (shape: number[], datatype = 'FP32') => ({
  name: 'x',
  datatype,
  shape,
  data: new Array(shape.reduce((n, d) => n * d, 1)).fill(0),
});

describe('inference', () => {
  it('returns the outputs with the batch dimension, datatypes and zeros', async () => {
    // Act
    const res = await infer(triton, 'batched', { id: 'r1', inputs: [x([2, 5, 2])] });
    // Assess
    expect(res).toEqual({
      status: 200,
      json: {
        model_name: 'batched',
        model_version: '1',
        id: 'r1',
        outputs: [
          { name: 'y', datatype: 'FP32', shape: [2, 3], data: [0, 0, 0, 0, 0, 0] },
          { name: 'z', datatype: 'INT64', shape: [2, 1], data: [0, 0] },
        ],
      },
    });
  });

  it('returns only the requested outputs', async () => {
    const res = await infer(triton, 'fixed', {
      inputs: [
        { name: 'a', datatype: 'INT32', shape: [2], data: [1, 2] },
        { name: 'b', datatype: 'BYTES', shape: [1], data: ['s'] },
      ],
      outputs: [{ name: 'out' }],
    });
    expect(res.json.outputs).toEqual([{ name: 'out', datatype: 'BOOL', shape: [2], data: [false, false] }]);
  });

  const refusals: Array<[string, string, unknown, string]> = [
    [
      'an unknown input',
      'batched',
      { inputs: [x([1, 1, 2]), { ...x([1, 1, 2]), name: 'q' }] },
      "unexpected inference input 'q' for model 'batched'",
    ],
    [
      'a missing input',
      'fixed',
      { inputs: [{ name: 'a', datatype: 'INT32', shape: [2], data: [1, 2] }] },
      "expected 2 inputs but got 1 inputs for model 'fixed'. Got input(s) ['a'], but missing required input(s) ['b']. Please provide all required input(s).",
    ],
    [
      'a config datatype name',
      'batched',
      { inputs: [x([1, 1, 2], 'TYPE_FP32')] },
      'invalid datatype for input x',
    ],
    [
      'the wrong datatype',
      'batched',
      { inputs: [x([1, 1, 2], 'INT32')] },
      "inference input 'x' data-type is 'INT32', but model 'batched' expects 'FP32'",
    ],
    [
      'a shape without the batch dimension',
      'batched',
      { inputs: [x([3, 3])] },
      "unexpected shape for input 'x' for model 'batched'. Expected [-1,-1,2], got [3,3]. NOTE: Setting a non-zero max_batch_size",
    ],
    [
      'a batch over max_batch_size',
      'batched',
      { inputs: [x([5, 1, 2])] },
      "inference request batch-size must be <= 4 for 'batched'",
    ],
    [
      'a fixed shape mismatch',
      'fixed',
      {
        inputs: [
          { name: 'a', datatype: 'INT32', shape: [3], data: [1, 2, 3] },
          { name: 'b', datatype: 'BYTES', shape: [1], data: ['s'] },
        ],
      },
      "unexpected shape for input 'a' for model 'fixed'. Expected [2], got [3]. ",
    ],
    [
      'data not matching the shape',
      'batched',
      { inputs: [{ ...x([1, 1, 2]), data: [0] }] },
      "Unable to parse 'data': Shape does not match true shape of 'data' field",
    ],
    [
      'an unknown output',
      'batched',
      { inputs: [x([1, 1, 2])], outputs: [{ name: 'nope' }] },
      "unexpected inference output 'nope' for model 'batched'",
    ],
    ['an unknown model', 'absent', { inputs: [] }, "Request for unknown model: 'absent' is not found"],
  ];
  it.each(refusals)('refuses %s with 400', async (_name, model, body, error) => {
    // Act
    const res = await infer(triton, model, body);
    // Assess
    expect(res.status).toBe(400);
    expect(String(res.json.error)).toContain(error);
  });

  it('counts a refused request as a failure of the model', async () => {
    // Prepare
    const before = await metric(triton, 'nv_inference_request_failure', 'model="wide",reason="OTHER"');
    // Act
    await infer(triton, 'wide', { inputs: [x([2])] });
    // Assess
    expect(await metric(triton, 'nv_inference_request_failure', 'model="wide",reason="OTHER"')).toBe(
      before + 1,
    );
  });
});

describe('metrics and statistics under load', () => {
  it('counters move, queue time grows past capacity, and the pending gauge shows waiting requests', async () => {
    // Prepare: one instance, 20 ms per execution; 6 requests at once must queue behind each other.
    const server = await startTritonServer({
      repository: 'gs://unused/models',
      reader: memoryRepositoryReader(FILES),
      loadAllAtStart: true,
      computeMs: 40,
    });
    servers.push(server);
    const labels = 'model="batched",version="1"';
    expect(await metric(server, 'nv_inference_request_success', labels)).toBe(0);
    await infer(server, 'batched', { inputs: [x([1, 1, 2])] });
    const aloneQueueUs = await metric(server, 'nv_inference_queue_duration_us', labels);

    // Act
    const burst = Promise.all(
      Array.from({ length: 6 }, () => infer(server, 'batched', { inputs: [x([2, 1, 2])] })),
    );
    let pendingSeen = 0;
    for (let i = 0; i < 100 && pendingSeen === 0; i++) {
      pendingSeen = await metric(server, 'nv_inference_pending_request_count', labels);
    }
    const results = await burst;

    // Assess
    expect(results.every((r) => r.status === 200)).toBe(true);
    expect(pendingSeen).toBeGreaterThan(0);
    expect(await metric(server, 'nv_inference_request_success', labels)).toBe(7);
    expect(await metric(server, 'nv_inference_count', labels)).toBe(13);
    expect(await metric(server, 'nv_inference_exec_count', labels)).toBe(7);
    expect(await metric(server, 'nv_inference_pending_request_count', labels)).toBe(0);
    // Requests 2..6 of the burst each waited at least one whole execution (40 ms) of another.
    const burstQueueUs = (await metric(server, 'nv_inference_queue_duration_us', labels)) - aloneQueueUs;
    expect(burstQueueUs).toBeGreaterThanOrEqual(5 * 39_000);
    expect(await metric(server, 'nv_inference_compute_infer_duration_us', labels)).toBeGreaterThan(0);
    expect(await metric(server, 'nv_inference_request_duration_us', labels)).toBeGreaterThan(burstQueueUs);
    const util = await metric(server, 'nv_gpu_utilization', 'gpu_uuid="GPU-');
    expect(util).toBeGreaterThan(0);
    expect(util).toBeLessThanOrEqual(1);

    const stats = (await (await fetch(`${server.url}/v2/models/batched/stats`)).json()) as {
      model_stats: Array<{
        inference_count: number;
        execution_count: number;
        inference_stats: { success: { count: number }; queue: { ns: number } };
      }>;
    };
    expect(stats.model_stats).toHaveLength(1);
    expect(stats.model_stats[0]).toMatchObject({
      inference_count: 13,
      execution_count: 7,
      inference_stats: { success: { count: 7 } },
    });
    expect(Math.round(stats.model_stats[0]!.inference_stats.queue.ns / 1000)).toBe(
      await metric(server, 'nv_inference_queue_duration_us', labels),
    );
  });

  it('serves Triton HELP and TYPE lines and GPU gauges', async () => {
    const text = await (await fetch(`${triton.url}/metrics`)).text();
    expect(text).toContain(
      '# HELP nv_inference_queue_duration_us Cumulative inference queuing duration in microseconds (includes cached requests)',
    );
    expect(text).toContain('# TYPE nv_inference_pending_request_count gauge');
    expect(text).toContain('# HELP nv_gpu_utilization GPU utilization rate [0.0 - 1.0)');
    expect(text).toMatch(/^nv_gpu_memory_total_bytes\{gpu_uuid="GPU-[^"]+"\} 24152899584$/m);
    expect(text).toMatch(/^nv_gpu_power_usage\{gpu_uuid="GPU-[^"]+"\} [0-9.]+$/m);
  });
});

describe('load generator', () => {
  it('sends a bounded number of requests built from the model metadata', async () => {
    // Act
    const result = await generateLoad({
      url: triton.url,
      model: 'wide',
      rps: 50,
      durationMs: 200,
      maxRequests: 5,
    });
    // Assess
    expect(result.sent).toBeLessThanOrEqual(5);
    expect(result.sent).toBeGreaterThan(0);
    expect(result.succeeded).toBe(result.sent);
    expect(result.byStatus).toEqual({ '200': result.sent });
  });

  it.each([
    ['a non-loopback URL', { url: 'http://10.0.0.1:8000', rps: 1, durationMs: 10 }, /non-loopback/],
    ['too many rps', { url: 'http://127.0.0.1:1', rps: 5000, durationMs: 10 }, /rps must be in/],
    ['too long', { url: 'http://127.0.0.1:1', rps: 1, durationMs: 3_600_000 }, /durationMs must be in/],
  ])('refuses %s', async (_name, opts, message) => {
    await expect(generateLoad({ model: 'wide', ...opts })).rejects.toThrow(message);
  });

  it('reports refused requests as failures', async () => {
    const result = await generateLoad({
      url: triton.url,
      model: 'wide',
      rps: 100,
      durationMs: 50,
      maxRequests: 3,
      inputs: [{ name: 'x', datatype: 'INT8', shape: [1], data: [0] }],
    });
    expect(result.failed).toBe(result.sent);
    expect(result.byStatus['400']).toBe(result.sent);
    expect(result.errors[0]).toContain("data-type is 'INT8'");
  });
});
