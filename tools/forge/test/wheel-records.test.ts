import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { findPublished } from '../src/store/wheel-records.js';

const index = mkdtempSync(join(tmpdir(), 'forge-wheel-records-test-'));
afterAll(() => rmSync(index, { recursive: true, force: true }));

function record(files: unknown): void {
  mkdirSync(join(index, '.forge', 'demo'), { recursive: true });
  const body = { project: 'demo', id: 'py3.11', key: 'k', inputs: {}, version: '0.1.0', buildNumber: null, files, at: '2026-01-01T00:00:00Z' };
  writeFileSync(join(index, '.forge', 'demo', 'py3.11.json'), JSON.stringify(body));
}

describe('records of published wheels in the wheel index', () => {
  it('reads a record whose files are plain relative paths', async () => {
    record([{ file: 'index/cpu/demo/demo-0.1.0-py3-none-any.whl', index: 'cpu/demo/demo-0.1.0-py3-none-any.whl' }]);
    const found = await findPublished(index, '/', 'demo', 'py3.11');
    expect(found.found && found.record.files[0]!.index).toBe('cpu/demo/demo-0.1.0-py3-none-any.whl');
  });

  it('refuses a record whose paths would leave the staging folder or the index, or that is not a record', async () => {
    // A build that matches the record's key copies each `index` file to `<staging>/<file>`: these would write outside it.
    for (const files of [[{ file: '../../../../home/x/.bashrc', index: 'cpu/demo/x.whl' }], [{ file: 'index/x.whl', index: '/etc/passwd' }], [{ file: 'a//b', index: 'c' }], 'x']) {
      record(files);
      expect(await findPublished(index, '/', 'demo', 'py3.11')).toEqual({ found: false, problem: `${index}/.forge/demo/py3.11.json is not a valid record of published wheels (ignored)` });
    }
  });
});
