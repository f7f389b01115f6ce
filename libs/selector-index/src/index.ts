export {
  SelectorIndex,
  SelectorIndexError,
  type SelectionChange,
  type SelectorIndexErrorCode,
  type SelectorIndexStats,
} from './selector-index.js';
export { compareObjectKeys, objectKeyId, ObjectKeyMap } from './object-key.js';
