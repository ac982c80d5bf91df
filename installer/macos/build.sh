#!/usr/bin/env bash
# Build the macOS bundle: dist/Concept Workbench.app (and the plain folder dist/concept-workbench).
#
#     installer/macos/build.sh
#
# Needs Python 3.10-3.12 (python.org or Homebrew) and Xcode's command-line tools (iconutil,
# codesign, hdiutil). bootstrap.py makes .venv, installs torch (the macOS wheel; MPS is used when
# the Mac has it), the app and PyInstaller, converts the embedded model, renders the .icns,
# builds with installer/concept_workbench.spec and runs the copied bundle's --self-test.
# Not built or tested in this repository's CI (Linux only); see installer/README.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
python3 bootstrap.py installer "$@"
app="dist/Concept Workbench.app"
# Ad-hoc signature: Apple Silicon refuses to run unsigned code. For distribution, sign with a
# Developer ID (codesign --deep --options runtime -s "Developer ID Application: ...") and notarize.
codesign --force --deep --sign - "$app"
hdiutil create -volname "Concept Workbench" -srcfolder "$app" -ov -format UDZO dist/concept-workbench-macos.dmg
echo "dist/concept-workbench-macos.dmg"
