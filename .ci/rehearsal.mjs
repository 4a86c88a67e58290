#!/usr/bin/env node
// The CI rehearsal: runs .github/workflows/build.yml's own jobs and `run:` steps, job by
// job, on the demo workspace, each job in a fresh clone with empty local caches (Nx
// cache, RATTLER_CACHE_DIR, output/, wheelhouse/), sharing only the cache server
// (npm run cache-server's server, on 127.0.0.1) and a local channel and wheel index to
// publish to. The workflow's expressions (job and step conditions, environments, env
// values, matrices) are evaluated as GitHub would (.ci/expressions.mjs); `uses:` steps
// are emulated (checkout: a clone of the scenario's commit; setup-node: this Node), and
// the two install steps link the repository's node_modules and .venv into the clone
// instead of installing them again (the rehearsal tests the pipeline, not npm).
//
// Scenarios, as commits: (A) the first full build; (B) a CUDA version added to
// variants.yaml; (C) one recipe's patch edited; (D) a pull request editing a recipe
// (then main once more). After each main run, a developer clone with the read-only
// token runs `nx run-many -t build,wheel`. It prints per job what was built, restored
// from the shared cache or skipped, with the engine time, and asserts:
//   every content key is built exactly once over all jobs and scenarios;
//   (B) only the new variants build, the old ones come back by content key; (C) exactly
//   the edited package builds, its dependents are found on the channel (forge's rule for
//   published packages whose recipe did not change); the developer and publish jobs build
//   nothing; the pull request's writes are refused and main never restores what it built.
//
// Usage: npm run ci-rehearsal [-- --keep] [-- --json <file>] [-- --parallel N (matrix jobs at once, default 2)]
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { parse } from 'yaml';
import { buildBootstrapChannel } from '../examples/demo/bootstrap.mjs';
import { condition, interpolate } from './expressions.mjs';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..');
const { values: args } = parseArgs({ options: { keep: { type: 'boolean', default: false }, json: { type: 'string' }, parallel: { type: 'string', default: '2' } } });
const started = Date.now();
const scratch = mkdtempSync(join(tmpdir(), 'forge-ci-rehearsal-'));
const workflows = join(repo, '.github/workflows');
const workflow = parse(readFileSync(join(workflows, 'build.yml'), 'utf8'));
const RW = 'rehearsal-read-write';
const RO = 'rehearsal-read-only';
/** What the repository's environments hold, as the README's trust model sets them up. */
const ENVIRONMENTS = { 'shared-cache-write': { NX_REMOTE_CACHE_TOKEN: RW, PREFIX_API_KEY: '' }, 'shared-cache-read': { NX_REMOTE_CACHE_TOKEN: RO } };
/** The install steps, done by linking what this checkout installed. */
const INSTALLS = { 'npm ci': 'node_modules', 'npm run setup:engine': '.venv' };
const DEVELOPER_COMMAND = 'npx nx run-many -t build,wheel';

// The shared server, with every request it answered, to tell Nx's hits from the content-key store's and see refused writes.
const { createCacheServer } = await import(join(repo, 'tools/forge/dist/cache-server/server.js'));
const requests = [];
const server = createCacheServer({ dir: join(scratch, 'cache'), readWriteTokens: [RW], readOnlyTokens: [RO] });
server.on('request', (req, res) => res.on('finish', () => requests.push({ method: req.method, path: req.url, status: res.statusCode })));
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const cacheUrl = `http://127.0.0.1:${server.address().port}`;
const channel = join(scratch, 'channel');
const wheelIndex = join(scratch, 'wheel-index');

const jobs = [];
const fail = (message) => {
  throw new Error(`rehearsal: ${message}`);
};

try {
  const origin = await makeOrigin();
  // (A) the first full build.
  await mainRun('A', 'first full build', origin);
  // (B) one more CUDA version.
  commit(origin, 'B: add CUDA 13.0', () => edit(origin, 'variants.yaml', (t) => t.replace('  - "12.9"', '  - "12.9"\n  - "13.0"')));
  await mainRun('B', 'variants.yaml gains CUDA 13.0', origin);
  // (C) one recipe's patch.
  // With the build number bumped, as the channel requires of a changed recipe whose version it has.
  commit(origin, "C: edit demo-cuda's patch", () => {
    edit(origin, 'pkgs/demo-cuda/recipe/patches/cuda-home.patch', (t) => t.replace('${PREFIX}"', '${PREFIX}/targets"'));
    edit(origin, 'pkgs/demo-cuda/recipe/recipe.yaml', (t) => t.replace('number: 0', 'number: 1'));
  });
  await mainRun('C', "demo-cuda's patch edited", origin);
  // (D) a pull request editing a recipe, never merged; then main again.
  git(origin, 'checkout', '-q', '-b', 'pr');
  commit(origin, 'D: a pull request bumps demo-ext', () => edit(origin, 'pkgs/demo-ext/recipe/recipe.yaml', (t) => t.replace('number: 0', 'number: 1')));
  git(origin, 'checkout', '-q', 'main');
  const pr = { name: 'pull_request', ref: 'refs/pull/1/merge', sha: git(origin, 'rev-parse', 'pr').trim(), base: 'main' };
  await runWorkflow('D', pr, origin);
  // The same pull request from a fork: GitHub gives it no secrets, so it runs without the shared cache.
  await runWorkflow('D', { ...pr, fork: true }, origin);
  await mainRun('D', 'main after the pull request', origin);

  const summary = check();
  if (args.json) writeFileSync(args.json, `${JSON.stringify({ ...summary, jobs }, null, 2)}\n`);
} finally {
  server.close();
  if (!args.keep) rmSync(scratch, { recursive: true, force: true });
  else console.log(`kept ${scratch}`);
}

/** A git repository holding the demo as its own workspace, publishing to the shared channel and wheel index. */
async function makeOrigin() {
  const origin = join(scratch, 'origin');
  for (const entry of ['pkgs', 'variants.yaml', 'nx.json']) cpSync(join(repo, 'examples/demo', entry), join(origin, entry), { recursive: true });
  await buildBootstrapChannel(join(repo, 'examples/demo/bootstrap'), join(origin, '.bootstrap'), repo);
  edit(origin, 'nx.json', (text) => {
    const nx = JSON.parse(text);
    delete nx.$schema;
    Object.assign(nx.plugins[0].options, { artifactChannels: [channel], uploadChannel: channel, wheelIndex });
    return `${JSON.stringify(nx, null, 2)}\n`;
  });
  writeFileSync(join(origin, '.gitignore'), 'node_modules\n.venv\n.nx\noutput\nwheelhouse\n');
  git(origin, 'init', '-q', '-b', 'main');
  commit(origin, 'A: the demo', () => {});
  return origin;
}

async function mainRun(scenario, title, origin) {
  console.log(`\n=== (${scenario}) ${title}`);
  await runWorkflow(scenario, { name: 'push', ref: 'refs/heads/main', sha: git(origin, 'rev-parse', 'main').trim() }, origin);
  await developerJob(scenario, origin);
}

/** The workflow's jobs in order, as GitHub runs them for one event (waves one after another, their matrix jobs one at a time). */
async function runWorkflow(scenario, event, origin) {
  if (event.name === 'pull_request') console.log(`\n=== (${scenario}) pull request ${event.fork ? 'from a fork (no secrets)' : '(read-only token)'}`);
  const github = { event_name: event.name, ref: event.ref, sha: event.sha, base_ref: event.base ?? '', head_ref: event.name === 'pull_request' ? 'pr' : '' };
  const vars = { NX_REMOTE_CACHE_URL: cacheUrl };
  const results = {};
  for (const [id, job] of Object.entries(workflow.jobs)) {
    const needs = Object.fromEntries((job.needs ?? []).map((n) => [n, results[n]]));
    const status = { success: Object.values(needs).every((n) => n.result === 'success'), failure: Object.values(needs).some((n) => n.result === 'failure') };
    const contexts = { github, vars, needs, inputs: {}, matrix: {}, secrets: {}, steps: {}, env: {} };
    if (!condition(job.if, contexts, status)) {
      results[id] = { result: 'skipped', outputs: {} };
      continue;
    }
    if (job.uses) {
      const called = job.uses.replace(/^\$\//, '');
      if (!/^\.github\/workflows\/[\w.-]+\.ya?ml$/.test(called)) fail(`job ${id} calls ${job.uses}, which the rehearsal cannot run`);
      const reusable = parse(readFileSync(join(repo, called), 'utf8'));
      const inputs = interpolate(job.with ?? {}, contexts, status);
      let ok = true;
      for (const [innerId, inner] of Object.entries(reusable.jobs)) {
        const matrix = interpolate(inner.strategy?.matrix ?? { include: [{}] }, { ...contexts, inputs }, status);
        // A matrix's jobs run side by side, as on GitHub, at most --parallel at once.
        const queue = [...matrix.include];
        const worker = async () => {
          for (let entry = queue.shift(); entry; entry = queue.shift()) ok = (await runJob(scenario, `${id}/${innerId}`, inner, { ...contexts, inputs, matrix: entry }, origin, event, reusable.env)) && ok;
        };
        await Promise.all(Array.from({ length: Number(args.parallel) }, worker));
      }
      results[id] = { result: ok ? 'success' : 'failure', outputs: {} };
    } else {
      const outcome = await runJob(scenario, id, job, contexts, origin, event, workflow.env);
      results[id] = { result: outcome ? 'success' : 'failure', outputs: outcome ? outcome.outputs : {} };
    }
    if (results[id].result === 'failure') fail(`(${scenario}) job ${id} failed; see the log above`);
  }
}

/**
 * One job in a fresh clone: its environment's secrets, its env, its steps; answers its
 * outputs, or false when a step failed. `workflowEnv` is the env of the job's own
 * workflow file: a called workflow does not get its caller's.
 */
async function runJob(scenario, id, job, contexts, origin, event, workflowEnv) {
  const name = job.name ? interpolate(job.name, contexts, {}) : id;
  const environment = job.environment ? interpolate(job.environment, contexts, {}) : undefined;
  const secrets = (!event.fork && environment && ENVIRONMENTS[environment]) || {};
  const ctx = { ...contexts, secrets };
  const env = { ...interpolate(workflowEnv ?? {}, ctx, {}), ...interpolate(job.env ?? {}, ctx, {}) };
  const clone = mkdtempSync(join(scratch, 'job-'));
  const record = { scenario, job: id === name ? id : `${id} ${name}`, event: event.fork ? 'fork pull_request' : event.name, token: tokenName(env.NX_SELF_HOSTED_REMOTE_CACHE_ACCESS_TOKEN), clone };
  const steps = {};
  let failed = false;
  const from = requests.length;
  const began = Date.now();
  for (const [index, step] of job.steps.entries()) {
    const stepCtx = { ...ctx, steps, env };
    if (!condition(step.if, stepCtx, { success: !failed, failure: failed })) continue;
    if (step.uses) {
      if (step.uses.startsWith('actions/checkout@')) {
        await exec('git', ['clone', '-q', '--no-local', origin, clone], scratch);
        await exec('git', ['-c', 'advice.detachedHead=false', 'checkout', '-q', event.sha], clone);
      } else if (!step.uses.startsWith('actions/setup-node@')) fail(`the rehearsal cannot run the step ${step.uses}`);
      continue;
    }
    if (step.run.trim() in INSTALLS) {
      const what = INSTALLS[step.run.trim()];
      symlinkSync(join(repo, what), join(clone, what), 'dir');
      continue;
    }
    const files = { GITHUB_OUTPUT: join(clone, `.github-output-${index}`), GITHUB_STEP_SUMMARY: join(clone, `.github-summary-${index}`), GITHUB_ENV: join(clone, `.github-env-${index}`) };
    for (const file of Object.values(files)) writeFileSync(file, '');
    const stepEnv = { ...env, ...interpolate(step.env ?? {}, stepCtx, {}) };
    const result = await shell(step.run, clone, { ...cleanEnv(clone), CI: 'true', GITHUB_ACTIONS: 'true', ...files, ...stepEnv });
    if (result.code !== 0) {
      failed = true;
      console.log(result.output);
      console.log(`  step \`${step.run.trim().split('\n')[0]}\` failed (exit ${result.code})`);
    }
    if (step.id) steps[step.id] = { outputs: readOutputs(files.GITHUB_OUTPUT) };
  }
  const outputs = interpolate(job.outputs ?? {}, { ...ctx, steps, env }, {});
  report(record, clone, from, began);
  return failed ? false : { outputs };
}

/** The developer: a fresh clone of main, the read-only token, every build and wheel task. */
async function developerJob(scenario, origin) {
  const clone = mkdtempSync(join(scratch, 'dev-'));
  await exec('git', ['clone', '-q', '--no-local', origin, clone], scratch);
  for (const what of Object.values(INSTALLS)) symlinkSync(join(repo, what), join(clone, what), 'dir');
  const from = requests.length;
  const began = Date.now();
  const env = { ...cleanEnv(clone), NX_DAEMON: 'false', NX_NO_CLOUD: 'true', NX_TUI: 'false', NX_SELF_HOSTED_REMOTE_CACHE_SERVER: cacheUrl, NX_SELF_HOSTED_REMOTE_CACHE_ACCESS_TOKEN: RO };
  const result = await shell(DEVELOPER_COMMAND, clone, env);
  if (result.code !== 0) {
    console.log(result.output);
    fail(`(${scenario}) the developer's \`${DEVELOPER_COMMAND}\` failed`);
  }
  report({ scenario, job: 'developer', event: 'laptop', token: 'read-only', clone }, clone, from, began);
}

/** What a job did, from its clone's output folders and the server's answers during it. */
function report(record, clone, from, began) {
  const answered = requests.slice(from);
  const fromKeyStore = new Set(answered.filter((r) => r.method === 'GET' && r.status === 200 && r.path.startsWith('/v1/forge/keys/')).map((r) => r.path.split('/').pop().replace(/^(conda|wheel)-/, '')));
  const built = [];
  const keyStore = [];
  const nxCache = [];
  const skipped = [];
  const restoredKeys = [];
  for (const [task, manifest] of readManifests(clone)) {
    if (Date.parse(manifest.builtAt) < began) restoredKeys.push(manifest.key);
    const here = Date.parse(manifest.builtAt) >= began;
    if (here && manifest.channel) skipped.push(task);
    else if (here) built.push({ task, key: manifest.key, seconds: manifest.seconds });
    else if (fromKeyStore.has(manifest.key)) keyStore.push(task);
    else nxCache.push(task);
  }
  const puts = answered.filter((r) => r.method === 'PUT');
  Object.assign(record, {
    built,
    restoredFromKeyStore: keyStore.sort(),
    restoredFromNxCache: nxCache.sort(),
    skippedAsPublished: skipped.sort(),
    restoredKeys,
    engineSeconds: Math.round(built.reduce((sum, b) => sum + b.seconds, 0) * 10) / 10,
    requests: answered.length,
    writes: { stored: puts.filter((r) => r.status === 202).length, refused: puts.filter((r) => r.status === 403).length, existing: puts.filter((r) => r.status === 409).length },
    wallSeconds: Math.round((Date.now() - began) / 100) / 10,
  });
  delete record.clone;
  jobs.push(record);
  for (const dir of [clone, `${clone}.home`, `${clone}.rattler-cache`]) rmSync(dir, { recursive: true, force: true });
  const list = (tasks) => (tasks.length ? tasks.join(' ') : '-');
  console.log(`(${record.scenario}) ${record.job} [${record.event}, ${record.token}] ${record.wallSeconds}s`);
  console.log(`    built: ${list(built.map((b) => b.task))}${built.length ? ` (engine ${record.engineSeconds}s)` : ''}`);
  console.log(`    restored from the shared cache: ${keyStore.length + nxCache.length} (content-key store: ${list(keyStore)}; Nx cache: ${nxCache.length})`);
  if (skipped.length) console.log(`    skipped, already published: ${list(skipped)}`);
  console.log(`    writes to the shared cache: ${record.writes.stored} stored, ${record.writes.refused} refused, ${record.writes.existing} already there`);
}

/** The assertions over the whole rehearsal; answers the totals. */
function check() {
  const problems = [];
  const builds = new Map();
  // A fork's pull request has no shared cache: it builds everything it needs itself, and is counted apart.
  const fork = jobs.filter((j) => j.event === 'fork pull_request');
  for (const job of jobs.filter((j) => !fork.includes(j))) for (const b of job.built) builds.set(b.key, [...(builds.get(b.key) ?? []), `(${job.scenario}) ${job.job}: ${b.task}`]);
  for (const [key, where] of builds) if (where.length > 1) problems.push(`content key ${key.slice(0, 12)} was built ${where.length} times: ${where.join('; ')}`);
  const builtIn = (scenario, event = 'push') => jobs.filter((j) => j.scenario === scenario && j.event === event).flatMap((j) => j.built.map((b) => b.task)).sort();
  const expectBuilt = (what, actual, expected) => {
    if (JSON.stringify(actual) !== JSON.stringify([...expected].sort())) problems.push(`${what}: built ${actual.join(' ') || 'nothing'}, expected ${[...expected].sort().join(' ')}`);
  };
  const variants = (project, pythons, cudas) => pythons.flatMap((py) => cudas.map((cu) => `${project}:py${py}-cuda${cu}`));
  const py = ['3.12', '3.13'];
  const cudaA = ['12.6', '12.8', '12.9'];
  const cudaB = [...cudaA, '13.0'];
  expectBuilt('(A)', builtIn('A'), ['demo-core:noarch', ...variants('demo-cuda', py, cudaA), ...variants('demo-ext', py, cudaA), 'demo-app:noarch']);
  expectBuilt('(B) only the new variants', builtIn('B'), [...variants('demo-cuda', py, ['13.0']), ...variants('demo-ext', py, ['13.0'])]);
  // The old variants' Nx hashes all changed in (B): they came back by content key, from the store.
  const byKey = new Set(jobs.filter((j) => j.scenario === 'B').flatMap((j) => j.restoredFromKeyStore));
  const old = [...variants('demo-cuda', py, cudaA), ...variants('demo-ext', py, cudaA)].filter((t) => !byKey.has(t));
  if (old.length) problems.push(`(B) ${old.join(' ')} never came back from the content-key store`);
  // A published package whose recipe did not change is not rebuilt for a changed upstream (forge's channel rule, README
  // "Published channels"): the edited package builds, its dependents are found on the channel.
  expectBuilt('(C) the edited package', builtIn('C'), variants('demo-cuda', py, cudaB));
  const onChannel = new Set(jobs.filter((j) => j.scenario === 'C').flatMap((j) => j.skippedAsPublished));
  const dependents = [...variants('demo-ext', py, cudaB), 'demo-app:noarch'].filter((t) => !onChannel.has(t));
  if (dependents.length) problems.push(`(C) dependents neither built nor found on the channel: ${dependents.join(' ')}`);
  expectBuilt('(D) the pull request', builtIn('D', 'pull_request'), variants('demo-ext', py, cudaB));
  expectBuilt('(D) main after the pull request', builtIn('D'), []);
  for (const job of jobs.filter((j) => j.job === 'developer' || j.job.startsWith('publish'))) {
    if (job.built.length) problems.push(`(${job.scenario}) ${job.job} built ${job.built.map((b) => b.task).join(' ')}; it must build nothing`);
  }
  const pr = jobs.filter((j) => j.event === 'pull_request');
  if (pr.some((j) => j.writes.stored)) problems.push('the pull request stored something in the shared cache');
  if (!pr.some((j) => j.writes.refused)) problems.push('the pull request wrote nothing, so no refusal was seen');
  if (!fork.some((j) => j.built.length)) problems.push('the pull request from a fork built nothing');
  if (fork.some((j) => j.requests)) problems.push('the pull request from a fork reached the shared cache without a token');
  const prKeys = new Set(pr.flatMap((j) => j.built.map((b) => b.key)));
  const storedKeys = new Set(readdirSync(join(scratch, 'cache/forge/keys')).map((name) => name.replace(/^(conda|wheel)-/, '')));
  for (const key of prKeys) if (storedKeys.has(key)) problems.push(`the pull request's key ${key.slice(0, 12)} is in the content-key store`);
  const afterPr = jobs.slice(jobs.indexOf(pr.at(-1)) + 1);
  for (const job of afterPr) for (const key of job.restoredKeys) if (prKeys.has(key)) problems.push(`(${job.scenario}) ${job.job} restored the pull request's key ${key.slice(0, 12)}`);

  const engineRuns = jobs.filter((j) => !fork.includes(j)).reduce((n, j) => n + j.built.length, 0);
  const forkRuns = fork.reduce((n, j) => n + j.built.length, 0);
  const totals = { jobs: jobs.length, engineRuns, forkEngineRuns: forkRuns, distinctKeys: builds.size, engineSeconds: Math.round(jobs.reduce((s, j) => s + j.engineSeconds, 0) * 10) / 10, wallSeconds: Math.round((Date.now() - started) / 100) / 10, problems };
  console.log(`\n${totals.jobs} jobs; engine runs ${engineRuns} for ${builds.size} distinct content keys (goal: equal), and ${forkRuns} in the fork's pull request (no shared cache); engine time ${totals.engineSeconds}s; wall time ${totals.wallSeconds}s`);
  if (problems.length) {
    for (const problem of problems) console.log(`FAILED: ${problem}`);
    process.exitCode = 1;
  } else console.log('every assertion held');
  return totals;
}

function readManifests(clone) {
  const result = new Map();
  for (const dir of ['output', 'wheelhouse']) {
    const root = join(clone, dir);
    if (!existsSync(root)) continue;
    for (const project of readdirSync(root, { withFileTypes: true }).filter((p) => p.isDirectory() && !p.name.startsWith('.')).map((p) => p.name)) {
      for (const id of readdirSync(join(root, project))) {
        const file = join(root, project, id, 'manifest.json');
        if (existsSync(file)) result.set(`${project}:${id}`, JSON.parse(readFileSync(file, 'utf8')));
      }
    }
  }
  return result;
}

function readOutputs(file) {
  const outputs = {};
  const lines = readFileSync(file, 'utf8').split('\n');
  for (let i = 0; i < lines.length; i++) {
    const heredoc = /^([\w-]+)<<(.+)$/.exec(lines[i]);
    if (heredoc) {
      const end = lines.indexOf(heredoc[2], i + 1);
      outputs[heredoc[1]] = lines.slice(i + 1, end).join('\n');
      i = end;
    } else if (lines[i].includes('=')) outputs[lines[i].slice(0, lines[i].indexOf('='))] = lines[i].slice(lines[i].indexOf('=') + 1);
  }
  return outputs;
}

function tokenName(token) {
  return token === RW ? 'read-write' : token === RO ? 'read-only' : 'no token';
}

/**
 * This process's environment without a remote cache or token of its own, and with
 * the clone's own home and rattler cache: Nx 24 keeps one local cache per repository
 * under ~/.nx, which every clone on a machine would share, unlike CI's fresh runners.
 */
function cleanEnv(clone) {
  // Beside the clone, not in it: untracked files would count as changes for `nx affected`.
  const home = `${clone}.home`;
  mkdirSync(home, { recursive: true });
  const env = { ...process.env, FORCE_COLOR: '0', HOME: home, RATTLER_CACHE_DIR: `${clone}.rattler-cache` };
  delete env.NX_CACHE_DIRECTORY;
  for (const name of Object.keys(env)) if (name.startsWith('NX_SELF_HOSTED_') || name.startsWith('GITHUB_')) delete env[name];
  return env;
}

/** A `run:` script as GitHub's bash shell runs it; asynchronous, so the in-process server keeps answering. */
function shell(script, cwd, env) {
  return new Promise((resolve) => {
    const child = spawn('bash', ['--noprofile', '--norc', '-eo', 'pipefail', '-c', script], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk) => (output += chunk));
    child.stderr.on('data', (chunk) => (output += chunk));
    child.on('close', (code) => resolve({ code, output }));
  });
}

async function exec(command, argv, cwd) {
  const result = await new Promise((resolve) => {
    const child = spawn(command, argv, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk) => (output += chunk));
    child.stderr.on('data', (chunk) => (output += chunk));
    child.on('close', (code) => resolve({ code, output }));
  });
  if (result.code !== 0) fail(`${command} ${argv.join(' ')}: ${result.output.trim()}`);
  return result.output;
}

function git(cwd, ...argv) {
  const who = { GIT_AUTHOR_NAME: 'rehearsal', GIT_AUTHOR_EMAIL: 'rehearsal@localhost', GIT_COMMITTER_NAME: 'rehearsal', GIT_COMMITTER_EMAIL: 'rehearsal@localhost' };
  const result = spawnSync('git', argv, { cwd, encoding: 'utf8', env: { ...process.env, ...who } });
  if (result.status !== 0) fail(`git ${argv.join(' ')}: ${result.stderr}`);
  return result.stdout;
}

function commit(origin, message, change) {
  change();
  git(origin, 'add', '-A');
  git(origin, 'commit', '-qm', message);
}

function edit(root, path, change) {
  const file = join(root, path);
  mkdirSync(dirname(file), { recursive: true });
  const before = readFileSync(file, 'utf8');
  const after = change(before);
  if (after === before) fail(`the edit of ${path} changed nothing`);
  writeFileSync(file, after);
}
