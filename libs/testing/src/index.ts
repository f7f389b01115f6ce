export {
  GoldenMismatchError,
  OrphanedGoldensError,
  UPDATE_GOLDEN_ENV,
  expectGolden,
  isGoldenUpdateMode,
  pruneGoldens,
} from './golden.js';
export type { GoldenOptions } from './golden.js';
