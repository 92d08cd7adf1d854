/**
 * Compute Engine GPU machine shapes (see /work/shared/reference/gke.md). The server uses them the
 * way GKE does: a GPU machine family fixes the accelerator type and count, so a node pool that asks
 * for another one is refused at request time instead of failing minutes later in the instance group.
 */

export interface GpuShape {
  acceleratorType: string;
  acceleratorCount: number;
}

const G2_GPUS: Record<string, number> = {
  'g2-standard-4': 1,
  'g2-standard-8': 1,
  'g2-standard-12': 1,
  'g2-standard-16': 1,
  'g2-standard-32': 1,
  'g2-standard-24': 2,
  'g2-standard-48': 4,
  'g2-standard-96': 8,
};

const A2_HIGH_GPUS: Record<string, number> = {
  'a2-highgpu-1g': 1,
  'a2-highgpu-2g': 2,
  'a2-highgpu-4g': 4,
  'a2-highgpu-8g': 8,
  'a2-megagpu-16g': 16,
};

const A2_ULTRA_GPUS: Record<string, number> = {
  'a2-ultragpu-1g': 1,
  'a2-ultragpu-2g': 2,
  'a2-ultragpu-4g': 4,
  'a2-ultragpu-8g': 8,
};

const A3_GPUS: Record<string, number> = {
  'a3-highgpu-1g': 1,
  'a3-highgpu-2g': 2,
  'a3-highgpu-4g': 4,
  'a3-highgpu-8g': 8,
};

/** Accelerator types whose machine family is fixed; others (T4, V100, ...) attach to N1 machines. */
const FAMILY_OF_TYPE: Record<string, string> = {
  'nvidia-l4': 'g2-*',
  'nvidia-tesla-a100': 'a2-highgpu-* or a2-megagpu-*',
  'nvidia-a100-80gb': 'a2-ultragpu-*',
  'nvidia-h100-80gb': 'a3-*',
};

/** The GPUs a machine type comes with, or undefined for a machine without built-in GPUs. */
export function gpuShapeOf(machineType: string): GpuShape | undefined {
  const pick = (table: Record<string, number>, acceleratorType: string): GpuShape | undefined => {
    const count = table[machineType];
    return count === undefined ? undefined : { acceleratorType, acceleratorCount: count };
  };
  return (
    pick(G2_GPUS, 'nvidia-l4') ??
    pick(A2_HIGH_GPUS, 'nvidia-tesla-a100') ??
    pick(A2_ULTRA_GPUS, 'nvidia-a100-80gb') ??
    pick(A3_GPUS, 'nvidia-h100-80gb')
  );
}

/** True for families that only exist with GPUs attached (so an unknown size is an error). */
function isGpuFamily(machineType: string): boolean {
  return /^(g2|a2|a3)-/.test(machineType);
}

export interface AcceleratorRequest {
  acceleratorType: string;
  acceleratorCount: number;
}

/**
 * Checks the accelerators asked for against the machine type. Returns the problems in GKE's
 * wording style (empty when fine).
 */
export function acceleratorProblems(
  machineType: string,
  accelerators: readonly AcceleratorRequest[],
): string[] {
  const problems: string[] = [];
  const shape = gpuShapeOf(machineType);
  if (isGpuFamily(machineType) && !shape) {
    problems.push(`Machine type "${machineType}" is not a known GPU machine type.`);
    return problems;
  }
  if (accelerators.length > 1) {
    problems.push('Only one accelerator config per node pool is supported.');
  }
  for (const acc of accelerators) {
    if (!acc.acceleratorType) {
      problems.push('Accelerator type must be set.');
      continue;
    }
    if (acc.acceleratorCount < 1) {
      problems.push(`Accelerator count must be positive, got ${acc.acceleratorCount}.`);
      continue;
    }
    const family = FAMILY_OF_TYPE[acc.acceleratorType];
    if (shape) {
      if (acc.acceleratorType !== shape.acceleratorType) {
        problems.push(
          `Accelerator type "${acc.acceleratorType}" is not supported with machine type "${machineType}"; ` +
            `it comes with "${shape.acceleratorType}".`,
        );
      } else if (acc.acceleratorCount !== shape.acceleratorCount) {
        problems.push(
          `Machine type "${machineType}" requires accelerator count ${shape.acceleratorCount} of ` +
            `"${shape.acceleratorType}", got ${acc.acceleratorCount}.`,
        );
      }
    } else if (family) {
      problems.push(
        `Accelerator type "${acc.acceleratorType}" requires machine type ${family}, got "${machineType}".`,
      );
    } else if (!machineType.startsWith('n1-')) {
      problems.push(
        `Accelerator type "${acc.acceleratorType}" can only be attached to N1 machine types, got "${machineType}".`,
      );
    } else if (![1, 2, 4, 8].includes(acc.acceleratorCount)) {
      problems.push(`Accelerator count for "${acc.acceleratorType}" must be 1, 2, 4 or 8.`);
    }
  }
  return problems;
}
