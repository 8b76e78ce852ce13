# Shared by install.sh and release.sh: the provider's version and this machine's platform,
# named the way Terraform names them. Sourced, not run.
# shellcheck shell=bash

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
provider_name="terraform-provider-mke"

# The `version` of the [package] section of Cargo.toml.
provider_version() {
  awk '
    /^\[/ { in_package = ($0 == "[package]") }
    in_package && $1 == "version" && $2 == "=" { gsub(/"/, "", $3); print $3; exit }
  ' "$repo_root/Cargo.toml"
}

# <os>_<arch> as Terraform spells it: linux_amd64, darwin_arm64, ...
terraform_platform() {
  local os arch
  case "$(uname -s)" in
    Linux) os=linux ;;
    Darwin) os=darwin ;;
    FreeBSD) os=freebsd ;;
    OpenBSD) os=openbsd ;;
    *) echo "unsupported operating system: $(uname -s)" >&2; return 1 ;;
  esac
  case "$(uname -m)" in
    x86_64 | amd64) arch=amd64 ;;
    aarch64 | arm64) arch=arm64 ;;
    armv6l | armv7l | arm) arch=arm ;;
    i386 | i686) arch=386 ;;
    *) echo "unsupported architecture: $(uname -m)" >&2; return 1 ;;
  esac
  echo "${os}_${arch}"
}

# Builds the release binary unless one is given, and prints its path.
release_binary() {
  local given="$1"
  if [ -n "$given" ]; then
    [ -f "$given" ] || { echo "no such binary: $given" >&2; return 1; }
    echo "$given"
    return
  fi
  (cd "$repo_root" && cargo build --release --bin "$provider_name" >&2)
  echo "${CARGO_TARGET_DIR:-$repo_root/target}/release/$provider_name"
}

# Refuses a binary whose --version is not the version it is about to be installed as.
check_binary_version() {
  local binary="$1" version="$2" reported
  reported="$("$binary" --version)" || { echo "$binary --version failed" >&2; return 1; }
  if [ "$reported" != "$provider_name $version" ]; then
    echo "$binary reports \"$reported\", but Cargo.toml says $version: rebuild it" >&2
    return 1
  fi
}
