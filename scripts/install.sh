#!/usr/bin/env bash
# Builds terraform-provider-mke and installs it into the local filesystem mirror that Terraform and
# OpenTofu search by default, so that `terraform init` finds `mke/mke` without dev_overrides:
#
#   <dir>/registry.terraform.io/mke/mke/<version>/<os>_<arch>/terraform-provider-mke_v<version>
#   <dir>/registry.opentofu.org/mke/mke/<version>/<os>_<arch>/terraform-provider-mke_v<version>
#
# <dir> is ~/.terraform.d/plugins unless --dir or PLUGIN_DIR says otherwise.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
  cat <<USAGE
usage: scripts/install.sh [--dir <plugin dir>] [--binary <path>]
  --dir <path>     mirror directory (default: \$PLUGIN_DIR, else ~/.terraform.d/plugins)
  --binary <path>  install this binary instead of running cargo build --release
USAGE
}

plugin_dir="${PLUGIN_DIR:-$HOME/.terraform.d/plugins}"
binary=""
while [ $# -gt 0 ]; do
  case "$1" in
    --dir) plugin_dir="${2:?--dir needs a path}"; shift 2 ;;
    --binary) binary="${2:?--binary needs a path}"; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    *) echo "unknown argument: $1" >&2; usage >&2; exit 2 ;;
  esac
done

version="$(provider_version)"
platform="$(terraform_platform)"
binary="$(release_binary "$binary")"
check_binary_version "$binary" "$version"

for registry in registry.terraform.io registry.opentofu.org; do
  target="$plugin_dir/$registry/mke/mke/$version/$platform"
  mkdir -p "$target"
  # Copy, then rename: a Terraform run never sees a half-written binary.
  cp "$binary" "$target/.${provider_name}_v$version.partial"
  chmod 0755 "$target/.${provider_name}_v$version.partial"
  mv -f "$target/.${provider_name}_v$version.partial" "$target/${provider_name}_v$version"
  echo "installed $target/${provider_name}_v$version"
done
echo "Now run \`terraform init\` (or \`tofu init\`) in a configuration that uses source = \"mke/mke\"."
echo "Reinstalled the same version? Its checksum changed: delete the mke/mke block of .terraform.lock.hcl, then init again."
