#!/usr/bin/env bash
# Builds the release files of terraform-provider-mke, in the layout the Terraform and OpenTofu
# registries expect:
#
#   terraform-provider-mke_<version>_<os>_<arch>.zip   the binary, as terraform-provider-mke_v<version>
#   terraform-provider-mke_<version>_manifest.json     a copy of terraform-registry-manifest.json
#   terraform-registry-manifest.json                   copied from the repository root
#   terraform-provider-mke_<version>_SHA256SUMS        sha256 of every zip of this version and the manifest
#   terraform-provider-mke_<version>_SHA256SUMS.sig    detached binary GPG signature of SHA256SUMS,
#                                                      only when a key is given
#
# Run it once per platform (with --binary and --platform for a cross-built binary) into the same
# --out directory: SHA256SUMS then covers every zip there, and is signed again each time. Needs
# python3 (for zipfile and hashlib), and gpg with the secret key when signing.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
  cat <<USAGE
usage: scripts/release.sh [--out <dir>] [--binary <path>] [--platform <os>_<arch>]
  --out <dir>          where the files go (default: dist/)
  --binary <path>      package this binary instead of running cargo build --release
  --platform <os_arch> the binary's platform (default: this machine's, e.g. linux_amd64)
  --gpg-key <id>       sign SHA256SUMS with this key (default: \$GPG_FINGERPRINT; unset: no signature)
USAGE
}

out_dir="$repo_root/dist"
binary=""
platform=""
gpg_key="${GPG_FINGERPRINT:-}"
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out_dir="${2:?--out needs a directory}"; shift 2 ;;
    --binary) binary="${2:?--binary needs a path}"; shift 2 ;;
    --platform) platform="${2:?--platform needs <os>_<arch>}"; shift 2 ;;
    --gpg-key) gpg_key="${2:?--gpg-key needs a key id or fingerprint}"; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    *) echo "unknown argument: $1" >&2; usage >&2; exit 2 ;;
  esac
done

version="$(provider_version)"
native="$(terraform_platform)"
platform="${platform:-$native}"
binary="$(release_binary "$binary")"
# A cross-built binary cannot run here; one for this machine must say its version.
if [ "$platform" = "$native" ]; then
  check_binary_version "$binary" "$version"
fi
mkdir -p "$out_dir"

python3 - "$binary" "$out_dir" "$provider_name" "$version" "$platform" \
  "$repo_root/terraform-registry-manifest.json" <<'PY'
import hashlib, json, os, shutil, sys, time, zipfile

binary, out_dir, name, version, platform, registry_manifest = sys.argv[1:]
prefix = f"{name}_{version}"

# Reproducible: a fixed timestamp (SOURCE_DATE_EPOCH when set), and an executable mode bit.
epoch = int(os.environ.get("SOURCE_DATE_EPOCH", "315532800"))  # 1980-01-01, zip's earliest
stamp = time.gmtime(max(epoch, 315532800))[:6]
entry = zipfile.ZipInfo(f"{name}_v{version}", date_time=stamp)
entry.external_attr = (0o100755 << 16)
entry.create_system = 3  # unix, so the mode bits are honoured
entry.compress_type = zipfile.ZIP_DEFLATED
archive = os.path.join(out_dir, f"{prefix}_{platform}.zip")
with open(binary, "rb") as source, zipfile.ZipFile(archive + ".partial", "w") as zf:
    zf.writestr(entry, source.read())
os.replace(archive + ".partial", archive)

# The committed manifest, as it is: a broken one stops the release here, not at the registry.
with open(registry_manifest) as f:
    declared = json.load(f)
if declared.get("version") != 1 or not declared.get("metadata", {}).get("protocol_versions"):
    sys.exit(f"{registry_manifest}: expected version 1 and metadata.protocol_versions")
for manifest_name in (f"{prefix}_manifest.json", "terraform-registry-manifest.json"):
    shutil.copyfile(registry_manifest, os.path.join(out_dir, manifest_name))

summed = sorted(
    n for n in os.listdir(out_dir)
    if n.startswith(prefix + "_") and (n.endswith(".zip") or n == f"{prefix}_manifest.json")
)
lines = []
for n in summed:
    with open(os.path.join(out_dir, n), "rb") as f:
        lines.append(f"{hashlib.sha256(f.read()).hexdigest()}  {n}\n")
with open(os.path.join(out_dir, f"{prefix}_SHA256SUMS"), "w") as f:
    f.writelines(lines)
for n in summed + [f"{prefix}_SHA256SUMS", "terraform-registry-manifest.json"]:
    print(os.path.join(out_dir, n))
PY

sums="$out_dir/${provider_name}_${version}_SHA256SUMS"
if [ -n "$gpg_key" ]; then
  # Binary (not ASCII-armoured) and detached: what the registries verify against the public key.
  gpg --batch --yes --local-user "$gpg_key" --output "$sums.sig.partial" --detach-sign "$sums"
  mv -f "$sums.sig.partial" "$sums.sig"
  echo "$sums.sig"
else
  # A signature of an earlier SHA256SUMS would not match the one just written.
  rm -f "$sums.sig"
fi
