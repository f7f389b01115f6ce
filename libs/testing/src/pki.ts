/**
 * Real X.509 certificates for TLS tests, made with the openssl CLI: a CA, server certificates for
 * 127.0.0.1, and workload certificates carrying an Istio SPIFFE URI SAN
 * (`spiffe://<trust-domain>/ns/<namespace>/sa/<service-account>`), as istio-agent or cert-manager
 * would issue them.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface IssuedCertificate {
  readonly certFile: string;
  readonly keyFile: string;
  readonly cert: Buffer;
  readonly key: Buffer;
}

function openssl(args: readonly string[]): void {
  execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

/** A throwaway certificate authority in its own temporary directory. */
export class TestCertificateAuthority {
  readonly dir: string;
  readonly caFile: string;
  private readonly caKeyFile: string;
  private serial = 0;

  constructor(readonly name = 'skiff-test-ca') {
    this.dir = mkdtempSync(join(tmpdir(), 'skiff-pki-'));
    this.caFile = join(this.dir, 'ca.crt');
    this.caKeyFile = join(this.dir, 'ca.key');
    openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2', '-subj', `/CN=${name}`, '-keyout', this.caKeyFile, '-out', this.caFile]);
  }

  get ca(): Buffer {
    return readFileSync(this.caFile);
  }

  /** A certificate for a server at 127.0.0.1 and localhost (and `::1`). */
  issueServer(name = 'skiff-server'): IssuedCertificate {
    return this.issue(name, 'IP:127.0.0.1,IP:::1,DNS:localhost', 'serverAuth');
  }

  /**
   * A workload certificate with the SPIFFE identity of `namespace`/`serviceAccount`, good for both ends
   * of a connection as Istio's workload certificates are (`security/pkg/pki/util/generate_cert.go`
   * `genCertTemplateFromCSR`: server and client auth): a mesh backend serves with the same certificate
   * its clients present.
   */
  issueWorkload(namespace: string, serviceAccount: string, trustDomain = 'cluster.local'): IssuedCertificate {
    return this.issue(`${serviceAccount}.${namespace}`, `URI:spiffe://${trustDomain}/ns/${namespace}/sa/${serviceAccount}`, 'serverAuth,clientAuth');
  }

  /** Removes the directory and every file issued. */
  dispose(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }

  private issue(name: string, subjectAltName: string, usage: string): IssuedCertificate {
    const base = join(this.dir, `${name}-${++this.serial}`);
    const extFile = `${base}.ext`;
    writeFileSync(extFile, `subjectAltName=${subjectAltName}\nextendedKeyUsage=${usage}\nbasicConstraints=CA:FALSE\n`);
    openssl(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-subj', `/CN=${name}`, '-keyout', `${base}.key`, '-out', `${base}.csr`]);
    openssl(['x509', '-req', '-in', `${base}.csr`, '-CA', this.caFile, '-CAkey', this.caKeyFile, '-CAcreateserial', '-days', '1', '-extfile', extFile, '-out', `${base}.crt`]);
    return { certFile: `${base}.crt`, keyFile: `${base}.key`, cert: readFileSync(`${base}.crt`), key: readFileSync(`${base}.key`) };
  }
}
