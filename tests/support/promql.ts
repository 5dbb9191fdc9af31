/** A series selector in a PromQL expression: the metric's name and the label names it matches on. */
export interface Selector {
  metric: string;
  labels: string[];
}

// Words that read like names but are PromQL's own (operators, modifiers, and number literals).
const KEYWORDS = new Set(['and', 'or', 'unless', 'bool', 'offset', 'inf', 'nan', 'atan2']);
// Aggregations may put their grouping first: `sum by (job) (...)`.
const AGGREGATIONS = new Set(['sum', 'min', 'max', 'avg', 'group', 'stddev', 'stdvar', 'count', 'count_values', 'bottomk', 'topk', 'quantile', 'limitk', 'limit_ratio']);
// Words followed by a list of label names in parentheses, not by a call's arguments.
const LABEL_LISTS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right']);

/**
 * The series selectors of a PromQL expression, as written (`_bucket`, `_count` and `_sum` kept): a small scanner
 * that skips strings, ranges (`[5m]`, `[$__rate_interval]`), function names, grouping label lists and numbers.
 * Grafana's `$variables` may appear anywhere a string or a range does.
 */
export function selectors(expr: string): Selector[] {
  const found: Selector[] = [];
  let i = 0;
  while (i < expr.length) {
    const c = expr[i]!;
    if (c === '"' || c === "'" || c === '`') {
      i = endOfString(expr, i);
    } else if (c === '[') {
      i = expr.indexOf(']', i) + 1;
    } else if (c === '{') {
      // A selector without a name ({__name__="..."}): the dashboards here have none.
      const m = matchers(expr, i);
      const name = m.pairs.find(([label]) => label === '__name__');
      if (name) found.push({ metric: name[1], labels: m.pairs.map(([label]) => label).filter((l) => l !== '__name__') });
      i = m.end;
    } else if (/\d/.test(c) || (c === '.' && /\d/.test(expr[i + 1] ?? ''))) {
      i += /^[\w.]+/.exec(expr.slice(i))![0].length; // 0.99, 1e3, 0x1f, 5m
    } else if (/[A-Za-z_:]/.test(c)) {
      const word = /^[A-Za-z_:][\w:]*/.exec(expr.slice(i))![0];
      let j = i + word.length;
      while (/\s/.test(expr[j] ?? '')) j++;
      if (AGGREGATIONS.has(word.toLowerCase()) && /^(by|without)\s*\(/i.test(expr.slice(j))) {
        i = j;
      } else if (expr[j] === '(') {
        i = LABEL_LISTS.has(word.toLowerCase()) ? expr.indexOf(')', j) + 1 : j + 1;
      } else if (KEYWORDS.has(word.toLowerCase()) || LABEL_LISTS.has(word.toLowerCase())) {
        i += word.length;
      } else if (expr[j] === '{') {
        const m = matchers(expr, j);
        found.push({ metric: word, labels: m.pairs.map(([label]) => label) });
        i = m.end;
      } else {
        found.push({ metric: word, labels: [] });
        i += word.length;
      }
    } else {
      i++;
    }
  }
  return found;
}

/** The metric a Grafana variable's `label_values(selector, label)` query reads, as a selector. */
export function variableSelectors(query: string): Selector[] {
  const m = /^\s*label_values\((.*?)(?:,\s*[\w]+)?\)\s*$/.exec(query);
  if (m) return selectors(m[1]!);
  return /^\s*label_names\(|^\s*metrics\(/.test(query) ? [] : selectors(query.replace(/^\s*query_result\(|\)\s*$/g, ''));
}

function endOfString(expr: string, start: number): number {
  const quote = expr[start]!;
  let i = start + 1;
  while (i < expr.length && expr[i] !== quote) i += expr[i] === '\\' && quote !== '`' ? 2 : 1;
  return i + 1;
}

/** The `label op "value"` pairs (values as written) of a `{...}` starting at `start`, and where it ends. */
function matchers(expr: string, start: number): { pairs: [string, string][]; end: number } {
  const pairs: [string, string][] = [];
  let i = start + 1;
  while (i < expr.length && expr[i] !== '}') {
    const m = /^\s*([A-Za-z_]\w*)\s*(=~|!~|!=|=)\s*/.exec(expr.slice(i));
    if (!m) {
      i++;
      continue;
    }
    i += m[0].length;
    const end = endOfString(expr, i);
    pairs.push([m[1]!, expr.slice(i + 1, end - 1)]); // as written, escapes and all
    i = end;
    while (/[\s,]/.test(expr[i] ?? '')) i++;
  }
  return { pairs, end: i + 1 };
}
