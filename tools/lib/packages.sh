# Sourced by tools/*.sh: install_missing PACKAGE... installs the Debian packages that are not
# installed yet (as root; otherwise it names them and exits 1), and skips the rest.
install_missing() {
  local missing=() p
  for p in "$@"; do
    # No `| grep -q`: under pipefail its early exit could make the check fail.
    if [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" != "install ok installed" ]; then
      missing+=("$p")
    fi
  done
  if [ ${#missing[@]} -eq 0 ]; then
    echo "== all required packages are installed"
    return 0
  fi
  echo "== installing: ${missing[*]}"
  if [ "$(id -u)" -ne 0 ]; then
    echo "error: run as root (or install these packages first): ${missing[*]}" >&2
    exit 1
  fi
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
}
