import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { findKubeTools, KubeToolsNotFoundError } from './tools.js';

describe('findKubeTools', () => {
  const directory = mkdtempSync(join(tmpdir(), 'skiff-kube-tools-'));
  afterAll(() => rmSync(directory, { recursive: true, force: true }));

  it('fails, naming the build script, when the binaries are missing or of another version', () => {
    // A kubectl of another version where the pinned one is expected.
    writeFileSync(join(directory, 'kubectl'), '#!/bin/sh\necho "Client Version: v1.30.0"\n');
    chmodSync(join(directory, 'kubectl'), 0o755);
    const find = () => findKubeTools({ ...process.env, SKIFF_KUBE_BIN_DIR: directory });
    expect(find).toThrow(KubeToolsNotFoundError);
    expect(find).toThrow(
      `the local Kubernetes control plane is not built in ${directory}: etcd is missing; etcdctl is missing; kube-apiserver is missing; ` +
        'kubectl does not report "Client Version: v1.37.2" (Client Version: v1.30.0). Build etcd 3.7.3, kube-apiserver and kubectl v1.37.2 with `tools/kube/build.sh`',
    );
  });

  it('finds the pinned binaries tools/kube/build.sh built', () => {
    const tools = findKubeTools();
    expect(tools.kubeApiserver).toBe(join(tools.directory, 'kube-apiserver'));
    expect(tools.etcd).toBe(join(tools.directory, 'etcd'));
  });
});
