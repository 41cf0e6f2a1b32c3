#!/usr/bin/env -S node --import tsx --no-warnings
// Runs the commands straight from src/ through tsx: no build step while developing.
import { execute } from '@oclif/core'

await execute({ development: true, dir: import.meta.url })
