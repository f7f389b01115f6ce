import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DEFAULT_MESH_SETTINGS, ISTIOD_FLAGS, meshSettingsFromEnvironment, translateResultToJson } from './index.js';
import { loadCase } from './test-support/load-case.js';

const DNS_ENTRY = `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: httpbin, namespace: default}
spec:
  hosts: [httpbin.org]
  ports: [{number: 80, name: http, protocol: HTTP}]
  resolution: DNS
`;

describe('istiod feature flags as Skiff settings', () => {
  it("defaults to the pinned istiod's defaults", () => {
    expect(meshSettingsFromEnvironment({})).toEqual(DEFAULT_MESH_SETTINGS);
    for (const flag of ISTIOD_FLAGS) expect(meshSettingsFromEnvironment({ [flag.name]: flag.defaultValue })).toEqual(DEFAULT_MESH_SETTINGS);
  });

  it("reads values as istiod's environment parser does", () => {
    const settings = meshSettingsFromEnvironment({
      DISABLE_TRACK_REMAINING_CB_METRICS: 'F',
      PILOT_AUTO_SEND_UNHEALTHY_ENDPOINTS: '0',
      PILOT_DNS_JITTER_DURATION: '1m30.5s',
      PILOT_DNS_CARES_UDP_MAX_QUERIES: '7',
      PILOT_ENABLE_METADATA_EXCHANGE: 'False',
      PILOT_ENABLE_ABSOLUTE_FQDN_VHOST_DOMAIN: 'false',
      PILOT_SEND_UNHEALTHY_ENDPOINTS: 'TRUE',
      UNRELATED: 'x',
    });
    expect(settings).toMatchObject({
      trackRemainingCircuitBreakers: true,
      autoSendUnhealthyEndpoints: false,
      dnsJitterMs: 90_500,
      dnsResolverUdpMaxQueries: 7,
      metadataExchange: false,
      absoluteFqdnVhostDomain: false,
      sendUnhealthyEndpoints: true,
    });
  });

  it('refuses a value istiod could not parse, naming the variable', () => {
    expect(() => meshSettingsFromEnvironment({ DISABLE_TRACK_REMAINING_CB_METRICS: 'yes' })).toThrow('DISABLE_TRACK_REMAINING_CB_METRICS=yes: not a boolean');
    expect(() => meshSettingsFromEnvironment({ PILOT_DNS_JITTER_DURATION: '100' })).toThrow('PILOT_DNS_JITTER_DURATION=100: not a duration');
    expect(() => meshSettingsFromEnvironment({ PILOT_DNS_CARES_UDP_MAX_QUERIES: '-1' })).toThrow('not an unsigned 32-bit integer');
  });

  it('changes the output the way each flag names', () => {
    const translate = (env: Record<string, string>) =>
      translateResultToJson(loadCase(DNS_ENTRY, 'flags.yaml', { flavor: 'envoy', naming: 'sidecar', mesh: meshSettingsFromEnvironment(env) }));
    const base = JSON.stringify(translate({}));
    expect(base).not.toContain('trackRemaining');
    expect(base).toContain('"healthyPanicThreshold":{}');
    expect(base).toContain('"dnsJitter":"0.100s"');
    const flipped = JSON.stringify(translate({ DISABLE_TRACK_REMAINING_CB_METRICS: 'false', PILOT_AUTO_SEND_UNHEALTHY_ENDPOINTS: 'false', PILOT_DNS_JITTER_DURATION: '0s' }));
    expect(flipped).toContain('"trackRemaining":true');
    expect(flipped).not.toContain('healthyPanicThreshold');
    expect(flipped).toContain('"dnsJitter":"0s"');
  });

  it('is listed in docs/istio-compatibility.md with its default', () => {
    const doc = readFileSync(new URL('../../../docs/istio-compatibility.md', import.meta.url), 'utf8');
    for (const flag of ISTIOD_FLAGS) expect(doc).toContain(`| \`${flag.name}\` | \`${flag.defaultValue}\` |`);
  });
});
