/**
 * Gateway validation after istiod's webhook (`ValidateGateway`, `validateServer`, `validateServerPort`,
 * `validateServerBind`, `validateTLSOptions` in `pkg/config/validation/validation.go`;
 * `ValidateNamespaceSlashWildcardHostname` and `validateSidecarOrGatewayHostnamePart` in
 * `pkg/config/validation/agent/validation.go`). Skiff uses a Gateway's selector and its servers' port,
 * bind, hosts and TLS mode to decide which routers get istiod's sni-dnat clusters
 * (`pilot/pkg/model/gateway.go` `mergeGateways`); the rest of a server (certificates, cipher suites)
 * configures listeners Skiff does not serve, and is checked only as far as it decides validity.
 *
 * Not checked: cipher-suite names (istiod only warns about them), and the Gateway API conversion's
 * internal annotations (a Gateway written by hand has none).
 */
import type { FieldIssues } from './field-error.js';
import { isDNS1123Label, validatePartialWildcard, validatePort, validateUnixAddress, validateWildcardDomain } from './istio-rules.js';
import { isIP } from './net.js';
import type { GatewayServer, GatewaySpec, GatewayTlsMode, ObjectMeta } from './objects.js';
import { isHttpProtocol, isTlsProtocol, parseProtocol } from './protocol.js';
import { fieldPath, indexPath, isSet, readEnum, readInteger, readList, readObject, readString, readStringList, readStringMap, UINT32, type JsonObject } from './read-fields.js';

const UNIX_ADDRESS_PREFIX = 'unix://';

/** `ServerTLSSettings.TLSmode`. */
export const GATEWAY_TLS_MODES = ['PASSTHROUGH', 'SIMPLE', 'MUTUAL', 'AUTO_PASSTHROUGH', 'ISTIO_MUTUAL', 'OPTIONAL_MUTUAL'] as const;
const TLS_PROTOCOL_VERSIONS = ['TLS_AUTO', 'TLSV1_0', 'TLSV1_1', 'TLSV1_2', 'TLSV1_3'] as const;

/** `validateSidecarOrGatewayHostnamePart(host, true)`: a FQDN (wildcard first label allowed) or an IP; no short names, no partial wildcards. */
function gatewayHostnamePartErrors(hostname: string): string[] {
  const reasons: string[] = [];
  if (hostname !== '*' && !hostname.includes('.')) reasons.push('short names (non FQDN) are not allowed');
  const domainError = validateWildcardDomain(hostname);
  if (domainError !== undefined && !isIP(hostname)) reasons.push(domainError);
  const partial = validatePartialWildcard(hostname);
  if (partial !== undefined) reasons.push(partial);
  return reasons;
}

/** `ValidateNamespaceSlashWildcardHostname(host, true, false)`: `host` or `namespace/host`, the namespace `*`, `.` or a DNS label. */
export function validateGatewayServerHost(host: string): string[] {
  const slash = host.indexOf('/');
  if (slash === -1) return gatewayHostnamePartErrors(host);
  const namespace = host.slice(0, slash);
  const name = host.slice(slash + 1);
  const reasons: string[] = [];
  if (namespace.length === 0 || name.length === 0) reasons.push('config namespace and dnsName in host entry cannot be empty');
  if (namespace !== '*' && namespace !== '.' && !isDNS1123Label(namespace)) reasons.push(`invalid namespace value "${namespace}" in gateway`);
  for (const reason of gatewayHostnamePartErrors(name)) reasons.push(reason);
  return reasons;
}

interface ReadTls {
  readonly mode: GatewayTlsMode;
  readonly httpsRedirect: boolean;
  readonly serverCertificate: string;
  readonly privateKey: string;
  readonly caCertificates: string;
  readonly caCrl: string;
  readonly credentialName: string;
  readonly credentialNames: readonly string[];
  readonly tlsCertificates: readonly { readonly serverCertificate: string; readonly privateKey: string }[];
  readonly minProtocolVersion: string;
  readonly cipherSuites: readonly string[];
}

function readTls(object: JsonObject, at: string, issues: FieldIssues): ReadTls {
  const tlsCertificates = (readList(object['tlsCertificates'], fieldPath(at, 'tlsCertificates'), issues) ?? []).map((item, index) => {
    const cert = readObject(item, indexPath(fieldPath(at, 'tlsCertificates'), index), issues) ?? {};
    const certAt = indexPath(fieldPath(at, 'tlsCertificates'), index);
    return {
      serverCertificate: readString(cert['serverCertificate'], fieldPath(certAt, 'serverCertificate'), issues) ?? '',
      privateKey: readString(cert['privateKey'], fieldPath(certAt, 'privateKey'), issues) ?? '',
    };
  });
  return {
    mode: readEnum(object['mode'], fieldPath(at, 'mode'), issues, GATEWAY_TLS_MODES) ?? 'PASSTHROUGH',
    httpsRedirect: object['httpsRedirect'] === true,
    serverCertificate: readString(object['serverCertificate'], fieldPath(at, 'serverCertificate'), issues) ?? '',
    privateKey: readString(object['privateKey'], fieldPath(at, 'privateKey'), issues) ?? '',
    caCertificates: readString(object['caCertificates'], fieldPath(at, 'caCertificates'), issues) ?? '',
    caCrl: readString(object['caCrl'], fieldPath(at, 'caCrl'), issues) ?? '',
    credentialName: readString(object['credentialName'], fieldPath(at, 'credentialName'), issues) ?? '',
    credentialNames: readStringList(object['credentialNames'], fieldPath(at, 'credentialNames'), issues),
    tlsCertificates,
    minProtocolVersion: readEnum(object['minProtocolVersion'], fieldPath(at, 'minProtocolVersion'), issues, TLS_PROTOCOL_VERSIONS) ?? 'TLS_AUTO',
    cipherSuites: readStringList(object['cipherSuites'], fieldPath(at, 'cipherSuites'), issues),
  };
}

/** istiod `validateTLSOptions` (errors; its cipher-suite warnings are not repeated). */
function validateTlsOptions(tls: ReadTls, at: string, issues: FieldIssues): void {
  if ((tls.minProtocolVersion === 'TLSV1_0' || tls.minProtocolVersion === 'TLSV1_1') && tls.cipherSuites.length === 0) {
    issues.warning(fieldPath(at, 'minProtocolVersion'), 'TLS version below TLSV1_2 require setting compatible ciphers as by default they no longer include compatible ciphers.');
  }
  if (tls.mode === 'ISTIO_MUTUAL') {
    if (tls.serverCertificate !== '') issues.error(fieldPath(at, 'serverCertificate'), 'ISTIO_MUTUAL TLS cannot have associated server certificate');
    if (tls.privateKey !== '') issues.error(fieldPath(at, 'privateKey'), 'ISTIO_MUTUAL TLS cannot have associated private key');
    if (tls.caCertificates !== '') issues.error(fieldPath(at, 'caCertificates'), 'ISTIO_MUTUAL TLS cannot have associated CA bundle');
    if (tls.tlsCertificates.length > 0) issues.error(fieldPath(at, 'tlsCertificates'), 'ISTIO_MUTUAL TLS cannot have associated tlsCertificates');
    if (tls.credentialName !== '') issues.error(fieldPath(at, 'credentialName'), 'ISTIO_MUTUAL TLS cannot have associated credentialName');
    if (tls.credentialNames.length > 0) issues.error(fieldPath(at, 'credentialNames'), 'ISTIO_MUTUAL TLS cannot have associated credentialNames');
    return;
  }
  const hasCertificates =
    tls.caCrl !== '' || tls.serverCertificate !== '' || tls.privateKey !== '' || tls.caCertificates !== '' || tls.tlsCertificates.length > 0 || tls.credentialName !== '' || tls.credentialNames.length > 0;
  if ((tls.mode === 'PASSTHROUGH' || tls.mode === 'AUTO_PASSTHROUGH') && hasCertificates) {
    issues.warning(fieldPath(at, 'mode'), `${tls.mode} mode does not use certificates, they will be ignored`);
  }
  const sources = [tls.serverCertificate !== '' && tls.privateKey !== '', tls.credentialName !== '', tls.credentialNames.length > 0, tls.tlsCertificates.length > 0].filter(Boolean).length;
  if (sources > 1) issues.error(at, 'only one of credential_name, credential_names, server_certificate/private_key, tls_certificates should be specified');
  const terminating = tls.mode === 'SIMPLE' || tls.mode === 'MUTUAL' || tls.mode === 'OPTIONAL_MUTUAL';
  // Credentials fetched remotely need no certificate fields.
  if (terminating && (tls.credentialName !== '' || tls.credentialNames.length > 0)) return;
  if (terminating) {
    const prefix = tls.mode === 'SIMPLE' ? 'SIMPLE TLS' : 'MUTUAL TLS';
    if (tls.mode !== 'SIMPLE' && tls.caCertificates === '') issues.error(fieldPath(at, 'caCertificates'), `${prefix} requires a client CA bundle`);
    if (tls.tlsCertificates.length > 2) issues.warning(fieldPath(at, 'tlsCertificates'), `${prefix} can support up to 2 server certificates`);
    const certificates = tls.tlsCertificates.length > 0 ? tls.tlsCertificates : [{ serverCertificate: tls.serverCertificate, privateKey: tls.privateKey }];
    for (const certificate of certificates) {
      if (certificate.serverCertificate === '') issues.error(fieldPath(at, 'serverCertificate'), `${prefix} requires a server certificate`);
      if (certificate.privateKey === '') issues.error(fieldPath(at, 'privateKey'), `${prefix} requires a private key`);
    }
  }
  if (tls.caCrl !== '') {
    if (tls.credentialName !== '') issues.error(fieldPath(at, 'caCrl'), 'CRL is not supported with credentialName. CRL has to be specified in the credential');
    if (tls.mode === 'SIMPLE') issues.error(fieldPath(at, 'caCrl'), 'CRL is not supported with SIMPLE TLS');
  }
}

/** istiod `validateServer` (with `validateServerPort` and `validateServerBind`); the server as Skiff keeps it, or undefined when it has no port. */
function validateServer(value: unknown, at: string, issues: FieldIssues): GatewayServer | undefined {
  if (value === null) {
    issues.error(at, 'cannot have nil server');
    return undefined;
  }
  const server = readObject(value, at, issues);
  if (server === undefined) return undefined;
  const hosts = readStringList(server['hosts'], fieldPath(at, 'hosts'), issues);
  if (hosts.length === 0) issues.error(fieldPath(at, 'hosts'), 'server config must contain at least one host');
  hosts.forEach((host, index) => {
    for (const reason of validateGatewayServerHost(host)) issues.error(indexPath(fieldPath(at, 'hosts'), index), reason);
  });
  const bind = readString(server['bind'], fieldPath(at, 'bind'), issues) ?? '';
  const portAt = fieldPath(at, 'port');
  const portObject = isSet(server, 'port') ? readObject(server['port'], portAt, issues) : undefined;
  let port: { number: number; protocol: string; name: string } | undefined;
  let portValid = false;
  if (portObject === undefined) {
    if (!isSet(server, 'port')) issues.error(portAt, 'port is required');
  } else {
    const before = issues.errors.length;
    port = {
      number: readInteger(portObject['number'], fieldPath(portAt, 'number'), issues, UINT32) ?? 0,
      protocol: readString(portObject['protocol'], fieldPath(portAt, 'protocol'), issues) ?? '',
      name: readString(portObject['name'], fieldPath(portAt, 'name'), issues) ?? '',
    };
    const targetPort = readInteger(portObject['targetPort'], fieldPath(portAt, 'targetPort'), issues, UINT32) ?? 0;
    if (parseProtocol(port.protocol) === undefined) {
      issues.error(fieldPath(portAt, 'protocol'), `invalid protocol "${port.protocol}", supported protocols are HTTP, HTTP2, GRPC, GRPC-WEB, MONGO, REDIS, MYSQL, TCP`);
    }
    if (port.number > 0 || !bind.startsWith(UNIX_ADDRESS_PREFIX)) {
      const reason = validatePort(port.number);
      if (reason !== undefined) issues.error(fieldPath(portAt, 'number'), reason);
    }
    if (targetPort > 0) issues.error(fieldPath(portAt, 'targetPort'), 'targetPort has no impact on Gateways');
    if (port.name === '') issues.error(fieldPath(portAt, 'name'), 'port name must be set');
    portValid = issues.errors.length === before;
  }
  if (bind.startsWith(UNIX_ADDRESS_PREFIX)) {
    const reason = validateUnixAddress(bind.slice(UNIX_ADDRESS_PREFIX.length));
    if (reason !== undefined) issues.error(fieldPath(at, 'bind'), reason);
    if (port !== undefined && port.number !== 0) issues.error(fieldPath(portAt, 'number'), 'port number must be 0 for unix domain socket');
  } else if (bind.length !== 0 && !isIP(bind)) {
    issues.error(fieldPath(at, 'bind'), `${bind} is not a valid IP`);
  }
  const tlsObject = isSet(server, 'tls') ? readObject(server['tls'], fieldPath(at, 'tls'), issues) : undefined;
  const tls = tlsObject === undefined ? undefined : readTls(tlsObject, fieldPath(at, 'tls'), issues);
  if (tls !== undefined) validateTlsOptions(tls, fieldPath(at, 'tls'), issues);
  if (port !== undefined && portValid) {
    const protocol = parseProtocol(port.protocol);
    if (isTlsProtocol(protocol) && tls === undefined) {
      issues.error(fieldPath(at, 'tls'), 'server must have TLS settings for HTTPS/TLS protocols');
    } else if (!isTlsProtocol(protocol) && tls !== undefined) {
      if (isHttpProtocol(protocol)) {
        // Only an HTTPS redirect (or a passthrough mode without certificates) is allowed on plain text HTTP.
        const passthrough = tls.mode === 'PASSTHROUGH' || tls.mode === 'AUTO_PASSTHROUGH';
        if (!passthrough || tls.caCertificates !== '' || tls.privateKey !== '' || tls.serverCertificate !== '') {
          issues.error(fieldPath(at, 'tls'), 'server cannot have TLS settings for plain text HTTP ports');
        }
      } else {
        issues.error(fieldPath(at, 'tls'), 'server cannot have TLS settings for non HTTPS/TLS ports');
      }
    }
    if (!isHttpProtocol(protocol) && tls?.httpsRedirect === true) issues.warning(fieldPath(at, 'tls.httpsRedirect'), 'tls.httpsRedirect should only be used with http servers');
  }
  if (port === undefined) return undefined;
  return { port, bind, hosts, ...(tls === undefined ? {} : { tlsMode: tls.mode }) };
}

/** istiod `ValidateGateway`. */
export function validateGateway(rawSpec: unknown, metadata: ObjectMeta, issues: FieldIssues): GatewaySpec {
  if (!isDNS1123Label(metadata.name)) issues.error('metadata.name', `invalid gateway name: "${metadata.name}"`);
  const object = readObject(rawSpec, 'spec', issues) ?? {};
  const selectorValue = isSet(object, 'selector') ? readStringMap(object['selector'], 'spec.selector', issues) : undefined;
  const list = readList(object['servers'], 'spec.servers', issues) ?? [];
  if (list.length === 0) issues.error('spec.servers', 'gateway must have at least one server');
  const servers: GatewayServer[] = [];
  const portNames = new Set<string>();
  list.forEach((item, index) => {
    const at = indexPath('spec.servers', index);
    const server = validateServer(item, at, issues);
    if (server === undefined) return;
    if (portNames.has(server.port.name)) issues.error(fieldPath(fieldPath(at, 'port'), 'name'), `port names in servers must be unique: duplicate name ${server.port.name}`);
    portNames.add(server.port.name);
    servers.push(server);
  });
  // istiod reads an empty selector map as no selector: both apply the Gateway to every router.
  return { ...(selectorValue === undefined || Object.keys(selectorValue).length === 0 ? {} : { selector: selectorValue }), servers };
}
