# Writes the integrity sidecar of a Craton HSM library: the HMAC-SHA-256 of
# the canonical manifest (docs/FIPS.md, src/self-tests/integrity.ts) into
# <name>.hmac beside <name>.dll. Honours CRATON_HSM_RUNTIME_JS,
# CRATON_HSM_EMBEDDER and CRATON_HSM_ADDON_DIR as the module does.
#   .\tools\compute-integrity-hmac.ps1 -LibPath build\craton_hsm.dll
param([Parameter(Mandatory = $true)][string]$LibPath)
$ErrorActionPreference = 'Stop'
$KeyHex = '637261746f6e2d68736d2d696e74656772697479'

if (-not (Test-Path -LiteralPath $LibPath -PathType Leaf)) { Write-Error "no library at $LibPath"; exit 2 }
$lib = (Resolve-Path -LiteralPath $LibPath).Path
$libDir = Split-Path -Parent $lib
$isDll = $lib.EndsWith('.dll')

$runtime = $env:CRATON_HSM_RUNTIME_JS
if (-not $runtime) {
  $runtime = Join-Path $libDir 'craton-hsm/runtime.js'
  if (-not (Test-Path -LiteralPath $runtime)) { $runtime = Join-Path $libDir '../dist/runtime.js' }
}
if (-not (Test-Path -LiteralPath $runtime)) { Write-Error "runtime bundle not found ($runtime)"; exit 1 }
$runtime = (Resolve-Path -LiteralPath $runtime).Path
$addons = if ($env:CRATON_HSM_ADDON_DIR) { $env:CRATON_HSM_ADDON_DIR } else { Join-Path (Split-Path -Parent $runtime) '../build/Release' }
$embedderName = if ($isDll) { 'craton_embedder.dll' } else { 'libcraton_embedder.so' }
$embedder = if ($env:CRATON_HSM_EMBEDDER) { $env:CRATON_HSM_EMBEDDER } else { Join-Path $libDir $embedderName }

$entries = @(
  @('shim', $lib, $true),
  @('embedder', $embedder, $false),
  @('runtime', $runtime, $true),
  @('addon-crypto', (Join-Path $addons 'craton_crypto.node'), $true),
  @('addon-sqlite', (Join-Path $addons 'craton_sqlite.node'), $false),
  @('addon-os', (Join-Path $addons 'craton_os.node'), $false)
)

$key = [byte[]]::new($KeyHex.Length / 2)
for ($i = 0; $i -lt $key.Length; $i++) { $key[$i] = [Convert]::ToByte($KeyHex.Substring(2 * $i, 2), 16) }
$hmac = [System.Security.Cryptography.HMACSHA256]::new($key)
foreach ($e in $entries) {
  $role, $path, $required = $e
  if (-not (Test-Path -LiteralPath $path -PathType Leaf)) {
    if ($required) { Write-Error "$role ($path) is missing"; exit 1 }
    continue
  }
  $bytes = [System.IO.File]::ReadAllBytes((Resolve-Path -LiteralPath $path).Path)
  $header = [System.Text.Encoding]::ASCII.GetBytes("${role}:$($bytes.Length)`n")
  [void]$hmac.TransformBlock($header, 0, $header.Length, $null, 0)
  [void]$hmac.TransformBlock($bytes, 0, $bytes.Length, $null, 0)
}
[void]$hmac.TransformFinalBlock([byte[]]::new(0), 0, 0)
$mac = -join ($hmac.Hash | ForEach-Object { $_.ToString('x2') })
$sidecar = Join-Path $libDir (([System.IO.Path]::GetFileNameWithoutExtension($lib)) + '.hmac')
[System.IO.File]::WriteAllText($sidecar, "$mac`n")
Write-Output "${sidecar}: $mac"
