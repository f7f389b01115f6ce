import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from './main.js';

const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
const seed = join(repoRoot, 'examples/seed');
const bin = join(repoRoot, 'apps/skiffctl/bin/skiffctl.js');

/** Runs skiffctl in-process and captures what it prints. */
async function skiffctl(args: string[], stdinText = ''): Promise<{ code: number; stdout: string; stderr: string }> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  const chunks = { out: [] as Buffer[], err: [] as Buffer[] };
  stdout.on('data', (c: Buffer) => chunks.out.push(c));
  stderr.on('data', (c: Buffer) => chunks.err.push(c));
  const code = await run(args, { stdout, stderr, stdin: Readable.from([stdinText]) });
  return { code, stdout: Buffer.concat(chunks.out).toString(), stderr: Buffer.concat(chunks.err).toString() };
}

describe('skiffctl translate', () => {
  it('prints no sni-dnat cluster for the seed: its entry is MESH_EXTERNAL (istiod builds sni-dnat clusters for MESH_INTERNAL services only)', async () => {
    const { code, stdout } = await skiffctl(['translate', '-f', seed, '--naming', 'sni-dnat']);
    expect(code).toBe(0);
    const output = JSON.parse(stdout);
    expect(output.clusters).toEqual([]);
    expect(output.endpoints).toEqual([]);
  });

  it('uses sidecar naming by default, YAML on request, and adds listeners and routes for grpc', async () => {
    const yaml = await skiffctl(['translate', '-f', seed, '-o', 'yaml']);
    expect(yaml.stdout).toContain('name: outbound|8080||example-app');
    const grpc = JSON.parse((await skiffctl(['translate', '-f', seed, '--flavor', 'grpc'])).stdout);
    expect(grpc.listeners.map((l: { name: string }) => l.name)).toEqual(['example-app:8080']);
    expect(grpc.routes.map((r: { name: string }) => r.name)).toEqual(['outbound|8080||example-app']);
    expect(grpc.clusters[0].lbPolicy).toBeUndefined(); // ROUND_ROBIN is the proto default
  });

  it('builds the endpoints of a proxy in a locality with --proxy-locality, and names the assignments that depend on it otherwise', async () => {
    const cases = join(repoRoot, 'libs/istiod-parity/testdata/cases/locality-failover.yaml');
    const priorities = (stdout: string): Record<string, number> => {
      const pay = JSON.parse(stdout).endpoints.find((e: { clusterName: string }) => e.clusterName === 'outbound|8080||pay.locality.test');
      return Object.fromEntries(pay.endpoints.map((group: { locality: { region: string; zone: string }; priority?: number }) => [`${group.locality.region}/${group.locality.zone}`, group.priority ?? 0]));
    };
    const shared = await skiffctl(['translate', '-f', cases]);
    expect(shared.code).toBe(0);
    expect(priorities(shared.stdout)).toEqual({ 'eu-central/x': 0, 'us-east/a': 0, 'us-east/b': 0, 'us-west/a': 0 });
    expect(shared.stderr).toContain("note: the endpoints of outbound|8080||pay.locality.test depend on the proxy's locality");
    expect(shared.stderr).not.toContain('stock.locality.test');
    const east = await skiffctl(['translate', '-f', cases, '--proxy-locality', 'us-east/a']);
    expect(priorities(east.stdout)).toEqual({ 'eu-central/x': 2, 'us-east/a': 0, 'us-east/b': 1, 'us-west/a': 3 });
    const west = await skiffctl(['translate', '-f', cases, '--proxy-locality', 'us-west/a/rack1']);
    expect(priorities(west.stdout)).toEqual({ 'eu-central/x': 1, 'us-east/a': 1, 'us-east/b': 1, 'us-west/a': 0 });
    const bad = await skiffctl(['translate', '-f', cases, '--proxy-labels', 'tier']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--proxy-labels: "tier" is not key=value');
  });

  it('reads --mesh-config: the mesh distribution weighs the inline endpoints of a DNS cluster for --proxy-locality; a bad file is refused with the field', async () => {
    const cases = join(repoRoot, 'libs/istiod-parity/testdata/cases');
    const meshConfig = join(cases, 'mesh-locality-distribute.mesh-config.yaml');
    const weights = (stdout: string): Record<string, number> => {
      const ledger = JSON.parse(stdout).clusters.find((c: { name: string }) => c.name === 'outbound|5432||ledger.mesh.test');
      return Object.fromEntries(
        ledger.loadAssignment.endpoints.map((group: { locality: { region: string; zone: string }; loadBalancingWeight: number; lbEndpoints?: unknown[] }) => [
          `${group.locality.region}/${group.locality.zone}`,
          (group.lbEndpoints ?? []).length === 0 ? 0 : group.loadBalancingWeight,
        ]),
      );
    };
    const shared = await skiffctl(['translate', '-f', join(cases, 'mesh-locality-distribute.yaml'), '--mesh-config', meshConfig]);
    expect(shared.code).toBe(0);
    expect(shared.stderr).toContain("note: the inline endpoints of the DNS cluster outbound|5432||ledger.mesh.test depend on the proxy's locality");
    const east = await skiffctl(['translate', '-f', join(cases, 'mesh-locality-distribute.yaml'), '--mesh-config', meshConfig, '--proxy-locality', 'us-east/b']);
    // from us-east/*: us-east/a 80, eu-central/* 20; the localities left out lose their endpoints.
    expect(weights(east.stdout)).toEqual({ 'eu-central/x': 20, 'us-east/a': 80, 'us-east/b': 0, 'us-west/a': 0 });
    // Without the file, istiod's default setting changes nothing without outlier detection.
    const plain = await skiffctl(['translate', '-f', join(cases, 'mesh-locality-distribute.yaml'), '--proxy-locality', 'us-east/b']);
    expect(weights(plain.stdout)).toEqual({ 'eu-central/x': 1, 'us-east/a': 1, 'us-east/b': 1, 'us-west/a': 1 });

    const dir = await mkdtemp(join(tmpdir(), 'skiffctl-mesh-config-'));
    try {
      await writeFile(join(dir, 'mesh.yaml'), 'localityLbSetting:\n  failover:\n  - {from: us-east, to: us-east}\n');
      const bad = await skiffctl(['translate', '-f', join(cases, 'mesh-locality-distribute.yaml'), '--mesh-config', join(dir, 'mesh.yaml')]);
      expect(bad.code).toBe(2);
      expect(bad.stderr).toContain('error: meshConfig localityLbSetting.failover[0]: locality lb failover settings must specify different regions');
      const missing = await skiffctl(['translate', '-f', join(cases, 'mesh-locality-distribute.yaml'), '--mesh-config', join(dir, 'none.yaml')]);
      expect(missing.code).toBe(2);
      expect(missing.stderr).toContain(`error: --mesh-config ${join(dir, 'none.yaml')}: `);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 60_000);

  it('reads stdin with -f -', async () => {
    const text = `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: api}
spec: {hosts: [api.example.com], ports: [{number: 443, name: tls, protocol: TLS}], resolution: DNS}
`;
    const { code, stdout } = await skiffctl(['translate', '-f', '-'], text);
    expect(code).toBe(0);
    expect(JSON.parse(stdout).clusters.map((c: { name: string; type: string }) => `${c.name} ${c.type}`)).toEqual(['outbound|443||api.example.com STRICT_DNS']);
  });

  it("applies the DestinationRule of the entry's namespace for its host", async () => {
    const text = `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: api}
spec: {hosts: [api.example.com], ports: [{number: 443, name: https, protocol: HTTPS}], resolution: DNS}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: api}
spec: {host: api.example.com, trafficPolicy: {tls: {mode: SIMPLE}}, subsets: [{name: v1, labels: {version: v1}}]}
`;
    const { code, stdout } = await skiffctl(['translate', '-f', '-'], text);
    expect(code).toBe(0);
    const [cluster] = JSON.parse(stdout).clusters;
    expect(cluster.name).toBe('outbound|443||api.example.com');
    expect(cluster.transportSocket.name).toBe('envoy.transport_sockets.tls');
    expect(cluster.metadata.filterMetadata.istio.config).toBe('/apis/networking.istio.io/v1/namespaces/default/destination-rule/api');
  });
});

describe('skiffctl validate', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'skiffctl-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('prints ok per valid object and exits 0', async () => {
    const { code, stdout } = await skiffctl(['validate', '-f', seed]);
    expect(code).toBe(0);
    expect(stdout).toBe('ok ServiceEntry shaoyu-test/example-app\nok WorkloadEntry shaoyu-test/example-app-1\n');
  });

  it('names the object, the field and the reason of an invalid object, keeps going, and exits 1', async () => {
    const file = join(dir, 'mixed.yaml');
    await writeFile(
      file,
      `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: bad, namespace: ns1}
spec: {hosts: ["*"], resolution: STATIC}
---
apiVersion: networking.istio.io/v1beta1
kind: WorkloadEntry
metadata: {name: good, namespace: ns1}
spec: {address: 10.0.0.1}
`,
    );
    const { code, stdout } = await skiffctl(['validate', '-f', file]);
    expect(code).toBe(1);
    expect(stdout).toBe('invalid ServiceEntry ns1/bad: spec.hosts[0]: invalid host *\nok WorkloadEntry ns1/good\n');
  });

  it('reports bad YAML, an unknown kind and a missing name with file and document, in one line each', async () => {
    const file = join(dir, 'broken.yaml');
    await writeFile(file, `kind: [unclosed\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n---\napiVersion: networking.istio.io/v1\nkind: WorkloadEntry\nspec: {address: 10.0.0.1}\n`);
    const { code, stderr } = await skiffctl(['validate', '-f', file]);
    expect(code).toBe(1);
    const lines = stderr.trim().split('\n');
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatch(new RegExp(`^error: ${file}: document 1 \\(line \\d+\\): invalid YAML`));
    expect(lines[1]).toMatch(new RegExp(`^error: ${file}: document 2 .*ConfigMap`));
    expect(lines[2]).toMatch(new RegExp(`^error: ${file}: document 3 .*WorkloadEntry without metadata.name`));
  });

  it('exits 2 with a one-line error for a missing file', async () => {
    const { code, stderr } = await skiffctl(['validate', '-f', join(dir, 'nope.yaml')]);
    expect(code).toBe(2);
    expect(stderr).toBe(`error: ${join(dir, 'nope.yaml')}: no such file or directory\n`);
  });

  it('exits 2 on usage errors without a stack trace', async () => {
    const { code, stderr } = await skiffctl(['translate', '-f', seed, '--flavor', 'xml']);
    expect(code).toBe(2);
    expect(stderr).toContain("argument 'xml' is invalid");
    expect(stderr).not.toContain('    at ');
  });
});

describe('the skiffctl binary', () => {
  it('runs from the repository root as `npx skiffctl` would', async () => {
    const { stdout } = await promisify(execFile)(process.execPath, [bin, 'validate', '-f', 'examples/seed'], { cwd: repoRoot });
    expect(stdout).toBe('ok ServiceEntry shaoyu-test/example-app\nok WorkloadEntry shaoyu-test/example-app-1\n');
  });

  // The binary runs the esbuild bundle (bundle.mjs), these tests the sources: both must print the same bytes.
  it.each([['envoy'], ['grpc']])('translates as the sources do, byte for byte (%s flavor)', async (flavor) => {
    const args = ['translate', '-f', seed, '-o', 'json', '--flavor', flavor];
    const fromBinary = await promisify(execFile)(process.execPath, [bin, ...args]);
    const fromSources = await skiffctl(args);
    expect(fromBinary.stdout).toBe(fromSources.stdout);
    expect(fromBinary.stdout).toContain('"@type": "type.googleapis.com/'); // an Any, printed through the type registry
  });

  it("prints the repository's version, which the bundle reads from the root package.json", async () => {
    const { version } = JSON.parse(await readFile(join(repoRoot, 'package.json'), 'utf8')) as { version: string };
    const { stdout } = await promisify(execFile)(process.execPath, [bin, '--version']);
    expect(stdout).toBe(`skiffctl ${version}\n`);
  });
});

describe('skiffctl analyze', () => {
  it('prints istioctl-style messages and exits by the failure threshold', async () => {
    const text = `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: api, namespace: shop}
spec:
  hosts: [api.shop]
  addresses: [10.9.0.1]
  ports: [{number: 80, name: http, protocol: HTTP}]
  resolution: STATIC
  workloadSelector: {labels: {app: api}}
`;
    const relaxed = await skiffctl(['analyze', '-f', '-'], text);
    expect(relaxed.code).toBe(0);
    expect(relaxed.stdout).toBe('Warning [SKF0101] (ServiceEntry shop/api <stdin>:1 (document 1)) workloadSelector app=api selects no WorkloadEntry in namespace shop\n');
    const strict = await skiffctl(['analyze', '-f', '-', '--failure-threshold', 'Warning', '-o', 'json'], text);
    expect(strict.code).toBe(1);
    expect(JSON.parse(strict.stdout)).toEqual([
      { code: 'SKF0101', name: 'ServiceEntrySelectsNoWorkloads', level: 'Warning', message: 'workloadSelector app=api selects no WorkloadEntry in namespace shop', objects: [{ kind: 'ServiceEntry', namespace: 'shop', name: 'api', origin: '<stdin>:1 (document 1)' }] },
    ]);
  });

  it('says so when there is nothing to report', async () => {
    const { code, stdout, stderr } = await skiffctl(['analyze', '-f', seed]);
    expect(code).toBe(0);
    expect(stdout).toBe('');
    expect(stderr).toContain('No validation issues found');
  });
});
