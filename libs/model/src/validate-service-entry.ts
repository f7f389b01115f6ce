/**
 * ServiceEntry validation after istiod's webhook, `ValidateServiceEntry` in
 * `pkg/config/validation/validation.go` (1.30 and HEAD are identical), rule by rule in istiod's order.
 * docs/istio-behaviour.md#serviceentry-validation lists the rules.
 */
import type { FieldIssues } from './field-error.js';
import { isIP } from './net.js';
import {
  goQuote,
  validateExportTo,
  validateFQDN,
  validateIPSubnet,
  validateLabels,
  validatePartialWildcard,
  validatePort,
  validatePortName,
  validateSelectorLabels,
  validateWildcardDomain,
} from './istio-rules.js';
import type { Location, Resolution } from './normalized.js';
import type { ObjectMeta, ServiceEntrySpec, ServicePort, WorkloadEntrySpec } from './objects.js';
import { isHttpProtocol, isTcpProtocol, isTlsProtocol, parseProtocol } from './protocol.js';
import {
  fieldPath,
  indexPath,
  keyPath,
  readEnum,
  readInteger,
  readList,
  readObject,
  readString,
  readStringList,
  readStringMap,
  UINT32,
  warnUnknownFields,
  type JsonObject,
} from './read-fields.js';
import { readWorkloadEntrySpec, validateEndpointPorts, validateWorkloadEntrySpec } from './validate-workload.js';

export interface ServiceEntryValidationOptions {
  /**
   * istiod's `PILOT_ENABLE_IP_AUTOALLOCATE` (default true): whether ServiceEntries without addresses get
   * one allocated, which silences the "addresses are required" warning for TCP ports.
   */
  readonly ipAutoallocate?: boolean;
}

/** Label that opts a ServiceEntry out of address auto-allocation (`label.NetworkingEnableAutoallocateIp`). */
export const ENABLE_AUTOALLOCATE_IP_LABEL = 'networking.istio.io/enable-autoallocate-ip';
/** Label that attaches a waypoint (`label.IoIstioUseWaypoint`). */
const USE_WAYPOINT_LABEL = 'istio.io/use-waypoint';

const RESOLUTIONS: readonly Resolution[] = ['NONE', 'STATIC', 'DNS', 'DNS_ROUND_ROBIN', 'DYNAMIC_DNS'];
const LOCATIONS: readonly Location[] = ['MESH_EXTERNAL', 'MESH_INTERNAL'];
const SERVICE_ENTRY_FIELDS = ['hosts', 'addresses', 'ports', 'location', 'resolution', 'endpoints', 'workloadSelector', 'exportTo', 'subjectAltNames'];

function readPort(value: unknown, at: string, issues: FieldIssues): ServicePort | undefined {
  if (value === null) {
    issues.error(at, 'service entry port may not be null');
    return undefined;
  }
  const object = readObject(value, at, issues);
  if (object === undefined) return undefined;
  warnUnknownFields(object, ['number', 'protocol', 'name', 'targetPort'], at, issues);
  const protocol = readString(object['protocol'], fieldPath(at, 'protocol'), issues);
  const targetPort = readInteger(object['targetPort'], fieldPath(at, 'targetPort'), issues, UINT32);
  return {
    // Missing required fields read as proto zero values, which istiod's rules then reject by value.
    number: readInteger(object['number'], fieldPath(at, 'number'), issues, UINT32) ?? 0,
    name: readString(object['name'], fieldPath(at, 'name'), issues) ?? '',
    ...(protocol === undefined ? {} : { protocol }),
    ...(targetPort === undefined ? {} : { targetPort }),
  };
}

/** Reads `spec` into a typed ServiceEntry spec, reporting values of the wrong type. */
export function readServiceEntrySpec(object: JsonObject, issues: FieldIssues): ServiceEntrySpec {
  warnUnknownFields(object, SERVICE_ENTRY_FIELDS, 'spec', issues);
  const ports: ServicePort[] = [];
  (readList(object['ports'], 'spec.ports', issues) ?? []).forEach((item, index) => {
    const port = readPort(item, indexPath('spec.ports', index), issues);
    if (port !== undefined) ports.push(port);
  });
  const endpoints: WorkloadEntrySpec[] = [];
  (readList(object['endpoints'], 'spec.endpoints', issues) ?? []).forEach((item, index) => {
    const at = indexPath('spec.endpoints', index);
    if (item === null) {
      issues.error(at, 'endpoint cannot be nil');
      return;
    }
    const endpoint = readObject(item, at, issues);
    if (endpoint !== undefined) endpoints.push(readWorkloadEntrySpec(endpoint, at, issues));
  });
  const selector = readObject(object['workloadSelector'], 'spec.workloadSelector', issues);
  if (selector !== undefined) warnUnknownFields(selector, ['labels'], 'spec.workloadSelector', issues);
  const location = readEnum(object['location'], 'spec.location', issues, LOCATIONS, (name) => `unsupported location ${name}: must be MESH_EXTERNAL or MESH_INTERNAL`);
  const resolution = readEnum(object['resolution'], 'spec.resolution', issues, RESOLUTIONS, (name) => `unsupported resolution type ${name}`);
  return {
    hosts: readStringList(object['hosts'], 'spec.hosts', issues),
    addresses: readStringList(object['addresses'], 'spec.addresses', issues),
    ports,
    ...(location === undefined ? {} : { location }),
    ...(resolution === undefined ? {} : { resolution }),
    endpoints,
    ...(selector === undefined ? {} : { workloadSelector: { labels: readStringMap(selector['labels'], 'spec.workloadSelector.labels', issues) } }),
    exportTo: readStringList(object['exportTo'], 'spec.exportTo', issues),
    subjectAltNames: readStringList(object['subjectAltNames'], 'spec.subjectAltNames', issues),
  };
}

/**
 * istiod `ShouldV2AutoAllocateIPFromConfig`: an address is allocated when the feature is on, the
 * resolution is not NONE, the object does not opt out by label, and the spec has no addresses.
 */
function autoAllocatesAddress(spec: ServiceEntrySpec, metadata: ObjectMeta, options: ServiceEntryValidationOptions): boolean {
  if (options.ipAutoallocate === false) return false;
  if ((spec.resolution ?? 'NONE') === 'NONE') return false;
  if (metadata.labels[ENABLE_AUTOALLOCATE_IP_LABEL]?.toLowerCase() === 'false') return false;
  return spec.addresses.length === 0;
}

function usesWaypoint(metadata: ObjectMeta): boolean {
  const value = metadata.labels[USE_WAYPOINT_LABEL];
  return value !== undefined && value !== '' && value.toLowerCase() !== 'none';
}

/** istiod `ValidateServiceEntry` on a structurally read spec. */
export function validateServiceEntrySpec(
  spec: ServiceEntrySpec,
  metadata: ObjectMeta,
  issues: FieldIssues,
  options: ServiceEntryValidationOptions = {},
): void {
  const resolution = spec.resolution ?? 'NONE';

  // istiod returns at once on a bad selector; Skiff goes on to report everything else too.
  if (spec.workloadSelector !== undefined) {
    const labels = spec.workloadSelector.labels;
    for (const { key, reason } of validateSelectorLabels(labels)) issues.error(keyPath('spec.workloadSelector.labels', key), reason);
    if (Object.keys(labels).length === 0) {
      issues.warning('spec.workloadSelector', 'service entry: workload selector specified without labels, will be applied to all services in namespace');
    }
    if (spec.endpoints.length > 0) issues.error('spec.endpoints', 'only one of WorkloadSelector or Endpoints is allowed in Service Entry');
  }

  if (spec.hosts.length === 0) issues.error('spec.hosts', 'service entry must have at least one host');
  spec.hosts.forEach((host, index) => {
    const at = indexPath('spec.hosts', index);
    if (host === '*') {
      issues.error(at, `invalid host ${host}`);
      return;
    }
    const domainError = validateWildcardDomain(host);
    if (domainError !== undefined) issues.error(at, domainError);
    if (resolution !== 'DYNAMIC_DNS') {
      const partial = validatePartialWildcard(host);
      if (partial !== undefined) issues.warning(at, partial);
    }
  });

  let cidrFound = false;
  spec.addresses.forEach((address, index) => {
    cidrFound ||= address.includes('/');
    const addressError = validateIPSubnet(address);
    if (addressError !== undefined) issues.error(indexPath('spec.addresses', index), addressError);
  });
  if (cidrFound && resolution !== 'NONE' && resolution !== 'STATIC') {
    issues.error('spec.addresses', 'CIDR addresses are allowed only for NONE/STATIC resolution types');
  }

  const autoAllocation = autoAllocatesAddress(spec, metadata, options);
  const portNames = new Set<string>();
  const portNumbers = new Set<number>();
  spec.ports.forEach((port, index) => {
    const at = indexPath('spec.ports', index);
    if (portNames.has(port.name)) issues.error(fieldPath(at, 'name'), `service entry port name ${goQuote(port.name)} already defined`);
    portNames.add(port.name);
    if (portNumbers.has(port.number)) issues.error(fieldPath(at, 'number'), `service entry port ${port.number} already defined`);
    portNumbers.add(port.number);
    if (port.targetPort !== undefined && port.targetPort !== 0) {
      const targetError = validatePort(port.targetPort);
      if (targetError !== undefined) issues.error(fieldPath(at, 'targetPort'), targetError);
    }
    const protocol = port.protocol ?? '';
    // istiod compares the raw spelling here, so `tcp` does not trigger the warning while `TCP` does.
    if (spec.addresses.length === 0 && !autoAllocation && (protocol === '' || protocol === 'TCP')) {
      issues.warning(at, 'addresses are required for ports serving TCP (or unset) protocol when IP Autoallocation is not enabled');
    }
    const nameError = validatePortName(port.name);
    if (nameError !== undefined) issues.error(fieldPath(at, 'name'), nameError);
    if (protocol !== '' && parseProtocol(protocol) === undefined) issues.error(fieldPath(at, 'protocol'), `unsupported protocol: ${protocol}`);
    const numberError = validatePort(port.number);
    if (numberError !== undefined) issues.error(fieldPath(at, 'number'), numberError);
  });

  switch (resolution) {
    case 'NONE':
      if (spec.endpoints.length !== 0) issues.error('spec.endpoints', 'no endpoints should be provided for resolution type none');
      if (spec.workloadSelector !== undefined) issues.warning('spec.workloadSelector', 'workloadSelector should not be set when resolution mode is NONE');
      break;
    case 'STATIC':
      spec.endpoints.forEach((endpoint, index) => {
        validateWorkloadEntrySpec(endpoint, indexPath('spec.endpoints', index), issues, portNames, false);
      });
      break;
    case 'DNS':
    case 'DNS_ROUND_ROBIN':
      validateDnsEndpoints(spec, resolution, portNames, issues);
      break;
    case 'DYNAMIC_DNS':
      validateDynamicDns(spec, metadata, issues);
      break;
  }

  // Plain TCP gives a proxy no way to tell hosts apart (no Host header, no SNI), so several hosts
  // need HTTP or TLS ports unless the resolution is NONE, where hosts are not used.
  if (resolution !== 'NONE' && spec.hosts.length > 1) {
    const index = spec.ports.findIndex((port) => {
      const protocol = parseProtocol(port.protocol ?? '');
      return !isHttpProtocol(protocol) && !isTlsProtocol(protocol);
    });
    if (index !== -1) issues.error(fieldPath(indexPath('spec.ports', index), 'protocol'), 'multiple hosts provided with non-HTTP, non-TLS ports');
  }

  for (const finding of validateExportTo(metadata.namespace, spec.exportTo, true, false)) {
    issues.error(finding.index === undefined ? 'spec.exportTo' : indexPath('spec.exportTo', finding.index), finding.reason);
  }
}

function validateDnsEndpoints(spec: ServiceEntrySpec, resolution: 'DNS' | 'DNS_ROUND_ROBIN', portNames: ReadonlySet<string>, issues: FieldIssues): void {
  if (spec.endpoints.length === 0) {
    // Without endpoints the hosts themselves are resolved, so they must be resolvable names.
    const index = spec.hosts.findIndex((host) => validateFQDN(host) !== undefined);
    if (index !== -1) {
      const host = spec.hosts[index] ?? '';
      issues.error(
        indexPath('spec.hosts', index),
        `hosts must be FQDN or contain only prefix wildcards if no endpoints are provided for resolution mode ${resolution}, ${validateFQDN(host) ?? ''}`,
      );
    }
  }
  if (resolution === 'DNS_ROUND_ROBIN' && spec.endpoints.length > 1) {
    issues.error('spec.endpoints', `there must only be 0 or 1 endpoint for resolution mode ${resolution}`);
  }
  spec.endpoints.forEach((endpoint, index) => {
    const at = indexPath('spec.endpoints', index);
    const address = endpoint.address ?? '';
    if (!isIP(address) && validateFQDN(address) !== undefined) {
      issues.error(fieldPath(at, 'address'), `endpoint address ${goQuote(address)} is not a valid FQDN or an IP address`);
    }
    for (const { key, reason } of validateLabels(endpoint.labels ?? {})) issues.error(keyPath(fieldPath(at, 'labels'), key), reason);
    validateEndpointPorts(endpoint.ports ?? {}, fieldPath(at, 'ports'), issues, portNames);
  });
  if (spec.addresses.length > 0) {
    const firstTcp = spec.ports.find((port) => isTcpProtocol(parseProtocol(port.protocol ?? '')));
    if (firstTcp !== undefined && spec.hosts.length > 1) {
      issues.warning('spec.hosts', 'service entry can not have more than one host specified simultaneously with address and tcp port');
    }
  }
}

function validateDynamicDns(spec: ServiceEntrySpec, metadata: ObjectMeta, issues: FieldIssues): void {
  const resolution = 'DYNAMIC_DNS';
  if (spec.hosts.length === 0) issues.error('spec.hosts', `at least one wildcard host must be provided for resolution type ${resolution}`);
  spec.hosts.forEach((host, index) => {
    if (!host.startsWith('*')) issues.error(indexPath('spec.hosts', index), `host must be wildcarded for resolution mode ${resolution}`);
  });
  // The two messages below keep istiod's missing spaces ("generatedfrom", "hostsfield"): they are its text.
  if (spec.addresses.length !== 0) {
    issues.error(
      'spec.addresses',
      `addresses cannot be set for resolution type ${resolution}. HTTP route domains will only be generatedfrom the hosts field values`,
    );
  }
  if (spec.endpoints.length !== 0) {
    issues.error('spec.endpoints', `endpoints cannot be set for resolution type ${resolution}. Destination IP address determined from hostsfield values`);
  }
  spec.ports.forEach((port, index) => {
    const protocol = parseProtocol(port.protocol ?? '');
    if (protocol !== 'HTTP' && protocol !== 'TLS' && protocol !== 'GRPC' && protocol !== 'HTTP2') {
      issues.error(fieldPath(indexPath('spec.ports', index), 'protocol'), `only HTTP, TLS, GRPC, and HTTP2 protocols are supported for resolution type ${resolution}`);
    }
  });
  if (spec.location === 'MESH_INTERNAL' && usesWaypoint(metadata)) {
    issues.error('spec.location', `location MESH_INTERNAL with resolution type ${resolution} is not supported when using waypoints`);
  }
}
