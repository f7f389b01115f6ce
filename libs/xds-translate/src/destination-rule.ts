import type { NormalizedDestinationRule, ObjectKey } from '@skiff/model';

/**
 * The DestinationRule a proxy gets for one host: istiod's `ConsolidatedDestRule`
 * (`pilot/pkg/model/destination_rule.go`), the merge of every rule of one namespace for that host, and
 * the rules it was merged from (oldest first).
 */
export interface AppliedDestinationRule { readonly rule: NormalizedDestinationRule; readonly from: readonly ObjectKey[]; }
