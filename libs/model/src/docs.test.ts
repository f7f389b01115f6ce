/** The example in `docs/normalized-entries.md` is real output: load its input, compare with its JSON. */
import { readFileSync } from 'node:fs';
import { expect, test } from 'vitest';
import { loadIstioConfig } from './load.js';

const doc = readFileSync(new URL('../../../docs/normalized-entries.md', import.meta.url), 'utf8');

function block(info: string): string {
  const match = new RegExp('```' + info + '\\n([\\s\\S]*?)```').exec(doc);
  if (match?.[1] === undefined) throw new Error(`no \`\`\`${info} block in docs/normalized-entries.md`);
  return match[1];
}

test('the documented example is what the loader produces', () => {
  const result = loadIstioConfig(block('yaml example-input'), 'normalized-entries.md');
  expect(result.rejected).toEqual([]);
  expect(result.serviceEntries.map((s) => s.serviceEntry)).toEqual([JSON.parse(block('json example-service-entry'))]);
  expect(result.workloadEntries.map((w) => w.endpoint)).toEqual([JSON.parse(block('json example-endpoint'))]);
});
