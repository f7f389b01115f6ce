/**
 * Finding the grpc-go test client: a missing or stale binary fails with the build command, never skips.
 * And the dialling code docs/grpc-proxyless.md#grpc-go shows is the code the client runs.
 */
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { findGrpcGoClient, GRPC_GO_CLIENT_SOURCE_DIR, GrpcGoClientNotFoundError, grpcGoClientSourceHash, pinnedGrpcGoVersion } from './grpc-go-client.js';
import { REPO_ROOT } from './services.js';

describe('findGrpcGoClient', () => {
  const directory = mkdtempSync(join(tmpdir(), 'skiff-grpc-go-client-'));
  afterAll(() => rmSync(directory, { recursive: true, force: true }));
  const env = { ...process.env, SKIFF_GRPC_GO_CLIENT_DIR: directory };

  it('pins the grpc-go version istio.io/istio uses', () => {
    expect(pinnedGrpcGoVersion()).toBe('v1.82.0');
  });

  it('fails, naming the build script, when the binary is missing', () => {
    const find = () => findGrpcGoClient(env);
    expect(find).toThrow(GrpcGoClientNotFoundError);
    expect(find).toThrow(`the grpc-go xDS test client ${join(directory, 'grpc-go-xds-client')} is missing. Build it with \`tools/grpc-go-xds-client/build.sh\``);
  });

  it('fails when the binary was built from other sources', () => {
    writeFileSync(join(directory, 'grpc-go-xds-client'), '#!/bin/sh\necho "grpc-go-xds-client grpc-go v1.82.0 source 0123456789abcdef"\n');
    chmodSync(join(directory, 'grpc-go-xds-client'), 0o755);
    expect(() => findGrpcGoClient(env)).toThrow(
      `reports "grpc-go-xds-client grpc-go v1.82.0 source 0123456789abcdef", not "grpc-go-xds-client grpc-go v1.82.0 source ${grpcGoClientSourceHash()}"`,
    );
  });

  it('finds the binary build.sh built from these sources (its hash is the one computed here)', () => {
    expect(findGrpcGoClient()).toMatch(/\/grpc-go-xds-client$/);
  });
});

describe('docs/grpc-proxyless.md#grpc-go', () => {
  it("shows the client's own credentials and dial calls", () => {
    const doc = readFileSync(join(REPO_ROOT, 'docs', 'grpc-proxyless.md'), 'utf8');
    const block = /```go grpc-go-dial\n([\s\S]*?)```/.exec(doc)?.[1];
    expect(block, 'a ```go grpc-go-dial block').toBeDefined();
    const source = readFileSync(join(GRPC_GO_CLIENT_SOURCE_DIR, 'main.go'), 'utf8');
    // Each documented call, with the example's target standing for the client's -target flag.
    const calls = (block ?? '').split('\n').flatMap((line) => /^\w+, _ := (.+)$/.exec(line)?.[1] ?? []);
    expect(calls).toHaveLength(2);
    for (const call of calls) expect(source).toContain(call.replace('"xds:///echo.demo.internal:8080"', '*target'));
  });
});
