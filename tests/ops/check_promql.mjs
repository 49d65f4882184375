// SPDX-License-Identifier: Apache-2.0
//
// Checks every PromQL expression of the Grafana dashboard and of the Prometheus rules files:
//   1. it parses, by Prometheus's own parser: each expression (Grafana variables substituted)
//      becomes a recording rule of a generated rules file, checked with `promtool check rules`;
//   2. it names only metric families that breaker exports, and only their labels: the names
//      come from a real scrape of examples/02_metrics_service (its circuit_breaker_* families;
//      the Exposer's own exposer_* families are prometheus-cpp's, not ours), the expressions'
//      selectors from the PromQL grammar of the Prometheus project (@prometheus-io/lezer-promql).
//      Names recorded by the rules files count as known too.
//
// Usage: node check_promql.mjs --npm DIR --promtool PATH --service EXE --work DIR
//                              [--dashboard FILE]... [--rules FILE]...
// Exit status 0 when everything checks, 1 with one line per problem otherwise.

import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import http from 'node:http';
import path from 'node:path';

// ---- arguments ------------------------------------------------------------------------------
const args = { dashboard: [], rules: [] };
for (let i = 2; i < process.argv.length; i += 2) {
  const key = process.argv[i].replace(/^--/, '');
  const value = process.argv[i + 1];
  if (value === undefined) usage(`missing value of ${process.argv[i]}`);
  if (key === 'dashboard' || key === 'rules') args[key].push(value);
  else if (['npm', 'promtool', 'service', 'work'].includes(key)) args[key] = value;
  else usage(`unknown option ${process.argv[i]}`);
}
for (const key of ['npm', 'promtool', 'service', 'work']) {
  if (!args[key]) usage(`--${key} is required`);
}
function usage(message) {
  console.error(`check_promql.mjs: ${message}`);
  process.exit(2);
}

const require = createRequire(path.join(path.resolve(args.npm), 'package.json'));
const { parser } = await import(require.resolve('@prometheus-io/lezer-promql'));
const YAML = await import(require.resolve('yaml'));

const problems = [];

// ---- 1. the families breaker exports, from a real scrape -----------------------------------
function scrape(executable) {
  return new Promise((resolve, reject) => {
    const child = spawn(executable, ['--port', '0', '--exit-after-requests', '1'],
                        { stdio: ['ignore', 'pipe', 'inherit'] });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${executable} did not serve /metrics within 30 s`));
    }, 30000);
    let output = '';
    let asked = false;
    child.on('error', (error) => { clearTimeout(timer); reject(error); });
    child.stdout.on('data', (chunk) => {
      output += chunk;
      const match = output.match(/^listening on http:\/\/127\.0\.0\.1:(\d+)$/m);
      if (!match || asked) return;
      asked = true;
      http.get({ host: '127.0.0.1', port: Number(match[1]), path: '/metrics' }, (response) => {
        let body = '';
        response.setEncoding('utf8');
        response.on('data', (data) => { body += data; });
        response.on('end', () => {
          clearTimeout(timer);
          if (response.statusCode !== 200) reject(new Error(`/metrics: HTTP ${response.statusCode}`));
          else resolve(body);
        });
      }).on('error', (error) => { clearTimeout(timer); child.kill('SIGKILL'); reject(error); });
    });
  });
}

// The label names of a sample line's selector part (`name{a="x",b="y"}`), read by the PromQL
// grammar: the exposition format's label syntax and escapes are PromQL's.
function labelNamesOf(selector) {
  const names = new Set();
  const tree = parser.parse(selector);
  tree.iterate({
    enter(node) {
      if (node.type.isError) throw new Error(`cannot read the sample ${selector}`);
      if (node.type.name === 'LabelName') names.add(selector.slice(node.from, node.to));
    },
  });
  return names;
}

const exposition = await scrape(args.service);
mkdirSync(args.work, { recursive: true });
writeFileSync(path.join(args.work, 'scrape.txt'), exposition);

const families = new Map();  // family -> { type, labels: Set }
for (const line of exposition.split('\n')) {
  const type = line.match(/^# TYPE (\S+) (\S+)$/);
  if (type) {
    if (type[1].startsWith('circuit_breaker_')) families.set(type[1], { type: type[2], labels: new Set() });
    continue;
  }
  if (line === '' || line.startsWith('#')) continue;
  const end = line.indexOf('{') >= 0 ? line.lastIndexOf('}') + 1 : line.indexOf(' ');
  const selector = line.slice(0, end);
  const metric = selector.replace(/\{.*$/, '');
  const family = [...families.keys()].find((f) => metric === f ||
      (families.get(f).type === 'histogram' &&
       [`${f}_bucket`, `${f}_sum`, `${f}_count`].includes(metric)));
  if (family) for (const label of labelNamesOf(selector)) families.get(family).labels.add(label);
}
if (families.size === 0) {
  console.error('the scrape of examples/02_metrics_service has no circuit_breaker_* family');
  process.exit(1);
}

// Series names a query may select, each with the labels it carries (a scrape adds job, instance).
const known = new Map();
for (const [family, { type, labels }] of families) {
  const withTarget = new Set([...labels, 'job', 'instance']);
  if (type === 'histogram') {
    known.set(`${family}_bucket`, withTarget);
    const withoutLe = new Set([...withTarget].filter((label) => label !== 'le'));
    known.set(`${family}_sum`, withoutLe);
    known.set(`${family}_count`, withoutLe);
  } else {
    known.set(family, withTarget);
  }
}
console.log(`families exported (from the scrape): ${[...families.keys()].join(', ')}`);

// ---- 2. the expressions ---------------------------------------------------------------------
const expressions = [];  // { where, expr }
const recorded = new Set();

for (const file of args.rules) {
  const document = YAML.parse(readFileSync(file, 'utf8'));
  for (const group of document?.groups ?? []) {
    for (const [index, rule] of (group.rules ?? []).entries()) {
      const name = rule.record ?? rule.alert;
      if (rule.record) recorded.add(rule.record);
      expressions.push({ where: `${path.basename(file)}: group ${group.name}, rule ${name ?? index}`,
                         expr: String(rule.expr ?? '') });
    }
  }
}

for (const file of args.dashboard) {
  const dashboard = JSON.parse(readFileSync(file, 'utf8'));
  const panels = [];
  const collect = (list) => {
    for (const panel of list ?? []) {
      panels.push(panel);
      collect(panel.panels);  // rows
    }
  };
  collect(dashboard.panels);
  for (const panel of panels) {
    for (const target of panel.targets ?? []) {
      if (target.expr === undefined) continue;
      expressions.push({ where: `${path.basename(file)}: panel "${panel.title}", query ${target.refId}`,
                         expr: String(target.expr) });
    }
  }
  for (const variable of dashboard.templating?.list ?? []) {
    if (variable.type !== 'query') continue;
    const query = typeof variable.query === 'string' ? variable.query : variable.query?.query;
    const where = `${path.basename(file)}: variable ${variable.name}`;
    // Grafana's label_values(selector, label) is not PromQL: check its selector and label.
    const labelValues = String(query).match(/^\s*label_values\((.*),\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\)\s*$/);
    if (labelValues) {
      expressions.push({ where, expr: labelValues[1], label: labelValues[2] });
    } else {
      expressions.push({ where, expr: String(query) });
    }
  }
}

// Grafana's variables: intervals become a duration, others (used inside label matcher strings)
// a regular expression. A variable left anywhere else makes the expression fail to parse.
function substitute(expr) {
  return expr
    .replace(/\$__(rate_interval|interval|range)\b|\$\{__(rate_interval|interval|range)\}/g, '5m')
    .replace(/\$\{[a-zA-Z_][a-zA-Z0-9_]*(:[a-z]+)?\}|\$[a-zA-Z_][a-zA-Z0-9_]*/g, '.+');
}

// ---- 3. parse with promtool (Prometheus's parser) -------------------------------------------
const generatedRules = {
  groups: [{
    name: 'expressions-under-check',
    rules: expressions.map((e, i) => ({ record: `check:expression_${i}`, expr: substitute(e.expr) })),
  }],
};
const generatedFile = path.join(args.work, 'expressions.rules.yml');
writeFileSync(generatedFile, YAML.stringify(generatedRules));
const promtool = spawnSync(args.promtool, ['check', 'rules', generatedFile], { encoding: 'utf8' });
if (promtool.error) {
  console.error(`cannot run promtool (${args.promtool}): ${promtool.error.message}`);
  process.exit(1);
}
if (promtool.status !== 0) {
  problems.push(`promtool check rules ${generatedFile} failed:\n${promtool.stdout}${promtool.stderr}`);
  for (const [i, e] of expressions.entries()) {
    if (promtool.stderr.includes(`check:expression_${i}`) || promtool.stdout.includes(`check:expression_${i}`)) {
      problems.push(`  check:expression_${i} is ${e.where}`);
    }
  }
}

// ---- 4. the names in each expression ---------------------------------------------------------
for (const e of expressions) {
  const expr = substitute(e.expr);
  const tree = parser.parse(expr);
  let parsed = true;
  tree.iterate({
    enter(node) {
      if (node.type.isError) parsed = false;
      if (node.type.name !== 'VectorSelector') return;
      const selector = node.node;
      const identifier = selector.getChild('Identifier');
      let metric = identifier ? expr.slice(identifier.from, identifier.to) : undefined;
      const labels = [];
      for (const matcher of selector.getChild('LabelMatchers')?.getChildren('LabelMatcher') ?? []) {
        const labelNode = matcher.getChild('LabelName');
        const label = expr.slice(labelNode.from, labelNode.to);
        if (label === '__name__') {
          const op = expr.slice(matcher.getChild('MatchOp').from, matcher.getChild('MatchOp').to);
          const value = matcher.getChild('StringLiteral');
          if (op !== '=' || !value) {
            problems.push(`${e.where}: select metrics by name with __name__="...", not ${op}`);
          } else {
            metric = JSON.parse(expr.slice(value.from, value.to).replace(/^'|'$/g, '"'));
          }
        } else {
          labels.push(label);
        }
      }
      if (metric === undefined) {
        problems.push(`${e.where}: a selector without a metric name: ${expr.slice(node.from, node.to)}`);
        return;
      }
      if (recorded.has(metric)) return;
      const allowed = known.get(metric);
      if (!allowed) {
        problems.push(`${e.where}: unknown metric ${metric} (breaker exports: ${[...known.keys()].join(', ')})`);
        return;
      }
      for (const label of [...labels, ...(e.label ? [e.label] : [])]) {
        if (!allowed.has(label)) {
          problems.push(`${e.where}: ${metric} has no label ${label} (it has ${[...allowed].join(', ')})`);
        }
      }
    },
  });
  if (!parsed) problems.push(`${e.where}: does not parse: ${expr}`);
}

if (problems.length > 0) {
  for (const problem of problems) console.error(problem);
  console.error(`${problems.length} problem(s) in ${expressions.length} expressions`);
  process.exit(1);
}
console.log(`${expressions.length} expressions parse (promtool) and name only exported metrics and labels`);
