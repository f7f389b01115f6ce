/**
 * The pure part of SDS against istiod's own cases: resource names (`pilot/pkg/model/credentials`
 * `resource_test.go`), which Secret keys hold what and the error texts (`pilot/pkg/credentials/kube`
 * `secrets_test.go`), the Secret messages (`pilot/pkg/xds/sds_test.go`), and who may read what
 * (`filterAuthorizedResources`).
 */
import { TestCertificateAuthority } from '@skiff/testing';
import { afterAll, describe, expect, it } from 'vitest';
import {
  buildCaSecret,
  buildTlsCertificateSecret,
  certificateProblem,
  CROSS_NAMESPACE_REFUSAL,
  extractCertInfo,
  extractRoot,
  parseSecretResourceName,
  relatedSecretResourceNames,
  secretAccess,
  type SecretReference,
} from './sds.js';

const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);
const SHOP_APP = { trustDomain: 'cluster.local', namespace: 'shop', serviceAccount: 'app' };

describe('parseSecretResourceName', () => {
  it('reads kubernetes://name in the proxy namespace and kubernetes://namespace/name as written', () => {
    expect(parseSecretResourceName('kubernetes://app-cert', 'shop')).toEqual({ type: 'kubernetes', name: 'app-cert', namespace: 'shop', resourceName: 'kubernetes://app-cert' });
    expect(parseSecretResourceName('kubernetes://app-cert-cacert', 'shop')).toMatchObject({ name: 'app-cert-cacert', namespace: 'shop' });
    expect(parseSecretResourceName('kubernetes://billing/app-cert', 'shop')).toMatchObject({ type: 'kubernetes', name: 'app-cert', namespace: 'billing' });
  });

  it('needs a namespace and a name for configmap:// and kubernetes-gateway://, with istiod errors', () => {
    expect(parseSecretResourceName('kubernetes-gateway://ns/gw-cert', 'shop')).toMatchObject({ type: 'kubernetes-gateway', name: 'gw-cert', namespace: 'ns' });
    expect(parseSecretResourceName('configmap://ns/roots', 'shop')).toMatchObject({ type: 'configmap', name: 'roots', namespace: 'ns' });
    expect(parseSecretResourceName('kubernetes-gateway://gw-cert', 'shop')).toEqual({ error: 'invalid resource name "kubernetes-gateway://gw-cert". Expected namespace and name' });
    expect(parseSecretResourceName('configmap:///roots', 'shop')).toEqual({ error: 'invalid resource name "configmap:///roots". Expected namespace' });
    expect(parseSecretResourceName('configmap://ns/', 'shop')).toEqual({ error: 'invalid resource name "configmap://ns/". Expected name' });
  });

  it('rejects other schemes (file-cert:, default, sds://) as an unknown resource type', () => {
    for (const name of ['default', 'ROOTCA', 'file-cert:/etc/certs/cert.pem~/etc/certs/key.pem', 'sds://vault-cert']) {
      expect(parseSecretResourceName(name, 'shop')).toEqual({ error: `unknown resource type: ${name}` });
    }
    expect(parseSecretResourceName('invalid://', 'shop')).toMatchObject({ type: 'invalid' });
  });
});

describe('extractCertInfo and extractRoot', () => {
  it('prefers the generic keys cert/key/cacert over the TLS keys tls.crt/tls.key/ca.crt', () => {
    const both = { cert: bytes('G-CERT'), key: bytes('G-KEY'), cacert: bytes('G-CA'), 'tls.crt': bytes('T-CERT'), 'tls.key': bytes('T-KEY'), 'ca.crt': bytes('T-CA') };
    expect(extractCertInfo(both)).toEqual({ cert: bytes('G-CERT'), key: bytes('G-KEY') });
    expect(extractRoot(both)).toEqual({ cert: bytes('G-CA') });
  });

  it('reads a kubernetes.io/tls Secret with its OCSP staple and CRL', () => {
    const tls = { 'tls.crt': bytes('T-CERT'), 'tls.key': bytes('T-KEY'), 'tls.ocsp-staple': bytes('STAPLE'), 'ca.crt': bytes('T-CA'), 'ca.crl': bytes('CRL') };
    expect(extractCertInfo(tls)).toEqual({ cert: bytes('T-CERT'), key: bytes('T-KEY'), staple: bytes('STAPLE'), crl: bytes('CRL') });
    expect(extractRoot(tls)).toEqual({ cert: bytes('T-CA'), crl: bytes('CRL') });
  });

  it("explains what is wrong with istiod's words", () => {
    expect(extractCertInfo({ cert: bytes(''), key: bytes('') })).toEqual({ error: 'found keys "cert" and "key", but they were empty' });
    expect(extractCertInfo({ 'tls.crt': bytes('x'), 'tls.key': bytes('') })).toEqual({ error: 'found keys "tls.crt" and "tls.key", but they were empty' });
    expect(extractCertInfo({ password: bytes('x'), user: bytes('y'), a: bytes('z'), b: bytes('w') })).toEqual({
      error: "found secret, but didn't have expected keys (cert and key) or (tls.crt and tls.key); found: a, b, password, and 1 more...",
    });
    expect(extractRoot({ 'tls.crt': bytes('x'), 'tls.key': bytes('y') })).toEqual({ error: "found secret, but didn't have expected keys cacert or ca.crt; found: tls.crt, tls.key" });
    expect(extractRoot({ 'ca.crt': bytes('') })).toEqual({ error: 'found key "ca.crt", but it was empty' });
  });
});

describe('Secret messages', () => {
  it('builds a TLS certificate with inline chain, key and staple, and a CA validation context with its CRL', () => {
    const tls = buildTlsCertificateSecret('kubernetes://app-cert', { cert: bytes('CERT'), key: bytes('KEY'), staple: bytes('STAPLE') });
    expect(tls.name).toBe('kubernetes://app-cert');
    expect(tls.type.case).toBe('tlsCertificate');
    const certificate = tls.type.case === 'tlsCertificate' ? tls.type.value : undefined;
    expect(certificate?.certificateChain?.specifier).toEqual({ case: 'inlineBytes', value: bytes('CERT') });
    expect(certificate?.privateKey?.specifier).toEqual({ case: 'inlineBytes', value: bytes('KEY') });
    expect(certificate?.ocspStaple?.specifier).toEqual({ case: 'inlineBytes', value: bytes('STAPLE') });

    const ca = buildCaSecret('kubernetes://app-cert-cacert', { cert: bytes('CA'), crl: bytes('CRL') });
    const context = ca.type.case === 'validationContext' ? ca.type.value : undefined;
    expect(context?.trustedCa?.specifier).toEqual({ case: 'inlineBytes', value: bytes('CA') });
    expect(context?.crl?.specifier).toEqual({ case: 'inlineBytes', value: bytes('CRL') });
  });

  describe('certificateProblem (logged, the Secret is still served)', () => {
    const ca = new TestCertificateAuthority();
    afterAll(() => ca.dispose());
    it('accepts a current certificate, and names a missing PEM block or a certificate outside its validity', () => {
      const issued = ca.issueWorkload('shop', 'app');
      expect(certificateProblem(issued.cert, new Date())).toBeUndefined();
      expect(certificateProblem(bytes('not a certificate'), new Date())).toBe('pem decode failed');
      expect(certificateProblem(issued.cert, new Date(Date.now() + 3 * 86_400_000))).toBe('certificate is expired or not yet valid');
      expect(certificateProblem(issued.cert, new Date(Date.now() - 86_400_000))).toBe('certificate is expired or not yet valid');
      expect(certificateProblem(bytes('-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n'), new Date())).toEqual(expect.any(String));
    });
  });
});

describe('secretAccess (filterAuthorizedResources)', () => {
  const ref = (name: string, proxyNamespace = 'shop'): SecretReference => parseSecretResourceName(name, proxyNamespace) as SecretReference;

  it('asks for a review for a key and certificate of the own namespace, and lets CA-only Secrets there through', () => {
    expect(secretAccess(ref('kubernetes://app-cert'), SHOP_APP)).toEqual({ allowed: 'review' });
    expect(secretAccess(ref('kubernetes://shop/app-cert'), SHOP_APP)).toEqual({ allowed: 'review' });
    expect(secretAccess(ref('kubernetes://app-cert-cacert'), SHOP_APP)).toEqual({ allowed: true });
  });

  it('refuses another namespace, CA-only or not, and gateway references without verified references', () => {
    expect(secretAccess(ref('kubernetes://billing/app-cert'), SHOP_APP)).toEqual({ allowed: false, reason: CROSS_NAMESPACE_REFUSAL });
    expect(secretAccess(ref('kubernetes://billing/app-cert-cacert'), SHOP_APP)).toEqual({ allowed: false, reason: CROSS_NAMESPACE_REFUSAL });
    expect(secretAccess(ref('kubernetes-gateway://shop/gw-cert'), SHOP_APP)).toEqual({ allowed: false, reason: CROSS_NAMESPACE_REFUSAL });
    expect(secretAccess(ref('invalid://'), SHOP_APP)).toEqual({ allowed: false, reason: '' });
    expect(secretAccess(ref('configmap://billing/roots'), SHOP_APP)).toEqual({ allowed: true });
  });

  it('reads kubernetes://name in the namespace of the identity, whatever the node claims', () => {
    // The provider parses with the verified identity's namespace, as istiod's parseResources does.
    expect(secretAccess(ref('kubernetes://app-cert', SHOP_APP.namespace), SHOP_APP)).toEqual({ allowed: 'review' });
  });
});

describe('relatedSecretResourceNames (relatedConfigs)', () => {
  it('names a Secret and its -cacert twin in both namespace forms, from either side', () => {
    const names = ['kubernetes://app-cert', 'kubernetes://app-cert-cacert', 'kubernetes://shop/app-cert', 'kubernetes://shop/app-cert-cacert'];
    expect(relatedSecretResourceNames('shop', 'app-cert')).toEqual(names);
    expect(relatedSecretResourceNames('shop', 'app-cert-cacert')).toEqual(names);
  });
});
