#!/usr/bin/env sh
# Add the bundle to the desktop's application menu, for the current user:
#     installer/linux/install-desktop-entry.sh [BUNDLE_FOLDER]
# (default: the bundle this script sits in, <bundle>/linux/, or the checkout's dist/concept-workbench)
# It writes ~/.local/share/applications/concept-workbench.desktop (Exec = the bundle's absolute
# path), the icon into ~/.local/share/icons/hicolor/scalable/apps and the .wbproj file type.
# Remove them with:  installer/linux/install-desktop-entry.sh --uninstall
set -eu
here=$(cd "$(dirname "$0")" && pwd)
data=${XDG_DATA_HOME:-$HOME/.local/share}
if [ "${1:-}" = "--uninstall" ]; then
    rm -f "$data/applications/concept-workbench.desktop" \
          "$data/icons/hicolor/scalable/apps/concept-workbench.svg" \
          "$data/mime/packages/concept-workbench.xml"
    echo "removed the Concept Workbench menu entry"
    exit 0
fi
default="$here/../../dist/concept-workbench"          # run from the checkout
[ -x "$here/../concept-workbench" ] && default="$here/.."  # run from the bundle's linux/ folder
bundle=$(cd "${1:-$default}" 2>/dev/null && pwd) || {
    echo "no bundle at ${1:-dist/concept-workbench}: build it with 'python3 bootstrap.py installer'" >&2
    exit 1
}
exe="$bundle/concept-workbench"
[ -x "$exe" ] || { echo "$exe is missing or not executable" >&2; exit 1; }
icon="$bundle/_internal/workbench/_resources/icons/app.svg"
mkdir -p "$data/applications" "$data/icons/hicolor/scalable/apps" "$data/mime/packages"
cp "$icon" "$data/icons/hicolor/scalable/apps/concept-workbench.svg"
cp "$here/concept-workbench-mime.xml" "$data/mime/packages/concept-workbench.xml"
sed -e "s|^Exec=.*|Exec=\"$exe\" %f|" -e "s|^TryExec=.*|TryExec=$exe|" \
    "$here/concept-workbench.desktop" > "$data/applications/concept-workbench.desktop"
command -v update-desktop-database >/dev/null && update-desktop-database "$data/applications" || true
command -v update-mime-database >/dev/null && update-mime-database "$data/mime" || true
command -v gtk-update-icon-cache >/dev/null && gtk-update-icon-cache -q "$data/icons/hicolor" 2>/dev/null || true
echo "added Concept Workbench to the application menu ($data/applications/concept-workbench.desktop)"
