import { readFileSync } from 'node:fs';
import { LineCounter, isMap, isSeq, parse, parseDocument, type Document, type Node, type SchemaOptions } from 'yaml';
import { ForgeError } from '../errors.js';

/** A parsed YAML file that can still tell on which line a value stood. */
export interface YamlFile {
  readonly path: string;
  readonly text: string;
  readonly value: unknown;
  /** Line (1-based) of the node at a path of keys and indices, or of its nearest ancestor. */
  lineOf(path: ReadonlyArray<string | number>): number | undefined;
  /** The text of a plain scalar as written (`3.10`, not 3.1); undefined for other nodes. */
  sourceOf(path: ReadonlyArray<string | number>): string | undefined;
}

export function readYamlFile(path: string, text?: string): YamlFile {
  let source: string;
  try {
    source = text ?? readFileSync(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new ForgeError(code === 'ENOENT' ? 'file not found' : `cannot read file (${code ?? String(error)})`, { file: path });
  }
  return parseYamlText(path, source);
}

/**
 * The value comes from yaml's plain `parse`, about half the time of building
 * the document with its line table, which is needed only to name a line (in
 * an error, mostly) or read a scalar as written: it is built on first use.
 */
export function parseYamlText(path: string, source: string): YamlFile {
  let parsed: { doc: Document; lineCounter: LineCounter } | undefined;
  const document = () => (parsed ??= parseWithLines(path, source));
  let value: unknown;
  try {
    // logLevel 'error': throw on errors (as the document lists them), print no warnings.
    value = parse(source, { uniqueKeys: true, maxAliasCount: 1000, logLevel: 'error', customTags: floatsAsWritten });
  } catch (error) {
    document(); // a syntax error: thrown with its line
    throw new ForgeError(`YAML error: ${firstLine((error as Error).message)}`, { file: path });
  }
  const lineOf = (keys: ReadonlyArray<string | number>): number | undefined => {
    const { doc, lineCounter } = document();
    const node = nearestNode(doc, keys);
    const offset = node?.range?.[0];
    return offset === undefined ? undefined : lineCounter.linePos(offset).line;
  };
  const sourceOf = (keys: ReadonlyArray<string | number>): string | undefined => {
    const node = document().doc.getIn(keys, true) as { type?: string; source?: string } | undefined;
    return node && node.type === 'PLAIN' && typeof node.source === 'string' ? node.source : undefined;
  };
  return { path, text: source, value, lineOf, sourceOf };
}

/**
 * Floats stay the text written: rattler-build reads `version: 3.10` as "3.10" and
 * `1.0` as "1.0", where a JS number would print 3.1 and 1. Integers and booleans keep their type.
 */
const floatsAsWritten = (tags: Tags): Tags => tags.map((tag) => (typeof tag === 'object' && tag.tag === 'tag:yaml.org,2002:float' && !('collection' in tag) ? { ...tag, resolve: (text: string) => text } : tag));
type Tags = Extract<NonNullable<SchemaOptions['customTags']>, unknown[]>;

function parseWithLines(path: string, source: string): { doc: Document; lineCounter: LineCounter } {
  const lineCounter = new LineCounter();
  const doc = parseDocument(source, { lineCounter, uniqueKeys: true, prettyErrors: true });
  const first = doc.errors[0];
  if (first) {
    const line = first.linePos?.[0]?.line;
    throw new ForgeError(`YAML syntax error: ${firstLine(first.message)}`, { file: path, line });
  }
  return { doc, lineCounter };
}

function nearestNode(doc: Document, keys: ReadonlyArray<string | number>): Node | undefined {
  let node: unknown = doc.contents;
  let found = node as Node | undefined;
  for (const [index, key] of keys.entries()) {
    if (isMap(node)) {
      const pair = node.items.find((item) => (item.key as { value?: unknown } | null)?.value === key);
      if (!pair) break;
      node = pair.value;
      // The last step points at the key: a block value starts a line later.
      found = index === keys.length - 1 || !pair.value ? (pair.key as Node) : (pair.value as Node);
    } else if (isSeq(node) && typeof key === 'number') {
      node = node.items[key];
      if (!node) break;
      found = node as Node;
    } else {
      break;
    }
  }
  return found;
}

function firstLine(message: string): string {
  return message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
}
