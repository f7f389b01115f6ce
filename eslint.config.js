// Lint for the whole workspace. Module boundaries are enforced here (no Nx plugin needed): the pure
// libraries may not reach I/O clients or network modules, and may depend only on other pure libraries.
import eslint from '@eslint/js';
import tseslint from 'typescript-eslint';

/** Libraries that must stay pure: no Redis, Kubernetes, gRPC or socket code, directly or through another lib. */
const pureLibraries = ['libs/protos', 'libs/model', 'libs/selector-index', 'libs/xds-translate'];
/** Workspace packages a pure library may import. */
const pureWorkspacePackages = ['@skiff/protos', '@skiff/model', '@skiff/selector-index', '@skiff/xds-translate'];

const bannedInPureLibraries = {
  paths: ['ioredis', '@kubernetes/client-node', 'node:net', 'net', 'node:http2', 'http2', 'node:http', 'http', 'node:dgram', 'dgram'].map(
    (name) => ({ name, message: 'pure libraries (model, index, translation) do no I/O; do it in an app or a runtime library' }),
  ),
  patterns: [
    { group: ['@grpc/*', '@connectrpc/*'], message: 'pure libraries do not speak gRPC' },
    {
      regex: `^@skiff/(?!(${pureWorkspacePackages.map((p) => p.slice('@skiff/'.length)).join('|')})(/|$))`,
      message: 'a pure library may depend only on other pure libraries',
    },
  ],
};

export default tseslint.config(
  { ignores: ['**/dist/**', '**/node_modules/**', 'libs/protos/src/gen/**', '.nx/**', '**/coverage/**', 'deploy/**', '**/*.tmp.mjs'] },
  eslint.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { process: 'readonly', console: 'readonly', URL: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly', setInterval: 'readonly', clearInterval: 'readonly', setImmediate: 'readonly', Buffer: 'readonly', performance: 'readonly', structuredClone: 'readonly', TextEncoder: 'readonly', TextDecoder: 'readonly', AbortController: 'readonly', queueMicrotask: 'readonly', fetch: 'readonly', Response: 'readonly', Headers: 'readonly', AbortSignal: 'readonly' } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
    },
  },
  {
    files: pureLibraries.map((dir) => `${dir}/src/**/*.ts`),
    ignores: ['**/*.test.ts'],
    rules: { 'no-restricted-imports': ['error', bannedInPureLibraries] },
  },
);
