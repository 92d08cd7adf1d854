/**
 * Compute Engine machine shapes for Node capacity, and GKE's allocatable formula (capacity minus
 * the kubelet/system reservation and the 100Mi eviction threshold, as documented for GKE Standard).
 */

export interface MachineShape {
  cpus: number;
  memoryGiB: number;
  gpus: number;
}

const FIXED: Record<string, MachineShape> = {
  'g2-standard-4': { cpus: 4, memoryGiB: 16, gpus: 1 },
  'g2-standard-8': { cpus: 8, memoryGiB: 32, gpus: 1 },
  'g2-standard-12': { cpus: 12, memoryGiB: 48, gpus: 1 },
  'g2-standard-16': { cpus: 16, memoryGiB: 64, gpus: 1 },
  'g2-standard-24': { cpus: 24, memoryGiB: 96, gpus: 2 },
  'g2-standard-32': { cpus: 32, memoryGiB: 128, gpus: 1 },
  'g2-standard-48': { cpus: 48, memoryGiB: 192, gpus: 4 },
  'g2-standard-96': { cpus: 96, memoryGiB: 384, gpus: 8 },
  'a2-highgpu-1g': { cpus: 12, memoryGiB: 85, gpus: 1 },
  'a2-highgpu-2g': { cpus: 24, memoryGiB: 170, gpus: 2 },
  'a2-highgpu-4g': { cpus: 48, memoryGiB: 340, gpus: 4 },
  'a2-highgpu-8g': { cpus: 96, memoryGiB: 680, gpus: 8 },
  'a2-megagpu-16g': { cpus: 96, memoryGiB: 1360, gpus: 16 },
  'a2-ultragpu-1g': { cpus: 12, memoryGiB: 170, gpus: 1 },
  'a2-ultragpu-2g': { cpus: 24, memoryGiB: 340, gpus: 2 },
  'a2-ultragpu-4g': { cpus: 48, memoryGiB: 680, gpus: 4 },
  'a2-ultragpu-8g': { cpus: 96, memoryGiB: 1360, gpus: 8 },
  'a3-highgpu-1g': { cpus: 26, memoryGiB: 234, gpus: 1 },
  'a3-highgpu-2g': { cpus: 52, memoryGiB: 468, gpus: 2 },
  'a3-highgpu-4g': { cpus: 104, memoryGiB: 936, gpus: 4 },
  'a3-highgpu-8g': { cpus: 208, memoryGiB: 1872, gpus: 8 },
  'a3-megagpu-8g': { cpus: 208, memoryGiB: 1872, gpus: 8 },
  'e2-medium': { cpus: 2, memoryGiB: 4, gpus: 0 },
  'e2-small': { cpus: 2, memoryGiB: 2, gpus: 0 },
};

/** GiB per vCPU of the predefined N1/N2/E2 shapes. */
const PER_CPU: Record<string, number> = {
  'n1-standard': 3.75,
  'n1-highmem': 6.5,
  'n1-highcpu': 0.9,
  'n2-standard': 4,
  'n2-highmem': 8,
  'n2-highcpu': 1,
  'e2-standard': 4,
  'e2-highmem': 8,
  'e2-highcpu': 1,
};

/** The shape of a machine type; unknown types count as 4 vCPU / 16 GiB so nodes still appear. */
export function machineShape(machineType: string, accelerator?: { count: number }): MachineShape {
  const fixed = FIXED[machineType];
  const m = /^([a-z0-9]+-[a-z]+)-(\d+)$/.exec(machineType);
  const family = m ? PER_CPU[m[1]!] : undefined;
  const shape =
    fixed ??
    (family && m
      ? { cpus: Number(m[2]), memoryGiB: family * Number(m[2]), gpus: 0 }
      : { cpus: 4, memoryGiB: 16, gpus: 0 });
  return accelerator && accelerator.count > 0 ? { ...shape, gpus: accelerator.count } : shape;
}

/** GKE's CPU reservation: 6% of the first core, 1% of the next, 0.5% of the next 2, 0.25% above 4 (millicores). */
function reservedMilliCpu(cpus: number): number {
  const bands: [number, number][] = [
    [1, 0.06],
    [1, 0.01],
    [2, 0.005],
    [Number.POSITIVE_INFINITY, 0.0025],
  ];
  let left = cpus;
  let reserved = 0;
  for (const [size, rate] of bands) {
    const n = Math.min(left, size);
    reserved += n * rate * 1000;
    left -= n;
    if (left <= 0) break;
  }
  return Math.round(reserved);
}

/** GKE's memory reservation: 25% of the first 4 GiB, 20% of the next 4, 10% of the next 8, 6% of the next 112, 2% above (MiB). */
function reservedMemoryMiB(gib: number): number {
  if (gib < 1) return 255;
  const bands: [number, number][] = [
    [4, 0.25],
    [4, 0.2],
    [8, 0.1],
    [112, 0.06],
    [Number.POSITIVE_INFINITY, 0.02],
  ];
  let left = gib;
  let reserved = 0;
  for (const [size, rate] of bands) {
    const n = Math.min(left, size);
    reserved += n * rate * 1024;
    left -= n;
    if (left <= 0) break;
  }
  return Math.round(reserved);
}

export interface NodeResources {
  capacity: Record<string, string>;
  allocatable: Record<string, string>;
}

export function nodeResources(shape: MachineShape): NodeResources {
  const memKi = Math.round(shape.memoryGiB * 1024 * 1024);
  const gpu: Record<string, string> = shape.gpus > 0 ? { 'nvidia.com/gpu': String(shape.gpus) } : {};
  return {
    capacity: {
      cpu: String(shape.cpus),
      'ephemeral-storage': '98831908Ki',
      memory: `${memKi}Ki`,
      ...gpu,
      pods: '110',
    },
    allocatable: {
      cpu: `${shape.cpus * 1000 - reservedMilliCpu(shape.cpus)}m`,
      'ephemeral-storage': '47060071478',
      memory: `${memKi - (reservedMemoryMiB(shape.memoryGiB) + 100) * 1024}Ki`,
      ...gpu,
      pods: '110',
    },
  };
}
