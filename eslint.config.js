// Lint for the whole workspace. Module boundaries follow the Nx tags in each package.json
// (`"nx": {"tags": ["type:..."]}`), enforced here without the Nx ESLint plugin: a project may import
// only the workspace packages its type allows, and the pure types (domain, proto) may not reach I/O
// clients or network modules either. Tests are exempt: they may use any package.
import { readdirSync, readFileSync, existsSync } from 'node:fs';
import eslint from '@eslint/js';
import tseslint from 'typescript-eslint';

/** Which project types each type may import (outside tests). */
const ALLOWED_TYPES = {
  'type:app': ['type:runtime', 'type:data-access', 'type:domain', 'type:proto'],
  'type:runtime': ['type:runtime', 'type:data-access', 'type:domain', 'type:proto'],
  'type:data-access': ['type:runtime', 'type:data-access', 'type:domain', 'type:proto'],
  'type:domain': ['type:domain', 'type:proto'],
  'type:proto': ['type:proto'],
  'type:testing': null,
};
/** Types that do no I/O: model, index, translation, generated protos. */
const PURE_TYPES = new Set(['type:domain', 'type:proto']);

/** Every workspace project: its directory, package name and type tag (exactly one). */
const projects = ['libs', 'apps']
  .flatMap((parent) => readdirSync(parent).map((name) => `${parent}/${name}`))
  .concat(['bench'])
  .filter((dir) => existsSync(`${dir}/package.json`))
  .map((dir) => {
    const manifest = JSON.parse(readFileSync(`${dir}/package.json`, 'utf8'));
    const types = (manifest.nx?.tags ?? []).filter((tag) => tag.startsWith('type:'));
    if (types.length !== 1 || !(types[0] in ALLOWED_TYPES)) throw new Error(`${dir}/package.json: nx.tags must hold one of ${Object.keys(ALLOWED_TYPES).join(', ')}`);
    return { dir, name: manifest.name, type: types[0] };
  });

const bannedIo = {
  paths: ['ioredis', '@kubernetes/client-node', 'node:net', 'net', 'node:http2', 'http2', 'node:http', 'http', 'node:dgram', 'dgram'].map((name) => ({
    name,
    message: 'pure libraries (type:domain, type:proto) do no I/O; do it in an app or a runtime library',
  })),
  patterns: [{ group: ['@grpc/*', '@connectrpc/*'], message: 'pure libraries do not speak gRPC' }],
};

const escape = (name) => name.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

/** One lint block per project that has a restriction: the workspace packages it may not import. */
const boundaries = projects.flatMap(({ dir, type }) => {
  const allowed = ALLOWED_TYPES[type];
  if (allowed === null) return [];
  const forbidden = projects.filter((other) => other.dir !== dir && !allowed.includes(other.type));
  const patterns = forbidden.length === 0 ? [] : [{ regex: `^(${forbidden.map((other) => escape(other.name)).join('|')})(/|$)`, message: `a ${type} project may import only ${allowed.join(', ')} projects (nx.tags)` }];
  const rule = PURE_TYPES.has(type) ? { paths: bannedIo.paths, patterns: [...bannedIo.patterns, ...patterns] } : { patterns };
  if (rule.patterns.length === 0 && rule.paths === undefined) return [];
  return [{ files: [`${dir}/src/**/*.ts`], ignores: ['**/*.test.ts', '**/test-support/**', '**/test-support.ts'], rules: { 'no-restricted-imports': ['error', rule] } }];
});

export default tseslint.config(
  { ignores: ['**/dist/**', '**/node_modules/**', 'libs/protos/src/gen/**', '.nx/**', '**/coverage/**', 'deploy/**', '**/*.tmp.mjs'] },
  eslint.configs.recommended,
  // eslint-disable-next-line no-restricted-syntax -- a handful of config blocks
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { process: 'readonly', console: 'readonly', URL: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly', setInterval: 'readonly', clearInterval: 'readonly', setImmediate: 'readonly', Buffer: 'readonly', performance: 'readonly', structuredClone: 'readonly', TextEncoder: 'readonly', TextDecoder: 'readonly', AbortController: 'readonly', queueMicrotask: 'readonly', fetch: 'readonly', Response: 'readonly', Headers: 'readonly', AbortSignal: 'readonly' } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      // A spread argument puts every element on the stack: `push(...list)` or `Math.max(...list)`
      // throws "Maximum call stack size exceeded" once the list holds a few hundred thousand items
      // (a mesh of 200k workloads does). Loop, or use `concat`/`reduce`; an array literal spread
      // (`[...a, ...b]`) is fine. Disable per line only where the array is provably small and bounded.
      'no-restricted-syntax': [
        'error',
        {
          selector: 'CallExpression > SpreadElement, NewExpression > SpreadElement',
          message: 'no spread arguments: an unbounded array overflows the call stack (Maximum call stack size exceeded). Loop or use concat/reduce; disable only for a provably small, bounded array, saying why.',
        },
      ],
    },
  },
  // eslint-disable-next-line no-restricted-syntax -- one block per workspace project
  ...boundaries,
);
