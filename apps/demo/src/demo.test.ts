import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const bin = fileURLToPath(new URL('../bin/skiff-demo.js', import.meta.url));

/** The share a step's table gives `backend` (`    backend-3  ###...  33%  (304 calls)`). */
function share(section: string, backend: string): number {
  const match = new RegExp(`${backend}\\s+[#.]+\\s+(\\d+)%`).exec(section);
  if (!match) throw new Error(`no line for ${backend} in:\n${section}`);
  return Number(match[1]);
}

describe('npm run demo (short mode)', () => {
  it('runs to completion and its output shows the traffic moving with each edit', async () => {
    const { stdout } = await promisify(execFile)(process.execPath, [bin, '--short'], { timeout: 90_000 });
    const steps = stdout.split(/\n(?=\d\. )/);
    const [start, removed, added, relabelled, invalid] = steps.slice(1);
    expect(steps).toHaveLength(6);
    expect(share(start!, 'backend-3')).toBeGreaterThan(20);
    expect(share(removed!, 'backend-3')).toBe(0);
    expect(share(added!, 'backend-4')).toBeGreaterThan(20);
    expect(share(relabelled!, 'backend-1')).toBe(0);
    expect(invalid).toContain('port number 99999 must be in the range 1..65535');
    expect(share(invalid!, 'backend-2')).toBeGreaterThan(40);
    for (const step of steps.slice(1)) expect(step).toMatch(/errors\s+0\s+of \d+ calls/);
    expect(stdout).toContain('Done:');
  }, 120_000);
});
