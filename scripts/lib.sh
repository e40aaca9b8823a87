# Shared by the scripts: install Debian packages that are missing.
# Usage: install_missing_packages PACKAGE...
# Safe as root on a fresh Debian 12; uses sudo otherwise.

install_missing_packages() {
    local missing=()
    local package
    for package in "$@"; do
        if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
            missing+=("$package")
        fi
    done
    if [ "${#missing[@]}" -eq 0 ]; then
        return
    fi
    if ! command -v apt-get >/dev/null 2>&1; then
        echo "error: missing packages: ${missing[*]} (install them; apt-get is not available here)" >&2
        exit 1
    fi
    local sudo=()
    if [ "$(id -u)" -ne 0 ]; then
        sudo=(sudo)
    fi
    echo "==> installing ${missing[*]}"
    "${sudo[@]}" apt-get update
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y --no-install-recommends "${missing[@]}"
}

# Fails unless the Swift toolchain is on PATH.
require_swift() {
    if ! command -v swift >/dev/null 2>&1; then
        echo "error: the Swift toolchain (swift) is not on PATH; install Swift 6.2 or later first" >&2
        exit 1
    fi
}

# Packages every build needs: hiredis (the Redis adapter links it) and pkg-config to find it.
BUILD_PACKAGES=(pkg-config libhiredis-dev zlib1g-dev)
