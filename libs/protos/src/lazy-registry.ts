/**
 * JSON type registries built on first use. `toJson` consults its registry only for an `Any` (and for
 * unknown fields that might be extensions), so a command that prints resources without either never
 * pays for building one.
 */
import { createRegistry, type DescFile, type Registry } from '@bufbuild/protobuf';

/**
 * `createRegistry(file)` registers only that file's own types, not those of its imports, so the
 * registry walks every dependency: `ClustersConfigDump` lives in `config_dump_shared.proto`, which
 * `config_dump.proto` only imports.
 */
function withDependencies(roots: readonly DescFile[]): DescFile[] {
  const seen = new Map<string, DescFile>();
  const visit = (file: DescFile): void => {
    if (seen.has(file.name)) return;
    seen.set(file.name, file);
    for (const dep of file.dependencies) visit(dep);
  };
  for (const root of roots) visit(root);
  return [...seen.values()];
}

/** A registry of `roots` and everything they import, built the first time anything looks a type up in it. */
export function lazyRegistry(roots: () => readonly DescFile[]): Registry {
  let built: Registry | undefined;
  // eslint-disable-next-line no-restricted-syntax -- the files of one registry and their imports: about a hundred
  const registry = (): Registry => (built ??= createRegistry(...withDependencies(roots())));
  return {
    kind: 'registry',
    [Symbol.iterator]: () => registry()[Symbol.iterator](),
    get: (typeName) => registry().get(typeName),
    getMessage: (typeName) => registry().getMessage(typeName),
    getEnum: (typeName) => registry().getEnum(typeName),
    getExtension: (typeName) => registry().getExtension(typeName),
    getExtensionFor: (extendee, no) => registry().getExtensionFor(extendee, no),
    getService: (typeName) => registry().getService(typeName),
  };
}
