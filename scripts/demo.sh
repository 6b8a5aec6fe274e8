#!/usr/bin/env bash
# The quick start: a local lab for the repository's inventory, and the operator's three sentences
# run against it with --lab. Works on a copy in .infra-demo/ (without the app beanstock, so that
# add-app has something to add); the real inventory.yaml is never touched or contacted.
set -euo pipefail
cd "$(dirname "$0")/.."
demo=.infra-demo
mkdir -p "$demo"
node --input-type=module -e "
import { readFileSync, writeFileSync } from 'node:fs';
import { parseDocument } from 'yaml';
const doc = parseDocument(readFileSync('inventory.yaml', 'utf8'));
doc.deleteIn(['apps', 'beanstock']);
writeFileSync('$demo/inventory.yaml', String(doc));
"
infra() { echo; echo "\$ infra $*"; node bin/infra.js -i "$demo/inventory.yaml" "$@"; }

infra lab up
infra --lab bootstrap toucan
infra --lab bootstrap hornbill
infra --lab add-app beanstock --pg 18
infra --lab check
