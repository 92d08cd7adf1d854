import { describe, expect, it } from 'vitest';
import { figure, formatJson, formatTable, measure, median, percentile } from '../../bench/harness';

describe('bench harness statistics', () => {
  it.each([
    { samples: [5, 1, 3], p: 50, want: 3 },
    { samples: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10], p: 95, want: 10 },
    { samples: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10], p: 90, want: 9 },
    { samples: [7], p: 95, want: 7 },
  ])('percentile($samples, $p) is $want (nearest rank)', ({ samples, p, want }) => {
    expect(percentile(samples, p)).toBe(want);
  });

  it.each([
    { samples: [3, 1, 2], want: 2 },
    { samples: [4, 1, 3, 2], want: 2.5 },
  ])('median($samples) is $want', ({ samples, want }) => {
    expect(median(samples)).toBe(want);
  });

  it('measure calls fn warmup + iterations times and reports that many samples', async () => {
    // Prepare
    let calls = 0;

    // Act
    const stats = await measure('count', () => calls++, { iterations: 7, warmup: 3 });

    // Assess
    expect(calls).toBe(10);
    expect(stats.iterations).toBe(7);
    expect(stats.p95Ms).toBeGreaterThanOrEqual(stats.medianMs);
    expect(stats.medianMs).toBeGreaterThanOrEqual(stats.minMs);
  });
});

describe('bench harness output', () => {
  it('figure computes ratio = value / baseline, and none without a baseline', () => {
    expect(figure('a', 5, 'ms', 20)).toEqual({ name: 'a', value: 5, unit: 'ms', baseline: 20, ratio: 0.25 });
    expect(figure('b', 5, 'ms')).toEqual({ name: 'b', value: 5, unit: 'ms' });
  });

  it('formatTable aligns every column: same line length, numbers right-aligned', () => {
    // Prepare
    const figures = [figure('short', 1.5, 'ms', 3), figure('a much longer name', 65600, 'B', 1048576)];

    // Act
    const lines = formatTable(figures).split('\n');

    // Assess
    expect(lines).toHaveLength(4);
    expect(lines[0]).toMatch(/^name\s+value\s+unit\s+baseline\s+ratio$/);
    expect(new Set(lines.map((l) => l.length)).size).toBe(1);
    expect(lines[2]).toMatch(/^short\s+1\.50 {2}ms\s+3\s+0\.50x$/);
    expect(lines[3]).toMatch(/^a much longer name\s+65,600 {2}B \s+1,048,576\s+0\.063x$/);
    const valueEnd = lines[0]!.indexOf('value') + 'value'.length;
    expect(lines[2]!.slice(0, valueEnd).endsWith('1.50')).toBe(true);
    expect(lines[3]!.slice(0, valueEnd).endsWith('65,600')).toBe(true);
  });

  it('formatTable adds a goal column only when a figure has a goal', () => {
    const without = formatTable([figure('a', 1, 'ms', 2)]).split('\n');
    const withGoal = formatTable([figure('a', 1, 'ms', 2, '<= 1.3x'), figure('b', 3, 'ms')]).split('\n');
    expect(without[0]).not.toMatch(/goal/);
    expect(withGoal[0]).toMatch(/ratio\s+goal$/);
    expect(withGoal[2]).toMatch(/0\.50x {2}<= 1\.3x$/);
    expect(figure('a', 1, 'ms', 2, '<= 1.3x').goal).toBe('<= 1.3x');
  });

  it('formatJson is a JSON array of the figures, non-finite numbers as null', () => {
    const out = formatJson([figure('x', 1, 'ms', 0), figure('y', 2, 'B')]);
    expect(JSON.parse(out)).toEqual([
      { name: 'x', value: 1, unit: 'ms', baseline: 0, ratio: null },
      { name: 'y', value: 2, unit: 'B' },
    ]);
  });
});
