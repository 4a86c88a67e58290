// Runs the built plugin's createNodes once in a fresh process and reports what it did:
// how many WebAssembly modules were compiled (minijinja and rattler are WASM) and the result.
// Usage: node load-plugin.mjs <workspace root>
import { readdirSync } from 'node:fs';
import { join } from 'node:path';

let wasmModules = 0;
const count = { construct: (target, args) => (wasmModules++, Reflect.construct(target, args)), apply: (target, self, args) => (wasmModules++, Reflect.apply(target, self, args)) };
WebAssembly.Module = new Proxy(WebAssembly.Module, count);
WebAssembly.compile = new Proxy(WebAssembly.compile, count);
WebAssembly.instantiate = new Proxy(WebAssembly.instantiate, count);

const root = process.argv[2];
const { createNodes } = await import(new URL('../../dist/nx/plugin.js', import.meta.url).href);
const files = readdirSync(join(root, 'pkgs')).map((name) => `pkgs/${name}/recipe/recipe.yaml`);
try {
  const results = await createNodes[1](files, {}, { workspaceRoot: root, nxJsonConfiguration: {} });
  process.stdout.write(JSON.stringify({ wasmModules, results }));
} catch (error) {
  process.stdout.write(JSON.stringify({ wasmModules, error: error.message }));
}
