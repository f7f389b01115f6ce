/**
 * A directory laid out as the kubelet lays out a mounted ConfigMap or Secret volume, written the way
 * Kubernetes' AtomicWriter writes it (`pkg/volume/util/atomic_writer.go` in kubernetes/kubernetes):
 * the files live in a hidden timestamped directory (`..2026_12_03_07_40_00.123456789`), `..data` is a
 * symlink to the current one, and each visible name is a symlink to `..data/<name>`. An update writes a
 * new timestamped directory, points a `..data_tmp` symlink at it and renames that over `..data` (the
 * atomic swap), then adds or removes visible symlinks and deletes the old directory.
 */
import { mkdir, readdir, readlink, rename, rm, symlink, unlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';

const DATA = '..data';

/** Replaces the volume's content with `files` (path -> text; paths may have directories). */
export async function writeConfigMapVolume(dir: string, files: Readonly<Record<string, string>>): Promise<void> {
  await mkdir(dir, { recursive: true });
  const previous = await readlink(join(dir, DATA)).catch(() => undefined);
  const now = new Date();
  const stamp = now.toISOString().slice(0, 19).replace(/[-T:]/g, '_');
  const timestamped = `..${stamp}.${process.hrtime.bigint().toString().slice(-9)}`;
  for (const [path, text] of Object.entries(files)) {
    await mkdir(dirname(join(dir, timestamped, path)), { recursive: true });
    await writeFile(join(dir, timestamped, path), text);
  }
  await symlink(timestamped, join(dir, '..data_tmp'));
  await rename(join(dir, '..data_tmp'), join(dir, DATA));
  const visible = new Set(Object.keys(files).map((path) => path.split('/')[0]!));
  for (const name of await readdir(dir)) {
    if (!name.startsWith('.') && !visible.has(name)) await unlink(join(dir, name));
  }
  const present = new Set(await readdir(dir));
  for (const name of visible) if (!present.has(name)) await symlink(join(DATA, name), join(dir, name));
  if (previous !== undefined) await rm(join(dir, previous), { recursive: true, force: true });
}
