"""The user's flows end to end, each in a temporary directory: a crate of its
own (rust_example/quickstart, not the demo) built with wasm-pack, patched,
packed with npm, installed into a separate consumer and used from CommonJS,
from an ES module and from TypeScript; an exports map; the publish hook."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tarfile
import textwrap
from pathlib import Path

import pytest

from conftest import BUILD, ROOT, WBG_PATCH, locked_wasm_bindgen

TOOLS = ROOT / ".tools"
QUICKSTART = ROOT / "rust_example/quickstart"
WASM_PACK = next(TOOLS.glob("wasm-pack-*/bin"))
TSC = {"5.9": ROOT / "node_modules/typescript/bin/tsc", "7.0": ROOT / "node_modules/typescript-7/bin/tsc"}
# The npm publish hook finds wbg-patch on PATH.
ENV = {**os.environ, "PATH": os.pathsep.join(map(str, [WASM_PACK, WBG_PATCH.parent, os.environ["PATH"]]))}


def wasm_bindgen_cli(lock: Path) -> Path:
    """The directory of the wasm-bindgen CLI that equals the crate's locked
    wasm-bindgen (another version refuses its .wasm); .tools/ holds several."""
    version = locked_wasm_bindgen(lock)
    cli = TOOLS / f"wasm-bindgen-{version}" / "bin"
    if not (cli / "wasm-bindgen").is_file():
        pytest.fail(f"{lock} locks wasm-bindgen {version}, and {cli / 'wasm-bindgen'} is missing: run `make setup`, or "
                    f"cargo install wasm-bindgen-cli --version ={version} --locked --root {cli.parent}")
    return cli


def run(*args: str | Path, cwd: Path, timeout: float = 120, env: dict | None = None) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([str(a) for a in args], cwd=cwd, env=env or ENV, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, f"{' '.join(map(str, args))} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
    return result


@pytest.fixture(scope="module")
def wasm_pack_output(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The quickstart's unpatched pkg/, CommonJS glue (`--target nodejs`)."""
    return wasm_pack_build(tmp_path_factory, "nodejs")


@pytest.fixture(scope="module")
def wasm_pack_web_output(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The quickstart's unpatched pkg/, ES-module glue (`--target web`: wasm-pack builds no other)."""
    return wasm_pack_build(tmp_path_factory, "web")


def wasm_pack_build(tmp_path_factory: pytest.TempPathFactory, target: str) -> Path:
    """rust_example/quickstart copied where a user keeps a crate, depending on
    wbg-pool by path (a git dependency in real life), built with the README's
    wasm-pack command line. Returns its unpatched pkg/."""
    crate = tmp_path_factory.mktemp("user") / "quickstart"
    shutil.copytree(QUICKSTART, crate, ignore=shutil.ignore_patterns("target"))
    manifest = crate / "Cargo.toml"
    manifest.write_text(manifest.read_text().replace('path = "../pool"', f'path = "{ROOT / "rust_example/pool"}"'))
    # wasm-pack finds the wasm-bindgen CLI on PATH (no 7-minute install of its own).
    path = os.pathsep.join([str(wasm_bindgen_cli(QUICKSTART / "Cargo.lock")), ENV["PATH"]])
    env = {**ENV, "PATH": path, "RUSTUP_TOOLCHAIN": "debian-web", "RUSTC_BOOTSTRAP": "1", "CARGO_TARGET_DIR": str(BUILD / "quickstart-target")}
    # The README's command line, flag for flag.
    run("wasm-pack", "build", "--target", target, "--mode", "force", "--no-opt", ".", "--", "-Z", "build-std=panic_abort,std",
        cwd=crate, env=env, timeout=900)
    return crate / "pkg"


def packed(pkg_source: Path, work: Path, edit_manifest=None) -> Path:
    """A copy of the wasm-pack output, its manifest edited as a maintainer
    would, patched by wbg-patch, then `npm pack`ed. Returns the tarball."""
    pkg = work / "pkg"
    shutil.copytree(pkg_source, pkg)
    if edit_manifest is not None:
        manifest = json.loads((pkg / "package.json").read_text())
        edit_manifest(manifest)
        (pkg / "package.json").write_text(json.dumps(manifest, indent=2))
    run(WBG_PATCH, "patch", pkg, cwd=work)
    out = run("npm", "pack", "--silent", "--pack-destination", work, cwd=pkg)
    return work / out.stdout.strip().splitlines()[-1]


def add_exports_map(manifest: dict) -> None:
    """What a maintainer adds to wasm-pack's manifest: an exports map for the glue alone."""
    manifest["exports"] = {".": {"types": "./quickstart.d.ts", "default": "./quickstart.js"}}


def consumer(work: Path, tarball: Path, module_type: str) -> Path:
    app = work / f"consumer-{module_type}"
    app.mkdir()
    (app / "package.json").write_text(json.dumps({"name": "consumer", "private": True, "type": module_type}))
    run("npm", "install", "--no-audit", "--no-fund", "--offline", tarball, cwd=app)
    return app


# The same program in both module systems: a parallel job, a panic typed with
# its location, a job after it, and an exit without close() or process.exit().
PROGRAM = """
const manager = new ThreadPoolManager({ numThreads: 2, onLog() {} });
const local = sum_of_squares(1000);
manager.execute(() => sum_of_squares(1000)).then(async (pooled) => {
  let panic;
  try { await manager.execute(() => fail('bad input')); } catch (e) { panic = e; }
  const after = await manager.execute(() => sum_of_squares(10));
  console.log(JSON.stringify({ local, pooled, panic: panic instanceof WasmPanicError && panic.code,
    message: panic.panicMessage, line: panic.location && panic.location.line, after }));
});
"""
EXPECTED = {"local": 332833500, "pooled": 332833500, "panic": "ERR_WASM_PANIC", "message": "bad input", "after": 285}


def check_program_output(stdout: str) -> None:
    got = json.loads(stdout)
    assert got.pop("line") > 0
    assert got == EXPECTED


@pytest.mark.parametrize("with_exports_map", [False, True], ids=["files-only", "exports-map"])
def test_wasm_pack_package_installs_and_runs_from_cjs_and_esm(wasm_pack_output: Path, tmp_path: Path, with_exports_map: bool):
    tarball = packed(wasm_pack_output, tmp_path, add_exports_map if with_exports_map else None)
    with tarfile.open(tarball) as tar:
        shipped = set(tar.getnames())
    assert {"package/wbg-pool-manager.cjs", "package/wbg-pool-manager.d.cts", "package/wbg-pool/host.cjs"} <= shipped

    cjs = consumer(tmp_path, tarball, "commonjs")
    (cjs / "main.js").write_text(
        "const { ThreadPoolManager, WasmPanicError } = require('quickstart/wbg-pool-manager.cjs');\n"
        "const { sum_of_squares, fail } = require('quickstart');\n" + PROGRAM
    )
    check_program_output(run("node", "main.js", cwd=cjs, timeout=60).stdout)

    esm = consumer(tmp_path, tarball, "module")
    (esm / "main.js").write_text(
        "import { ThreadPoolManager, WasmPanicError } from 'quickstart/wbg-pool-manager.cjs';\n"
        "import { sum_of_squares, fail } from 'quickstart';\n" + PROGRAM
    )
    check_program_output(run("node", "main.js", cwd=esm, timeout=60).stdout)


TYPED = """
import { ThreadPoolManager, WasmPanicError, WbgPoolError, CHANNELS, type ThreadPoolManagerOptions, type ThreadPoolStats, type CallEndMessage } from 'quickstart/wbg-pool-manager.cjs';
import { sum_of_squares, fail } from 'quickstart';

const options: ThreadPoolManagerOptions = { numThreads: 2, onLog: (entry) => console.log(entry.threadIndex, entry.message) };
const manager = new ThreadPoolManager(options);

export async function run(): Promise<number> {
  try {
    await manager.execute(() => fail('bad input'));
  } catch (e) {
    // Narrowed by the declarations: without them, `e` stays unknown and this fails under --strict.
    if (e instanceof WasmPanicError) {
      const where: string = e.location ? `${e.location.file}:${e.location.line}` : 'unknown';
      console.log(e.code, e.panicMessage, where, e.threadIndex);
    } else if (e instanceof WbgPoolError) {
      console.log(e.code);
    }
  }
  const total: number = await manager.execute(() => sum_of_squares(10));
  const fromTask: number = await manager.run<number>(new URL('./task.js', import.meta.url), 'sum', [10], { callTimeoutMs: 1000 });
  const stats: ThreadPoolStats = manager.stats();
  const p99: number | null = stats.durationMs.p99;
  const failed: number | undefined = stats.failures['ERR_WASM_PANIC'];
  const channel: 'wbg-pool:call:end' = CHANNELS.callEnd;
  const onEnd = (message: CallEndMessage): string => `${message.kind} ${message.durationMs} ${channel}`;
  console.log(fromTask, p99, failed, onEnd);
  await manager.close();
  return total;
}
"""
TSCONFIGS = {
    "nodenext": {"module": "nodenext", "moduleResolution": "nodenext"},
    "node16": {"module": "node16", "moduleResolution": "node16"},
    "bundler": {"module": "preserve", "moduleResolution": "bundler"},
}


@pytest.mark.parametrize("with_exports_map", [False, True], ids=["files-only", "exports-map"])
def test_typescript_finds_the_types_under_every_resolution(wasm_pack_output: Path, tmp_path: Path, with_exports_map: bool):
    app = consumer(tmp_path, packed(wasm_pack_output, tmp_path, add_exports_map if with_exports_map else None), "module")
    (app / "index.ts").write_text(TYPED)
    (app / "broken.ts").write_text(TYPED.replace("const total: number", "const total: string"))
    for version, tsc in TSC.items():
        for name, options in TSCONFIGS.items():
            for source, should_pass in (("index.ts", True), ("broken.ts", False)):
                config = {"compilerOptions": {**options, "strict": True, "noEmit": True, "target": "es2022", "types": []}, "files": [source]}
                (app / "tsconfig.json").write_text(json.dumps(config))
                result = subprocess.run(["node", str(tsc), "-p", "tsconfig.json"], cwd=app, capture_output=True, text=True, timeout=120)
                where = f"TypeScript {version}, {name} resolution, {source}"
                if should_pass:
                    assert result.returncode == 0, f"{where}:\n{result.stdout}{result.stderr}"
                else:
                    assert result.returncode != 0 and "TS2322" in result.stdout, f"{where} accepted a type error:\n{result.stdout}"


def test_the_readme_publish_hook_patches_before_npm_packs(wasm_pack_output: Path, tmp_path: Path):
    """The README's snippet, in the package.json of a package that ships the
    glue's directory: `npm publish --dry-run` runs it and packs the patched glue."""
    readme = (ROOT / "README.md").read_text()
    snippet = readme.split("<!-- publish-hook -->", 2)[1].split("```json", 1)[1].split("```", 1)[0]
    sdk = tmp_path / "sdk"
    shutil.copytree(wasm_pack_output, sdk / "pkg")
    # wasm-pack's `*` .gitignore stays: the hook's patch adds the .npmignore that lets npm pack pkg/.
    assert (sdk / "pkg/.gitignore").read_text().split() == ["*"]
    manifest = {"name": "quickstart-sdk", "version": "1.0.0", "main": "pkg/quickstart.js", "files": ["pkg"], **json.loads(snippet)}
    (sdk / "package.json").write_text(json.dumps(manifest, indent=2))
    result = run("npm", "publish", "--dry-run", "--json", cwd=sdk, timeout=120)
    report = json.loads(result.stdout[result.stdout.index("{"):])["quickstart-sdk"]
    shipped = {f["path"] for f in report["files"]}
    assert {"pkg/wbg-pool-manager.cjs", "pkg/wbg-pool/host.cjs", "pkg/quickstart.js"} <= shipped
    assert "wbg-patch 0." in (sdk / "pkg/quickstart.js").read_text()
    # A glue the hook cannot patch stops the publish.
    (sdk / "pkg/quickstart.js").write_text("module.exports = {};\n")
    failed = subprocess.run(["npm", "publish", "--dry-run"], cwd=sdk, env=ENV, capture_output=True, text=True, timeout=120)
    assert failed.returncode != 0
    assert "not JS glue generated by wasm-bindgen" in failed.stderr


def test_the_readme_pack_check_fails_on_wasm_packs_gitignore_until_patched(wasm_pack_output: Path, tmp_path: Path):
    """The README's check of what npm ships, run as written where an SDK's package.json ships
    pkg/: wasm-pack's .gitignore alone leaves npm packing package.json only (it fails); the
    .npmignore wbg-patch adds, or no .gitignore, lets the glue, .wasm and runtime ship."""
    readme = (ROOT / "README.md").read_text()
    check = textwrap.dedent(readme.split("<!-- pack-check -->", 2)[1].split("```sh", 1)[1].split("```", 1)[0])
    sdk = tmp_path / "sdk"
    shutil.copytree(wasm_pack_output, sdk / "pkg")
    assert (sdk / "pkg/.gitignore").read_text().split() == ["*"], "wasm-pack no longer writes its `*` .gitignore"
    manifest = {"name": "quickstart-sdk", "version": "1.0.0", "main": "pkg/quickstart.js", "files": ["pkg"]}
    (sdk / "package.json").write_text(json.dumps(manifest, indent=2))

    def pack_check() -> subprocess.CompletedProcess[str]:
        return subprocess.run(["bash", "-c", check], cwd=sdk, env=ENV, capture_output=True, text=True, timeout=120)

    patched = run(WBG_PATCH, "patch", sdk / "pkg", cwd=sdk)
    assert "adds .npmignore: without it npm reads wasm-pack's .gitignore" in patched.stdout
    shipped = pack_check()
    assert shipped.returncode == 0, shipped.stderr
    assert "the glue and runtime among them" in shipped.stdout

    (sdk / "pkg/.npmignore").unlink()  # wasm-pack's .gitignore alone, as before wbg-patch wrote one
    empty = pack_check()
    assert empty.returncode == 1
    assert "npm would not ship: a *_bg.wasm" in empty.stderr

    (sdk / "pkg/.gitignore").unlink()
    assert pack_check().returncode == 0


def test_wasm_pack_web_glue_runs_from_an_es_module_with_the_readme_snippet(wasm_pack_web_output: Path, tmp_path: Path):
    """The ES-module route wasm-pack can build: `--target web`, patched, packed, installed,
    and run from an .mjs consumer with the README's initSync snippet, as written."""
    readme = (ROOT / "README.md").read_text()
    snippet = readme.split("<!-- web-init -->", 2)[1].split("```js", 1)[1].split("```", 1)[0]
    app = consumer(tmp_path, packed(wasm_pack_web_output, tmp_path), "module")
    assert (app / "node_modules/quickstart/wbg-pool-manager.mjs").is_file()
    (app / "main.mjs").write_text(snippet)
    assert run("node", "main.mjs", cwd=app, timeout=60).stdout.strip() == str(EXPECTED["pooled"])
    # Without initSync the web glue has no instance: the manager says so, typed.
    (app / "uninitialised.mjs").write_text(
        "\n".join(line for line in snippet.splitlines() if not line.startswith("initSync("))
    )
    failed = subprocess.run(["node", "uninitialised.mjs"], cwd=app, env=ENV, capture_output=True, text=True, timeout=60)
    assert failed.returncode != 0 and "ERR_GLUE_NOT_INITIALIZED" in failed.stderr, failed.stderr


def doctor_on(crate: Path, cli: Path) -> subprocess.CompletedProcess[str]:
    """`wbg-patch doctor` as a user runs it, with the wasm-bindgen CLI of `cli` on PATH."""
    env = {**ENV, "PATH": os.pathsep.join([str(cli), ENV["PATH"]])}
    return subprocess.run([str(WBG_PATCH), "doctor", str(crate)], env=env, capture_output=True, text=True, timeout=120)


def test_doctor_passes_the_quickstart_and_names_three_broken_setups(tmp_path: Path):
    """The acceptance's doctor runs: the quickstart as it is (exit 0), and three copies
    broken as newcomers break them, each with its error line and the exit code."""
    clean = doctor_on(QUICKSTART, wasm_bindgen_cli(QUICKSTART / "Cargo.lock"))
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert clean.stdout.splitlines()[-1] == "every check ok"

    def broken(name: str, file: str, old: str, new: str) -> Path:
        crate = tmp_path / name
        shutil.copytree(QUICKSTART, crate, ignore=shutil.ignore_patterns("target"))
        text = (crate / file).read_text()
        assert old in text
        (crate / file).write_text(text.replace(old, new))
        return crate

    older_cli = TOOLS / "wasm-bindgen-0.2.106" / "bin"
    mismatch = doctor_on(QUICKSTART, older_cli)
    assert mismatch.returncode == 8
    assert f"error  wasm-bindgen: 0.2.129 in Cargo.lock, but the CLI on PATH is 0.2.106 ({older_cli / 'wasm-bindgen'})" in mismatch.stdout

    no_link_args = doctor_on(broken("no-link-args", ".cargo/config.toml", '  "-C", "link-args=--shared-memory",\n', ""),
                             wasm_bindgen_cli(QUICKSTART / "Cargo.lock"))
    assert no_link_args.returncode == 8
    assert "error  build flags: missing for wasm32-unknown-unknown: --shared-memory" in no_link_args.stdout

    one_thread = doctor_on(broken("no-run-in-pool", "src/lib.rs", "wbg_pool::run_in_pool(|| ", "("),
                           wasm_bindgen_cli(QUICKSTART / "Cargo.lock"))
    assert one_thread.returncode == 8
    assert "error  run_in_pool: parallel Rayon work (lib.rs:16) but no run_in_pool call in src/: it runs on one thread" in one_thread.stdout
