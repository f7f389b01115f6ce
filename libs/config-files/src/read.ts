/**
 * Reads configuration inputs the way `kubectl apply -f` and `istioctl analyze -f` take them: files,
 * directories (recursively, `.yaml`, `.yml` and `.json`, in sorted order so results are stable) and `-`
 * for standard input. A missing or unreadable input is reported, not thrown, so one bad path never hides
 * the others.
 */
import type { Dirent } from 'node:fs';
import { readdir, readFile, realpath, stat } from 'node:fs/promises';
import { join } from 'node:path';

/** The text of one input file; `file` is the path as given (or `<stdin>`). */
export interface ConfigText {
  readonly file: string;
  readonly text: string;
}

/** An input that could not be read at all. */
export interface InputError {
  readonly file: string;
  readonly message: string;
}

export interface ReadInputsResult {
  readonly texts: ConfigText[];
  readonly errors: InputError[];
}

const CONFIG_EXTENSIONS = ['.yaml', '.yml', '.json'];

/** Whether a file name looks like configuration (the extensions `kubectl` reads from a directory). */
export function isConfigFileName(name: string): boolean {
  return CONFIG_EXTENSIONS.some((ext) => name.endsWith(ext));
}

/** A configuration file found under a directory. */
export interface ConfigFileEntry {
  /** The path under the directory, as listed (through any symlinks). */
  readonly path: string;
  /** The file it resolves to once every symlink is followed. */
  readonly realPath: string;
  /** The directory that lists it, symlinks resolved. */
  readonly realDir: string;
}

/** What a walk of a configuration directory found. */
export interface ConfigDirListing {
  /** Configuration files, sorted by `path`. */
  readonly files: ConfigFileEntry[];
  /** Every directory walked, symlinks resolved (the places whose changes change the listing). */
  readonly realDirs: string[];
  /** Paths that could not be read (other than vanishing mid-walk); what was under them is unknown. */
  readonly errors: { readonly path: string; readonly error: unknown }[];
}

/**
 * Walks `dir` recursively, in sorted order, the way a mounted Kubernetes ConfigMap or Secret must be
 * read: symlinks to files and directories are followed (the visible `a.yaml` of a ConfigMap volume is
 * a symlink to `..data/a.yaml`, `..data` a symlink to the current timestamped directory), while hidden
 * entries (names starting with `.`, so `..data` and `..2026_...` themselves) are never read as
 * configuration. A directory reached twice through symlinks is walked once. An entry that disappears
 * during the walk is simply absent; other errors are returned with the path, not thrown, except for
 * `dir` itself.
 */
export async function walkConfigDir(dir: string): Promise<ConfigDirListing> {
  const files: ConfigFileEntry[] = [];
  const realDirs: string[] = [];
  const errors: { path: string; error: unknown }[] = [];
  const seen = new Set<string>();
  const walk = async (current: string, isRoot: boolean): Promise<void> => {
    let entries: Dirent[];
    let real: string;
    try {
      real = await realpath(current);
      if (seen.has(real)) return;
      seen.add(real);
      entries = (await readdir(current, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    } catch (error) {
      if (isRoot) throw error;
      if (!isVanished(error)) errors.push({ path: current, error });
      return;
    }
    realDirs.push(real);
    for (const entry of entries) {
      const name = entry.name;
      if (name.startsWith('.')) continue;
      const path = join(current, name);
      let info: { isDirectory(): boolean; isFile(): boolean } = entry;
      if (entry.isSymbolicLink()) {
        try {
          // A symlink counts as what it points to.
          info = await stat(path);
        } catch (error) {
          // A dangling symlink or an entry removed since readdir: not a file to read.
          if (!isVanished(error)) errors.push({ path, error });
          continue;
        }
      }
      if (info.isDirectory()) await walk(path, false);
      else if (info.isFile() && isConfigFileName(name)) {
        try {
          files.push({ path, realPath: entry.isSymbolicLink() ? await realpath(path) : join(real, name), realDir: real });
        } catch (error) {
          if (!isVanished(error)) errors.push({ path, error });
        }
      }
    }
  };
  await walk(dir, true);
  return { files, realDirs, errors };
}

const isVanished = (error: unknown): boolean => {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ENOENT' || code === 'ENOTDIR' || code === 'ELOOP';
};

/** Lists the configuration files under `dir` (see `walkConfigDir`), sorted; hidden entries are skipped. */
export async function listConfigFiles(dir: string): Promise<string[]> {
  return (await walkConfigDir(dir)).files.map((file) => file.path);
}

async function readStream(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer));
  return Buffer.concat(chunks).toString('utf8');
}

function describeFsError(error: unknown): string {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  switch (code) {
    case 'ENOENT':
      return 'no such file or directory';
    case 'EACCES':
      return 'permission denied';
    case 'EISDIR':
      return 'is a directory';
    default:
      return error instanceof Error ? error.message : String(error);
  }
}

/**
 * Reads every input. `-` reads `stdin` (once, even if given twice). Directories expand to their
 * configuration files; a file given explicitly is read whatever its extension.
 */
export async function readConfigInputs(
  inputs: readonly string[],
  stdin: NodeJS.ReadableStream = process.stdin,
): Promise<ReadInputsResult> {
  const texts: ConfigText[] = [];
  const errors: InputError[] = [];
  let stdinRead = false;
  for (const input of inputs) {
    if (input === '-') {
      if (stdinRead) continue;
      stdinRead = true;
      texts.push({ file: '<stdin>', text: await readStream(stdin) });
      continue;
    }
    try {
      const info = await stat(input);
      const files = info.isDirectory() ? await listConfigFiles(input) : [input];
      if (info.isDirectory() && files.length === 0) {
        errors.push({ file: input, message: 'directory holds no .yaml, .yml or .json files' });
      }
      for (const file of files) texts.push({ file, text: await readFile(file, 'utf8') });
    } catch (error) {
      errors.push({ file: input, message: describeFsError(error) });
    }
  }
  return { texts, errors };
}
