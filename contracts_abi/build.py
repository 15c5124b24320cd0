#!/usr/bin/env python3
"""Compile contracts_abi/src/**/*.sol with the pinned solcjs and write one artifact per contract.

    python contracts_abi/build.py           # write contracts_abi/<Contract>.json ({"abi", "bytecode"})
    python contracts_abi/build.py --check   # recompile in memory; exit 1 if an artifact differs or is missing

Only concrete contracts defined under src/ get an artifact (no interfaces, abstract contracts,
libraries or OpenZeppelin contracts). Needs `npm ci` (solc and @openzeppelin/contracts pinned in
package-lock.json). The CBOR metadata hash is left out (bytecodeHash "none") so the bytecode
depends on the code, not on comments or whitespace; the compiler version and every setting below
are pinned, so a fresh compile reproduces the committed artifacts byte for byte.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SRC = HERE / "src"
SOLC_VERSION = "0.8.37"

SETTINGS = {
    "optimizer": {"enabled": True, "runs": 200},
    "evmVersion": "cancun",
    "metadata": {"bytecodeHash": "none"},
}


def sources() -> dict[str, dict]:
    """Standard-JSON sources for every .sol under src/, keyed by their path from the repo root."""
    files = sorted(SRC.rglob("*.sol"))
    if not files:
        sys.exit(f"build.py: no .sol files under {SRC}")
    return {p.relative_to(ROOT).as_posix(): {"content": p.read_text(encoding="utf-8")} for p in files}


# solc's JS API in one node process: reports its version and compiles, resolving imports from the
# repo root, then node_modules (like `solcjs --base-path . --include-path node_modules`). Output is
# written to a file given as argv[1]: solcjs's CLI prints a banner before the JSON and exits via
# process.exit(), which cuts piped output off at the 64 KiB pipe buffer.
NODE_COMPILE = r"""
const fs = require("fs"), path = require("path"), solc = require("solc");
const roots = [".", "node_modules"];
function findImports(p) {
  for (const r of roots) {
    const f = path.join(r, p);
    if (fs.existsSync(f)) return { contents: fs.readFileSync(f, "utf8") };
  }
  return { error: "File not found: " + p };
}
const input = fs.readFileSync(0, "utf8");
const output = solc.compile(input, { import: findImports });
fs.writeFileSync(process.argv[1], JSON.stringify({ version: solc.version(), output: JSON.parse(output) }));
"""


def compile_sources(srcs: dict[str, dict]) -> dict:
    """Compile with the pinned solc npm package (standard JSON) and return its output; exit on errors."""
    if not (ROOT / "node_modules" / "solc" / "package.json").exists():
        sys.exit(f"build.py: node_modules/solc not found; run `npm ci` in {ROOT}")
    selection = {name: {"": ["ast"], "*": ["abi", "evm.bytecode.object"]} for name in srcs}
    request = {"language": "Solidity", "sources": srcs, "settings": {**SETTINGS, "outputSelection": selection}}
    with tempfile.TemporaryDirectory() as tmp:
        result_path = Path(tmp) / "out.json"
        proc = subprocess.run(["node", "-e", NODE_COMPILE, str(result_path)], cwd=ROOT,
                              input=json.dumps(request), capture_output=True, text=True)
        if proc.returncode != 0 or not result_path.exists():
            sys.exit(f"build.py: solc failed (exit {proc.returncode}):\n{proc.stdout}{proc.stderr}")
        result = json.loads(result_path.read_text(encoding="utf-8"))
    if not result["version"].startswith(SOLC_VERSION + "+"):
        sys.exit(f"build.py: solc {result['version']} installed, {SOLC_VERSION} required; run `npm ci`")
    out = result["output"]
    diagnostics = out.get("errors", [])
    errors = [e for e in diagnostics if e.get("severity") == "error"]  # solc reports errors in-band
    ours = [e for e in diagnostics if e in errors or e.get("sourceLocation", {}).get("file", "") in srcs]
    for e in ours:
        print(e.get("formattedMessage") or e.get("message"), file=sys.stderr)
    if len(diagnostics) > len(ours):
        print(f"build.py: {len(diagnostics) - len(ours)} warning(s) in dependencies not shown", file=sys.stderr)
    if errors:
        sys.exit(f"build.py: {len(errors)} compile error(s)")
    return out


def concrete_contracts(ast: dict) -> set[str]:
    """Names of the non-abstract `contract` definitions at the top level of a source unit."""
    return {
        node["name"]
        for node in ast.get("nodes", [])
        if node.get("nodeType") == "ContractDefinition"
        and node.get("contractKind") == "contract"
        and not node.get("abstract", False)
    }


def artifacts() -> dict[str, str]:
    """Compile and return {file name: artifact text} for every concrete contract under src/."""
    srcs = sources()
    out = compile_sources(srcs)
    result: dict[str, str] = {}
    for path in srcs:
        for name in sorted(concrete_contracts(out["sources"][path]["ast"])):
            contract = out["contracts"][path][name]
            filename = f"{name}.json"
            if filename in result:
                sys.exit(f"build.py: contract name {name} is defined twice under src/")
            artifact = {"abi": contract["abi"], "bytecode": "0x" + contract["evm"]["bytecode"]["object"]}
            result[filename] = json.dumps(artifact, indent=2, sort_keys=True) + "\n"
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Compile contracts_abi/src into contracts_abi/*.json")
    parser.add_argument("--check", action="store_true", help="fail if committed artifacts differ from a fresh compile")
    args = parser.parse_args(argv)
    fresh = artifacts()
    if args.check:
        stale = [f for f, text in fresh.items() if not (HERE / f).exists() or (HERE / f).read_text() != text]
        stale += [f"{p.name} (no such contract in src/)" for p in sorted(HERE.glob("*.json")) if p.name not in fresh]
        if stale:
            print("build.py: stale, missing or orphaned artifacts (run `python contracts_abi/build.py`):",
                  *stale, sep="\n  ")
            return 1
        print(f"build.py: {len(fresh)} artifacts up to date")
        return 0
    for filename, text in fresh.items():
        path = HERE / filename
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
            print(f"wrote {path.relative_to(ROOT)}")
    for path in sorted(HERE.glob("*.json")):
        if path.name not in fresh:
            print(f"warning: {path.relative_to(ROOT)} matches no contract in src/; delete it", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
