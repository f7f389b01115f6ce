/**
 * Which files a change makes the file source look at: with one file per object a directory can hold
 * tens of thousands of files, and a change must cost the files an event named, not the directory.
 * `stat` is observed (and still done) through a mock of `node:fs/promises`.
 */
import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import type * as FsPromises from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eventually } from '@skiff/testing';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { SourceEvent } from './source.js';
import { FileSource } from './file-source.js';
import { istioFileParser } from './istio-file-parser.js';

const statted = vi.hoisted(() => [] as string[]);
vi.mock('node:fs/promises', async (importOriginal) => {
  const actual = await importOriginal<typeof FsPromises>();
  return { ...actual, stat: (path: Parameters<typeof actual.stat>[0], options?: Parameters<typeof actual.stat>[1]) => (statted.push(String(path)), actual.stat(path, options)) };
});

const workloadEntry = (name: string, address: string): string => `apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: ${name}, namespace: demo}
spec: {address: ${address}}
`;

describe('FileSource: what a change makes it check', () => {
  let dir: string;
  let source: FileSource | undefined;
  const events: SourceEvent[] = [];

  beforeEach(async () => {
    events.length = 0;
    dir = await mkdtemp(join(tmpdir(), 'skiff-file-source-checks-'));
    for (let i = 0; i < 200; i += 1) await writeFile(join(dir, `vm-${i}.yaml`), workloadEntry(`vm-${i}`, `10.0.0.${i}`));
    source = new FileSource({ dir, parse: istioFileParser(), settleMs: 30, rescanIntervalMs: 0 });
    await source.start({ event: (event) => events.push(event), synced: () => {}, problem: () => {} });
    expect(events).toHaveLength(200);
    // The directory's watch, new at the first scan, makes the source check it whole once more.
    await source.settled();
    events.length = 0;
  });
  afterEach(async () => {
    await source?.close();
    await rm(dir, { recursive: true, force: true });
  });

  const upserted = (): string[] => events.map((event) => (event.type === 'upsert' ? (event.object as { spec: { address: string } }).spec.address : 'delete'));
  const configFilesStatted = (): string[] => statted.filter((path) => path.endsWith('.yaml'));

  it('checks only the file an in-place write named, among 200 in its directory', async () => {
    statted.length = 0;
    await writeFile(join(dir, 'vm-7.yaml'), workloadEntry('vm-7', '10.0.1.7'));
    await eventually(() => expect(upserted()).toEqual(['10.0.1.7']));
    expect(new Set(configFilesStatted())).toEqual(new Set([join(dir, 'vm-7.yaml')]));
  });

  it('checks only the file an atomic save renamed into place, not the temporary name it had', async () => {
    statted.length = 0;
    await writeFile(join(dir, '.vm-9.yaml.tmp'), workloadEntry('vm-9', '10.0.1.9'));
    await rename(join(dir, '.vm-9.yaml.tmp'), join(dir, 'vm-9.yaml'));
    await eventually(() => expect(upserted()).toEqual(['10.0.1.9']));
    expect(new Set(configFilesStatted())).toEqual(new Set([join(dir, 'vm-9.yaml')]));
  });
});
