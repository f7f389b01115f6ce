/** Types of `destination-rules.mjs` for the test that runs its quick mode (the benchmark itself is plain ESM). */
export interface DestinationRuleRow {
  readonly scenario: string;
  readonly serviceEntries: number;
  readonly affected: number;
  readonly hashesRewritten: number;
  readonly applyMs: number;
  readonly fieldsMs: number;
  readonly buildMs: number;
  readonly resourcesBuilt: number;
  readonly resourcesChanged: number;
}

export interface DestinationRuleResults {
  readonly mode: 'quick' | 'full';
  readonly date: string;
  readonly rows: readonly DestinationRuleRow[];
}

export const DR_DOCS_BEGIN: string;
export const DR_DOCS_END: string;
export function runDestinationRuleSuite(size: number): Promise<DestinationRuleRow[]>;
export function main(
  argv: readonly string[],
  log?: (line: string) => void,
): Promise<{ readonly results: DestinationRuleResults; readonly resultsFile: string; readonly docsFile: string | undefined }>;
