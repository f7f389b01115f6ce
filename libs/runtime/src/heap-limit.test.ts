import { describe, expect, it } from 'vitest';
import { heapLimitChosen, heapLimitWarning } from './heap-limit.js';

const MiB = 1048576;

describe('heapLimitWarning', () => {
  it("warns when the heap limit is Node's default half of a container's memory limit, naming both and the flag", () => {
    // What Node 20 gives under a 1 GiB memory cgroup.
    expect(heapLimitWarning(524 * MiB, 1024 * MiB)).toBe(
      "V8's heap limit is 524 MiB of this container's 1024 MiB memory limit (Node's default share): a large mesh can run out of heap while memory is left; " +
        'start Node with --max-old-space-size=768 (NODE_OPTIONS; the Helm chart sets it from heapLimitPercent)',
    );
  });

  it('is quiet with a chosen heap limit, without a container limit, or when libuv reports none', () => {
    expect(heapLimitWarning(780 * MiB, 1024 * MiB)).toBeUndefined();
    // Chosen, even below the default share (the chart's heapLimitPercent: 50).
    expect(heapLimitWarning(512 * MiB, 1024 * MiB, true)).toBeUndefined();
    expect(heapLimitWarning(4144 * MiB, undefined)).toBeUndefined();
    expect(heapLimitWarning(4144 * MiB, 0)).toBeUndefined();
    expect(heapLimitWarning(4144 * MiB, 2 ** 64)).toBeUndefined();
  });
});

describe('heapLimitChosen', () => {
  it('finds --max-old-space-size on the command line or in NODE_OPTIONS, in any of its spellings', () => {
    expect(heapLimitChosen(['--max-old-space-size=768'], '')).toBe(true);
    expect(heapLimitChosen([], '--enable-source-maps --max_old_space_size=768')).toBe(true);
    expect(heapLimitChosen(['--max-old-space-size', '768'], '')).toBe(true);
    expect(heapLimitChosen(['--max-semi-space-size=64'], '--expose-gc')).toBe(false);
    expect(heapLimitChosen([], '')).toBe(false);
  });
});
