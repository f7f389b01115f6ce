// The helm runner lives with the other real binaries the tests drive (libs/kube-testenv).
export { HELM_INSTALL_COMMAND, Helm, HelmCommandError, HelmNotFoundError, findHelm } from '@skiff/kube-testenv';
export type { HelmResult, LintOptions, TemplateOptions } from '@skiff/kube-testenv';
