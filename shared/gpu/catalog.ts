import { ConfigurationError } from '../runtime/errors';

/**
 * GPU classes the control plane can provision, kept as data so prices and shapes can be overridden
 * from the policy file without a release. Shapes and prices come from /work/shared/reference/gke.md
 * (Compute Engine GPU docs and public Cloud Billing SKU figures, us-central1).
 */
export type BuiltinGpuClassId = 'l4' | 'a100-40gb' | 'a100-80gb' | 'h100-80gb';
/** A built-in id or a user-defined one declared in the policy's per-class overrides. */
export type GpuClassId = BuiltinGpuClassId | (string & {});

export interface MachineShape {
  gpus: number;
  /** Absent where the public shape table does not give it. */
  vcpus?: number;
  memoryGb?: number;
}

export interface GpuClass {
  id: GpuClassId;
  /** The built-in class this one derives from (itself for built-ins). */
  baseClass: BuiltinGpuClassId;
  displayName: string;
  /** Value of `config.accelerators[].acceleratorType` and of the node label `cloud.google.com/gke-accelerator`. */
  acceleratorType: string;
  gpuMemoryGb: number;
  machineTypes: Readonly<Record<string, MachineShape>>;
  /** Machine type used when the policy does not name one. */
  machineType: string;
  /** Whether pools of this class use Spot VMs unless the caller says otherwise. */
  spot: boolean;
  onDemandPerGpuHour: number;
  spotPerGpuHour: number;
  /** Listed on-demand machine prices (GPUs included); other machine types are estimated. */
  machineOnDemandHourly: Readonly<Record<string, number>>;
  pricesAsOf: string;
  pricesSource: string;
}

/** Per-class override as written in the policy file (shape shared with shared/policy). */
export interface GpuClassOverride {
  machineType?: string;
  spot?: boolean;
  onDemandPerGpuHour?: number;
  spotPerGpuHour?: number;
  pricesAsOf?: string;
}

export type GpuClassOverrides = Readonly<Record<string, GpuClassOverride | undefined>>;

const PRICES_SOURCE =
  'public Cloud Billing SKU figures, us-central1 (H100 spot: us-east4); spot discounts change daily, ' +
  'override onDemandPerGpuHour/spotPerGpuHour/pricesAsOf in the policy file';
// The reference figures carry no date; saying so beats inventing one.
const PRICES_AS_OF = 'undated';

function perGpuShapes(
  prefix: string,
  counts: readonly number[],
  vcpusPerGpu: number,
  memoryGbPerGpu: number,
): Record<string, MachineShape> {
  const out: Record<string, MachineShape> = {};
  for (const n of counts) {
    out[`${prefix}-${n}g`] = { gpus: n, vcpus: n * vcpusPerGpu, memoryGb: n * memoryGbPerGpu };
  }
  return out;
}

export const BUILTIN_GPU_CLASSES: Readonly<Record<BuiltinGpuClassId, GpuClass>> = {
  l4: {
    id: 'l4',
    baseClass: 'l4',
    displayName: 'NVIDIA L4',
    acceleratorType: 'nvidia-l4',
    gpuMemoryGb: 24,
    // G2 machines carry 4 GB of memory per vCPU.
    machineTypes: {
      'g2-standard-4': { gpus: 1, vcpus: 4, memoryGb: 16 },
      'g2-standard-8': { gpus: 1, vcpus: 8, memoryGb: 32 },
      'g2-standard-12': { gpus: 1, vcpus: 12, memoryGb: 48 },
      'g2-standard-16': { gpus: 1, vcpus: 16, memoryGb: 64 },
      'g2-standard-32': { gpus: 1, vcpus: 32, memoryGb: 128 },
      'g2-standard-24': { gpus: 2, vcpus: 24, memoryGb: 96 },
      'g2-standard-48': { gpus: 4, vcpus: 48, memoryGb: 192 },
      'g2-standard-96': { gpus: 8, vcpus: 96, memoryGb: 384 },
    },
    machineType: 'g2-standard-4',
    spot: false,
    onDemandPerGpuHour: 0.56,
    spotPerGpuHour: 0.22,
    // biome-ignore lint/suspicious/noApproximativeNumericConstant: a price that happens to look like sqrt(1/2)
    machineOnDemandHourly: { 'g2-standard-4': 0.707, 'g2-standard-8': 0.854 },
    pricesAsOf: PRICES_AS_OF,
    pricesSource: PRICES_SOURCE,
  },
  'a100-40gb': {
    id: 'a100-40gb',
    baseClass: 'a100-40gb',
    displayName: 'NVIDIA A100 40GB',
    acceleratorType: 'nvidia-tesla-a100',
    gpuMemoryGb: 40,
    machineTypes: {
      ...perGpuShapes('a2-highgpu', [1, 2, 4, 8], 12, 85),
      // The per-GPU rule does not hold for the 16-GPU shape; its host size is left unknown.
      'a2-megagpu-16g': { gpus: 16 },
    },
    machineType: 'a2-highgpu-1g',
    spot: false,
    onDemandPerGpuHour: 2.934,
    spotPerGpuHour: 1.43,
    machineOnDemandHourly: { 'a2-highgpu-1g': 3.673 },
    pricesAsOf: PRICES_AS_OF,
    pricesSource: PRICES_SOURCE,
  },
  'a100-80gb': {
    id: 'a100-80gb',
    baseClass: 'a100-80gb',
    displayName: 'NVIDIA A100 80GB',
    acceleratorType: 'nvidia-a100-80gb',
    gpuMemoryGb: 80,
    machineTypes: perGpuShapes('a2-ultragpu', [1, 2, 4, 8], 12, 170),
    machineType: 'a2-ultragpu-1g',
    spot: false,
    onDemandPerGpuHour: 3.928,
    spotPerGpuHour: 1.96,
    machineOnDemandHourly: { 'a2-ultragpu-1g': 5.028 },
    pricesAsOf: PRICES_AS_OF,
    pricesSource: PRICES_SOURCE,
  },
  'h100-80gb': {
    id: 'h100-80gb',
    baseClass: 'h100-80gb',
    displayName: 'NVIDIA H100 80GB',
    acceleratorType: 'nvidia-h100-80gb',
    gpuMemoryGb: 80,
    // a3-highgpu-8g is 208 vCPU / 1872 GB; the smaller shapes are the same per-GPU slice.
    machineTypes: perGpuShapes('a3-highgpu', [1, 2, 4, 8], 26, 234),
    machineType: 'a3-highgpu-1g',
    spot: false,
    onDemandPerGpuHour: 9.797,
    spotPerGpuHour: 2.24,
    machineOnDemandHourly: { 'a3-highgpu-8g': 87.8 },
    pricesAsOf: PRICES_AS_OF,
    pricesSource: PRICES_SOURCE,
  },
};

export const BUILTIN_GPU_CLASS_IDS = Object.keys(BUILTIN_GPU_CLASSES) as BuiltinGpuClassId[];

export function isBuiltinGpuClassId(id: string): id is BuiltinGpuClassId {
  return Object.hasOwn(BUILTIN_GPU_CLASSES, id);
}

/** The built-in class whose machine types include `machineType`, if any. */
export function builtinClassForMachineType(machineType: string): GpuClass | undefined {
  return Object.values(BUILTIN_GPU_CLASSES).find((c) => Object.hasOwn(c.machineTypes, machineType));
}

/** The built-in class for a GKE acceleratorType (e.g. read back from an observed node pool). */
export function builtinClassForAcceleratorType(acceleratorType: string): GpuClass | undefined {
  return Object.values(BUILTIN_GPU_CLASSES).find((c) => c.acceleratorType === acceleratorType);
}

/**
 * The effective class for `id` after applying `overrides[id]`.
 *
 * A user-defined id (say `l4-big`) has no shape of its own: its override must name a machine type,
 * and the machine type decides the base class. This keeps the policy's override shape small while
 * letting users define e.g. a spot L4 class on g2-standard-24 next to the default one.
 */
export function resolveGpuClass(id: string, overrides?: GpuClassOverrides): GpuClass {
  const override = overrides && Object.hasOwn(overrides, id) ? overrides[id] : undefined;
  let base: GpuClass | undefined;
  if (isBuiltinGpuClassId(id)) {
    base = BUILTIN_GPU_CLASSES[id];
  } else {
    if (!override) {
      throw new ConfigurationError(
        'UNKNOWN_GPU_CLASS',
        `unknown GPU class "${id}": use one of ${BUILTIN_GPU_CLASS_IDS.join(', ')}, or declare it under the ` +
          'GPU class overrides with a machineType',
        { details: { gpuClass: id } },
      );
    }
    if (!override.machineType) {
      throw new ConfigurationError(
        'UNKNOWN_GPU_CLASS',
        `GPU class "${id}" is not built in, so its override must name a machineType (e.g. g2-standard-4)`,
        { details: { gpuClass: id } },
      );
    }
    base = builtinClassForMachineType(override.machineType);
    if (!base) {
      throw new ConfigurationError(
        'UNKNOWN_MACHINE_TYPE',
        `GPU class "${id}": machine type "${override.machineType}" is not a known GPU machine type`,
        { details: { gpuClass: id, machineType: override.machineType } },
      );
    }
  }
  const resolved: GpuClass = { ...base, id };
  if (!override) return resolved;

  if (override.machineType !== undefined) {
    if (!Object.hasOwn(base.machineTypes, override.machineType)) {
      throw new ConfigurationError(
        'INCOMPATIBLE_MACHINE_TYPE',
        `GPU class "${id}" (${base.acceleratorType}) cannot use machine type "${override.machineType}"; ` +
          `allowed: ${Object.keys(base.machineTypes).join(', ')}`,
        { details: { gpuClass: id, machineType: override.machineType } },
      );
    }
    resolved.machineType = override.machineType;
  }
  if (override.spot !== undefined) resolved.spot = override.spot;
  for (const field of ['onDemandPerGpuHour', 'spotPerGpuHour'] as const) {
    const value = override[field];
    if (value === undefined) continue;
    if (!Number.isFinite(value) || value < 0) {
      throw new ConfigurationError(
        'INVALID_PRICE',
        `GPU class "${id}": ${field} must be a finite number >= 0, got ${value}`,
        { details: { gpuClass: id, field } },
      );
    }
    resolved[field] = value;
  }
  const pricesOverridden = override.onDemandPerGpuHour !== undefined || override.spotPerGpuHour !== undefined;
  if (override.pricesAsOf !== undefined) resolved.pricesAsOf = override.pricesAsOf;
  if (pricesOverridden) resolved.pricesSource = 'policy file override';
  return resolved;
}

/** GPUs attached to one machine of this type, across all known classes. */
export function gpusPerMachine(machineType: string): number {
  const cls = builtinClassForMachineType(machineType);
  const shape = cls?.machineTypes[machineType];
  if (!shape) {
    throw new ConfigurationError('UNKNOWN_MACHINE_TYPE', `"${machineType}" is not a known GPU machine type`, {
      details: { machineType },
    });
  }
  return shape.gpus;
}

/**
 * Why `acceleratorType` x `acceleratorCount` cannot run on `machineType`, or undefined when it can.
 * GPU machine families have their GPUs built in: the count must equal the shape's.
 */
export function acceleratorMachineMismatch(
  acceleratorType: string,
  machineType: string,
  acceleratorCount?: number,
): string | undefined {
  const cls = builtinClassForAcceleratorType(acceleratorType);
  if (!cls) return `unknown accelerator type "${acceleratorType}"`;
  const shape = cls.machineTypes[machineType];
  if (!shape) {
    return (
      `accelerator ${acceleratorType} is not available on machine type "${machineType}"; ` +
      `allowed: ${Object.keys(cls.machineTypes).join(', ')}`
    );
  }
  if (acceleratorCount !== undefined && acceleratorCount !== shape.gpus) {
    return `machine type ${machineType} has ${shape.gpus} x ${acceleratorType}, not ${acceleratorCount}`;
  }
  return undefined;
}

export function assertAcceleratorMachine(
  acceleratorType: string,
  machineType: string,
  acceleratorCount?: number,
): void {
  const mismatch = acceleratorMachineMismatch(acceleratorType, machineType, acceleratorCount);
  if (mismatch) {
    throw new ConfigurationError('INCOMPATIBLE_MACHINE_TYPE', mismatch, {
      details: { acceleratorType, machineType, acceleratorCount },
    });
  }
}

/**
 * Estimated USD per hour for one machine, GPUs included.
 *
 * A machine price is split into GPUs (per-GPU price, overridable) plus the host (vCPU/memory). The
 * host part comes from the listed machine price when there is one; otherwise it is scaled from the
 * class's listed reference machine by vCPUs (or by GPUs when vCPUs are unknown). Spot applies the
 * class's GPU spot discount to the host part too, which matches how Spot VM discounts are published
 * (one discount band per machine family) closely enough for guardrails and cost estimates.
 */
export function machineHourlyPrice(cls: GpuClass, machineType: string, spot: boolean): number {
  const shape = cls.machineTypes[machineType];
  if (!shape) {
    throw new ConfigurationError(
      'INCOMPATIBLE_MACHINE_TYPE',
      `GPU class "${cls.id}" has no machine type "${machineType}"`,
      { details: { gpuClass: cls.id, machineType } },
    );
  }
  const base = BUILTIN_GPU_CLASSES[cls.baseClass];
  const host = hostOnDemandHourly(base, machineType, shape);
  if (!spot) return shape.gpus * cls.onDemandPerGpuHour + host;
  const spotRatio = cls.onDemandPerGpuHour > 0 ? cls.spotPerGpuHour / cls.onDemandPerGpuHour : 1;
  return shape.gpus * cls.spotPerGpuHour + host * spotRatio;
}

function hostOnDemandHourly(base: GpuClass, machineType: string, shape: MachineShape): number {
  const listed = base.machineOnDemandHourly[machineType];
  if (listed !== undefined) return Math.max(0, listed - shape.gpus * base.onDemandPerGpuHour);
  const [refType, refPrice] = Object.entries(base.machineOnDemandHourly)[0] ?? [];
  const refShape = refType === undefined ? undefined : base.machineTypes[refType];
  if (refShape === undefined || refPrice === undefined) return 0;
  const refHost = Math.max(0, refPrice - refShape.gpus * base.onDemandPerGpuHour);
  if (shape.vcpus !== undefined && refShape.vcpus !== undefined) {
    return (refHost / refShape.vcpus) * shape.vcpus;
  }
  return (refHost / refShape.gpus) * shape.gpus;
}
