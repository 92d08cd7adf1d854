/**
 * Generated models shaped like real ones, for the signature-read tests and benchmarks: hundreds of
 * weight tensors of mixed sizes in the order exporters write them (nodes, then initializers, then
 * inputs and outputs), a graph onnxruntime accepts and that uses every weight:
 * `Y = X + ReduceSum(W0) + ReduceSum(W1) + ...`.
 */
import { writeFile } from 'node:fs/promises';
import { ElemType, encodeModel, type InitializerSpec, type ModelSpec, type NodeSpec } from './build-onnx';

export interface ShapedModelOptions {
  /** How many weight tensors. */
  tensors: number;
  /** Their raw_data, all together (the file is a little larger). */
  weightBytes: number;
  /** `cnn`: a big conv weight then its bias and batch-norm vectors; `transformer`: projections, FFN, norms. */
  shape: 'cnn' | 'transformer';
  /** Store the weights in this external file instead of raw_data (its contents are not written). */
  externalLocation?: string;
}

/** Relative sizes of one repeating group of tensors, and their names. */
const GROUPS = {
  cnn: [
    { suffix: 'conv.weight', weight: 1 },
    { suffix: 'conv.bias', weight: 0.004 },
    { suffix: 'bn.weight', weight: 0.004 },
    { suffix: 'bn.bias', weight: 0.004 },
  ],
  transformer: [
    { suffix: 'self_attn.q_proj.weight', weight: 1 },
    { suffix: 'self_attn.k_proj.weight', weight: 1 },
    { suffix: 'self_attn.v_proj.weight', weight: 1 },
    { suffix: 'self_attn.o_proj.weight', weight: 1 },
    { suffix: 'self_attn.o_proj.bias', weight: 0.008 },
    { suffix: 'mlp.fc1.weight', weight: 4 },
    { suffix: 'mlp.fc1.bias', weight: 0.03 },
    { suffix: 'mlp.fc2.weight', weight: 4 },
    { suffix: 'input_layernorm.weight', weight: 0.008 },
    { suffix: 'post_attention_layernorm.weight', weight: 0.008 },
  ],
} as const;

export function shapedModel(opts: ShapedModelOptions): ModelSpec {
  const group = GROUPS[opts.shape];
  const layout = Array.from({ length: opts.tensors }, (_, i) => {
    const g = group[i % group.length]!;
    const layer = Math.floor(i / group.length);
    // Later CNN layers are wider: sizes grow with depth, as in ResNets.
    const growth = opts.shape === 'cnn' ? 1 + layer / 4 : 1;
    return { name: `model.layers.${layer}.${g.suffix}`, weight: g.weight * growth };
  });
  const total = layout.reduce((s, t) => s + t.weight, 0);
  let offset = 0;
  const initializers: InitializerSpec[] = layout.map((t) => {
    const floats = Math.max(1, Math.floor((opts.weightBytes * t.weight) / total / 4));
    const spec: InitializerSpec = {
      name: t.name,
      dataType: ElemType.FLOAT,
      dims: [floats],
      ...(opts.externalLocation === undefined
        ? { raw: new Uint8Array(floats * 4) }
        : { external: { location: opts.externalLocation, offset, length: floats * 4 } }),
    };
    offset += floats * 4;
    return spec;
  });
  const nodes: NodeSpec[] = [];
  let acc = 'X';
  initializers.forEach((w, i) => {
    nodes.push({ opType: 'ReduceSum', inputs: [w.name], outputs: [`${w.name}.sum`], name: `/reduce_${i}` });
    const out = i === initializers.length - 1 ? 'Y' : `acc_${i}`;
    nodes.push({ opType: 'Add', inputs: [acc, `${w.name}.sum`], outputs: [out], name: `/add_${i}` });
    acc = out;
  });
  return {
    irVersion: 8,
    producerName: 'inferplane-test',
    producerVersion: '1',
    graphName: `${opts.shape}_like`,
    nodes,
    initializers,
    inputs: [{ name: 'X', elemType: ElemType.FLOAT, dims: ['batch', 16] }],
    outputs: [{ name: 'Y', elemType: ElemType.FLOAT, dims: ['batch', 16] }],
  };
}

/** The external data file for a model made with `externalLocation` (zeros, the declared length). */
export function externalBytes(spec: ModelSpec): number {
  return (spec.initializers ?? []).reduce((s, t) => s + (t.external?.length ?? 0), 0);
}

/** Writes the model (and its external data file beside it, when it has one); returns the model size. */
export async function writeShapedModel(
  path: string,
  spec: ModelSpec,
  externalPath?: string,
): Promise<number> {
  const bytes = encodeModel(spec);
  await writeFile(path, bytes);
  if (externalPath !== undefined) await writeFile(externalPath, new Uint8Array(externalBytes(spec)));
  return bytes.byteLength;
}

/** The generated models the tests and benchmarks share, by name. */
export const SHAPED_MODELS: Readonly<Record<string, ShapedModelOptions>> = {
  'cnn, 320 tensors, 12 MiB': { shape: 'cnn', tensors: 320, weightBytes: 12 << 20 },
  'transformer, 480 tensors, 16 MiB': { shape: 'transformer', tensors: 480, weightBytes: 16 << 20 },
  'cnn, 160 tensors, 42 MB': { shape: 'cnn', tensors: 160, weightBytes: 42_000_000 },
  'transformer, 300 tensors, external data': {
    shape: 'transformer',
    tensors: 300,
    weightBytes: 8 << 20,
    externalLocation: 'weights.bin',
  },
};
