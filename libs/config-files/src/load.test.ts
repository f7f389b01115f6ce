import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfigInputs } from './load.js';
import { listConfigFiles, readConfigInputs, walkConfigDir } from './read.js';
import { writeConfigMapVolume } from '@skiff/testing';

const workloadEntry = (name: string, address: string) => `apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: ${name}, namespace: ns}
spec: {address: ${address}}
`;

describe('reading inputs', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'skiff-config-files-'));
    await mkdir(join(dir, 'b-dir'));
    await mkdir(join(dir, '.hidden'));
    await writeFile(join(dir, 'z.yaml'), workloadEntry('z', '10.0.0.26'));
    await writeFile(join(dir, 'a.json'), '{}');
    await writeFile(join(dir, 'b-dir', 'c.yml'), workloadEntry('c', '10.0.0.3'));
    await writeFile(join(dir, 'notes.md'), '# not config');
    await writeFile(join(dir, '.hidden', 'x.yaml'), workloadEntry('x', '10.0.0.9'));
    await writeFile(join(dir, 'explicit.txt'), workloadEntry('t', '10.0.0.20'));
    await mkdir(join(dir, 'empty'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('lists configuration files recursively in sorted order, skipping hidden entries and other extensions', async () => {
    expect((await listConfigFiles(dir)).map((f) => f.slice(dir.length + 1))).toEqual(['a.json', 'b-dir/c.yml', 'z.yaml']);
  });

  it('reads files, directories and stdin once, reporting what cannot be read without stopping', async () => {
    const result = await readConfigInputs([join(dir, 'explicit.txt'), '-', join(dir, 'missing.yaml'), join(dir, 'empty'), '-'], Readable.from(['from stdin']));
    expect(result.texts.map((t) => t.file)).toEqual([join(dir, 'explicit.txt'), '<stdin>']);
    expect(result.texts[1]?.text).toBe('from stdin');
    expect(result.errors).toEqual([
      { file: join(dir, 'missing.yaml'), message: 'no such file or directory' },
      { file: join(dir, 'empty'), message: 'directory holds no .yaml, .yml or .json files' },
    ]);
  });

  it('loads every file as one configuration and rejects a later duplicate of an object', async () => {
    const twice = join(dir, 'twice.yaml');
    await writeFile(twice, `${workloadEntry('z', '10.0.0.99')}---\n${workloadEntry('y', '10.0.0.25')}`);
    const load = await loadConfigInputs([join(dir, 'z.yaml'), twice]);
    expect(load.files).toEqual([join(dir, 'z.yaml'), twice]);
    expect(load.workloadEntries.map((w) => `${w.endpoint.source.name} ${w.endpoint.address}`)).toEqual(['z 10.0.0.26', 'y 10.0.0.25']);
    expect(load.rejected.map((r) => `${r.name}: ${r.errors[0]?.reason}`)).toEqual([`z: duplicate object: already defined at ${join(dir, 'z.yaml')}:1`]);
    expect(load.accepted.map((a) => a.name)).toEqual(['z', 'y']);
  });

  it('reads a mounted ConfigMap through its symlinks, by the visible names only', async () => {
    const volume = join(dir, 'volume');
    await writeConfigMapVolume(volume, { 'a.yaml': workloadEntry('a', '10.0.0.1'), 'sub/b.yaml': workloadEntry('b', '10.0.0.2') });
    expect((await listConfigFiles(volume)).map((f) => f.slice(volume.length + 1))).toEqual(['a.yaml', 'sub/b.yaml']);
    const result = await readConfigInputs([volume]);
    expect(result.errors).toEqual([]);
    expect(result.texts.map((t) => t.text)).toEqual([workloadEntry('a', '10.0.0.1'), workloadEntry('b', '10.0.0.2')]);
  });

  it('follows symlinked directories once, even through a cycle, and skips dangling links', async () => {
    const root = join(dir, 'links');
    await mkdir(join(root, 'real'), { recursive: true });
    await writeFile(join(root, 'real', 'a.yaml'), workloadEntry('a', '10.0.0.1'));
    await symlink(join(root, 'real'), join(root, 'again'));
    await symlink(root, join(root, 'real', 'up'));
    await symlink(join(root, 'missing.yaml'), join(root, 'dangling.yaml'));
    const listing = await walkConfigDir(root);
    expect(listing.files.map((f) => [f.path.slice(root.length + 1), f.realPath.slice(root.length + 1)])).toEqual([['again/a.yaml', 'real/a.yaml']]);
    expect(listing.errors).toEqual([]);
  });
});
