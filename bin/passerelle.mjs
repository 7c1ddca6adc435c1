#!/usr/bin/env node
// The `passerelle` command: runs the TypeScript command line through tsx's loader.
import { register } from 'tsx/esm/api';

register();
await import('../cli/main.ts');
