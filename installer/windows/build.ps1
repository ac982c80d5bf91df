# Build the Windows bundle: dist\concept-workbench\concept-workbench.exe (one folder).
#
#     powershell -ExecutionPolicy Bypass -File installer\windows\build.ps1
#
# Needs Python 3.10-3.12 from python.org (the "py" launcher) and nothing else: bootstrap.py makes
# .venv, installs torch (CPU build, or CUDA where nvidia-smi sees a GPU), the app and PyInstaller,
# converts the embedded model into the user cache, renders the icon (.ico), builds with
# installer\concept_workbench.spec, then runs the copied bundle's --self-test twice.
# Not built or tested in this repository's CI (Linux only); see installer\README.md.
$ErrorActionPreference = "Stop"
$root = Resolve-Path (Join-Path $PSScriptRoot "..\..")
Set-Location $root
py -3 bootstrap.py installer @args
if ($LASTEXITCODE -ne 0) { exit $LASTEXITCODE }
# Optional: a zip to hand out (Windows' own Expand-Archive unpacks it).
Compress-Archive -Force -Path dist\concept-workbench -DestinationPath dist\concept-workbench-windows.zip
Write-Host "dist\concept-workbench-windows.zip"
