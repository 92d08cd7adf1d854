import { describe, expect, it } from 'vitest';
import {
  acceleratorMachineMismatch,
  assertAcceleratorMachine,
  BUILTIN_GPU_CLASSES,
  type GpuClassOverrides,
  gpusPerMachine,
  machineHourlyPrice,
  resolveGpuClass,
} from '../../shared/gpu/catalog';
import { ConfigurationError } from '../../shared/runtime/errors';

// biome-ignore lint/suspicious/noApproximativeNumericConstant: the listed g2-standard-4 price, not sqrt(1/2)
const G2_STANDARD_4_USD = 0.707;

function configError(fn: () => unknown): ConfigurationError {
  try {
    fn();
  } catch (err) {
    if (err instanceof ConfigurationError) return err;
    throw err;
  }
  throw new Error('expected a ConfigurationError');
}

describe('resolveGpuClass: built-in classes', () => {
  it.each([
    ['l4', 'nvidia-l4', 'g2-standard-4', 24, 0.56],
    ['a100-40gb', 'nvidia-tesla-a100', 'a2-highgpu-1g', 40, 2.934],
    ['a100-80gb', 'nvidia-a100-80gb', 'a2-ultragpu-1g', 80, 3.928],
    ['h100-80gb', 'nvidia-h100-80gb', 'a3-highgpu-1g', 80, 9.797],
  ])('%s -> %s on %s, %d GB, %d USD/GPU/h', (id, accelerator, machine, memory, price) => {
    // Act
    const cls = resolveGpuClass(id);

    // Assess
    expect(cls).toMatchObject({
      id,
      baseClass: id,
      acceleratorType: accelerator,
      machineType: machine,
      gpuMemoryGb: memory,
      onDemandPerGpuHour: price,
      spot: false,
    });
    expect(cls.pricesAsOf).toBeTruthy();
    expect(cls.pricesSource).toMatch(/SKU/);
  });

  it('does not let a resolved class mutate the catalog', () => {
    // Prepare
    const cls = resolveGpuClass('l4', { l4: { spotPerGpuHour: 0.1 } });

    // Act
    cls.machineType = 'g2-standard-8';

    // Assess
    expect(BUILTIN_GPU_CLASSES.l4.machineType).toBe('g2-standard-4');
    expect(BUILTIN_GPU_CLASSES.l4.spotPerGpuHour).toBe(0.22);
  });
});

describe('resolveGpuClass: overrides', () => {
  it('applies machine type, spot, prices and their date', () => {
    // Prepare
    const overrides: GpuClassOverrides = {
      l4: {
        machineType: 'g2-standard-24',
        spot: true,
        onDemandPerGpuHour: 0.6,
        spotPerGpuHour: 0.2,
        pricesAsOf: '2026-11-01',
      },
    };

    // Act
    const cls = resolveGpuClass('l4', overrides);

    // Assess
    expect(cls).toMatchObject({
      machineType: 'g2-standard-24',
      spot: true,
      onDemandPerGpuHour: 0.6,
      spotPerGpuHour: 0.2,
      pricesAsOf: '2026-11-01',
      pricesSource: 'policy file override',
    });
  });

  it('derives a user-defined class from the machine type its override names', () => {
    // Act
    const cls = resolveGpuClass('big-l4', { 'big-l4': { machineType: 'g2-standard-48', spot: true } });

    // Assess
    expect(cls).toMatchObject({
      id: 'big-l4',
      baseClass: 'l4',
      acceleratorType: 'nvidia-l4',
      machineType: 'g2-standard-48',
      spot: true,
    });
  });

  it.each<[string, string, GpuClassOverrides | undefined, string, RegExp]>([
    [
      'unknown id without override',
      'tpu',
      undefined,
      'UNKNOWN_GPU_CLASS',
      /unknown GPU class "tpu".*l4, a100-40gb/,
    ],
    [
      'user id without machine type',
      'mine',
      { mine: { spot: true } },
      'UNKNOWN_GPU_CLASS',
      /must name a machineType/,
    ],
    [
      'user id with unknown machine',
      'mine',
      { mine: { machineType: 'n2-standard-4' } },
      'UNKNOWN_MACHINE_TYPE',
      /n2-standard-4/,
    ],
    [
      'machine of another class',
      'l4',
      { l4: { machineType: 'a2-highgpu-1g' } },
      'INCOMPATIBLE_MACHINE_TYPE',
      /"l4" \(nvidia-l4\) cannot use machine type "a2-highgpu-1g"; allowed: g2-standard-4/,
    ],
    [
      'negative price',
      'h100-80gb',
      { 'h100-80gb': { spotPerGpuHour: -1 } },
      'INVALID_PRICE',
      /spotPerGpuHour/,
    ],
    ['NaN price', 'l4', { l4: { onDemandPerGpuHour: Number.NaN } }, 'INVALID_PRICE', /onDemandPerGpuHour/],
  ])('%s is a clear ConfigurationError', (_case, id, overrides, reason, message) => {
    // Act
    const err = configError(() => resolveGpuClass(id, overrides));

    // Assess
    expect(err.reason).toBe(reason);
    expect(err.message).toMatch(message);
  });
});

describe('gpusPerMachine', () => {
  it.each([
    ['g2-standard-4', 1],
    ['g2-standard-32', 1],
    ['g2-standard-24', 2],
    ['g2-standard-96', 8],
    ['a2-highgpu-4g', 4],
    ['a2-megagpu-16g', 16],
    ['a2-ultragpu-8g', 8],
    ['a3-highgpu-8g', 8],
  ])('%s has %d GPU(s)', (machine, gpus) => {
    expect(gpusPerMachine(machine)).toBe(gpus);
  });

  it('rejects a machine type without GPUs', () => {
    expect(configError(() => gpusPerMachine('e2-standard-4')).reason).toBe('UNKNOWN_MACHINE_TYPE');
  });

  it('knows the documented host sizes', () => {
    expect(BUILTIN_GPU_CLASSES['h100-80gb'].machineTypes['a3-highgpu-8g']).toEqual({
      gpus: 8,
      vcpus: 208,
      memoryGb: 1872,
    });
    expect(BUILTIN_GPU_CLASSES['a100-80gb'].machineTypes['a2-ultragpu-2g']).toEqual({
      gpus: 2,
      vcpus: 24,
      memoryGb: 340,
    });
  });
});

describe('accelerator / machine compatibility', () => {
  it.each<[string, string, number | undefined, RegExp | undefined]>([
    ['nvidia-l4', 'g2-standard-24', 2, undefined],
    ['nvidia-l4', 'g2-standard-24', undefined, undefined],
    ['nvidia-l4', 'g2-standard-24', 1, /has 2 x nvidia-l4, not 1/],
    ['nvidia-tesla-a100', 'a2-ultragpu-1g', 1, /not available on machine type "a2-ultragpu-1g"/],
    ['nvidia-h100-80gb', 'a3-highgpu-8g', 8, undefined],
    ['nvidia-tesla-t4', 'n1-standard-4', 1, /unknown accelerator type/],
  ])('%s on %s x%s', (accelerator, machine, count, expected) => {
    // Act
    const mismatch = acceleratorMachineMismatch(accelerator, machine, count);

    // Assess
    if (expected) expect(mismatch).toMatch(expected);
    else expect(mismatch).toBeUndefined();
  });

  it('assertAcceleratorMachine throws a ConfigurationError', () => {
    expect(configError(() => assertAcceleratorMachine('nvidia-l4', 'a3-highgpu-1g')).reason).toBe(
      'INCOMPATIBLE_MACHINE_TYPE',
    );
  });
});

describe('machineHourlyPrice', () => {
  it.each([
    ['l4', 'g2-standard-4', G2_STANDARD_4_USD],
    ['l4', 'g2-standard-8', 0.854],
    ['a100-40gb', 'a2-highgpu-1g', 3.673],
    ['a100-80gb', 'a2-ultragpu-1g', 5.028],
    ['h100-80gb', 'a3-highgpu-8g', 87.8],
  ])('%s %s on-demand is the listed %d', (id, machine, listed) => {
    expect(machineHourlyPrice(resolveGpuClass(id), machine, false)).toBeCloseTo(listed, 6);
  });

  it('estimates unlisted shapes from GPUs plus a host share scaled by vCPU', () => {
    // Prepare: g2 host costs (G2_STANDARD_4_USD - 0.56) / 4 vCPU per vCPU; g2-standard-24 has 2 GPUs, 24 vCPU.
    const l4 = resolveGpuClass('l4');
    const hostPerVcpu = (G2_STANDARD_4_USD - 0.56) / 4;

    // Act
    const price = machineHourlyPrice(l4, 'g2-standard-24', false);

    // Assess
    expect(price).toBeCloseTo(2 * 0.56 + 24 * hostPerVcpu, 6);
    expect(machineHourlyPrice(resolveGpuClass('a100-40gb'), 'a2-highgpu-8g', false)).toBeCloseTo(
      8 * 3.673,
      6,
    );
  });

  it('prices spot below on-demand with the class discount', () => {
    // Prepare
    const a100 = resolveGpuClass('a100-40gb');

    // Act
    const spot = machineHourlyPrice(a100, 'a2-highgpu-1g', true);

    // Assess
    expect(spot).toBeCloseTo(1.43 + (3.673 - 2.934) * (1.43 / 2.934), 6);
    expect(spot).toBeLessThan(machineHourlyPrice(a100, 'a2-highgpu-1g', false));
  });

  it('follows per-GPU price overrides', () => {
    // Prepare
    const base = resolveGpuClass('h100-80gb');
    const cheaper = resolveGpuClass('h100-80gb', { 'h100-80gb': { onDemandPerGpuHour: 5 } });

    // Act
    const delta =
      machineHourlyPrice(base, 'a3-highgpu-8g', false) - machineHourlyPrice(cheaper, 'a3-highgpu-8g', false);

    // Assess
    expect(delta).toBeCloseTo(8 * (9.797 - 5), 6);
  });

  it('refuses a machine type the class cannot use', () => {
    expect(configError(() => machineHourlyPrice(resolveGpuClass('l4'), 'a2-highgpu-1g', false)).reason).toBe(
      'INCOMPATIBLE_MACHINE_TYPE',
    );
  });
});
