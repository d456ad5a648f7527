// Helpers for manifests.test.js: rendering overlays, schema validation with
// kubernetes-models, label selectors, quantities, and a NetworkPolicy evaluator.
'use strict';

const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

function requireDependency(name) {
  try {
    return require(name);
  } catch (error) {
    throw new Error(
      `cannot load ${name} (${error.message}); install the test's packages with ` +
        '`npm ci --no-audit --no-fund` in tests/deploy (scripts/test.sh does)');
  }
}
const YAML = requireDependency('yaml');
requireDependency('kubernetes-models');

const ROOT = path.resolve(__dirname, '..', '..');
const KUBECTL = process.env.KUBECTL || 'kubectl';

// The overlays under deploy/overlays: every directory with a kustomization.yaml.
function overlays() {
  const dir = path.join(ROOT, 'deploy', 'overlays');
  return fs.readdirSync(dir)
    .filter((name) => fs.existsSync(path.join(dir, name, 'kustomization.yaml')))
    .sort();
}

// Renders one overlay with `kubectl kustomize` and returns its objects as plain data.
function render(overlay) {
  const dir = path.join(ROOT, 'deploy', 'overlays', overlay);
  let out;
  try {
    out = execFileSync(KUBECTL, ['kustomize', dir], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      maxBuffer: 64 << 20,
    });
  } catch (error) {
    throw new Error(`${KUBECTL} kustomize ${dir} failed: ${error.stderr || error.message}`);
  }
  const objects = [];
  for (const doc of YAML.parseAllDocuments(out)) {
    if (doc.errors.length) throw new Error(`unparsable output: ${doc.errors[0].message}`);
    const value = doc.toJS();
    if (value !== null && value !== undefined) objects.push(value);
  }
  return objects;
}

requireDependency('@kubernetes-models/cert-manager');

// The model packages for API groups outside Kubernetes itself: cert-manager's CRDs
// (components/cert-manager), generated from its own CustomResourceDefinitions.
const CRD_MODELS = { 'cert-manager.io': '@kubernetes-models/cert-manager' };

// The kubernetes-models class for an object's apiVersion and kind.
function modelClass(apiVersion, kind) {
  const group = apiVersion.includes('/') ? apiVersion.split('/')[0] : '';
  const modulePath = CRD_MODELS[group]
    ? `${CRD_MODELS[group]}/${apiVersion}` : `kubernetes-models/${apiVersion}`;
  let mod;
  try {
    mod = require(modulePath);
  } catch (error) {
    return undefined;
  }
  return typeof mod[kind] === 'function' ? mod[kind] : undefined;
}

// Runs `validate(data)` with `data` behind proxies that record every property the
// validator reads, and returns the paths of fields it never looked at: fields the schema
// does not have (a misspelt or misplaced key, which the schemas alone let through).
// Objects the validator enumerates (maps such as labels) allow any key.
function unknownFields(data, validate) {
  const read = new Map();
  const enumerated = new Set();
  const proxies = new WeakMap();
  const mark = (target, key) => {
    if (typeof key !== 'string') return;
    if (!read.has(target)) read.set(target, new Set());
    read.get(target).add(key);
  };
  const wrap = (value) => {
    if (value === null || typeof value !== 'object') return value;
    if (proxies.has(value)) return proxies.get(value);
    const proxy = new Proxy(value, {
      get(target, key, receiver) {
        mark(target, key);
        return wrap(Reflect.get(target, key, receiver));
      },
      has(target, key) {
        mark(target, key);
        return Reflect.has(target, key);
      },
      ownKeys(target) {
        enumerated.add(target);
        return Reflect.ownKeys(target);
      },
      getOwnPropertyDescriptor(target, key) {
        mark(target, key);
        return Reflect.getOwnPropertyDescriptor(target, key);
      },
    });
    proxies.set(value, proxy);
    return proxy;
  };
  validate(wrap(data));

  const unknown = [];
  const walk = (value, where) => {
    if (value === null || typeof value !== 'object') return;
    if (Array.isArray(value)) {
      value.forEach((item, i) => walk(item, `${where}[${i}]`));
      return;
    }
    // Never opened: a free-form field (its schema says only "object").
    if (!read.has(value) && !enumerated.has(value)) return;
    for (const key of Object.keys(value)) {
      if (!enumerated.has(value) && !read.get(value).has(key)) {
        unknown.push(`${where}.${key}`);
      } else {
        walk(value[key], `${where}.${key}`);
      }
    }
  };
  walk(data, '');
  return unknown.map((p) => p.slice(1));
}

// Validates one object against Kubernetes' schemas (kubernetes-models); returns a list of
// problems, empty when valid.
function schemaProblems(object) {
  const id = objectId(object);
  const Class = modelClass(object.apiVersion, object.kind);
  if (!Class) return [`${id}: no Kubernetes schema for ${object.apiVersion} ${object.kind}`];
  const problems = [];
  try {
    new Class(object).validate();
  } catch (error) {
    problems.push(`${id}: ${error.message}`);
  }
  for (const field of unknownFields(object, (proxy) => {
    try {
      Class.prototype.validate.call(proxy);
    } catch (error) {
      // Reported above.
    }
  })) {
    problems.push(`${id}: unknown field ${field}`);
  }
  return problems;
}

function objectId(object) {
  const ns = object.metadata && object.metadata.namespace;
  const name = object.metadata && object.metadata.name;
  return `${object.kind} ${ns ? `${ns}/` : ''}${name}`;
}

// Kubernetes label selector semantics (matchLabels and matchExpressions). An empty
// selector matches everything; a missing one (undefined) matches nothing.
function selectorMatches(selector, labels) {
  if (!selector) return false;
  labels = labels || {};
  for (const [key, value] of Object.entries(selector.matchLabels || {})) {
    if (labels[key] !== value) return false;
  }
  for (const { key, operator, values } of selector.matchExpressions || []) {
    const has = Object.prototype.hasOwnProperty.call(labels, key);
    switch (operator) {
      case 'In': if (!has || !values.includes(labels[key])) return false; break;
      case 'NotIn': if (has && values.includes(labels[key])) return false; break;
      case 'Exists': if (!has) return false; break;
      case 'DoesNotExist': if (has) return false; break;
      default: throw new Error(`unknown selector operator ${operator}`);
    }
  }
  return true;
}

// A resource quantity ("100m", "1", "512Mi", "1Gi", "1e3") as a number.
function quantity(value) {
  const match = /^([0-9.]+(?:e[0-9]+)?)(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$/.exec(String(value));
  if (!match) throw new Error(`not a quantity: ${value}`);
  const scale = {
    undefined: 1, m: 1e-3, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18,
    Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60,
  }[match[2]];
  return Number(match[1]) * scale;
}

// Whether a NetworkPolicy port entry admits `port` ({port, protocol}) of `pod`, whose
// named ports resolve against its containers.
function policyPortMatches(entry, port, pod) {
  const protocol = entry.protocol || 'TCP';
  if (protocol !== port.protocol) return false;
  if (entry.port === undefined) return true;
  if (typeof entry.port === 'string') {
    return pod.ports.some((p) => p.name === entry.port && p.containerPort === port.port &&
      (p.protocol || 'TCP') === protocol);
  }
  const end = entry.endPort === undefined ? entry.port : entry.endPort;
  return port.port >= entry.port && port.port <= end;
}

// Whether a NetworkPolicy peer (in namespace `policyNamespace`) is `pod`.
function peerMatches(peer, pod, policyNamespace, namespaceLabels) {
  if (peer.ipBlock) throw new Error('ipBlock peers are not expected');
  if (peer.namespaceSelector === undefined) {
    return pod.namespace === policyNamespace && selectorMatches(peer.podSelector, pod.labels);
  }
  if (!selectorMatches(peer.namespaceSelector, namespaceLabels(pod.namespace))) return false;
  return peer.podSelector === undefined || selectorMatches(peer.podSelector, pod.labels);
}

function policyTypes(policy) {
  if (policy.spec.policyTypes) return policy.spec.policyTypes;
  return policy.spec.egress ? ['Ingress', 'Egress'] : ['Ingress'];
}

// Whether `policies` let `from` open a connection to `to` on `port`: the egress side
// (policies in from's namespace selecting it) and the ingress side (in to's) must both
// allow it; a pod no policy of a direction selects is open in that direction.
function connectionAllowed(policies, from, to, port, namespaceLabels) {
  const side = (pod, type, rulesKey, peersKey, peer, portPod) => {
    const selecting = policies.filter((p) => p.metadata.namespace === pod.namespace &&
      policyTypes(p).includes(type) && selectorMatches(p.spec.podSelector, pod.labels));
    if (selecting.length === 0) return true;
    return selecting.some((p) => (p.spec[rulesKey] || []).some((rule) => {
      const peers = rule[peersKey];
      const peerOk = !peers || peers.length === 0 ||
        peers.some((x) => peerMatches(x, peer, p.metadata.namespace, namespaceLabels));
      const ports = rule.ports;
      const portOk = !ports || ports.length === 0 ||
        ports.some((x) => policyPortMatches(x, port, portPod));
      return peerOk && portOk;
    }));
  };
  return side(from, 'Egress', 'egress', 'to', to, to) &&
    side(to, 'Ingress', 'ingress', 'from', from, to);
}

// Reads a Dockerfile: its stages, each with its FROM line and instructions (continuation
// lines joined, comments dropped).
function dockerfile(file) {
  const lines = fs.readFileSync(file, 'utf8').split('\n');
  const instructions = [];
  let current = '';
  for (const raw of lines) {
    const line = raw.trim();
    if (current === '' && (line === '' || line.startsWith('#'))) continue;
    if (line.endsWith('\\')) {
      current += `${line.slice(0, -1)} `;
      continue;
    }
    current += line;
    instructions.push(current.replace(/\s+/g, ' ').trim());
    current = '';
  }
  const stages = [];
  for (const instruction of instructions) {
    const [word, ...rest] = instruction.split(' ');
    const upper = word.toUpperCase();
    if (upper === 'FROM') {
      const args = rest.filter((a) => !a.startsWith('--'));
      stages.push({
        image: args[0],
        name: args.length >= 3 && args[1].toUpperCase() === 'AS' ? args[2] : undefined,
        instructions: [],
      });
    } else if (stages.length) {
      stages[stages.length - 1].instructions.push({ op: upper, args: rest.join(' ') });
    }
  }
  return stages;
}

module.exports = {
  ROOT,
  overlays,
  render,
  schemaProblems,
  unknownFields,
  objectId,
  selectorMatches,
  quantity,
  connectionAllowed,
  dockerfile,
};
