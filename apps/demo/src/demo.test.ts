import { execFile, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const bin = fileURLToPath(new URL('../bin/skiff-demo.js', import.meta.url));
const rootVersion = (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

/** The share a step's table gives `backend` (`    backend-3  ###...  33%  (304 calls)`). */
function share(section: string, backend: string): number {
  const match = new RegExp(`${backend}\\s+[#.]+\\s+(\\d+)%`).exec(section);
  if (!match) throw new Error(`no line for ${backend} in:\n${section}`);
  return Number(match[1]);
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Starts the tour and resolves once it printed its skiff line, with the temporary mesh directory and
 * the skiff child's pid from its output.
 */
function startTour(): Promise<{ child: ReturnType<typeof spawn>; dir: string; skiffPid: number; exited: Promise<number | null>; output: () => string }> {
  const child = spawn(process.execPath, [bin], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      const dir = /mesh files: +(\S+)/.exec(output)?.[1];
      const pid = /\(pid (\d+)\)/.exec(output)?.[1];
      if (dir !== undefined && pid !== undefined) resolve({ child, dir, skiffPid: Number(pid), exited, output: () => output });
    });
    void exited.then((code) => reject(new Error(`demo exited with ${code} before skiff started:\n${output}`)));
  });
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

describe('skiff-demo command line', () => {
  it('prints help and the version without running the demo', async () => {
    const help = await promisify(execFile)(process.execPath, [bin, '--help'], { timeout: 10_000 });
    expect(help.stdout).toContain('Usage: skiff-demo [options] [command]');
    expect(help.stdout).toContain('backends');
    expect(help.stdout).not.toContain('Skiff demo:');
    const version = await promisify(execFile)(process.execPath, [bin, '--version'], { timeout: 10_000 });
    expect(version.stdout).toBe(`skiff-demo ${rootVersion}\n`);
  });

  it('stops skiff and removes its temporary directory on SIGTERM', async () => {
    const tour = await startTour();
    expect(existsSync(tour.dir)).toBe(true);
    expect(isRunning(tour.skiffPid)).toBe(true);
    tour.child.kill('SIGTERM');
    expect(await tour.exited).toBe(143);
    expect(isRunning(tour.skiffPid)).toBe(false);
    expect(existsSync(tour.dir)).toBe(false);
  }, 60_000);

  it('stops skiff and removes its temporary directory when its output is closed (| head)', async () => {
    const tour = await startTour();
    tour.child.stdout?.destroy();
    expect(await tour.exited).toBe(0);
    expect(isRunning(tour.skiffPid)).toBe(false);
    expect(existsSync(tour.dir)).toBe(false);
  }, 60_000);
});
