/**
 * Reads configuration inputs the way `kubectl apply -f` and `istioctl analyze -f` take them: files,
 * directories (recursively, `.yaml`, `.yml` and `.json`, in sorted order so results are stable) and `-`
 * for standard input. A missing or unreadable input is reported, not thrown, so one bad path never hides
 * the others.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
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

/** Lists the configuration files under `dir`, recursively, sorted; hidden entries are skipped. */
export async function listConfigFiles(dir: string): Promise<string[]> {
  const found: string[] = [];
  const walk = async (current: string): Promise<void> => {
    const entries = await readdir(current, { withFileTypes: true });
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const entry of entries) {
      if (entry.name.startsWith('.')) continue;
      const path = join(current, entry.name);
      if (entry.isDirectory()) await walk(path);
      else if (entry.isFile() && isConfigFileName(entry.name)) found.push(path);
    }
  };
  await walk(dir);
  return found;
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
