import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Helm } from './helm.js';
import { at, parseManifests } from './manifests.js';
import { CHART_CASES_DIRECTORY, CHART_DIRECTORY } from './repository.js';

/*
 * `helm template` never prints NOTES.txt and `helm install --dry-run` needs a cluster, so the notes
 * are rendered through a copy of the chart that holds them as a file and one extra template feeding
 * that file to `tpl`: the same engine, values and named templates helm uses for NOTES.txt.
 */
const PROBE_TEMPLATE = 'templates/zz-rendered-notes.yaml';

let helm: Helm;
let chartCopy: string;
beforeAll(() => {
  helm = Helm.locate();
  const scratch = mkdtempSync(join(tmpdir(), 'skiff-chart-notes-'));
  chartCopy = join(scratch, 'skiff');
  cpSync(CHART_DIRECTORY, chartCopy, { recursive: true });
  writeFileSync(join(chartCopy, 'rendered-notes.txt'), readFileSync(join(CHART_DIRECTORY, 'templates', 'NOTES.txt')));
  writeFileSync(
    join(chartCopy, PROBE_TEMPLATE),
    ['apiVersion: v1', 'kind: ConfigMap', 'metadata:', '  name: rendered-notes', 'data:', '  notes: {{ tpl (.Files.Get "rendered-notes.txt") . | toJson }}', ''].join('\n'),
  );
});
afterAll(() => {
  helm?.dispose();
  if (chartCopy) rmSync(join(chartCopy, '..'), { recursive: true, force: true });
});

function renderNotes(valuesFile: string, releaseName = 'skiff', namespace = 'skiff-system'): string {
  const args = [...helm.templateArgs(chartCopy, { releaseName, namespace, valuesFiles: [valuesFile] }), '--show-only', PROBE_TEMPLATE];
  const [configMap] = parseManifests(helm.runOrThrow(args));
  const notes = at(configMap, 'data', 'notes');
  if (typeof notes !== 'string') throw new Error('the notes probe rendered no text');
  return notes;
}

/** The gRPC bootstrap the notes print, parsed: it must be valid JSON a client can be given as is. */
function grpcBootstrapOf(notes: string): Record<string, unknown> {
  const start = notes.indexOf('{"xds_servers"');
  const end = notes.indexOf('\n\nand dial');
  if (start < 0 || end < 0) throw new Error('the notes hold no gRPC bootstrap');
  return JSON.parse(notes.slice(start, end)) as Record<string, unknown>;
}

describe('NOTES.txt', () => {
  it('points Envoy and gRPC clients at the ADS Service and tells how to run proxy-status', () => {
    const notes = renderNotes(join(CHART_CASES_DIRECTORY, 'default.values.yaml'));
    expect(notes).not.toContain('<no value>');
    expect(notes).toContain('ADS (plaintext gRPC):  skiff.skiff-system.svc:15010');
    expect(notes).not.toContain('15012');
    expect(notes).toContain('Redis:                 redis://redis.example.internal:6379');
    expect(notes).toContain('cluster_name: skiff-xds');
    expect(notes).toContain('Metrics and debug:     skiff-ads-gateway-monitoring.skiff-system.svc:15014');
    expect(notes).toContain('port-forward service/skiff-ads-gateway-monitoring 15014:15014');
    expect(notes).toContain('port-forward service/skiff 15010:15010');
    expect(notes).toContain('skiffctl proxy-status --gateway http://127.0.0.1:15014');
    expect(notes).toContain('istioctl proxy-status --xds-address 127.0.0.1:15010 --plaintext');
    // /debug is for port-forwards unless a token Secret lets in-cluster tools in.
    expect(notes).toContain('set debug.tokenSecret to let in-cluster');
    expect(notes).not.toContain('--token-file');
    expect(notes).not.toContain('skiffctl proxy-status --xds-address');
    const bootstrap = grpcBootstrapOf(notes);
    expect(at(bootstrap, 'xds_servers', 0, 'server_uri')).toBe('skiff.skiff-system.svc:15010');
    expect(at(bootstrap, 'node', 'locality')).toBeDefined();
    expect(at(bootstrap, 'node', 'metadata', 'GENERATOR')).toBe('grpc');
  });

  it('shows how in-cluster tools reach /debug when a token Secret is given', () => {
    const dir = mkdtempSync(join(tmpdir(), 'skiff-notes-'));
    try {
      const values = join(dir, 'token.values.yaml');
      writeFileSync(values, `${readFileSync(join(CHART_CASES_DIRECTORY, 'default.values.yaml'), 'utf8')}\ndebug:\n  tokenSecret: skiff-debug\n`);
      const notes = renderNotes(values);
      expect(notes).toContain('callers with a token from Secret skiff-debug');
      expect(notes).toContain('skiffctl proxy-status --gateway http://skiff-ads-gateway-monitoring.skiff-system:15014 --token-file <token file>');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('shows the TLS port and its Secret when TLS is on', () => {
    const notes = renderNotes(join(CHART_CASES_DIRECTORY, 'gateway-tls.values.yaml'));
    expect(notes).toContain('ADS (TLS):             skiff.skiff-system.svc:15012  (certificate from Secret skiff-xds-tls; clients need a certificate of its CA)');
  });

  it('names the Redis without the credentials a URL may carry', () => {
    const valuesFile = join(chartCopy, '..', 'credentials-in-url.yaml');
    writeFileSync(valuesFile, 'redis:\n  external:\n    url: rediss://skiff:s3cret@redis.example.internal:6380/0\n    tls:\n      enabled: true\n');
    const notes = renderNotes(valuesFile);
    expect(notes).toContain('Redis:                 rediss://redis.example.internal:6380\n');
    expect(notes).not.toContain('s3cret');
  });

  it('warns that the bundled Redis is for trying Skiff out', () => {
    const notes = renderNotes(join(CHART_CASES_DIRECTORY, 'bundled-redis.values.yaml'));
    expect(notes).toContain('Redis:                 redis://skiff-redis.skiff-system.svc:6379');
    expect(notes).toContain('for trying Skiff out only');
  });

  it('names the Service after the release when the release is not called skiff', () => {
    const notes = renderNotes(join(CHART_CASES_DIRECTORY, 'default.values.yaml'), 'mesh', 'control');
    expect(notes).toContain('mesh-skiff.control.svc:15010');
    expect(notes).toContain('port-forward service/mesh-skiff-ads-gateway-monitoring 15014:15014');
    expect(notes).toContain('port-forward service/mesh-skiff 15010:15010');
    expect(at(grpcBootstrapOf(notes), 'xds_servers', 0, 'server_uri')).toBe('mesh-skiff.control.svc:15010');
  });
});
