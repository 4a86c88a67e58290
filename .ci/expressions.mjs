// GitHub Actions expressions (`${{ … }}`), enough of them to run the workflow's own
// conditions, environments and env values in the rehearsal: literals, context
// properties (`a.b`, `a['b']`, `a[0]`), `!`, `==`, `!=`, `<`, `<=`, `>`, `>=`, `&&`,
// `||`, parentheses, and the functions fromJSON, toJSON, contains, startsWith,
// format and the status functions. Anything else is an error, so the workflow
// cannot use what the rehearsal would silently get wrong.

const TOKEN = /\s*(?:('(?:[^']|'')*')|(\d+(?:\.\d+)?)|([A-Za-z_][A-Za-z0-9_-]*)|(==|!=|<=|>=|&&|\|\||[!<>()[\].,]))/y;

function tokenize(text) {
  const tokens = [];
  TOKEN.lastIndex = 0;
  while (TOKEN.lastIndex < text.length) {
    if (/^\s*$/.test(text.slice(TOKEN.lastIndex))) break;
    const at = TOKEN.lastIndex;
    const match = TOKEN.exec(text);
    if (!match) throw new Error(`cannot read the expression \`${text}\` at ${text.slice(at)}`);
    if (match[1] !== undefined) tokens.push({ type: 'value', value: match[1].slice(1, -1).replace(/''/g, "'") });
    else if (match[2] !== undefined) tokens.push({ type: 'value', value: Number(match[2]) });
    else if (match[3] !== undefined) tokens.push({ type: 'name', value: match[3] });
    else tokens.push({ type: 'op', value: match[4] });
  }
  return tokens;
}

const truthy = (value) => !(value === false || value === null || value === undefined || value === 0 || value === '' || Number.isNaN(value));

function equal(a, b) {
  if (a === undefined) a = null;
  if (b === undefined) b = null;
  if (typeof a === 'string' && typeof b === 'string') return a.toLowerCase() === b.toLowerCase();
  if (typeof a === typeof b) return a === b;
  const number = (v) => (v === null ? 0 : typeof v === 'boolean' ? Number(v) : typeof v === 'string' ? (v.trim() === '' ? 0 : Number(v)) : NaN);
  return number(a) === number(b);
}

/** Evaluates one expression (without `${{ }}`) against contexts and status functions. */
export function evaluate(text, contexts, status = {}) {
  const tokens = tokenize(text);
  let i = 0;
  const peek = (value) => tokens[i]?.type === 'op' && tokens[i].value === value;
  const expect = (value) => {
    if (!peek(value)) throw new Error(`\`${value}\` expected in \`${text}\``);
    i++;
  };
  const functions = {
    fromjson: (s) => JSON.parse(s),
    tojson: (v) => JSON.stringify(v ?? null, null, 2),
    contains: (hay, needle) => (Array.isArray(hay) ? hay.some((x) => equal(x, needle)) : String(hay ?? '').toLowerCase().includes(String(needle ?? '').toLowerCase())),
    startswith: (s, p) => String(s ?? '').toLowerCase().startsWith(String(p ?? '').toLowerCase()),
    format: (f, ...args) => String(f).replace(/\{(\d+)\}/g, (_, n) => String(args[Number(n)] ?? '')),
    success: () => status.success ?? true,
    failure: () => status.failure ?? false,
    cancelled: () => false,
    always: () => true,
  };
  const or = () => {
    let left = and();
    while (peek('||')) {
      i++;
      const right = and();
      left = truthy(left) ? left : right;
    }
    return left;
  };
  const and = () => {
    let left = compare();
    while (peek('&&')) {
      i++;
      const right = compare();
      left = truthy(left) ? right : left;
    }
    return left;
  };
  const compare = () => {
    let left = unary();
    for (;;) {
      const op = ['==', '!=', '<', '<=', '>', '>='].find((o) => peek(o));
      if (!op) return left;
      i++;
      const right = unary();
      left = op === '==' ? equal(left, right) : op === '!=' ? !equal(left, right) : op === '<' ? left < right : op === '<=' ? left <= right : op === '>' ? left > right : left >= right;
    }
  };
  const unary = () => {
    if (peek('!')) {
      i++;
      return !truthy(unary());
    }
    return postfix();
  };
  const postfix = () => {
    let value = primary();
    for (;;) {
      if (peek('.')) {
        i++;
        const name = tokens[i++];
        if (name?.type !== 'name') throw new Error(`a property name expected in \`${text}\``);
        value = value?.[name.value] ?? null;
      } else if (peek('[')) {
        i++;
        const index = or();
        expect(']');
        value = value?.[index] ?? null;
      } else return value;
    }
  };
  const primary = () => {
    const token = tokens[i++];
    if (!token) throw new Error(`\`${text}\` ends early`);
    if (token.type === 'value') return token.value;
    if (token.type === 'op' && token.value === '(') {
      const value = or();
      expect(')');
      return value;
    }
    if (token.type === 'name') {
      if (token.value === 'true') return true;
      if (token.value === 'false') return false;
      if (token.value === 'null') return null;
      if (peek('(')) {
        i++;
        const args = [];
        while (!peek(')')) {
          args.push(or());
          if (!peek(')')) expect(',');
        }
        i++;
        const fn = functions[token.value.toLowerCase()];
        if (!fn) throw new Error(`the rehearsal does not know the function ${token.value}() in \`${text}\``);
        return fn(...args);
      }
      if (!(token.value in contexts)) throw new Error(`the rehearsal has no context \`${token.value}\` for \`${text}\``);
      return contexts[token.value];
    }
    throw new Error(`unexpected \`${token.value}\` in \`${text}\``);
  };
  const value = or();
  if (i !== tokens.length) throw new Error(`unexpected \`${tokens[i].value}\` in \`${text}\``);
  return value;
}

/** Does the expression call a status function (else GitHub puts `success() &&` in front of a job's or step's `if`)? */
export const hasStatusCheck = (text) => /\b(success|failure|cancelled|always)\(\)/.test(text);

/** A value with `${{ }}` in it: the expression's own value when it is the whole string, else the string with each one replaced. */
export function interpolate(value, contexts, status) {
  if (typeof value !== 'string') {
    if (Array.isArray(value)) return value.map((v) => interpolate(v, contexts, status));
    if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, interpolate(v, contexts, status)]));
    return value;
  }
  const whole = /^\s*\$\{\{([\s\S]*?)\}\}\s*$/.exec(value);
  if (whole) return evaluate(whole[1], contexts, status);
  return value.replace(/\$\{\{([\s\S]*?)\}\}/g, (_, expr) => {
    const result = evaluate(expr, contexts, status);
    return result === null || result === undefined ? '' : typeof result === 'object' ? JSON.stringify(result) : String(result);
  });
}

/** A job's or step's `if:` (with or without `${{ }}`), as GitHub decides it. */
export function condition(text, contexts, status) {
  if (text === undefined) return status.success ?? true;
  const expr = /^\s*\$\{\{([\s\S]*)\}\}\s*$/.exec(String(text))?.[1] ?? String(text);
  const value = truthy(evaluate(expr, contexts, status));
  return hasStatusCheck(expr) ? value : value && (status.success ?? true);
}
