import { describe, expect, it } from 'vitest';
import { DEFAULT_DEPLOY_LIMITS, type DeployLimits, deployLimits } from '../../shared/deploy/limits';
import { ConfigurationError } from '../../shared/runtime/errors';

describe('deployLimits', () => {
  it('defaults: 64 GiB per file, 64 KiB per manifest, 128-character names', () => {
    // Act
    const limits = deployLimits();

    // Assess
    expect(limits).toEqual(DEFAULT_DEPLOY_LIMITS);
    expect(limits.maxFileBytes).toBe(64n * 1024n ** 3n);
    expect(limits.maxManifestBytes).toBe(65536);
    expect(limits.maxModelNameLength).toBe(128);
  });

  it('applies overrides and ignores undefined ones', () => {
    // Act
    const limits = deployLimits({ maxFileBytes: 10n, maxFilesPerModel: undefined });

    // Assess
    expect(limits.maxFileBytes).toBe(10n);
    expect(limits.maxFilesPerModel).toBe(DEFAULT_DEPLOY_LIMITS.maxFilesPerModel);
  });

  it.each<[string, Partial<DeployLimits>, RegExp]>([
    ['zero file size', { maxFileBytes: 0n }, /maxFileBytes must be a positive bigint/],
    ['fractional manifest size', { maxManifestBytes: 1.5 }, /maxManifestBytes must be a positive integer/],
    ['negative alias count', { maxManifestAliasCount: -1 }, /maxManifestAliasCount/],
    ['name longer than the repository allows', { maxModelNameLength: 200 }, /cannot exceed 128/],
  ])('refuses %s', (_why, overrides, message) => {
    // Act / Assess
    expect(() => deployLimits(overrides)).toThrow(ConfigurationError);
    expect(() => deployLimits(overrides)).toThrow(message);
  });
});
