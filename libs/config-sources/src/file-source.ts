/**
 * A directory of YAML/JSON files as a configuration source, with the semantics of the Kubernetes
 * source: every object is an upsert when it appears or changes and a delete when it disappears.
 *
 * How changes are seen (docs/file-source.md): every directory under the root is watched on its own
 * (`fs.watch` without `recursive`, one inotify watch per directory on Linux), together with the
 * directories that symlinked files resolve into and the root's parent. A watch on a directory keeps
 * reporting whatever is renamed into it, which a watch on a file does not: Node's recursive watcher
 * watches files, so it loses a file replaced by an atomic rename (`sed -i`, editors, config-sync
 * tools) and never sees a Kubernetes ConfigMap volume swap its `..data` symlink. An event only says
 * "look again": the tree is walked (following symlinks, skipping hidden entries), files whose `stat`
 * changed or whose directory reported an event are read, and the difference is delivered. A periodic
 * full rescan reads every file, as a safety net for lost events (inotify overflow, network file
 * systems).
 *
 * Events settle for `settleMs` and are applied together, so an editor's save or `mv a.yaml b.yaml` (a
 * delete and a create) changes nothing when the objects are the same.
 *
 * The rule for a file caught half written: objects a file stops defining while it still exists
 * (it was truncated, is empty, lost documents) are withdrawn only once the file has stayed unchanged
 * for `holdMs`; until then its last objects stay. A file that does not parse keeps its last objects
 * until it parses again or is deleted. New and changed objects apply at once; a deleted file's objects
 * are withdrawn at once. A root directory that disappears keeps everything until it is back.
 */
import { createHash } from 'node:crypto';
import { watch, type FSWatcher } from 'node:fs';
import { open, readFile, stat } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { walkConfigDir, type ConfigDirListing } from '@skiff/config-files';
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

/** Default of `holdMs`: longer than a tool takes between truncating a file and writing it. */
export const DEFAULT_FILE_HOLD_MS = 2_000;
/** Default of `rescanIntervalMs`. */
export const DEFAULT_RESCAN_INTERVAL_MS = 30_000;

export interface FileSourceOptions {
  readonly dir: string;
  readonly parse: FileParser;
  /** How long file events settle before they are applied together (default 50 ms). */
  readonly settleMs?: number;
  /**
   * How long a file that still exists must stay unchanged before the objects it stopped defining are
   * withdrawn (default `DEFAULT_FILE_HOLD_MS`).
   */
  readonly holdMs?: number;
  /** Every how often every file is read again whatever the watches reported; 0 turns it off (default `DEFAULT_RESCAN_INTERVAL_MS`). */
  readonly rescanIntervalMs?: number;
}

interface FileState {
  /**
   * The SHA-256 of the bytes last read, to tell a real change from a touch. Not the text itself: a
   * whole mesh in one file is tens of MB, which the heap would hold for as long as the file exists.
   */
  readonly digest: string;
  /** `stat` of the file (symlinks followed) when it was read. */
  signature: string;
  /** When this text was first seen. */
  readonly seenAt: number;
  /** refKey -> object: what the file contributes now, including objects held back. */
  readonly objects: Map<string, ParsedFileObject>;
  /** Set while objects are held back because the text no longer defines them: when to look again. */
  readonly holdUntil: number | undefined;
  /** The file's creation (birth) time, else its modification time, RFC 3339 to the second. */
  readonly createdAt: string;
}

type EntryRead =
  | { kind: 'gone'; error: unknown }
  | { kind: 'same'; signature: string }
  | { kind: 'text'; text: string; digest: string; signature: string; createdAt: string };

/** Files stat'ed and read at once: enough to keep the thread pool busy, few enough to leave it to others. */
const READ_CONCURRENCY = 16;
/** The piece of a file `digestOfFile` reads at a time. */
const DIGEST_CHUNK_BYTES = 256 * 1024;

const digestOf = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('base64');

/**
 * The digest of a file's bytes (as `digestOf` of all of them), read a piece at a time into one buffer:
 * the periodic rescan looks at every file, and reading a 60 MB file whole left 60 MB of garbage for a
 * full collection of the whole heap, which at 200,000 WorkloadEntries delayed changes by half a second.
 */
export async function digestOfFile(path: string): Promise<string> {
  const hash = createHash('sha256');
  const chunk = Buffer.allocUnsafe(DIGEST_CHUNK_BYTES);
  const handle = await open(path, 'r');
  try {
    for (;;) {
      const { bytesRead } = await handle.read(chunk, 0, chunk.length, null);
      if (bytesRead === 0) break;
      hash.update(chunk.subarray(0, bytesRead));
    }
  } finally {
    await handle.close();
  }
  return hash.digest('base64');
}

interface DirWatch {
  readonly watcher: FSWatcher;
  /** Identity of the directory watched: a new directory at the same path needs a new watch. */
  readonly identity: string;
  /** The one entry that matters (the root, seen from its parent), or undefined for all of them. */
  readonly only: string | undefined;
}

const refKey = (ref: ObjectRef): string => `${ref.kind}/${ref.namespace}/${ref.name}`;
const identityOf = (info: { dev: number | bigint; ino: number | bigint }): string => `${info.dev}:${info.ino}`;
const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`;

export class FileSource implements ConfigSource {
  readonly name = 'file';
  private readonly dir: string;
  private readonly parse: FileParser;
  private readonly settleMs: number;
  private readonly holdMs: number;
  private readonly rescanIntervalMs: number;
  /** Listed path -> what the file holds; changed only through `setFile` and `deleteFile`. */
  private readonly files = new Map<string, FileState>();
  /** Object key -> the listed paths whose objects hold it, kept with `files` for the diff. */
  private readonly definingFiles = new Map<string, Set<string>>();
  /**
   * What has been delivered: refKey -> the file that defines it and the object as delivered. The object
   * is the one the handler keeps (the watcher holds it for `/debug/configz`), so remembering it costs
   * nothing; its JSON text, remembered before, cost a stringify of every object on a cold start and as
   * much memory again as the objects' text.
   */
  private readonly delivered = new Map<string, { file: string; object: unknown }>();
  /** Watched directory -> its watch. */
  private readonly watches = new Map<string, DirWatch>();
  /**
   * Directories that reported an event naming no entry (or that are watched anew) since the last scan:
   * all their files are checked again.
   */
  private readonly dirtyDirs = new Set<string>();
  /**
   * Entries (a watched directory joined with the name an event gave) that reported an event since the
   * last scan: the listed files they are, or resolve to, are checked again. With one file per object,
   * a directory can hold tens of thousands of files, and checking each of them on every change cost
   * about 10 us per file (half a second at 50,000).
   */
  private readonly dirtyEntries = new Set<string>();
  /** Listed path -> the file it resolved to when last listed: a file whose symlinks now lead elsewhere is checked again. */
  private readonly resolvedPaths = new Map<string, string>();
  /** Listing problems last reported, so a rescan does not repeat them. */
  private reportedListingErrors = new Set<string>();
  private rootMissing = false;
  /** Whether the last scan found no file, so an empty directory is reported once, not at every rescan. */
  private reportedEmpty = false;
  /** Files that do not parse (as displayed), so their recovery can be reported. */
  private readonly brokenFiles = new Set<string>();
  /** When each delivered object was first seen: its creationTimestamp when the file gives none. */
  private readonly firstSeen = new Map<string, string>();
  private timer: NodeJS.Timeout | undefined;
  private rescanTimer: NodeJS.Timeout | undefined;
  /** Listed path -> the timer that looks at it again when its hold expires. */
  private readonly holdTimers = new Map<string, NodeJS.Timeout>();
  private handler: SourceHandler | undefined;
  private scanning: Promise<void> = Promise.resolve();
  private closed = false;

  constructor(options: FileSourceOptions) {
    this.dir = resolve(options.dir);
    this.parse = options.parse;
    this.settleMs = options.settleMs ?? 50;
    this.holdMs = options.holdMs ?? DEFAULT_FILE_HOLD_MS;
    this.rescanIntervalMs = options.rescanIntervalMs ?? DEFAULT_RESCAN_INTERVAL_MS;
  }

  async start(handler: SourceHandler): Promise<void> {
    this.handler = handler;
    // The first scan also opens the watches; a change made while they were being opened is caught
    // by the scan the new watches schedule.
    await this.enqueue(true);
    handler.synced();
    if (this.rescanIntervalMs > 0) {
      this.rescanTimer = setInterval(() => void this.enqueue(true), this.rescanIntervalMs);
      this.rescanTimer.unref();
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.rescanTimer) clearInterval(this.rescanTimer);
    for (const timer of this.holdTimers.values()) clearTimeout(timer);
    this.holdTimers.clear();
    for (const { watcher } of this.watches.values()) watcher.close();
    this.watches.clear();
    await this.scanning;
  }

  /** Waits until every file event seen so far has been applied (for tests and orderly shutdown). */
  async settled(): Promise<void> {
    while (this.timer !== undefined) {
      await new Promise((r) => setTimeout(r, this.settleMs));
    }
    await this.scanning;
  }

  /** Directories watched now (for tests and the debug surface). */
  watchedDirs(): string[] {
    return [...this.watches.keys()].sort();
  }

  /** Collects events and scans once they settle. */
  private schedule(): void {
    if (this.closed) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.enqueue(false);
    }, this.settleMs);
  }

  private enqueue(full: boolean): Promise<void> {
    const next = this.scanning.then(() => this.scan(full));
    this.scanning = next.catch((error: unknown) => this.handler?.problem(`scanning ${this.dir}: ${String(error)}`, error));
    return this.scanning;
  }

  /**
   * Walks the tree and applies what changed. `full` reads every file; otherwise only files whose
   * `stat` changed, whose directory reported an event, or whose hold has expired.
   */
  private async scan(full: boolean): Promise<void> {
    const handler = this.handler;
    if (!handler || this.closed) return;
    const dirty = new Set(this.dirtyDirs);
    this.dirtyDirs.clear();
    // Named entries by directory: most listed files are in a directory no event named anything in.
    const dirtyNames = new Map<string, Set<string>>();
    for (const entry of this.dirtyEntries) {
      const dir = dirname(entry);
      let names = dirtyNames.get(dir);
      if (names === undefined) dirtyNames.set(dir, (names = new Set()));
      names.add(basename(entry));
    }
    this.dirtyEntries.clear();
    const named = (dir: string, path: string): boolean => dirtyNames.get(dir)?.has(basename(path)) === true;
    let listing: ConfigDirListing;
    try {
      listing = await walkConfigDir(this.dir);
    } catch (error) {
      // Without the root nothing can be told apart from a tree being replaced: keep everything.
      if (!this.rootMissing) {
        const objects = [...this.files.values()].reduce((n, file) => n + file.objects.size, 0);
        handler.problem(`${this.display(this.dir)}: cannot be read (${describeError(error)}); keeping the ${plural(objects, 'object')} of its ${plural(this.files.size, 'file')} until it is back`, error);
      }
      this.rootMissing = true;
      await this.reconcileWatches([]);
      return;
    }
    if (this.rootMissing) handler.info?.(`${this.display(this.dir)}: readable again`);
    this.rootMissing = false;
    this.reportListingErrors(listing, handler);
    const empty = listing.files.length === 0;
    if (empty && !this.reportedEmpty) handler.problem(`${this.display(this.dir)} holds no .yaml, .yml or .json files: nothing to serve until some appear`);
    this.reportedEmpty = empty;
    const now = Date.now();
    const touched = new Set<string>();
    const listed = new Set(listing.files.map((file) => file.path));
    if (this.resolvedPaths.size > listed.size) for (const path of this.resolvedPaths.keys()) if (!listed.has(path)) this.resolvedPaths.delete(path);
    const unknown = listing.errors.map((e) => e.path);
    for (const [path, state] of this.files) {
      if (listed.has(path) || unknown.some((dir) => path.startsWith(`${dir}/`))) continue;
      this.removeFile(path, state, touched, handler);
    }
    // Between full rescans only the files a watch pointed at are looked at: those an event named (the
    // listed entry, or the file it resolves to), those of a directory whose event named nothing, those
    // that now resolve to another file (a ConfigMap volume's `..data` swapped), new ones, and those
    // whose hold has expired.
    const candidates = listing.files.filter((entry) => {
      const previous = this.files.get(entry.path);
      const resolvedBefore = this.resolvedPaths.get(entry.path);
      if (resolvedBefore !== entry.realPath) this.resolvedPaths.set(entry.path, entry.realPath);
      if (previous === undefined || full || resolvedBefore !== entry.realPath) return true;
      if (previous.holdUntil !== undefined) {
        if (now >= previous.holdUntil) return true;
        if (!this.holdTimers.has(entry.path)) this.lookAgainAt(entry.path, previous.holdUntil);
      }
      if (named(entry.realDir, entry.path) || named(dirname(entry.realPath), entry.realPath)) return true;
      return dirty.has(entry.realDir) || dirty.has(dirname(entry.realPath));
    });
    const reads = await mapConcurrently(candidates, READ_CONCURRENCY, (entry) => this.readEntry(entry.path, full, now));
    candidates.forEach((entry, index) => {
      const read = reads[index]!;
      const previous = this.files.get(entry.path);
      if (read.kind === 'gone') {
        if (previous) this.removeFile(entry.path, previous, touched, handler);
        if (read.error !== undefined) handler.problem(`${this.display(entry.path)}: ${String(read.error)}`, read.error);
      } else if (read.kind === 'same') {
        if (previous) previous.signature = read.signature;
      } else {
        this.readFileText(entry.path, previous, read, now, touched, handler);
      }
    });
    for (const event of this.diff(touched)) handler.event(event);
    await this.reconcileWatches([...listing.realDirs, ...listing.files.map((file) => dirname(file.realPath))]);
  }

  /**
   * Reads one listed file: `same` when its `stat` (or, on a full rescan, the digest of its bytes) did
   * not change and no hold is due, `gone` when it vanished or cannot be read.
   */
  private async readEntry(path: string, full: boolean, now: number): Promise<EntryRead> {
    const previous = this.files.get(path);
    try {
      const info = await stat(path, { bigint: true });
      const signature = `${identityOf(info)}:${info.size}:${info.mtimeNs}:${info.ctimeNs}`;
      const holdDue = previous?.holdUntil !== undefined && now >= previous.holdUntil;
      if (previous !== undefined && !holdDue && previous.signature === signature) {
        if (!full) return { kind: 'same', signature };
        // The periodic rescan: the content decides, hashed without holding the file in memory.
        if ((await digestOfFile(path)) === previous.digest) return { kind: 'same', signature };
      }
      const bytes = await readFile(path);
      const digest = digestOf(bytes);
      if (previous !== undefined && !holdDue && previous.digest === digest) return { kind: 'same', signature };
      const created = Number(info.birthtimeMs > 0n ? info.birthtimeMs : info.mtimeMs);
      return { kind: 'text', text: bytes.toString('utf8'), digest, signature, createdAt: new Date(created).toISOString().replace(/\.\d+Z$/, 'Z') };
    } catch (error) {
      return { kind: 'gone', error: isVanished(error) ? undefined : error };
    }
  }

  /** Takes a file's new text (or the same text once its hold expired) and applies the rule of the module comment. */
  private readFileText(
    path: string,
    previous: FileState | undefined,
    { text, digest, signature, createdAt }: Extract<EntryRead, { kind: 'text' }>,
    now: number,
    touched: Set<string>,
    handler: SourceHandler,
  ): void {
    const shown = this.display(path);
    const changed = previous?.digest !== digest;
    const seenAt = previous !== undefined && !changed ? previous.seenAt : now;
    const before = previous?.objects ?? new Map<string, ParsedFileObject>();
    const parsed = this.parse(text, shown);
    if (changed) for (const message of parsed.problems) handler.problem(message);
    if (parsed.fatal.length > 0) {
      if (changed) {
        for (const message of parsed.fatal) handler.problem(message);
        if (before.size > 0) handler.problem(`${shown}: held back: it does not parse; keeping its ${plural(before.size, 'object')} until it parses again or is deleted`);
        this.brokenFiles.add(shown);
        handler.fileStatus?.(shown, parsed.fatal, before.size > 0);
      }
      this.setFile(path, { digest, signature, seenAt, objects: before, holdUntil: undefined, createdAt: previous?.createdAt ?? createdAt });
      return;
    }
    if (this.brokenFiles.delete(shown)) handler.fileStatus?.(shown, null, false);
    const objects = new Map<string, ParsedFileObject>();
    for (const object of parsed.objects) {
      const key = refKey(object.ref);
      if (objects.has(key) && changed) handler.problem(`${object.origin}: ${key} is defined twice in the file; the later definition is used`);
      objects.set(key, object);
    }
    const lost = [...before.keys()].filter((key) => !objects.has(key));
    let holdUntil: number | undefined;
    if (lost.length > 0 && now - seenAt < this.holdMs) {
      holdUntil = seenAt + this.holdMs;
      for (const key of lost) objects.set(key, before.get(key)!);
      const reason = text.trim() === '' ? 'it is empty' : `it no longer defines ${lost.join(', ')}`;
      handler.problem(`${shown}: held back: ${reason}; keeping ${lost.length === before.size ? 'its' : 'those'} ${plural(lost.length, 'object')} until the file has stayed unchanged for ${this.holdMs} ms`);
      this.lookAgainAt(path, holdUntil);
    }
    for (const key of before.keys()) touched.add(key);
    for (const key of objects.keys()) touched.add(key);
    this.setFile(path, { digest, signature, seenAt, objects, holdUntil, createdAt: previous?.createdAt ?? createdAt });
    if (holdUntil !== undefined) return;
    if (previous === undefined) handler.info?.(`${shown}: applied (${plural(objects.size, 'object')})`);
    else if (changed) handler.info?.(`${shown}: changed (${plural(objects.size, 'object')}${lost.length > 0 ? `; withdrawn: ${lost.join(', ')}` : ''})`);
    else handler.info?.(`${shown}: settled (${plural(objects.size, 'object')}; withdrawn: ${lost.join(', ')})`);
  }

  private removeFile(path: string, state: FileState, touched: Set<string>, handler: SourceHandler): void {
    this.deleteFile(path);
    if (this.brokenFiles.delete(this.display(path))) handler.fileStatus?.(this.display(path), null, false);
    clearTimeout(this.holdTimers.get(path));
    this.holdTimers.delete(path);
    for (const key of state.objects.keys()) touched.add(key);
    handler.info?.(`${this.display(path)}: removed (${plural(state.objects.size, 'object')} withdrawn)`);
  }

  /** Scans again once `path`'s hold expires (a timer may fire a little early: the scan re-arms it). */
  private lookAgainAt(path: string, when: number): void {
    clearTimeout(this.holdTimers.get(path));
    const timer = setTimeout(
      () => {
        this.holdTimers.delete(path);
        this.schedule();
      },
      Math.max(0, when - Date.now()) + 1,
    );
    this.holdTimers.set(path, timer);
  }

  private reportListingErrors(listing: ConfigDirListing, handler: SourceHandler): void {
    const now = new Set<string>();
    for (const { path, error } of listing.errors) {
      const message = `${this.display(path)}: cannot be read (${describeError(error)}); keeping what was read under it before`;
      now.add(message);
      if (!this.reportedListingErrors.has(message)) handler.problem(message, error);
    }
    this.reportedListingErrors = now;
  }

  /**
   * Watches exactly `dirs` (plus the root's parent, to see the root itself replaced): new
   * directories get a watch, gone ones lose theirs, and a directory replaced at the same path is
   * watched again. A new watch is followed by a scan, for what changed before it was open.
   */
  private async reconcileWatches(dirs: readonly string[]): Promise<void> {
    if (this.closed) return;
    const needed = new Set(dirs);
    const wanted = new Set(dirs);
    const parent = dirname(this.dir);
    if (parent !== this.dir) wanted.add(parent);
    let opened = false;
    for (const [dir, current] of this.watches) {
      if (wanted.has(dir)) continue;
      current.watcher.close();
      this.watches.delete(dir);
    }
    for (const dir of wanted) {
      let identity: string;
      try {
        identity = identityOf(await stat(dir));
      } catch {
        const gone = this.watches.get(dir);
        gone?.watcher.close();
        this.watches.delete(dir);
        continue;
      }
      // The root's parent matters only for the root's own entry, unless files live there too.
      const only = dir === parent && !needed.has(dir) ? basename(this.dir) : undefined;
      const current = this.watches.get(dir);
      if (current?.identity === identity && current.only === only) continue;
      current?.watcher.close();
      const watcher = this.openWatch(dir, only);
      if (watcher === undefined) continue;
      this.watches.set(dir, { watcher, identity, only });
      // A directory watched anew (new, or another at the same path) may hold files changed unseen.
      this.dirtyDirs.add(dir);
      opened = true;
    }
    if (opened) this.schedule();
  }

  /** One directory's watch; `only` limits it to one entry (the root, seen from its parent). */
  private openWatch(dir: string, only: string | undefined): FSWatcher | undefined {
    try {
      const watcher = watch(dir, (_event, filename) => {
        if (only !== undefined && filename !== null && filename.toString() !== only) return;
        if (filename === null || only !== undefined) this.dirtyDirs.add(dir);
        else this.dirtyEntries.add(join(dir, filename.toString()));
        this.schedule();
      });
      watcher.on('error', (error) => {
        // The directory went away (or the kernel dropped the watch): the next scan decides what is watched.
        watcher.close();
        if (this.watches.get(dir)?.watcher === watcher) this.watches.delete(dir);
        if (!isVanished(error)) this.handler?.problem(`watching ${this.display(dir)}: ${String(error)}`, error);
        this.schedule();
      });
      return watcher;
    } catch (error) {
      if (!isVanished(error)) this.handler?.problem(`watching ${this.display(dir)}: ${String(error)}; relying on the periodic rescan`, error);
      return undefined;
    }
  }

  /** For each touched object, the first file in path order that defines it wins. */
  private diff(touched: ReadonlySet<string>): SourceEvent[] {
    const events: SourceEvent[] = [];
    for (const key of [...touched].sort()) {
      const definers = [...(this.definingFiles.get(key) ?? [])].sort();
      const winnerFile = definers[0];
      const previous = this.delivered.get(key);
      if (winnerFile === undefined) {
        if (previous) {
          const ref = parseRefKey(key);
          this.delivered.delete(key);
          events.push({ type: 'delete', ref, origin: this.display(previous.file) });
        }
        continue;
      }
      if (definers.length > 1) {
        this.handler?.problem(`${key} is defined in ${definers.map((f) => this.display(f)).join(' and ')}; using ${this.display(winnerFile)}`);
      }
      const object = this.files.get(winnerFile)?.objects.get(key);
      if (!object) continue;
      const stamped = this.withCreationTimestamp(key, object.object, this.files.get(winnerFile)?.createdAt ?? '');
      // An object parsed again from an edited file is a new object with the same content when the edit was elsewhere.
      if (previous !== undefined && isDeepStrictEqual(previous.object, stamped)) continue;
      this.delivered.set(key, { file: winnerFile, object: stamped });
      events.push({ type: 'upsert', object: stamped, origin: object.origin });
    }
    return events;
  }

  /** Records what `path` holds now, and which keys it defines. */
  private setFile(path: string, state: FileState): void {
    const before = this.files.get(path)?.objects;
    if (before !== undefined) for (const key of before.keys()) if (!state.objects.has(key)) this.forgetDefiner(key, path);
    for (const key of state.objects.keys()) {
      let paths = this.definingFiles.get(key);
      if (paths === undefined) this.definingFiles.set(key, (paths = new Set()));
      paths.add(path);
    }
    this.files.set(path, state);
  }

  private deleteFile(path: string): void {
    for (const key of this.files.get(path)?.objects.keys() ?? []) this.forgetDefiner(key, path);
    this.files.delete(path);
    this.resolvedPaths.delete(path);
  }

  private forgetDefiner(key: string, path: string): void {
    const paths = this.definingFiles.get(key);
    paths?.delete(path);
    if (paths?.size === 0) this.definingFiles.delete(key);
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

  /** A path as logs and origins show it: relative to the working directory when it is under it. */
  private display(file: string): string {
    const shown = relative(process.cwd(), file);
    return shown === '' || shown.startsWith('..') || isAbsolute(shown) ? file : shown;
  }
}

/** `fn` over `items` with at most `limit` calls in flight; results in the order of `items`. */
async function mapConcurrently<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const index = next;
      next += 1;
      results[index] = await fn(items[index]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

function isVanished(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}

function describeError(error: unknown): string {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return code ?? (error instanceof Error ? error.message : String(error));
}

function parseRefKey(key: string): ObjectRef {
  const [kind = '', namespace = '', ...rest] = key.split('/');
  return { kind, namespace, name: rest.join('/') };
}
