#!/usr/bin/env node
import { runDist } from './run-dist.js';

await runDist('forge', 'cli/main.js');
