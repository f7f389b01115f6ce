/**
 * A directory of YAML/JSON files as a configuration source, with the semantics of the Kubernetes
 * source: every object is an upsert when it appears or changes and a delete when it disappears.
 *
 * File system events are batched for a short settle time and applied as one diff, so that editors'
 * atomic saves and `mv a.yaml b.yaml` (a delete and a create) change nothing when the objects are the
 * same, instead of removing endpoints for a moment. A file that stops parsing keeps its previous
 * objects (an edit in progress must not take traffic away); the problem is reported.
 */
import { watch, type FSWatcher } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { join, relative, resolve } from 'node:path';
import { isConfigFileName, listConfigFiles } from '@skiff/config-files';
import type { ConfigSource, ObjectRef, SourceEvent, SourceHandler } from './source.js';

/** One object found in a file: its identity, its JSON, and where it is (`file#document`). */
export interface ParsedFileObject {
  readonly ref: ObjectRef;
  readonly object: unknown;
  readonly origin: string;
}

/**
 * Splits one file into objects. `fatal` non-empty means the file could not be read as a whole (bad
 * YAML): its previous objects stay. `problems` are documents skipped on their own (unknown kind, no
 * name); the file's other objects are used.
 */
export type FileParser = (text: string, file: string) => { objects: ParsedFileObject[]; fatal: string[]; problems: string[] };

export interface FileSourceOptions {
  readonly dir: string;
  readonly parse: FileParser;
  /** How long file events settle before they are applied together (default 50 ms). */
  readonly settleMs?: number;
}

interface FileObjects {
  /** refKey -> object, for one file. */
  readonly objects: Map<string, ParsedFileObject>;
  /** The file's creation (birth) time, else its modification time, RFC 3339 to the second. */
  readonly createdAt: string;
}

const refKey = (ref: ObjectRef): string => `${ref.kind}/${ref.namespace}/${ref.name}`;

export class FileSource implements ConfigSource {
  readonly name = 'file';
  private readonly dir: string;
  private readonly parse: FileParser;
  private readonly settleMs: number;
  private readonly files = new Map<string, FileObjects>();
  /** What has been delivered: refKey -> the file that defines it and the object's JSON text. */
  private readonly delivered = new Map<string, { file: string; json: string }>();
  /** Files that do not parse (as displayed), so their recovery can be reported. */
  private readonly brokenFiles = new Set<string>();
  /** When each delivered object was first seen: its creationTimestamp when the file gives none. */
  private readonly firstSeen = new Map<string, string>();
  private readonly pendingPaths = new Set<string>();
  private watcher: FSWatcher | undefined;
  private timer: NodeJS.Timeout | undefined;
  private handler: SourceHandler | undefined;
  private applying: Promise<void> = Promise.resolve();
  private closed = false;

  constructor(options: FileSourceOptions) {
    this.dir = resolve(options.dir);
    this.parse = options.parse;
    this.settleMs = options.settleMs ?? 50;
  }

  async start(handler: SourceHandler): Promise<void> {
    this.handler = handler;
    // Watch first, then list: a file written between the two is seen by at least one of them.
    // Node's own recursive watcher reports every change; chokidar was not used because it drops a
    // change that follows another within 50 ms, and a control plane must never miss the last write.
    const watcher = watch(this.dir, { recursive: true }, (_event, filename) => {
      if (filename === null) this.schedule(null);
      else if (!this.isHidden(filename.toString())) this.schedule(join(this.dir, filename.toString()));
    });
    watcher.on('error', (error) => handler.problem(`watching ${this.dir}: ${String(error)}`, error));
    this.watcher = watcher;
    const initial = await listConfigFiles(this.dir);
    if (initial.length === 0) handler.problem(`${this.display(this.dir)} holds no .yaml, .yml or .json files: nothing to serve until some appear`);
    await this.apply(new Set(initial));
    handler.synced();
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.watcher?.close();
    await this.applying;
  }

  /** Waits until every file event seen so far has been applied (for tests and orderly shutdown). */
  async settled(): Promise<void> {
    while (this.timer !== undefined || this.pendingPaths.size > 0) {
      await new Promise((r) => setTimeout(r, this.settleMs));
    }
    await this.applying;
  }

  private isHidden(relativePath: string): boolean {
    return relativePath.split(/[\\/]/).some((part) => part.startsWith('.'));
  }

  /**
   * Collects a changed path (null: unknown, e.g. the watcher overflowed) and applies the batch once
   * events settle. Besides the named files, each batch re-lists the directory, so files that came or
   * went with a whole directory (`mv`, `rm -r`) are seen too.
   */
  private schedule(path: string | null): void {
    if (this.closed) return;
    if (path !== null) this.pendingPaths.add(resolve(path));
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      const paths = new Set(this.pendingPaths);
      this.pendingPaths.clear();
      this.applying = this.applying.then(() => this.applyBatch(paths));
    }, this.settleMs);
  }

  private async applyBatch(paths: ReadonlySet<string>): Promise<void> {
    let listed: string[] = [];
    try {
      listed = await listConfigFiles(this.dir);
    } catch (error) {
      this.handler?.problem(`listing ${this.dir}: ${String(error)}`, error);
      return;
    }
    const listedSet = new Set(listed.map((file) => resolve(file)));
    const changed = new Set<string>();
    for (const path of paths) if (isConfigFileName(path) || this.files.has(path)) changed.add(path);
    for (const file of listedSet) if (!this.files.has(file)) changed.add(file);
    for (const file of this.files.keys()) if (!listedSet.has(file)) changed.add(file);
    await this.apply(changed);
  }

  /** Re-reads `paths` (a missing file has no objects) and delivers the difference. */
  private async apply(paths: ReadonlySet<string>): Promise<void> {
    const handler = this.handler;
    if (!handler || this.closed) return;
    const touched = new Set<string>();
    for (const path of [...paths].sort()) {
      const absolute = resolve(path);
      const before = this.files.get(absolute);
      for (const key of before?.objects.keys() ?? []) touched.add(key);
      let text: string | undefined;
      let createdAt = '';
      try {
        text = await readFile(absolute, 'utf8');
        const stats = await stat(absolute);
        createdAt = new Date(stats.birthtimeMs > 0 ? stats.birthtimeMs : stats.mtimeMs).toISOString().replace(/\.\d+Z$/, 'Z');
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
          handler.problem(`${this.display(absolute)}: ${String(error)}`, error);
          continue;
        }
      }
      const shown = this.display(absolute);
      if (text === undefined) {
        this.files.delete(absolute);
        if (this.brokenFiles.delete(shown)) handler.fileStatus?.(shown, null, false);
        continue;
      }
      const parsed = this.parse(text, shown);
      for (const message of parsed.problems) handler.problem(message);
      if (parsed.fatal.length > 0) {
        for (const message of parsed.fatal) handler.problem(message);
        if (before) handler.problem(`${shown}: keeping its previous objects until it parses again`);
        this.brokenFiles.add(shown);
        handler.fileStatus?.(shown, parsed.fatal, before !== undefined);
        continue;
      }
      if (this.brokenFiles.delete(shown)) handler.fileStatus?.(shown, null, false);
      const objects = new Map<string, ParsedFileObject>();
      for (const object of parsed.objects) {
        const key = refKey(object.ref);
        if (objects.has(key)) handler.problem(`${object.origin}: ${key} is defined twice in the file; the later definition is used`);
        objects.set(key, object);
        touched.add(key);
      }
      this.files.set(absolute, { objects, createdAt });
    }
    for (const event of this.diff(touched)) handler.event(event);
  }

  /** For each touched object, the first file in path order that defines it wins. */
  private diff(touched: ReadonlySet<string>): SourceEvent[] {
    const events: SourceEvent[] = [];
    const fileOrder = [...this.files.keys()].sort();
    for (const key of [...touched].sort()) {
      const definers = fileOrder.filter((file) => this.files.get(file)?.objects.has(key));
      const winnerFile = definers[0];
      const previous = this.delivered.get(key);
      if (winnerFile === undefined) {
        if (previous) {
          const ref = parseRefKey(key);
          this.delivered.delete(key);
          this.firstSeen.delete(key);
          events.push({ type: 'delete', ref, origin: this.display(previous.file) });
        }
        continue;
      }
      if (definers.length > 1) {
        this.handler?.problem(`${key} is defined in ${definers.map((f) => this.display(f)).join(' and ')}; using ${this.display(winnerFile)}`);
      }
      const object = this.files.get(winnerFile)?.objects.get(key);
      if (!object) continue;
      const json = JSON.stringify(object.object);
      if (previous?.json === json) continue;
      this.delivered.set(key, { file: winnerFile, json });
      events.push({ type: 'upsert', object: this.withCreationTimestamp(key, object.object, this.files.get(winnerFile)?.createdAt ?? ''), origin: object.origin });
    }
    return events;
  }

  /**
   * Objects from files have no creationTimestamp unless written in. As the Kubernetes API server stamps
   * an object when it is created, the creation time of the file that first delivered it stands in (the
   * same after a restart and on every replica reading the same files, so it causes no rewrites), and
   * debug output (`/debug/registryz`) and the oldest-wins order between ServiceEntries do not read 1970.
   * An edit that replaces the file keeps the object's first stamp.
   */
  private withCreationTimestamp(key: string, object: unknown, fileCreatedAt: string): unknown {
    if (typeof object !== 'object' || object === null || fileCreatedAt === '') return object;
    const metadata = (object as { metadata?: unknown }).metadata;
    if (typeof metadata !== 'object' || metadata === null || 'creationTimestamp' in metadata) return object;
    let stamp = this.firstSeen.get(key);
    if (stamp === undefined) {
      stamp = fileCreatedAt;
      this.firstSeen.set(key, stamp);
    }
    return { ...object, metadata: { ...metadata, creationTimestamp: stamp } };
  }

  /** A path as the user most likely gave it: relative to the working directory when under it, else absolute. */
  private display(file: string): string {
    const fromCwd = relative(process.cwd(), file);
    return fromCwd === '' || fromCwd.startsWith('..') ? file : fromCwd;
  }
}

function parseRefKey(key: string): ObjectRef {
  const [kind = '', namespace = '', ...rest] = key.split('/');
  return { kind, namespace, name: rest.join('/') };
}
