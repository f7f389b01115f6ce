import { mkdtemp, rename, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FileSource } from './file-source.js';
import { istioFileParser } from './istio-file-parser.js';
import type { SourceEvent, SourceHandler } from './source.js';
import { eventually } from '@skiff/testing';

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

  const start = async (): Promise<void> => {
    source = new FileSource({ dir, parse: istioFileParser(), settleMs: 30 });
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
    await eventually(() => expect(recorder.problems.some((p) => p.includes('keeping its previous objects'))).toBe(true));
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
});
