/**
 * What a newcomer's terminal sees on a fresh clone: Nx, run in a real terminal (a pseudo-terminal from
 * util-linux `script`), asks no question and leaves the tracked nx.json as it is; every binary tells
 * its version, the root package.json's.
 */
import { execFile, spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { eventually, freePort } from '@skiff/testing';
import { BINS, REPO_ROOT } from './services.js';

/** Runs `command` in a pseudo-terminal at the repository root; kills it after `timeoutMs` (a prompt waits forever). */
function inTerminal(command: string, timeoutMs: number): Promise<{ code: number | null; output: string; timedOut: boolean }> {
  return new Promise((resolve) => {
    const env: NodeJS.ProcessEnv = { ...process.env, TERM: 'xterm' };
    // Nx asks only when it is not in CI; the test runner may run under CI=true.
    delete env['CI'];
    delete env['NX_TUI'];
    const child = spawn('script', ['-qefc', command, '/dev/null'], { cwd: REPO_ROOT, env, stdio: ['pipe', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, output, timedOut });
    });
  });
}

describe('first run in a terminal', () => {
  it('Nx asks nothing and leaves nx.json unchanged', async () => {
    const nxJson = join(REPO_ROOT, 'nx.json');
    const before = await readFile(nxJson, 'utf8');
    const result = await inTerminal('node_modules/.bin/nx show projects', 30_000);
    expect(result.output).not.toContain('Share usage data');
    expect(result.timedOut).toBe(false);
    expect(result.code).toBe(0);
    expect(result.output).toContain('@skiff/skiff');
    expect(await readFile(nxJson, 'utf8')).toBe(before);
  }, 40_000);
});

describe('--version', () => {
  it("every binary prints the root package.json's version", async () => {
    const { version } = JSON.parse(await readFile(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string };
    const names = { skiff: 'skiff', watcher: 'skiff-watcher', translator: 'skiff-translator', gateway: 'skiff-gateway', skiffctl: 'skiffctl', demo: 'skiff-demo', loadgen: 'skiff-loadgen' };
    for (const [key, name] of Object.entries(names)) {
      const { stdout } = await promisify(execFile)(process.execPath, [BINS[key as keyof typeof BINS], '--version'], { timeout: 20_000 });
      expect(stdout).toBe(`${name} ${version}\n`);
    }
  }, 60_000);
});

describe('npm start', () => {
  it("builds only what it runs, quietly: Skiff's first line comes right after npm's header", async () => {
    const [xdsPort, monitoringPort] = [await freePort(), await freePort()];
    // The README's command; the arguments after -- only move it to free ports.
    const child = spawn('npm', ['start', '--', '--xds-addr', `127.0.0.1:${xdsPort}`, '--monitoring-addr', `127.0.0.1:${monitoringPort}`], {
      cwd: REPO_ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    try {
      await eventually(
        async () => {
          expect(child.exitCode, output).toBeNull();
          expect((await fetch(`http://127.0.0.1:${monitoringPort}/readyz`)).status).toBe(200);
        },
        { timeoutMs: 120_000, intervalMs: 250 },
      );
      const lines = output.split('\n');
      const before = lines.slice(0, lines.findIndex((line) => line.startsWith('{')));
      // npm's own header: a blank line, "> skiff@x start", "> tsc -b ... && node ...", a blank line.
      expect(before.filter((line) => line.trim() !== '')).toEqual([expect.stringMatching(/^> skiff@\S+ start$/), expect.stringMatching(/^> tsc -b apps\/skiff .*&& node apps\/skiff\/bin\/skiff\.js/)]);
      expect(output).not.toMatch(/\bNX\b/);
    } finally {
      // npm runs the script in a shell: stop the whole process group.
      if (child.pid !== undefined) process.kill(-child.pid, 'SIGTERM');
      await exited;
    }
  }, 150_000);
});

describe('the install', () => {
  const lock = (): Promise<{ packages: Record<string, { version?: string; hasInstallScript?: boolean }> }> => readFile(join(REPO_ROOT, 'package-lock.json'), 'utf8').then(JSON.parse);

  it('holds one copy of the packages the tools would otherwise pin beside the workspaces', async () => {
    const { packages } = await lock();
    for (const name of ['@bufbuild/protobuf', 'yaml']) {
      const copies = Object.entries(packages).filter(([path]) => path === `node_modules/${name}` || path.endsWith(`/node_modules/${name}`));
      expect(copies.map(([path, entry]) => `${path}@${entry.version}`)).toHaveLength(1);
    }
  });

  it('decides on every install script, so npm ci has nothing unreviewed to warn about', async () => {
    const { packages } = await lock();
    const manifest = JSON.parse(await readFile(join(REPO_ROOT, 'package.json'), 'utf8')) as { allowScripts?: Record<string, boolean> };
    const withScripts = Object.entries(packages)
      .filter(([, entry]) => entry.hasInstallScript === true)
      .map(([path]) => path.slice(path.lastIndexOf('node_modules/') + 'node_modules/'.length));
    expect(withScripts.length).toBeGreaterThan(0);
    for (const name of withScripts) expect(manifest.allowScripts, name).toHaveProperty([name]);
  });
});
