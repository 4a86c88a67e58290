import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TempWorkspace } from './support/workspace.js';

/*
 * `nx affected -t <target>` in Nx 24 selects tasks, not projects: a task is affected by
 * its own inputs and by the outputs it reads. The aggregate targets (`build`, `wheel`,
 * the uploads) are what users name there, so they must follow their variant tasks.
 */
const recipe = (name: string, body: string) => `package: {name: ${name}, version: "1.0"}\nbuild:\n  noarch: generic\n  script: [echo]\n${body}`;
const wheel = (name: string, source: string, needs = '') =>
  `name: ${name}\nversion: 0.1.0\nsource:\n  path: ${source}\nvariant:\n  keys: [python]\nbuild:\n  environment: host\n  requirements:\n    - setuptools\n${needs ? `    - ${needs}\n` : ''}`;

let ws: TempWorkspace;
beforeAll(() => {
  ws = new TempWorkspace({
    'variants.yaml': 'python: ["3.12"]\n',
    '.gitignore': 'node_modules\n.nx\n',
    // lib's sources live outside its project folder, in a folder no project owns.
    'shared/lib-src/lib.txt': 'lib\n',
    'pkgs/lib/recipe/recipe.yaml': recipe('lib', 'source:\n  path: ../../../shared/lib-src\n'),
    'pkgs/mid/recipe/recipe.yaml': recipe('mid', 'requirements:\n  host: [lib]\n'),
    'pkgs/other/recipe/recipe.yaml': recipe('other', ''),
    'shared/wheel-src/setup.py': 'from setuptools import setup\nsetup(name="wlib", version="0.1.0")\n',
    'pkgs/wlib/wheel/wheel.yaml': wheel('wlib', '../../../shared/wheel-src'),
    'pkgs/wapp/src/setup.py': 'from setuptools import setup\nsetup(name="wapp", version="0.1.0")\n',
    'pkgs/wapp/wheel/wheel.yaml': wheel('wapp', '../src', 'wlib'),
  });
  ws.git('init', '-q', '-b', 'main');
  ws.git('add', '-A');
  ws.git('commit', '-qm', 'workspace');
});
afterAll(() => ws.dispose());

function affected(target: string): string[] {
  const result = ws.nx('show', 'projects', '--affected', '-t', target, '--base=HEAD~1', '--head=HEAD', '--json');
  expect(result.code, result.stderr).toBe(0);
  return (JSON.parse(result.stdout) as string[]).sort();
}

describe('nx affected -t <aggregate target>', () => {
  it('selects the package whose local source outside its folder changed, and its dependents, for build and upload', () => {
    ws.edit('shared/lib-src/lib.txt', (text) => `${text}edited\n`);
    ws.git('commit', '-qam', 'edit lib source');
    expect(affected('build')).toEqual(['lib', 'mid']);
    expect(affected('upload')).toEqual(['lib', 'mid']);
  });

  it('selects the wheel project whose source outside its folder changed, and its dependents, for wheel and upload-wheels', () => {
    ws.edit('shared/wheel-src/setup.py', (text) => `${text}# edited\n`);
    ws.git('commit', '-qam', 'edit wlib source');
    expect(affected('wheel')).toEqual(['wapp', 'wlib']);
    expect(affected('upload-wheels')).toEqual(['wapp', 'wlib']);
  });

  it('still selects only the edited recipe and its dependents after a recipe edit', () => {
    ws.edit('pkgs/mid/recipe/recipe.yaml', (text) => `# a comment\n${text}`);
    ws.git('commit', '-qam', 'edit mid');
    expect(affected('build')).toEqual(['mid']);
  });
});
