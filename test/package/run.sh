#!/bin/bash
# npm run test:package: builds the Debian package and the prebuilt addons (npm run package), then
# installs them as users do (test/package/*.test.ts): the .deb into Debian 12 and 13 chroots, the
# npm package into a scratch project. Needs root; Debian's mirror the first time (the base
# systems are cached in .cache/debian-chroot). WNB_DEB=path tests that package instead of building one.
set -euo pipefail
cd "$(dirname "$0")/../.."
[ "$(id -u)" = 0 ] || { echo "npm run test:package: needs root (chroot, mounts)" >&2; exit 77; }
# the npm package's prebuilt addons (both architectures: the arm64 cross compiler), then the .deb
npm run build:prebuilds
if [ -z "${WNB_DEB:-}" ]; then npm run package; fi
exec npx vitest run --config test/package/vitest.config.ts
