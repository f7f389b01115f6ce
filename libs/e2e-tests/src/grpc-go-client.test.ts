/** Finding the grpc-go test client: a missing or stale binary fails with the build command, never skips. */
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { findGrpcGoClient, GrpcGoClientNotFoundError, grpcGoClientSourceHash, pinnedGrpcGoVersion } from './grpc-go-client.js';

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
