import { parseYamlText } from '../recipe/yaml-file.js';
import { parseVariantConfig, type VariantConfig } from '../variants/variant-config.js';
import { readVariantConfigText } from './workspace.js';

export interface LoadedVariantConfig {
  readonly config: VariantConfig;
  readonly text: string;
}

/** The workspace's variant config, parsed (the YAML parser, but not the renderer). */
export function readVariantConfig(root: string, file: string): LoadedVariantConfig {
  const text = readVariantConfigText(root, file);
  return { config: parseVariantConfig(parseYamlText(file, text)), text };
}
