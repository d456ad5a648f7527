#!/usr/bin/env bash
# fetch_debian_source.sh PACKAGE VERSION DEST: unpacks Debian's source package
# PACKAGE=VERSION (Debian's patches applied) into DEST, from the deb-src counterpart of
# every Debian archive this machine installs from. apt's lists and downloads stay in a
# private directory beside DEST: the machine's apt configuration is left as it is.
set -euo pipefail
package=$1 version=$2 dest=$3
work=$(dirname "$dest")/apt-$package
rm -rf "$work" "$dest"
mkdir -p "$work/parts" "$work/lists/partial" "$work/archives/partial" "$work/download"

# deb lines become deb-src lines, in both formats apt reads.
[ -f /etc/apt/sources.list ] && sed -n 's/^[[:space:]]*deb[[:space:]]/deb-src /p' \
  /etc/apt/sources.list > "$work/sources.list"
touch "$work/sources.list"
for f in /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
  [ -f "$f" ] || continue
  case "$f" in
    *.list) sed -n 's/^[[:space:]]*deb[[:space:]]/deb-src /p' "$f" >> "$work/sources.list" ;;
    *.sources) sed 's/^Types:.*/Types: deb-src/' "$f" > "$work/parts/$(basename "$f")" ;;
  esac
done

apt_opts=(
  -o "Dir::Etc::SourceList=$work/sources.list"
  -o "Dir::Etc::SourceParts=$work/parts"
  -o "Dir::State::Lists=$work/lists"
  -o "Dir::Cache::Archives=$work/archives"
  -o "APT::Sandbox::User=root"
  -o "Debug::NoLocking=1"
  -qq
)
apt-get "${apt_opts[@]}" update
(cd "$work/download" && apt-get "${apt_opts[@]}" source --download-only "$package=$version")
# apt checked every file against the archive's signed index; dpkg-source checks them
# against the .dsc (it cannot check the .dsc's own signature without debian-keyring).
dpkg-source -q -x "$work/download/${package}_${version#*:}.dsc" "$dest" 2>&1 >/dev/null |
  { grep -v '^gpgv:' >&2 || true; }
rm -rf "$work" "$(dirname "$dest")/${package}_"*.orig.tar.*
