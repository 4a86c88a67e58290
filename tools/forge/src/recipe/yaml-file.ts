import { readFileSync } from 'node:fs';
import { LineCounter, isMap, isSeq, parseDocument, type Document, type Node } from 'yaml';
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

export function parseYamlText(path: string, source: string): YamlFile {
  const lineCounter = new LineCounter();
  const doc = parseDocument(source, { lineCounter, uniqueKeys: true, prettyErrors: true });
  const first = doc.errors[0];
  if (first) {
    const line = first.linePos?.[0]?.line;
    throw new ForgeError(`YAML syntax error: ${firstLine(first.message)}`, { file: path, line });
  }
  const lineOf = (keys: ReadonlyArray<string | number>): number | undefined => {
    const node = nearestNode(doc, keys);
    const offset = node?.range?.[0];
    return offset === undefined ? undefined : lineCounter.linePos(offset).line;
  };
  const sourceOf = (keys: ReadonlyArray<string | number>): string | undefined => {
    const node = doc.getIn(keys, true) as { type?: string; source?: string } | undefined;
    return node && node.type === 'PLAIN' && typeof node.source === 'string' ? node.source : undefined;
  };
  return { path, text: source, value: doc.toJS({ maxAliasCount: 1000 }), lineOf, sourceOf };
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
