#!/usr/bin/env node
import { runDist } from './run-dist.js';

await runDist('forge-cache-server', 'cache-server/main.js');
