/**
 * The translator's mesh settings: istiod's MeshConfig file (`--mesh-config`, what istiod reads with
 * `--meshConfig`, mounted from the `mesh` key of the `istio` ConfigMap), then istiod's feature flags
 * from the environment. Both change what is built, so every translator of an installation must be
 * given the same.
 */
import { readFileSync } from 'node:fs';
import { DEFAULT_MESH_SETTINGS, meshSettingsFromEnvironment, meshSettingsFromMeshConfigYaml, type MeshSettings } from '@skiff/xds-translate';

/** `--mesh-config` (`SKIFF_MESH_CONFIG`): the MeshConfig YAML file; istiod's defaults without it. */
export const MESH_CONFIG_OPTION = {
  flag: 'mesh-config',
  description: "istiod's MeshConfig YAML (the istio ConfigMap's mesh key): locality load balancing, connect timeout, DNS refresh rate and the other fields docs/istio-compatibility.md lists",
  parse: (value: string): string => value,
  valueName: 'file',
} as const;

export interface LoadedMeshSettings {
  readonly mesh: MeshSettings;
  /** Fields of the file Skiff does not read (see `meshSettingsFromMeshConfig`), for a log line. */
  readonly ignored: readonly string[];
}

/**
 * The mesh settings of a translator: the MeshConfig file if given, then the environment's istiod
 * flags. Throws an error naming the file and the field (or the variable) on what istiod would refuse.
 */
export function loadMeshSettings(meshConfigFile: string | undefined, env: Readonly<Record<string, string | undefined>>): LoadedMeshSettings {
  let fromFile: LoadedMeshSettings = { mesh: DEFAULT_MESH_SETTINGS, ignored: [] };
  if (meshConfigFile !== undefined) {
    let text: string;
    try {
      text = readFileSync(meshConfigFile, 'utf8');
    } catch (error) {
      throw new Error(`${meshConfigFile}: cannot read the mesh config: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
    }
    try {
      fromFile = meshSettingsFromMeshConfigYaml(text);
    } catch (error) {
      throw new Error(`${meshConfigFile}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
    }
  }
  return { mesh: meshSettingsFromEnvironment(env, fromFile.mesh), ignored: fromFile.ignored };
}
