import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compileCache, stopServer } from '../src/engine/compile-cache.js';
import { repoRoot } from './support/paths.js';
import { localPipIndex, wheelWorkspace } from './support/wheels.js';
import type { TempWorkspace } from './support/workspace.js';

const scratch = mkdtempSync(join(tmpdir(), 'forge-build-trees-test-'));
const host = execFileSync('python3', ['-c', 'import sys; print("%d.%d" % sys.version_info[:2])'], { encoding: 'utf8' }).trim();
const task = `ninja-ext:wheel-py${host}`;
// The test's own compile cache; setup.py's ninja rule runs `cc` itself, so every compile shows as a ninja step.
const env = { FORGE_COMPILE_CACHE_DIR: join(scratch, 'sccache') };

/**
 * A C extension built the way torch's cpp_extension builds one: a build.ninja
 * in setuptools' build_temp (written only when it changes), objects and
 * depfiles kept there, ninja run on it, then the link. Two objects, one of
 * which includes value.h.
 */
const SETUP_PY = `import os, subprocess, sysconfig
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext


class NinjaBuildExt(build_ext):
    def build_extension(self, ext):
        if os.environ.get("UNPACK_OLD_HEADER"):
            # What unpacking a downloaded archive does: a file with the archive's time, older than the build.
            with open("csrc/unpacked.h", "w") as f:
                f.write("#define UNPACKED 1\\n")
            os.utime("csrc/unpacked.h", (1_000_000_000, 1_000_000_000))
        temp = os.path.abspath(self.build_temp)
        os.makedirs(temp, exist_ok=True)
        include = sysconfig.get_paths()["include"]
        # csrc/vendor through -isystem, as vendored libraries often are: g++'s -MMD leaves its headers out of the depfile.
        vendor = os.path.abspath("csrc/vendor")
        lines = ["rule cc", f"  command = cc -MMD -MF $out.d -fPIC -O1 -I{include} -isystem {vendor} -c $in -o $out", "  depfile = $out.d", "  deps = gcc", ""]
        objects = []
        for source in ext.sources:
            obj = os.path.join(temp, os.path.splitext(source)[0] + ".o")
            objects.append(obj)
            lines.append(f"build {obj}: cc {os.path.abspath(source)}")
        text = "\\n".join(lines) + "\\n"
        ninja_file = os.path.join(temp, "build.ninja")
        if not os.path.exists(ninja_file) or open(ninja_file).read() != text:
            with open(ninja_file, "w") as f:
                f.write(text)
        subprocess.check_call(["ninja", "-C", temp])
        self.compiler.link_shared_object(objects, self.get_ext_fullpath(ext.name))


setup(
    name="ninja-ext",
    version="0.1.0",
    packages=["ninja_ext"],
    ext_modules=[Extension("ninja_ext._C", ["csrc/value.c", "csrc/other.c"])],
    cmdclass={"build_ext": NinjaBuildExt},
)
`;

const VALUE_C = `#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include "value.h"
#include <extra.h>
long other(void);
static PyObject *value(PyObject *self, PyObject *args) { return PyLong_FromLong(VALUE * 100 + other() + EXTRA); }
static PyMethodDef methods[] = {{"value", value, METH_NOARGS, ""}, {NULL, NULL, 0, NULL}};
static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_C", NULL, -1, methods};
PyMODINIT_FUNC PyInit__C(void) { return PyModule_Create(&module); }
`;

const WHEEL_YAML = `name: ninja-ext
version: 0.1.0
source:
  path: ../src
  patches: []
variant:
  keys: [python]
build:
  environment: host
  requirements:
    - setuptools>=70.1
test:
  commands:
    - python -c "import ninja_ext._C as c; print('value', c.value())"
`;

/** What one build of the task compiled: ninja's `[n/m]` steps, the kept tree's line, the value its test printed. */
function built(ws: TempWorkspace, extraEnv: NodeJS.ProcessEnv = {}) {
  const run = ws.nxWithEnv({ ...env, ...extraEnv }, 'run', task, '--skip-nx-cache', '--output-style=stream');
  expect(run.code, run.stdout + run.stderr).toBe(0);
  return {
    compiled: [...run.stdout.matchAll(/\] \[\d+\/\d+\] cc .* -c \S+\/csrc\/(\w+\.c) /g)].map((m) => m[1]).sort(),
    tree: /build tree: (.*)$/m.exec(run.stdout)?.[1],
    value: Number(/\] value (\d+)$/m.exec(run.stdout)?.[1]),
    stdout: run.stdout,
  };
}

describe('kept build trees: ninja compiles only what changed since the variant\'s last build', { timeout: 300_000 }, () => {
  let ws: TempWorkspace;
  beforeAll(() => {
    ws = wheelWorkspace(localPipIndex(scratch));
    ws.write('variants.yaml', `python:\n  - "${host}"\n`);
    ws.write('pkgs/ninja-ext/src/setup.py', SETUP_PY);
    ws.write('pkgs/ninja-ext/src/pyproject.toml', '[build-system]\nrequires = ["setuptools>=70.1"]\nbuild-backend = "setuptools.build_meta"\n');
    ws.write('pkgs/ninja-ext/src/ninja_ext/__init__.py', '');
    ws.write('pkgs/ninja-ext/src/csrc/value.h', '#define VALUE 1\n');
    ws.write('pkgs/ninja-ext/src/csrc/value.c', VALUE_C);
    ws.write('pkgs/ninja-ext/src/csrc/other.c', 'long other(void) { return 7; }\n');
    ws.write('pkgs/ninja-ext/src/csrc/vendor/extra.h', '#define EXTRA 0\n');
    ws.write('pkgs/ninja-ext/wheel/wheel.yaml', WHEEL_YAML);
    ws.write('pkgs/ninja-ext/wheel/extra-5.patch', '--- a/csrc/vendor/extra.h\n+++ b/csrc/vendor/extra.h\n@@ -1 +1 @@\n-#define EXTRA 0\n+#define EXTRA 5\n');
    ws.write('pkgs/ninja-ext/wheel/shadow.patch', '--- /dev/null\n+++ b/csrc/extra.h\n@@ -0,0 +1 @@\n+#define EXTRA 9\n');
    ws.write('pkgs/ninja-ext/wheel/value-2.patch', '--- a/csrc/value.h\n+++ b/csrc/value.h\n@@ -1 +1 @@\n-#define VALUE 1\n+#define VALUE 2\n');
  });
  afterAll(async () => {
    const cache = compileCache(repoRoot, { ...process.env, ...env });
    if (!('off' in cache)) await stopServer(cache);
    ws.dispose();
    rmSync(scratch, { recursive: true, force: true });
  });

  it('reuses the objects after a Python-only edit, recompiles what a patch touches, and again what taking it back touches', () => {
    const first = built(ws);
    expect(first.tree).toBe('none kept: the build compiles every object');
    expect(first.compiled).toEqual(['other.c', 'value.c']);
    expect(first.value).toBe(107);
    const kept = join(ws.root, 'wheelhouse/.build-trees', `ninja-ext-py${host}`);
    expect(readdirSync(kept).sort()).toEqual(['objects', 'tree.json']);

    // A new content key (a full rebuild by forge's rules), no compiled file changed: nothing compiles.
    ws.write('pkgs/ninja-ext/src/ninja_ext/__init__.py', '# edited\n');
    const pythonOnly = built(ws);
    expect(pythonOnly.tree).toMatch(/^the last build's objects are back \(build\/temp\.[^)]+\); 1 source file\(s\) new or changed since, 0 gone/);
    expect(pythonOnly.compiled).toEqual([]);
    expect(pythonOnly.stdout).toContain('ninja: no work to do.');
    expect(pythonOnly.value).toBe(107);

    // A patch to a header: the object that includes it, not the other.
    ws.edit('pkgs/ninja-ext/wheel/wheel.yaml', (text) => text.replace('patches: []', 'patches: [value-2.patch]'));
    const patched = built(ws);

    expect(patched.compiled).toEqual(['value.c']);
    expect(patched.value).toBe(207);

    // Taken back (Nx would replay the Python-only build: skipped here): the header is the original again,
    // content the kept objects were not compiled from, though the same as an older build's.
    ws.edit('pkgs/ninja-ext/wheel/wheel.yaml', (text) => text.replace('patches: [value-2.patch]', 'patches: []'));
    const reverted = built(ws);

    expect(reverted.compiled).toEqual(['value.c']);
    expect(reverted.value).toBe(107);
  });

  it('drops a tree built under other variables, and keeps none with the compile cache off', () => {
    // Each build below has a content key of its own (an edit to a Python file): forge builds, not answers from its store.
    let edits = 0;
    const edited = () => ws.write('pkgs/ninja-ext/src/ninja_ext/__init__.py', `# edit ${++edits}\n`);

    // A variable a compiler reads that no command line shows.
    edited();
    const flags = { NVCC_APPEND_FLAGS: '-lineinfo' };
    const otherFlags = built(ws, flags);
    expect(otherFlags.tree).toMatch(/^the kept one was built with another toolchain, variables, settings or folder: dropped/);
    expect(otherFlags.compiled).toEqual(['other.c', 'value.c']);

    // The build's own variables (wheel.yaml's build.env), everything else as in the build before.
    ws.edit('pkgs/ninja-ext/wheel/wheel.yaml', (text) => text.replace('  environment: host\n', '  environment: host\n  env:\n    SOME_SETTING: "1"\n'));
    const settings = built(ws, flags);
    expect(settings.tree).toMatch(/^the kept one was built with another/);
    expect(settings.compiled).toEqual(['other.c', 'value.c']);

    edited();
    const off = built(ws, { ...flags, FORGE_COMPILE_CACHE: 'off' });
    expect(off.tree).toBeUndefined();
    expect(off.compiled).toEqual(['other.c', 'value.c']);
    // A build with the cache off neither takes nor leaves a tree: the next one finds the one before it.
    edited();
    const after = built(ws, flags);
    expect(after.tree).toMatch(/^the last build's objects are back/);
    expect(after.compiled).toEqual([]);
    expect(after.value).toBe(107);
    expect(readdirSync(join(ws.root, 'wheelhouse/.build-trees'))).toEqual([`ninja-ext-py${host}`]);
  });

  it('drops the tree for a change ninja would not see: a header its depfiles leave out, a new file that shadows one', () => {
    ws.write('pkgs/ninja-ext/src/ninja_ext/__init__.py', '# before the vendored header\n');
    expect(built(ws).value).toBe(107);

    // Reached through -isystem: in no depfile, so ninja alone would call value.o up to date.
    ws.edit('pkgs/ninja-ext/wheel/wheel.yaml', (text) => text.replace(/patches: \[.*\]/, 'patches: [extra-5.patch]'));
    const vendored = built(ws);
    expect(vendored.tree).toBe('csrc/vendor/extra.h changed and no depfile of the kept objects names it (a header ninja does not track): the kept one is dropped, the build compiles every object');
    expect(vendored.compiled).toEqual(['other.c', 'value.c']);
    expect(vendored.value).toBe(112);

    // A new header beside the sources: an `#include "extra.h"` in csrc would now find it before the -isystem one.
    // Which lookups a new file changes is the compiler's to know, so any new includable file drops the tree.
    ws.edit('pkgs/ninja-ext/wheel/wheel.yaml', (text) => text.replace(/patches: \[.*\]/, 'patches: [extra-5.patch, shadow.patch]'));
    const shadowing = built(ws);
    expect(shadowing.tree).toBe('csrc/extra.h is new and could be included in place of a file the kept objects were compiled with: the kept one is dropped, the build compiles every object');
    expect(shadowing.compiled).toEqual(['other.c', 'value.c']);
    ws.edit('pkgs/ninja-ext/wheel/wheel.yaml', (text) => text.replace(/patches: \[.*\]/, 'patches: []'));
  });

  it('removes the tree of a variant gone from the matrix, and no other project\'s', () => {
    // A second key, so that the matrix can drop a variant while the host still builds another.
    ws.edit('pkgs/ninja-ext/wheel/wheel.yaml', (text) => text.replace('keys: [python]', 'keys: [python, flavor]'));
    ws.write('variants.yaml', `python:\n  - "${host}"\nflavor:\n  - plain\n`);
    const variant = (flavor: string) => `ninja-ext:wheel-py${host}-flavor${flavor}`;
    const run = (flavor: string) => {
      const result = ws.nxWithEnv(env, 'run', variant(flavor), '--skip-nx-cache', '--output-style=stream');
      expect(result.code, result.stdout + result.stderr).toBe(0);
      return result.stdout;
    };
    const trees = join(ws.root, 'wheelhouse/.build-trees');
    rmSync(trees, { recursive: true, force: true });
    run('plain');
    // Another project's tree, of a variant its matrix no longer has either: not this project's to remove.
    cpSync(join(trees, `ninja-ext-py${host}-flavorplain`), join(trees, 'other-ext-py3.99'), { recursive: true });
    ws.edit(`wheelhouse/.build-trees/other-ext-py3.99/tree.json`, (text) => text.replace('"project":"ninja-ext"', '"project":"other-ext"'));

    ws.write('variants.yaml', `python:\n  - "${host}"\nflavor:\n  - fancy\n`);
    const fancy = run('fancy');
    expect(fancy).toContain(`build tree: removed ninja-ext-py${host}-flavorplain (variants no longer in the matrix)`);
    expect(readdirSync(trees).sort()).toEqual([`ninja-ext-py${host}-flavorfancy`, 'other-ext-py3.99']);

    ws.write('variants.yaml', `python:\n  - "${host}"\n`);
    ws.edit('pkgs/ninja-ext/wheel/wheel.yaml', (text) => text.replace('keys: [python, flavor]', 'keys: [python]'));
    rmSync(trees, { recursive: true, force: true });
  });

  it('builds on where no tree can be kept, saying so', () => {
    // Where the trees go is taken by a file: keeping one fails, the build does not.
    rmSync(join(ws.root, 'wheelhouse/.build-trees'), { recursive: true, force: true });
    ws.write('wheelhouse/.build-trees', 'in the way\n');
    ws.write('pkgs/ninja-ext/src/ninja_ext/__init__.py', '# one more edit\n');
    const blocked = built(ws);
    expect(blocked.compiled).toEqual(['other.c', 'value.c']);
    expect(blocked.value).toBe(107);
    expect(blocked.stdout).toMatch(/build tree: not kept \(.*\): the next build compiles every object/);
  });

  it('keeps no tree from a build that brought files into the source with old times', () => {
    rmSync(join(ws.root, 'wheelhouse/.build-trees'), { force: true });
    ws.write('pkgs/ninja-ext/wheel/wheel.yaml', WHEEL_YAML.replace('  environment: host\n', '  environment: host\n  env:\n    UNPACK_OLD_HEADER: "1"\n'));
    const unpacking = built(ws);
    expect(unpacking.value).toBe(107);
    expect(unpacking.stdout).toContain('build tree: not kept (csrc/unpacked.h came with the build (a download or an unpacked archive) with a time older than the build');
    expect(existsSync(join(ws.root, 'wheelhouse/.build-trees', `ninja-ext-py${host}`))).toBe(false);
  });
});
