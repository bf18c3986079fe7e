#!/usr/bin/env bash
# Builds everything and runs every test (both transports). The README's test command.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
npm ci --no-audit --no-fund
npm run build
npm run build:addon:awslc
npx vitest run
