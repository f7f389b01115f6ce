/**
 * Reading Istio objects from text: multi-document YAML (JSON is YAML 1.2; streams of JSON objects take
 * a faster path with the same result) and Kubernetes `List` objects, the forms `kubectl apply -f` accepts. Every
 * problem is reported against its file and 1-based document number; nothing here throws on input.
 */
import { isCollection, isMap, isScalar, LineCounter, parseAllDocuments, Scalar, visit, type Document, type Node as YamlNode } from 'yaml';
import { classifyKind } from './kinds.js';
import type { ParsedMetadata, ParsedObject, SourceRef } from './objects.js';
import { isJsonObject, type JsonObject } from './read-fields.js';

export interface ParseOptions {
  /** Namespace of objects whose metadata names none (as `kubectl apply` without `-n`); default `default`. */
  readonly defaultNamespace?: string;
}

/** A document (or List item) that is not an object Skiff can use at all. */
export interface ParseError {
  readonly file: string;
  readonly document: number;
  readonly line: number;
  readonly item?: number;
  readonly message: string;
}

/** A real Istio object of a kind Skiff does not serve (VirtualService, Gateway, Sidecar, ...). */
export interface IgnoredObject {
  readonly apiVersion: string;
  readonly kind: string;
  readonly namespace: string;
  readonly name: string;
  readonly source: SourceRef;
}

export interface ParseResult {
  readonly objects: ParsedObject[];
  readonly ignored: IgnoredObject[];
  readonly errors: ParseError[];
}

/** One value read as a Kubernetes object. */
export type ReadObjectResult =
  | { readonly type: 'object'; readonly object: ParsedObject }
  | { readonly type: 'ignored'; readonly ignored: IgnoredObject }
  | { readonly type: 'error'; readonly message: string };

export const DEFAULT_NAMESPACE = 'default';

/** `file: document 2 (line 14): message`, with `, item 3` for List items. */
export function formatParseError(error: ParseError): string {
  const item = error.item === undefined ? '' : `, item ${error.item}`;
  return `${error.file}: document ${error.document}${item} (line ${error.line}): ${error.message}`;
}

/** `file:14 (document 2)`, with `, item 3` for List items. */
export function formatSourceRef(source: SourceRef): string {
  const item = source.item === undefined ? '' : `, item ${source.item}`;
  return `${source.file}:${source.line} (document ${source.document}${item})`;
}

function describeShape(value: unknown): string {
  if (Array.isArray(value)) return 'a list';
  if (value === null) return 'null';
  return `a ${typeof value}`;
}

/**
 * Reads one decoded value (a YAML document, a List item, or an object from the Kubernetes API) as an
 * Istio object: checks `apiVersion`, `kind` and `metadata.name`, defaults the namespace and sorts the
 * object into Skiff's kinds, ignored Istio kinds, or an error.
 */
export function readIstioObject(value: unknown, source: SourceRef, options: ParseOptions = {}): ReadObjectResult {
  if (!isJsonObject(value)) return { type: 'error', message: `not an object (found ${describeShape(value)})` };
  const { apiVersion, kind } = value;
  if (apiVersion === undefined || apiVersion === null || apiVersion === '') return { type: 'error', message: 'missing apiVersion' };
  if (typeof apiVersion !== 'string') return { type: 'error', message: `apiVersion must be a string, not ${describeShape(apiVersion)}` };
  if (kind === undefined || kind === null || kind === '') return { type: 'error', message: 'missing kind' };
  if (typeof kind !== 'string') return { type: 'error', message: `kind must be a string, not ${describeShape(kind)}` };
  const kindClass = classifyKind(apiVersion, kind);
  if (kindClass.type === 'unknown') return { type: 'error', message: kindClass.reason };

  const metadata = value['metadata'];
  if (metadata !== undefined && metadata !== null && !isJsonObject(metadata)) {
    return { type: 'error', message: `metadata must be an object, not ${describeShape(metadata)}` };
  }
  const name = metadata?.['name'];
  if (name === undefined || name === null || name === '') return { type: 'error', message: `${kind} without metadata.name` };
  if (typeof name !== 'string') return { type: 'error', message: `metadata.name must be a string, not ${describeShape(name)}` };
  const namespaceValue = metadata?.['namespace'];
  if (namespaceValue !== undefined && namespaceValue !== null && typeof namespaceValue !== 'string') {
    return { type: 'error', message: `metadata.namespace must be a string, not ${describeShape(namespaceValue)}` };
  }
  const namespace = typeof namespaceValue === 'string' && namespaceValue !== '' ? namespaceValue : (options.defaultNamespace ?? DEFAULT_NAMESPACE);

  if (kindClass.type === 'ignored') return { type: 'ignored', ignored: { apiVersion, kind, namespace, name, source } };
  const parsedMetadata: ParsedMetadata = { ...metadata, name, namespace };
  return {
    type: 'object',
    object: { apiVersion, kind: kindClass.kind, metadata: parsedMetadata, spec: value['spec'], status: value['status'], source },
  };
}

/** `kind: List`, or a typed list such as `ServiceEntryList`, with `items`. */
function isKubernetesList(value: JsonObject): boolean {
  const kind = value['kind'];
  return typeof kind === 'string' && kind.endsWith('List') && 'items' in value;
}

/** The YAML nodes of a List's `items`, for line numbers; empty when the document is not shaped as expected. */
function listItemNodes(document: Document): readonly (YamlNode | null)[] {
  const items = document.get('items', true);
  if (items !== null && typeof items === 'object' && 'items' in items && Array.isArray(items.items)) {
    return items.items.map((item: unknown) => (item !== null && typeof item === 'object' && 'range' in item ? (item as YamlNode) : null));
  }
  return [];
}

/**
 * Parses `text` (the contents of `file`) into Istio objects. Empty documents are skipped; each other
 * document yields an object, an ignored object or an error.
 */
export function parseIstioObjects(text: string, file: string, options: ParseOptions = {}): ParseResult {
  const result: ParseResult = { objects: [], ignored: [], errors: [] };
  const add = (read: ReadObjectResult, source: SourceRef): void => {
    if (read.type === 'object') result.objects.push(read.object);
    else if (read.type === 'ignored') result.ignored.push(read.ignored);
    else result.errors.push({ file, document: source.document, line: source.line, ...(source.item === undefined ? {} : { item: source.item }), message: read.message });
  };

  const jsonDocuments = readJsonDocuments(text);
  if (jsonDocuments !== undefined) {
    jsonDocuments.forEach(({ value, line }, index) => {
      const source: SourceRef = { file, document: index + 1, line };
      add(readIstioObject(value, source, options), source);
    });
    return result;
  }

  const lineCounter = new LineCounter();
  // logLevel 'error': problems are reported here, against the file; the library's warnings would go to
  // the process's standard error (a key tagged `!!binary` decodes to a string key, as in Go's YAML).
  const documents = parseAllDocuments(text, { lineCounter, logLevel: 'error' });
  // A stream with nothing but comments parses to an empty list of documents.
  const list: readonly Document[] = Array.isArray(documents) ? documents : [];
  const lineOf = (offset: number): number => lineCounter.linePos(offset).line;

  list.forEach((document, index) => {
    const documentNumber = index + 1;
    const contents = document.contents;
    const line = lineOf(contents?.range?.[0] ?? document.range?.[0] ?? 0);
    const [firstError] = document.errors;
    if (firstError !== undefined) {
      // Later errors in the same document are usually knock-on effects of the first.
      // The yaml library ends its first line with a colon that introduces a code excerpt; keep the sentence.
      const message = (firstError.message.split('\n')[0] ?? firstError.message).trim().replace(/:$/, '');
      result.errors.push({ file, document: documentNumber, line: firstError.linePos?.[0].line ?? line, message: `invalid YAML: ${message}` });
      return;
    }
    if (contents === null) return;
    const collectionKey = firstCollectionKey(document, text);
    if (collectionKey !== undefined) {
      result.errors.push({ file, document: documentNumber, line: lineOf(collectionKey.offset), message: `invalid YAML: invalid map key ${collectionKey.text}: a key must be a string, number, boolean or null` });
      return;
    }
    restoreGoYamlFlowScalars(document, text);
    let value: unknown;
    try {
      value = document.toJS({ maxAliasCount: 1000 });
    } catch (error) {
      // toJS throws only for alias abuse (a "billion laughs" document); report it like bad YAML.
      result.errors.push({ file, document: documentNumber, line, message: `invalid YAML: ${error instanceof Error ? error.message : String(error)}` });
      return;
    }
    if (value === null || value === undefined) return;
    const source: SourceRef = { file, document: documentNumber, line };
    if (isJsonObject(value) && isKubernetesList(value)) {
      readList(value, document, source, options, lineOf).forEach(([read, itemSource]) => add(read, itemSource));
      return;
    }
    add(readIstioObject(value, source, options), source);
  });
  return result;
}

/** The line break, document marker and line break between two JSON documents of a stream. */
const JSON_DOCUMENT_SEPARATOR = '\n---\n';

/**
 * Reads `text` with `JSON.parse` when it is nothing but JSON objects separated by `---` lines (what
 * generators and `kubectl get -o json` pipelines write), with the 1-based line of each object's `{`;
 * undefined for any other text, which the YAML parser then reads. JSON is YAML, and for such a text the
 * YAML parser yields the same values: the values below are exactly those of JSON, a JSON string cannot
 * hold a line break (so a `---` line is always a separator) and restoreGoYamlFlowScalars has no plain
 * scalar to act on. Where the two differ the text goes to the YAML parser, so its errors and their lines
 * stay as they are: invalid JSON, duplicate keys (JSON.parse keeps the last one, YAML rejects them),
 * carriage returns, anything but an object, and Kubernetes Lists (their items' lines come from the YAML
 * nodes).
 */
function readJsonDocuments(text: string): { value: JsonObject; line: number }[] | undefined {
  if (text.includes('\r')) return undefined;
  const documents: { value: JsonObject; line: number }[] = [];
  let start = text.startsWith('---\n') ? 4 : 0;
  let line = start === 0 ? 1 : 2;
  while (start <= text.length) {
    const separator = text.indexOf(JSON_DOCUMENT_SEPARATOR, start);
    const end = separator === -1 ? text.length : separator;
    const open = firstNonBlank(text, start, end);
    if (open === end || text.charCodeAt(open) !== OPEN_BRACE) return undefined;
    let value: unknown;
    try {
      value = JSON.parse(text.slice(open, end));
    } catch {
      return undefined;
    }
    if (!isJsonObject(value) || isKubernetesList(value) || countMembers(value) !== countColonsOutsideStrings(text, open, end)) return undefined;
    const lineOfOpen = line + countLineBreaks(text, start, open);
    documents.push({ value, line: lineOfOpen });
    line = lineOfOpen + countLineBreaks(text, open, end) + 2;
    start = end + JSON_DOCUMENT_SEPARATOR.length;
  }
  return documents;
}

const OPEN_BRACE = 0x7b;
const BACKSLASH = 0x5c;
const SPACE = 0x20;
const LINE_FEED = 0x0a;

/** The first character from `start` that is not a space or line break (a tab there would be YAML indentation). */
function firstNonBlank(text: string, start: number, end: number): number {
  let index = start;
  while (index < end && (text.charCodeAt(index) === SPACE || text.charCodeAt(index) === LINE_FEED)) index++;
  return index;
}

function countLineBreaks(text: string, start: number, end: number): number {
  let count = 0;
  for (let index = text.indexOf('\n', start); index !== -1 && index < end; index = text.indexOf('\n', index + 1)) count++;
  return count;
}

/**
 * Object members in valid JSON text: outside strings, every `:` separates one member's key and value.
 * The quotes and colons are found with `indexOf`, which searches natively, and each string is jumped
 * over whole: reading every character in JavaScript took 40 to 70 ms of a 14 MB file of 50,000
 * objects, the native searches 28 to 36 ms.
 */
function countColonsOutsideStrings(text: string, start: number, end: number): number {
  let count = 0;
  let index = start;
  let colon = indexOrEnd(text, ':', start, end);
  for (;;) {
    const quote = indexOrEnd(text, '"', index, end);
    while (colon < quote) {
      count++;
      colon = indexOrEnd(text, ':', colon + 1, end);
    }
    if (quote === end) return count;
    index = closingQuote(text, quote + 1, end) + 1;
    // Colons inside the string are not members.
    if (colon < index) colon = indexOrEnd(text, ':', index, end);
  }
}

/** Where `search` is first found in `text` from `from`, or `end` if not before it. */
function indexOrEnd(text: string, search: string, from: number, end: number): number {
  const found = text.indexOf(search, from);
  return found === -1 || found > end ? end : found;
}

/** The quote closing the JSON string whose content starts at `from`: the first not escaped, that is not after an odd run of backslashes. */
function closingQuote(text: string, from: number, end: number): number {
  let quote = indexOrEnd(text, '"', from, end);
  while (quote < end && isEscaped(text, quote)) quote = indexOrEnd(text, '"', quote + 1, end);
  return quote;
}

function isEscaped(text: string, at: number): boolean {
  let backslashes = 0;
  for (let index = at - 1; text.charCodeAt(index) === BACKSLASH; index--) backslashes++;
  return backslashes % 2 === 1;
}

/** Object members in a parsed JSON value; fewer than in its text when a key was repeated. */
function countMembers(value: unknown): number {
  if (Array.isArray(value)) {
    let count = 0;
    for (const item of value) count += countMembers(item);
    return count;
  }
  if (value === null || typeof value !== 'object') return 0;
  let count = 0;
  for (const key in value) count += 1 + countMembers((value as Record<string, unknown>)[key]);
  return count;
}

/** Longest excerpt of a bad key an error message quotes. */
const KEY_EXCERPT_CHARS = 60;

/**
 * The first mapping key that is itself a sequence or mapping (`? [a, b] : x`). JSON has no such key,
 * and Kubernetes and istiod read YAML by converting it to JSON (`sigs.k8s.io/yaml` `YAMLToJSON`), which
 * fails on one ("invalid map key"), so the document is refused; the yaml library would instead make
 * the key a string.
 */
function firstCollectionKey(document: Document, source: string): { offset: number; text: string } | undefined {
  let found: { offset: number; text: string } | undefined;
  visit(document, {
    Pair(_, pair) {
      if (!isCollection(pair.key)) return undefined;
      const [start, end] = pair.key.range ?? [0, 0];
      const text = source.slice(start, end).trim().replace(/\s+/g, ' ');
      found = { offset: start, text: text.length > KEY_EXCERPT_CHARS ? `${text.slice(0, KEY_EXCERPT_CHARS)}...` : text };
      return visit.BREAK;
    },
  });
  return found;
}

/**
 * Kubernetes reads YAML with go-yaml, where a `:` ends a plain scalar only when a blank follows it; the
 * YAML 1.2 grammar also ends it before a flow indicator. So `addresses: [1.2.3.4, 2001:db8::]` is the
 * string `2001:db8::` to Kubernetes (and in Istio's own fixtures) but a one-pair map `{"2001:db8:": null}`
 * to a 1.2 parser. This turns such pairs (plain key, `:` glued to it and to the next `,` or `]`, no
 * value) back into the string Kubernetes sees.
 */
function restoreGoYamlFlowScalars(document: Document, text: string): void {
  visit(document, {
    Seq(_, sequence) {
      if (!sequence.flow) return;
      sequence.items = sequence.items.map((item) => {
        if (!isMap(item) || item.items.length !== 1) return item;
        const [pair] = item.items;
        const key = pair?.key;
        const value = pair?.value;
        if (!isScalar(key) || key.type !== Scalar.PLAIN || key.range === null || key.range === undefined) return item;
        const colon = key.range[1];
        const valueIsEmpty = value === null || (isScalar(value) && value.source === '' && value.range?.[0] === colon + 1);
        if (!valueIsEmpty || text[colon] !== ':' || (text[colon + 1] !== ',' && text[colon + 1] !== ']')) return item;
        const scalar = new Scalar(text.slice(key.range[0], colon + 1));
        scalar.range = [key.range[0], colon + 1, colon + 1];
        return scalar;
      });
    },
  });
}

function readList(
  list: JsonObject,
  document: Document,
  source: SourceRef,
  options: ParseOptions,
  lineOf: (offset: number) => number,
): [ReadObjectResult, SourceRef][] {
  const items = list['items'];
  if (items === null) return [];
  if (!Array.isArray(items)) return [[{ type: 'error', message: `${String(list['kind'])} items must be a list, not ${describeShape(items)}` }, source]];
  const nodes = listItemNodes(document);
  // Items of a typed list (`ServiceEntryList`) may leave out apiVersion and kind, as API server list
  // responses do; they inherit them from the list.
  const listKind = String(list['kind']);
  const itemKind = listKind === 'List' ? undefined : listKind.slice(0, -'List'.length);
  return items.map((item: unknown, index): [ReadObjectResult, SourceRef] => {
    const node = nodes[index];
    const itemSource: SourceRef = { ...source, line: node?.range ? lineOf(node.range[0]) : source.line, item: index };
    let value = item;
    if (itemKind !== undefined && isJsonObject(item)) {
      value = { apiVersion: list['apiVersion'], kind: itemKind, ...item };
    }
    return [readIstioObject(value, itemSource, options), itemSource];
  });
}
