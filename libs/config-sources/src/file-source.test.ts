import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rename, rm, symlink, truncate, writeFile, mkdir } from 'node:fs/promises';
import { promisify } from 'node:util';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { digestOfFile, FileSource } from './file-source.js';
import { istioFileParser } from './istio-file-parser.js';
import type { SourceEvent, SourceHandler } from './source.js';
import { eventually, writeConfigMapVolume } from '@skiff/testing';

const run = promisify(execFile);

const workloadEntry = (name: string, address: string, namespace = 'demo'): string => `apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata:
  name: ${name}
  namespace: ${namespace}
spec:
  address: ${address}
  labels:
    app: demo
`;

class Recorder implements SourceHandler {
  readonly events: SourceEvent[] = [];
  readonly problems: string[] = [];
  readonly infos: string[] = [];
  syncs = 0;
  event(event: SourceEvent): void {
    this.events.push(event);
  }
  synced(): void {
    this.syncs += 1;
  }
  problem(message: string): void {
    this.problems.push(message);
  }
  info(message: string): void {
    this.infos.push(message);
  }
  /** `upsert WorkloadEntry/demo/a 10.0.0.1` lines, and clears them. */
  take(): string[] {
    const lines = this.events.map((e) => {
      if (e.type === 'delete') return `delete ${e.ref.kind}/${e.ref.namespace}/${e.ref.name}`;
      const object = e.object as { kind: string; metadata: { namespace: string; name: string }; spec: { address?: string } };
      return `upsert ${object.kind}/${object.metadata.namespace}/${object.metadata.name} ${object.spec.address ?? ''}`.trim();
    });
    this.events.length = 0;
    return lines;
  }
}

describe('FileSource', () => {
  let dir: string;
  let source: FileSource;
  let recorder: Recorder;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'skiff-file-source-'));
    recorder = new Recorder();
  });
  afterEach(async () => {
    await source?.close();
    await rm(dir, { recursive: true, force: true });
  });

  const start = async (options: { holdMs?: number; rescanIntervalMs?: number; root?: string } = {}): Promise<void> => {
    source = new FileSource({ dir: options.root ?? dir, parse: istioFileParser(), settleMs: 30, holdMs: options.holdMs ?? 300, rescanIntervalMs: options.rescanIntervalMs ?? 0 });
    await source.start(recorder);
  };

  it('delivers the initial files, in nested directories too, then reports synced', async () => {
    await writeFile(join(dir, 'a.yaml'), workloadEntry('a', '10.0.0.1'));
    await mkdir(join(dir, 'nested'));
    await writeFile(join(dir, 'nested', 'b.yml'), workloadEntry('b', '10.0.0.2'));
    await writeFile(join(dir, 'notes.txt'), 'not configuration');
    await start();
    expect(recorder.syncs).toBe(1);
    expect(recorder.take()).toEqual(['upsert WorkloadEntry/demo/a 10.0.0.1', 'upsert WorkloadEntry/demo/b 10.0.0.2']);
  });

  it('turns creates, modifications and deletions into upserts and deletes', async () => {
    await start();
    await writeFile(join(dir, 'a.yaml'), workloadEntry('a', '10.0.0.1'));
    await eventually(() => expect(recorder.events).toHaveLength(1));
    expect(recorder.take()).toEqual(['upsert WorkloadEntry/demo/a 10.0.0.1']);

    await writeFile(join(dir, 'a.yaml'), `${workloadEntry('a', '10.0.0.9')}---\n${workloadEntry('c', '10.0.0.3')}`);
    await eventually(() => expect(recorder.events).toHaveLength(2));
    expect(recorder.take()).toEqual(['upsert WorkloadEntry/demo/a 10.0.0.9', 'upsert WorkloadEntry/demo/c 10.0.0.3']);

    await writeFile(join(dir, 'a.yaml'), workloadEntry('c', '10.0.0.3'));
    await eventually(() => expect(recorder.events).toHaveLength(1));
    expect(recorder.take()).toEqual(['delete WorkloadEntry/demo/a']);

    await rm(join(dir, 'a.yaml'));
    await eventually(() => expect(recorder.events).toHaveLength(1));
    expect(recorder.take()).toEqual(['delete WorkloadEntry/demo/c']);
  });

  it('delivers nothing for an object whose fields an edit only reordered or commented', async () => {
    await writeFile(join(dir, 'a.yaml'), `${workloadEntry('a', '10.0.0.1')}---\n${workloadEntry('b', '10.0.0.2')}`);
    await start();
    recorder.take();
    const reordered = `# the same object, spec first\nspec:\n  labels:\n    app: demo\n  address: 10.0.0.1\nkind: WorkloadEntry\napiVersion: networking.istio.io/v1\nmetadata:\n  namespace: demo\n  name: a\n`;
    await writeFile(join(dir, 'a.yaml'), `${reordered}---\n${workloadEntry('b', '10.0.0.7')}`);
    await eventually(() => expect(recorder.events).toHaveLength(1));
    await source.settled();
    expect(recorder.take()).toEqual(['upsert WorkloadEntry/demo/b 10.0.0.7']);
  });

  it('treats a rename as no change at all, so endpoints never blink', async () => {
    await writeFile(join(dir, 'a.yaml'), workloadEntry('a', '10.0.0.1'));
    await start();
    recorder.take();
    await rename(join(dir, 'a.yaml'), join(dir, 'renamed.yaml'));
    await new Promise((r) => setTimeout(r, 300));
    await source.settled();
    expect(recorder.take()).toEqual([]);
    // And the object now belongs to the new file: removing it deletes the object.
    await rm(join(dir, 'renamed.yaml'));
    await eventually(() => expect(recorder.take()).toEqual(['delete WorkloadEntry/demo/a']));
  });

  it('keeps the previous objects of a file that stops parsing, and reports it', async () => {
    await writeFile(join(dir, 'a.yaml'), workloadEntry('a', '10.0.0.1'));
    await start();
    recorder.take();
    await writeFile(join(dir, 'a.yaml'), 'kind: [unclosed\n');
    await eventually(() => expect(recorder.problems.some((p) => p.includes('held back: it does not parse'))).toBe(true));
    expect(recorder.take()).toEqual([]);
    await writeFile(join(dir, 'a.yaml'), workloadEntry('a', '10.0.0.2'));
    await eventually(() => expect(recorder.take()).toEqual(['upsert WorkloadEntry/demo/a 10.0.0.2']));
  });

  it('skips a document of an unknown kind but still delivers the rest of the file', async () => {
    await writeFile(join(dir, 'a.yaml'), `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n---\n${workloadEntry('a', '10.0.0.1')}`);
    await start();
    expect(recorder.take()).toEqual(['upsert WorkloadEntry/demo/a 10.0.0.1']);
    expect(recorder.problems.join('\n')).toContain('a.yaml: document 1');
  });

  it('deletes the objects of a directory removed as a whole', async () => {
    await mkdir(join(dir, 'team'));
    await writeFile(join(dir, 'team', 'a.yaml'), workloadEntry('a', '10.0.0.1'));
    await writeFile(join(dir, 'team', 'b.yaml'), workloadEntry('b', '10.0.0.2'));
    await start();
    recorder.take();
    await rm(join(dir, 'team'), { recursive: true });
    await eventually(() => expect(recorder.take().sort()).toEqual(['delete WorkloadEntry/demo/a', 'delete WorkloadEntry/demo/b']));
  });

  it('uses the first file in path order when two files define the same object', async () => {
    await writeFile(join(dir, 'a.yaml'), workloadEntry('x', '10.0.0.1'));
    await writeFile(join(dir, 'b.yaml'), workloadEntry('x', '10.0.0.2'));
    await start();
    expect(recorder.take()).toEqual(['upsert WorkloadEntry/demo/x 10.0.0.1']);
    expect(recorder.problems.join('\n')).toContain('is defined in');
    await rm(join(dir, 'a.yaml'));
    await eventually(() => expect(recorder.take()).toEqual(['upsert WorkloadEntry/demo/x 10.0.0.2']));
  });

  it('uses the first file in path order for each object when a scan touches more objects than there are files', async () => {
    await writeFile(join(dir, 'a.yaml'), ['x', 'y1', 'y2', 'y3'].map((name, i) => workloadEntry(name, `10.0.1.${i}`)).join('---\n'));
    await writeFile(join(dir, 'b.yaml'), `${workloadEntry('x', '10.0.2.0')}---\n${workloadEntry('z', '10.0.2.1')}`);
    await writeFile(join(dir, 'c.yaml'), workloadEntry('x', '10.0.3.0'));
    await start();
    expect(recorder.take()).toEqual([
      'upsert WorkloadEntry/demo/x 10.0.1.0',
      'upsert WorkloadEntry/demo/y1 10.0.1.1',
      'upsert WorkloadEntry/demo/y2 10.0.1.2',
      'upsert WorkloadEntry/demo/y3 10.0.1.3',
      'upsert WorkloadEntry/demo/z 10.0.2.1',
    ]);
    expect(recorder.problems.filter((p) => p.includes('defined in'))).toEqual([expect.stringMatching(/WorkloadEntry\/demo\/x is defined in .*a\.yaml and .*b\.yaml and .*c\.yaml; using .*a\.yaml$/)]);
    await rm(join(dir, 'a.yaml'));
    await eventually(() => expect(recorder.events).toHaveLength(4));
    expect(recorder.take()).toEqual(['upsert WorkloadEntry/demo/x 10.0.2.0', 'delete WorkloadEntry/demo/y1', 'delete WorkloadEntry/demo/y2', 'delete WorkloadEntry/demo/y3']);
  });

  it('follows a file replaced by rename (sed -i) through later edits, its deletion and its re-creation', async () => {
    const file = join(dir, 'a.yaml');
    await writeFile(file, workloadEntry('a', '10.0.0.1'));
    await start();
    recorder.take();
    for (const address of ['10.0.0.2', '10.0.0.3', '10.0.0.4']) {
      await run('sed', ['-i', `s/address: .*/address: ${address}/`, file]);
      await eventually(() => expect(recorder.take()).toEqual([`upsert WorkloadEntry/demo/a ${address}`]));
    }
    await writeFile(file, workloadEntry('a', '10.0.0.5'));
    await eventually(() => expect(recorder.take()).toEqual(['upsert WorkloadEntry/demo/a 10.0.0.5']));
    await rm(file);
    await eventually(() => expect(recorder.take()).toEqual(['delete WorkloadEntry/demo/a']));
    await writeFile(join(dir, '.a.yaml.tmp'), workloadEntry('a', '10.0.0.6'));
    await rename(join(dir, '.a.yaml.tmp'), file);
    await eventually(() => expect(recorder.take()).toEqual(['upsert WorkloadEntry/demo/a 10.0.0.6']));
    // Paths outside the working directory are shown whole.
    expect(recorder.infos).toContain(`${file}: removed (1 object withdrawn)`);
  });

  it('reads a ConfigMap volume (..data symlink swaps) without reading its hidden entries as configuration', async () => {
    await writeConfigMapVolume(dir, { 'a.yaml': workloadEntry('a', '10.0.0.1'), 'b.yaml': workloadEntry('b', '10.0.0.2') });
    await start();
    expect(recorder.take()).toEqual(['upsert WorkloadEntry/demo/a 10.0.0.1', 'upsert WorkloadEntry/demo/b 10.0.0.2']);
    // One key changes, one goes, one comes: each is seen, the unchanged one is not sent again.
    await writeConfigMapVolume(dir, { 'a.yaml': workloadEntry('a', '10.0.0.9'), 'c.yaml': workloadEntry('c', '10.0.0.3') });
    await eventually(() => expect(recorder.events).toHaveLength(3));
    expect(recorder.take()).toEqual(['upsert WorkloadEntry/demo/a 10.0.0.9', 'delete WorkloadEntry/demo/b', 'upsert WorkloadEntry/demo/c 10.0.0.3']);
    await writeConfigMapVolume(dir, { 'a.yaml': workloadEntry('a', '10.0.0.10'), 'c.yaml': workloadEntry('c', '10.0.0.3') });
    await eventually(() => expect(recorder.take()).toEqual(['upsert WorkloadEntry/demo/a 10.0.0.10']));
    expect(recorder.problems.filter((p) => p.includes('defined in'))).toEqual([]);
  });

  it('follows symlinked files and directories outside the root, edited in place or by rename', async () => {
    const outside = await mkdtemp(join(tmpdir(), 'skiff-file-source-outside-'));
    try {
      await mkdir(join(outside, 'team'));
      await writeFile(join(outside, 'a.yaml'), workloadEntry('a', '10.0.0.1'));
      await writeFile(join(outside, 'team', 'b.yaml'), workloadEntry('b', '10.0.0.2'));
      await symlink(join(outside, 'a.yaml'), join(dir, 'a.yaml'));
      await symlink(join(outside, 'team'), join(dir, 'team'));
      await start();
      expect(recorder.take()).toEqual(['upsert WorkloadEntry/demo/a 10.0.0.1', 'upsert WorkloadEntry/demo/b 10.0.0.2']);
      await writeFile(join(outside, 'a.yaml'), workloadEntry('a', '10.0.0.11'));
      await eventually(() => expect(recorder.take()).toEqual(['upsert WorkloadEntry/demo/a 10.0.0.11']));
      await run('sed', ['-i', 's/10.0.0.11/10.0.0.12/', join(outside, 'a.yaml')]);
      await eventually(() => expect(recorder.take()).toEqual(['upsert WorkloadEntry/demo/a 10.0.0.12']));
      await run('sed', ['-i', 's/10.0.0.2/10.0.0.22/', join(outside, 'team', 'b.yaml')]);
      await eventually(() => expect(recorder.take()).toEqual(['upsert WorkloadEntry/demo/b 10.0.0.22']));
      await writeFile(join(outside, 'team', 'c.yaml'), workloadEntry('c', '10.0.0.3'));
      await eventually(() => expect(recorder.take()).toEqual(['upsert WorkloadEntry/demo/c 10.0.0.3']));
      await rm(join(dir, 'team'));
      await eventually(() => expect(recorder.take()).toEqual(['delete WorkloadEntry/demo/b', 'delete WorkloadEntry/demo/c']));
    } finally {
      await rm(outside, { recursive: true, force: true });
    }
  });

  it('follows new subdirectories and files created in them', async () => {
    await start();
    await mkdir(join(dir, 'x', 'y'), { recursive: true });
    await writeFile(join(dir, 'x', 'y', 'a.yaml'), workloadEntry('a', '10.0.0.1'));
    await eventually(() => expect(recorder.take()).toEqual(['upsert WorkloadEntry/demo/a 10.0.0.1']));
    await writeFile(join(dir, 'x', 'y', 'a.yaml'), workloadEntry('a', '10.0.0.2'));
    await eventually(() => expect(recorder.take()).toEqual(['upsert WorkloadEntry/demo/a 10.0.0.2']));
    await writeFile(join(dir, 'x', 'b.yaml'), workloadEntry('b', '10.0.0.3'));
    await eventually(() => expect(recorder.take()).toEqual(['upsert WorkloadEntry/demo/b 10.0.0.3']));
  });

  it('follows a root directory replaced by another, and keeps everything while it is missing', async () => {
    const root = join(dir, 'config');
    await mkdir(root);
    await writeFile(join(root, 'a.yaml'), workloadEntry('a', '10.0.0.1'));
    await writeFile(join(root, 'b.yaml'), workloadEntry('b', '10.0.0.2'));
    await start({ root });
    recorder.take();
    await rename(root, join(dir, 'config.old'));
    await eventually(() => expect(recorder.problems.some((p) => p.includes('cannot be read (ENOENT); keeping the 2 objects of its 2 files'))).toBe(true));
    expect(recorder.take()).toEqual([]);
    await mkdir(join(dir, 'config.new'));
    await writeFile(join(dir, 'config.new', 'a.yaml'), workloadEntry('a', '10.0.0.9'));
    await rename(join(dir, 'config.new'), root);
    await eventually(() => expect(recorder.events).toHaveLength(2));
    expect(recorder.take().sort()).toEqual(['delete WorkloadEntry/demo/b', 'upsert WorkloadEntry/demo/a 10.0.0.9']);
    // The new root is watched, not the old one.
    await writeFile(join(dir, 'config.old', 'a.yaml'), workloadEntry('a', '10.0.0.66'));
    await writeFile(join(root, 'c.yaml'), workloadEntry('c', '10.0.0.3'));
    await eventually(() => expect(recorder.take()).toEqual(['upsert WorkloadEntry/demo/c 10.0.0.3']));
  });

  it('keeps the objects of a file truncated and written again, and withdraws them once it stays empty', async () => {
    const file = join(dir, 'a.yaml');
    await writeFile(file, workloadEntry('a', '10.0.0.1'));
    await start({ holdMs: 1_000 });
    recorder.take();
    await truncate(file);
    await eventually(() => expect(recorder.problems.some((p) => p.includes('held back: it is empty; keeping its 1 object'))).toBe(true));
    await new Promise((r) => setTimeout(r, 200));
    await writeFile(file, workloadEntry('a', '10.0.0.1'));
    await new Promise((r) => setTimeout(r, 1_200));
    await source.settled();
    expect(recorder.take()).toEqual([]);
    await truncate(file);
    const emptied = Date.now();
    await eventually(() => expect(recorder.take()).toEqual(['delete WorkloadEntry/demo/a']), { timeoutMs: 5_000 });
    expect(Date.now() - emptied).toBeGreaterThanOrEqual(1_000);
    expect(recorder.infos.at(-1)).toBe(`${file}: settled (0 objects; withdrawn: WorkloadEntry/demo/a)`);
  });

  it('withdraws an object dropped from a file only once the file settles, while changes apply at once', async () => {
    const file = join(dir, 'a.yaml');
    await writeFile(file, `${workloadEntry('a', '10.0.0.1')}---\n${workloadEntry('b', '10.0.0.2')}`);
    await start({ holdMs: 500 });
    recorder.take();
    await writeFile(file, workloadEntry('a', '10.0.0.9'));
    await eventually(() => expect(recorder.take()).toEqual(['upsert WorkloadEntry/demo/a 10.0.0.9']));
    expect(recorder.problems.at(-1)).toContain('held back: it no longer defines WorkloadEntry/demo/b; keeping those 1 object');
    await eventually(() => expect(recorder.take()).toEqual(['delete WorkloadEntry/demo/b']));
  });

  it('reads every file again on the periodic rescan, whatever the watches reported', async () => {
    await writeFile(join(dir, 'a.yaml'), workloadEntry('a', '10.0.0.1'));
    await start({ rescanIntervalMs: 200 });
    recorder.take();
    // Lost events (an inotify queue overflow, a network file system): no watch reports this change.
    (source as unknown as { watches: Map<string, { watcher: { close(): void } }> }).watches.forEach(({ watcher }) => watcher.close());
    await writeFile(join(dir, 'a.yaml'), workloadEntry('a', '10.0.0.2'));
    await eventually(() => expect(recorder.take()).toEqual(['upsert WorkloadEntry/demo/a 10.0.0.2']));
  });

  it('changes nothing for a file written again with the same bytes, or on rescans of unchanged files', async () => {
    await writeFile(join(dir, 'a.yaml'), workloadEntry('a', '10.0.0.1'));
    await writeFile(join(dir, 'b.yaml'), workloadEntry('b', '10.0.0.2'));
    await start({ rescanIntervalMs: 100 });
    expect(recorder.take()).toEqual(['upsert WorkloadEntry/demo/a 10.0.0.1', 'upsert WorkloadEntry/demo/b 10.0.0.2']);
    const infos = recorder.infos.length;
    // A new stat (the file rewritten, then its times changed) with the same content, then three rescans.
    await writeFile(join(dir, 'a.yaml'), workloadEntry('a', '10.0.0.1'));
    await run('touch', ['-d', '2001-01-01', join(dir, 'b.yaml')]);
    await new Promise((resolve) => setTimeout(resolve, 350));
    await source.settled();
    expect(recorder.take()).toEqual([]);
    expect(recorder.infos.slice(infos)).toEqual([]);
    // The next change of content is still seen.
    await writeFile(join(dir, 'b.yaml'), workloadEntry('b', '10.0.0.3'));
    await eventually(() => expect(recorder.take()).toEqual(['upsert WorkloadEntry/demo/b 10.0.0.3']));
  });
});

describe('digestOfFile', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'skiff-file-digest-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('is the SHA-256 of the whole file, whatever its size against the pieces it is read in', async () => {
    const piece = 256 * 1024;
    for (const size of [0, 1, piece - 1, piece, piece + 1, 4 * piece + 17]) {
      const bytes = randomBytes(size);
      const file = join(dir, `f-${size}`);
      await writeFile(file, bytes);
      expect(await digestOfFile(file), `${size} bytes`).toBe(createHash('sha256').update(bytes).digest('base64'));
    }
  });

  it('rejects for a file that is not there', async () => {
    await expect(digestOfFile(join(dir, 'missing'))).rejects.toMatchObject({ code: 'ENOENT' });
  });
});
