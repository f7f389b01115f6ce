/**
 * MeshConfig as istiod reads it (`pkg/config/mesh/mesh.go` `ApplyMeshConfig`) and refuses it
 * (`pkg/config/validation/agent/validation.go` `ValidateMeshConfig`, `ValidateLocalityLbSetting`,
 * `ValidateZoneAwareLbSetting`, `validateLocalities`); the istiod reference checks the output of a mesh
 * config (libs/istiod-parity, `parity-mesh-*` cases).
 */
import { describe, expect, it } from 'vitest';
import { DEFAULT_MESH_SETTINGS } from './mesh.js';
import { MeshConfigError, meshSettingsFromMeshConfigYaml } from './mesh-config.js';

function refusal(yaml: string): { field: string; message: string } {
  try {
    meshSettingsFromMeshConfigYaml(yaml);
  } catch (error) {
    if (error instanceof MeshConfigError) return { field: error.field, message: error.message };
    throw error;
  }
  throw new Error(`accepted: ${yaml}`);
}

describe('meshSettingsFromMeshConfigYaml', () => {
  it('keeps istiod\'s defaults for an empty file, absent fields and nulls', () => {
    expect(meshSettingsFromMeshConfigYaml('')).toEqual({ mesh: DEFAULT_MESH_SETTINGS, ignored: [] });
    expect(meshSettingsFromMeshConfigYaml('localityLbSetting: null\nconnectTimeout: null\n').mesh).toEqual(DEFAULT_MESH_SETTINGS);
  });

  it('replaces a default setting whole: a localityLbSetting without enabled is on, and carries only what it says', () => {
    const { mesh, ignored } = meshSettingsFromMeshConfigYaml(`
connectTimeout: 1m30s
dnsRefreshRate: 250ms
defaultServiceExportTo: [".", "istio-system"]
trustDomain: example.org
enableAutoMtls: false
localityLbSetting:
  failover:
  - from: us-east
    to: eu-west
  failoverPriority: [topology.istio.io/network]
zoneAwareLbSetting:
  enabled: false
  minClusterSize: 4
accessLogFile: /dev/stdout
defaultConfig:
  concurrency: 2
`);
    expect(mesh).toEqual({
      ...DEFAULT_MESH_SETTINGS,
      connectTimeoutMs: 90_000,
      dnsRefreshRateMs: 250,
      defaultServiceExportTo: ['.', 'istio-system'],
      trustDomain: 'example.org',
      enableAutoMtls: false,
      localityLbSetting: { failover: [{ from: 'us-east', to: 'eu-west' }], failoverPriority: ['topology.istio.io/network'] },
      zoneAwareLbSetting: { enabled: false, minClusterSize: 4 },
    });
    // Fields istiod reads for other output are reported, not refused.
    expect(ignored).toEqual(['accessLogFile', 'defaultConfig']);
  });

  it('reads distribute weights, and reports unknown fields inside a setting as istiod skips them', () => {
    const { mesh, ignored } = meshSettingsFromMeshConfigYaml(`
localityLbSetting:
  distribute:
  - from: us-east/*
    to: {us-east/*: 80, us-west/*: 20}
  failovr: []
`);
    expect(mesh.localityLbSetting).toEqual({ distribute: [{ from: 'us-east/*', to: { 'us-east/*': 80, 'us-west/*': 20 } }] });
    expect(ignored).toEqual(['localityLbSetting.failovr']);
  });

  // [YAML, the field named, the message or a part of it]
  const REFUSED: readonly (readonly [string, string, string])[] = [
    ['- a\n', '', 'meshConfig must be a mapping'],
    ['connectTimeout: 10\n', 'connectTimeout', 'must be a duration such as 10s, 500ms or 1m30s'],
    ['connectTimeout: 2h\n', 'connectTimeout', 'meshConfig connectTimeout: must be between 1ms and 1h'],
    ['connectTimeout: 1500us\n', 'connectTimeout', 'meshConfig connectTimeout: only durations to ms precision are supported'],
    ['dnsRefreshRate: 0s\n', 'dnsRefreshRate', 'at least 1ms'],
    ['enableAutoMtls: "no"\n', 'enableAutoMtls', 'meshConfig enableAutoMtls: must be true or false'],
    ['trustDomain: Not_A_Domain\n', 'trustDomain', 'meshConfig trustDomain: trust domain name "Not_A_Domain" invalid'],
    ['defaultServiceExportTo: [1]\n', 'defaultServiceExportTo[0]', 'must be a string'],
    ['localityLbSetting: {enabled: 1}\n', 'localityLbSetting.enabled', 'must be true or false'],
    ['localityLbSetting: {distribute: [{from: a, to: {b: 100}}], failover: [{from: a, to: b}]}\n', 'localityLbSetting', "can not simultaneously specify 'distribute' and 'failover'"],
    ['localityLbSetting: {distribute: [{from: a, to: {b: 60, c: 30}}]}\n', 'localityLbSetting.distribute[0].to', 'total locality weight 90 != 100'],
    ['localityLbSetting: {distribute: [{from: a, to: {b: 0, c: 100}}]}\n', 'localityLbSetting.distribute[0].to', 'locality weight must be in range [1, 100]'],
    ['localityLbSetting: {distribute: [{from: a, to: {b: -1}}]}\n', 'localityLbSetting.distribute[0].to.b', 'must be an unsigned 32-bit integer'],
    ['localityLbSetting: {distribute: [{from: "a/*", to: {b: 100}}, {from: a/z, to: {b: 100}}]}\n', 'localityLbSetting.distribute', 'locality a/z overlap with previous specified ones'],
    ['localityLbSetting: {distribute: [{from: "a/*/c", to: {b: 100}}]}\n', 'localityLbSetting.distribute', "wildcard '*' number can not exceed 1 and must be in the end"],
    ['localityLbSetting: {distribute: [{from: a//c, to: {b: 100}}]}\n', 'localityLbSetting.distribute', 'must not contain empty region/zone/subzone info'],
    ['localityLbSetting: {failover: [{from: a, to: a}]}\n', 'localityLbSetting.failover[0]', 'locality lb failover settings must specify different regions'],
    ['localityLbSetting: {failover: [{from: a/z, to: b}]}\n', 'localityLbSetting.failover[0]', 'locality lb failover only specify region'],
    ['localityLbSetting: {failover: [{from: a, to: b}], failoverPriority: [topology.kubernetes.io/zone]}\n', 'localityLbSetting.failoverPriority', "topology label 'topology.kubernetes.io/zone'"],
    ['zoneAwareLbSetting: {failoverPriority: [topology.kubernetes.io/region]}\n', 'zoneAwareLbSetting.failoverPriority', "'failover_priority' for zone aware lb must not use topology label"],
    ['zoneAwareLbSetting: {failover: [{from: a, to: "*"}]}\n', 'zoneAwareLbSetting.failover[0]', "zone aware lb failover region should not contain '*' wildcard"],
    ['zoneAwareLbSetting: {minClusterSize: -2}\n', 'zoneAwareLbSetting.minClusterSize', 'must be an unsigned 32-bit integer'],
    ['a: [\n', '', 'meshConfig is not YAML: '],
  ];

  it.each(REFUSED)('refuses what istiod refuses, naming the field: %j', (yaml, field, message) => {
    const refused = refusal(yaml);
    expect(refused.field).toBe(field);
    expect(refused.message).toContain(message);
  });
});
