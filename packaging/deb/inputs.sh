#!/usr/bin/env bash
# Prints one hash of everything npm run package builds the .deb from: the tracked and untracked
# (not ignored) files of the sources, build configuration and packaging below, and the Node.js
# runtime it bundles. packaging/deb/build.sh writes it next to the .deb it built, so a later
# step (npm run test:xen) can tell whether that .deb is this tree's without building it again.
set -euo pipefail
cd "$(dirname "$0")/../.."
git ls-files -z -co --exclude-standard -- assembly src native packaging asconfig.json binding.gyp \
    package.json package-lock.json tsconfig.json README.md LICENSE \
  | sort -z | xargs -0 sha256sum | { cat; node -p 'process.version + " " + require("fs").realpathSync(process.execPath)'; } \
  | sha256sum | cut -d' ' -f1
