#!/bin/sh
# The installer interface of Rust's dist tarballs (rust-installer), in short:
# installs the components named in ./components, each the files and
# directories its manifest.in lists, below --prefix, and records them in
# lib/rustlib as the upstream installer does. The tests put it in the dist
# tarballs they assemble from Debian's toolchain.
set -eu
src=$(cd "$(dirname "$0")" && pwd)
prefix=/usr/local
components=
for arg; do
	case $arg in
	--prefix=*) prefix=${arg#--prefix=} ;;
	--components=*) components=$(echo "${arg#--components=}" | tr , ' ') ;;
	--disable-ldconfig | --verbose) ;;
	*) echo "install.sh: unknown option $arg" >&2; exit 1 ;;
	esac
done
[ -n "$components" ] || components=$(cat "$src/components")
mkdir -p "$prefix/lib/rustlib"
cp "$src/rust-installer-version" "$prefix/lib/rustlib/rust-installer-version"
for c in $components; do
	[ -f "$src/$c/manifest.in" ] || { echo "install.sh: no component $c" >&2; exit 1; }
	while IFS=: read -r kind path; do
		mkdir -p "$prefix/$(dirname "$path")"
		case $kind in
		file) cp -p "$src/$c/$path" "$prefix/$path" ;;
		dir) cp -pR "$src/$c/$path" "$prefix/$(dirname "$path")/" ;;
		*) echo "install.sh: $c/manifest.in: bad line $kind:$path" >&2; exit 1 ;;
		esac
		echo "$kind:$prefix/$path" >> "$prefix/lib/rustlib/manifest-$c"
	done < "$src/$c/manifest.in"
	echo "$c" >> "$prefix/lib/rustlib/components"
	echo "install.sh: installed $c"
done
