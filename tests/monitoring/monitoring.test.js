// Checks of the Prometheus rules and the Grafana dashboard (deploy/components/monitoring)
// against what the services export, run by ctest (monitoring_references) with Node's own
// test runner and promtool ($PROMTOOL). No npm packages: node and promtool only.
//
// The exported set is read from the C++ sources (every AddCounter / AddGauge /
// AddHistogram / AddCallback and MetricType table in common/ and services/), not from a
// running server's /metrics: the suite needs Redis, certificates and three processes to
// serve them all. SANHAK_METRICS_SCRAPES (comma-separated http:// URLs or files holding a
// scrape) adds a check against real scrapes when given.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { execFileSync } = require('node:child_process');

const REPO = path.resolve(__dirname, '..', '..');
const RULES = path.join(REPO, 'deploy/components/monitoring/rules/sanhak-alerts.yaml');
const RULE_TESTS = path.join(__dirname, 'sanhak-alerts.test.yaml');
const DASHBOARD = path.join(REPO, 'deploy/components/monitoring/dashboards/sanhak.json');
const DOCS = path.join(REPO, 'docs/metrics.md');
const PROMTOOL = process.env.PROMTOOL || 'promtool';

// Labels Prometheus adds to every series it scrapes (the scrape config or the Operator's
// relabelling), so rules and panels may use them on any metric.
const TARGET_LABELS = new Set(['job', 'instance', 'namespace', 'pod', 'container', 'service_name']);
// Series Prometheus itself makes.
const PROMETHEUS_SERIES = new Map([
  ['up', new Set()],
  ['ALERTS', new Set(['alertname', 'alertstate', 'severity'])],
]);
// The call types.
const GRPC_TYPES = new Set(['unary', 'client_stream', 'server_stream', 'bidi_stream']);

// ---- what the services export --------------------------------------------------------

function sourceFiles(dir) {
  const out = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...sourceFiles(p));
    else if (/\.(cc|h)$/.test(entry.name)) out.push(p);
  }
  return out;
}

// The text of a call from its opening parenthesis to the matching one, strings skipped.
function callText(src, open) {
  let depth = 0;
  for (let i = open; i < src.length; i++) {
    const c = src[i];
    if (c === '"') {
      for (i++; i < src.length && src[i] !== '"'; i++) if (src[i] === '\\') i++;
    } else if (c === '(') depth++;
    else if (c === ')' && --depth === 0) return src.slice(open, i + 1);
  }
  return src.slice(open);
}

function exportedMetrics() {
  const metrics = new Map(); // name -> {type, labels: Set, file}
  const add = (name, type, labels, file) => {
    const known = metrics.get(name);
    if (known) {
      assert.equal(known.type, type, `${name} registered as ${known.type} and ${type}`);
      labels.forEach((l) => known.labels.add(l));
    } else metrics.set(name, { type, labels: new Set(labels), file });
  };
  const files = ['common', 'services'].flatMap((d) => sourceFiles(path.join(REPO, d)));
  for (const file of files) {
    const src = fs.readFileSync(file, 'utf8');
    const rel = path.relative(REPO, file);
    for (const m of src.matchAll(/\bAdd(Counter|Gauge|Histogram)\(\s*"([a-zA-Z_:][a-zA-Z0-9_:]*)"/g)) {
      const call = callText(src, m.index + m[0].indexOf('('));
      const labels = [];
      for (const list of call.matchAll(/\{\s*("[a-z_][a-z0-9_]*"(?:\s*,\s*"[a-z_][a-z0-9_]*")*)\s*\}/g)) {
        for (const l of list[1].matchAll(/"([^"]+)"/g)) labels.push(l[1]);
      }
      add(m[2], m[1].toLowerCase(), labels, rel);
    }
    // AddCallback(MetricType::kGauge, "name", ...) and tables of {MetricType::kX, "name", ...}.
    for (const m of src.matchAll(/MetricType::k(Counter|Gauge)\s*,\s*"([a-zA-Z_:][a-zA-Z0-9_:]*)"/g)) {
      add(m[2], m[1].toLowerCase(), [], rel);
    }
  }
  return metrics;
}

// Series names as they appear in a scrape: a histogram's _bucket (with `le`), _sum, _count.
function exportedSeries(metrics) {
  const series = new Map(PROMETHEUS_SERIES);
  for (const [name, m] of metrics) {
    if (m.type === 'histogram') {
      series.set(`${name}_bucket`, new Set([...m.labels, 'le']));
      series.set(`${name}_sum`, m.labels);
      series.set(`${name}_count`, m.labels);
    } else series.set(name, m.labels);
  }
  return series;
}

// gRPC status codes as the services spell them in grpc_code: the names listed in
// GoGrpcCodeName's table in common/grpc_metrics.cc (go-grpc-prometheus's spelling, Go's
// codes.Code.String(): "OK", "NotFound", ...), one per code.
function grpcCodes() {
  const file = path.join(REPO, 'common/grpc_metrics.cc');
  const src = fs.readFileSync(file, 'utf8');
  const def = src.match(/\bGoGrpcCodeName\s*\([^)]*\)\s*\{/);
  assert.ok(def, `GoGrpcCodeName's definition not found in ${file}`);
  const body = src.slice(def.index + def[0].length);
  const table = body.match(/\bkNames\s*\[[^\]]*\]\s*=\s*\{([^}]*)\}/);
  assert.ok(table, `GoGrpcCodeName's kNames table not found in ${file}`);
  const names = [...table[1].matchAll(/"([^"\\]*)"/g)].map((m) => m[1]);
  assert.equal(names.length, 17, `GoGrpcCodeName: ${names.length} names, not one per gRPC code`);
  assert.equal(names[0], 'OK', 'GoGrpcCodeName: code 0 is not "OK"');
  assert.equal(new Set(names).size, names.length, 'GoGrpcCodeName: a name twice');
  return new Set(names);
}
const GRPC_CODES = grpcCodes();

function latencyBuckets() {
  const src = fs.readFileSync(path.join(REPO, 'common/metrics.cc'), 'utf8');
  const m = src.match(/LatencyBuckets\(\)\s*\{[^{]*\{([^}]*)\}/);
  assert.ok(m, 'LatencyBuckets() not found in common/metrics.cc');
  return m[1].split(',').map((s) => s.trim()).filter(Boolean);
}

// ---- PromQL: the series and labels an expression refers to -------------------------

const KEYWORDS = new Set(['and', 'or', 'unless', 'bool', 'offset', 'by', 'without', 'on',
  'ignoring', 'group_left', 'group_right', 'inf', 'nan', 'atan2']);
// Aggregation operators: `sum by (l) (...)` puts a label list between the name and its
// parenthesis.
const AGGREGATORS = new Set(['sum', 'min', 'max', 'avg', 'group', 'stddev', 'stdvar', 'count',
  'count_values', 'bottomk', 'topk', 'quantile']);
const LABEL_LISTS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right']);

// Grafana's variables, replaced as Grafana would (a multi-value "All" is `.*`).
function substituteGrafana(expr) {
  return expr
    .replace(/\$__rate_interval|\$\{__rate_interval\}/g, '5m')
    .replace(/\$__interval|\$\{__interval\}/g, '1m')
    .replace(/\$__range|\$\{__range\}/g, '1h')
    .replace(/\$\{?(namespace|job|instance)\}?/g, '.*');
}

// Returns {selectors: [{name, matchers: [{label, op, value}]}], groupLabels: [..]}.
function parsePromQL(expr) {
  const selectors = [];
  const groupLabels = [];
  let i = 0;
  const n = expr.length;
  const skipSpace = () => { while (i < n && /\s/.test(expr[i])) i++; };
  const readString = () => {
    const q = expr[i++];
    let s = '';
    while (i < n && expr[i] !== q) {
      if (expr[i] === '\\' && q !== '`') { s += expr[i + 1]; i += 2; } else s += expr[i++];
    }
    i++;
    return s;
  };
  const readIdent = () => {
    const m = expr.slice(i).match(/^[a-zA-Z_:][a-zA-Z0-9_:]*/);
    i += m[0].length;
    return m[0];
  };
  const readMatchers = () => {
    const matchers = [];
    i++; // {
    for (;;) {
      skipSpace();
      if (expr[i] === '}') { i++; return matchers; }
      if (expr[i] === ',') { i++; continue; }
      const label = readIdent();
      skipSpace();
      const op = expr.slice(i).match(/^(=~|!~|!=|=)/)[0];
      i += op.length;
      skipSpace();
      matchers.push({ label, op, value: readString() });
    }
  };
  while (i < n) {
    const c = expr[i];
    if (/\s/.test(c)) { i++; continue; }
    if (c === '"' || c === "'" || c === '`') { readString(); continue; }
    if (c === '[') { while (i < n && expr[i] !== ']') i++; i++; continue; }
    if (c === '#') { while (i < n && expr[i] !== '\n') i++; continue; }
    if (/[0-9.]/.test(c)) { i++; while (i < n && /[0-9a-zA-Z_.]/.test(expr[i])) i++; continue; }
    if (c === '{') { selectors.push({ name: null, matchers: readMatchers() }); continue; }
    if (/[a-zA-Z_:]/.test(c)) {
      const word = readIdent();
      skipSpace();
      if (LABEL_LISTS.has(word) && expr[i] === '(') {
        const close = expr.indexOf(')', i);
        expr.slice(i + 1, close).split(',').map((s) => s.trim()).filter(Boolean)
          .forEach((l) => groupLabels.push(l));
        i = close + 1;
        continue;
      }
      if (KEYWORDS.has(word) || AGGREGATORS.has(word) || expr[i] === '(') continue; // an operator, a function
      selectors.push({ name: word, matchers: expr[i] === '{' ? readMatchers() : [] });
      continue;
    }
    i++; // an operator or a parenthesis
  }
  return { selectors, groupLabels };
}

// Problems with what `expr` refers to, given the exported series and the recorded names.
function referenceProblems(where, expr, series, recorded) {
  const problems = [];
  const { selectors, groupLabels } = parsePromQL(expr);
  const usable = new Set(TARGET_LABELS);
  if (selectors.length === 0) problems.push(`${where}: refers to no series`);
  for (const { name, matchers } of selectors) {
    if (name === null) { problems.push(`${where}: a selector without a metric name`); continue; }
    let labels;
    if (name.includes(':')) {
      if (!recorded.has(name)) problems.push(`${where}: ${name} is recorded by no rule`);
      labels = recorded.get(name) || new Set();
    } else if (!series.has(name)) {
      problems.push(`${where}: ${name} is not exported by the services`);
      continue;
    } else labels = series.get(name);
    labels.forEach((l) => usable.add(l));
    for (const { label, value, op } of matchers) {
      if (!labels.has(label) && !TARGET_LABELS.has(label)) {
        problems.push(`${where}: ${name} has no label ${label}`);
      }
      const allowed = label === 'grpc_code' ? GRPC_CODES : label === 'grpc_type' ? GRPC_TYPES : null;
      if (allowed) {
        // Plain values and alternations of them; a value no series has is a typo (say
        // the call log's "INTERNAL" for the metric's "Internal").
        for (const v of (op.endsWith('~') ? value.split('|') : [value])) {
          if (!allowed.has(v)) problems.push(`${where}: ${label}="${v}" is not a value the services export`);
        }
      }
    }
  }
  for (const l of groupLabels) {
    if (!usable.has(l)) problems.push(`${where}: groups by ${l}, a label none of its series has`);
  }
  return problems;
}

// ---- the rule file ---------------------------------------------------------------------

// The rules of the file, read line by line (the file keeps to one layout: `- record:` or
// `- alert:` items, `expr:` inline or as a `|` block). promtool's own count of rules is
// compared with this one, so a rule this reader misses fails the test.
function readRules(text) {
  const lines = text.split('\n');
  const rules = [];
  let rule = null;
  for (let k = 0; k < lines.length; k++) {
    const line = lines[k];
    let m;
    if ((m = line.match(/^\s*- (record|alert):\s*(\S+)\s*$/))) {
      rule = { kind: m[1], name: m[2], expr: null, for: null, labels: {}, annotations: {} };
      rules.push(rule);
    } else if (rule && (m = line.match(/^(\s*)expr:\s*(.*)$/))) {
      const indent = m[1].length;
      if (/^[|>][-+]?$/.test(m[2].trim())) {
        const body = [];
        while (k + 1 < lines.length &&
               (lines[k + 1].trim() === '' || lines[k + 1].search(/\S/) > indent)) {
          body.push(lines[++k]);
        }
        rule.expr = body.join('\n').trim();
      } else rule.expr = m[2].trim();
    } else if (rule && (m = line.match(/^\s*for:\s*(\S+)/))) {
      rule.for = m[1];
    } else if (rule && (m = line.match(/^\s*(severity):\s*(\S+)/))) {
      rule.labels[m[1]] = m[2];
    } else if (rule && (m = line.match(/^\s*(summary|description):\s*(.*)$/))) {
      rule.annotations[m[1]] = m[2].trim();
    } else if (/^\s*- name:/.test(line)) {
      rule = null;
    }
  }
  return rules;
}

function recordedLabels(rules, series) {
  // A recording rule keeps its `by (...)` labels; the others are not tracked.
  const recorded = new Map();
  for (const r of rules.filter((x) => x.kind === 'record')) {
    const { groupLabels, selectors } = parsePromQL(r.expr);
    const labels = new Set(groupLabels.filter((l) => l !== 'le'));
    if (groupLabels.length === 0) {
      for (const s of selectors) (recorded.get(s.name) || series.get(s.name) || []).forEach((l) => labels.add(l));
    }
    recorded.set(r.name, labels);
  }
  return recorded;
}

function promtool(args, options = {}) {
  try {
    return { ok: true, out: execFileSync(PROMTOOL, args, { encoding: 'utf8', stdio: 'pipe', ...options }) };
  } catch (e) {
    if (e.code === 'ENOENT') {
      throw new Error(`${PROMTOOL} not found: install Debian's prometheus package (scripts/install-deps.sh)`);
    }
    return { ok: false, out: `${e.stdout || ''}${e.stderr || ''}` };
  }
}

const metrics = exportedMetrics();
const series = exportedSeries(metrics);
const rulesText = fs.readFileSync(RULES, 'utf8');
const rules = readRules(rulesText);
const recorded = recordedLabels(rules, series);

// ---- tests -------------------------------------------------------------------------------

test('the sources export the metrics the documentation lists', () => {
  // The reader of the sources found what the services register...
  for (const name of ['sanhak_grpc_server_handled_total', 'sanhak_grpc_server_handling_seconds',
    'sanhak_outbox_backlog', 'sanhak_analytics_stream_lag', 'sanhak_analytics_watchers',
    'process_resident_memory_bytes', 'sanhak_metrics_connections_dropped_total']) {
    assert.ok(metrics.has(name), `${name} not found in the sources`);
  }
  assert.deepEqual([...metrics.get('sanhak_grpc_server_handled_total').labels],
    ['grpc_type', 'grpc_service', 'grpc_method', 'grpc_code']);
  assert.equal(metrics.get('sanhak_grpc_server_handling_seconds').type, 'histogram');
  // ...and docs/metrics.md's table names each of them, and nothing else.
  const documented = new Set();
  const docs = fs.readFileSync(DOCS, 'utf8');
  const table = docs.match(/<!-- metrics-table -->([\s\S]*?)<!-- \/metrics-table -->/);
  assert.ok(table, 'docs/metrics.md: no <!-- metrics-table --> ... <!-- /metrics-table -->');
  for (const m of table[1].matchAll(/^\| `([a-z_:][a-z0-9_:]*)`/gm)) documented.add(m[1]);
  const missing = [...metrics.keys()].filter((n) => !documented.has(n));
  const stale = [...documented].filter((n) => !metrics.has(n));
  assert.deepEqual(missing, [], 'exported, not in docs/metrics.md\'s table');
  assert.deepEqual(stale, [], 'in docs/metrics.md\'s table, not exported');
});

test('promtool check rules accepts the rule file and counts the rules read here', () => {
  const r = promtool(['check', 'rules', RULES]);
  assert.ok(r.ok, r.out);
  const m = r.out.match(/SUCCESS: (\d+) rules found/);
  assert.ok(m, r.out);
  assert.equal(rules.length, Number(m[1]), 'rules read here vs promtool');
  assert.ok(rules.every((x) => x.expr), 'a rule without an expression');
});

test('every alert has a severity, a summary, a description and a for', () => {
  const alerts = rules.filter((x) => x.kind === 'alert');
  assert.ok(alerts.length >= 10);
  for (const a of alerts) {
    assert.match(a.labels.severity || '', /^(critical|warning|info)$/, `${a.name}: severity`);
    assert.ok(a.annotations.summary, `${a.name}: summary`);
    assert.ok(a.annotations.description, `${a.name}: description`);
    assert.match(a.for || '', /^\d+[smh]$/, `${a.name}: for`);
  }
});

test('the rules refer only to exported metrics, labels and codes', () => {
  const problems = rules.flatMap((r) => referenceProblems(`rule ${r.name}`, r.expr, series, recorded));
  assert.deepEqual(problems, []);
});

test('the unit tests make every alert fire, and keep every one quiet when healthy', () => {
  const text = fs.readFileSync(RULE_TESTS, 'utf8');
  const fires = new Set([...text.matchAll(/alertname: (\w+)\n\s+exp_alerts:/g)].map((m) => m[1]));
  const quiet = new Set([...text.matchAll(/\{eval_time: \w+, alertname: (\w+)\}/g)].map((m) => m[1]));
  for (const a of rules.filter((x) => x.kind === 'alert')) {
    assert.ok(fires.has(a.name), `${a.name}: no test where it fires`);
    assert.ok(quiet.has(a.name), `${a.name}: not in the healthy suite`);
  }
});

test('promtool test rules passes the unit tests', () => {
  const r = promtool(['test', 'rules', RULE_TESTS]);
  assert.ok(r.ok, r.out);
});

// The dashboard ---------------------------------------------------------------------------

const dashboard = JSON.parse(fs.readFileSync(DASHBOARD, 'utf8'));
const panels = dashboard.panels.flatMap((p) => [p, ...(p.panels || [])]).filter((p) => p.type !== 'row');
const targets = panels.flatMap((p) => (p.targets || []).map((t) => ({ panel: p, target: t })));

test('the dashboard is a Grafana dashboard on a ${datasource} variable', () => {
  assert.ok(dashboard.schemaVersion >= 36, 'schemaVersion');
  assert.ok(dashboard.uid && dashboard.title);
  const vars = new Map(dashboard.templating.list.map((v) => [v.name, v]));
  assert.equal(vars.get('datasource')?.type, 'datasource');
  assert.equal(vars.get('datasource')?.query, 'prometheus');
  for (const name of ['namespace', 'job', 'instance']) assert.equal(vars.get(name)?.type, 'query', name);
  const ids = new Set();
  for (const p of panels) {
    assert.ok(!ids.has(p.id), `panel id ${p.id} twice`);
    ids.add(p.id);
    assert.deepEqual(p.datasource, { type: 'prometheus', uid: '${datasource}' }, p.title);
    assert.ok(p.targets?.length, `${p.title}: no query`);
    for (const t of p.targets) {
      assert.equal(t.datasource?.uid, '${datasource}', `${p.title}: target datasource`);
      assert.ok(t.expr, `${p.title}: empty expr`);
    }
  }
  // The panels the monitoring needs.
  const exprs = targets.map((t) => t.target.expr).join('\n');
  for (const m of ['sanhak_grpc_server_handled_total', 'sanhak_grpc_server_handling_seconds_bucket',
    'sanhak_outbox_backlog', 'sanhak_analytics_stream_lag', 'sanhak_analytics_watchers',
    'process_resident_memory_bytes', 'process_cpu_seconds_total']) {
    assert.ok(exprs.includes(m), `no panel shows ${m}`);
  }
  assert.match(exprs, /histogram_quantile\(0\.5,/);
  assert.match(exprs, /histogram_quantile\(0\.99,/);
});

test('the dashboard refers only to exported metrics, labels and codes', () => {
  const problems = [];
  for (const { panel, target } of targets) {
    problems.push(...referenceProblems(`panel "${panel.title}" ${target.refId}`,
      substituteGrafana(target.expr), series, recorded));
  }
  for (const v of dashboard.templating.list.filter((x) => x.type === 'query')) {
    const m = v.definition.match(/^label_values\((.*),\s*([a-z_]+)\)$/);
    assert.ok(m, `variable ${v.name}: ${v.definition}`);
    problems.push(...referenceProblems(`variable ${v.name}`, substituteGrafana(m[1]), series, recorded));
    const labels = series.get(parsePromQL(substituteGrafana(m[1])).selectors[0].name) || new Set();
    if (!labels.has(m[2]) && !TARGET_LABELS.has(m[2])) problems.push(`variable ${v.name}: no label ${m[2]}`);
  }
  assert.deepEqual(problems, []);
});

// Each panel's query, as a recording rule: promtool parses it. Then each as an alert,
// `count(query) > 0`, evaluated by `promtool test rules` on series shaped as the services
// export them (every metric, every label, the real latency buckets): each must fire, so
// each query returns data for a suite that exports what the sources say.
test('promtool accepts every panel query, and each returns data on exported series', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sanhak-dashboard-'));
  try {
    const name = (t) => `panel_${t.panel.id}_${t.target.refId}`;
    const recordFile = path.join(dir, 'panels.rules.json');
    fs.writeFileSync(recordFile, JSON.stringify({ groups: [{ name: 'dashboard', rules:
      targets.map((t) => ({ record: `sanhak_dashboard:${name(t)}`, expr: substituteGrafana(t.target.expr) })) }] }));
    const check = promtool(['check', 'rules', recordFile]);
    assert.ok(check.ok, check.out);

    const alertFile = path.join(dir, 'panels.alerts.json');
    fs.writeFileSync(alertFile, JSON.stringify({ groups: [{ name: 'dashboard', rules:
      targets.map((t) => ({ alert: name(t), expr: `count(${substituteGrafana(t.target.expr)}) > 0` })) }] }));

    const base = { job: 'sanhak', instance: 'r:9451', namespace: 'sanhak' };
    const calls = [
      { grpc_type: 'unary', grpc_service: 'sanhak.registry.v1.RegistryService', grpc_method: 'GetCouncil' },
      { grpc_type: 'server_stream', grpc_service: 'sanhak.analytics.v1.AnalyticsService', grpc_method: 'WatchAggregates' },
    ];
    const values = { service: 'sanhak.registry.v1.RegistryService', reason: 'slow', version: 'test', grpc_version: '1.51.1' };
    const fmt = (n, labels) => `${n}{${Object.entries(labels).map(([k, v]) => `${k}="${v}"`).join(',')}}`;
    const input = [];
    for (const [n, m] of metrics) {
      const label = (l) => values[l] ?? 'x';
      let sets = [{}];
      if (m.labels.has('grpc_method')) sets = calls.map((c) => ({ ...c }));
      if (m.labels.has('grpc_code')) {
        const codes = ['OK', 'Internal', 'ResourceExhausted'];
        codes.forEach((c) => assert.ok(GRPC_CODES.has(c), `${c} is not a grpc_code the services export`));
        sets = sets.flatMap((s) => codes.map((code) => ({ ...s, grpc_code: code })));
      }
      for (const s of sets) {
        const labels = { ...base, ...s };
        for (const l of m.labels) if (!(l in labels)) labels[l] = label(l);
        if (m.type === 'histogram') {
          const les = [...latencyBuckets(), '+Inf'];
          les.forEach((le, k) => input.push({ series: fmt(`${n}_bucket`, { ...labels, le }), values: `0+${k + 1}x30` }));
          input.push({ series: fmt(`${n}_count`, labels), values: `0+${les.length}x30` });
          input.push({ series: fmt(`${n}_sum`, labels), values: '0+1x30' });
        } else {
          input.push({ series: fmt(n, labels), values: m.type === 'counter' ? '0+10x30' : '1x30' });
        }
      }
    }
    const unitTests = path.join(dir, 'panels.test.json');
    fs.writeFileSync(unitTests, JSON.stringify({
      rule_files: [alertFile],
      evaluation_interval: '1m',
      tests: [{ interval: '1m', input_series: input,
        alert_rule_test: targets.map((t) => ({ eval_time: '20m', alertname: name(t), exp_alerts: [{ exp_labels: {} }] })) }],
    }));
    const run = promtool(['test', 'rules', unitTests]);
    assert.ok(run.ok, run.out);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

// Optional: real scrapes. Every name the rules and the dashboard use must be in at least
// one of them (a registry scrape has no analytics metrics, so give one of each service).
test('the names used are in real scrapes (SANHAK_METRICS_SCRAPES)', { skip: !process.env.SANHAK_METRICS_SCRAPES }, async () => {
  const scraped = new Set(PROMETHEUS_SERIES.keys());
  for (const src of process.env.SANHAK_METRICS_SCRAPES.split(',').map((s) => s.trim()).filter(Boolean)) {
    const text = /^https?:/.test(src) ? await (await fetch(src)).text() : fs.readFileSync(src, 'utf8');
    for (const line of text.split('\n')) {
      const m = line.match(/^([a-zA-Z_:][a-zA-Z0-9_:]*)[{ ]/);
      if (m) scraped.add(m[1]);
    }
  }
  const used = new Set();
  for (const expr of [...rules.map((r) => r.expr), ...targets.map((t) => substituteGrafana(t.target.expr))]) {
    for (const s of parsePromQL(expr).selectors) if (s.name && !s.name.includes(':')) used.add(s.name);
  }
  assert.deepEqual([...used].filter((n) => !scraped.has(n)), [], 'used, not in any scrape');
});

module.exports = { parsePromQL, readRules, exportedMetrics };
